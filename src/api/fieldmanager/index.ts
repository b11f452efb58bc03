// metadata.managedFields and server-side apply, as k8s.io/apimachinery's managedfields package and
// structured-merge-diff's merge.Updater do them. Every write records what its manager set: an Update
// takes ownership of the fields it changed (from whoever had them), an Apply owns exactly the fields of
// its configuration, and fails with a 409 when it would change a field another manager owns, unless forced.
// A field an applier stops applying is removed when nobody else owns it.
import { badRequest, StatusError, type StatusCause } from '../../server/errors'
import type { TypeSchema } from '../../registry/schema/types'
import type { KubeObject } from '../../registry/types'
import { UnknownStatusError } from '../patch'
import { canonicalJSON, comparePaths, FieldSet, pathString, type Path } from './fieldpath'
import { compare, merge, removeItems, toFieldSet, TypedError, valueAt } from './typed'

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'
const BEFORE_FIRST_APPLY = 'before-first-apply'
const MAX_UPDATE_MANAGERS = 10

export interface ManagedFieldsEntry {
  manager?: string
  operation?: 'Apply' | 'Update'
  apiVersion?: string
  time?: string
  fieldsType?: string
  fieldsV1?: Record<string, unknown>
  subresource?: string
}

/** What the field manager needs of the resource a request writes. */
export interface FieldManagerScope {
  schema: TypeSchema
  /** The request's group/version ("apps/v1"). */
  apiVersion: string
  kind: string
  /** The subresource written ('' for the main resource). */
  subresource: string
  /** The main resource's writes do not own status (kinds with a status subresource reset it). */
  statusIsSubresource: boolean
  /** For the scale subresource: the one field a Scale write sets in the object ("spec.replicas"). */
  scaleReplicasPath?: string[]
  /** For a subresource that writes part of the object (CSR approval): the fields its writes own. */
  subresourceFields?: string[][]
}

interface Manager {
  entry: ManagedFieldsEntry
  set: FieldSet
}
type Managers = Map<string, Manager>

// BuildManagerIdentifier: the entry without fields and time; an applier without its apiVersion.
function managerId(e: ManagedFieldsEntry): string {
  const id: ManagedFieldsEntry = { manager: e.manager, operation: e.operation }
  if (e.operation !== 'Apply') id.apiVersion = e.apiVersion
  if (e.subresource) id.subresource = e.subresource
  return JSON.stringify(id)
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z')
}

function decodeManagers(list: unknown): Managers {
  const out: Managers = new Map()
  if (!Array.isArray(list)) return out
  for (const raw of list) {
    if (!raw || typeof raw !== 'object') continue
    const e = raw as ManagedFieldsEntry
    if (e.fieldsType !== undefined && e.fieldsType !== 'FieldsV1') continue
    const set = FieldSet.fromFieldsV1(e.fieldsV1 ?? {})
    out.set(managerId(e), { entry: { ...e }, set })
  }
  return out
}

// sortEncodedManagedFields: Apply before Update, then by time, manager, apiVersion, subresource.
function encodeManagers(managers: Managers): ManagedFieldsEntry[] | undefined {
  const entries: ManagedFieldsEntry[] = []
  for (const { entry, set } of managers.values()) {
    if (set.empty()) continue
    const e: ManagedFieldsEntry = {
      manager: entry.manager,
      operation: entry.operation,
      apiVersion: entry.apiVersion,
      time: entry.time,
      fieldsType: 'FieldsV1',
      fieldsV1: set.toFieldsV1(),
    }
    if (entry.subresource) e.subresource = entry.subresource
    entries.push(e)
  }
  const cmp = (a: string | undefined, b: string | undefined) =>
    (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0
  entries.sort(
    (p, q) =>
      cmp(p.operation, q.operation) ||
      (Date.parse(p.time ?? '') || 0) - (Date.parse(q.time ?? '') || 0) ||
      cmp(p.manager, q.manager) ||
      cmp(p.apiVersion, q.apiVersion) ||
      cmp(p.subresource, q.subresource),
  )
  return entries.length ? entries : undefined
}

// stripMetaManager's fields and the strategy's reset fields: nobody owns these.
const STRIPPED_META = new Set([
  'name',
  'namespace',
  'creationTimestamp',
  'selfLink',
  'uid',
  'clusterName',
  'generation',
  'managedFields',
  'resourceVersion',
])
function ownable(scope: FieldManagerScope): (p: Path) => boolean {
  return (p) => {
    const first = 'field' in p[0] ? p[0].field : ''
    if (first === 'apiVersion' || first === 'kind') return false
    if (first === 'metadata') {
      if (p.length === 1) return false
      const second = p[1]
      if ('field' in second && STRIPPED_META.has(second.field)) return false
    }
    if (scope.subresourceFields)
      return scope.subresourceFields.some((want) =>
        want.every((f, i) => p[i] && 'field' in p[i] && (p[i] as { field: string }).field === f),
      )
    if (scope.subresource === 'status') return first === 'status'
    if (scope.subresource === 'scale') {
      const want = scope.scaleReplicasPath ?? ['spec', 'replicas']
      return p.length === want.length && p.every((pe, i) => 'field' in pe && pe.field === want[i])
    }
    if (scope.statusIsSubresource && !scope.subresource && first === 'status') return false
    return true
  }
}

function withoutManagedFields(obj: KubeObject | undefined): KubeObject {
  if (!obj) return {}
  const { managedFields: _m, ...metadata } = obj.metadata ?? {}
  return { ...obj, metadata }
}

/** obj with its managed fields; managedFields keeps the place it had in live's metadata, so an unchanged write stays a no-op. */
function setManagedFields(
  obj: KubeObject,
  managers: Managers,
  live: KubeObject | undefined,
): KubeObject {
  const entries = encodeManagers(managers)
  const meta: Record<string, unknown> = {}
  const source = obj.metadata ?? {}
  const order = Object.keys(live?.metadata ?? {})
  const at = order.indexOf('managedFields')
  const before = at >= 0 ? new Set(order.slice(0, at)) : undefined
  for (const [k, v] of Object.entries(source))
    if (k !== 'managedFields' && (!before || before.has(k))) meta[k] = v
  if (entries) meta.managedFields = entries
  for (const [k, v] of Object.entries(source))
    if (k !== 'managedFields' && before && !before.has(k)) meta[k] = v
  return { ...obj, metadata: meta }
}

/** The manager of a write without fieldManager: the User-Agent up to its first "/" (managerOrUserAgent). */
export function managerOrUserAgent(fieldManager: string | null, userAgent: string | null): string {
  if (fieldManager) return fieldManager
  const ua = userAgent ?? 'unknown'
  const slash = ua.indexOf('/')
  return (slash >= 0 ? ua.slice(0, slash) : ua).replace(/[^\x20-\x7e]/g, '').slice(0, 128)
}

function typedFailure(
  what: 'patch' | 'live',
  obj: KubeObject,
  scope: FieldManagerScope,
  err: unknown,
): StatusError {
  if (!(err instanceof TypedError)) throw err
  const meta = obj.metadata ?? {}
  const gv = scope.apiVersion.includes('/') ? scope.apiVersion : `/${scope.apiVersion}`
  return new UnknownStatusError(
    `failed to create typed ${what} object (${meta.namespace ?? ''}/${meta.name ?? ''}; ${gv}, Kind=${obj.kind ?? ''}): ${err.message}`,
  )
}

/**
 * FieldManager.Update: the new object with managedFields recording that `manager` set what changed from
 * live (undefined for a create). Managed fields sent in the object replace the live ones (clients may
 * rewrite them); absent or empty, the live ones carry over.
 */
export function updateManagedFields(
  live: KubeObject | undefined,
  obj: KubeObject,
  manager: string,
  scope: FieldManagerScope,
): KubeObject {
  const sent = obj.metadata?.managedFields
  const managers = decodeManagers(
    Array.isArray(sent) && sent.length && !scope.subresource ? sent : live?.metadata?.managedFields,
  )
  const liveClean = withoutManagedFields(live)
  const objClean = withoutManagedFields(obj)
  let cmp
  try {
    cmp = compare(liveClean, objClean, scope.schema)
  } catch (e) {
    // An object the schema cannot walk (a duplicate key in an associative list) keeps the managed fields it had.
    if (e instanceof TypedError) return obj
    throw e
  }
  const keep = ownable(scope)
  const changed = cmp.modified.union(cmp.added).filter(keep)
  const entry: ManagedFieldsEntry = { manager, operation: 'Update', apiVersion: scope.apiVersion }
  if (scope.subresource) entry.subresource = scope.subresource
  const id = managerId(entry)
  // Updaters always win: the fields they changed leave every other manager.
  for (const [otherId, m] of managers)
    if (otherId !== id) m.set = m.set.difference(changed).difference(cmp.removed)
  const previous = managers.get(id)
  const set = (previous?.set ?? new FieldSet()).difference(cmp.removed).union(changed).filter(keep)
  const time = previous && previous.set.equals(set) ? previous.entry.time : now()
  managers.set(id, { entry: { ...entry, time }, set })
  capUpdateManagers(managers)
  return setManagedFields(obj, managers, live)
}

// capManagersManager: beyond ten Update entries, the oldest merge into "ancient-changes".
function capUpdateManagers(managers: Managers): void {
  const updates = [...managers].filter(([, m]) => m.entry.operation === 'Update' && !m.set.empty())
  if (updates.length <= MAX_UPDATE_MANAGERS) return
  updates.sort(
    ([, a], [, b]) => (Date.parse(a.entry.time ?? '') || 0) - (Date.parse(b.entry.time ?? '') || 0),
  )
  const excess = updates.slice(0, updates.length - MAX_UPDATE_MANAGERS + 1)
  let set = new FieldSet()
  for (const [id, m] of excess) {
    set = set.union(m.set)
    managers.delete(id)
  }
  const entry: ManagedFieldsEntry = {
    manager: 'ancient-changes',
    operation: 'Update',
    apiVersion: excess[excess.length - 1][1].entry.apiVersion,
    time: excess[excess.length - 1][1].entry.time,
  }
  const id = managerId(entry)
  managers.set(id, { entry, set: set.union(managers.get(id)?.set ?? new FieldSet()) })
}

interface Conflict {
  manager: string
  path: Path
}

function printManager(id: string): string {
  const e = JSON.parse(id) as ManagedFieldsEntry
  let s = JSON.stringify(e.manager ?? '')
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`
  if (e.operation === 'Update') s += ` using ${e.apiVersion ?? ''}`
  return s
}

/** NewConflictError: 409 with one cause per conflicting field, grouped by manager in the message. */
export function conflictError(conflicts: Conflict[]): StatusError {
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${printManager(c.manager)}`,
    field: pathString(c.path),
  }))
  let message: string
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0].manager)}: ${pathString(conflicts[0].path)}`
  } else {
    const byManager = new Map<string, Path[]>()
    for (const c of conflicts)
      byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.path])
    const lines: string[] = []
    for (const m of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${printManager(m)}:`)
      for (const p of byManager.get(m)!) lines.push(`- ${pathString(p)}`)
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`
  }
  return new StatusError(409, 'Conflict', message, { causes })
}

/**
 * The fields a kubectl applier may take over without force when migrating from client-side apply
 * (lastAppliedManager): those of the last-applied-configuration annotation whose live values it set.
 */
function lastAppliedAllowance(live: KubeObject, scope: FieldManagerScope): FieldSet | undefined {
  const text = live.metadata?.annotations?.[LAST_APPLIED]
  if (!text) return undefined
  let lastApplied: unknown
  try {
    lastApplied = JSON.parse(text)
  } catch {
    return undefined
  }
  let set: FieldSet
  try {
    set = toFieldSet(lastApplied, scope.schema)
  } catch {
    return undefined
  }
  return set.filter(
    (p) =>
      canonicalJSON(valueAt(lastApplied, p, scope.schema)) ===
      canonicalJSON(valueAt(live, p, scope.schema)),
  )
}

/**
 * FieldManager.Apply: `config` (a server-side apply body) merged into live (undefined when the apply
 * creates the object), with the applier's managed fields set to exactly the fields of config.
 */
export function applyConfiguration(
  live: KubeObject | undefined,
  config: KubeObject,
  manager: string,
  force: boolean,
  scope: FieldManagerScope,
): KubeObject {
  if (config.metadata?.managedFields !== undefined)
    throw badRequest('metadata.managedFields must be nil')
  const version = config.apiVersion ?? ''
  if (version !== scope.apiVersion) {
    throw badRequest(
      `Incorrect version specified in apply patch. Specified patch version: ${version}, expected: ${scope.apiVersion}`,
    )
  }
  if (config.kind !== scope.kind) {
    const gv = scope.apiVersion.includes('/') ? scope.apiVersion : `/${scope.apiVersion}`
    throw typedFailure(
      'patch',
      config,
      scope,
      new TypedError(`no corresponding type for ${gv}, Kind=${config.kind ?? ''}`),
    )
  }
  const keep = ownable(scope)
  let configSet: FieldSet
  try {
    configSet = toFieldSet(config, scope.schema, { strict: true }).filter(keep)
  } catch (e) {
    throw typedFailure('patch', config, scope, e)
  }
  const liveClean = withoutManagedFields(live)
  let managers = decodeManagers(live?.metadata?.managedFields)
  if (live && !managers.size) {
    // An object written before managed fields were kept: one entry owns everything it has.
    const entry: ManagedFieldsEntry = {
      manager: BEFORE_FIRST_APPLY,
      operation: 'Update',
      apiVersion: scope.apiVersion,
      time: now(),
    }
    try {
      managers.set(managerId(entry), {
        entry,
        set: toFieldSet(liveClean, scope.schema).filter(keep),
      })
    } catch (e) {
      throw typedFailure('live', liveClean, scope, e)
    }
  }
  const entry: ManagedFieldsEntry = { manager, operation: 'Apply', apiVersion: scope.apiVersion }
  if (scope.subresource) entry.subresource = scope.subresource
  const id = managerId(entry)

  const attempt = (
    forced: boolean,
  ): { object: KubeObject; managers: Managers } | { conflicts: Conflict[] } => {
    const ms: Managers = new Map(
      [...managers].map(([k, m]) => [k, { entry: { ...m.entry }, set: m.set.clone() }]),
    )
    const previous = ms.get(id)
    let merged = merge(liveClean, config, scope.schema) as KubeObject
    ms.set(id, { entry: { ...entry, time: now() }, set: configSet })
    // Prune: what the applier owned before and no longer applies goes, unless someone else owns it (or something under it).
    if (previous && !previous.set.empty()) {
      const owned = [...ms.values()].reduce((acc, m) => acc.union(m.set), new FieldSet())
      const gone = previous.set.paths().filter((p) => !owned.hasPrefix(p))
      if (gone.length)
        merged = removeItems(merged, FieldSet.fromPaths(gone), scope.schema) as KubeObject
    }
    const cmp = compare(liveClean, merged, scope.schema)
    const changed = cmp.modified.union(cmp.added)
    const conflicts: Conflict[] = []
    for (const [otherId, m] of ms) {
      if (otherId === id) continue
      const clash = m.set.intersection(changed)
      for (const p of clash.paths().sort(comparePaths))
        conflicts.push({ manager: otherId, path: p })
      m.set = m.set.difference(cmp.removed)
      if (forced) m.set = m.set.difference(clash)
    }
    if (conflicts.length && !forced) return { conflicts }
    if (previous && previous.set.equals(configSet) && previous.entry.time)
      ms.get(id)!.entry.time = previous.entry.time
    return { object: merged, managers: ms }
  }

  let result = attempt(force)
  if ('conflicts' in result) {
    // kubectl's first server-side apply after client-side ones may take the fields its last-applied annotation set.
    const allowed =
      manager.startsWith('kubectl') && live ? lastAppliedAllowance(live, scope) : undefined
    if (allowed && result.conflicts.every((c) => allowed.has(c.path))) result = attempt(true)
    else {
      const remaining = allowed
        ? result.conflicts.filter((c) => !allowed.has(c.path))
        : result.conflicts
      remaining.sort(
        (a, b) =>
          (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0) ||
          comparePaths(a.path, b.path),
      )
      throw conflictError(remaining)
    }
  }
  if ('conflicts' in result) throw conflictError(result.conflicts)
  let object = setManagedFields(result.object, result.managers, live)
  // lastAppliedUpdater: a kubectl applier keeps an existing client-side apply annotation in step.
  if (manager.startsWith('kubectl') && object.metadata?.annotations?.[LAST_APPLIED] !== undefined) {
    object = {
      ...object,
      metadata: {
        ...object.metadata,
        annotations: { ...object.metadata.annotations, [LAST_APPLIED]: buildLastApplied(config) },
      },
    }
  }
  return object
}

function buildLastApplied(config: KubeObject): string {
  const copy = structuredClone(config)
  const annotations = copy.metadata?.annotations
  if (annotations) {
    delete annotations[LAST_APPLIED]
    if (!Object.keys(annotations).length) delete copy.metadata!.annotations
  }
  return canonicalJSON(copy) + '\n'
}

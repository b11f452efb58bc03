// kube-apiserver's APF configuration maintenance (pkg/registry/flowcontrol/ensurer and the
// priority-and-fairness-config-producer post-start hook): the mandatory objects always exist with their
// fixed spec; the suggested ones are created when missing and their spec kept up to date while
// `apf.kubernetes.io/autoupdate-spec` says so ("true"; absent or not a boolean: only while
// metadata.generation is 1, that is, never edited); objects marked "true" that the bootstrap set no longer
// names are deleted.
import type { Registry } from '../registry/registry'
import { decode, RegistryStore, storageKey } from '../registry/store'
import type { KubeObject, RequestContext } from '../registry/types'
import { clone, semanticEqual } from '../registry/validation/equality'
import { isStatusErrorReason } from '../server/errors'
import type { Store } from '../storage/store'
import {
  AUTO_UPDATE_ANNOTATION,
  MANDATORY_FLOW_SCHEMAS,
  MANDATORY_PRIORITY_LEVELS,
  SUGGESTED_FLOW_SCHEMAS,
  SUGGESTED_PRIORITY_LEVELS,
} from './bootstrap'

const GROUP = 'flowcontrol.apiserver.k8s.io'

const ctx = (): RequestContext => ({
  dryRun: false,
  warnings: [],
  user: { username: 'system:apiserver', groups: ['system:masters'] },
})

/** shouldUpdateSpec: the annotation decides when it is a boolean, else an object never edited is ours. */
export function autoUpdatesSpec(obj: KubeObject): boolean {
  const v = obj.metadata?.annotations?.[AUTO_UPDATE_ANNOTATION]
  const b = parseGoBool(v)
  if (b !== undefined) return b
  return obj.metadata?.generation === 1
}

/** strconv.ParseBool. */
function parseGoBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
  return undefined
}

interface Wanted {
  obj: KubeObject
  mandatory: boolean
}

async function ensureKind(rs: RegistryStore, wanted: Wanted[]): Promise<void> {
  const existing = new Map(
    (await rs.list(undefined)).items.map((o) => [o.metadata!.name!, o] as const),
  )
  for (const { obj, mandatory } of wanted) {
    const name = obj.metadata!.name!
    const current = existing.get(name)
    if (!current) {
      try {
        await rs.create(undefined, clone(obj), ctx())
      } catch (e) {
        if (!isStatusErrorReason(e, 'AlreadyExists')) throw e
      }
      continue
    }
    if (!mandatory && !autoUpdatesSpec(current)) continue
    const desired = clone(obj.spec) as Record<string, unknown>
    // The mandatory exempt level's spec.exempt is the operator's to tune; the rest of it is fixed.
    if (mandatory && name === 'exempt' && (current.spec as any)?.exempt)
      desired.exempt = clone((current.spec as any).exempt)
    const annotated = current.metadata?.annotations?.[AUTO_UPDATE_ANNOTATION] === 'true'
    if (annotated && semanticEqual(current.spec, desired)) continue
    try {
      await rs.update(
        undefined,
        name,
        (cur) => {
          const next = clone(cur!)
          next.spec = clone(desired)
          next.metadata!.annotations = {
            ...next.metadata!.annotations,
            [AUTO_UPDATE_ANNOTATION]: 'true',
          }
          return next
        },
        ctx(),
      )
    } catch (e) {
      // Deleted meanwhile: the next pass creates it again.
      if (!isStatusErrorReason(e, 'NotFound')) throw e
    }
  }
  const names = new Set(wanted.map((w) => w.obj.metadata!.name!))
  for (const [name, obj] of existing) {
    if (names.has(name)) continue
    if (parseGoBool(obj.metadata?.annotations?.[AUTO_UPDATE_ANNOTATION]) !== true) continue
    try {
      await rs.delete(undefined, name, { preconditions: { uid: obj.metadata?.uid } }, ctx())
    } catch (e) {
      if (!isStatusErrorReason(e, 'NotFound') && !isStatusErrorReason(e, 'Conflict')) throw e
    }
  }
}

/** Creates and updates the mandatory and suggested FlowSchemas and PriorityLevelConfigurations. */
export async function ensureAPFBootstrapConfiguration(
  registry: Registry,
  store: Store,
): Promise<void> {
  const pl = registry.lookup(GROUP, 'v1', 'prioritylevelconfigurations')
  const fs = registry.lookup(GROUP, 'v1', 'flowschemas')
  if (!pl || !fs) return
  const tag = (mandatory: boolean) => (obj: KubeObject) => ({ obj, mandatory })
  // Priority levels first, so that no schema is dangling for longer than it must.
  await ensureKind(new RegistryStore(pl, store), [
    ...MANDATORY_PRIORITY_LEVELS.map(tag(true)),
    ...SUGGESTED_PRIORITY_LEVELS.map(tag(false)),
  ])
  await ensureKind(new RegistryStore(fs, store), [
    ...MANDATORY_FLOW_SCHEMAS.map(tag(true)),
    ...SUGGESTED_FLOW_SCHEMAS.map(tag(false)),
  ])
}

/**
 * The Dangling condition of every FlowSchema, as the APF controller writes it once it has read the
 * configuration: part of a new cluster's bootstrap, so that its first request (which reads the
 * configuration and waits for that) finds them written rather than writing a dozen statuses itself.
 */
export async function ensureFlowSchemaStatuses(registry: Registry, store: Store): Promise<void> {
  const fs = registry.lookup(GROUP, 'v1', 'flowschemas')
  const pl = registry.lookup(GROUP, 'v1', 'prioritylevelconfigurations')
  if (!fs || !pl) return
  const [schemas, levels] = await Promise.all([
    store.list(storageKey(fs, undefined)),
    store.list(storageKey(pl, undefined)),
  ])
  await updateFlowSchemaStatuses(
    registry,
    store,
    schemas.kvs.map((kv) => decode(fs, kv)),
    new Set(levels.kvs.map((kv) => decode(pl, kv).metadata!.name!)),
  )
}

/** The Dangling condition kube's APF controller keeps on each FlowSchema's status. */
export function danglingCondition(fs: KubeObject, levels: Set<string>, now: string) {
  const plName = (fs.spec as any)?.priorityLevelConfiguration?.name ?? ''
  const found = levels.has(plName)
  return {
    type: 'Dangling',
    status: found ? 'False' : 'True',
    lastTransitionTime: now,
    reason: found ? 'Found' : 'NotFound',
    message: found
      ? `This FlowSchema references the PriorityLevelConfiguration object named "${plName}" and it exists`
      : `This FlowSchema references the PriorityLevelConfiguration object named "${plName}" but there is no such object`,
  }
}

/** Writes the Dangling condition of each schema whose condition is missing or out of date. */
export async function updateFlowSchemaStatuses(
  registry: Registry,
  store: Store,
  schemas: KubeObject[],
  levels: Set<string>,
): Promise<void> {
  const fs = registry.lookup(GROUP, 'v1', 'flowschemas')
  if (!fs) return
  const rs = new RegistryStore(fs, store)
  for (const schema of schemas) {
    const want = danglingCondition(schema, levels, new Date().toISOString().replace(/\.\d+Z$/, 'Z'))
    const have = ((schema.status as any)?.conditions ?? []).find((c: any) => c.type === 'Dangling')
    if (have && have.status === want.status && have.message === want.message) continue
    try {
      await rs.update(
        undefined,
        schema.metadata!.name!,
        (cur) => {
          const next = clone(cur!)
          const status = ((next.status as any) ??= {})
          const now = (status.conditions ?? []).find((c: any) => c.type === 'Dangling')
          // Another isolate or process wrote the same condition meanwhile: keep its transition time.
          if (now && now.status === want.status && now.message === want.message) return next
          const others = (status.conditions ?? []).filter((c: any) => c.type !== 'Dangling')
          status.conditions = [...others, want]
          return next
        },
        ctx(),
        'status',
      )
    } catch (e) {
      // Another isolate or process wrote it first, or the schema is gone: the next load looks again.
      if (!isStatusErrorReason(e, 'NotFound') && !isStatusErrorReason(e, 'Conflict')) throw e
    }
  }
}

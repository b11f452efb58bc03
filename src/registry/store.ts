// The generic registry store: turns API verbs into Store calls for every kind, with the kind's Strategy
// supplying what differs (the role of k8s.io/apiserver/pkg/registry/generic/registry/store.go).
import {
  alreadyExists, badRequest, conflict, forbidden, invalid, notFound, resourceExpired, OPTIMISTIC_LOCK_MESSAGE,
  StatusError, type FieldError, type GroupKind, type GroupResource,
} from '../server/errors'
import { isStoreError, type KeyValue, type Store } from '../storage/store'
import { validateObjectMeta, validateObjectMetaUpdate } from './validation'
import { groupVersion, type KubeObject, type RequestContext, type ResourceType } from './types'

export interface ListOptions {
  /** Applied after decoding; pagination keeps reading until `limit` objects match. */
  filter?: (obj: KubeObject) => boolean
  limit?: number
  continue?: string
  resourceVersion?: string
  resourceVersionMatch?: string
}

export interface ListResult {
  items: KubeObject[]
  resourceVersion: string
  continue?: string
  remainingItemCount?: number
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string }
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground'
  gracePeriodSeconds?: number
}

export type Subresource = '' | 'status' | 'finalize'

const GENERATE_NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789'
const MAX_UPDATE_RETRIES = 10

export function storageKey(t: ResourceType, namespace: string | undefined, name?: string): string {
  const base = `/registry/${t.storagePrefix}/`
  if (t.namespaced && namespace) return name === undefined ? `${base}${namespace}/` : `${base}${namespace}/${name}`
  return name === undefined ? base : `${base}${name}`
}

export function groupResource(t: ResourceType): GroupResource {
  return { group: t.group, resource: t.resource }
}
export function groupKind(t: ResourceType): GroupKind {
  return { group: t.group, kind: t.kind }
}

export function decode(t: ResourceType, kv: KeyValue): KubeObject {
  const stored = JSON.parse(kv.value) as KubeObject
  stored.metadata = { ...stored.metadata, resourceVersion: String(kv.modRevision) }
  return t.convert ? t.convert.fromStorage(stored) : stored
}

function encode(t: ResourceType, obj: KubeObject): string {
  const stored = t.convert ? t.convert.toStorage(obj) : { ...obj }
  const { resourceVersion: _rv, ...metadata } = stored.metadata ?? {}
  return JSON.stringify({ ...stored, metadata })
}

interface ContinueToken { rv: number; start: string }

// kube-apiserver's continue token: base64 of {"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key after prefix>\u0000"}.
export function encodeContinue(rv: number, lastKeyRelative: string): string {
  return btoa(unescape(encodeURIComponent(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: lastKeyRelative + '\u0000' }))))
}

export function decodeContinue(token: string): ContinueToken {
  let parsed: { v?: string; rv?: number; start?: string }
  try {
    parsed = JSON.parse(decodeURIComponent(escape(atob(token))))
  } catch {
    throw badRequest('continue key is not valid: illegal base64 data at input byte 0')
  }
  if (parsed.v !== 'meta.k8s.io/v1') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)')
  if (typeof parsed.rv !== 'number' || parsed.rv === 0) throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)')
  const start = parsed.start ?? ''
  if (!start || start.includes('/')) throw badRequest('continue key is not valid: start key must be a name within the list')
  return { rv: parsed.rv, start: start.endsWith('\u0000') ? start.slice(0, -1) : start }
}

const EXPIRED_CONTINUE_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.'

export function parseResourceVersion(rv: string | undefined, what = 'resourceVersion'): number | undefined {
  if (rv === undefined || rv === '') return undefined
  if (!/^\d+$/.test(rv)) throw invalidResourceVersion(rv, what)
  return Number(rv)
}

function invalidResourceVersion(rv: string, _what: string): StatusError {
  // apiserver's storage layer answers an unparsable resourceVersion with 400 "invalid resource version".
  return badRequest(`invalid resource version: strconv.ParseUint: parsing "${rv}": invalid syntax`)
}

function randomSuffix(n = 5): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n))
  let s = ''
  for (const b of bytes) s += GENERATE_NAME_CHARS[b % GENERATE_NAME_CHARS.length]
  return s
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Everything but metadata and status: what a generation bump watches by default. */
function specOf(obj: KubeObject): unknown {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj
  return rest
}

export class RegistryStore {
  constructor(
    readonly type: ResourceType,
    private readonly store: Store,
    /** Resolves the namespace object for the namespace-exists check; undefined when there is none. */
    private readonly namespaceLookup: (name: string) => Promise<KubeObject | undefined>,
  ) {}

  private get gr(): GroupResource { return groupResource(this.type) }
  private get gk(): GroupKind { return groupKind(this.type) }

  key(namespace: string | undefined, name: string): string {
    return storageKey(this.type, namespace, name)
  }

  async get(namespace: string | undefined, name: string): Promise<KubeObject> {
    const { kv } = await this.store.get(this.key(namespace, name))
    if (!kv) throw notFound(this.gr, name)
    return decode(this.type, kv)
  }

  async list(namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    const prefix = storageKey(this.type, namespace)
    const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined
    let revision: number | undefined
    let after: string | undefined
    if (opts.continue) {
      const token = decodeContinue(opts.continue)
      revision = token.rv
      after = prefix + token.start
    } else {
      const rv = parseResourceVersion(opts.resourceVersion)
      if (opts.resourceVersionMatch === 'Exact') revision = rv
      else if (rv && rv > 0) await this.waitForRevision(rv)
    }

    const items: KubeObject[] = []
    let lastKey: string | undefined
    let more = false
    let readRevision = revision ?? 0
    let remaining: number | undefined
    // With a filter, keep reading pages until limit objects match (etcd3 store's list does the same).
    for (;;) {
      const pageLimit = limit ? Math.max(limit - items.length, opts.filter ? Math.min(limit * 2, 1000) : 0) : undefined
      let page
      try {
        page = await this.store.list(prefix, { revision: readRevision || undefined, limit: pageLimit, after })
      } catch (e) {
        if (isStoreError(e, 'Compacted')) {
          if (opts.continue) throw new StatusError(410, 'Expired', EXPIRED_CONTINUE_MESSAGE)
          throw resourceExpired(`too old resource version: ${readRevision} (${e.revision})`)
        }
        if (isStoreError(e, 'FutureRevision')) throw tooLargeResourceVersion(readRevision)
        throw e
      }
      readRevision = page.revision
      for (let i = 0; i < page.kvs.length; i++) {
        const kv = page.kvs[i]
        const obj = decode(this.type, kv)
        lastKey = kv.key
        if (!opts.filter || opts.filter(obj)) items.push(obj)
        if (limit && items.length >= limit) {
          more = i < page.kvs.length - 1 || page.more
          if (!opts.filter) remaining = page.count - (i + 1)
          break
        }
      }
      if (limit && items.length >= limit) break
      if (!page.more) break
      after = lastKey
    }
    const result: ListResult = { items, resourceVersion: String(readRevision) }
    if (more && lastKey) {
      result.continue = encodeContinue(readRevision, lastKey.slice(prefix.length))
      if (remaining !== undefined && !opts.filter) result.remainingItemCount = remaining
    }
    return result
  }

  /** resourceVersion on a list or get means "not older than": a revision the store has not reached yet waits briefly, as the watch cache does. */
  private async waitForRevision(rv: number): Promise<void> {
    for (let i = 0; i < 30; i++) {
      if ((await this.store.currentRevision()) >= rv) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw tooLargeResourceVersion(rv)
  }

  async create(namespace: string | undefined, obj: KubeObject, ctx: RequestContext): Promise<KubeObject> {
    this.checkTypeMeta(obj)
    const meta = (obj.metadata ??= {})
    this.checkNamespace(meta, namespace)
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix()
    const nameErrs = validateObjectMeta(meta, { namespaced: this.type.namespaced, validateName: this.type.strategy.validateName })
    if (nameErrs.length) throw invalid(this.gk, meta.name ?? meta.generateName ?? '', nameErrs)

    // rest.BeforeCreate: the server owns these fields.
    delete meta.resourceVersion
    delete meta.deletionTimestamp
    delete meta.deletionGracePeriodSeconds
    meta.uid = crypto.randomUUID()
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    if (this.tracksGeneration()) meta.generation = 1
    else delete meta.generation
    const s = this.type.strategy
    s.defaults?.(obj)
    s.prepareForCreate?.(obj, ctx)
    this.validate(obj, s.validate?.(obj, ctx) ?? [])
    await s.beforeWrite?.(obj, undefined, this.store, ctx)

    if (this.type.namespaced) await this.requireActiveNamespace(namespace!, meta.name!)
    const key = this.key(namespace, meta.name!)
    if (ctx.dryRun) {
      const { kv } = await this.store.get(key)
      if (kv) throw alreadyExists(this.gr, meta.name!)
      return obj
    }
    await s.beforeCreate?.(obj, this.store, ctx)
    try {
      return decode(this.type, await this.store.create(key, encode(this.type, obj)))
    } catch (e) {
      await s.afterDelete?.(obj, this.store)
      if (isStoreError(e, 'KeyExists')) throw alreadyExists(this.gr, meta.name!)
      throw e
    }
  }

  /**
   * PUT of the main resource or its status. `mutate` receives the current object (or undefined) and
   * returns the desired one: a plain PUT returns the body, a patch applies itself to the current object.
   */
  async update(
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject | undefined) => KubeObject | Promise<KubeObject>,
    ctx: RequestContext,
    subresource: Subresource = '',
    opts: { forceAllowCreate?: boolean } = {},
  ): Promise<{ object: KubeObject; created: boolean }> {
    const key = this.key(namespace, name)
    const s = this.type.strategy
    for (let attempt = 0; ; attempt++) {
      const { kv } = await this.store.get(key)
      if (!kv) {
        if (!(s.allowCreateOnUpdate || opts.forceAllowCreate) || subresource) throw notFound(this.gr, name)
        const obj = await mutate(undefined)
        this.checkTypeMeta(obj)
        const meta = (obj.metadata ??= {})
        if (meta.name !== name) throw badRequest('the name of the object (' + (meta.name ?? '') + ') does not match the name on the URL (' + name + ')')
        if (meta.resourceVersion) throw notFound(this.gr, name)
        return { object: await this.create(namespace, obj, ctx), created: true }
      }
      const old = decode(this.type, kv)
      const obj = await mutate(structuredClone(old))
      this.checkTypeMeta(obj)
      const meta = (obj.metadata ??= {})
      if (meta.name !== undefined && meta.name !== name) {
        throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`)
      }
      this.checkNamespace(meta, namespace)
      meta.name = name
      if (this.type.namespaced) meta.namespace = namespace
      const requestedRV = meta.resourceVersion
      if (requestedRV && requestedRV !== String(kv.modRevision)) {
        parseResourceVersion(requestedRV)
        throw conflict(this.gr, name, OPTIMISTIC_LOCK_MESSAGE)
      }
      this.prepareUpdate(obj, old, ctx, subresource)
      await s.beforeWrite?.(obj, old, this.store, ctx)
      if (ctx.dryRun) return { object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(kv.modRevision) } }, created: false }

      // An update that leaves a deleting object without finalizers completes its deletion (store.go's
      // shouldDeleteDuringUpdate).
      const finishDeletion = !!obj.metadata!.deletionTimestamp && !(obj.metadata!.finalizers?.length) && (s.deleteDuringUpdate?.(obj) ?? true)
      try {
        if (finishDeletion) {
          const deleted = await this.store.delete(key, kv.modRevision)
          await s.afterDelete?.(old, this.store)
          return { object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(deleted.modRevision) } }, created: false }
        }
        if (deepEqual(specAndMeta(obj), specAndMeta(old))) return { object: old, created: false }
        return { object: decode(this.type, await this.store.update(key, encode(this.type, obj), kv.modRevision)), created: false }
      } catch (e) {
        // Without a resourceVersion from the client an update is unconditional: retry on a concurrent write.
        if ((isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) && !requestedRV && attempt < MAX_UPDATE_RETRIES) continue
        if (isStoreError(e, 'Conflict')) throw conflict(this.gr, name, OPTIMISTIC_LOCK_MESSAGE)
        if (isStoreError(e, 'NotFound')) throw notFound(this.gr, name)
        throw e
      }
    }
  }

  private prepareUpdate(obj: KubeObject, old: KubeObject, ctx: RequestContext, subresource: Subresource): void {
    const s = this.type.strategy
    const meta = obj.metadata!
    const oldMeta = old.metadata!
    // rest.BeforeUpdate: fields the client may omit are carried over; changes to them are invalid.
    meta.uid ??= oldMeta.uid
    meta.creationTimestamp ??= oldMeta.creationTimestamp
    if (oldMeta.deletionTimestamp) {
      meta.deletionTimestamp = oldMeta.deletionTimestamp
      meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds
    } else {
      delete meta.deletionTimestamp
      delete meta.deletionGracePeriodSeconds
    }
    if (subresource === 'status') {
      // The status subresource changes status only (and, as kube-apiserver allows, nothing of metadata but what it keeps).
      const status = obj.status
      for (const k of Object.keys(obj)) delete obj[k]
      Object.assign(obj, structuredClone(old))
      if (status === undefined) delete obj.status
      else obj.status = status
      s.prepareForStatusUpdate?.(obj, old)
    } else if (subresource === 'finalize') {
      s.prepareForFinalizeUpdate?.(obj, old)
    } else {
      if (this.type.subresources?.status) {
        if (old.status === undefined) delete obj.status
        else obj.status = structuredClone(old.status)
      }
      s.defaults?.(obj)
      s.prepareForUpdate?.(obj, old, ctx)
    }
    if (this.tracksGeneration()) {
      const oldGen = oldMeta.generation ?? 1
      const changed = s.specChanged ? s.specChanged(obj, old) : !deepEqual(specOf(obj), specOf(old))
      // Setting deletionTimestamp also bumps generation in kube-apiserver; that happens in delete().
      meta.generation = changed ? oldGen + 1 : oldGen
    } else {
      delete meta.generation
    }
    const errs = [
      ...validateObjectMeta(meta, { namespaced: this.type.namespaced, validateName: s.validateName }),
      ...validateObjectMetaUpdate(meta, oldMeta),
      ...(s.validateUpdate?.(obj, old, ctx) ?? s.validate?.(obj, ctx) ?? []),
    ]
    if (errs.length) throw invalid(this.gk, meta.name ?? '', errs)
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions, ctx: RequestContext): Promise<{ object: KubeObject; deleted: boolean }> {
    const key = this.key(namespace, name)
    for (let attempt = 0; ; attempt++) {
      const { kv } = await this.store.get(key)
      if (!kv) throw notFound(this.gr, name)
      const obj = decode(this.type, kv)
      const meta = obj.metadata!
      const pre = opts.preconditions
      if (pre?.uid && pre.uid !== meta.uid) {
        throw conflict(this.gr, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid}`)
      }
      if (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion) {
        throw conflict(this.gr, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${meta.resourceVersion}`)
      }
      const own = this.type.strategy.beforeDelete?.(obj, opts)
      if (own === 'keep') return { object: obj, deleted: false }
      if (own) {
        if (ctx.dryRun) return { object: own, deleted: false }
        try {
          return { object: decode(this.type, await this.store.update(key, encode(this.type, own), kv.modRevision)), deleted: false }
        } catch (e) {
          if ((isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) && attempt < MAX_UPDATE_RETRIES) continue
          throw e
        }
      }
      const finalizers = [...(meta.finalizers ?? [])]
      if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion')
      if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan')
      try {
        if (finalizers.length) {
          // Graceful: mark, and let whoever owns each finalizer remove it (store.go's updateForGracefulDeletionAndFinalizers).
          if (!meta.deletionTimestamp || finalizers.length !== (meta.finalizers?.length ?? 0)) {
            meta.finalizers = finalizers
            if (!meta.deletionTimestamp) {
              meta.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
              meta.deletionGracePeriodSeconds = 0
              if (this.tracksGeneration()) meta.generation = (meta.generation ?? 1) + 1
            }
            if (ctx.dryRun) return { object: obj, deleted: false }
            return { object: decode(this.type, await this.store.update(key, encode(this.type, obj), kv.modRevision)), deleted: false }
          }
          return { object: obj, deleted: false }
        }
        if (ctx.dryRun) return { object: obj, deleted: true }
        const gone = await this.store.delete(key, kv.modRevision)
        await this.type.strategy.afterDelete?.(obj, this.store)
        return { object: { ...obj, metadata: { ...meta, resourceVersion: String(gone.modRevision) } }, deleted: true }
      } catch (e) {
        if ((isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) && attempt < MAX_UPDATE_RETRIES) continue
        throw e
      }
    }
  }

  private tracksGeneration(): boolean {
    return this.type.strategy.trackGeneration ?? false
  }

  private validate(obj: KubeObject, errs: FieldError[]): void {
    if (errs.length) throw invalid(this.gk, obj.metadata?.name ?? '', errs)
  }

  private checkTypeMeta(obj: KubeObject): void {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw badRequest('the body of the request must be a JSON object')
    const expected = this.type.storageVersion && !this.type.convert ? this.type.storageVersion : groupVersion(this.type)
    if (obj.apiVersion !== undefined && obj.apiVersion !== groupVersion(this.type) && obj.apiVersion !== expected) {
      throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(this.type)})`)
    }
    if (obj.kind !== undefined && obj.kind !== this.type.kind) {
      throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${this.type.kind})`)
    }
    obj.apiVersion = groupVersion(this.type)
    obj.kind = this.type.kind
  }

  private checkNamespace(meta: KubeObject['metadata'] & object, namespace: string | undefined): void {
    if (!this.type.namespaced) {
      delete meta.namespace
      return
    }
    if (meta.namespace && meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
    }
    meta.namespace = namespace
  }

  private async requireActiveNamespace(namespace: string, name: string): Promise<void> {
    const ns = await this.namespaceLookup(namespace)
    if (!ns) throw notFound({ group: '', resource: 'namespaces' }, namespace)
    if (ns.metadata?.deletionTimestamp || (ns.status as { phase?: string } | undefined)?.phase === 'Terminating') {
      throw forbidden(this.gr, name, `unable to create new content in namespace ${namespace} because it is being terminated`)
    }
  }
}

function specAndMeta(obj: KubeObject): unknown {
  const { resourceVersion: _rv, ...meta } = obj.metadata ?? {}
  return { ...obj, metadata: meta }
}

export function tooLargeResourceVersion(rv: number): StatusError {
  return new StatusError(504, 'Timeout', `Too large resource version: ${rv}, current: unknown`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  })
}

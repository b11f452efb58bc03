// The generic registry store: turns API verbs into Store calls for every kind, with the kind's Strategy
// supplying what differs (the role of k8s.io/apiserver/pkg/registry/generic/registry/store.go).
import {
  alreadyExists,
  badRequest,
  conflict,
  fieldInvalid,
  invalid,
  isStatusErrorReason,
  notFound,
  OPTIMISTIC_LOCK_MESSAGE,
  StatusError,
  type FieldError,
  type GroupKind,
  type GroupResource,
} from '../server/errors'
import {
  heldPairs,
  isStoreError,
  type KeyValue,
  type Store,
  type WriteOptions,
} from '../storage/store'
import {
  interpretCreateError,
  interpretDeleteError,
  interpretGetError,
  interpretListError,
  interpretUpdateError,
  preconditionFailed,
  tooLargeResourceVersion,
  writeTimeout,
} from './store-errors'
import type { Admission, Attributes, Operation } from '../admission/types'
import { ObjectReader } from '../admission/reader'
import { decodeContinue, encodeContinue } from './continue'
import { validateObjectMeta, validateObjectMetaUpdate } from './validation'
import {
  groupVersion,
  type KubeObject,
  type RequestContext,
  type ResourceType,
  type Strategy,
} from './types'

export interface ListOptions {
  /** Applied after decoding; pagination keeps reading until `limit` objects match. */
  filter?: (obj: KubeObject) => boolean
  limit?: number
  continue?: string
  resourceVersion?: string
  resourceVersionMatch?: string
}

export interface ListResult<Item = KubeObject> {
  items: Item[]
  resourceVersion: string
  continue?: string
  remainingItemCount?: number
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string }
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground'
  gracePeriodSeconds?: number
}

/** '' for the main resource, 'status', 'finalize', or one of the type's subresources.updates. */
export type Subresource = string

const GENERATE_NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789'
/**
 * How long a write retries on conflicts with concurrent writers: GuaranteedUpdate retries until the
 * request's context ends, which the write handlers bound by requestTimeoutUpperBound (34 s).
 */
export const WRITE_TIMEOUT_MS = 34_000

export function storageKey(t: ResourceType, namespace: string | undefined, name?: string): string {
  const base = `/registry/${t.storagePrefix}/`
  if (t.namespaced && namespace)
    return name === undefined ? `${base}${namespace}/` : `${base}${namespace}/${name}`
  return name === undefined ? base : `${base}${name}`
}

export function groupResource(t: ResourceType): GroupResource {
  return { group: t.group, resource: t.resource }
}
export function groupKind(t: ResourceType): GroupKind {
  return { group: t.group, kind: t.kind }
}

function decodeStored(kv: KeyValue): KubeObject {
  const stored = JSON.parse(kv.value) as KubeObject
  stored.metadata = { ...stored.metadata, resourceVersion: String(kv.modRevision) }
  return stored
}

/** The stored object in t's version; a type with batch conversion gets it as stored (see convertBatch). */
export function decode(t: ResourceType, kv: KeyValue): KubeObject {
  const stored = decodeStored(kv)
  return t.convert ? t.convert.fromStorage(stored) : stored
}

/** Objects of several kvs in t's version: with batch conversion, one conversion call for them all. */
export async function decodeAll(
  t: ResourceType,
  kvs: KeyValue[],
  store: Store,
): Promise<KubeObject[]> {
  if (!t.convertBatch) return kvs.map((kv) => decode(t, kv))
  return kvs.length ? t.convertBatch.fromStorage(kvs.map(decodeStored), store) : []
}

/**
 * The stored form: without resourceVersion (the store's mod revision is the object's), and with apiVersion,
 * kind and metadata first, as kube-apiserver's JSON serializer writes them — which is what lets a list splice
 * the resourceVersion into the text (jsonWithRevision) instead of parsing it.
 */
function encodeStored(stored: KubeObject): string {
  const { apiVersion, kind, metadata: { resourceVersion: _rv, ...metadata } = {}, ...rest } = stored
  return JSON.stringify({ apiVersion, kind, metadata, ...rest })
}

// What encodeStored() writes at the start of a value: the text up to the first key inside metadata.
const ENCODED_HEAD = /^\{"apiVersion":"((?:[^"\\]|\\.)*)","kind":"(?:[^"\\]|\\.)*","metadata":\{/

/**
 * decode() written back as JSON text. A value encodeStored() wrote, read without conversion (or with one that
 * leaves it unchanged), gets its resourceVersion spliced in as the first key of metadata, so a large list is not
 * parsed and serialized again object by object. A value that names a resourceVersion anywhere (an object written
 * by other code, or one with a resourceVersion field of its own) goes the long way, so the spliced key is never
 * a duplicate. asListItem drops apiVersion and kind for a built-in kind (see withoutTypeMeta) by starting the
 * text at metadata, which costs nothing more than the splice.
 */
function jsonWithRevision(t: ResourceType, kv: KeyValue): string {
  return jsonText(t, kv, false)
}

const utf8 = new TextEncoder()

/**
 * jsonWithRevision as a <Kind>List item (asListItem), in UTF-8. A store that keeps its pairs in memory
 * (Node mode's mirror of etcd, kube's watch cache) hands every LIST the same pair objects: each is
 * written out once per type, as kube's cachingObject serializes an object once for every LIST and
 * watch that sends it, and the list is the items' bytes put together.
 */
function listItemBytes(t: ResourceType, kv: KeyValue): Uint8Array {
  if (!heldPairs.has(kv)) return utf8.encode(jsonText(t, kv, true))
  const known = listItemCache.get(kv)
  if (known?.type === t) return known.bytes
  const bytes = utf8.encode(jsonText(t, kv, true))
  listItemCache.set(kv, { type: t, bytes })
  return bytes
}

const listItemCache = new WeakMap<KeyValue, { type: ResourceType; bytes: Uint8Array }>()

/** decode(), frozen and remembered per stored pair and type (listReadOnly). */
function sharedObject(t: ResourceType, kv: KeyValue): KubeObject {
  if (!heldPairs.has(kv)) return decode(t, kv) // read for this request only: nobody else sees it
  const known = sharedObjects.get(kv)
  if (known?.type === t) return known.object
  const object = deepFreeze(decode(t, kv))
  sharedObjects.set(kv, { type: t, object })
  return object
}

const sharedObjects = new WeakMap<KeyValue, { type: ResourceType; object: KubeObject }>()

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}

function jsonText(t: ResourceType, kv: KeyValue, asListItem: boolean): string {
  const head = ENCODED_HEAD.exec(kv.value)
  const asStored = head && (!t.convert || t.convert.unchanged?.(head[1]))
  const dropTypeMeta = asListItem && !t.custom
  if (!asStored || kv.value.includes('"resourceVersion":')) {
    const obj = decode(t, kv)
    return JSON.stringify(dropTypeMeta ? withoutTypeMeta(obj) : obj)
  }
  const at = head[0].length
  const start = dropTypeMeta ? '{"metadata":{' : kv.value.slice(0, at)
  const rest = kv.value.slice(at)
  return `${start}"resourceVersion":"${kv.modRevision}"${rest[0] === '}' ? '' : ','}${rest}`
}

/**
 * An object as an item of its kind's list. kube-apiserver's lists of built-in kinds carry no apiVersion
 * and kind on their items: the items are converted from internal objects, whose TypeMeta conversion
 * clears, and the encoder sets TypeMeta only on the list (kubernetes/kubernetes#3030; clients such as
 * kubectl fill them in while decoding). Custom resources are unstructured and keep both on every item.
 * Watch events, Table rows with includeObject=Object and PartialObjectMetadataList items keep theirs.
 */
export function asListItem(t: ResourceType, obj: KubeObject): KubeObject {
  return t.custom ? obj : withoutTypeMeta(obj)
}

function withoutTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj
  return rest as KubeObject
}

function encode(t: ResourceType, obj: KubeObject): string {
  return encodeStored(t.convert ? t.convert.toStorage(obj) : obj)
}

const EXPIRED_CONTINUE_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.'

export function parseResourceVersion(
  rv: string | undefined,
  what = 'resourceVersion',
): number | undefined {
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

export interface RegistryStoreOptions {
  /**
   * The admission chain: mutating plugins run after defaulting and before the strategy prepares and validates;
   * validating plugins run after validation, right before the Store write (create, update and delete).
   * Without it nothing is admitted or refused beyond the strategy (bootstrap, controllers, unit tests).
   */
  admission?: Admission
}

/** Hooks a plugin registered for after the write (quota replenishment) or for when it does not happen. */
interface PendingHooks {
  commit: (() => Promise<void>)[]
  abort: (() => Promise<void>)[]
}

export class RegistryStore {
  private readonly admission?: Admission
  private reader?: ObjectReader

  constructor(
    readonly type: ResourceType,
    private readonly store: Store,
    options: RegistryStoreOptions = {},
  ) {
    this.admission = options.admission
  }

  /** A store for another kind that admits writes as this one does. */
  forType(t: ResourceType): RegistryStore {
    return new RegistryStore(t, this.store, { admission: this.admission })
  }

  /** admission.Attributes for one attempt at a write. */
  private attributes(
    op: Operation,
    namespace: string | undefined,
    name: string,
    obj: KubeObject | undefined,
    old: KubeObject | undefined,
    ctx: RequestContext,
    subresource: string,
    hooks: PendingHooks,
  ): Attributes {
    this.reader ??= new ObjectReader(this.store)
    const optionsKind =
      op === 'CREATE' ? 'CreateOptions' : op === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions'
    return {
      operation: op,
      type: this.type,
      subresource,
      namespace: this.type.namespaced ? (namespace ?? '') : '',
      name,
      object: obj,
      oldObject: old,
      options: {
        kind: optionsKind,
        apiVersion: 'meta.k8s.io/v1',
        ...(ctx.dryRun ? { dryRun: ['All'] } : {}),
      },
      dryRun: ctx.dryRun,
      user: ctx.user,
      store: this.store,
      reader: this.reader,
      metrics: ctx.metrics,
      warnings: ctx.warnings,
      annotations: (ctx.auditAnnotations ??= {}),
      onCommit: (fn) => {
        hooks.commit.push(fn)
      },
      onAbort: (fn) => {
        hooks.abort.push(fn)
      },
    }
  }

  private static async runHooks(fns: (() => Promise<void>)[]): Promise<void> {
    for (const fn of fns.splice(0)) {
      try {
        await fn()
      } catch (e) {
        console.error('admission hook failed', e)
      }
    }
  }

  /**
   * The admission a create-only subresource's REST storage gets (pods/eviction, pods/binding): mutating
   * admission as the create handler runs it, then the createValidation the storage calls with its object.
   * The object is the subresource's own kind; the resource is this one, as kube's attributes have them.
   */
  async admitSubresourceCreate(
    namespace: string | undefined,
    name: string,
    obj: KubeObject,
    kind: { group: string; version: string; kind: string },
    ctx: RequestContext,
    subresource: string,
  ): Promise<void> {
    if (!this.admission) return
    const hooks: PendingHooks = { commit: [], abort: [] }
    const attrs = {
      ...this.attributes('CREATE', namespace, name, obj, undefined, ctx, subresource, hooks),
      kind,
    }
    try {
      await this.admission.admit(attrs)
      await this.admission.validate({ ...attrs, object: structuredClone(attrs.object) })
    } catch (e) {
      await RegistryStore.runHooks(hooks.abort)
      throw e
    }
    await RegistryStore.runHooks(hooks.commit)
  }

  /** decode, and for a type with batch conversion (a conversion webhook) the call that converts. */
  private async fromStorage(kv: KeyValue): Promise<KubeObject> {
    return this.type.convertBatch
      ? (await decodeAll(this.type, [kv], this.store))[0]
      : decode(this.type, kv)
  }

  private async toStorage(obj: KubeObject): Promise<string> {
    return this.type.convertBatch
      ? encodeStored((await this.type.convertBatch.toStorage([obj], this.store))[0])
      : encode(this.type, obj)
  }

  private get gr(): GroupResource {
    return groupResource(this.type)
  }
  private get gk(): GroupKind {
    return groupKind(this.type)
  }

  key(namespace: string | undefined, name: string): string {
    return storageKey(this.type, namespace, name)
  }

  async get(namespace: string | undefined, name: string): Promise<KubeObject> {
    const kv = await this.read(this.key(namespace, name), (e) =>
      interpretGetError(e, this.gr, name),
    )
    if (!kv) throw notFound(this.gr, name)
    return this.fromStorage(kv)
  }

  /** The object as JSON text, for a caller that only writes it out: not parsed and serialized again. */
  async getJSON(namespace: string | undefined, name: string): Promise<string> {
    const kv = await this.read(this.key(namespace, name), (e) =>
      interpretGetError(e, this.gr, name),
    )
    if (!kv) throw notFound(this.gr, name)
    return this.type.convertBatch
      ? JSON.stringify(await this.fromStorage(kv))
      : jsonWithRevision(this.type, kv)
  }

  /** The pair at key, with the store's errors interpreted for the verb reading it. */
  private async read(
    key: string,
    interpret: (e: unknown) => unknown,
  ): Promise<KeyValue | undefined> {
    try {
      return (await this.store.get(key)).kv
    } catch (e) {
      throw interpret(e)
    }
  }

  list(namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    return this.listItems(namespace, opts, (kvs) => decodeAll(this.type, kvs, this.store))
  }

  /**
   * list() for a reader that only writes the items out (a LIST as a Table, filtered, in YAML or
   * protobuf): from a store that holds its pairs (heldPairs), the objects are frozen and shared by
   * every such LIST of the same stored revision, as kube's watch cache hands its LISTs the objects it
   * holds instead of decoding them per request.
   */
  listReadOnly(namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    if (this.type.convertBatch) return this.list(namespace, opts)
    return this.listItems(namespace, opts, (kvs) => kvs.map((kv) => sharedObject(this.type, kv)))
  }

  /**
   * The list with each item as UTF-8 JSON as a <Kind>List carries it (asListItem), for a caller that
   * only writes the items out (see jsonWithRevision).
   */
  listJSON(
    namespace: string | undefined,
    opts: Omit<ListOptions, 'filter'> = {},
  ): Promise<ListResult<Uint8Array>> {
    return this.listItems(namespace, opts, async (kvs) =>
      this.type.convertBatch
        ? (await decodeAll(this.type, kvs, this.store)).map((o) =>
            utf8.encode(JSON.stringify(asListItem(this.type, o))),
          )
        : kvs.map((kv) => listItemBytes(this.type, kv)),
    )
  }

  /** decodePage: a page of the store's pairs as items (a converting webhook gets the page in one ConversionReview). */
  private async listItems<Item>(
    namespace: string | undefined,
    opts: Omit<ListOptions, 'filter'> & { filter?: (item: Item) => boolean },
    decodePage: (kvs: KeyValue[]) => Item[] | Promise<Item[]>,
  ): Promise<ListResult<Item>> {
    const prefix = storageKey(this.type, namespace)
    const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined
    let revision: number | undefined
    let after: string | undefined
    if (opts.continue) {
      const token = decodeContinue(opts.continue)
      // A negative rv (an expired list's inconsistent continuation) reads at the latest revision.
      revision = token.rv < 0 ? undefined : token.rv
      after = prefix + token.start
    } else {
      const rv = parseResourceVersion(opts.resourceVersion)
      if (opts.resourceVersionMatch === 'Exact') revision = rv
      else if (rv && rv > 0) await this.waitForRevision(rv)
    }

    const items: Item[] = []
    let lastKey: string | undefined
    let more = false
    let readRevision = revision ?? 0
    let remaining: number | undefined
    // With a filter, keep reading pages until limit objects match (etcd3 store's list does the same).
    for (;;) {
      const pageLimit = limit
        ? Math.max(limit - items.length, opts.filter ? Math.min(limit * 2, 1000) : 0)
        : undefined
      let page
      try {
        page = await this.store.list(prefix, {
          revision: readRevision || undefined,
          limit: pageLimit,
          after,
        })
      } catch (e) {
        if (isStoreError(e, 'Compacted') && opts.continue) {
          // etcd3 store's list: an expired continue token gets one that resumes inconsistently.
          const resumeFrom = (after ?? prefix).slice(prefix.length)
          throw new StatusError(410, 'Expired', EXPIRED_CONTINUE_MESSAGE, undefined, {
            continue: encodeContinue(-1, resumeFrom),
          })
        }
        throw interpretListError(e, this.gr, readRevision)
      }
      readRevision = page.revision
      const decoded = await decodePage(page.kvs)
      for (let i = 0; i < page.kvs.length; i++) {
        const kv = page.kvs[i]
        const item = decoded[i]
        lastKey = kv.key
        if (!opts.filter || opts.filter(item)) items.push(item)
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
    const result: ListResult<Item> = { items, resourceVersion: String(readRevision) }
    if (more && lastKey) {
      result.continue = encodeContinue(readRevision, lastKey.slice(prefix.length))
      if (remaining !== undefined && !opts.filter) result.remainingItemCount = remaining
    }
    return result
  }

  /** resourceVersion on a list or get means "not older than": a revision the store has not reached yet waits briefly, as the watch cache does. */
  private async waitForRevision(rv: number): Promise<void> {
    for (let i = 0; i < 30; i++) {
      let current
      try {
        current = await this.store.currentRevision()
      } catch (e) {
        throw interpretListError(e, this.gr, rv)
      }
      if (current >= rv) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw tooLargeResourceVersion(rv)
  }

  async create(
    namespace: string | undefined,
    obj: KubeObject,
    ctx: RequestContext,
  ): Promise<KubeObject> {
    this.checkTypeMeta(obj)
    const meta = (obj.metadata ??= {})
    this.checkNamespace(meta, namespace)
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix()
    const nameErrs = validateObjectMeta(meta, {
      namespaced: this.type.namespaced,
      validateName: this.type.strategy.validateName,
    })
    if (nameErrs.length) throw invalid(this.gk, meta.name ?? meta.generateName ?? '', nameErrs)

    const s = this.type.strategy
    s.defaults?.(obj)
    // Mutating admission sees the decoded, defaulted object, before the strategy prepares it (kube's create
    // handler admits before rest.BeforeCreate).
    const hooks: PendingHooks = { commit: [], abort: [] }
    const attrs = this.attributes('CREATE', namespace, meta.name!, obj, undefined, ctx, '', hooks)
    try {
      if (this.admission) {
        await this.admission.admit(attrs)
        this.checkTypeMeta(obj)
        this.checkNamespace((obj.metadata ??= {}), namespace)
        if (obj.metadata.name !== meta.name)
          throw badRequest('metadata.name: Invalid value: the name may not be changed by admission')
      }
      const m = obj.metadata!
      // rest.BeforeCreate: the server owns these fields.
      delete m.resourceVersion
      delete m.deletionTimestamp
      delete m.deletionGracePeriodSeconds
      m.uid = crypto.randomUUID()
      m.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
      if (this.tracksGeneration()) m.generation = 1
      else delete m.generation
      s.prepareForCreate?.(obj, ctx)
      this.validate(obj, s.validate?.(obj, ctx) ?? [])
      await this.admission?.validate(attrs)
      await s.beforeWrite?.(obj, undefined, this.store, ctx)

      const key = this.key(namespace, m.name!)
      if (ctx.dryRun) {
        if (await this.read(key, (e) => interpretCreateError(e, this.gr, m.name!)))
          throw alreadyExists(this.gr, m.name!)
        return obj
      }
      await s.beforeCreate?.(obj, this.store, ctx)
      let created: KubeObject
      try {
        created = await this.fromStorage(
          await this.store.create(key, await this.toStorage(obj), writeOptions(ctx)),
        )
      } catch (e) {
        await s.afterDelete?.(obj, this.store)
        throw interpretCreateError(e, this.gr, m.name!)
      }
      await RegistryStore.runHooks(hooks.commit)
      return created
    } catch (e) {
      await RegistryStore.runHooks(hooks.abort)
      throw e
    }
  }

  /**
   * PUT of the main resource or its status. `mutate` receives the current object (or undefined) and
   * returns the desired one: a plain PUT returns the body, a patch applies itself to the current object.
   * As GuaranteedUpdate, a write that loses to a concurrent one reads the object again and calls `mutate`
   * again, until it wins or the write's deadline passes; only the object's own resourceVersion, or
   * `preconditions.uid` (a PUT's metadata.uid), makes it fail with a Conflict.
   */
  async update(
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject | undefined) => KubeObject | Promise<KubeObject>,
    ctx: RequestContext,
    subresource: Subresource = '',
    opts: { forceAllowCreate?: boolean; preconditions?: { uid?: string } } = {},
  ): Promise<{ object: KubeObject; created: boolean }> {
    const key = this.key(namespace, name)
    const s = this.type.strategy
    const deadline = Date.now() + WRITE_TIMEOUT_MS
    const interpret = (e: unknown) => interpretUpdateError(e, this.gr, name)
    // GuaranteedUpdate starts from the object the watch cache holds (cachedExistingObject) where there
    // is one, which may be behind etcd: whatever fails on it, or finds nothing to change, reads etcd
    // before it counts (origStateIsCurrent). A dry run reads the store, as kube's dry-run storage does.
    let fromCache = false
    let kv = ctx.dryRun ? undefined : await this.store.cached?.(key)
    if (kv) fromCache = true
    else kv = await this.read(key, interpret)
    for (;;) {
      if (!kv) {
        if (!(s.allowCreateOnUpdate || opts.forceAllowCreate) || subresource)
          throw notFound(this.gr, name)
        const obj = await mutate(undefined)
        this.checkTypeMeta(obj)
        const meta = (obj.metadata ??= {})
        if (meta.name !== name)
          throw badRequest(
            'the name of the object (' +
              (meta.name ?? '') +
              ') does not match the name on the URL (' +
              name +
              ')',
          )
        if (meta.resourceVersion) throw notFound(this.gr, name)
        try {
          return { object: await this.create(namespace, obj, ctx), created: true }
        } catch (e) {
          // Created by a concurrent write meanwhile: GuaranteedUpdate reads it and updates it instead.
          if (!isStatusErrorReason(e, 'AlreadyExists') || Date.now() > deadline) throw e
          kv = await this.read(key, (err) => interpretUpdateError(err, this.gr, name))
          if (!kv) throw e
          continue
        }
      }
      let old: KubeObject
      let obj: KubeObject
      let hooks: PendingHooks
      try {
        const current = kv
        old = await this.fromStorage(current)
        const uid = opts.preconditions?.uid
        if (uid && uid !== old.metadata?.uid) {
          // storage.Preconditions.Check in GuaranteedUpdate, before the object is handed to the update.
          throw preconditionFailed(
            this.gr,
            name,
            key,
            `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata?.uid ?? ''}`,
          )
        }
        obj = await mutate(structuredClone(old))
        this.checkTypeMeta(obj)
        const meta = (obj.metadata ??= {})
        if (meta.name !== undefined && meta.name !== name) {
          throw badRequest(
            `the name of the object (${meta.name}) does not match the name on the URL (${name})`,
          )
        }
        this.checkNamespace(meta, namespace)
        meta.name = name
        if (this.type.namespaced) meta.namespace = namespace
        this.checkResourceVersion(meta, current, name)
        hooks = { commit: [], abort: [] }
        const attrs = this.attributes('UPDATE', namespace, name, obj, old, ctx, subresource, hooks)
        try {
          await this.prepareUpdate(obj, old, ctx, subresource, attrs)
          const own = this.type.subresources?.updates?.[subresource]
          if (own) await own.beforeWrite?.(obj, old, this.store, ctx)
          else await s.beforeWrite?.(obj, old, this.store, ctx, subresource)
        } catch (e) {
          await RegistryStore.runHooks(hooks.abort)
          throw e
        }
      } catch (e) {
        if (!fromCache) throw e
        // store.go: the cached object may be stale; the same revision in etcd means the error stands.
        const cachedRevision = kv.modRevision
        kv = await this.read(key, interpret)
        fromCache = false
        if (kv && kv.modRevision === cachedRevision) throw e
        continue
      }
      if (ctx.dryRun) {
        await RegistryStore.runHooks(hooks.abort)
        return {
          object: {
            ...obj,
            metadata: { ...obj.metadata, resourceVersion: String(kv.modRevision) },
          },
          created: false,
        }
      }

      // An update that leaves a deleting object without finalizers completes its deletion (store.go's
      // shouldDeleteDuringUpdate).
      const finishDeletion =
        !!obj.metadata!.deletionTimestamp &&
        !obj.metadata!.finalizers?.length &&
        (s.deleteDuringUpdate?.(obj) ?? true)
      try {
        let result: { object: KubeObject; created: boolean }
        if (finishDeletion) {
          const deleted = await this.store.delete(key, kv.modRevision, writeOptions(ctx))
          await s.afterDelete?.(old, this.store)
          result = {
            object: {
              ...obj,
              metadata: { ...obj.metadata, resourceVersion: String(deleted.modRevision) },
            },
            created: false,
          }
        } else if (!kv.stale && deepEqual(specAndMeta(obj), specAndMeta(old))) {
          await RegistryStore.runHooks(hooks.abort)
          if (fromCache) {
            // Nothing to change in the cached object: only so if etcd has the same revision.
            const cachedRevision = kv.modRevision
            kv = await this.read(key, interpret)
            fromCache = false
            if (!kv || kv.modRevision !== cachedRevision) continue
          }
          return { object: old, created: false }
        } else {
          result = {
            object: await this.fromStorage(
              await this.store.update(
                key,
                await this.toStorage(obj),
                kv.modRevision,
                writeOptions(ctx),
              ),
            ),
            created: false,
          }
        }
        await RegistryStore.runHooks(hooks.commit)
        return result
      } catch (e) {
        await RegistryStore.runHooks(hooks.abort)
        // Another write came first: start again from what it left (GuaranteedUpdate's retry).
        if (isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) {
          if (Date.now() > deadline) throw writeTimeout()
          kv = e.current ?? (await this.read(key, interpret))
          fromCache = false
          continue
        }
        throw interpretUpdateError(e, this.gr, name)
      }
    }
  }

  /**
   * The generic store's check of the object's resourceVersion against the stored one: none (or 0) is an
   * unconditional update where the strategy allows one (AllowUnconditionalUpdate) and is then set to the
   * stored one; any other must be the stored one.
   */
  private checkResourceVersion(
    meta: NonNullable<KubeObject['metadata']>,
    kv: KeyValue,
    name: string,
  ): void {
    const rv = meta.resourceVersion
    if (rv === undefined || rv === '' || /^0+$/.test(rv)) {
      if (this.type.strategy.allowUnconditionalUpdate === false) {
        // kube names the resource where the kind goes (its TODO in store.go), and %#v prints the uint64 0 as 0x0.
        const gk = { group: this.gr.group, kind: this.gr.resource }
        throw invalid(gk, name, [
          fieldInvalid('metadata.resourceVersion', 0n, 'must be specified for an update'),
        ])
      }
      meta.resourceVersion = String(kv.modRevision)
      return
    }
    if (rv !== String(kv.modRevision)) {
      parseResourceVersion(rv)
      throw conflict(this.gr, name, OPTIMISTIC_LOCK_MESSAGE)
    }
  }

  private async prepareUpdate(
    obj: KubeObject,
    old: KubeObject,
    ctx: RequestContext,
    subresource: Subresource,
    attrs: Attributes,
  ): Promise<void> {
    const s = this.type.strategy
    const oldMeta = old.metadata!
    if (this.admission) {
      // Mutating admission sees the client's object, defaulted, before the strategy prepares it (kube runs it
      // as the first transformer of the update, ahead of rest.BeforeUpdate).
      if (subresource !== 'status') s.defaults?.(obj)
      await this.admission.admit(attrs)
      this.checkTypeMeta(obj)
      this.checkNamespace((obj.metadata ??= {}), attrs.namespace || undefined)
      if (obj.metadata.name !== undefined && obj.metadata.name !== oldMeta.name)
        throw badRequest('metadata.name: Invalid value: the name may not be changed by admission')
      obj.metadata.name = oldMeta.name
    }
    const meta = obj.metadata!
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
      // The field manager's record of this write stays (metav1's ResetObjectMetaForStatus keeps managedFields).
      const managedFields = obj.metadata?.managedFields
      const sent = { ...obj }
      for (const k of Object.keys(obj)) delete obj[k]
      Object.assign(obj, structuredClone(old))
      if (status === undefined) delete obj.status
      else obj.status = status
      if (managedFields !== undefined) obj.metadata = { ...obj.metadata, managedFields }
      s.prepareForStatusUpdate?.(obj, old, sent)
    } else if (subresource === 'finalize') {
      s.prepareForFinalizeUpdate?.(obj, old)
    } else if (subresource) {
      const own = this.type.subresources?.updates?.[subresource]
      if (!own) throw notFound(this.gr, meta.name ?? '')
      own.prepareForUpdate(obj, old, ctx)
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
      ...validateObjectMeta(meta, {
        namespaced: this.type.namespaced,
        validateName: s.validateName,
      }),
      ...validateObjectMetaUpdate(meta, oldMeta),
      ...(this.validateUpdateFor(subresource)?.(obj, old, ctx) ?? s.validate?.(obj, ctx) ?? []),
    ]
    if (errs.length) throw invalid(this.gk, meta.name ?? '', errs)
    await this.admission?.validate(attrs)
  }

  /**
   * As the generic store's Delete: the preconditions are checked on the object read first (rest.BeforeDelete,
   * in its words), then on every attempt at the write (storage.Preconditions.Check, in the storage's); a write
   * that loses to a concurrent one reads again and retries until it wins or the deadline passes.
   */
  async delete(
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions,
    ctx: RequestContext,
  ): Promise<{ object: KubeObject; deleted: boolean }> {
    const key = this.key(namespace, name)
    const deadline = Date.now() + WRITE_TIMEOUT_MS
    const interpret = (e: unknown) => interpretDeleteError(e, this.gr, name)
    let kv = await this.read(key, interpret)
    const pre = opts.preconditions
    for (let attempt = 0; ; attempt++) {
      if (!kv) throw notFound(this.gr, name)
      const obj = await this.fromStorage(kv)
      const meta = obj.metadata!
      if (attempt === 0) this.checkDeletePreconditions(meta, name, pre)
      else if (pre?.uid && pre.uid !== meta.uid) {
        throw preconditionFailed(
          this.gr,
          name,
          key,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid ?? ''}`,
        )
      } else if (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion) {
        throw preconditionFailed(
          this.gr,
          name,
          key,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${meta.resourceVersion}`,
        )
      }
      const hooks: PendingHooks = { commit: [], abort: [] }
      if (this.admission) {
        const attrs = this.attributes('DELETE', namespace, name, undefined, obj, ctx, '', hooks)
        attrs.options = {
          kind: 'DeleteOptions',
          apiVersion: 'meta.k8s.io/v1',
          ...(ctx.dryRun ? { dryRun: ['All'] } : {}),
          ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
          ...(opts.gracePeriodSeconds !== undefined
            ? { gracePeriodSeconds: opts.gracePeriodSeconds }
            : {}),
          ...(opts.preconditions ? { preconditions: opts.preconditions } : {}),
        }
        await this.admission.admit(attrs)
        await this.admission.validate(attrs)
      }
      try {
        const own = this.type.strategy.beforeDelete?.(obj, opts)
        if (own === 'keep') return { object: obj, deleted: false }
        if (own) {
          if (ctx.dryRun) return { object: own, deleted: false }
          return {
            object: await this.fromStorage(
              await this.store.update(
                key,
                await this.toStorage(own),
                kv.modRevision,
                writeOptions(ctx),
              ),
            ),
            deleted: false,
          }
        }
        const finalizers = [...(meta.finalizers ?? [])]
        if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion'))
          finalizers.push('foregroundDeletion')
        if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan'))
          finalizers.push('orphan')
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
            return {
              object: await this.fromStorage(
                await this.store.update(
                  key,
                  await this.toStorage(obj),
                  kv.modRevision,
                  writeOptions(ctx),
                ),
              ),
              deleted: false,
            }
          }
          return { object: obj, deleted: false }
        }
        if (ctx.dryRun) return { object: obj, deleted: true }
        const gone = await this.store.delete(key, kv.modRevision, writeOptions(ctx))
        await this.type.strategy.afterDelete?.(obj, this.store)
        await RegistryStore.runHooks(hooks.commit)
        return {
          object: { ...obj, metadata: { ...meta, resourceVersion: String(gone.modRevision) } },
          deleted: true,
        }
      } catch (e) {
        // Another write came first: read again and retry, as the etcd3 store's conditional delete does.
        if (isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) {
          if (Date.now() > deadline) throw writeTimeout()
          kv = e.current ?? (await this.read(key, interpret))
          continue
        }
        throw interpret(e)
      }
    }
  }

  private validateUpdateFor(subresource: Subresource): Strategy['validateUpdate'] {
    const s = this.type.strategy
    if (subresource === 'status' && s.validateStatusUpdate) return s.validateStatusUpdate
    return this.type.subresources?.updates?.[subresource]?.validateUpdate ?? s.validateUpdate
  }

  /**
   * storage.GuaranteedUpdate: a read-modify-write of the stored object that no strategy, admission or
   * validation sees, retried on a concurrent write; for the REST storages that change an object on a
   * client's behalf (pods/binding). `tryUpdate` throws to give up; its object is written as it returns it.
   */
  async guaranteedUpdate(
    namespace: string | undefined,
    name: string,
    tryUpdate: (current: KubeObject) => KubeObject,
    opts: { dryRun?: boolean } = {},
  ): Promise<KubeObject> {
    const key = this.key(namespace, name)
    for (;;) {
      const kv = await this.read(key, (e) => interpretUpdateError(e, this.gr, name))
      if (!kv) throw notFound(this.gr, name)
      const obj = tryUpdate(await this.fromStorage(kv))
      if (opts.dryRun) return obj
      try {
        return await this.fromStorage(
          await this.store.update(key, await this.toStorage(obj), kv.modRevision),
        )
      } catch (e) {
        // Another write came first: start again from what it left, as GuaranteedUpdate does.
        if (isStoreError(e, 'Conflict')) continue
        throw interpretUpdateError(e, this.gr, name)
      }
    }
  }

  /**
   * rest.BeforeDelete's early check of the delete preconditions, which names the kind where the resource
   * goes ("Operation cannot be fulfilled on ConfigMap ...").
   */
  private checkDeletePreconditions(
    meta: NonNullable<KubeObject['metadata']>,
    name: string,
    pre: DeleteOptions['preconditions'],
  ): void {
    const byKind = { group: this.type.group, resource: this.type.kind }
    if (pre?.uid && pre.uid !== meta.uid) {
      throw conflict(
        byKind,
        name,
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${meta.uid ?? ''}). The object might have been deleted and then recreated`,
      )
    }
    if (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion) {
      throw conflict(
        byKind,
        name,
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${meta.resourceVersion}). The object might have been modified`,
      )
    }
  }

  private tracksGeneration(): boolean {
    return this.type.strategy.trackGeneration ?? false
  }

  private validate(obj: KubeObject, errs: FieldError[]): void {
    if (errs.length) throw invalid(this.gk, obj.metadata?.name ?? '', errs)
  }

  private checkTypeMeta(obj: KubeObject): void {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw badRequest('the body of the request must be a JSON object')
    const expected =
      this.type.storageVersion && !this.type.convert && !this.type.convertBatch
        ? this.type.storageVersion
        : groupVersion(this.type)
    if (
      obj.apiVersion !== undefined &&
      obj.apiVersion !== groupVersion(this.type) &&
      obj.apiVersion !== expected
    ) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(this.type)})`,
      )
    }
    if (obj.kind !== undefined && obj.kind !== this.type.kind) {
      throw badRequest(
        `the kind in the data (${obj.kind}) does not match the expected kind (${this.type.kind})`,
      )
    }
    obj.apiVersion = groupVersion(this.type)
    obj.kind = this.type.kind
  }

  private checkNamespace(
    meta: KubeObject['metadata'] & object,
    namespace: string | undefined,
  ): void {
    if (!this.type.namespaced) {
      delete meta.namespace
      return
    }
    if (meta.namespace && meta.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      )
    }
    meta.namespace = namespace
  }
}

function specAndMeta(obj: KubeObject): unknown {
  const { resourceVersion: _rv, ...meta } = obj.metadata ?? {}
  return { ...obj, metadata: meta }
}

export { tooLargeResourceVersion }

/** What a store write carries of the request it serves: its deadline (RequestContext.deadline). */
function writeOptions(ctx: { deadline?: number }): WriteOptions | undefined {
  return ctx.deadline === undefined ? undefined : { deadline: ctx.deadline }
}

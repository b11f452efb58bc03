// Encryption at rest between the registry and a Store, where kube-apiserver has it in its etcd3 store
// (storage/etcd3/store.go hands every value read or written through the resource's transformer, with the
// etcd key as the authenticated data). Everything above sees plaintext: reads, lists, watches, the pair a
// conflict carries, and so every continue token, conversion and managedFields computed from them.
//
// A Store value is a string: an encrypted value travels as a byte string (one character per byte, U+0000 to
// U+00FF), which EtcdStore writes to etcd as those bytes (kube's exact layout, "k8s:enc:aescbc:v1:key1:" and
// the ciphertext) and the Durable Object keeps as text.
import {
  fromByteString,
  isByteString,
  isStoreError,
  PROTOBUF_VALUE_PREFIX,
  StoreError,
  toByteString,
  type BatchRead,
  type BatchReadResult,
  type KeyValue,
  type ListOptions,
  type Store,
  type StoreEvent,
  type WatchOptions,
  type WriteOptions,
} from '../store'
import {
  bytes,
  ENCRYPTED_PREFIX,
  hasPrefix,
  identityTransformer,
  type GroupResource,
  type ResourceTransformers,
  type Transformer,
} from './transformer'

export interface TransformingStoreOptions {
  /** The group resource a key belongs to (storageResources builds it from the registry). */
  resourceOf(key: string): GroupResource
  /** The authenticated data of a key: its etcd key (the --etcd-prefix in place of /registry); the key itself by default. */
  authenticatedData?(key: string): string
}

export class TransformingStore implements Store {
  constructor(
    readonly inner: Store,
    private readonly transformers: ResourceTransformers,
    private readonly opts: TransformingStoreOptions,
  ) {}

  async get(key: string): Promise<{ kv?: KeyValue; revision: number }> {
    const r = await this.inner.get(key)
    return r.kv ? { kv: await this.read(r.kv), revision: r.revision } : r
  }

  async list(
    prefix: string,
    opts?: ListOptions,
  ): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number }> {
    const r = await this.inner.list(prefix, opts)
    return { ...r, kvs: await Promise.all(r.kvs.map((kv) => this.read(kv))) }
  }

  get lastChange(): Store['lastChange'] {
    return this.inner.lastChange?.bind(this.inner)
  }

  async cached(key: string): Promise<KeyValue | undefined> {
    const kv = await this.inner.cached?.(key)
    try {
      return kv && (await this.read(kv))
    } catch {
      return undefined // read from the store, which answers with the error
    }
  }

  async readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }> {
    const r = await this.inner.readBatch(reads)
    const results = await Promise.all(
      r.results.map(async (x) => ({
        kvs: await Promise.all(x.kvs.map((kv) => this.read(kv))),
        more: x.more,
      })),
    )
    return { results, revision: r.revision }
  }

  async create(key: string, value: string, opts?: WriteOptions): Promise<KeyValue> {
    const stored = await this.write(key, value)
    const kv = await this.failures(key, () => this.inner.create(key, stored, opts))
    return { ...kv, value }
  }

  async update(
    key: string,
    value: string,
    expectModRevision: number,
    opts?: WriteOptions,
  ): Promise<KeyValue> {
    const stored = await this.write(key, value)
    const kv = await this.failures(key, () =>
      this.inner.update(key, stored, expectModRevision, opts),
    )
    return { ...kv, value }
  }

  async delete(key: string, expectModRevision?: number, opts?: WriteOptions): Promise<KeyValue> {
    return this.read(
      await this.failures(key, () => this.inner.delete(key, expectModRevision, opts)),
    )
  }

  watch(
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    opts?: WatchOptions,
  ): AsyncIterable<StoreEvent> {
    const events = this.inner.watch(prefix, afterRevision, signal, opts)
    return {
      [Symbol.asyncIterator]: async function* (this: TransformingStore) {
        for await (const e of events) yield await this.readEvent(e)
      }.bind(this),
    }
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision)
  }

  currentRevision(): Promise<number> {
    return this.inner.currentRevision()
  }

  /** A committed write's event with its values readable (the control loops inside the Durable Object take these). */
  async readEvent(e: StoreEvent): Promise<StoreEvent> {
    if (e.type === 'progress') return e
    const kv = await this.read(e.kv)
    if (e.type === 'delete') {
      const prevKv =
        e.prevKv.value === e.kv.value ? { ...e.prevKv, value: kv.value } : await this.read(e.prevKv)
      return { type: 'delete', kv, prevKv }
    }
    return e.prevKv ? { type: 'put', kv, prevKv: await this.read(e.prevKv) } : { type: 'put', kv }
  }

  /** Whether a stored value needs this store to be read (it is encrypted or its resource is configured). */
  needsTransform(kv: KeyValue): boolean {
    return kv.value.startsWith(ENCRYPTED_PREFIX) || this.transformerOf(kv.key) !== undefined
  }

  private transformerOf(key: string): Transformer | undefined {
    return this.transformers.forResource(this.opts.resourceOf(key))
  }

  private aad(key: string): Uint8Array {
    return bytes(this.opts.authenticatedData ? this.opts.authenticatedData(key) : key)
  }

  private async read(kv: KeyValue): Promise<KeyValue> {
    const encrypted = kv.value.startsWith(ENCRYPTED_PREFIX)
    const t = this.transformerOf(kv.key) ?? (encrypted ? identityTransformer : undefined)
    if (!t) return kv
    const data = isByteString(kv.value) ? fromByteString(kv.value) : bytes(kv.value)
    const out = await t.fromStorage(data, this.aad(kv.key))
    // The plaintext is the object's JSON or, as kube-apiserver stores built-in kinds, its protobuf envelope.
    const value = out.data === data && !encrypted ? kv.value : plaintextValue(out.data)
    return out.stale ? { ...kv, value, stale: true } : { ...kv, value }
  }

  private async write(key: string, value: string): Promise<string> {
    const t = this.transformerOf(key)
    if (!t) return value
    const data = isByteString(value) ? fromByteString(value) : bytes(value)
    const out = await t.toStorage(data, this.aad(key))
    return hasPrefix(out, ENCRYPTED_BYTES) ? toByteString(out) : plaintextValue(out)
  }

  /** A Conflict or KeyExists carries the current pair: readable, as everything this store hands out. */
  private async failures<T>(key: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (e) {
      if (isStoreError(e) && e.current)
        throw new StoreError(e.code, e.key, await this.read(e.current), e.revision)
      throw e
    }
  }
}

const ENCRYPTED_BYTES = bytes(ENCRYPTED_PREFIX)
const PROTOBUF_BYTES = fromByteString(PROTOBUF_VALUE_PREFIX)

/** A value in the clear as the Store carries it: protobuf as a byte string, JSON as text. */
function plaintextValue(data: Uint8Array): string {
  return hasPrefix(data, PROTOBUF_BYTES) ? toByteString(data) : new TextDecoder().decode(data)
}

export { fromByteString, toByteString }

interface StoredType {
  group: string
  resource: string
  storagePrefix: string
  convert?: unknown
  virtualCreate?: unknown
}

/**
 * The group resource of a key, from the served types' etcd layout (/registry/services/specs/..., /registry/minions/...):
 * what kube's storage factory knows per resource. A key of a type not known here is a custom resource's
 * (/registry/<group>/<resource>/...) or a core resource's (/registry/<resource>/...).
 */
export function storageResources(types: readonly StoredType[]): (key: string) => GroupResource {
  const byPrefix = new Map<string, GroupResource>()
  // A view of another type's storage (events.k8s.io Events over core Events) is stored, and encrypted, as that type.
  for (const t of types) {
    if (!t.convert && !t.virtualCreate && !byPrefix.has(t.storagePrefix))
      byPrefix.set(t.storagePrefix, { group: t.group, resource: t.resource })
  }
  return (key) => {
    const segs = key.slice('/registry/'.length).split('/')
    const known = byPrefix.get(`${segs[0]}/${segs[1]}`) ?? byPrefix.get(segs[0]!)
    if (known) return known
    return segs[0]!.includes('.')
      ? { group: segs[0]!, resource: segs[1] ?? '' }
      : { group: '', resource: segs[0]! }
  }
}

// kube-apiserver's storage codec on the read side: a value it stored in protobuf (the "k8s\0" envelope around a
// runtime.Unknown, its --storage-media-type default for built-in kinds) is read as the JSON of the same object,
// so that everything above the Store (gets, the list fast paths, watches, controllers, admission) sees what a
// value this server wrote looks like. Encryption at rest sits below: a value is decrypted first, then decoded.
// Values are written as JSON, or with --storage-media-type=application/vnd.kubernetes.protobuf built-in kinds
// in kube's envelope (custom resources and CustomResourceDefinitions stay JSON, as kube-apiserver's do).
import { decodeStoredProtobuf, encodeStoredProtobuf } from '../api/protobuf/envelope'
import {
  fromByteString,
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
} from './store'
import { errorText } from '../util/errors'

/** A value as JSON text: a protobuf one decoded (apiVersion, kind and metadata first, as our JSON is stored). */
export function storedJson(key: string, value: string): string {
  if (!value.startsWith(PROTOBUF_VALUE_PREFIX)) return value
  let obj: Record<string, unknown>
  try {
    obj = decodeStoredProtobuf(fromByteString(value))
  } catch (e) {
    // kube's etcd3 store fails the read of a value its codec cannot decode; ours answers 500 with why.
    throw new Error(`unable to decode the protobuf value at ${key}: ${errorText(e)}`)
  }
  const { apiVersion, kind, metadata, ...rest } = obj
  return JSON.stringify({ apiVersion, kind, metadata, ...rest })
}

/** kube-apiserver's --storage-media-type values this server writes. */
export const STORAGE_MEDIA_TYPE_JSON = 'application/json'
export const STORAGE_MEDIA_TYPE_PROTOBUF = 'application/vnd.kubernetes.protobuf'
export type StorageMediaType = typeof STORAGE_MEDIA_TYPE_JSON | typeof STORAGE_MEDIA_TYPE_PROTOBUF

/**
 * The value to store for an object's JSON: with protobuf, a built-in kind in kube's envelope. An object the
 * protobuf types would not hold exactly (a field they lack) stays JSON, which kube-apiserver reads as well,
 * rather than lose the field.
 */
export function encodeForStorage(value: string, mediaType: StorageMediaType): string {
  if (mediaType !== STORAGE_MEDIA_TYPE_PROTOBUF) return value
  let obj: Record<string, unknown>
  let bytes: Uint8Array | undefined
  try {
    obj = JSON.parse(value) as Record<string, unknown>
    bytes = encodeStoredProtobuf(obj)
    if (!bytes || !sameJson(decodeStoredProtobuf(bytes), obj)) return value
  } catch {
    return value
  }
  return toByteString(bytes)
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ak = Object.keys(a)
  const bk = Object.keys(b)
  if (ak.length !== bk.length) return false
  const bo = b as Record<string, unknown>
  return ak.every((k) => k in bo && sameJson((a as Record<string, unknown>)[k], bo[k]))
}

export class StorageCodecStore implements Store {
  constructor(
    readonly inner: Store,
    readonly mediaType: StorageMediaType = STORAGE_MEDIA_TYPE_JSON,
  ) {}

  async get(key: string): Promise<{ kv?: KeyValue; revision: number }> {
    const r = await this.inner.get(key)
    return r.kv ? { kv: decoded(r.kv), revision: r.revision } : r
  }

  async list(
    prefix: string,
    opts?: ListOptions,
  ): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number }> {
    const r = await this.inner.list(prefix, opts)
    return { ...r, kvs: r.kvs.map(decoded) }
  }

  async cached(key: string): Promise<KeyValue | undefined> {
    const kv = await this.inner.cached?.(key)
    return kv && decoded(kv)
  }

  get lastChange(): Store['lastChange'] {
    return this.inner.lastChange?.bind(this.inner)
  }

  async readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }> {
    const r = await this.inner.readBatch(reads)
    return {
      results: r.results.map((x) => ({ kvs: x.kvs.map(decoded), more: x.more })),
      revision: r.revision,
    }
  }

  async create(key: string, value: string, opts?: WriteOptions): Promise<KeyValue> {
    const stored = encodeForStorage(value, this.mediaType)
    return { ...(await failures(() => this.inner.create(key, stored, opts))), value }
  }

  async update(
    key: string,
    value: string,
    expectModRevision: number,
    opts?: WriteOptions,
  ): Promise<KeyValue> {
    const stored = encodeForStorage(value, this.mediaType)
    return {
      ...(await failures(() => this.inner.update(key, stored, expectModRevision, opts))),
      value,
    }
  }

  async delete(key: string, expectModRevision?: number, opts?: WriteOptions): Promise<KeyValue> {
    return decoded(await failures(() => this.inner.delete(key, expectModRevision, opts)))
  }

  watch(
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    opts?: WatchOptions,
  ): AsyncIterable<StoreEvent> {
    const events = this.inner.watch(prefix, afterRevision, signal, opts)
    return {
      [Symbol.asyncIterator]: async function* () {
        for await (const e of events) yield decodedEvent(e)
      },
    }
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision)
  }

  currentRevision(): Promise<number> {
    return this.inner.currentRevision()
  }
}

function decoded(kv: KeyValue): KeyValue {
  return kv.value.startsWith(PROTOBUF_VALUE_PREFIX)
    ? { ...kv, value: storedJson(kv.key, kv.value) }
    : kv
}

function decodedEvent(e: StoreEvent): StoreEvent {
  if (e.type === 'progress') return e
  const kv = decoded(e.kv)
  if (e.type === 'delete') {
    const prevKv =
      e.prevKv.value === e.kv.value ? { ...e.prevKv, value: kv.value } : decoded(e.prevKv)
    return { type: 'delete', kv, prevKv }
  }
  return e.prevKv ? { type: 'put', kv, prevKv: decoded(e.prevKv) } : { type: 'put', kv }
}

/** A Conflict or KeyExists carries the current pair, which is read as every other pair. */
async function failures<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (e) {
    if (isStoreError(e) && e.current)
      throw new StoreError(e.code, e.key, decoded(e.current), e.revision)
    throw e
  }
}

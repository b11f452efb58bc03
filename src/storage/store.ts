// The only way to reach data. Keys are kube-apiserver's etcd keys (/registry/configmaps/<ns>/<name>);
// values are object JSON without metadata.resourceVersion, which readers derive from modRevision.

export interface KeyValue {
  key: string
  value: string
  createRevision: number
  modRevision: number
  version: number
  /**
   * Read through a transformer other than the one that writes (encryption at rest after a key rotation, or a
   * value still in the clear): an update writes it even when nothing changed, as kube's GuaranteedUpdate does
   * for a stale value, so that `kubectl replace` re-encrypts with the current key.
   */
  stale?: boolean
}

/**
 * Pairs a store keeps and hands to every later read as the same objects (Node mode's mirror of etcd, as
 * kube's watch cache holds its objects): what a reader derives from one (its decoded object, its JSON)
 * may be remembered with it. Such a pair is never changed.
 */
export const heldPairs = new WeakSet<KeyValue>()

/**
 * How long a consistent read waits for a copy in memory to have what the store has before it asks the
 * store itself (kube's cacher waits 3 s): Node mode's etcd mirror, the edge's watch cache.
 */
export const CACHE_READ_WAIT_MS = 3_000

export type StoreEvent =
  | { type: 'put'; kv: KeyValue; prevKv?: KeyValue }
  | { type: 'delete'; kv: KeyValue; prevKv: KeyValue } // kv.modRevision is the deletion revision, kv.value the last value
  | { type: 'progress'; revision: number } // every event up to `revision` under the prefix has been delivered

export interface ListOptions {
  /** Read as of this revision (0 or undefined: the current one). */
  revision?: number
  limit?: number
  /** Return keys strictly greater than this one. */
  after?: string
}

/** One read of a batch: a key, or the first `limit` keys under a prefix (every key when limit is unset). */
export type BatchRead = { key: string } | { prefix: string; limit?: number }
/** A batch read's answer: the key's pair (or none), or the keys under the prefix with whether more follow. */
export interface BatchReadResult {
  kvs: KeyValue[]
  more: boolean
}

export interface WatchOptions {
  /** Ask for a progress event this often when nothing else arrives (kube-apiserver bookmarks come from these). */
  progressIntervalMs?: number
}

/** What a write carries of the request it serves, as Go's context carries it into clientv3. */
export interface WriteOptions {
  /**
   * When the request is answered at the latest (epoch ms): a write the store could not send by then is
   * never sent, so that one answered 504 does not happen later (the store waiting for its backend).
   */
  deadline?: number
}

/**
 * Each method says which StoreErrors it throws, as k8s.io/apiserver's storage.Interface does; callers turn
 * them into API errors per verb in one place (src/registry/store-errors.ts, kube's storeerr). Any method
 * may also throw StoreError 'Unreachable' when the backend cannot be reached (etcd down, its client's
 * deadline passed). Anything else an implementation throws is a fault it cannot name, which the API
 * answers as kube-apiserver answers an unclassified storage error: 500.
 */
export interface Store {
  /** A missing key is no error: `kv` is undefined. Throws: Unreachable. */
  get(key: string): Promise<{ kv?: KeyValue; revision: number }>
  /**
   * `count` is how many keys the read range holds (keys under prefix after `after`), as etcd's range count:
   * remainingItemCount = count - kvs.length. `fromCache`: answered from a copy kept in memory (kube's
   * cacher answering from its watch cache; apiserver_cache_list_total counts these).
   * Throws: Compacted (opts.revision is older than the compaction, `revision` is the compacted one when
   * known), FutureRevision (opts.revision is newer than the store's), Unreachable.
   */
  list(
    prefix: string,
    opts?: ListOptions,
  ): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number; fromCache?: true }>
  /**
   * Several reads in one round trip, all at the current revision (etcd: one Txn of ranges). What a request
   * needs to read before it writes costs one trip to the store instead of one per object.
   * Throws: Unreachable.
   */
  readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }>
  /** Throws: KeyExists (with the `current` pair), TooLarge (value over MAX_VALUE_BYTES), Unreachable. */
  create(key: string, value: string, opts?: WriteOptions): Promise<KeyValue>
  /**
   * Writes only over the pair at expectModRevision.
   * Throws: Conflict (another revision is current: `current` is that pair), NotFound, TooLarge, Unreachable.
   */
  update(
    key: string,
    value: string,
    expectModRevision: number,
    opts?: WriteOptions,
  ): Promise<KeyValue>
  /**
   * Returns the deleted pair at the deletion revision; with expectModRevision, only if that is current.
   * Throws: Conflict (with the `current` pair), NotFound, Unreachable.
   */
  delete(key: string, expectModRevision?: number, opts?: WriteOptions): Promise<KeyValue>
  /**
   * Events with revision > afterRevision under prefix, in revision order, until signal aborts.
   * Throws, on starting or while iterating: Compacted (the history after afterRevision is gone),
   * FutureRevision (afterRevision is newer than the store's), Unreachable.
   */
  watch(
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    opts?: WatchOptions,
  ): AsyncIterable<StoreEvent>
  /**
   * The pair as a copy the store keeps in memory has it, once that copy holds every write the store
   * has answered (kube's cacher hands GuaranteedUpdate its cached object): possibly older than the
   * store's, so a caller that fails on it reads the store again. Undefined: no copy of the key here
   * (read the store). Optional: stores without such a copy leave it out. Throws nothing.
   */
  cached?(key: string): Promise<KeyValue | undefined>
  /**
   * The current revision, and the newest revision in (after, current] at which a key under prefix was
   * written or deleted (0: none): what a copy holding every change up to `after` still lacks (kube's
   * consistent read from its cache, which confirms the current revision first). `last` undefined: too
   * many writes since `after` to look through; read the store instead. Optional: a store without it has
   * its reads served by itself. Throws: Compacted (the history after `after` may be gone), Unreachable.
   */
  lastChange?(prefix: string, after: number): Promise<{ revision: number; last?: number }>
  /** At or below an earlier compaction it does nothing. Throws: FutureRevision, Unreachable. */
  compact(revision: number): Promise<void>
  /** Throws: Unreachable. */
  currentRevision(): Promise<number>
}

/**
 * k8s.io/apiserver's storage error codes, as far as a Store can raise them: KeyExists, NotFound, Conflict
 * (ErrCodeResourceVersionConflicts) and Unreachable (ErrCodeUnreachable: the backend cannot be reached
 * or did not answer in time); Compacted and FutureRevision are etcd's mvcc errors, TooLarge its
 * request size limit.
 */
export type StoreErrorCode =
  | 'KeyExists'
  | 'NotFound'
  | 'Conflict'
  | 'Compacted'
  | 'FutureRevision'
  | 'TooLarge'
  | 'Unreachable'

/** What the store of a cluster deleted through the management API answers every call with (src/tenancy). */
export const CLUSTER_DELETED = 'this cluster has been deleted'

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    readonly key: string,
    /** The current pair for Conflict; the compacted revision for Compacted is in `revision`. */
    readonly current?: KeyValue,
    readonly revision?: number,
    /** What the backend said (Unreachable: the client's own error, for logs). */
    readonly detail?: string,
  ) {
    super(detail ? `${code}: ${key}: ${detail}` : `${code}: ${key}`)
    this.name = 'StoreError'
  }
}

export function isStoreError(e: unknown, code?: StoreErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code)
}

/** The exclusive upper bound of a prefix range: every key starting with prefix is >= prefix and < prefixEnd(prefix). */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}

/** etcd's default --max-request-bytes: the largest value either store takes (StoreError 'TooLarge' beyond it). */
export const MAX_VALUE_BYTES = 1.5 * 1024 * 1024

/**
 * A value encrypted at rest (src/storage/value: "k8s:enc:" and ciphertext) or in kube's protobuf storage
 * envelope ("k8s\0" and a runtime.Unknown, as kube-apiserver stores built-in kinds) is bytes, carried in a
 * Store value as a byte string, one character (U+0000 to U+00FF) per byte; each store keeps it as those
 * bytes. Other values are text.
 */
export function isByteString(s: string): boolean {
  return s.startsWith('k8s:enc:') || s.startsWith(PROTOBUF_VALUE_PREFIX)
}

/** The start of a value in kube's protobuf storage envelope (runtime/serializer/protobuf). */
export const PROTOBUF_VALUE_PREFIX = 'k8s\0'

export function toByteString(data: Uint8Array): string {
  let s = ''
  for (let i = 0; i < data.length; i += 0x8000)
    s += String.fromCharCode(...data.subarray(i, i + 0x8000))
  return s
}

export function fromByteString(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

/** Whether a value is over MAX_VALUE_BYTES as stored: UTF-8, or a byte string's bytes. */
export function exceedsValueLimit(s: string): boolean {
  if (isByteString(s)) return s.length > MAX_VALUE_BYTES
  if (s.length > MAX_VALUE_BYTES) return true // at least one byte per UTF-16 unit
  if (s.length * 3 <= MAX_VALUE_BYTES) return false // at most three
  return new TextEncoder().encode(s).length > MAX_VALUE_BYTES
}

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
export interface BatchReadResult { kvs: KeyValue[]; more: boolean }

export interface WatchOptions {
  /** Ask for a progress event this often when nothing else arrives (kube-apiserver bookmarks come from these). */
  progressIntervalMs?: number
}

export interface Store {
  get(key: string): Promise<{ kv?: KeyValue; revision: number }>
  /** `count` is how many keys the read range holds (keys under prefix after `after`), as etcd's range count: remainingItemCount = count - kvs.length. */
  list(prefix: string, opts?: ListOptions): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number }>
  /**
   * Several reads in one round trip, all at the current revision (etcd: one Txn of ranges). What a request
   * needs to read before it writes costs one trip to the store instead of one per object.
   */
  readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }>
  create(key: string, value: string): Promise<KeyValue>
  update(key: string, value: string, expectModRevision: number): Promise<KeyValue>
  delete(key: string, expectModRevision?: number): Promise<KeyValue>
  /** Events with revision > afterRevision under prefix, in revision order, until signal aborts. */
  watch(prefix: string, afterRevision: number, signal: AbortSignal, opts?: WatchOptions): AsyncIterable<StoreEvent>
  compact(revision: number): Promise<void>
  currentRevision(): Promise<number>
}

export type StoreErrorCode = 'KeyExists' | 'NotFound' | 'Conflict' | 'Compacted' | 'FutureRevision' | 'TooLarge'

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    readonly key: string,
    /** The current pair for Conflict; the compacted revision for Compacted is in `revision`. */
    readonly current?: KeyValue,
    readonly revision?: number,
  ) {
    super(`${code}: ${key}`)
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

/** Whether a value is over MAX_VALUE_BYTES in UTF-8, encoding it only when its length leaves that open. */
export function exceedsValueLimit(s: string): boolean {
  if (s.length > MAX_VALUE_BYTES) return true // at least one byte per UTF-16 unit
  if (s.length * 3 <= MAX_VALUE_BYTES) return false // at most three
  return new TextEncoder().encode(s).length > MAX_VALUE_BYTES
}

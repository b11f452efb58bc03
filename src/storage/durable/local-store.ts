// The Store over a ClusterStore's own tables, for work that runs inside the object (the control loops in its
// alarm): the calls the Worker makes over RPC, made in-process. Each is synchronous underneath, so nothing
// else the object serves interleaves with a caller that awaits only these.
import {
  StoreError,
  type BatchRead,
  type BatchReadResult,
  type KeyValue,
  type ListOptions,
  type Store,
  type StoreEvent,
} from '../store'
import type { Failure } from './protocol'

/** The ClusterStore methods used; a ClusterStore is one. */
export interface LocalCluster {
  currentRevision(): number
  get(key: string): { kv?: KeyValue; revision: number }
  list(
    prefix: string,
    opts?: ListOptions,
  ): { ok: true; kvs: KeyValue[]; revision: number; more: boolean; count: number } | Failure
  readBatch(reads: BatchRead[]): { results: BatchReadResult[]; revision: number }
  create(key: string, value: string): { ok: true; kv: KeyValue } | Failure
  update(
    key: string,
    value: string,
    expectModRevision: number,
  ): { ok: true; kv: KeyValue } | Failure
  delete(key: string, expectModRevision?: number): { ok: true; kv: KeyValue } | Failure
  compact(revision: number): { ok: true } | Failure
}

export class LocalStore implements Store {
  constructor(private readonly cluster: LocalCluster) {}

  async get(key: string): Promise<{ kv?: KeyValue; revision: number }> {
    return this.cluster.get(key)
  }

  async list(
    prefix: string,
    opts?: ListOptions,
  ): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number }> {
    const r = ok(prefix, this.cluster.list(prefix, opts))
    return { kvs: r.kvs, revision: r.revision, more: r.more, count: r.count }
  }

  async readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }> {
    return this.cluster.readBatch(reads)
  }

  async create(key: string, value: string): Promise<KeyValue> {
    return ok(key, this.cluster.create(key, value)).kv
  }

  async update(key: string, value: string, expectModRevision: number): Promise<KeyValue> {
    return ok(key, this.cluster.update(key, value, expectModRevision)).kv
  }

  async delete(key: string, expectModRevision?: number): Promise<KeyValue> {
    return ok(key, this.cluster.delete(key, expectModRevision)).kv
  }

  async compact(revision: number): Promise<void> {
    ok('', this.cluster.compact(revision))
  }

  async currentRevision(): Promise<number> {
    return this.cluster.currentRevision()
  }

  /** Work inside the object sees writes as they commit; it has no use for a watch. */
  // eslint-disable-next-line require-yield
  async *watch(prefix: string): AsyncIterable<StoreEvent> {
    throw new Error(`watch ${prefix}: not available inside the ClusterStore object`)
  }
}

function ok<T extends { ok: true }>(key: string, r: T | Failure): T {
  if (r.ok) return r
  throw new StoreError(r.code, key, r.current, r.revision)
}

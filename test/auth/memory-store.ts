// A small in-memory Store for the auth unit tests: revisions and key ranges like etcd's, no watch.
import { StoreError, type KeyValue, type Store, type StoreEvent } from '../../src/storage/store'

export class MemoryStore implements Store {
  private data = new Map<string, KeyValue>()
  private rev = 1
  reads = 0

  async get(key: string) {
    this.reads++
    return { kv: this.data.get(key), revision: this.rev }
  }

  async list(prefix: string, opts: { revision?: number; limit?: number; after?: string } = {}) {
    this.reads++
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix) && (!opts.after || k > opts.after)).sort()
    const limited = opts.limit ? keys.slice(0, opts.limit) : keys
    return { kvs: limited.map((k) => this.data.get(k)!), revision: this.rev, more: limited.length < keys.length, count: keys.length }
  }

  async create(key: string, value: string) {
    if (this.data.has(key)) throw new StoreError('KeyExists', key)
    const kv = { key, value, createRevision: ++this.rev, modRevision: this.rev, version: 1 }
    this.data.set(key, kv)
    return kv
  }

  async update(key: string, value: string, expectModRevision: number) {
    const cur = this.data.get(key)
    if (!cur) throw new StoreError('NotFound', key)
    if (cur.modRevision !== expectModRevision) throw new StoreError('Conflict', key, cur)
    const kv = { key, value, createRevision: cur.createRevision, modRevision: ++this.rev, version: cur.version + 1 }
    this.data.set(key, kv)
    return kv
  }

  async delete(key: string, expectModRevision?: number) {
    const cur = this.data.get(key)
    if (!cur) throw new StoreError('NotFound', key)
    if (expectModRevision !== undefined && cur.modRevision !== expectModRevision) throw new StoreError('Conflict', key, cur)
    this.data.delete(key)
    return { ...cur, modRevision: ++this.rev }
  }

  // eslint-disable-next-line require-yield
  async *watch(): AsyncIterable<StoreEvent> {
    throw new Error('MemoryStore does not watch')
  }

  async compact() {}

  async currentRevision() {
    return this.rev
  }

  /** Test helper: store an object as JSON under its key, with uid and creationTimestamp. */
  async put(key: string, obj: Record<string, unknown>): Promise<Record<string, unknown>> {
    const meta = (obj.metadata ?? {}) as Record<string, unknown>
    const full = { ...obj, metadata: { uid: crypto.randomUUID(), creationTimestamp: '2024-01-01T00:00:00Z', ...meta } }
    const cur = this.data.get(key)
    if (cur) await this.update(key, JSON.stringify(full), cur.modRevision)
    else await this.create(key, JSON.stringify(full))
    return full
  }
}

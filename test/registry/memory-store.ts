// Enough of a Store for allocation tests: create/get/delete with etcd-like revisions.
import { StoreError, type KeyValue, type Store } from '../../src/storage/store'

export class AllocStore implements Store {
  data = new Map<string, KeyValue>()
  private rev = 1
  async get(key: string) {
    return { kv: this.data.get(key), revision: this.rev }
  }
  async list(prefix: string) {
    const kvs = [...this.data.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1))
    return { kvs, revision: this.rev, more: false, count: kvs.length }
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
    const kv = { ...cur, value, modRevision: ++this.rev, version: cur.version + 1 }
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
  async *watch(): AsyncIterable<never> {}
  async compact() {}
  async currentRevision() {
    return this.rev
  }
}

// Pairs by key, read back in key order as etcd ranges them: the copy of a resource that kube's cacher
// keeps beside its watch (Node mode's etcd mirror, the edge's watch cache).
import type { KeyValue } from './store'

export class SortedPairs {
  readonly kvs = new Map<string, KeyValue>()
  private sorted?: string[]

  put(key: string, kv: KeyValue): void {
    if (!this.kvs.has(key)) this.sorted = undefined
    this.kvs.set(key, kv)
  }

  delete(key: string): void {
    if (this.kvs.delete(key)) this.sorted = undefined
  }

  /**
   * The pairs of the keys in [from, end) in order (from is inclusive), the first `limit` of them when
   * given, and how many keys the range holds (etcd's range count).
   */
  range(
    from: string,
    end: string,
    limit?: number,
  ): { kvs: KeyValue[]; more: boolean; count: number } {
    // Sorted again only after a key came or went (an update keeps the order): a LIST after a burst
    // of creates pays one sort; etcd sorts bytewise, as < does for the ASCII of Kubernetes keys.
    const keys = (this.sorted ??= [...this.kvs.keys()].sort())
    const lo = firstAtOrAfter(keys, from)
    const count = firstAtOrAfter(keys, end) - lo
    const n = limit && limit < count ? limit : count
    const kvs: KeyValue[] = new Array(n)
    for (let i = 0; i < n; i++) kvs[i] = this.kvs.get(keys[lo + i]!)!
    return { kvs, more: n < count, count }
  }
}

/** The index of the first of the sorted keys not below `key`. */
function firstAtOrAfter(keys: string[], key: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

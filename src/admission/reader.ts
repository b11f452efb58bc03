// Reads of other objects that plugins need (the namespace, LimitRanges, ResourceQuotas, webhook
// configurations), memoized for one request so that two plugins asking for the same thing cost one Store call.
// The memo holds the stored pairs; each call decodes its own objects, which the caller may change.
// kube-apiserver's plugins read informer caches; at the edge the Store is the cache.
import type { KubeObject } from '../registry/types'
import type { BatchRead, KeyValue, Store } from '../storage/store'

export interface StoredObject {
  object: KubeObject
  modRevision: number
}

function decode(kv: KeyValue): StoredObject {
  const object = JSON.parse(kv.value) as KubeObject
  object.metadata = { ...object.metadata, resourceVersion: String(kv.modRevision) }
  return { object, modRevision: kv.modRevision }
}

/** What prefetch reads: one object, or every object under a namespace ('' for a cluster-scoped kind). */
export type Prefetch =
  | { get: [storagePrefix: string, namespace: string, name: string] }
  | { list: [storagePrefix: string, namespace: string] }

const LIST_PAGE = 1000

function listPrefix(storagePrefix: string, namespace: string): string {
  return namespace ? `/registry/${storagePrefix}/${namespace}/` : `/registry/${storagePrefix}/`
}

/** A prefetch as the store read it makes, and the memo entry the get or list call that follows looks up. */
function storeRead(r: Prefetch): { memo: string; read: BatchRead } {
  if ('get' in r) {
    const key = objectKey(...r.get)
    return { memo: 'get:' + key, read: { key } }
  }
  const prefix = listPrefix(...r.list)
  return { memo: 'list:' + prefix, read: { prefix, limit: LIST_PAGE } }
}

/** The etcd key of an object: /registry/<storagePrefix>/[<namespace>/]<name>. */
export function objectKey(storagePrefix: string, namespace: string, name: string): string {
  return namespace
    ? `/registry/${storagePrefix}/${namespace}/${name}`
    : `/registry/${storagePrefix}/${name}`
}

export class ObjectReader {
  private readonly memo = new Map<string, Promise<unknown>>()

  constructor(readonly store: Store) {}

  private once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined
    if (!p) {
      p = load()
      this.memo.set(key, p)
      // A failed read is not remembered: the next plugin may try again.
      p.catch(() => this.memo.delete(key))
    }
    return p
  }

  /** One object with its mod revision, or undefined. `fresh` skips the memo (compare-and-swap loops). */
  async getWithRevision(
    storagePrefix: string,
    namespace: string,
    name: string,
    fresh = false,
  ): Promise<StoredObject | undefined> {
    const key = objectKey(storagePrefix, namespace, name)
    const load = async () => (await this.store.get(key)).kv
    let read: Promise<KeyValue | undefined>
    if (fresh) this.memo.set('get:' + key, (read = load()))
    else read = this.once('get:' + key, load)
    const kv = await read
    return kv ? decode(kv) : undefined
  }

  async get(
    storagePrefix: string,
    namespace: string,
    name: string,
  ): Promise<KubeObject | undefined> {
    return (await this.getWithRevision(storagePrefix, namespace, name))?.object
  }

  /**
   * Starts several reads in one round trip to the store and remembers them for the get/list calls that follow.
   * Reads already remembered are not made again; a failure is left for the caller of that read to see.
   */
  prefetch(reads: Prefetch[]): void {
    const todo = reads.map(storeRead).filter((r) => !this.memo.has(r.memo))
    if (!todo.length) return
    const batch = this.store.readBatch(todo.map((r) => r.read))
    todo.forEach((r, i) => {
      const load = async () => {
        const page = (await batch).results[i]!
        if ('key' in r.read) return page.kvs[0]
        return this.rest(r.read.prefix, page)
      }
      this.once(r.memo, load)
    })
  }

  /** Every object under a namespace (or every object, for a cluster-scoped kind when namespace is ''). */
  async listWithRevisions(
    storagePrefix: string,
    namespace: string,
    fresh = false,
  ): Promise<StoredObject[]> {
    const prefix = listPrefix(storagePrefix, namespace)
    // A batch read, not a LIST: Node mode answers it from memory once its copy holds every write this
    // server has seen (a quota write that lost a race included), where a paged LIST always reads etcd.
    const load = async () => {
      const { results } = await this.store.readBatch([{ prefix, limit: LIST_PAGE }])
      return this.rest(prefix, results[0]!)
    }
    let read: Promise<KeyValue[]>
    if (fresh) this.memo.set('list:' + prefix, (read = load()))
    else read = this.once('list:' + prefix, load)
    return (await read).map(decode)
  }

  /** A first page's pairs and, when there is more, every one after it. */
  private async rest(
    prefix: string,
    { kvs, more }: { kvs: KeyValue[]; more: boolean },
  ): Promise<KeyValue[]> {
    if (!more || !kvs.length) return kvs
    return [...kvs, ...(await this.listFrom(prefix, kvs[kvs.length - 1]!.key))]
  }

  /** The pairs under prefix after the key `after`, a page at a time. */
  private async listFrom(prefix: string, after?: string): Promise<KeyValue[]> {
    const out: KeyValue[] = []
    for (;;) {
      const page = await this.store.list(prefix, { after, limit: LIST_PAGE })
      out.push(...page.kvs)
      if (!page.more || !page.kvs.length) return out
      after = page.kvs[page.kvs.length - 1].key
    }
  }

  async list(storagePrefix: string, namespace: string): Promise<KubeObject[]> {
    return (await this.listWithRevisions(storagePrefix, namespace)).map((s) => s.object)
  }
}

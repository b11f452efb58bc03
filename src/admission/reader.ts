// Reads of other objects that plugins need (the namespace, LimitRanges, ResourceQuotas, webhook
// configurations), memoized for one request so that two plugins asking for the same thing cost one Store call.
// kube-apiserver's plugins read informer caches; at the edge the Store is the cache.
import type { KubeObject } from '../registry/types'
import type { KeyValue, Store } from '../storage/store'

export interface StoredObject { object: KubeObject; modRevision: number }

function decode(kv: KeyValue): StoredObject {
  const object = JSON.parse(kv.value) as KubeObject
  object.metadata = { ...object.metadata, resourceVersion: String(kv.modRevision) }
  return { object, modRevision: kv.modRevision }
}

/** The etcd key of an object: /registry/<storagePrefix>/[<namespace>/]<name>. */
export function objectKey(storagePrefix: string, namespace: string, name: string): string {
  return namespace ? `/registry/${storagePrefix}/${namespace}/${name}` : `/registry/${storagePrefix}/${name}`
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
  async getWithRevision(storagePrefix: string, namespace: string, name: string, fresh = false): Promise<StoredObject | undefined> {
    const key = objectKey(storagePrefix, namespace, name)
    const load = async () => {
      const { kv } = await this.store.get(key)
      return kv ? decode(kv) : undefined
    }
    if (fresh) {
      const p = load()
      this.memo.set('get:' + key, p)
      return p
    }
    return this.once('get:' + key, load)
  }

  async get(storagePrefix: string, namespace: string, name: string): Promise<KubeObject | undefined> {
    const found = await this.getWithRevision(storagePrefix, namespace, name)
    return found ? structuredClone(found.object) : undefined
  }

  /** Every object under a namespace (or every object, for a cluster-scoped kind when namespace is ''). */
  async listWithRevisions(storagePrefix: string, namespace: string, fresh = false): Promise<StoredObject[]> {
    const prefix = namespace ? `/registry/${storagePrefix}/${namespace}/` : `/registry/${storagePrefix}/`
    const load = async () => {
      const out: StoredObject[] = []
      let after: string | undefined
      for (;;) {
        const page = await this.store.list(prefix, { after, limit: 1000 })
        for (const kv of page.kvs) out.push(decode(kv))
        if (!page.more || !page.kvs.length) return out
        after = page.kvs[page.kvs.length - 1].key
      }
    }
    if (fresh) {
      const p = load()
      this.memo.set('list:' + prefix, p)
      return p
    }
    return this.once('list:' + prefix, load)
  }

  async list(storagePrefix: string, namespace: string): Promise<KubeObject[]> {
    return (await this.listWithRevisions(storagePrefix, namespace)).map((s) => structuredClone(s.object))
  }
}

// etcd_request_duration_seconds, etcd_requests_total and etcd_request_errors_total for the Store the
// request path uses, in both modes (k8s.io/apiserver/pkg/storage/etcd3/metrics.RecordEtcdRequest): the
// Store is wrapped, so neither the etcd nor the Durable Object implementation knows about metrics.
// Outcomes that are answers (KeyExists, NotFound, Conflict, Compacted) are not errors here, as a
// precondition that fails in an etcd transaction is not an etcd error for kube-apiserver.
import { isStoreError, type Store } from '../storage/store'
import type { Registry } from '../registry/registry'
import type { ApiserverMetrics } from './apiserver'

type GroupResource = { group: string; resource: string }

/** Maps a key under /registry/ to the group and resource whose objects it holds. */
export class KeyResources {
  private byPrefix = new Map<string, GroupResource>()
  private builtAt = -Infinity

  constructor(private readonly registry: Registry) {}

  /** Each stored resource once: its key prefix (/registry/<storagePrefix>/) with its group and resource. */
  prefixes(): { prefix: string; group: string; resource: string }[] {
    this.rebuild()
    return [...this.byPrefix].map(([p, gr]) => ({ prefix: `/registry/${p}/`, ...gr }))
  }

  of(key: string): GroupResource {
    if (!key.startsWith('/registry/')) return { group: '', resource: '' }
    const segments = key.slice('/registry/'.length).split('/')
    let found = this.match(segments)
    // A CRD added since: look again, at most once a second so that odd keys cost nothing.
    if (!found && Date.now() - this.builtAt > 1000) {
      this.rebuild()
      found = this.match(segments)
    }
    return found ?? { group: '', resource: segments[0] ?? '' }
  }

  private match(segments: string[]): GroupResource | undefined {
    return (
      this.byPrefix.get(`${segments[0]}/${segments[1]}`) ?? this.byPrefix.get(segments[0] ?? '')
    )
  }

  private rebuild(): void {
    const m = new Map<string, GroupResource>()
    for (const t of this.registry.all()) {
      // Reviews (TokenReview, SubjectAccessReview, ...) are answered, never stored.
      if (t.virtualCreate) continue
      if (!m.has(t.storagePrefix)) m.set(t.storagePrefix, { group: t.group, resource: t.resource })
    }
    this.byPrefix = m
    this.builtAt = Date.now()
  }
}

const instrumented = new WeakMap<Store, Store>()

/**
 * The store with each call recorded in its cluster's series; the same wrapper for the same store, so caches
 * keyed by it still hit.
 */
export function instrumentStore(store: Store, keys: KeyResources, m: ApiserverMetrics): Store {
  const known = instrumented.get(store)
  if (known) return known
  const timed = async <T>(operation: string, key: string, call: () => Promise<T>): Promise<T> => {
    const { group, resource } = keys.of(key)
    const labels = [operation, group, resource]
    const start = performance.now()
    try {
      return await call()
    } catch (e) {
      if (!isStoreError(e)) m.etcdRequestErrors.inc(labels)
      throw e
    } finally {
      m.etcdRequestDuration.observe(labels, (performance.now() - start) / 1000)
      m.etcdRequests.inc(labels)
    }
  }
  const wrapped: Store = {
    get: (key) => timed('get', key, () => store.get(key)),
    list: async (prefix, opts) => {
      const r = await timed('listWithCount', prefix, () => store.list(prefix, opts))
      if (r.fromCache) {
        const { group, resource } = keys.of(prefix)
        m.cacheList.inc([group, resource, ''])
      }
      return r
    },
    readBatch: async (reads) => {
      const start = performance.now()
      try {
        return await store.readBatch(reads)
      } finally {
        // One round trip for several reads: each is recorded with the trip's latency.
        const elapsed = (performance.now() - start) / 1000
        for (const r of reads) {
          const { group, resource } = keys.of('key' in r ? r.key : r.prefix)
          const labels = ['key' in r ? 'get' : 'listWithCount', group, resource]
          m.etcdRequestDuration.observe(labels, elapsed)
          m.etcdRequests.inc(labels)
        }
      }
    },
    create: (key, value, opts) => timed('create', key, () => store.create(key, value, opts)),
    update: (key, value, rev, opts) =>
      timed('update', key, () => store.update(key, value, rev, opts)),
    delete: (key, rev, opts) => timed('delete', key, () => store.delete(key, rev, opts)),
    watch: (prefix, after, signal, opts) => store.watch(prefix, after, signal, opts),
    cached: async (key) => store.cached?.(key),
    lastChange: store.lastChange?.bind(store),
    compact: (revision) => store.compact(revision),
    currentRevision: () => store.currentRevision(),
  }
  instrumented.set(store, wrapped)
  return wrapped
}

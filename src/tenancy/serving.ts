// Serving the clusters made through the management API: a request for /clusters/<name> is served while the
// default cluster holds a Ready Cluster of that name, with the settings that cluster's own store holds.
// Both runtimes use it; each says where the stores are and how a cluster is put together from its settings.
import type { ClusterConfig } from '../server/app'
import type { Store } from '../storage/store'
import { LruMap } from '../util/lru'
import { CLUSTERS_KEY_PREFIX, clusterServed, isClusterName, type ClusterObject } from './api'
import type { ClusterSettings, TenantRecord } from './settings'

export interface TenantSource<E> {
  /** The default cluster's store, which holds the Cluster objects. */
  defaultStore(env: E): Store
  /** The settings a cluster's own store holds (none before it is provisioned, and once it is deleted). */
  settings(env: E, name: string): Promise<TenantRecord | undefined | null>
  /** The cluster as it is served, put together from its settings once per runtime. */
  config(env: E, name: string, own: ClusterSettings): ClusterConfig
  /** A cluster put together here is no longer kept (more than MAX_TENANTS were used): let it go. */
  released?(name: string): void
}

/** Clusters put together at most, per isolate or process (the least recently used go). */
const MAX_TENANTS = 256

export class TenantClusters<E> {
  /** By name: the cluster as put together here, for its Cluster's uid and last reset (`key`). */
  private readonly built: LruMap<string, { key: string; config: ClusterConfig }>

  constructor(private readonly source: TenantSource<E>) {
    this.built = new LruMap(MAX_TENANTS, (name) => source.released?.(name))
  }

  /**
   * The cluster of that name, or undefined when none is served: no Cluster, not Ready, being deleted, or
   * its store not (or no longer) provisioned for that Cluster. One read of the default cluster's store;
   * the cluster's own store is read only when its Cluster is new to this runtime.
   */
  async resolve(name: string, env: E): Promise<ClusterConfig | undefined> {
    const { kv } = await this.source.defaultStore(env).get(CLUSTERS_KEY_PREFIX + name)
    const cluster = kv ? (JSON.parse(kv.value) as ClusterObject) : undefined
    const uid = cluster?.metadata?.uid
    if (!cluster || !uid || !clusterServed(cluster)) {
      this.built.delete(name)
      return undefined
    }
    // A cluster that was reset (spec.resetAt, src/tenancy/controller.ts) is put together anew: nothing
    // this runtime kept of it (its CRDs' served types, its RBAC, its admission) outlives the reset.
    const key = `${uid}/${cluster.status?.resetAt ?? ''}`
    const known = this.built.get(name)
    if (known?.key === key) return known.config
    const record = await this.source.settings(env, name)
    if (!record || record.uid !== uid) return undefined
    const config = this.source.config(env, name, record.settings)
    this.built.set(name, { key, config })
    return config
  }
}

/** The cluster named by a host name's first label under a suffix (".clusters.example.com"), if any. */
export function clusterOfHost(hostname: string, suffix: string | undefined): string | undefined {
  if (!suffix) return undefined
  const dotted = suffix.startsWith('.') ? suffix : `.${suffix}`
  if (!hostname.endsWith(dotted)) return undefined
  const name = hostname.slice(0, -dotted.length)
  return isClusterName(name) ? name : undefined
}

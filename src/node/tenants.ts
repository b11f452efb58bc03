// Node mode's clusters made through the management API (src/tenancy): each one's objects under an etcd
// prefix of its own, in kube-apiserver's layout below it (/edge-apiserver/clusters/<name>/registry/...),
// its settings beside them, and its control loops in this process while it is served here. Each is served
// as the default cluster is: snapshots of its own keys, and its extension API servers reached over the
// process's transport (the APIService's caBundle, the front-proxy client certificate) with kube-aggregator's
// availability loop.
import type { Etcd3, Watcher } from 'etcd3'
import { authOptionsFromEnv, ServerAuth } from '../auth/server-auth'
import { loadCertificateAuthority } from '../auth/certificate-authority'
import type { AdmissionChain } from '../admission/chain'
import type { Aggregator } from '../aggregator/aggregator'
import { bootstrapCluster } from '../controllers/bootstrap'
import { startControllers, type RunningControllers } from '../controllers/run'
import type { Registry } from '../registry/registry'
import type { ClusterConfig } from '../server/app'
import type { Authenticator } from '../server/filters/authentication'
import { EtcdSnapshots } from '../storage/etcd/snapshots'
import { EtcdStore } from '../storage/etcd/store'
import { CLUSTER_DELETED, type Store } from '../storage/store'
import type { Tenants } from '../tenancy/controller'
import { TenantClusters } from '../tenancy/serving'
import { clusterEnv, type ClusterSettings, type TenantRecord } from '../tenancy/settings'
import { errorText } from '../util/errors'

const TENANTS_ROOT = '/edge-apiserver/clusters/'

/** The etcd prefix a cluster's objects are under (outside kube-apiserver's /registry). */
export function tenantEtcdPrefix(name: string): string {
  return `${TENANTS_ROOT}${name}/registry`
}

const settingsKey = (name: string) => `${TENANTS_ROOT}${name}/settings`

export interface NodeTenantOptions {
  client: Etcd3
  /** The default cluster's store, which holds the Cluster objects. */
  defaultStore: Store
  /** A new registry of served types, as the default cluster's (--runtime-config applied). */
  newRegistry(): Registry
  /** The store API over an etcd store: encryption at rest and the storage media type, as the default's. */
  apiStore(etcd: EtcdStore, registry: Registry): Store
  /** The deployment's auth settings, as environment variables (built from the flags). */
  authEnv: Record<string, string>
  admission(registry: Registry): AdmissionChain
  /** The aggregation layer over a cluster's registry, calling extension servers as the default's does. */
  aggregator(registry: Registry): Aggregator
  /** kube-aggregator's availability loop for a cluster's APIServices, as the default cluster runs it. */
  availabilityLoop(store: Store, aggregator: Aggregator): { stop(): Promise<void> }
  anonymous: boolean
  securePort: number
  requestTimeoutMs: number
  /** --watch-cache: each cluster's consistent LISTs and admission reads from memory. */
  watchCache?: boolean
  clusterSigningDurationMs: number
  /** kube-root-ca.crt: the CA clients in the cluster verify this server with. */
  rootCA: string
  /** x509 client certificates of the request's connection, verified against a cluster's own CA. */
  clientCertificates(env: unknown, caPem: string): Authenticator
  log(msg: string): void
}

interface Served {
  /** The settings it was put together with. */
  own: ClusterSettings
  etcd: EtcdStore
  controllers: RunningControllers
  availability: { stop(): Promise<void> }
  snapshots: EtcdSnapshots
  /** The watch of its settings key, which ends serving it here once another process deletes it. */
  settingsWatch: Promise<Watcher | undefined>
  /** Its store refuses every call from now on: it is being deleted, or was put together anew. */
  retire(): void
}

/** The clusters of a Node server: provisioned by its loops (Tenants), served by its app (resolve). */
export class NodeTenants implements Tenants {
  private readonly served = new Map<string, Served>()
  readonly clusters: TenantClusters<unknown>

  constructor(private readonly o: NodeTenantOptions) {
    this.clusters = new TenantClusters<unknown>({
      defaultStore: () => o.defaultStore,
      settings: (_env, name) => this.settings(name),
      config: (_env, name, own) => this.config(name, own),
      // Its loops and watches stop with it; a later request puts it together again.
      released: (name) => void this.stop(name),
    })
  }

  async settings(name: string): Promise<TenantRecord | undefined> {
    const text = await this.o.client.get(settingsKey(name)).string()
    return text ? (JSON.parse(text) as TenantRecord) : undefined
  }

  async provision(name: string, uid: string, settings: ClusterSettings): Promise<void> {
    await this.o.client.put(settingsKey(name)).value(JSON.stringify({ uid, settings }))
  }

  /**
   * Ends serving it in this process at once (its store refuses every call; other processes on this etcd
   * find out within seconds), then deletes its settings and every object in one range delete.
   */
  async destroy(name: string): Promise<void> {
    await this.stop(name)
    await this.o.client.delete().prefix(`${TENANTS_ROOT}${name}/`)
  }

  /**
   * Deletes its objects, keeping its settings, and bootstraps it again, as a new cluster; etcd's
   * revisions go on, so no resourceVersion names other data. It is served on meanwhile: what this process
   * keeps of it (its loops, CRD types, caches) is put together anew when its Cluster is next checked
   * (TenantClusters keys it by its last reset too). Another process on this etcd that serves it goes on
   * with its caches until its watches see the deletions.
   */
  async reset(name: string): Promise<void> {
    const o = this.o
    await o.client.delete().prefix(`${tenantEtcdPrefix(name)}/`)
    const registry = o.newRegistry()
    const etcd = new EtcdStore(o.client, {
      prefix: tenantEtcdPrefix(name),
      requestTimeoutMs: o.requestTimeoutMs,
    })
    try {
      await bootstrapCluster(registry, o.apiStore(etcd, registry), o.securePort, false)
    } finally {
      etcd.endWatches()
    }
  }

  async close(): Promise<void> {
    for (const name of [...this.served.keys()]) await this.stop(name)
  }

  /**
   * The lowest revision a snapshot of a cluster served here is reading at: etcd compacts every prefix at
   * once, so the process's compactor stays below it as below the default cluster's.
   */
  compactionFloor(): number | undefined {
    let floor: number | undefined
    for (const s of this.served.values()) {
      const f = s.snapshots.compactionFloor()
      if (f !== undefined && (floor === undefined || f < floor)) floor = f
    }
    return floor
  }

  private async stop(name: string): Promise<void> {
    const s = this.served.get(name)
    if (!s) return
    this.served.delete(name)
    s.retire()
    await Promise.all([
      s.controllers.stop(),
      s.availability.stop(),
      s.settingsWatch.then((w) => w?.cancel()),
    ])
    s.etcd.endWatches()
  }

  /**
   * Another process on this etcd deleting the cluster (or provisioning it anew) deletes or replaces its
   * settings key: this process stops serving it at once (its store refuses every call, which answers 404)
   * rather than when it next checks the Cluster (TenantClusters, every 5 s). One watch of one key per
   * cluster served here, multiplexed on the client's watch stream.
   */
  private async watchSettings(name: string, own: ClusterSettings): Promise<Watcher | undefined> {
    const current = (text: string | null) =>
      !!text && JSON.stringify((JSON.parse(text) as TenantRecord).settings) === JSON.stringify(own)
    const gone = () => {
      if (this.served.get(name)?.own === own) void this.stop(name)
    }
    try {
      const watcher = await this.o.client.watch().key(settingsKey(name)).create()
      watcher.on('delete', gone)
      watcher.on('put', (kv) => {
        if (!current(kv.value.toString())) gone()
      })
      watcher.on('error', (e) => this.o.log(`cluster ${name}: settings watch: ${e.message}`))
      // A change before the watch began is not in it: read the key once it is watched.
      if (!current(await this.o.client.get(settingsKey(name)).string())) gone()
      return watcher
    } catch (e) {
      this.o.log(`cluster ${name}: settings watch: ${errorText(e)}`)
      return undefined
    }
  }

  private config(name: string, own: ClusterSettings): ClusterConfig {
    const o = this.o
    // A cluster put together again (a new Cluster of the same name) replaces the one before.
    void this.stop(name)
    const registry = o.newRegistry()
    const etcd = new EtcdStore(o.client, {
      prefix: tenantEtcdPrefix(name),
      requestTimeoutMs: o.requestTimeoutMs,
      mirror: o.watchCache,
    })
    let retired = false
    const store = fenced(o.apiStore(etcd, registry), () => retired)
    const env = clusterEnv(o.authEnv, own)
    const auth = new ServerAuth({ ...authOptionsFromEnv(env), rootCA: o.rootCA })
    const admission = o.admission(registry)
    const aggregator = o.aggregator(registry)
    // Snapshots read the keys as etcd holds them, as the default cluster's do (its --etcd-prefix).
    const snapshots = new EtcdSnapshots(fenced(etcd, () => retired))
    const signing = { cert: own.CLUSTER_SIGNING_CERT, key: own.CLUSTER_SIGNING_KEY }
    let ca: ReturnType<typeof loadCertificateAuthority> | undefined
    const controllers = startControllers(store, registry, {
      rootCA: o.rootCA,
      authorizer: auth.authorizer(store),
      signer:
        signing.cert && signing.key
          ? {
              ca: () => (ca ??= loadCertificateAuthority(signing.cert!, signing.key!)),
              durationMs: o.clusterSigningDurationMs,
            }
          : undefined,
      log: (msg) => o.log(`cluster ${name}: ${msg}`),
    })
    this.served.set(name, {
      own,
      etcd,
      controllers,
      availability: o.availabilityLoop(store, aggregator),
      snapshots,
      settingsWatch: this.watchSettings(name, own),
      retire: () => {
        retired = true
      },
    })
    return {
      registry,
      store: () => store,
      // Its client certificates are those its own CA signed (its CertificateSigningRequests'), no other.
      authenticators: (env, s) => [
        ...(own.CLUSTER_SIGNING_CERT ? [o.clientCertificates(env, own.CLUSTER_SIGNING_CERT)] : []),
        ...auth.authenticators(s),
      ],
      auth: (_env, s) => auth.context(s),
      anonymous: () => o.anonymous,
      admission: () => admission,
      ready: (s) => bootstrapCluster(registry, s, o.securePort, false),
      aggregator,
      storageAdmin: () => ({ cluster: tenantEtcdPrefix(name), source: 'etcd', snapshots }),
    }
  }
}

/** The store of a cluster being deleted refuses every call, as the edge's Durable Object does. */
function fenced<S extends object>(store: S, retired: () => boolean): S {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        if (retired()) throw new Error(CLUSTER_DELETED)
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
}

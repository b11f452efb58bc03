// Which cluster a request is for, and what a cluster keeps between its requests in an isolate or process.
//
// A deployment serves several clusters: the default one at the bare paths (kube-apiserver's own), and every
// cluster, the default included, under /clusters/<name>/, the addressing kcp's kubeconfigs already use
// (`server: https://host/clusters/<name>`). The prefix is taken off before anything else sees the request,
// so every later step serves bare paths for exactly one cluster: its ClusterContext.
import { Aggregator } from '../aggregator/aggregator'
import { fetchAggregatorCall } from '../aggregator/proxy'
import type { ConversionOptions } from '../apiextensions/conversion/webhook'
import { CustomResourceDefinitions } from '../apiextensions/serving'
import type { ApiserverMetrics } from '../metrics/apiserver'
import type { MetricsBackend } from '../metrics/cluster'
import { KeyResources } from '../metrics/store'
import type { Registry } from '../registry/registry'
import type { Store } from '../storage/store'
import { isClusterName } from '../tenancy/api'

export const DEFAULT_CLUSTER = 'default'
const CLUSTERS_PREFIX = '/clusters/'

export type ClusterPath =
  | { cluster: string; path: string }
  /** /clusters/<not a cluster name>...: nothing is served there. */
  | { cluster: undefined; path: string }

/** The cluster a request path names, and the path that cluster serves; bare paths are the default cluster's. */
export function clusterOfPath(pathname: string): ClusterPath {
  if (!pathname.startsWith(CLUSTERS_PREFIX)) return { cluster: DEFAULT_CLUSTER, path: pathname }
  const rest = pathname.slice(CLUSTERS_PREFIX.length)
  const slash = rest.indexOf('/')
  const name = slash < 0 ? rest : rest.slice(0, slash)
  const path = slash < 0 ? '/' : rest.slice(slash)
  return isClusterName(name) ? { cluster: name, path } : { cluster: undefined, path }
}

/** What ClusterContext needs of the cluster's configuration (AppConfig's ClusterConfig). */
export interface ClusterParts {
  registry: Registry
  aggregator?: Aggregator
  ready?(store: Store): Promise<void>
}

/**
 * A cluster as an isolate or process serves it between requests: its served types (built-ins and its
 * CRDs), its extension servers, its metrics, and whether its bootstrap has run here. Nothing in it is
 * shared with another cluster.
 */
export class ClusterContext<C extends ClusterParts = ClusterParts> {
  readonly customResources: CustomResourceDefinitions
  readonly aggregator: Aggregator
  readonly keyResources: KeyResources
  private readied: Promise<void> | undefined

  constructor(
    readonly name: string,
    readonly config: C,
    conversion: ConversionOptions | undefined,
    /** Where its /metrics counts are kept (its series are recorded there, by every layer of its requests). */
    readonly metricsBackend: MetricsBackend,
  ) {
    this.customResources = new CustomResourceDefinitions(config.registry, conversion)
    this.aggregator =
      config.aggregator ??
      new Aggregator(config.registry, { fetch: fetchAggregatorCall, endpointRouting: true })
    this.keyResources = new KeyResources(config.registry)
  }

  get registry(): Registry {
    return this.config.registry
  }

  /** The cluster's series (kube's metric names and labels), this cluster's requests only. */
  get metrics(): ApiserverMetrics {
    return this.metricsBackend.metrics
  }

  /** The cluster's bootstrap, run once here before its first request is served (again after a failure). */
  ready(store: Store): Promise<void> {
    if (!this.config.ready) return Promise.resolve()
    this.readied ??= this.config.ready(store).catch((e) => {
      this.readied = undefined
      throw e
    })
    return this.readied
  }

  /** Whether the bootstrap has finished (/readyz's poststarthook/bootstrap-cluster), waiting for it if begun. */
  async bootstrapped(): Promise<void> {
    if (this.config.ready) await this.readied
  }
}

// Everything a verb handler needs about one resource request.
import type { ApiserverMetrics } from '../metrics/apiserver'
import type { Registry } from '../registry/registry'
import type { RegistryStore } from '../registry/store'
import type { RequestContext, ResourceType } from '../registry/types'
import type { RequestInfo } from '../server/filters/request-info'
import type { Store } from '../storage/store'
import type { Endpoint } from './negotiation'
import type { WatchCaches } from './watch-cache'
import { messageForKind } from './protobuf/messages'
import { decodeWriteOptions, validateDryRun } from './query'

export interface Scope {
  req: Request
  url: URL
  query: URLSearchParams
  info: RequestInfo
  type: ResourceType
  rs: RegistryStore
  store: Store
  registry: Registry
  ctx: RequestContext
  /** The request's namespace for namespaced kinds (undefined: all namespaces); always undefined for cluster-scoped kinds. */
  namespace: string | undefined
  /** Where watches share one Store watch per resource (Node mode); none: each watch has its own. */
  watchCache?: WatchCaches
  /** The cluster's name: per-process caches (the watch cache, shared watch events) are keyed by it. */
  cluster: string
  /** The cluster's series (watch events, registered watchers). */
  metrics: ApiserverMetrics
}

/** The dryRun of CreateOptions, UpdateOptions or PatchOptions (DeleteOptions may carry it in the body). */
export function parseDryRun(query: URLSearchParams): boolean {
  return validateDryRun(decodeWriteOptions(query, 'CreateOptions').dryRun)
}

/**
 * What the endpoint answers beyond its plain object, for content negotiation: built-in kinds (CRDs among
 * them) in protobuf too (kube's legacy codecs), custom resources only in JSON and YAML (their
 * StandardSerializers). The scale subresource answers autoscaling/v1 Scale.
 */
export function endpointFor(s: Scope, transforms: { table: boolean; metadata: boolean }): Endpoint {
  const [apiVersion, kind] =
    s.info.subresource === 'scale'
      ? ['autoscaling/v1', 'Scale']
      : [s.type.group ? `${s.type.group}/${s.type.version}` : s.type.version, s.type.kind]
  return { ...transforms, protobuf: !s.type.custom && !!messageForKind(apiVersion, kind) }
}

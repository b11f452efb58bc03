// Everything a verb handler needs about one resource request.
import type { Registry } from '../registry/registry'
import type { RegistryStore } from '../registry/store'
import type { RequestContext, ResourceType } from '../registry/types'
import type { RequestInfo } from '../server/filters/request-info'
import type { Store } from '../storage/store'
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
}

/** The dryRun of CreateOptions, UpdateOptions or PatchOptions (DeleteOptions may carry it in the body). */
export function parseDryRun(query: URLSearchParams): boolean {
  return validateDryRun(decodeWriteOptions(query, 'CreateOptions').dryRun)
}

// Everything a verb handler needs about one resource request.
import type { Registry } from '../registry/registry'
import type { RegistryStore } from '../registry/store'
import type { RequestContext, ResourceType } from '../registry/types'
import type { RequestInfo } from '../server/filters/request-info'
import type { Store } from '../storage/store'
import { badRequest } from '../server/errors'

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

/** dryRun accepts only "All" (apiserver's ValidateDryRun). */
export function parseDryRun(query: URLSearchParams): boolean {
  const values = query.getAll('dryRun')
  for (const v of values) {
    if (v !== 'All') throw badRequest(`Invalid dryRun value: "${v}": supported values: "All"`)
  }
  return values.length > 0
}

export function queryInt(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name)
  if (v === null || v === '') return undefined
  if (!/^-?\d+$/.test(v)) throw badRequest(`${name}: Invalid value: "${v}": strconv.ParseInt: parsing "${v}": invalid syntax`)
  return Number(v)
}

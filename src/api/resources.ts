// Routes a resource request to its verb handler.
import { methodNotSupported, notFoundPath } from '../server/errors'
import type { RequestInfo } from '../server/filters/request-info'
import { apiserverMetrics, type ApiserverMetrics } from '../metrics/apiserver'
import type { Registry } from '../registry/registry'
import { RegistryStore } from '../registry/store'
import type { HTTPProbe, RequestContext, UserInfo } from '../registry/types'
import type { RequestAudit } from '../audit/request'
import type { Store } from '../storage/store'
import type { AuthContext } from '../auth/context'
import type { Admission } from '../admission/types'
import type { Scope } from './scope'
import type { WatchCaches } from './watch-cache'
import { virtualCreate } from './handlers/virtual-create'
import { virtualRead } from './handlers/virtual-read'
import { get } from './handlers/get'
import { list } from './handlers/list'
import { watch } from './handlers/watch'
import { create } from './handlers/create'
import { update } from './handlers/update'
import { patch } from './handlers/patch'
import { del } from './handlers/delete'
import { deletecollection } from './handlers/deletecollection'

const HANDLERS: Record<string, (s: Scope) => Promise<Response>> = {
  get,
  list,
  watch,
  create,
  update,
  patch,
  delete: del,
  deletecollection,
}
const SUBRESOURCE_VERBS = new Set(['get', 'update', 'patch'])

/** What the request path learned about a request before it reached its resource. */
export interface ServedRequest {
  user?: UserInfo
  auth?: AuthContext
  admission?: Admission
  /** The request's recorder (server/filters/warnings.ts): whatever the verb adds reaches the client. */
  warnings?: string[]
  /** How computed reads (componentstatuses) probe components over HTTP. */
  probe?: HTTPProbe
  audit?: RequestAudit
  /** The process's watch cache, where watches of one resource can share a Store watch (Node mode). */
  watchCache?: WatchCaches
  /** The cluster the request is for (what per-process caches are keyed by); 'default' when unnamed. */
  cluster?: string
  /** The series of the request's cluster (watches, admission); a set of its own when none is given. */
  metrics?: ApiserverMetrics
  /** The request's deadline (epoch ms) when it has one: RequestContext.deadline. */
  deadline?: number
}

export async function serveResource(
  req: Request,
  url: URL,
  info: RequestInfo,
  registry: Registry,
  store: Store,
  {
    user,
    auth,
    admission,
    warnings = [],
    probe,
    audit,
    watchCache,
    cluster = 'default',
    metrics = apiserverMetrics(),
    deadline,
  }: ServedRequest = {},
): Promise<Response> {
  const type = registry.lookup(info.apiGroup, info.apiVersion, info.resource)
  if (!type) throw notFoundPath()
  // The deprecated kinds' warning, on every request for them (kube's deprecation warning filter).
  if (type.deprecationWarning) warnings.push(type.deprecationWarning)
  // A cluster-scoped kind has no path under /namespaces/<ns>/ (the namespace kind itself aside).
  const underNamespace = info.namespace !== '' && info.resource !== 'namespaces'
  if (!type.namespaced && underNamespace) throw notFoundPath()
  if (type.namespaced && !underNamespace && info.name) throw notFoundPath()
  // Computed creates (the review kinds, serviceaccounts/token) check their own paths and verbs.
  const computed =
    type.virtualCreate !== undefined ||
    (info.subresource !== '' && type.createSubresources?.[info.subresource] !== undefined)
  if (!computed && info.subresource) {
    const served =
      (info.subresource === 'status' && type.subresources?.status) ||
      (info.subresource === 'scale' && type.subresources?.scale) ||
      (info.subresource === 'finalize' && type.subresources?.finalize) ||
      !!type.subresources?.updates?.[info.subresource]
    if (!served || info.parts.length > 3) throw notFoundPath()
    // namespaces/finalize takes a PUT only (kube's FinalizeREST is an Updater and nothing else).
    if (
      !(info.subresource === 'finalize' ? info.verb === 'update' : SUBRESOURCE_VERBS.has(info.verb))
    )
      throw methodNotSupported(
        { group: type.group, resource: `${type.resource}/${info.subresource}` },
        info.verb,
      )
  } else if (!computed && info.parts.length > 2) {
    throw notFoundPath()
  }
  const handler = computed
    ? virtualCreate
    : type.virtualRead && (info.verb === 'get' || info.verb === 'list')
      ? (sc: Scope) => virtualRead(sc, probe)
      : HANDLERS[info.verb]
  if (!handler) throw methodNotSupported({ group: type.group, resource: type.resource }, info.verb)
  if (!computed && !info.subresource && !type.verbs.includes(info.verb))
    throw methodNotSupported({ group: type.group, resource: type.resource }, info.verb)

  const ctx: RequestContext = {
    user,
    namespace: info.namespace || undefined,
    dryRun: false,
    warnings,
    auth,
    audit,
    auditAnnotations: audit?.admissionAnnotations,
    metrics,
    deadline,
  }
  const scope: Scope = {
    req,
    url,
    query: url.searchParams,
    info,
    type,
    store,
    registry,
    ctx,
    rs: new RegistryStore(type, store, { admission }),
    namespace: type.namespaced && underNamespace ? info.namespace : undefined,
    watchCache,
    cluster,
    metrics,
  }
  return handler(scope)
}

// What a request is about, parsed from its path and method the way k8s.io/apiserver's RequestInfoFactory does.
import type { MiddlewareHandler } from 'hono'
import { decodeListOptions, isWatchRequest } from '../../api/query'
import { requestURL } from '../request-url'

export interface RequestInfo {
  isResourceRequest: boolean
  path: string
  verb: string
  apiPrefix: string
  apiGroup: string
  apiVersion: string
  namespace: string
  resource: string
  subresource: string
  name: string
  parts: string[]
  /**
   * For a list or watch, the name a `metadata.name=<name>` field selector pins: kube's RequestInfoFactory puts it
   * in RequestInfo.Name, so that authorization sees it (RBAC resourceNames, the Node authorizer). Kept apart here
   * so that the handlers still see a collection request.
   */
  selectorName: string
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize'])
const READ_QUERY_VERBS: Record<string, string> = {
  GET: 'get',
  HEAD: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
}

export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    parts: [],
    selectorName: '',
  }
  const segments = path.split('/').filter((s) => s !== '')
  if (segments[0] !== 'api' && segments[0] !== 'apis') return info
  info.apiPrefix = segments[0]
  let rest = segments.slice(1)
  if (info.apiPrefix === 'apis') {
    if (rest.length < 2) return info
    info.apiGroup = rest[0]
    rest = rest.slice(1)
  } else if (rest.length < 1) {
    return info
  }
  info.apiVersion = rest[0]
  rest = rest.slice(1)
  if (rest.length === 0) return info
  info.isResourceRequest = true

  let verb = READ_QUERY_VERBS[method.toUpperCase()] ?? method.toLowerCase()
  if (rest[0] === 'watch' || rest[0] === 'proxy') {
    // The legacy /watch/ prefix: a watch of whatever follows.
    verb = rest[0]
    rest = rest.slice(1)
  }
  if (rest[0] === 'namespaces') {
    if (rest.length > 1) {
      info.namespace = rest[1]
      // /namespaces/<ns>/<resource>... is inside the namespace; /namespaces/<name>[/status|finalize] is the namespace itself.
      if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) rest = rest.slice(2)
    }
  }
  info.parts = rest
  if (rest.length >= 3) info.subresource = rest[2]
  if (rest.length >= 2) info.name = rest[1]
  info.resource = rest[0] ?? ''

  // Only a collection GET becomes a watch; a GET of one object with ?watch answers the object, as kube's does.
  if (!info.name && verb === 'get') verb = isWatchRequest(url.searchParams) ? 'watch' : 'list'
  if (!info.name && verb === 'delete') verb = 'deletecollection'
  info.verb = verb
  if ((verb === 'list' || verb === 'watch') && !info.name)
    info.selectorName = exactNameSelector(fieldSelectorOf(url.searchParams))
  return info
}

/** Options the parameter codec cannot decode (limit=abc, say) pin no name: the handler answers them with 400. */
function fieldSelectorOf(query: URLSearchParams): string {
  try {
    return decodeListOptions(query).fieldSelector
  } catch {
    return ''
  }
}

/** fields.Selector.RequiresExactMatch("metadata.name"), for a name that is a valid path segment. */
function exactNameSelector(selector: string): string {
  for (const term of selector.split(/(?<!\\),/)) {
    const m = /^metadata\.name(==|=)(.*)$/.exec(term)
    if (!m) continue
    const name = m[2].replace(/\\(.)/g, '$1')
    if (name && name !== '.' && name !== '..' && !/[/%]/.test(name)) return name
  }
  return ''
}

/** WithRequestInfo: what the request is about, for every later filter. */
export function withRequestInfo(): MiddlewareHandler<{ Variables: { info: RequestInfo } }> {
  return async (c, next) => {
    c.set('info', parseRequestInfo(c.req.method, requestURL(c.req.raw)))
    await next()
  }
}

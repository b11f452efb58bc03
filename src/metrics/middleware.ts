// The request metrics of k8s.io/apiserver/pkg/endpoints/metrics: apiserver_request_total,
// apiserver_request_duration_seconds, apiserver_response_sizes (GET and LIST only),
// apiserver_longrunning_requests (watches and connections, while they last) and
// apiserver_current_inflight_requests (InflightRequests), in the series of the request's cluster.
//
// As in kube-apiserver, a request is counted once it reaches a handler: one that authentication or
// authorization turned away is counted by authentication_attempts (and not here), and /metrics itself is
// not instrumented. A long-running request is counted when it ends, as kube's InstrumentRouteFunc does.
import type { Context, MiddlewareHandler } from 'hono'
import type { RequestInfo } from '../server/filters/request-info'
import type { ApiserverMetrics } from './apiserver'
import { knownSize } from './response-size'
import { requestURL } from '../server/request-url'

const VALID_VERBS = new Set([
  'APPLY',
  'CONNECT',
  'CREATE',
  'DELETE',
  'DELETECOLLECTION',
  'GET',
  'LIST',
  'PATCH',
  'POST',
  'PROXY',
  'PUT',
  'UPDATE',
  'WATCH',
  'WATCHLIST',
])
const CONNECT_SUBRESOURCES = new Set(['log', 'exec', 'portforward', 'attach', 'proxy'])
const READ_ONLY_VERBS = new Set(['get', 'list', 'watch'])
/** Paths kube-apiserver serves without the request metrics (its /metrics handlers are plain mux handlers). */
const UNINSTRUMENTED = new Set(['/metrics', '/metrics/slis'])

export interface RequestLabels {
  verb: string
  dryRun: string
  group: string
  version: string
  resource: string
  subresource: string
  scope: string
  component: string
}

/** metrics.CleanScope. */
export function cleanScope(info: RequestInfo): string {
  // kube's RequestInfo.Name carries a metadata.name field selector's name for lists and watches.
  if (info.name || info.selectorName || info.verb === 'create') return 'resource'
  if (info.namespace) return 'namespace'
  if (info.isResourceRequest) return 'cluster'
  return ''
}

/** cleanVerb(CanonicalVerb(method, scope), ...): LIST from GET, WATCH, APPLY, CONNECT, else the method. */
export function reportedVerb(req: Request, url: URL, info: RequestInfo, scope: string): string {
  const method = req.method.toUpperCase()
  let verb =
    (method === 'GET' || method === 'HEAD') && scope !== 'resource' && scope !== ''
      ? 'LIST'
      : method
  if (method === 'HEAD') verb = verb === 'LIST' ? 'LIST' : 'GET'
  if (info.verb === 'watch') return 'WATCH'
  if (method === 'GET' && isTrue(url.searchParams.get('watch'))) verb = 'WATCH'
  if (verb === 'WATCHLIST') verb = 'WATCH'
  if (verb === 'PATCH' && req.headers.get('content-type') === 'application/apply-patch+yaml')
    verb = 'APPLY'
  if (info.isResourceRequest && CONNECT_SUBRESOURCES.has(info.subresource)) verb = 'CONNECT'
  return VALID_VERBS.has(verb) ? verb : 'other'
}

/** apimachinery's Convert_Slice_string_To_bool: anything but "0" and "false" is true. */
function isTrue(v: string | null): boolean {
  if (v === null) return false
  const s = v.toLowerCase()
  return s !== '0' && s !== 'false'
}

/** metrics.cleanDryRun: the sorted distinct values, or "invalid" unless each is "All". */
export function cleanDryRun(url: URL): string {
  if (!url.search.includes('dryRun')) return ''
  const values = url.searchParams.getAll('dryRun')
  if (values.some((v) => v !== 'All')) return 'invalid'
  return [...new Set(values)].sort().join(',')
}

export function requestLabels(req: Request, url: URL, info: RequestInfo): RequestLabels {
  const scope = cleanScope(info)
  const verb = reportedVerb(req, url, info, scope)
  if (info.isResourceRequest) {
    return {
      verb,
      dryRun: cleanDryRun(url),
      group: info.apiGroup,
      version: info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
      scope,
      component: 'apiserver',
    }
  }
  // Non-resource handlers are instrumented with the path as the subresource; the health checks' without a
  // component (healthz.InstallHandler passes none).
  const health = /^\/(healthz|livez|readyz)(\/|$)/.test(info.path)
  return {
    verb,
    dryRun: cleanDryRun(url),
    group: '',
    version: '',
    resource: '',
    subresource: info.path,
    scope,
    component: health ? '' : 'apiserver',
  }
}

export interface RequestMetricsOptions {
  /** The series of the request's cluster (its ClusterContext's). */
  metrics(c: Context): ApiserverMetrics
  /** Called once a request's counts are recorded (the edge schedules their flush to the cluster). */
  recorded?(c: Context): void
}

/** Whether the request reached a handler (authenticated and authorized), as the metrics middleware asks. */
export const REACHED_HANDLER = 'reachedHandler'
/**
 * Whether API priority and fairness answered 429: kube's RecordDroppedRequest counts such a request in
 * apiserver_request_total (code 429, no duration) and apiserver_request_terminations_total.
 */
export const DROPPED_BY_APF = 'droppedByPriorityAndFairness'

export function requestMetrics(opts: RequestMetricsOptions): MiddlewareHandler {
  return async (c, next) => {
    const info = c.get('info') as RequestInfo
    if (UNINSTRUMENTED.has(info.path)) return next()
    const m = opts.metrics(c)
    const inflight = m.inflight
    const start = performance.now()
    const url = requestURL(c.req.raw)
    const labels = requestLabels(c.req.raw, url, info)
    const longRunning = labels.verb === 'WATCH' || labels.verb === 'CONNECT'
    const kind = READ_ONLY_VERBS.has(info.verb) && info.verb !== 'watch' ? 'readOnly' : 'mutating'
    // The labels of apiserver_longrunning_requests and apiserver_response_sizes.
    const endpoint = [
      labels.verb,
      labels.group,
      labels.version,
      labels.resource,
      labels.subresource,
      labels.scope,
      labels.component,
    ]
    if (longRunning) m.longRunning.inc(endpoint)
    else inflight.begin(kind)
    try {
      await next()
    } finally {
      if (!longRunning) inflight.end(kind)
    }
    const res = c.res
    const counted =
      c.get(REACHED_HANDLER as never) === true && (info.isResourceRequest || res.status !== 404)
    const record = (size?: number) => {
      if (c.get(DROPPED_BY_APF as never) === true) {
        // RecordDroppedRequest: a non-resource request's labels are empty but for verb and scope.
        const sub = info.isResourceRequest ? labels.subresource : ''
        const where = [
          labels.group,
          labels.version,
          labels.resource,
          sub,
          labels.scope,
          'apiserver',
        ]
        m.requestTotal.inc([labels.verb, labels.dryRun, ...where, '429'])
        m.apf.requestTerminations.inc([labels.verb, ...where, '429'])
      }
      if (counted) {
        const base = [
          labels.verb,
          labels.dryRun,
          labels.group,
          labels.version,
          labels.resource,
          labels.subresource,
          labels.scope,
          labels.component,
        ]
        m.requestTotal.inc([...base, String(res.status)])
        m.requestDuration.observe(base, (performance.now() - start) / 1000)
        if (size !== undefined) {
          m.responseSizes.observe(endpoint, size)
        }
      }
      opts.recorded?.(c)
    }
    if (longRunning) {
      if (!res.body || res.status === 101) {
        m.longRunning.dec(endpoint)
        record()
        return
      }
      // The request lasts as long as its stream: count it when the stream ends or the client goes.
      let done = false
      const finish = () => {
        if (done) return
        done = true
        m.longRunning.dec(endpoint)
        record()
      }
      const relay = new TransformStream<Uint8Array, Uint8Array>({ flush: finish })
      res.body.pipeTo(relay.writable).catch(finish)
      replaceResponse(c, new Response(relay.readable, res))
      return
    }
    // kube observes response sizes of reads only; reading the body here also gives it a Content-Length.
    // The known size first: touching res.body makes @hono/node-server build the real Response and
    // stream its bytes instead of writing them at once (a third of a GET's CPU in Node mode).
    const read = labels.verb === 'GET' || labels.verb === 'LIST'
    if (read && counted && res.status !== 204 && res.status !== 304) {
      const known = knownSize(res)
      if (known !== undefined) {
        record(known)
        return
      }
      if (res.body) {
        // A body not made by respond() (protobuf, text): read it once, which also gives it a Content-Length.
        const body = await res.arrayBuffer()
        replaceResponse(c, new Response(body, res))
        record(body.byteLength)
        return
      }
    }
    record()
  }
}

/** Hono's c.res setter copies a replaced response once more (body and headers); this one has them all. */
function replaceResponse(c: Context, res: Response): void {
  c.res = undefined
  c.res = res
}

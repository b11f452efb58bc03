// The API priority and fairness filter (k8s.io/apiserver's WithPriorityAndFairness), between impersonation
// and authorization as kube-apiserver's DefaultBuildHandlerChain places it: each request is classified
// (X-Kubernetes-PF-FlowSchema-UID / -PriorityLevel-UID on its response), waits for a seat of its priority
// level, or is answered 429 with Retry-After. A watch holds its seat only while it starts (until its
// response begins), as kube's does for the watch's initialization; other long-running requests (exec,
// attach, port-forward, proxy, log) are not tracked at all.
import type { Context, MiddlewareHandler } from 'hono'
import type { Registry } from '../../registry/registry'
import type { UserInfo } from '../../registry/types'
import type { Store } from '../../storage/store'
import type { FlowControl } from '../../flowcontrol/controller'
import type { RequestInfo } from './request-info'
import { isLongRunning } from './request-deadline'
import { DROPPED_BY_APF } from '../../metrics/middleware'

export const FLOW_SCHEMA_UID_HEADER = 'X-Kubernetes-PF-FlowSchema-UID'
export const PRIORITY_LEVEL_UID_HEADER = 'X-Kubernetes-PF-PriorityLevel-UID'

type Vars = { Variables: { info: RequestInfo; user: UserInfo; store: Store } }

function withHeaders(res: Response, headers: Record<string, string>): Response {
  try {
    for (const [k, v] of Object.entries(headers)) res.headers.set(k, v)
    return res
  } catch {
    // A response with immutable headers (one passed through from a fetch): copy it.
    const copy = new Response(res.body, res)
    for (const [k, v] of Object.entries(headers)) copy.headers.set(k, v)
    return copy
  }
}

/** http.Error's answer, as kube's tooManyRequests writes it: plain text, not a Status. */
function tooManyRequests(retryAfterSeconds: number, headers: Record<string, string>): Response {
  return new Response('Too many requests, please try again later.\n', {
    status: 429,
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Retry-After': String(retryAfterSeconds),
      ...headers,
    },
  })
}

const FLOWCONTROL_GROUP = 'flowcontrol.apiserver.k8s.io'
const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection'])

/**
 * A FlowSchema or PriorityLevelConfiguration write: once answered, the configuration is read again
 * before the next request is classified (kube's configuration controller sees it from its informers).
 */
function changesConfiguration(info: RequestInfo): boolean {
  return (
    info.isResourceRequest &&
    info.apiGroup === FLOWCONTROL_GROUP &&
    (info.resource === 'flowschemas' || info.resource === 'prioritylevelconfigurations') &&
    WRITE_VERBS.has(info.verb)
  )
}

export function priorityAndFairness(
  // Of the request's cluster (src/server/cluster.ts): its configuration, seats and kinds.
  flowControl: (c: Context) => FlowControl | undefined,
  registryOf: (c: Context) => Registry,
): MiddlewareHandler<Vars> {
  return async (c, next) => {
    const apf = flowControl(c)
    const registry = registryOf(c)
    const info = c.get('info')
    if (!apf || (isLongRunning(info) && info.verb !== 'watch')) return next()
    await apf.refresh(registry, c.get('store'), (p) => {
      try {
        c.executionCtx.waitUntil(p)
      } catch {
        // Node mode and tests have no execution context: the load runs on by itself.
      }
    })
    const admission = await apf.admit(c.get('user'), info, () => c.req.raw.signal)
    const headers: Record<string, string> = {}
    const fsUID = admission.flowSchema.metadata?.uid
    const plUID = admission.priorityLevel.metadata?.uid
    if (fsUID) headers[FLOW_SCHEMA_UID_HEADER] = fsUID
    if (plUID) headers[PRIORITY_LEVEL_UID_HEADER] = plUID
    if (!admission.executed) {
      c.set(DROPPED_BY_APF as never, true as never)
      c.res = tooManyRequests(admission.retryAfterSeconds, headers)
      return
    }
    try {
      await next()
    } finally {
      admission.finish()
    }
    if (changesConfiguration(info) && c.res.status < 300) apf.noteWrite()
    // Hono's c.res setter copies the response: assign only when the headers could not be set in place.
    const res = withHeaders(c.res, headers)
    if (res !== c.res) c.res = res
  }
}

export interface PriorityAndFairnessOptions {
  /** --max-requests-inflight (kube's default 400). */
  maxRequestsInflight: number
  /** --max-mutating-requests-inflight (kube's default 200). */
  maxMutatingRequestsInflight: number
  /** --request-timeout: a request waits in a queue at most a quarter of it, as in kube. */
  requestTimeoutMs: number
}

/**
 * One FlowControl per configuration, kept across requests (its queues and seats live in this process or
 * isolate); undefined turns priority and fairness off.
 */
export function flowControlFor(
  options: (env: unknown) => PriorityAndFairnessOptions | undefined,
  make: (o: { serverConcurrencyLimit: number; requestWaitLimitMs: number }) => FlowControl,
): (env: unknown) => FlowControl | undefined {
  let held: { key: string; fc: FlowControl } | undefined
  // The same bindings object from request to request (a Worker isolate's): its answer is kept.
  let last: { env: unknown; fc: FlowControl | undefined } | undefined
  return (env) => {
    if (last && last.env === env && env !== undefined) return last.fc
    const fc = forOptions(options(env))
    last = { env, fc }
    return fc
  }
  function forOptions(o: PriorityAndFairnessOptions | undefined): FlowControl | undefined {
    if (!o) return undefined
    const key = JSON.stringify(o)
    if (held?.key !== key) {
      held = {
        key,
        fc: make({
          serverConcurrencyLimit: o.maxRequestsInflight + o.maxMutatingRequestsInflight,
          requestWaitLimitMs: Math.max(1000, (o.requestTimeoutMs || 60_000) / 4),
        }),
      }
    }
    return held.fc
  }
}

const DUMPS = new Set(['dump_priority_levels', 'dump_queues', 'dump_requests'])

/** /debug/api_priority_and_fairness/<dump>: kube's plain-text tables; 404 for any other name. */
export function serveFlowControlDump(fc: FlowControl | undefined, dump: string, url: URL) {
  if (!fc || !DUMPS.has(dump)) return undefined
  const text =
    dump === 'dump_priority_levels'
      ? fc.dumpPriorityLevels()
      : dump === 'dump_queues'
        ? fc.dumpQueues()
        : fc.dumpRequests(!!url.searchParams.get('includeRequestDetails'))
  return new Response(text, { headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
}

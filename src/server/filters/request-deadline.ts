// kube-apiserver's WithRequestDeadline and WithTimeoutForNonLongRunningRequests
// (k8s.io/apiserver/pkg/endpoints/filters/request_deadline.go, pkg/server/filters/timeout.go): a request
// that is not long-running gets a deadline of --request-timeout, or the shorter `?timeout=` it asks for,
// and is answered 504 when it runs over. Long-running requests (watches, proxy, exec, attach, log,
// port-forward) have none.
import { isStorageAdminPath } from '../../api/storage-admin'
import type { MiddlewareHandler } from 'hono'
import { respondError } from '../../api/negotiation'
import { GoDurationError, parseGoDuration } from '../../go/duration'
import { readTimeout, writeTimeout } from '../../registry/store-errors'
import { badRequest } from '../errors'
import type { RequestInfo } from './request-info'
import { requestURL } from '../request-url'

/** The context variable of a request's deadline (epoch ms), for the handlers that pass it to the store. */
export const REQUEST_DEADLINE = 'requestDeadline'

/** kube-apiserver's --request-timeout default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000

const LONG_RUNNING_VERBS = new Set(['watch', 'proxy'])
const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'proxy', 'log', 'portforward'])

/** genericfilters.BasicLongRunningRequestCheck with kube-apiserver's verbs and subresources. */
export function isLongRunning(info: RequestInfo): boolean {
  if (LONG_RUNNING_VERBS.has(info.verb)) return true
  if (!info.isResourceRequest && isStorageAdminPath(info.path)) return true
  return info.isResourceRequest && LONG_RUNNING_SUBRESOURCES.has(info.subresource)
}

/**
 * The request's deadline in milliseconds: `maxMs`, or the request's own `timeout` when it is shorter and
 * above zero (`timeout=0s` asks for none of its own). A `timeout` Go cannot parse is 400, in kube's words.
 */
export function requestDeadlineMs(query: URLSearchParams, maxMs: number): number {
  const value = query.get('timeout')
  if (!value) return maxMs
  let asked: number
  try {
    asked = parseGoDuration(value)
  } catch (e) {
    if (e instanceof GoDurationError)
      throw badRequest(`invalid timeout specified in the request URL - ${e.message}`)
    throw e
  }
  return asked > 0 && asked < maxMs ? asked : maxMs
}

/**
 * `info` must be set before this runs. A write is answered by its handler's finisher at the deadline
 * (a full Status); a read by the timeout filter (the bare Status, which client-go cannot decode).
 */
export function withRequestDeadline(
  maxMs: number,
): MiddlewareHandler<{ Variables: { info: RequestInfo; [REQUEST_DEADLINE]: number } }> {
  return async (c, next) => {
    if (maxMs <= 0 || isLongRunning(c.get('info'))) return next()
    const ms = requestDeadlineMs(requestURL(c.req.raw).searchParams, maxMs)
    c.set(REQUEST_DEADLINE, Date.now() + ms)
    let stopTimer = () => {}
    const deadline = new Promise<'deadline'>((resolve) => {
      const timer = setTimeout(() => resolve('deadline'), ms)
      stopTimer = () => clearTimeout(timer)
    })
    try {
      const served = next()
      served.catch(() => {}) // a handler failing after the deadline has no one left to answer
      if ((await Promise.race([served, deadline])) === 'deadline') {
        const read = c.req.method === 'GET' || c.req.method === 'HEAD'
        c.res = respondError(read ? readTimeout() : writeTimeout(), c.req.header('accept'))
      }
    } finally {
      stopTimer()
    }
  }
}

// The audit filters of k8s.io/apiserver: WithAuditInit (every response carries the request's Audit-ID, the
// client's own when it sent one), WithAudit (the policy decides, after authentication, what to record; the
// event is written at RequestReceived, at ResponseStarted for long-running requests, and at
// ResponseComplete or Panic) and WithFailedAuthenticationAudit (a 401 is recorded at ResponseStarted).
import type { Context, MiddlewareHandler } from 'hono'
import type { AuditBackend } from '../../audit/backend'
import { nowMs, sourceIPs } from '../../audit/event'
import type { PolicyRuleEvaluator } from '../../audit/policy'
import { RequestAudit, type AuditObserver } from '../../audit/request'
import { interpretStrayStoreError } from '../../registry/store-errors'
import type { UserInfo } from '../../registry/types'
import { StatusError } from '../errors'
import { mediaType } from '../../api/negotiation'
import { decodeProtobufObject, PROTOBUF_MEDIA_TYPE } from '../../api/protobuf/envelope'
import { yamlToJson } from '../../api/yaml'
import type { RequestInfo } from './request-info'
import { requestAttributes } from './authorization'
import { requestURL } from '../request-url'
import { errorText } from '../../util/errors'

export const HEADER_AUDIT_ID = 'Audit-ID'

export interface AuditConfig {
  evaluator: PolicyRuleEvaluator
  backend: AuditBackend
  observer?: AuditObserver
}

export interface AuditOptions {
  /** The policy and backends for this request's cluster; none: nothing is audited. */
  config(c: Context): AuditConfig | undefined
  /** The connection's address (Node mode), for sourceIPs after the forwarding headers. */
  remoteAddress?(c: Context): string | undefined
  /** Keeps delivery going past the response (the Worker's waitUntil). */
  defer?(c: Context, p: Promise<void>): void
  /** Where a request's audit counts go (its cluster's series); the configuration's observer otherwise. */
  observer?(c: Context): AuditObserver
}

export type AuditVariables = { audit?: RequestAudit; info: RequestInfo; user?: UserInfo }

/** BasicLongRunningRequestCheck(watch, proxy; attach, exec, proxy, log, portforward). */
const LONG_RUNNING_VERBS = new Set(['watch', 'proxy'])
const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'proxy', 'log', 'portforward'])

export function isLongRunning(info: RequestInfo): boolean {
  return (
    LONG_RUNNING_VERBS.has(info.verb) ||
    (info.isResourceRequest && LONG_RUNNING_SUBRESOURCES.has(info.subresource))
  )
}

export function withAudit(opts: AuditOptions): MiddlewareHandler<{ Variables: AuditVariables }> {
  return async (c, next) => {
    const auditID = c.req.header(HEADER_AUDIT_ID) || crypto.randomUUID()
    const cfg = opts.config(c)
    if (!cfg) {
      await next()
      keepResponse(c, withAuditID(c.res, auditID))
      return
    }
    const received = nowMs()
    const info = c.get('info')
    const url = requestURL(c.req.raw)
    const audit = new RequestAudit(
      cfg.evaluator,
      cfg.backend,
      auditID,
      received,
      {
        requestURI: url.pathname + url.search,
        headers: c.req.raw.headers,
        sourceIPs: () => sourceIPs(c.req.raw.headers, opts.remoteAddress?.(c)),
        attributes: (user) => requestAttributes(user, info),
      },
      opts.observer?.(c) ?? cfg.observer,
    )
    c.set('audit', audit)
    await next()
    let res = withAuditID(c.res, auditID)
    if (!audit.event) {
      // The request never reached WithAudit: a failed authentication is recorded on its own.
      if (res.status === 401 && !c.get('user') && !audit.config) {
        audit.begin({ username: '', groups: [] }, { failedAuthentication: true })
        await logResponse(audit, res, false)
        audit.process('ResponseStarted')
        deliver(opts, c, cfg.backend)
      }
      keepResponse(c, res)
      return
    }
    const err = c.error
    if (err && !(err instanceof StatusError) && interpretStrayStoreError(err, 'GET') === err) {
      // A handler that failed unexpectedly: kube's panic recovery, which the Panic stage records.
      audit.event.responseStatus = {
        code: 500,
        status: 'Failure',
        reason: 'InternalError',
        message: `APIServer panic'd: ${errorText(err)}`,
      }
      audit.process('Panic')
      deliver(opts, c, cfg.backend)
      keepResponse(c, res)
      return
    }
    const longRunning = isLongRunning(info)
    await logResponse(audit, res, longRunning)
    if (longRunning) {
      audit.process('ResponseStarted')
      if (res.body && res.status !== 101) {
        // The request lasts as long as its stream: ResponseComplete when it ends or the client goes.
        let done = false
        const finish = () => {
          if (done) return
          done = true
          audit.process('ResponseComplete')
          deliver(opts, c, cfg.backend)
        }
        const relay = new TransformStream<Uint8Array, Uint8Array>({ flush: finish })
        res.body.pipeTo(relay.writable).catch(finish)
        keepResponse(c, new Response(relay.readable, res))
        deliver(opts, c, cfg.backend)
        return
      }
    }
    audit.process('ResponseComplete')
    deliver(opts, c, cfg.backend)
    keepResponse(c, res)
  }
}

/**
 * Makes res the response, which has every header of the one it replaces (or is it). Hono's c.res setter
 * copies whatever it is given (the body and every header) when a response is already set; a copy per
 * request also lost the body's known size, so the metrics filter read every GET's body once more.
 */
function keepResponse(c: Context, res: Response): void {
  if (res === c.res) return
  c.res = undefined
  c.res = res
}

/** The Audit-ID response header (WithAuditInit), on a response whose headers may be immutable. */
function withAuditID(res: Response, auditID: string): Response {
  // A protocol switch's response is the runtime's to keep (workerd's carries its WebSocket).
  if (res.status === 101) return res
  try {
    res.headers.set(HEADER_AUDIT_ID, auditID)
    return res
  } catch {
    const copy = new Response(res.body, res)
    copy.headers.set(HEADER_AUDIT_ID, auditID)
    return copy
  }
}

/**
 * What WriteObjectNegotiated hands LogResponseObject: the body's object, read back from the response
 * (JSON, YAML or protobuf, as negotiated; kube logs it as JSON whatever went out) when the level keeps
 * it, or when it may be a Status (an error, or a delete's answer).
 */
async function logResponse(audit: RequestAudit, res: Response, longRunning: boolean) {
  const ev = audit.event!
  const code = res.status
  const type = mediaType(res.headers.get('content-type'))
  const wanted =
    !longRunning &&
    res.body &&
    OBJECT_MEDIA_TYPES.has(type) &&
    (ev.level === 'RequestResponse' || code >= 300 || ev.verb.startsWith('delete'))
  if (wanted) {
    try {
      audit.logResponseObject(await readObject(res.clone(), type), code)
    } catch {
      // A body that does not decode is no object to log.
    }
  }
  audit.responseCode(code)
}

const OBJECT_MEDIA_TYPES = new Set(['application/json', 'application/yaml', PROTOBUF_MEDIA_TYPE])

async function readObject(res: Response, type: string): Promise<unknown> {
  if (type === PROTOBUF_MEDIA_TYPE)
    return decodeProtobufObject(new Uint8Array(await res.arrayBuffer()))
  const text = await res.text()
  return type === 'application/yaml' ? yamlToJson(text) : JSON.parse(text)
}

function deliver(opts: AuditOptions, c: Context, backend: AuditBackend): void {
  if (opts.defer && backend.delivered) opts.defer(c, backend.delivered())
}

// The audit.k8s.io/v1 Event and how it is written: fields in the order of kube's Go struct (its JSON
// encoder's order), empty ones left out as its omitempty tags say, times as metav1.MicroTime
// (RFC 3339 in UTC with microseconds).
import type { UserInfo } from '../registry/types'
import type { Level, Stage } from './policy'

export interface ObjectReference {
  resource?: string
  namespace?: string
  name?: string
  uid?: string
  apiGroup?: string
  apiVersion?: string
  resourceVersion?: string
  subresource?: string
}

/** metav1.Status as an event carries it: its bounded fields only. */
export interface ResponseStatus {
  status?: string
  message?: string
  reason?: string
  details?: unknown
  code: number
}

export interface AuditEvent {
  level: Level
  auditID: string
  stage: Stage
  requestURI: string
  verb: string
  user: UserInfo
  impersonatedUser?: UserInfo
  sourceIPs: string[]
  userAgent: string
  objectRef?: ObjectReference
  responseStatus?: ResponseStatus
  requestObject?: unknown
  responseObject?: unknown
  /** Milliseconds since the epoch, with the microseconds performance.now() adds. */
  requestReceivedTimestamp: number
  stageTimestamp: number
  annotations: Record<string, string>
}

/** metav1.MicroTime's JSON: 2006-01-02T15:04:05.000000Z07:00, in UTC. */
export function microTime(ms: number): string {
  const whole = Math.floor(ms)
  const micros = Math.floor((ms - whole) * 1000)
  const iso = new Date(whole).toISOString() // ...T15:04:05.123Z
  return `${iso.slice(0, 23)}${String(micros).padStart(3, '0')}Z`
}

/**
 * Now, with the microseconds the platform gives: Node's performance clock counts from timeOrigin; workerd's
 * counts from the epoch (timeOrigin 0) and moves only between I/O, as its Date does.
 */
export function nowMs(): number {
  return Math.max(performance.timeOrigin + performance.now(), Date.now())
}

function userInfo(u: UserInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (u.username) out.username = u.username
  if (u.uid) out.uid = u.uid
  if (u.groups?.length) out.groups = u.groups
  if (u.extra && Object.keys(u.extra).length) out.extra = u.extra
  return out
}

function objectRef(r: ObjectReference): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of [
    'resource',
    'namespace',
    'name',
    'uid',
    'apiGroup',
    'apiVersion',
    'resourceVersion',
    'subresource',
  ] as const)
    if (r[k]) out[k] = r[k]
  return out
}

function responseStatus(s: ResponseStatus): Record<string, unknown> {
  // ListMeta is not omitempty: kube writes "metadata":{} in every Status.
  const out: Record<string, unknown> = { metadata: {} }
  if (s.status) out.status = s.status
  if (s.message) out.message = s.message
  if (s.reason) out.reason = s.reason
  if (s.details !== undefined && s.details !== null) out.details = s.details
  if (s.code) out.code = s.code
  return out
}

/** The event as kube's JSON encoder writes it, one line. */
export function eventJSON(ev: AuditEvent): string {
  const out: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: ev.level,
    auditID: ev.auditID,
    stage: ev.stage,
    requestURI: ev.requestURI,
    verb: ev.verb,
    user: userInfo(ev.user),
  }
  if (ev.impersonatedUser) out.impersonatedUser = userInfo(ev.impersonatedUser)
  if (ev.sourceIPs.length) out.sourceIPs = ev.sourceIPs
  if (ev.userAgent) out.userAgent = ev.userAgent
  if (ev.objectRef) out.objectRef = objectRef(ev.objectRef)
  if (ev.responseStatus) out.responseStatus = responseStatus(ev.responseStatus)
  if (ev.requestObject !== undefined) out.requestObject = ev.requestObject
  if (ev.responseObject !== undefined) out.responseObject = ev.responseObject
  out.requestReceivedTimestamp = microTime(ev.requestReceivedTimestamp)
  out.stageTimestamp = microTime(ev.stageTimestamp)
  if (Object.keys(ev.annotations).length) out.annotations = ev.annotations
  return JSON.stringify(out)
}

/** An EventList of events already written as JSON, as the webhook backend posts them. */
export function eventListJSON(events: string[]): string {
  return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${events.join(',')}]}`
}

const MAX_USER_AGENT_LENGTH = 1024

/** maybeTruncateUserAgent. */
export function auditUserAgent(ua: string | null): string {
  if (!ua) return ''
  return ua.length > MAX_USER_AGENT_LENGTH
    ? `${ua.slice(0, MAX_USER_AGENT_LENGTH)}...TRUNCATED`
    : ua
}

/**
 * utilnet.SourceIPs: the X-Forwarded-For chain, then X-Real-Ip, then the connection's address, each once.
 */
export function sourceIPs(headers: Headers, remote: string | undefined): string[] {
  const ips: string[] = []
  const add = (ip: string) => {
    const v = ip.trim()
    if (v && isIP(v) && !ips.includes(v)) ips.push(v)
  }
  for (const ip of (headers.get('x-forwarded-for') ?? '').split(',')) add(ip)
  add(headers.get('x-real-ip') ?? '')
  if (remote) add(remote.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ''))
  return ips
}

function isIP(s: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((p) => Number(p) <= 255)
  return s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s)
}

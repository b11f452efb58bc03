// One request's audit context (k8s.io/apiserver/pkg/audit's AuditContext and request.go): the policy's
// decision for it, its event, and what the layers below add to it — the impersonated user, the
// authorization decision, admission's annotations, the request and response objects — written to the
// backend at each stage the policy does not omit.
import type { Attributes } from '../auth/authorizer'
import type { KubeObject, UserInfo } from '../registry/types'
import type { AuditBackend } from './backend'
import { internalError } from '../server/errors'
import { auditUserAgent, eventJSON, nowMs, type AuditEvent, type ResponseStatus } from './event'
import {
  levelAtLeast,
  type PolicyRuleEvaluator,
  type RequestAuditConfig,
  type Stage,
} from './policy'

/** What the handlers below the filter record (RequestContext.audit). */
export interface AuditRecorder {
  /** LogRequestObject: the decoded create or update body; fills objectRef from its metadata. */
  logRequestObject(obj: KubeObject, defaults?: (obj: KubeObject) => void): void
  /** LogRequestPatch: a patch body as sent (read only when the level keeps it). */
  logRequestPatch(patch: () => unknown): void
}

/** Metrics the audit layer keeps (apiserver_audit_*), counted by whoever builds the filter. */
export interface AuditObserver {
  event?(): void
  level?(level: string): void
  rejected?(): void
}

/** What the filter knows of the request before authentication. */
export interface AuditedRequest {
  requestURI: string
  headers: Headers
  sourceIPs(): string[]
  /** The authorizer attributes of the request made by this user. */
  attributes(user: UserInfo): Attributes
}

const PATCH_ANNOTATION_PREFIX = 'patch.webhook.admission.k8s.io/'

export class RequestAudit implements AuditRecorder {
  config?: RequestAuditConfig
  event?: AuditEvent
  /** Admission's annotations (RequestContext.auditAnnotations), joined to the event's at each stage. */
  readonly admissionAnnotations: Record<string, string> = {}

  constructor(
    private readonly evaluator: PolicyRuleEvaluator,
    private readonly backend: AuditBackend,
    readonly auditID: string,
    private readonly receivedAt: number,
    private readonly request: AuditedRequest,
    private readonly observer: AuditObserver = {},
  ) {}

  get level() {
    return this.event?.level ?? 'None'
  }

  /**
   * WithAudit, after authentication: the policy decides on the authenticated user's request (before
   * impersonation), and a request it audits gets its event and the RequestReceived stage.
   */
  begin(user: UserInfo, opts: { failedAuthentication?: boolean } = {}): void {
    const attrs = this.request.attributes(user)
    const req = this.request
    const config = this.evaluator.evaluate(attrs)
    this.config = config
    this.observer.level?.(config.level)
    if (config.level === 'None') return
    this.event = {
      level: config.level,
      auditID: this.auditID,
      stage: 'RequestReceived',
      requestURI: req.requestURI,
      verb: attrs.verb,
      user: attrs.user,
      sourceIPs: req.sourceIPs(),
      userAgent: auditUserAgent(req.headers.get('user-agent')),
      objectRef: attrs.isResourceRequest
        ? {
            resource: attrs.resource,
            namespace: attrs.namespace,
            name: attrs.name,
            apiGroup: attrs.apiGroup,
            apiVersion: attrs.apiVersion,
            subresource: attrs.subresource,
          }
        : undefined,
      requestReceivedTimestamp: this.receivedAt,
      stageTimestamp: this.receivedAt,
      annotations: {},
    }
    // WithFailedAuthenticationAudit writes its event once, at ResponseStarted. A RequestReceived event the
    // backend could not take fails the request, as WithAudit does.
    if (!opts.failedAuthentication && !this.process('RequestReceived')) {
      this.observer.rejected?.()
      throw internalError(new Error('failed to store audit event'))
    }
  }

  /** LogImpersonatedUser. */
  impersonated(user: UserInfo): void {
    if (this.event) this.event.impersonatedUser = user
  }

  /** AddAuditAnnotation: a key already set keeps its first value, as kube's does. */
  annotate(key: string, value: string): void {
    if (this.event && !(key in this.event.annotations)) this.event.annotations[key] = value
  }

  logRequestObject(obj: KubeObject, defaults?: (obj: KubeObject) => void): void {
    const ev = this.event
    if (!ev) return
    const ref = (ev.objectRef ??= {})
    const meta = obj.metadata
    if (meta) {
      ref.namespace ||= meta.namespace
      ref.name ||= meta.name
      ref.uid ||= meta.uid
      ref.resourceVersion ||= meta.resourceVersion
    }
    if (!levelAtLeast(ev.level, 'Request')) return
    // Decoding defaults the object in kube before it is logged; the handlers default later, so a copy here.
    const copy = structuredClone(obj)
    defaults?.(copy)
    ev.requestObject = this.config?.omitManagedFields ? withoutManagedFields(copy) : copy
  }

  logRequestPatch(patch: () => unknown): void {
    if (this.event && levelAtLeast(this.event.level, 'Request')) this.event.requestObject = patch()
  }

  /**
   * LogResponseObject: a Status gives the event its bounded fields at every level; the object itself is
   * kept from RequestResponse on.
   */
  logResponseObject(obj: unknown, code: number): void {
    const ev = this.event
    if (!ev) return
    const o = obj as Record<string, unknown> | undefined
    if (o && o.kind === 'Status' && typeof o.code === 'number')
      ev.responseStatus = {
        status: o.status as string | undefined,
        message: o.message as string | undefined,
        reason: o.reason as string | undefined,
        details: o.details,
        code,
      }
    if (o !== undefined && levelAtLeast(ev.level, 'RequestResponse'))
      ev.responseObject = this.config?.omitManagedFields ? withoutManagedFields(o) : o
  }

  /** The status line is written (auditResponseWriter.processCode). */
  responseCode(code: number): void {
    const ev = this.event
    if (!ev) return
    ev.responseStatus = { ...(ev.responseStatus ?? {}), code } as ResponseStatus
  }

  /**
   * processAuditEvent: unless the policy omits the stage, stamp it and hand the event to the backend;
   * false when the backend could not take it.
   */
  process(stage: Stage): boolean {
    const ev = this.event
    if (!ev || !this.config) return true
    ev.stage = stage
    if (this.config.omitStages.includes(stage)) return true
    ev.stageTimestamp = stage === 'RequestReceived' ? ev.requestReceivedTimestamp : nowMs()
    const annotations = { ...ev.annotations }
    for (const [k, v] of Object.entries(this.admissionAnnotations)) {
      // The webhook's patch is recorded only from Request on (webhookAnnotator.addPatchAnnotation).
      if (k.startsWith(PATCH_ANNOTATION_PREFIX) && !levelAtLeast(ev.level, 'Request')) continue
      if (!(k in annotations)) annotations[k] = v
    }
    this.observer.event?.()
    return this.backend.processEvents([eventJSON({ ...ev, annotations })])
  }
}

/** copyWithoutManagedFields: the object, each item of a list and each row of a table, without them. */
export function withoutManagedFields(obj: unknown): unknown {
  if (!obj || typeof obj !== 'object') return obj
  const o = obj as Record<string, unknown>
  const strip = (x: unknown): unknown => {
    const r = x as Record<string, unknown> | undefined
    const meta = r?.metadata as Record<string, unknown> | undefined
    if (!meta || !('managedFields' in meta)) return x
    const { managedFields: _m, ...rest } = meta
    return { ...r, metadata: rest }
  }
  let out = strip(o) as Record<string, unknown>
  if (Array.isArray(o.items)) out = { ...out, items: o.items.map(strip) }
  if (o.kind === 'Table' && Array.isArray(o.rows))
    out = {
      ...out,
      rows: (o.rows as Record<string, unknown>[]).map((row) =>
        row.object ? { ...row, object: strip(row.object) } : row,
      ),
    }
  return out
}

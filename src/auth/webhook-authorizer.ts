// The Webhook authorization mode (--authorization-webhook-config-file): a SubjectAccessReview POSTed to a
// configured URL decides. Allowed answers are cached for 5 minutes and denials for 30 seconds by default, as
// kube-apiserver does; a webhook that cannot be reached gives no opinion and an evaluation error.
import type { Attributes, AuthorizationResult, Authorizer, RulesResult } from './authorizer'
import { errorText } from '../util/errors'

export interface WebhookAuthorizerOptions {
  url: string
  bearerToken?: string
  authorizedTTLms?: number
  unauthorizedTTLms?: number
  timeoutMs?: number
  fetch?: typeof fetch
  /** --authorization-webhook-version: v1beta1 names the groups `group`, v1 `groups`. Default v1. */
  version?: 'v1' | 'v1beta1'
}

/** The SubjectAccessReview spec a webhook receives for a request's attributes. */
export function subjectAccessReviewSpec(
  a: Attributes,
  version: 'v1' | 'v1beta1' = 'v1',
): Record<string, unknown> {
  const spec: Record<string, unknown> = {}
  if (a.isResourceRequest) {
    const r: Record<string, string> = {}
    if (a.namespace) r.namespace = a.namespace
    if (a.verb) r.verb = a.verb
    if (a.apiGroup) r.group = a.apiGroup
    if (a.apiVersion) r.version = a.apiVersion
    if (a.resource) r.resource = a.resource
    if (a.subresource) r.subresource = a.subresource
    if (a.name) r.name = a.name
    spec.resourceAttributes = r
  } else {
    spec.nonResourceAttributes = { path: a.path, verb: a.verb }
  }
  spec.user = a.user.username
  if (a.user.groups.length) spec[version === 'v1beta1' ? 'group' : 'groups'] = a.user.groups
  if (a.user.uid) spec.uid = a.user.uid
  if (a.user.extra && Object.keys(a.user.extra).length) spec.extra = a.user.extra
  return spec
}

interface SARStatus {
  allowed?: boolean
  denied?: boolean
  reason?: string
  evaluationError?: string
}

export class WebhookAuthorizer implements Authorizer {
  private cache = new Map<string, { result: AuthorizationResult; until: number }>()

  constructor(readonly options: WebhookAuthorizerOptions) {}

  async authorize(a: Attributes): Promise<AuthorizationResult> {
    const version = this.options.version ?? 'v1'
    const spec = subjectAccessReviewSpec(a, version)
    const key = JSON.stringify(spec)
    const now = Date.now()
    const hit = this.cache.get(key)
    if (hit && hit.until > now) return hit.result

    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    }
    if (this.options.bearerToken) headers.authorization = `Bearer ${this.options.bearerToken}`
    let status: SARStatus
    try {
      const res = await (this.options.fetch ?? fetch)(this.options.url, {
        method: 'POST',
        headers,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        body: JSON.stringify({
          apiVersion: `authorization.k8s.io/${version}`,
          kind: 'SubjectAccessReview',
          spec,
        }),
      })
      if (!res.ok) throw new Error(`the webhook answered ${res.status}`)
      status = ((await res.json()) as { status?: SARStatus }).status ?? {}
    } catch (e) {
      return {
        decision: 'NoOpinion',
        reason: '',
        error: `error contacting the authorization webhook: ${errorText(e)}`,
      }
    }
    const result: AuthorizationResult = {
      decision: status.allowed ? 'Allow' : status.denied ? 'Deny' : 'NoOpinion',
      reason: status.reason ?? '',
    }
    if (status.evaluationError) result.error = status.evaluationError
    const ttl =
      result.decision === 'Allow'
        ? (this.options.authorizedTTLms ?? 300_000)
        : (this.options.unauthorizedTTLms ?? 30_000)
    this.cache.set(key, { result, until: now + ttl })
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!)
    return result
  }

  /** A webhook cannot list what it would allow. */
  async rulesFor(): Promise<RulesResult> {
    return { resourceRules: [], nonResourceRules: [], incomplete: true }
  }
}

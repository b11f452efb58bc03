// The authorization filter (k8s.io/apiserver's WithAuthorization): builds the request's attributes from its
// RequestInfo and the (possibly impersonated) user, asks the configured authorizer, and answers a denial with
// kube-apiserver's Forbidden Status.
import type { MiddlewareHandler } from 'hono'
import { forbiddenError, type Attributes, type Authorizer } from '../../auth/authorizer'
import type { UserInfo } from '../../registry/types'
import { internalError } from '../errors'
import type { RequestInfo } from './request-info'

export function requestAttributes(user: UserInfo, info: RequestInfo): Attributes {
  return {
    user,
    verb: info.verb,
    isResourceRequest: info.isResourceRequest,
    path: info.path,
    apiGroup: info.apiGroup,
    apiVersion: info.apiVersion,
    namespace: info.namespace,
    resource: info.resource,
    subresource: info.subresource,
    name: info.name || info.selectorName,
  }
}

/** Where the decision is recorded for the audit log (audit.AddAuditAnnotations). */
export interface AuthorizationAnnotations {
  annotate(key: string, value: string): void
}

export const DECISION_ANNOTATION_KEY = 'authorization.k8s.io/decision'
export const REASON_ANNOTATION_KEY = 'authorization.k8s.io/reason'

export async function authorize(
  authorizer: Authorizer,
  user: UserInfo,
  info: RequestInfo,
  audit?: AuthorizationAnnotations,
): Promise<void> {
  const a = requestAttributes(user, info)
  const { decision, reason, error } = await authorizer.authorize(a)
  if (decision === 'Allow') {
    audit?.annotate(DECISION_ANNOTATION_KEY, 'allow')
    audit?.annotate(REASON_ANNOTATION_KEY, reason)
    return
  }
  // An authorizer that could not decide (a webhook out of reach) fails the request rather than denying it.
  if (error) {
    audit?.annotate(REASON_ANNOTATION_KEY, 'internal error')
    throw internalError(new Error(error))
  }
  audit?.annotate(DECISION_ANNOTATION_KEY, 'forbid')
  audit?.annotate(REASON_ANNOTATION_KEY, reason)
  throw forbiddenError(a, reason)
}

const PUBLIC_INFO_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/'])

/**
 * What a server without an authorization mode configured does: every authenticated user may do anything, and
 * anonymous requests get only what system:public-info-viewer grants.
 */
export const allowAuthenticated: Authorizer = {
  async authorize(a) {
    if (a.user.groups.includes('system:authenticated')) return { decision: 'Allow', reason: '' }
    if (!a.isResourceRequest && a.verb === 'get' && PUBLIC_INFO_PATHS.has(a.path))
      return { decision: 'Allow', reason: '' }
    return { decision: 'NoOpinion', reason: '' }
  },
}

type AuthorizationVariables = {
  user: UserInfo
  info: RequestInfo
  auth: { authorizer: Authorizer }
  audit?: AuthorizationAnnotations
}

/** WithAuthorization: the request goes on only if the cluster's authorizer allows what it asks. */
export function withAuthorization(): MiddlewareHandler<{ Variables: AuthorizationVariables }> {
  return async (c, next) => {
    await authorize(c.get('auth').authorizer, c.get('user'), c.get('info'), c.get('audit'))
    await next()
  }
}

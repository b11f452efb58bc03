// The authorization filter (k8s.io/apiserver's WithAuthorization): builds the request's attributes from its
// RequestInfo and the (possibly impersonated) user, asks the configured authorizer, and answers a denial with
// kube-apiserver's Forbidden Status.
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

export async function authorize(
  authorizer: Authorizer,
  user: UserInfo,
  info: RequestInfo,
): Promise<void> {
  const a = requestAttributes(user, info)
  const { decision, reason, error } = await authorizer.authorize(a)
  if (decision === 'Allow') return
  // An authorizer that could not decide (a webhook out of reach) fails the request rather than denying it.
  if (error) throw internalError(new Error(error))
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

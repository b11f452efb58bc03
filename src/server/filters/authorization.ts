// Until RBAC is enforced, every authenticated user may do anything, and anonymous requests may read only
// what kube-apiserver's default system:public-info-viewer role grants to system:unauthenticated.
import type { UserInfo } from '../../registry/types'
import { forbidden, StatusError } from '../errors'
import type { RequestInfo } from './request-info'

const PUBLIC_INFO_PATHS = ['/healthz', '/livez', '/readyz', '/version', '/version/']

function isPublicInfoPath(path: string): boolean {
  return PUBLIC_INFO_PATHS.some((p) => path === p || (p !== '/version/' && path.startsWith(p + '/')))
}

export function authorize(user: UserInfo, info: RequestInfo): void {
  if (user.groups.includes('system:authenticated')) return
  if (!info.isResourceRequest && info.verb === 'get' && isPublicInfoPath(info.path)) return
  if (!info.isResourceRequest) {
    throw new StatusError(403, 'Forbidden', `forbidden: User "${user.username}" cannot ${info.verb} path "${info.path}"`, {})
  }
  const gr = { group: info.apiGroup, resource: info.subresource ? `${info.resource}/${info.subresource}` : info.resource }
  const where = info.namespace ? ` in the namespace "${info.namespace}"` : ''
  const scope = info.namespace ? '' : ' at the cluster scope'
  throw forbidden(gr, info.name, `User "${user.username}" cannot ${info.verb} resource "${gr.resource}" in API group "${info.apiGroup}"${where || scope}`)
}

// The connect subresources, which reach a kubelet or a pod rather than the store: kube's
// rest.Connecter resources served by k8s.io/apiserver's ConnectResource handler.
import type { AuthContext } from '../../auth/context'
import type { KubeletClient } from '../../kubelet/transport'
import type { Registry } from '../../registry/registry'
import type { UserInfo } from '../../registry/types'
import type { RequestInfo } from '../../server/filters/request-info'
import type { Store } from '../../storage/store'
import { podLog } from './log'
import { proxy } from './proxy'
import { podStream } from './streams'

export interface ConnectRequest {
  req: Request
  info: RequestInfo
  registry: Registry
  store: Store
  user: UserInfo
  auth?: AuthContext
  kubelet?: KubeletClient
}

/** The handler of a connect subresource, or undefined for any other request. */
export function connectHandler(
  info: RequestInfo,
): ((r: ConnectRequest) => Promise<Response>) | undefined {
  if (!info.isResourceRequest || info.apiGroup !== '' || info.apiVersion !== 'v1' || !info.name)
    return undefined
  const { resource, subresource } = info
  const exact = info.parts.length === 3
  if (resource === 'pods' && info.namespace) {
    if (subresource === 'log' && exact) return podLog
    if (
      (subresource === 'exec' || subresource === 'attach' || subresource === 'portforward') &&
      exact
    )
      return (r) => podStream(r, subresource)
    if (subresource === 'proxy') return (r) => proxy(r, 'pods')
  }
  if (resource === 'services' && info.namespace && subresource === 'proxy')
    return (r) => proxy(r, 'services')
  if (resource === 'nodes' && !info.namespace && subresource === 'proxy')
    return (r) => proxy(r, 'nodes')
  return undefined
}

// Shared by the connect subresources: the Pod's (or Node's) kubelet and its transport, the headers that
// may travel on, and how a failure to reach the kubelet reads (kube's messages).
import { RegistryStore } from '../../registry/store'
import type { Registry } from '../../registry/registry'
import type { Store } from '../../storage/store'
import { badRequest, StatusError, type StatusReason } from '../../server/errors'
import { kubeletNode, NoPreferredAddressError, type KubeletNode } from '../../kubelet/node-address'
import type { KubeletClient, KubeletTransport } from '../../kubelet/transport'

export type KubeObject = Record<string, any>

export function storeFor(registry: Registry, store: Store, resource: string): RegistryStore {
  const t = registry.lookup('', 'v1', resource)
  if (!t) throw new Error(`core/v1 ${resource} is not served`)
  return new RegistryStore(t, store)
}

/** A plain error as responsewriters.ErrorNegotiated writes it: 500, no reason, the error's text. */
export function plainError(message: string, code = 500): StatusError {
  return new StatusError(code, '' as StatusReason, message)
}

/**
 * The Node's kubelet and the transport to reach it (NodeConnectionInfoGetter.GetConnectionInfo): the
 * Node must exist; its address must fit --kubelet-preferred-address-types unless a transport other than
 * the direct one (a tunnel) takes the node.
 */
export async function kubeletFor(
  client: KubeletClient | undefined,
  registry: Registry,
  store: Store,
  nodeName: string,
): Promise<{ node: KubeletNode; transport: KubeletTransport }> {
  if (!client) throw plainError('kubelet connections are not configured on this server')
  const nodeObject = await storeFor(registry, store, 'nodes').get(undefined, nodeName)
  let node: KubeletNode
  let noAddress: Error | undefined
  try {
    node = kubeletNode(nodeObject, client.preferredAddressTypes, client.defaultPort)
  } catch (e) {
    if (!(e instanceof NoPreferredAddressError)) throw e
    noAddress = e
    node = { name: nodeName, host: '', port: 0 }
  }
  const transport = await client.transports.for(node, nodeObject)
  if (noAddress && transport === client.transports.direct) throw plainError(noAddress.message)
  return { node, transport }
}

/** Container choice of kube's LogLocation and streamLocation, with their errors. */
export function chooseContainer(pod: KubeObject, name: string, asked: string): string {
  const containers: { name: string }[] = pod.spec?.containers ?? []
  const initContainers: { name: string }[] = pod.spec?.initContainers ?? []
  if (asked) {
    const ephemeral: { name: string }[] = pod.spec?.ephemeralContainers ?? []
    if (![...containers, ...initContainers, ...ephemeral].some((c) => c.name === asked))
      throw badRequest(`container ${asked} is not valid for pod ${name}`)
    return asked
  }
  if (containers.length === 1) return containers[0].name
  if (containers.length === 0)
    throw badRequest(`a container name must be specified for pod ${name}`)
  let message = `a container name must be specified for pod ${name}, choose one of: [${containers
    .map((c) => c.name)
    .join(' ')}]`
  if (initContainers.length)
    message += ` or one of the init containers: [${initContainers.map((c) => c.name).join(' ')}]`
  throw badRequest(message)
}

/**
 * Hop-by-hop headers (RFC 7230) and the client's credentials stay here; kube's proxy also drops them
 * before the request reaches the kubelet or the pod. `keepUpgrade` keeps what an upgrade needs.
 */
export function forwardedHeaders(from: Headers, keepUpgrade: boolean): Headers {
  const h = new Headers()
  const connectionTokens = (from.get('connection') ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean)
  from.forEach((v, k) => {
    const key = k.toLowerCase()
    if (key === 'authorization' || key.startsWith('impersonate-')) return
    if (
      ['keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'host'].includes(key)
    )
      return
    if (
      !keepUpgrade &&
      (key === 'connection' || key === 'upgrade' || connectionTokens.includes(key))
    )
      return
    if (key === 'content-length') return
    h.append(k, v)
  })
  return h
}

export function isUpgradeRequest(headers: Headers): boolean {
  return (
    (headers.get('connection') ?? '').toLowerCase().includes('upgrade') && !!headers.get('upgrade')
  )
}

/** strconv.ParseBool, as kube's query parameter conversion reads booleans. */
export function parseGoBool(name: string, v: string | null): boolean {
  if (v === null || v === '') return false
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
  throw badRequest(`${name}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`)
}

export function parseGoInt(name: string, v: string | null): number | undefined {
  if (v === null || v === '') return undefined
  if (!/^[+-]?\d+$/.test(v))
    throw badRequest(`${name}: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`)
  return Number(v)
}

// Where a Node's kubelet listens: kube-apiserver's NodeConnectionInfoGetter (pkg/kubelet/client) with
// nodeutil.GetPreferredNodeAddress (pkg/util/node).

/** kube-apiserver's --kubelet-preferred-address-types default. */
export const DEFAULT_KUBELET_PREFERRED_ADDRESS_TYPES = [
  'Hostname',
  'InternalDNS',
  'InternalIP',
  'ExternalDNS',
  'ExternalIP',
]

/** kube-apiserver's --kubelet-port default, for a Node whose status carries no kubelet port. */
export const DEFAULT_KUBELET_PORT = 10250

export interface KubeletNode {
  /** The Node's name. */
  name: string
  /** The address chosen by --kubelet-preferred-address-types, as the Node lists it ('' if none fits). */
  host: string
  /** status.daemonEndpoints.kubeletEndpoint.Port, else the default kubelet port. */
  port: number
}

/** The Node has no address of a preferred type; `message` is kube's NoMatchError. */
export class NoPreferredAddressError extends Error {}

/**
 * The first address of the first preferred type the Node lists, and the kubelet's port. Go prints the
 * addresses with %v: `[{InternalIP 10.0.0.1} {Hostname node-1}]`.
 */
export function kubeletNode(
  node: Record<string, any>,
  preferredAddressTypes: string[],
  defaultPort = DEFAULT_KUBELET_PORT,
): KubeletNode {
  const addresses: { type?: string; address?: string }[] = node.status?.addresses ?? []
  const name: string = node.metadata?.name ?? ''
  const port = Number(node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0)
  for (const type of preferredAddressTypes) {
    const found = addresses.find((a) => a.type === type)
    if (found) return { name, host: found.address ?? '', port: port > 0 ? port : defaultPort }
  }
  throw new NoPreferredAddressError(
    `no preferred addresses found; known addresses: [${addresses
      .map((a) => `{${a.type ?? ''} ${a.address ?? ''}}`)
      .join(' ')}]`,
  )
}

/** host:port as Go's net.JoinHostPort writes it (IPv6 in brackets). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

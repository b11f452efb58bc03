// How the server reaches a node's kubelet: the seam between the connect subresources (pods/log, exec,
// attach, portforward, proxy; nodes/proxy) and whatever carries their bytes to the kubelet. It plays
// the role of kube-apiserver's kubelet client (pkg/kubelet/client) together with the egress dialer
// that Konnectivity replaces (--egress-selector-config-file's "cluster" network).
//
// THE SEAM (for other transports, e.g. the node agent's tunnel):
//
//   interface KubeletTransport {
//     request(node: KubeletNode, req: KubeletRequest): Promise<Response>
//     upgrade(node: KubeletNode, req: KubeletRequest): Promise<KubeletUpgrade>
//   }
//
//   - `node` is the kubelet to reach: the Node's name, the address --kubelet-preferred-address-types
//     chose (may be '' when the Node has none a transport can use, e.g. behind NAT) and the port
//     (status.daemonEndpoints.kubeletEndpoint.Port, else 10250).
//   - `req` is what to ask the kubelet: method, path and query on the kubelet (/containerLogs/ns/pod/c?
//     follow=true, /exec/ns/pod/c?command=ls&stdout=1, /portForward/ns/pod, or /<anything> for
//     nodes/proxy), the headers to send (hop-by-hop headers already removed, except Connection/Upgrade on
//     an upgrade), the body (null for none) and a signal that aborts when the client goes away.
//   - request(): a plain request. Resolves with the kubelet's response, its body streamed as it comes
//     (`kubectl logs -f` reads it for hours). Rejects with KubeletDialError when the kubelet cannot be
//     reached at all; the caller turns that into kube's error.
//   - upgrade(): a request carrying `Connection: Upgrade` (WebSocket, or SPDY/3.1 from older kubectl).
//     Resolves with what the kubelet answered: on 101, either `stream` (the raw bytes after the
//     handshake, both ways, relayed untouched as kube's UpgradeAwareHandler does: any subprotocol works)
//     or `webSocket` (the kubelet's end of a WebSocket, messages relayed one for one: all a Worker's fetch
//     can give). Any other status carries the kubelet's answer in `body`, passed to the client as is.
//
//   Choosing a transport per node: KubeletTransports.use(choose) adds a chooser asked before the direct
//   transport; the first that returns a transport for the Node wins (a tunnel's chooser returns its
//   transport when that node's agent is connected, undefined otherwise). The server's KubeletTransports:
//   NodeServer.kubeletTransports (src/node/server.ts) in Node mode, edgeKubeletTransports(env)
//   (src/kubelet/edge.ts) in the Worker. At the edge, answer a WebSocket upgrade with `webSocket` and a
//   SPDY/3.1 one (port-forward's tunnel) with `stream`; the Worker cannot hand a raw stream to the client
//   otherwise.
//
// Direct transports: src/kubelet/fetch-transport.ts (the Worker: fetch, a WebSocket upgrade through
// fetch, the client certificate from an mTLS certificate binding) and src/node/kubelet-transport.ts (Node
// mode: node:https and node:tls with --kubelet-client-certificate/--kubelet-client-key, verifying with
// --kubelet-certificate-authority when given).
import type { KubeletNode } from './node-address'

export type { KubeletNode } from './node-address'

export interface KubeletRequest {
  method: string
  /** Path and query on the kubelet, starting with '/'. */
  path: string
  headers: Headers
  body: ReadableStream<Uint8Array> | null
  signal?: AbortSignal
  /** https unless said (a pod's or a service's endpoint may be plain http). */
  scheme?: 'http' | 'https'
  /** PodLogOptions.insecureSkipTLSVerifyBackend: do not verify the kubelet's serving certificate. */
  insecureSkipTLSVerify?: boolean
}

export interface KubeletUpgrade {
  status: number
  headers: Headers
  /** On 101 from a byte-level transport: what follows the kubelet's handshake, both ways. */
  stream?: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }
  /** On 101 from a transport that only speaks WebSocket (the Worker's fetch): the kubelet's end. */
  webSocket?: WebSocket
  /** Any other status: the kubelet's answer. */
  body?: ReadableStream<Uint8Array> | null
}

export interface KubeletTransport {
  request(node: KubeletNode, req: KubeletRequest): Promise<Response>
  upgrade(node: KubeletNode, req: KubeletRequest): Promise<KubeletUpgrade>
}

/**
 * The kubelet could not be reached (refused, unreachable, TLS failed). `message` is in Go's words, as
 * kube-apiserver's error carries it: `dial tcp 127.0.0.1:10250: connect: connection refused`.
 */
export class KubeletDialError extends Error {}

/** A chooser: the transport to use for this Node, or undefined to leave it to the next. */
export type KubeletTransportChooser = (
  node: KubeletNode,
  nodeObject: Record<string, any>,
) => KubeletTransport | undefined | Promise<KubeletTransport | undefined>

/** The transports of a server: choosers in the order added, then the direct transport. */
export class KubeletTransports {
  private readonly choosers: KubeletTransportChooser[] = []
  constructor(readonly direct: KubeletTransport) {}

  /** Adds a chooser, asked after those added before it and before the direct transport. */
  use(choose: KubeletTransportChooser): this {
    this.choosers.push(choose)
    return this
  }

  async for(node: KubeletNode, nodeObject: Record<string, any>): Promise<KubeletTransport> {
    for (const choose of this.choosers) {
      const t = await choose(node, nodeObject)
      if (t) return t
    }
    return this.direct
  }
}

/**
 * What the connect handlers need of the runtime: the transports, the address preference, and how an
 * upgraded stream is handed back to the client (the Worker answers 101 with a WebSocket; Node mode takes
 * over the client's socket).
 */
export interface KubeletClient {
  transports: KubeletTransports
  /** --kubelet-preferred-address-types, in order. */
  preferredAddressTypes: string[]
  /** --kubelet-port's default when a Node has no daemonEndpoints port (10250). */
  defaultPort?: number
  /**
   * Answers the client's upgrade with what the kubelet answered (status 101). With `tunnelAs`, the
   * client asked for a WebSocket and the kubelet's `stream` is another protocol's bytes: the client's
   * WebSocket is accepted with subprotocol `tunnelAs` and carries those bytes in binary messages, as
   * kube-apiserver's tunneling handler does for `SPDY/3.1+portforward.k8s.io`.
   */
  respondUpgraded(up: KubeletUpgrade, tunnelAs?: string): Response
  /**
   * How pods and service endpoints are reached (pods/proxy, services/proxy): kube-apiserver's
   * proxy transport, which dials the pod network without a client certificate and without
   * verifying the endpoint's certificate. `node.host` is the pod's IP.
   */
  endpoints: KubeletTransport
}

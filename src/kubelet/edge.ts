// The Worker's kubelet client: the direct transport through fetch (with the client certificate of the
// KUBELET_CLIENT_CERT mTLS certificate binding, when the Worker has one: kube's
// --kubelet-client-certificate/--kubelet-client-key), KUBELET_PREFERRED_ADDRESS_TYPES for
// --kubelet-preferred-address-types, and a kubelet's WebSocket handed to the client with a 101.
import { badRequest } from '../server/errors'
import { FetchKubeletTransport } from './fetch-transport'
import { DEFAULT_KUBELET_PREFERRED_ADDRESS_TYPES } from './node-address'
import { KubeletTransports, type KubeletClient, type KubeletUpgrade } from './transport'

export interface KubeletEnv {
  /** An mTLS certificate binding ([[mtls_certificates]]) whose fetch presents the kubelet client certificate. */
  KUBELET_CLIENT_CERT?: { fetch: typeof fetch }
  /** --kubelet-preferred-address-types, comma-separated. */
  KUBELET_PREFERRED_ADDRESS_TYPES?: string
}

const transportsByEnv = new WeakMap<object, KubeletTransports>()

/** One KubeletTransports per Worker env: add other transports (a tunnel) to it with use(). */
export function edgeKubeletTransports(env: KubeletEnv): KubeletTransports {
  let t = transportsByEnv.get(env)
  if (!t) {
    const binding = env.KUBELET_CLIENT_CERT
    t = new KubeletTransports(
      new FetchKubeletTransport(binding ? (i, init) => binding.fetch(i, init) : undefined),
    )
    transportsByEnv.set(env, t)
  }
  return t
}

const endpoints = new FetchKubeletTransport()

export function edgeKubeletClient(env: KubeletEnv): KubeletClient {
  return {
    transports: edgeKubeletTransports(env),
    preferredAddressTypes: env.KUBELET_PREFERRED_ADDRESS_TYPES
      ? env.KUBELET_PREFERRED_ADDRESS_TYPES.split(',').map((s) => s.trim())
      : DEFAULT_KUBELET_PREFERRED_ADDRESS_TYPES,
    endpoints,
    respondUpgraded,
  }
}

function respondUpgraded(up: KubeletUpgrade): Response {
  // A Worker cannot take over a raw connection: only a WebSocket goes back to the client.
  if (!up.webSocket) throw badRequest('this server relays only WebSocket upgrades at the edge')
  const headers = new Headers()
  const protocol = up.headers.get('sec-websocket-protocol')
  if (protocol) headers.set('Sec-WebSocket-Protocol', protocol)
  return new Response(null, { status: 101, webSocket: up.webSocket, headers })
}

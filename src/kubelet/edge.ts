// The Worker's kubelet client: the direct transport through fetch (with the client certificate of the
// KUBELET_CLIENT_CERT mTLS certificate binding, when the Worker has one: kube's
// --kubelet-client-certificate/--kubelet-client-key), KUBELET_PREFERRED_ADDRESS_TYPES for
// --kubelet-preferred-address-types, and a kubelet's WebSocket handed to the client with a 101.
import { badRequest } from '../server/errors'
import { FetchKubeletTransport, SPDY_REFUSED } from './fetch-transport'
import { socketUpgrade } from './socket-upgrade'
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
      new FetchKubeletTransport(
        binding ? (i, init) => binding.fetch(i, init) : undefined,
        socketUpgrade,
      ),
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

function respondUpgraded(up: KubeletUpgrade, tunnelAs?: string): Response {
  if (up.stream && tunnelAs) return tunnel(up.stream, tunnelAs)
  // A Worker cannot take over a raw connection: only a WebSocket goes back to the client.
  if (!up.webSocket) {
    void up.stream?.readable.cancel().catch(() => {})
    throw badRequest(SPDY_REFUSED)
  }
  const headers = new Headers()
  const protocol = up.headers.get('sec-websocket-protocol')
  if (protocol) headers.set('Sec-WebSocket-Protocol', protocol)
  return new Response(null, { status: 101, webSocket: up.webSocket, headers })
}

/**
 * kube-apiserver's tunneling handler at the edge: the client's WebSocket, accepted with `protocol`,
 * carries the kubelet's bytes, one binary message per chunk each way.
 */
function tunnel(stream: NonNullable<KubeletUpgrade['stream']>, protocol: string): Response {
  const [client, server] = Object.values(new WebSocketPair())
  server.accept()
  const writer = stream.writable.getWriter()
  const close = () => {
    try {
      server.close(1000)
    } catch {
      /* already closed */
    }
    void writer.close().catch(() => {})
    void stream.readable.cancel().catch(() => {})
  }
  // Messages are written in order; a binary one may come as a Blob (wrangler dev's proxy) or a buffer.
  let writes = Promise.resolve()
  server.addEventListener('message', (e) => {
    const data = e.data as unknown
    writes = writes
      .then(async () => {
        const bytes =
          typeof data === 'string'
            ? new TextEncoder().encode(data)
            : data instanceof Blob
              ? new Uint8Array(await data.arrayBuffer())
              : ArrayBuffer.isView(data)
                ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
                : new Uint8Array(data as ArrayBuffer)
        await writer.write(bytes)
      })
      .catch(close)
  })
  server.addEventListener('close', close)
  server.addEventListener('error', close)
  void (async () => {
    const reader = stream.readable.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        server.send(value)
      }
    } catch {
      /* the kubelet went away */
    }
    close()
  })()
  return new Response(null, {
    status: 101,
    webSocket: client,
    headers: { 'Sec-WebSocket-Protocol': protocol },
  })
}

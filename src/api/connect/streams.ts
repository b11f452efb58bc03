// pods/exec, pods/attach and pods/portforward: kube's ExecREST, AttachREST and PortForwardREST
// (pkg/registry/core/pod/rest/subresources.go) with streamLocation: the options become the kubelet's
// query, and the client's upgrade is relayed to the kubelet as UpgradeAwareHandler relays it: the
// kubelet's answer goes back as it is, and after its 101 the bytes (or WebSocket messages) flow both ways
// untouched. kubectl 1.32 speaks WebSocket (v5.channel.k8s.io for exec and attach,
// SPDY/3.1+portforward.k8s.io tunnelled in WebSocket for port-forward) and falls back to SPDY/3.1 when
// the upgrade fails; both reach the kubelet unchanged (kube-apiserver 1.30+ translates WebSocket into
// SPDY for the kubelet instead: we leave the protocol to the two ends, which a kubelet accepts for exec
// and attach over v4.channel.k8s.io).
import { forbiddenError } from '../../auth/authorizer'
import { requestAttributes } from '../../server/filters/authorization'
import { badRequest, methodNotSupported } from '../../server/errors'
import { KubeletDialError } from '../../kubelet/transport'
import {
  chooseContainer,
  forwardedHeaders,
  isUpgradeRequest,
  kubeletFor,
  parseGoBool,
  plainError,
  storeFor,
  type KubeObject,
} from './kubelet'
import type { ConnectRequest } from './index'

export type StreamSubresource = 'exec' | 'attach' | 'portforward'

/** streamParams: the options the kubelet takes, keys sorted as url.Values.Encode writes them. */
function kubeletQuery(kind: StreamSubresource, q: URLSearchParams): string {
  const out: [string, string][] = []
  if (kind === 'portforward') {
    const ports = q.getAll('ports').flatMap((p) => p.split(','))
    for (const p of ports)
      if (!/^\d+$/.test(p) || +p < 1 || +p > 65535)
        throw badRequest(`invalid port ${JSON.stringify(p)}`)
    if (ports.length) out.push(['port', ports.join(',')])
    return new URLSearchParams(out).toString()
  }
  if (kind === 'exec') for (const c of q.getAll('command')) out.push(['command', c])
  for (const flag of ['stderr', 'stdin', 'stdout', 'tty'])
    if (parseGoBool(flag, q.get(flag))) out.push([flag, '1'])
  return new URLSearchParams(out).toString()
}

export async function podStream(r: ConnectRequest, kind: StreamSubresource): Promise<Response> {
  const { namespace, name } = r.info
  if (r.req.method !== 'GET' && r.req.method !== 'POST')
    throw methodNotSupported({ group: '', resource: `pods/${kind}` }, r.info.verb)
  // The WebSocket upgrade is a GET, authorized as `get`; kube (AuthorizePodWebsocketUpgradeCreatePermission,
  // on by default from 1.35) also asks for `create`, which is what these subresources do: so do we.
  if (r.req.method === 'GET' && r.auth) {
    const a = { ...requestAttributes(r.user, r.info), verb: 'create' }
    const { decision, reason } = await r.auth.authorizer.authorize(a)
    if (decision !== 'Allow') throw forbiddenError(a, reason)
  }
  const q = new URL(r.req.url).searchParams
  const pod: KubeObject = await storeFor(r.registry, r.store, 'pods').get(namespace, name)
  const container =
    kind === 'portforward' ? '' : chooseContainer(pod, name, q.get('container') ?? '')
  const nodeName: string = pod.spec?.nodeName ?? ''
  if (!nodeName) throw badRequest(`pod ${name} does not have a host assigned`)
  const { node, transport } = await kubeletFor(r.kubelet, r.registry, r.store, nodeName)
  const query = kubeletQuery(kind, q)
  const base =
    kind === 'portforward'
      ? `/portForward/${namespace}/${name}`
      : `/${kind}/${namespace}/${name}/${container}`
  const path = query ? `${base}?${query}` : base
  // UpgradeAwareHandler with upgradeRequired: a plain request is refused before the kubelet is asked.
  // workerd drops Upgrade and Connection from a request it will not upgrade (SPDY/3.1): kubectl's SPDY
  // dialer still names its protocols in X-Stream-Protocol-Version, so it is still an upgrade here.
  const spdyAtTheEdge = r.req.headers.has('x-stream-protocol-version')
  if (!isUpgradeRequest(r.req.headers) && !spdyAtTheEdge)
    throw badRequest('Upgrade request required')
  // kubectl 1.31+ port-forward: SPDY tunnelled in a WebSocket. As kube-apiserver's tunneling handler,
  // ask the kubelet for SPDY/3.1 and carry its bytes in the client's WebSocket.
  const tunnel =
    kind === 'portforward' &&
    (r.req.headers.get('sec-websocket-protocol') ?? '')
      .split(',')
      .map((p) => p.trim())
      .includes(PORT_FORWARD_TUNNEL)
  const headers =
    tunnel || (spdyAtTheEdge && !isUpgradeRequest(r.req.headers))
      ? new Headers({
          Connection: 'Upgrade',
          Upgrade: 'SPDY/3.1',
          'X-Stream-Protocol-Version': tunnel
            ? 'portforward.k8s.io'
            : (r.req.headers.get('x-stream-protocol-version') ?? ''),
        })
      : forwardedHeaders(r.req.headers, true)
  let up
  try {
    up = await transport.upgrade(node, {
      method: tunnel ? 'POST' : r.req.method,
      path,
      headers,
      body: null,
      signal: r.req.signal,
    })
  } catch (e) {
    if (e instanceof KubeletDialError) throw plainError(`error dialing backend: ${e.message}`)
    throw e
  }
  if (up.status !== 101)
    return new Response(up.body ?? null, { status: up.status, headers: up.headers })
  return r.kubelet!.respondUpgraded(up, tunnel ? PORT_FORWARD_TUNNEL : undefined)
}

/** client-go's portforward.PortForwardProtocolV1Name tunnelled over WebSocket. */
const PORT_FORWARD_TUNNEL = 'SPDY/3.1+portforward.k8s.io'

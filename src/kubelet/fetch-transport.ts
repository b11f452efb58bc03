// The Worker's direct transport to a kubelet: fetch() for plain requests and for WebSocket upgrades (a
// Worker's fetch hands back the kubelet's end of the WebSocket), which is all workerd can do: it makes
// no raw HTTP upgrade, so SPDY/3.1 (kubectl before 1.30 for exec, before 1.31 for port-forward) cannot
// be relayed from the edge. The client certificate comes from an mTLS certificate binding (a Fetcher
// whose fetch presents it), when the Worker has one; the kubelet's certificate is verified by the
// runtime's trust store (kube's --kubelet-certificate-authority cannot be given per call).
import { joinHostPort, type KubeletNode } from './node-address'
import {
  KubeletDialError,
  type KubeletRequest,
  type KubeletTransport,
  type KubeletUpgrade,
} from './transport'
import { errorText } from '../util/errors'

type Fetch = (input: Request | string, init?: RequestInit) => Promise<Response>

export class FetchKubeletTransport implements KubeletTransport {
  /** `fetcher`: an mTLS certificate binding's fetch, or the global fetch. */
  constructor(
    private readonly fetcher: Fetch = (i, init) => fetch(i, init),
    /** A raw HTTP upgrade (src/kubelet/socket-upgrade.ts), for what fetch cannot upgrade. */
    private readonly socketUpgrade?: (
      node: KubeletNode,
      req: KubeletRequest,
    ) => Promise<KubeletUpgrade>,
  ) {}

  private url(node: KubeletNode, req: KubeletRequest): string {
    return `${req.scheme ?? 'https'}://${joinHostPort(node.host, node.port)}${req.path}`
  }

  async request(node: KubeletNode, req: KubeletRequest): Promise<Response> {
    const url = this.url(node, req)
    try {
      return await this.fetcher(url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        redirect: 'manual',
        // @ts-expect-error a streamed request body needs half duplex outside workerd
        duplex: req.body ? 'half' : undefined,
      })
    } catch (e) {
      throw new KubeletDialError(dialMessage(node, e))
    }
  }

  async upgrade(node: KubeletNode, req: KubeletRequest): Promise<KubeletUpgrade> {
    // Not a WebSocket (SPDY/3.1, for the port-forward tunnel): over a TCP socket, when the Worker has one.
    if (!/websocket/i.test(req.headers.get('upgrade') ?? '')) {
      if (this.socketUpgrade) return this.socketUpgrade(node, req)
      const probe = await this.request(node, {
        ...req,
        method: 'GET',
        headers: new Headers(),
        body: null,
      })
      await probe.body?.cancel()
      return refuseUpgrade(SPDY_REFUSED)
    }
    const headers = new Headers(req.headers)
    // workerd makes the WebSocket handshake itself from Upgrade: websocket.
    for (const h of [
      'connection',
      'sec-websocket-key',
      'sec-websocket-version',
      'sec-websocket-extensions',
    ])
      headers.delete(h)
    let res: Response
    try {
      res = await this.fetcher(this.url(node, req), {
        method: 'GET',
        headers,
        signal: req.signal,
      })
    } catch (e) {
      throw new KubeletDialError(dialMessage(node, e))
    }
    const webSocket = (res as Response & { webSocket?: WebSocket | null }).webSocket
    if (res.status === 101 && webSocket) return { status: 101, headers: res.headers, webSocket }
    return { status: res.status, headers: res.headers, body: res.body }
  }
}

export const SPDY_REFUSED =
  'SPDY/3.1 upgrades cannot be relayed at the edge: use kubectl 1.30 or newer (WebSocket) for exec and attach, 1.31 or newer for port-forward'

/** A Status, which kubectl's SPDY dialer prints as the error. */
export function refuseUpgrade(message: string): KubeletUpgrade {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message }
  const body = new Blob([JSON.stringify({ ...status, reason: 'BadRequest', code: 400 })]).stream()
  return { status: 400, headers: new Headers({ 'Content-Type': 'application/json' }), body }
}

/** Go's dial error as kube-apiserver reports it; workerd's own wording follows for the reason. */
function dialMessage(node: KubeletNode, e: unknown): string {
  const why = errorText(e)
  return `dial tcp ${joinHostPort(node.host, node.port)}: ${why}`
}

// Where a node's agent connects (TUNNEL_PATH/<node>) and who may: only that node's own identity,
// system:node:<name> in system:nodes, authenticated like any kubelet (client certificate or token). The
// registry keeps the connected agents of one process (Node mode) and offers their tunnels to the kubelet
// transports as a chooser: a node with a connected agent is reached through it, whatever its address.
import { nodeIdentity } from '../auth/node-authorizer'
import type { KubeletTransportChooser, KubeletUpgrade } from '../kubelet/transport'
import type { UserInfo } from '../registry/types'
import { badRequest, StatusError } from '../server/errors'
import { TunnelKubeletTransport, TunnelSession } from './session'
import { acceptKey, ByteWebSocket } from './websocket'

import { REPLACED_CLOSE_CODE, TUNNEL_PATH } from './frames'

export { TUNNEL_PATH }

/** What a runtime does with an agent's authorized upgrade (the Worker hands it to a Durable Object). */
export interface TunnelServer {
  accept(nodeName: string, request: Request): Promise<Response>
}

/**
 * Refuses anyone but the node itself, in the authorizer's words for a non-resource path: the Node
 * authorizer says the same for other nodes, and this holds when authorization would allow more
 * (system:masters, AlwaysAllow).
 */
export function checkTunnelRequest(user: UserInfo, nodeName: string, request: Request): void {
  if (nodeIdentity(user) !== nodeName) {
    throw new StatusError(
      403,
      'Forbidden',
      `forbidden: User "${user.username}" cannot get path "${TUNNEL_PATH}/${nodeName}": ` +
        `only node "${nodeName}" (user system:node:${nodeName} in group system:nodes) may open its tunnel`,
    )
  }
  if (!/websocket/i.test(request.headers.get('upgrade') ?? ''))
    throw badRequest('Upgrade request required')
}

/** The agents connected to this process, by node name. */
export class TunnelRegistry {
  private readonly sessions = new Map<string, TunnelSession>()
  private readonly closers = new Map<TunnelSession, (reason: string) => void>()

  constructor(private readonly log: (msg: string) => void = (m) => console.error(m)) {}

  session(nodeName: string): TunnelSession | undefined {
    const s = this.sessions.get(nodeName)
    return s && !s.closed ? s : undefined
  }

  get connected(): string[] {
    return [...this.sessions.keys()].filter((n) => this.session(n))
  }

  /** The chooser for KubeletTransports.use(): the tunnel of a node whose agent is connected. */
  readonly chooser: KubeletTransportChooser = (node) =>
    this.session(node.name) ? new TunnelKubeletTransport(() => this.session(node.name)) : undefined

  /** Keeps a session for the node; a newer connection replaces an older one, whose streams fail. */
  attach(nodeName: string, session: TunnelSession, close: (reason: string) => void): () => void {
    const old = this.sessions.get(nodeName)
    this.sessions.set(nodeName, session)
    this.closers.set(session, close)
    if (old) {
      const reason = 'replaced by a newer connection of the agent'
      old.close(reason)
      this.closers.get(old)?.(reason)
      this.closers.delete(old)
    }
    this.log(`tunnel: agent of node "${nodeName}" connected`)
    return () => {
      this.closers.delete(session)
      if (this.sessions.get(nodeName) === session) {
        this.sessions.delete(nodeName)
        this.log(`tunnel: agent of node "${nodeName}" disconnected`)
      }
    }
  }

  /**
   * Node mode: completes the agent's WebSocket handshake over the upgraded connection's bytes and keeps
   * the tunnel; what the runtime writes back is the 101 with these headers, then the bytes.
   */
  async acceptBytes(nodeName: string, request: Request): Promise<KubeletUpgrade> {
    const key = request.headers.get('sec-websocket-key')
    if (!key) throw badRequest('missing Sec-WebSocket-Key')
    const fromAgent = new TransformStream<Uint8Array, Uint8Array>()
    const toAgent = new TransformStream<Uint8Array, Uint8Array>()
    let detach = () => {}
    const sink: { ws?: ByteWebSocket } = {}
    const session = new TunnelSession((frame) => void sink.ws?.send(frame), { log: this.log })
    const ws = (sink.ws = new ByteWebSocket(fromAgent.readable, toAgent.writable, {
      onMessage: (m) => session.receive(m),
      onClose: (code, reason) => {
        session.close(`the agent tunnel closed (${code}${reason ? `: ${reason}` : ''})`)
        detach()
      },
    }))
    detach = this.attach(nodeName, session, (reason) => ws.close(REPLACED_CLOSE_CODE, reason))
    return {
      status: 101,
      headers: new Headers({
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Accept': await acceptKey(key),
      }),
      stream: { readable: toAgent.readable, writable: fromAgent.writable },
    }
  }
}

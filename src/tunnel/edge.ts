// The agent tunnel at the edge. Isolates are many and short-lived, and any of them may serve the
// `kubectl logs` of a node whose agent dialled a different one, so the tunnel's server end cannot live
// in an isolate. It lives in a Durable Object per (cluster, node), NodeTunnel:
//
//   agent ──wss──▶ Worker (authenticates, only system:node:<name> for <name>) ──fetch──▶ NodeTunnel
//                                                                   holds the agent's WebSocket
//   kubectl ──▶ Worker (connect handler) ──fetch /request or /upgrade──▶ NodeTunnel ──frames──▶ agent
//
// The agent's WebSocket is accepted with the hibernation API (ctx.acceptWebSocket), so a connected but
// idle node costs nothing and the object sleeps; a message from the agent wakes it and the session is
// rebuilt from the socket (no stream outlives the object's sleep: a stream in flight is a request in
// flight, which keeps it awake). Each kubelet stream is one fetch from the Worker to the object: a plain
// request's body and response stream through it; an upgrade is answered with a WebSocket whose messages
// the object relays one for one as MESSAGE frames (a Worker relays only WebSockets, so the agent speaks
// WebSocket to the kubelet for it). The ClusterStore object is not involved: its thread serializes the
// cluster's writes and must not carry log bytes.
import { DurableObject } from 'cloudflare:workers'
import type {
  KubeletClient,
  KubeletNode,
  KubeletRequest,
  KubeletTransport,
  KubeletTransportChooser,
  KubeletUpgrade,
} from '../kubelet/transport'
import { KubeletDialError } from '../kubelet/transport'
import { headerPairs, REPLACED_CLOSE_CODE } from './frames'
import type { TunnelServer } from './registry'
import { TunnelKubeletTransport, TunnelSession, upgradeOver } from './session'
import { errorText } from '../util/errors'

export interface TunnelEnv {
  /** The NodeTunnel Durable Object namespace ([[durable_objects.bindings]] NODE_TUNNEL). */
  NODE_TUNNEL?: DurableObjectNamespace<NodeTunnel>
}

const AGENT_TAG = 'agent'
const DIAL_ERROR_HEADER = 'x-tunnel-dial-error'
const WS_OPEN = 1

/** The object of a node's tunnel; one cluster per deployment for now, named as the store's is. */
function tunnelStub(env: TunnelEnv, nodeName: string): DurableObjectStub<NodeTunnel> | undefined {
  return env.NODE_TUNNEL?.getByName(`default/${nodeName}`)
}

/** The kubelet request as the Worker hands it to the object: its method, path and headers. */
function describe(req: KubeletRequest): Record<string, string> {
  return {
    'x-tunnel-method': req.method,
    'x-tunnel-path': req.path,
    'x-tunnel-headers': JSON.stringify(headerPairs(req.headers)),
  }
}

function described(request: Request): KubeletRequest {
  const h = request.headers
  return {
    method: h.get('x-tunnel-method') ?? 'GET',
    path: h.get('x-tunnel-path') ?? '/',
    headers: new Headers(JSON.parse(h.get('x-tunnel-headers') ?? '[]') as [string, string][]),
    body: request.body,
    signal: request.signal,
  }
}

const dialFailure = (e: unknown) =>
  new Response(null, {
    status: 502,
    headers: { [DIAL_ERROR_HEADER]: encodeURIComponent(errorText(e)) },
  })

function throwIfDialFailed(res: Response): void {
  const why = res.headers.get(DIAL_ERROR_HEADER)
  if (why !== null) throw new KubeletDialError(decodeURIComponent(why))
}

/**
 * A message's data, copied at once: the event's buffer does not outlive the handler, and the send may
 * wait for the agent's credit.
 */
function messageData(data: unknown): Promise<Uint8Array | string> | Uint8Array | string {
  if (typeof data === 'string') return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0))
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
  if (data instanceof Blob) return data.arrayBuffer().then((b) => new Uint8Array(b))
  return new TextEncoder().encode(String(data))
}

/** Closes a WebSocket that may be closed already (a close after close throws). */
function safeClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason)
  } catch {
    /* already closed */
  }
}

/** The 101's headers as one header of this object's own 101 (the Worker's fetch keeps only its own). */
const UPGRADE_HEADERS = 'x-tunnel-upgrade-headers'

/** The object's side of a byte-level upgrade: a WebSocket whose binary messages are the bytes. */
function bytesOverWebSocket(up: KubeletUpgrade): Response {
  const pair = new WebSocketPair()
  const [client, server] = [pair[0], pair[1]]
  server.accept()
  const writer = up.stream!.writable.getWriter()
  let writing = Promise.resolve()
  server.addEventListener('message', (e) => {
    const data = messageData(e.data)
    writing = writing
      .then(async () => {
        const d = await data
        await writer.write(typeof d === 'string' ? new TextEncoder().encode(d) : d)
      })
      .catch(() => safeClose(server, 1011, 'tunnel closed'))
  })
  const ended = () => void writing.then(() => writer.close()).catch(() => {})
  server.addEventListener('close', ended)
  server.addEventListener('error', ended)
  void (async () => {
    const reader = up.stream!.readable.getReader()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        // The client went: stop reading, and let the kubelet's side end.
        if (server.readyState !== 1) throw new Error('the client closed')
        server.send(value)
      }
      safeClose(server, 1000, '')
    } catch (e) {
      safeClose(server, 1011, errorText(e).slice(0, 120))
      void reader.cancel().catch(() => {})
    }
  })()
  return new Response(null, {
    status: 101,
    webSocket: client,
    headers: { [UPGRADE_HEADERS]: JSON.stringify(headerPairs(up.headers)) },
  })
}

/** The Worker's side: the object's WebSocket as the upgraded connection's two byte streams. */
function bytesFromWebSocket(ws: WebSocket): NonNullable<KubeletUpgrade['stream']> {
  ws.accept()
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c
    },
    cancel: () => safeClose(ws, 1000, ''),
  })
  let order = Promise.resolve()
  ws.addEventListener('message', (e) => {
    const data = messageData(e.data)
    order = order.then(async () => {
      const d = await data
      controller.enqueue(typeof d === 'string' ? new TextEncoder().encode(d) : d)
    })
  })
  ws.addEventListener('close', () => void order.then(() => controller.close()).catch(() => {}))
  ws.addEventListener('error', () => void order.then(() => controller.close()).catch(() => {}))
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => ws.send(chunk),
    close: () => safeClose(ws, 1000, ''),
    abort: () => safeClose(ws, 1011, 'aborted'),
  })
  return { readable, writable }
}

export class NodeTunnel extends DurableObject {
  private session?: TunnelSession
  private agentSocket?: WebSocket

  /** The agent's socket: the newest one still open. */
  private agent(): WebSocket | undefined {
    const open = this.ctx.getWebSockets(AGENT_TAG).filter((ws) => ws.readyState === WS_OPEN)
    return open[open.length - 1]
  }

  private sessionFor(ws: WebSocket): TunnelSession {
    if (this.session && this.agentSocket === ws && !this.session.closed) return this.session
    this.session?.close('replaced by a newer connection of the agent')
    this.agentSocket = ws
    this.session = new TunnelSession((frame) => ws.send(frame), {
      log: (m) => console.error(m),
    })
    return this.session
  }

  /** Whether the node's agent is connected (the Worker's chooser asks before each kubelet stream). */
  connected(): boolean {
    return this.agent() !== undefined
  }

  override async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname
    if (path === '/agent') return this.acceptAgent()
    const ws = this.agent()
    if (!ws) return dialFailure(new Error('no agent tunnel is connected for this node'))
    const transport = new TunnelKubeletTransport(() => this.sessionFor(ws))
    const node: KubeletNode = { name: '', host: '', port: 0 }
    try {
      if (path === '/request') return await transport.request(node, described(request))
      if (path === '/upgrade')
        return await this.upgrade(
          this.sessionFor(ws),
          described(request),
          request.headers.get('x-tunnel-upgrade') === 'bytes',
        )
    } catch (e) {
      return dialFailure(e)
    }
    return new Response('not found', { status: 404 })
  }

  private acceptAgent(): Response {
    const reason = 'replaced by a newer connection of the agent'
    for (const old of this.ctx.getWebSockets(AGENT_TAG)) old.close(REPLACED_CLOSE_CODE, reason)
    this.session?.close(reason)
    this.session = undefined
    const pair = new WebSocketPair()
    this.ctx.acceptWebSocket(pair[1], [AGENT_TAG])
    return new Response(null, { status: 101, webSocket: pair[0] })
  }

  /**
   * An upgrade. WebSocket: the kubelet's messages and the client's, relayed one for one. Anything else
   * (SPDY/3.1, for port-forward): the kubelet's bytes after its 101, carried to the Worker as binary
   * messages of this object's WebSocket.
   */
  private async upgrade(
    session: TunnelSession,
    req: KubeletRequest,
    bytes: boolean,
  ): Promise<Response> {
    const up = await upgradeOver(session, req, bytes ? 'bytes' : 'messages')
    if (up.status !== 101)
      return new Response(up.body ?? null, { status: up.status, headers: up.headers })
    if (bytes) return bytesOverWebSocket(up)
    const stream = up.tunnelStream
    const pair = new WebSocketPair()
    const [client, server] = [pair[0], pair[1]]
    server.accept()
    // Messages keep their order while they wait for the agent's window.
    let sending = Promise.resolve()
    server.addEventListener('message', (e) => {
      const data = messageData(e.data)
      sending = sending
        .then(async () => stream.sendMessage(await data))
        .catch(() => server.close(1011, 'tunnel closed'))
    })
    server.addEventListener('close', () => {
      void sending.then(() => stream.end())
    })
    stream.onMessage((m) => server.send(m.data))
    // The kubelet closed its WebSocket: so does the client's, once what came before is sent.
    stream.onRemoteEnd(() => server.close(1000, ''))
    stream.onClose((reason) => {
      try {
        server.close(reason ? 1011 : 1000, (reason ?? '').slice(0, 120))
      } catch {
        /* already closed */
      }
    })
    const headers = new Headers()
    const protocol = up.headers.get('sec-websocket-protocol')
    if (protocol) headers.set('Sec-WebSocket-Protocol', protocol)
    return new Response(null, { status: 101, webSocket: client, headers })
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.sessionFor(ws).receive(message)
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    if (ws === this.agentSocket) {
      this.session?.close(`the agent tunnel closed (${code}${reason ? `: ${reason}` : ''})`)
      this.session = undefined
      this.agentSocket = undefined
    }
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason)
    } catch {
      /* already closed */
    }
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    this.webSocketClose(ws, 1006, (error as Error)?.message ?? 'error')
  }
}

/** The Worker's transport to a node's kubelet through its NodeTunnel object. */
export class EdgeTunnelTransport implements KubeletTransport {
  constructor(private readonly stub: DurableObjectStub<NodeTunnel>) {}

  async request(_node: KubeletNode, req: KubeletRequest): Promise<Response> {
    const res = await this.stub.fetch('https://tunnel/request', {
      method: 'POST',
      headers: describe(req),
      body: req.body,
      signal: req.signal,
    })
    throwIfDialFailed(res)
    return res
  }

  async upgrade(_node: KubeletNode, req: KubeletRequest): Promise<KubeletUpgrade> {
    // A WebSocket crosses message by message; anything else (SPDY/3.1) as bytes.
    const bytes = !/websocket/i.test(req.headers.get('upgrade') ?? '')
    const res = await this.stub.fetch('https://tunnel/upgrade', {
      headers: {
        ...describe(req),
        Upgrade: 'websocket',
        ...(bytes ? { 'x-tunnel-upgrade': 'bytes' } : {}),
      },
      signal: req.signal,
    })
    throwIfDialFailed(res)
    if (res.status === 101 && res.webSocket && bytes) {
      const headers = new Headers(
        JSON.parse(res.headers.get(UPGRADE_HEADERS) ?? '[]') as [string, string][],
      )
      return { status: 101, headers, stream: bytesFromWebSocket(res.webSocket) }
    }
    if (res.status === 101 && res.webSocket)
      return { status: 101, headers: res.headers, webSocket: res.webSocket }
    return { status: res.status, headers: res.headers, body: res.body }
  }
}

/** For KubeletTransports.use(): a node whose agent is connected is reached through its tunnel. */
export function edgeTunnelChooser(env: TunnelEnv): KubeletTransportChooser {
  return async (node) => {
    const stub = tunnelStub(env, node.name)
    if (!stub || !(await stub.connected())) return undefined
    return new EdgeTunnelTransport(stub)
  }
}

/** The Worker's TunnelServer: an authorized agent's upgrade goes to its node's object. */
export function edgeTunnels(env: TunnelEnv): TunnelServer | undefined {
  if (!env.NODE_TUNNEL) return undefined
  return {
    accept: (nodeName, request) =>
      tunnelStub(env, nodeName)!.fetch('https://tunnel/agent', { headers: request.headers }),
  }
}

const tunnelled = new WeakSet<object>()

/** The Worker's kubelet client with the tunnels asked first, once per env (its transports are kept). */
export function withTunnels(client: KubeletClient, env: TunnelEnv): KubeletClient {
  if (env.NODE_TUNNEL && !tunnelled.has(client.transports)) {
    tunnelled.add(client.transports)
    client.transports.use(edgeTunnelChooser(env))
  }
  return client
}

// Node mode's HTTP upgrades: node:http hands an upgrade request to its 'upgrade' listener with the raw
// socket, outside the Hono adapter. The request goes through the same app (authentication, authorization,
// the connect handlers); when a handler relayed the upgrade to a kubelet (respondUpgraded), its 101 is
// written to the client and the bytes flow both ways, as kube's UpgradeAwareHandler does. Any other
// answer is written as a plain HTTP response, and the connection closed.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { respondError } from '../api/negotiation'
import type { KubeletUpgrade } from '../kubelet/transport'
import { unauthorized } from '../server/errors'
import { errorText } from '../util/errors'

export interface UpgradeEnv {
  incoming: IncomingMessage
  upgraded?: KubeletUpgrade
  /** The WebSocket subprotocol that carries the kubelet's bytes (KubeletClient.respondUpgraded). */
  tunnelAs?: string
}

type Fetch = (req: Request, env?: unknown) => Response | Promise<Response>

/** `app` undefined: the client certificate was rejected (401, as for any other request). */
export async function serveUpgrade(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  app: Fetch | undefined,
): Promise<void> {
  socket.on('error', () => socket.destroy())
  try {
    if (!app) return await writeResponse(socket, respondError(unauthorized()))
    const headers = new Headers()
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
    const controller = new AbortController()
    socket.once('close', () => controller.abort())
    const request = new Request(`https://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      signal: controller.signal,
    })
    const env: UpgradeEnv = { incoming: req }
    const res = await app(request, env)
    const up = env.upgraded
    if (!up?.stream) return await writeResponse(socket, res)
    if (env.tunnelAs) return tunnel(req, socket, head, up.stream, env.tunnelAs)
    const lines = ['HTTP/1.1 101 Switching Protocols']
    up.headers.forEach((v, k) => lines.push(`${k}: ${v}`))
    socket.write(lines.join('\r\n') + '\r\n\r\n')
    relayBytes(socket, head, up.stream)
  } catch (e) {
    console.error('upgrade failed', e)
    socket.destroy()
  }
}

type UpgradedStream = NonNullable<KubeletUpgrade['stream']>

/**
 * The two ends of one upgraded connection, torn down together and once: whichever side fails or goes
 * away first (a client that resets, a kubelet that dies, an agent tunnel that drops) ends this stream and
 * nothing else, as kube's UpgradeAwareHandler does. A peer going away is the ordinary end of a stream and
 * is not logged; anything else is, in one line.
 */
function relayEnds(stream: UpgradedStream, closeClient: () => void) {
  const reader = stream.readable.getReader()
  const writer = stream.writable.getWriter()
  let closed = false
  const close = (why?: unknown) => {
    if (closed) return
    closed = true
    if (why !== undefined && !peerWentAway(why)) console.error(`upgrade relay: ${errorText(why)}`)
    reader.cancel().catch(() => {})
    writer.abort().catch(() => {})
    closeClient()
  }
  return { reader, writer, close, closed: () => closed }
}

function peerWentAway(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ECONNABORTED' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_WRITE_AFTER_END' ||
    code === 'ABORT_ERR'
  )
}

/** SPDY/3.1 and WebSocket alike: the bytes both ways untouched, with backpressure each way. */
function relayBytes(socket: Socket, head: Buffer, stream: UpgradedStream): void {
  const { reader, writer, close, closed } = relayEnds(stream, () => socket.destroy())
  socket.on('error', close)
  socket.on('close', () => close())
  // The client may have gone while the kubelet was dialled.
  if (socket.destroyed) return close()
  const toKubelet = (chunk: Buffer) => {
    writer.write(chunk).catch(close)
    // Stop reading the client while the kubelet's side is full.
    if ((writer.desiredSize ?? 1) <= 0) {
      socket.pause()
      writer.ready.then(() => socket.resume(), close)
    }
  }
  if (head.length) toKubelet(head)
  socket.on('data', toKubelet)
  // The client's half-close (kubectl cp's end of stdin) reaches the kubelet as its end.
  socket.on('end', () => void writer.close().catch(close))
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || closed()) break
      if (!socket.write(value)) await drained(socket)
    }
    // The kubelet is done: what it wrote reaches the client before the connection closes.
    if (!closed()) socket.end(() => close())
  })().catch(close)
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done).off('close', done)
      resolve()
    }
    socket.on('drain', done).on('close', done)
  })
}

/**
 * kube-apiserver's tunneling handler: the client's WebSocket, accepted with `protocol`, carries the
 * kubelet's bytes, each binary message as it comes.
 */
function tunnel(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  stream: UpgradedStream,
  protocol: string,
): void {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => (offered.has(protocol) ? protocol : false),
  })
  let ws: WebSocket | undefined
  const { reader, writer, close, closed } = relayEnds(stream, () => {
    if (ws) ws.terminate()
    else socket.destroy()
    wss.close()
  })
  // A handshake that fails (or a client gone before it completes) never reaches the callback.
  socket.on('close', () => close())
  if (socket.destroyed) return close()
  wss.handleUpgrade(req, socket, head, (accepted) => {
    ws = accepted
    if (closed()) return void ws.terminate()
    ws.on('error', close).on('close', () => close())
    ws.on('message', (data: Buffer) => {
      writer.write(data).catch(close)
      if ((writer.desiredSize ?? 1) <= 0) {
        accepted.pause()
        writer.ready.then(() => accepted.resume(), close)
      }
    })
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done || closed()) break
        // Each message waits for the one before to be written: the kubelet is read no faster.
        await new Promise<void>((resolve, reject) =>
          accepted.send(value, (e) => (e ? reject(e) : resolve())),
        )
      }
      if (!closed()) accepted.close(1000)
    })().catch(close)
  })
}

async function writeResponse(socket: Socket, res: Response): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer())
  const lines = [`HTTP/1.1 ${res.status} ${res.statusText || statusText(res.status)}`]
  res.headers.forEach((v, k) => {
    if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection')
      lines.push(`${k}: ${v}`)
  })
  lines.push(`Content-Length: ${body.length}`, 'Connection: close')
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]))
}

function statusText(code: number): string {
  const known: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  }
  return known[code] ?? ''
}

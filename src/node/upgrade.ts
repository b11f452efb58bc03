// Node mode's HTTP upgrades: node:http hands an upgrade request to its 'upgrade' listener with the raw
// socket, outside the Hono adapter. The request goes through the same app (authentication, authorization,
// the connect handlers); when a handler relayed the upgrade to a kubelet (respondUpgraded), its 101 is
// written to the client and the bytes flow both ways, as kube's UpgradeAwareHandler does. Any other
// answer is written as a plain HTTP response, and the connection closed.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { Readable, Writable } from 'node:stream'
import { WebSocketServer } from 'ws'
import { respondError } from '../api/negotiation'
import type { KubeletUpgrade } from '../kubelet/transport'
import { unauthorized } from '../server/errors'

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
    const fromKubelet = Readable.fromWeb(up.stream.readable as any)
    const toKubelet = Writable.fromWeb(up.stream.writable as any)
    if (head.length) toKubelet.write(head)
    const end = () => {
      fromKubelet.destroy()
      toKubelet.destroy()
      socket.destroy()
    }
    fromKubelet.on('error', end).on('close', end)
    toKubelet.on('error', end).on('close', end)
    socket.on('close', end)
    fromKubelet.pipe(socket)
    socket.pipe(toKubelet)
  } catch (e) {
    console.error('upgrade failed', e)
    socket.destroy()
  }
}

/**
 * kube-apiserver's tunneling handler: the client's WebSocket, accepted with `protocol`, carries the
 * kubelet's bytes, each binary message as it comes.
 */
function tunnel(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  stream: NonNullable<KubeletUpgrade['stream']>,
  protocol: string,
): void {
  const fromKubelet = Readable.fromWeb(stream.readable as any)
  const toKubelet = Writable.fromWeb(stream.writable as any)
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => (offered.has(protocol) ? protocol : false),
  })
  wss.handleUpgrade(req, socket, head, (ws) => {
    const end = () => {
      fromKubelet.destroy()
      toKubelet.destroy()
      ws.terminate()
      wss.close()
    }
    ws.on('message', (data: Buffer) => toKubelet.write(data))
    ws.on('close', end).on('error', end)
    fromKubelet.on('data', (d: Buffer) => ws.send(d))
    fromKubelet.on('end', () => ws.close(1000)).on('error', end)
    toKubelet.on('error', end)
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

// The HTTPS listener of `npm start`, in front of wrangler dev's plain-HTTP one on an internal loopback port.
//
// workerd's HTTP server closes a kept-alive connection 5 s after its last response, and nothing in its
// configuration changes that; kube-apiserver keeps one for 90 s, and clients pace themselves to it (see
// servesAsKubeApiserver). This listener serves as kube-apiserver's does and gives each request a connection
// of its own to workerd, so it never sends on one workerd may be closing. A deployed Worker is behind
// Cloudflare's listener instead, which keeps idle connections longer than either.
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type RequestListener,
} from 'node:http'
import { createServer, type Server } from 'node:https'
import type { Duplex } from 'node:stream'
import { HOP_BY_HOP_HEADERS } from '../util/http'
import { MAX_HEADER_BYTES, servesAsKubeApiserver } from './listener'

const HOP_BY_HOP = new Set(HOP_BY_HOP_HEADERS)

export interface DevFrontOptions {
  /** 0: any free port (the server's address() tells which). */
  port: number
  /** The serving key and certificate; without them the listener serves plain HTTP (edge-apiserver/testing). */
  key?: string | Buffer
  cert?: string | Buffer
  /**
   * wrangler dev's (or Miniflare's) plain-HTTP port on 127.0.0.1; a function when the listener is up before
   * workerd is (the Worker is told the listener's address at start).
   */
  upstreamPort: number | (() => number)
}

/** Serves HTTPS on 127.0.0.1:port, relaying every request, upgrades included, to workerd. */
export function startDevFront({ port, key, cert, upstreamPort }: DevFrontOptions): Promise<Server> {
  const upstream = (req: IncomingMessage, headers: string[]) =>
    httpRequest({
      host: '127.0.0.1',
      port: typeof upstreamPort === 'number' ? upstreamPort : upstreamPort(),
      method: req.method,
      path: req.url,
      headers,
      agent: false,
    })

  const relay: RequestListener = (req, res) => {
    const up = upstream(req, withoutHopByHop(req.rawHeaders))
    up.on('response', (answer) => {
      res.writeHead(answer.statusCode!, answer.statusMessage, withoutHopByHop(answer.rawHeaders))
      // A watch's headers go out before its first event, as workerd sent them.
      res.flushHeaders()
      answer.pipe(res)
      answer.on('error', () => res.destroy())
    })
    up.on('error', () => {
      if (res.headersSent) return res.destroy()
      res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end('edge-apiserver: workerd is not answering\n')
    })
    // A client that goes away ends the request in the Worker too: a watch stops, a log follow closes.
    res.on('close', () => up.destroy())
    req.pipe(up)
  }
  // The two listeners take the same calls: only the https one's type is named.
  const server: Server =
    key && cert
      ? createServer({ key, cert, maxHeaderSize: MAX_HEADER_BYTES }, relay)
      : (createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, relay) as Server)
  servesAsKubeApiserver(server)

  // exec, attach, port-forward and WebSocket watches: the 101 and every byte after it pass through unchanged.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Its Connection and Upgrade headers are the request: they go as they came.
    const up = upstream(req, req.rawHeaders)
    up.on('upgrade', (answer, upSocket, upHead) => {
      socket.write(statusLine(answer) + headerLines(answer.rawHeaders) + '\r\n')
      if (upHead.length) socket.write(upHead)
      if (head.length) upSocket.write(head)
      upSocket.pipe(socket).pipe(upSocket)
      const end = () => {
        socket.destroy()
        upSocket.destroy()
      }
      socket.on('error', end).on('close', end)
      upSocket.on('error', end).on('close', end)
    })
    // An upgrade the Worker refused (400, 401, 403, 404): its answer, then the connection closes.
    up.on('response', (answer) => {
      const headers = withoutHopByHop(answer.rawHeaders)
      socket.write(statusLine(answer) + headerLines(headers) + 'Connection: close\r\n\r\n')
      answer.pipe(socket)
    })
    up.on('error', () => socket.destroy())
    socket.on('error', () => up.destroy())
    up.end()
  })

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

function withoutHopByHop(rawHeaders: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(rawHeaders[i]!.toLowerCase())) out.push(rawHeaders[i]!, rawHeaders[i + 1]!)
  }
  return out
}

function statusLine(res: IncomingMessage): string {
  return `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`
}

function headerLines(rawHeaders: string[]): string {
  let s = ''
  for (let i = 0; i < rawHeaders.length; i += 2) s += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`
  return s
}

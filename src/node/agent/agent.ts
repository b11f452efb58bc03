// The node agent: runs beside a kubelet that the API server cannot dial (behind NAT, no inbound
// address), dials OUT to the server's tunnel path as the node (system:node:<name>, by client
// certificate or token) over WebSocket on HTTPS, and answers the kubelet streams the server opens
// through it from the local kubelet, as Konnectivity's agent does for kube-apiserver.
//
// TLS: the server's end of the agent's WebSocket is the API server's own TLS (verified with the
// cluster CA); the kubelet's TLS is terminated by the agent, which dials the local kubelet itself,
// presenting the kubelet client certificate it is given (kube-apiserver's --kubelet-client-certificate)
// and verifying the kubelet with --kubelet-certificate-authority when given (else not at all, as kube
// does without that flag). End-to-end TLS from the server through the tunnel is what Konnectivity
// carries; a Worker cannot run TLS over a stream of its own making, so the agent terminates it, and the
// kubelet sees the agent's client certificate.
import { request as httpsRequest, type RequestOptions } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import WebSocket from 'ws'
import { TUNNEL_PATH } from '../../tunnel/registry'
import { TunnelSession, type TunnelStream } from '../../tunnel/session'
import { REPLACED_CLOSE_CODE, type OpenRequest } from '../../tunnel/frames'
import { goDialError } from '../kubelet-transport'
import { errorText } from '../../util/errors'

export interface AgentOptions {
  /** The API server, https://host:port. */
  server: string
  nodeName: string
  /** Bearer token of the node (a token mapping to system:node:<name>), or a client certificate. */
  token?: string
  clientCertPem?: string
  clientKeyPem?: string
  /** The CA the API server's certificate is verified with. */
  serverCAPem?: string
  /** Skip verifying the API server's certificate (kubectl's insecure-skip-tls-verify). */
  insecureSkipTLSVerify?: boolean
  /** The local kubelet, https://127.0.0.1:10250 by default. */
  kubeletURL?: string
  kubeletClientCertPem?: string
  kubeletClientKeyPem?: string
  kubeletCAPem?: string
  log?: (msg: string) => void
}

const RECONNECT_MIN_MS = 500
const RECONNECT_MAX_MS = 30_000

export interface RunningAgent {
  /** Resolves once the tunnel is up the first time (rejects if the server refuses it: 401, 403). */
  readonly connected: Promise<void>
  stop(): Promise<void>
}

/** Response header pairs as a kubelet sent them. */
function headerPairs(res: IncomingMessage): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < res.rawHeaders.length; i += 2)
    out.push([res.rawHeaders[i], res.rawHeaders[i + 1]])
  return out
}

/** Sends a Node stream into a tunnel stream, with its flow control; ends or resets it after. */
async function pump(from: NodeJS.ReadableStream, stream: TunnelStream): Promise<void> {
  const writer = stream.writable.getWriter()
  try {
    for await (const chunk of from as AsyncIterable<Buffer>)
      await writer.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    await writer.close()
  } catch (e) {
    stream.reset(errorText(e))
  }
}

export function startAgent(opts: AgentOptions): RunningAgent {
  const log = opts.log ?? ((m: string) => console.error(m))
  const kubelet = new URL(opts.kubeletURL ?? 'https://127.0.0.1:10250')
  const kubeletNode = {
    name: opts.nodeName,
    host: kubelet.hostname.replace(/^\[|\]$/g, ''),
    port: Number(kubelet.port || 443),
  }
  let stopped = false
  let socket: WebSocket | undefined
  let firstResolve!: () => void
  let firstReject!: (e: Error) => void
  let first = true
  const connected = new Promise<void>((res, rej) => {
    firstResolve = res
    firstReject = rej
  })
  connected.catch(() => {})

  const kubeletOptions = (open: OpenRequest): RequestOptions => ({
    host: kubeletNode.host,
    port: kubeletNode.port,
    method: open.method,
    path: open.path,
    headers: Object.fromEntries(open.headers),
    cert: opts.kubeletClientCertPem,
    key: opts.kubeletClientKeyPem,
    ca: opts.kubeletCAPem,
    rejectUnauthorized: opts.kubeletCAPem !== undefined,
    agent: false,
  })

  const dialFailed = (stream: TunnelStream, e: NodeJS.ErrnoException) =>
    stream.reset(goDialError(kubeletNode, e))

  /** A plain request, or a byte-level upgrade: the kubelet's answer and then its bytes, both ways. */
  const serveHTTP = (stream: TunnelStream, open: OpenRequest) => {
    const req = httpsRequest(kubeletOptions(open))
    req.on('error', (e) => dialFailed(stream, e as NodeJS.ErrnoException))
    req.on('response', (res) => {
      stream.respond({ status: res.statusCode ?? 502, headers: headerPairs(res) })
      void pump(res, stream)
    })
    req.on('upgrade', (res: IncomingMessage, sock: Socket, head: Buffer) => {
      stream.respond({ status: 101, headers: headerPairs(res) })
      sock.on('error', (e) => stream.reset(e.message))
      if (head.length) sock.unshift(head)
      void pump(sock, stream)
      Readable.fromWeb(stream.readable as never)
        .on('error', () => sock.destroy())
        .pipe(sock)
      stream.onClose(() => sock.destroy())
    })
    if (open.upgrade) {
      req.end()
      return
    }
    Readable.fromWeb(stream.readable as never)
      .on('error', (e) => req.destroy(e))
      .pipe(req)
  }

  /** The kubelet speaks WebSocket and each message crosses whole (a Worker can relay nothing else). */
  const serveWebSocket = (stream: TunnelStream, open: OpenRequest) => {
    const headers = Object.fromEntries(open.headers)
    const protocols = (headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
    for (const h of [
      'sec-websocket-protocol',
      'sec-websocket-key',
      'sec-websocket-version',
      'sec-websocket-extensions',
      'connection',
      'upgrade',
    ])
      delete headers[h]
    const url = new URL(open.path, `wss://${kubelet.host}`)
    const ws = new WebSocket(url, protocols, {
      headers,
      cert: opts.kubeletClientCertPem,
      key: opts.kubeletClientKeyPem,
      ca: opts.kubeletCAPem,
      rejectUnauthorized: opts.kubeletCAPem !== undefined,
      perMessageDeflate: false,
    })
    ws.on('unexpected-response', (_req, res) => {
      stream.respond({ status: res.statusCode ?? 502, headers: headerPairs(res) })
      void pump(res, stream)
    })
    ws.on('error', (e) => dialFailed(stream, e as NodeJS.ErrnoException))
    ws.on('open', () => {
      stream.respond({
        status: 101,
        headers: ws.protocol ? [['sec-websocket-protocol', ws.protocol]] : [],
      })
      stream.onMessage((m) => ws.send(m.data))
      stream.onRemoteEnd(() => ws.close())
    })
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[])
      void stream
        .sendMessage(isBinary ? new Uint8Array(buf) : buf.toString('utf8'))
        .catch(() => ws.terminate())
    })
    ws.on('close', () => stream.end())
    stream.onClose(() => ws.close())
  }

  const connect = (attempt: number) => {
    if (stopped) return
    const url = new URL(`${TUNNEL_PATH}/${encodeURIComponent(opts.nodeName)}`, opts.server)
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:'
    const ws = new WebSocket(url, {
      headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
      cert: opts.clientCertPem,
      key: opts.clientKeyPem,
      ca: opts.serverCAPem,
      rejectUnauthorized: !opts.insecureSkipTLSVerify,
      perMessageDeflate: false,
    })
    socket = ws
    const session = new TunnelSession((frame) => ws.send(frame), {
      log,
      onOpen: (stream, open) => {
        if (open.upgrade === 'messages') serveWebSocket(stream, open)
        else serveHTTP(stream, open)
      },
    })
    let refused = false
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => {
        let message = body
        try {
          message = JSON.parse(body).message ?? body
        } catch {
          /* not a Status */
        }
        const err = new Error(`the server refused the tunnel (${res.statusCode}): ${message}`)
        log(`agent: ${err.message}`)
        refused = true
        if (first) {
          first = false
          firstReject(err)
        }
        ws.terminate()
      })
    })
    ws.on('open', () => {
      log(`agent: tunnel for node "${opts.nodeName}" connected to ${opts.server}`)
      attempt = 0
      if (first) {
        first = false
        firstResolve()
      }
    })
    ws.on('message', (data) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[])
      session.receive(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
    })
    ws.on('error', (e) => {
      if (!refused) log(`agent: ${e.message}`)
    })
    ws.on('close', (code) => {
      session.close('the agent tunnel closed')
      if (stopped) return
      // A refusal (bad credentials, another node's name) is retried slowly: it rarely heals by itself;
      // so is a connection another agent of this node replaced.
      if (code === REPLACED_CLOSE_CODE)
        log('agent: another agent of this node took over the tunnel')
      const delay =
        refused || code === REPLACED_CLOSE_CODE
          ? RECONNECT_MAX_MS
          : Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(attempt, 10))
      setTimeout(() => connect(attempt + 1), delay).unref?.()
    })
  }
  connect(0)

  return {
    connected,
    async stop() {
      stopped = true
      const ws = socket
      if (!ws || ws.readyState === WebSocket.CLOSED) return
      await new Promise<void>((r) => {
        ws.once('close', () => r())
        ws.close(1000, 'agent stopping')
        setTimeout(() => {
          ws.terminate()
          r()
        }, 2000).unref?.()
      })
    },
  }
}

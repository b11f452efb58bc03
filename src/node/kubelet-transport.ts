// Node mode's direct transport to a kubelet: HTTPS with --kubelet-client-certificate/--kubelet-client-key,
// verifying the kubelet's certificate with --kubelet-certificate-authority when given and not at all
// otherwise (kube's KubeletClientConfig sets TLS Insecure when it has no CA). Upgrades are relayed at the
// byte level, as kube's UpgradeAwareHandler does, so WebSocket and SPDY/3.1 both pass.
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { pipeline, Readable } from 'node:stream'
import type { Duplex } from 'node:stream'
import { socketStreams } from './socket-streams'
import { joinHostPort, type KubeletNode } from '../kubelet/node-address'
import {
  KubeletDialError,
  type KubeletRequest,
  type KubeletTransport,
  type KubeletUpgrade,
} from '../kubelet/transport'

export interface KubeletTLS {
  clientCertPem?: string
  clientKeyPem?: string
  /** --kubelet-certificate-authority contents; without it the kubelet's certificate is not verified. */
  caPem?: string
  /** --kubelet-timeout (kube's default 5 s): how long connecting may take. */
  timeoutMs?: number
}

export class NodeKubeletTransport implements KubeletTransport {
  constructor(private readonly tls: KubeletTLS) {}

  private options(node: KubeletNode, req: KubeletRequest): RequestOptions {
    const headers: Record<string, string> = {}
    req.headers.forEach((v, k) => (headers[k] = v))
    return {
      host: node.host,
      port: node.port,
      method: req.method,
      path: req.path,
      headers,
      cert: this.tls.clientCertPem,
      key: this.tls.clientKeyPem,
      ca: this.tls.caPem,
      rejectUnauthorized: this.tls.caPem !== undefined && !req.insecureSkipTLSVerify,
      // The kubelet's certificate names the node, not necessarily the address dialled.
      servername: node.host.includes(':') || /^[\d.]+$/.test(node.host) ? undefined : node.host,
      agent: false,
      signal: req.signal,
    }
  }

  private send(node: KubeletNode, req: KubeletRequest) {
    const opts = this.options(node, req)
    const out = req.scheme === 'http' ? httpRequest(opts) : httpsRequest(opts)
    // --kubelet-timeout bounds the dial (kube's net.Dialer Timeout), not a stream that runs for hours.
    const timeoutMs = this.tls.timeoutMs ?? 5_000
    const timer = setTimeout(() => {
      out.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' }))
    }, timeoutMs)
    out.on('socket', (s) => {
      if (!s.connecting) return clearTimeout(timer)
      s.once(req.scheme === 'http' ? 'connect' : 'secureConnect', () => clearTimeout(timer))
    })
    out.on('close', () => clearTimeout(timer))
    return out
  }

  request(node: KubeletNode, req: KubeletRequest): Promise<Response> {
    return new Promise((resolve, reject) => {
      const out = this.send(node, req)
      out.on('response', (res) => resolve(toResponse(res)))
      failOnDial(out, node, reject)
      // pipeline: a client that goes away mid-body destroys the request (reported by its 'error').
      if (req.body) pipeline(Readable.fromWeb(req.body as any), out, () => {})
      else out.end()
    })
  }

  upgrade(node: KubeletNode, req: KubeletRequest): Promise<KubeletUpgrade> {
    return new Promise((resolve, reject) => {
      const out = this.send(node, req)
      failOnDial(out, node, reject)
      out.on('response', (res) => {
        const r = toResponse(res)
        resolve({ status: r.status, headers: r.headers, body: r.body })
      })
      out.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (head.length) socket.unshift(head)
        resolve({ status: 101, headers: headersOf(res), stream: socketStreams(socket) })
      })
      out.end()
    })
  }
}

function failOnDial(
  out: import('node:http').ClientRequest,
  node: KubeletNode,
  reject: (e: unknown) => void,
): void {
  out.on('error', (e) =>
    reject(new KubeletDialError(goDialError(node, e as NodeJS.ErrnoException))),
  )
}

/** Go's net.OpError text for what Node reports, so that kube's messages read the same. */
export function goDialError(node: KubeletNode, e: NodeJS.ErrnoException): string {
  const addr = joinHostPort(node.host, node.port)
  switch (e.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`
    case 'EHOSTUNREACH':
      return `dial tcp ${addr}: connect: no route to host`
    case 'ENETUNREACH':
      return `dial tcp ${addr}: connect: network is unreachable`
    case 'ETIMEDOUT':
      return `dial tcp ${addr}: i/o timeout`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${node.host}: no such host`
    case 'ECONNRESET':
      return `read tcp ${addr}: read: connection reset by peer`
    case 'ABORT_ERR':
      return 'context canceled'
    default:
      if (e.code?.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(e.message))
        return `tls: failed to verify certificate: x509: ${e.message}`
      return `dial tcp ${addr}: ${e.message}`
  }
}

function headersOf(res: IncomingMessage): Headers {
  const h = new Headers()
  for (let i = 0; i < res.rawHeaders.length; i += 2)
    h.append(res.rawHeaders[i], res.rawHeaders[i + 1])
  return h
}

function toResponse(res: IncomingMessage): Response {
  const status = res.statusCode ?? 502
  const nullBody = status === 204 || status === 304
  return new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
    status,
    statusText: res.statusMessage,
    headers: headersOf(res),
  })
}

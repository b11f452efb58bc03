// An HTTP/1.1 upgrade over a Worker's TCP socket (connect() from cloudflare:sockets, with TLS): what
// fetch cannot do, a SPDY/3.1 upgrade to the kubelet, for the port-forward tunnel. The socket presents
// no client certificate (connect() takes none), and the kubelet's certificate is verified by the
// runtime's trust store.
import { connect } from 'cloudflare:sockets'
import { joinHostPort, type KubeletNode } from './node-address'
import { KubeletDialError, type KubeletRequest, type KubeletUpgrade } from './transport'
import { errorText } from '../util/errors'

const CRLFCRLF = [13, 10, 13, 10]

export async function socketUpgrade(
  node: KubeletNode,
  req: KubeletRequest,
): Promise<KubeletUpgrade> {
  const addr = joinHostPort(node.host, node.port)
  const socket = connect(
    { hostname: node.host, port: node.port },
    { secureTransport: req.scheme === 'http' ? 'off' : 'on', allowHalfOpen: false },
  )
  try {
    await socket.opened
  } catch (e) {
    throw new KubeletDialError(`dial tcp ${addr}: ${errorText(e)}`)
  }
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${addr}`]
  req.headers.forEach((v, k) => lines.push(`${k}: ${v}`))
  lines.push('Content-Length: 0')
  const writer = socket.writable.getWriter()
  const reader = socket.readable.getReader()
  let buf: Uint8Array<ArrayBufferLike> = new Uint8Array(0)
  let end = -1
  try {
    await writer.write(new TextEncoder().encode(lines.join('\r\n') + '\r\n\r\n'))
    writer.releaseLock()
    while ((end = indexOf(buf, CRLFCRLF)) < 0) {
      const { done, value } = await reader.read()
      if (done) throw new Error('EOF')
      buf = concat(buf, value)
    }
  } catch (e) {
    await socket.close().catch(() => {})
    throw new KubeletDialError(`dial tcp ${addr}: ${errorText(e)}`)
  }
  const head = new TextDecoder().decode(buf.subarray(0, end)).split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0])?.[1] ?? 502)
  const headers = new Headers()
  for (const line of head.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim())
  }
  const rest = buf.subarray(end + 4)
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      if (rest.length) c.enqueue(rest)
    },
    async pull(c) {
      const { done, value } = await reader.read()
      if (done) c.close()
      else c.enqueue(value)
    },
    cancel() {
      return socket.close()
    },
  })
  if (status === 101) return { status, headers, stream: { readable, writable: socket.writable } }
  return { status, headers, body: readable }
}

function indexOf(buf: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= buf.length; i++) {
    for (let j = 0; j < needle.length; j++) if (buf[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBufferLike> {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

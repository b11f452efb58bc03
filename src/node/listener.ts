// How kube-apiserver's listener behaves before any handler runs (its secure serving's http.Server), for every
// HTTPS listener of this project: Node mode's, and the one `npm start` puts in front of workerd.
import type { Server } from 'node:https'

/**
 * kube-apiserver's http.Server takes MaxHeaderBytes 1 MiB, and Go reads up to 4 KiB past it before it
 * gives up on the request line and headers. Node's default (16 KiB) would refuse, say, a 64 KiB label
 * selector that kube-apiserver serves.
 */
export const MAX_HEADER_BYTES = (1 << 20) + 4096

/**
 * What Go's net/http writes, before any handler, for a request it cannot read: 431 with its fixed text for a
 * request line and headers over the limit, 400 for one that does not parse. Node's own answers carry no body.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  // Go answers only what it could not parse; a reset or a read timeout just closes the connection.
  if (!socket.writable || !err.code?.startsWith('HPE_')) {
    socket.destroy()
    return
  }
  const publicErr =
    err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
  socket.end(
    `HTTP/1.1 ${publicErr}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${publicErr}`,
  )
  // Go's lingering close (conn.closeWriteAndWait): keep reading what the client still sends for a moment, so
  // that closing with unread bytes does not reset the connection before the client reads the answer.
  socket.on('data', () => {})
  socket.resume()
  setTimeout(() => socket.destroy(), 500).unref()
}

/** kube-apiserver's IdleTimeout: a kept-alive connection stays open 90 s after its last response. */
const IDLE_TIMEOUT_MS = 90_000
/** kube-apiserver's ReadHeaderTimeout, "just shy of requestTimeoutUpperBound". */
const READ_HEADER_TIMEOUT_MS = 32_000

/**
 * Node's defaults close an idle connection after 5 s; clients that pace themselves to kube's 90 s then
 * send on a connection the server is closing (kubectl drain retries an eviction after exactly 5 s, and
 * Go does not resend a POST that met EOF).
 */
export function servesAsKubeApiserver(server: Server): void {
  server.keepAliveTimeout = IDLE_TIMEOUT_MS
  server.headersTimeout = READ_HEADER_TIMEOUT_MS
  server.on('clientError', answerClientError)
}

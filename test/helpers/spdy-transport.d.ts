// The little of spdy-transport (npm, no types of its own) the kubelet stand-in uses.
declare module 'spdy-transport' {
  import type { Duplex } from 'node:stream'
  interface SpdyStream extends Duplex {
    headers: Record<string, string>
    respond(status: number, headers: Record<string, string>): void
  }
  interface SpdyConnection {
    start(version: number): void
    on(event: 'stream', f: (s: SpdyStream) => void): void
    on(event: 'error', f: (e: Error) => void): void
  }
  const spdy: {
    protocol: { spdy: { parser: { create(options: object): any } } }
    connection: {
      create(socket: Duplex, opts: { protocol: 'spdy'; isServer: boolean }): SpdyConnection
    }
  }
  export default spdy
}

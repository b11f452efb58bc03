// The server's end of a WebSocket (RFC 6455) over the raw bytes of an upgraded HTTP connection, for Node
// mode, where the upgrade hands the app a pair of byte streams rather than a WebSocket object (the
// Worker's runtime has WebSocketPair instead). Only what the agent tunnel needs: binary and text
// messages (fragmented or not), ping/pong, close; client frames must be masked, server frames are not.

import { concatBytes } from '../util/bytes'
import { errorText } from '../util/errors'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key. */
export async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(key + GUID))
  let bin = ''
  for (const b of new Uint8Array(digest)) bin += String.fromCharCode(b)
  return btoa(bin)
}

const OP_CONT = 0x0
const OP_TEXT = 0x1
const OP_BINARY = 0x2
const OP_CLOSE = 0x8
const OP_PING = 0x9
const OP_PONG = 0xa

/** Messages larger than this close the connection (1009), as ws's maxPayload does. */
const MAX_MESSAGE = 16 * 1024 * 1024

export interface ByteWebSocketHandlers {
  onMessage(data: Uint8Array | string): void
  onClose(code: number, reason: string): void
}

export class ByteWebSocket {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>
  private buf: Uint8Array = new Uint8Array(0)
  private fragments: Uint8Array[] = []
  private fragmentOp = 0
  private closed = false

  constructor(
    readable: ReadableStream<Uint8Array>,
    writable: WritableStream<Uint8Array>,
    private readonly handlers: ByteWebSocketHandlers,
  ) {
    this.writer = writable.getWriter()
    void this.readLoop(readable.getReader())
  }

  private async readLoop(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        this.buf = concatBytes(this.buf, value)
        while (this.parseOne()) {
          /* one frame handled */
        }
        if (this.closed) break
      }
      this.finish(1006, 'connection closed')
    } catch (e) {
      this.finish(1006, errorText(e))
    }
  }

  /** Handles one complete frame from the buffer; false when more bytes are needed. */
  private parseOne(): boolean {
    const b = this.buf
    if (b.length < 2) return false
    const fin = (b[0] & 0x80) !== 0
    const op = b[0] & 0x0f
    const masked = (b[1] & 0x80) !== 0
    let len = b[1] & 0x7f
    let off = 2
    if (len === 126) {
      if (b.length < 4) return false
      len = (b[2] << 8) | b[3]
      off = 4
    } else if (len === 127) {
      if (b.length < 10) return false
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
      len = view.getUint32(2) * 2 ** 32 + view.getUint32(6)
      off = 10
    }
    if (!masked) return this.fail(1002, 'a client frame must be masked')
    if (len > MAX_MESSAGE) return this.fail(1009, 'message too big')
    if (b.length < off + 4 + len) return false
    const mask = b.subarray(off, off + 4)
    const payload = b.slice(off + 4, off + 4 + len)
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]
    this.buf = b.subarray(off + 4 + len)
    this.frame(fin, op, payload)
    return !this.closed
  }

  private frame(fin: boolean, op: number, payload: Uint8Array): void {
    switch (op) {
      case OP_PING:
        this.write(OP_PONG, payload)
        return
      case OP_PONG:
        return
      case OP_CLOSE: {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005
        const reason = new TextDecoder().decode(payload.subarray(2))
        this.close(code === 1005 ? 1000 : code, '')
        this.finish(code, reason)
        return
      }
      case OP_TEXT:
      case OP_BINARY:
      case OP_CONT: {
        if (op !== OP_CONT) this.fragmentOp = op
        this.fragments.push(payload)
        const size = this.fragments.reduce((n, f) => n + f.length, 0)
        if (size > MAX_MESSAGE) {
          this.fail(1009, 'message too big')
          return
        }
        if (!fin) return
        const whole =
          this.fragments.length === 1 ? this.fragments[0] : concatBytes(...this.fragments)
        this.fragments = []
        this.handlers.onMessage(
          this.fragmentOp === OP_TEXT ? new TextDecoder().decode(whole) : whole,
        )
        return
      }
      default:
        this.fail(1002, `unknown opcode ${op}`)
    }
  }

  private fail(code: number, reason: string): false {
    this.close(code, reason)
    this.finish(code, reason)
    return false
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.writer.close().catch(() => {})
    this.handlers.onClose(code, reason)
  }

  private write(op: number, payload: Uint8Array): Promise<void> {
    const n = payload.length
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10
    const frame = new Uint8Array(head + n)
    frame[0] = 0x80 | op
    if (n < 126) frame[1] = n
    else if (n < 65536) {
      frame[1] = 126
      frame[2] = n >> 8
      frame[3] = n & 0xff
    } else {
      frame[1] = 127
      const view = new DataView(frame.buffer)
      view.setUint32(2, Math.floor(n / 2 ** 32))
      view.setUint32(6, n >>> 0)
    }
    frame.set(payload, head)
    return this.writer.write(frame).catch(() => this.finish(1006, 'write failed'))
  }

  /** Sends a binary message; resolves once the bytes are handed to the connection. */
  send(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve()
    return this.write(OP_BINARY, data)
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return
    const r = new TextEncoder().encode(reason).subarray(0, 123)
    const payload = new Uint8Array(2 + r.length)
    payload[0] = code >> 8
    payload[1] = code & 0xff
    payload.set(r, 2)
    void this.write(OP_CLOSE, payload)
  }
}

// The protobuf wire format, written: varints, length-delimited strings and messages, 64-bit doubles, all into
// one growing buffer. A length-delimited field reserves the five bytes its longest length takes, and once its
// content is written the content moves back over the bytes the length did not need.
import { WIRE_BYTES, WIRE_FIXED64, WIRE_VARINT } from './reader'

const utf8 = new TextEncoder()

export class WireWriter {
  private buf: Uint8Array<ArrayBuffer>
  private len = 0

  constructor(size = 256) {
    this.buf = new Uint8Array(size)
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  /** An unsigned varint; negative numbers are written as their 64-bit two's complement, ten bytes. */
  varint(v: number): this {
    this.room(10)
    if (v < 0 || v > Number.MAX_SAFE_INTEGER) {
      // As two 32-bit halves, not BigInt (see reader.ts on Node 20's optimizer).
      const t = Math.trunc(v)
      let lo = t >>> 0
      let hi = Math.floor(t / 2 ** 32) >>> 0
      while (hi !== 0 || lo >= 0x80) {
        this.buf[this.len++] = (lo & 0x7f) | 0x80
        lo = ((lo >>> 7) | (hi << 25)) >>> 0
        hi = hi >>> 7
      }
      this.buf[this.len++] = lo
      return this
    }
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.buf[this.len++] = v
    return this
  }

  private key(no: number, wire: number): void {
    this.varint(no * 8 + wire)
  }

  bytes(no: number, b: Uint8Array): this {
    this.key(no, WIRE_BYTES)
    this.varint(b.length)
    this.room(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
    return this
  }

  string(no: number, s: string): this {
    // Most strings of an object are short ASCII (names, keys, images): their bytes are their chars and
    // their length one byte, written in place without the encoder or a closure.
    const n = s.length
    if (n < 0x80) {
      this.key(no, WIRE_BYTES)
      this.room(1 + n)
      const buf = this.buf
      const at = this.len + 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        buf[at + i] = c
      }
      if (i === n) {
        buf[this.len] = n
        this.len = at + n
        return this
      }
      const bytes = utf8.encode(s)
      this.varint(bytes.length)
      this.room(bytes.length)
      this.buf.set(bytes, this.len)
      this.len += bytes.length
      return this
    }
    return this.delimited(no, () => {
      this.room(s.length * 3)
      this.len += utf8.encodeInto(s, this.buf.subarray(this.len)).written
    })
  }

  /** A length-delimited field whose content write puts at the end of the buffer. */
  private delimited(no: number, write: () => void): this {
    const start = this.begin(no)
    write()
    return this.end(start)
  }

  /**
   * Opens a length-delimited field (a nested message) and returns where it starts; its content is written
   * next and end(start) closes it: a message without a closure, for the encoder's hot path.
   */
  begin(no: number): number {
    this.key(no, WIRE_BYTES)
    this.room(5)
    const start = this.len
    this.len += 5
    return start
  }

  end(start: number): this {
    const size = this.len - start - 5
    let n = 1
    while (size >= 2 ** (7 * n)) n++
    if (n < 5) {
      this.buf.copyWithin(start + n, start + 5, this.len)
      this.len -= 5 - n
    }
    const end = this.len
    this.len = start
    this.varint(size)
    this.len = end
    return this
  }

  bool(no: number, b: boolean): this {
    this.key(no, WIRE_VARINT)
    return this.varint(b ? 1 : 0)
  }

  int64(no: number, v: number): this {
    this.key(no, WIRE_VARINT)
    return this.varint(v)
  }

  double(no: number, v: number): this {
    this.key(no, WIRE_FIXED64)
    this.room(8)
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, v, true)
    this.len += 8
    return this
  }

  /** A nested message, whose fields fill writes. */
  message(no: number, fill: (w: WireWriter) => void): this {
    return this.delimited(no, () => fill(this))
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.len)
  }
}

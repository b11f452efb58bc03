// The protobuf wire format, read the way gogo's generated Unmarshal code reads it: the same checks, the same
// error texts (io.ErrUnexpectedEOF, ErrIntOverflowGenerated, ErrInvalidLengthGenerated).

export const WIRE_VARINT = 0
export const WIRE_FIXED64 = 1
export const WIRE_BYTES = 2
export const WIRE_START_GROUP = 3
export const WIRE_END_GROUP = 4
export const WIRE_FIXED32 = 5

export class ProtobufError extends Error {}

const unexpectedEOF = () => new ProtobufError('unexpected EOF')

// Two's complement by arithmetic rather than BigInt.asIntN/asUintN: once hot, Node 20's optimizing compiler
// aborts the process on their 64-bit forms ("Phi of kRepTagged (UnsignedBigInt64) cannot be changed to
// kRepWord64"), which a server decoding every etcd value reaches quickly.
const UINT64_MASK = (1n << 64n) - 1n
const INT64_SIGN = 1n << 63n
const TWO_TO_64 = 1n << 64n

/** An unsigned 64-bit value read as int64. */
export function int64Of(u: bigint): bigint {
  return u >= INT64_SIGN ? u - TWO_TO_64 : u
}
/** The low 32 bits as int32. */
export function int32Of(u: bigint): number {
  return Number(u & 0xffffffffn) | 0
}
/** The low 32 bits as uint32. */
export function uint32Of(u: bigint): number {
  return Number(u & 0xffffffffn)
}

export class WireReader {
  pos = 0

  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length
  }

  /** A field key: its number and wire type. `message` names the message in gogo's errors. */
  key(message: string): { no: number; wire: number } {
    const key = this.uint64()
    const no = int32Of(key >> 3n)
    const wire = Number(key & 7n)
    if (wire === WIRE_END_GROUP)
      throw new ProtobufError(`proto: ${message}: wiretype end group for non-group`)
    // gogo prints the whole key after "wire type".
    if (no <= 0) throw new ProtobufError(`proto: ${message}: illegal tag ${no} (wire type ${key})`)
    return { no, wire }
  }

  /** An unsigned varint of up to 64 bits. */
  uint64(): bigint {
    let lo = 0
    let shift = 0
    // Up to four bytes fit a JavaScript int without loss; longer varints continue in BigInt.
    for (; shift < 28; shift += 7) {
      if (this.pos >= this.buf.length) throw unexpectedEOF()
      const b = this.buf[this.pos++]
      lo |= (b & 0x7f) << shift
      if (b < 0x80) return BigInt(lo >>> 0)
    }
    let v = BigInt(lo >>> 0)
    for (let s = 28n; ; s += 7n) {
      if (s >= 64n) throw new ProtobufError('proto: integer overflow')
      if (this.pos >= this.buf.length) throw unexpectedEOF()
      const b = this.buf[this.pos++]
      v |= BigInt(b & 0x7f) << s
      if (b < 0x80) return v & UINT64_MASK
    }
  }

  /** A varint as a signed 64-bit value (int32 and int64 fields both sign-extend to ten bytes). */
  int64(): number {
    return Number(int64Of(this.uint64()))
  }

  length(): number {
    const n = int64Of(this.uint64())
    if (n < 0n) throw new ProtobufError('proto: negative length found during unmarshaling')
    if (BigInt(this.pos) + n > BigInt(this.buf.length)) throw unexpectedEOF()
    return Number(n)
  }

  bytes(): Uint8Array {
    const len = this.length()
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  fixed(size: 4 | 8): DataView {
    if (this.pos + size > this.buf.length) throw unexpectedEOF()
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, size)
    this.pos += size
    return view
  }

  /** Skips a field of an unknown number, as gogo's skipGenerated does (groups included). */
  skip(wire: number, message: string): void {
    switch (wire) {
      case WIRE_VARINT:
        this.uint64()
        return
      case WIRE_FIXED64:
        this.fixed(8)
        return
      case WIRE_BYTES:
        this.bytes()
        return
      case WIRE_FIXED32:
        this.fixed(4)
        return
      case WIRE_START_GROUP:
        for (;;) {
          if (this.done) throw unexpectedEOF()
          const key = this.uint64()
          const w = Number(key & 7n)
          if (w === WIRE_END_GROUP) return
          this.skip(w, message)
        }
      default:
        throw new ProtobufError(`proto: illegal wireType ${wire}`)
    }
  }
}

// A small protobuf writer for tests: builds messages field by field, as gogo would write them.
import { concatBytes } from '../../../src/util/bytes'

export type Part = Uint8Array

function varintBytes(v: bigint): number[] {
  let u = BigInt.asUintN(64, v)
  const out: number[] = []
  do {
    const b = Number(u & 0x7fn)
    u >>= 7n
    out.push(u ? b | 0x80 : b)
  } while (u)
  return out
}

function key(no: number, wire: number): number[] {
  return varintBytes(BigInt((no << 3) | wire))
}

/** The project's own concatenation, under the name these builders and their tests use. */
export const concat = concatBytes

/** A varint field; negative numbers are sign-extended to ten bytes, as int32 and int64 are. */
export function varint(no: number, v: number | bigint | boolean): Part {
  return new Uint8Array([
    ...key(no, 0),
    ...varintBytes(BigInt(typeof v === 'boolean' ? Number(v) : v)),
  ])
}

export function bytes(no: number, b: Uint8Array): Part {
  return concat(new Uint8Array([...key(no, 2), ...varintBytes(BigInt(b.length))]), b)
}

export function str(no: number, s: string): Part {
  return bytes(no, new TextEncoder().encode(s))
}

/** An embedded message field. */
export function msg(no: number, ...fields: Part[]): Part {
  return bytes(no, concat(...fields))
}

/** A map<string, string> entry. */
export function entry(no: number, k: string, v: string): Part {
  return msg(no, str(1, k), str(2, v))
}

/** The k8s\0 envelope around a runtime.Unknown carrying the object's message. */
export function envelope(apiVersion: string, kind: string, ...fields: Part[]): Uint8Array {
  return concat(
    new Uint8Array([0x6b, 0x38, 0x73, 0x00]),
    msg(1, str(1, apiVersion), str(2, kind)),
    bytes(2, concat(...fields)),
    str(3, ''),
    str(4, ''),
  )
}

/** A metav1.Time / Timestamp message body. */
export function timestamp(no: number, iso: string, nanos = 0): Part {
  return msg(no, varint(1, Math.floor(Date.parse(iso) / 1000)), varint(2, nanos))
}

// A protobuf message to the JSON object a JSON client would have sent for the same Go value.
//
// gogo writes every non-pointer field, zero or not, and reads an absent one as its zero value; encoding/json then
// drops zero values of omitempty fields, writes null for nil pointers, slices and maps without omitempty, and
// always writes structs. So each field is read into what the Go struct would hold and written the way
// encoding/json writes that struct.
import { concatBytes } from '../../util/bytes'
import {
  int32Of,
  int64Of,
  ProtobufError,
  uint32Of,
  WireReader,
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_VARINT,
} from './reader'
import {
  messages,
  type Field,
  type FieldType,
  type Message,
  type Scalar,
  type Special,
} from './messages'
import { errorText } from '../../util/errors'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

interface Occurrence {
  wire: number
  value: bigint | Uint8Array | DataView
}

const utf8 = new TextDecoder()
const EMPTY = new Uint8Array(0)

/** Decodes one message's bytes to its JSON object. */
export function decodeMessage(msg: Message, bytes: Uint8Array): { [k: string]: Json } {
  const seen = readFields(msg, bytes)
  const out: { [k: string]: Json } = {}
  for (const f of msg.fields) {
    const occ = seen.get(f.no) ?? []
    if (f.json === '') {
      // An embedded struct: encoding/json lifts its fields into the parent at this position.
      const inner = f.type.kind === 'message' ? messages().get(f.type.message)! : undefined
      if (!inner)
        throw new ProtobufError(`proto: ${goName(msg.name)}: unsupported inline field ${f.no}`)
      if (f.type.kind === 'message' && f.type.pointer && occ.length === 0) continue
      Object.assign(out, decodeMessage(inner, joined(occ)))
      continue
    }
    const v = fieldJson(f, occ)
    if (v !== undefined) out[f.json] = v
  }
  return out
}

function readFields(msg: Message, bytes: Uint8Array): Map<number, Occurrence[]> {
  const r = new WireReader(bytes)
  const seen = new Map<number, Occurrence[]>()
  const name = goName(msg.name)
  while (!r.done) {
    const { no, wire } = r.key(name)
    const field = msg.byNumber.get(no)
    if (!field) {
      r.skip(wire, name) // gogo skips fields it does not know
      continue
    }
    if (!wireOf(field.type).includes(wire)) throw wrongWireType(wire, field)
    const value =
      wire === WIRE_VARINT
        ? r.uint64()
        : wire === WIRE_BYTES
          ? r.bytes()
          : r.fixed(wire === WIRE_FIXED64 ? 8 : 4)
    let list = seen.get(no)
    if (!list) seen.set(no, (list = []))
    list.push({ wire, value })
  }
  return seen
}

function wireOf(t: FieldType): number[] {
  if (t.kind === 'scalar') {
    if (t.scalar === 's' || t.scalar === 'bytes') return [WIRE_BYTES]
    if (t.scalar === 'f64') return [WIRE_FIXED64]
    if (t.scalar === 'f32') return [WIRE_FIXED32]
    return [WIRE_VARINT]
  }
  if (t.kind === 'repeated') {
    const elem = wireOf(t.elem)
    // Repeated numbers may come packed, one length-delimited run (proto3 encoders do this).
    return elem[0] === WIRE_BYTES ? elem : [...elem, WIRE_BYTES]
  }
  return [WIRE_BYTES]
}

function wrongWireType(wire: number, f: Field): ProtobufError {
  return new ProtobufError(
    `proto: wrong wireType = ${wire} for field ${f.json ? f.json[0].toUpperCase() + f.json.slice(1) : 'Inline'}`,
  )
}

/** The message name as gogo's errors print it: "ObjectMeta". */
function goName(qualified: string): string {
  return qualified.slice(qualified.indexOf('.') + 1)
}

/** Proto merges repeated occurrences of a message field; concatenating their bytes is that merge. */
function joined(occ: Occurrence[]): Uint8Array {
  if (occ.length === 0) return EMPTY
  if (occ.length === 1) return occ[0].value as Uint8Array
  return concatBytes(...occ.map((o) => o.value as Uint8Array))
}

/** One field's JSON value, or undefined where encoding/json leaves the field out. */
function fieldJson(f: Field, occ: Occurrence[]): Json | undefined {
  const t = f.type
  switch (t.kind) {
    case 'repeated': {
      const items = repeatedItems(t.elem, occ)
      if (items.length === 0) return f.always ? null : undefined
      return items
    }
    case 'map': {
      const entries = occ.map((o) => mapEntry(t.value, o.value as Uint8Array))
      if (entries.length === 0) return f.always ? null : undefined
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) // encoding/json sorts map keys
      const obj: { [k: string]: Json } = {}
      for (const [k, v] of entries) obj[k] = v
      return obj
    }
    case 'scalar': {
      const last = occ[occ.length - 1]
      if (t.scalar === 'bytes') {
        // A []byte is nil when absent; present (even empty) it is a value, base64 in JSON.
        if (!last) return f.always ? null : undefined
        const b = last.value as Uint8Array
        return b.length === 0 && !f.always ? undefined : base64(b)
      }
      if (t.pointer) return last ? scalar(t.scalar, last) : f.always ? null : undefined
      const v = last ? scalar(t.scalar, last) : zeroScalar(t.scalar)
      return !f.always && (v === '' || v === 0 || v === false) ? undefined : v
    }
    case 'message':
    case 'special': {
      if (t.pointer && occ.length === 0) return f.always ? null : undefined
      // A struct value is always written, omitempty or not; absent, it is the zero struct.
      return t.kind === 'message'
        ? messageJson(t.message, joined(occ))
        : specialJson(t.special, joined(occ))
    }
  }
}

function repeatedItems(elem: FieldType, occ: Occurrence[]): Json[] {
  const out: Json[] = []
  for (const o of occ) {
    if (elem.kind === 'scalar') {
      if (o.wire === WIRE_BYTES && elem.scalar !== 's' && elem.scalar !== 'bytes') {
        const r = new WireReader(o.value as Uint8Array) // packed
        while (!r.done) {
          if (elem.scalar === 'f64') out.push(r.fixed(8).getFloat64(0, true))
          else if (elem.scalar === 'f32') out.push(r.fixed(4).getFloat32(0, true))
          else out.push(scalar(elem.scalar, { wire: WIRE_VARINT, value: r.uint64() }))
        }
      } else {
        out.push(elem.scalar === 'bytes' ? base64(o.value as Uint8Array) : scalar(elem.scalar, o))
      }
    } else if (elem.kind === 'message') {
      out.push(messageJson(elem.message, o.value as Uint8Array))
    } else if (elem.kind === 'special') {
      out.push(specialJson(elem.special, o.value as Uint8Array))
    } else {
      throw new ProtobufError('proto: nested repeated field')
    }
  }
  return out
}

function mapEntry(value: FieldType, bytes: Uint8Array): [string, Json] {
  // map<string, V> is carried as repeated message { key = 1; value = 2 }.
  const r = new WireReader(bytes)
  let key = ''
  let val: Uint8Array | bigint | undefined
  while (!r.done) {
    const { no, wire } = r.key('MapEntry')
    if (no === 1 && wire === WIRE_BYTES) key = utf8.decode(r.bytes())
    else if (no === 2 && wire === WIRE_BYTES) val = r.bytes()
    else if (no === 2 && wire === WIRE_VARINT) val = r.uint64()
    else r.skip(wire, 'MapEntry')
  }
  if (value.kind === 'scalar') {
    if (value.scalar === 'bytes') return [key, base64((val as Uint8Array | undefined) ?? EMPTY)]
    if (val === undefined) return [key, zeroScalar(value.scalar)]
    return [
      key,
      scalar(value.scalar, {
        wire: typeof val === 'bigint' ? WIRE_VARINT : WIRE_BYTES,
        value: val,
      }),
    ]
  }
  const body = (val as Uint8Array | undefined) ?? EMPTY
  if (value.kind === 'message') return [key, messageJson(value.message, body)]
  if (value.kind === 'special') return [key, specialJson(value.special, body)]
  throw new ProtobufError('proto: unsupported map value')
}

function messageJson(name: string, bytes: Uint8Array): Json {
  const msg = messages().get(name)!
  if (!msg.list) return decodeMessage(msg, bytes)
  // A named slice type (ExtraValue): its one field is `repeated items = 1`, and it is nil, so null, when empty.
  const items = repeatedItems(msg.list, readFields(msg, bytes).get(1) ?? [])
  return items.length ? items : null
}

function scalar(s: Scalar, o: Occurrence): Json {
  const v = o.value
  switch (s) {
    case 's':
      return utf8.decode(v as Uint8Array)
    case 'bytes':
      return base64(v as Uint8Array)
    case 'b':
      return (v as bigint) !== 0n
    case 'i32':
      return int32Of(v as bigint)
    case 'i64':
      return Number(int64Of(v as bigint))
    case 'u32':
      return uint32Of(v as bigint)
    case 'u64':
      return Number(v as bigint)
    case 'f64':
      return (v as DataView).getFloat64(0, true)
    case 'f32':
      return (v as DataView).getFloat32(0, true)
  }
}

function zeroScalar(s: Scalar): Json {
  return s === 's' || s === 'bytes' ? '' : s === 'b' ? false : 0
}

/** The fields of a small fixed message (Timestamp, Quantity, IntOrString, ...) by number. */
function smallFields(bytes: Uint8Array, name: string): Map<number, bigint | Uint8Array> {
  const r = new WireReader(bytes)
  const out = new Map<number, bigint | Uint8Array>()
  while (!r.done) {
    const { no, wire } = r.key(name)
    if (wire === WIRE_VARINT) out.set(no, r.uint64())
    else if (wire === WIRE_BYTES) out.set(no, r.bytes())
    else r.skip(wire, name)
  }
  return out
}

const num = (v: bigint | Uint8Array | undefined, bits: 32 | 64 = 64): number =>
  typeof v === 'bigint' ? (bits === 32 ? int32Of(v) : Number(int64Of(v))) : 0
const text = (v: bigint | Uint8Array | undefined): string =>
  v instanceof Uint8Array ? utf8.decode(v) : ''

// Go's zero time.Time is 0001-01-01T00:00:00Z; metav1.Time writes it as null.
const ZERO_TIME_SECONDS = -62135596800

function specialJson(special: Special, bytes: Uint8Array): Json {
  switch (special) {
    case 'metav1.Time':
    case 'metav1.MicroTime': {
      // Time.Marshal writes nothing for the zero time; otherwise a Timestamp { seconds = 1, nanos = 2 }.
      if (bytes.length === 0) return null
      const f = smallFields(bytes, 'Timestamp')
      const seconds = num(f.get(1))
      const nanos = num(f.get(2), 32)
      if (seconds === ZERO_TIME_SECONDS && nanos === 0) return null
      return formatTime(seconds, nanos, special === 'metav1.MicroTime')
    }
    case 'metav1.Duration':
      return formatDuration(
        int64Of((smallFields(bytes, 'Duration').get(1) as bigint | undefined) ?? 0n),
      )
    case 'resource.Quantity': {
      // Quantity { string string = 1 }, already canonical (Quantity.Marshal writes q.String()); zero is "0".
      const s = text(smallFields(bytes, 'Quantity').get(1))
      return s === '' ? '0' : s
    }
    case 'intstr.IntOrString': {
      const f = smallFields(bytes, 'IntOrString')
      return num(f.get(1)) === 1 ? text(f.get(3)) : num(f.get(2), 32)
    }
    case 'runtime.RawExtension':
    case 'metav1.FieldsV1':
    case 'apiextensionsv1.JSON': {
      // All carry raw JSON in field 1 and write it as is; nil is null.
      const goType = GO_TYPE[special]
      const raw = smallFields(bytes, goType.slice(goType.indexOf('.') + 1)).get(1)
      if (!(raw instanceof Uint8Array) || raw.length === 0) return null
      try {
        return JSON.parse(utf8.decode(raw)) as Json
      } catch (e) {
        throw new ProtobufError(
          `json: error calling MarshalJSON for type *${goType}: ${errorText(e)}`,
        )
      }
    }
    // apiextensions v1 marshal.go's MarshalJSON of the JSONSchemaPropsOr* unions.
    case 'apiextensionsv1.JSONSchemaPropsOrArray': {
      const f = unionFields(bytes, 'JSONSchemaPropsOrArray')
      if (f.repeated.length) return f.repeated.map((b) => schemaJson([b]))
      return f.schema.length ? schemaJson(f.schema) : null
    }
    case 'apiextensionsv1.JSONSchemaPropsOrBool': {
      const f = unionFields(bytes, 'JSONSchemaPropsOrBool')
      if (f.schema.length) return schemaJson(f.schema)
      return f.allows
    }
    case 'apiextensionsv1.JSONSchemaPropsOrStringArray': {
      const f = unionFields(bytes, 'JSONSchemaPropsOrStringArray')
      if (f.repeated.length) return f.repeated.map((b) => utf8.decode(b))
      return f.schema.length ? schemaJson(f.schema) : null
    }
  }
}

const GO_TYPE: Record<string, string> = {
  'runtime.RawExtension': 'runtime.RawExtension',
  'metav1.FieldsV1': 'v1.FieldsV1',
  'apiextensionsv1.JSON': 'v1.JSON',
}

/**
 * A JSONSchemaPropsOr* message: its schema (field 1, or 2 in OrBool; occurrences merge), its repeated field
 * (2: schemas or strings) and OrBool's allows (1).
 */
function unionFields(
  bytes: Uint8Array,
  name: string,
): { schema: Uint8Array[]; repeated: Uint8Array[]; allows: boolean } {
  const out = { schema: [] as Uint8Array[], repeated: [] as Uint8Array[], allows: false }
  const orBool = name === 'JSONSchemaPropsOrBool'
  const r = new WireReader(bytes)
  while (!r.done) {
    const { no, wire } = r.key(name)
    if (orBool && no === 1 && wire === WIRE_VARINT) out.allows = r.uint64() !== 0n
    else if (no === (orBool ? 2 : 1) && wire === WIRE_BYTES) out.schema.push(r.bytes())
    else if (!orBool && no === 2 && wire === WIRE_BYTES) out.repeated.push(r.bytes())
    else r.skip(wire, name)
  }
  return out
}

function schemaJson(occurrences: Uint8Array[]): Json {
  const msg = messages().get('apiextensionsv1.JSONSchemaProps')!
  return decodeMessage(msg, occurrences.length === 1 ? occurrences[0] : concatBytes(...occurrences))
}

/** time.RFC3339 in UTC for metav1.Time (whole seconds), RFC3339Micro for MicroTime. */
function formatTime(seconds: number, nanos: number, micro: boolean): string {
  const iso = new Date(seconds * 1000).toISOString() // "2006-01-02T15:04:05.000Z"
  const base = iso.slice(0, 19)
  return micro ? `${base}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${base}Z`
}

/** Go's time.Duration.String(): "1h2m3.5s", "150ms", "0s". */
export function formatDuration(d: bigint): string {
  if (d === 0n) return '0s'
  const neg = d < 0n
  let u = neg ? -d : d
  let out: string
  if (u < 1_000_000_000n) {
    // Under a second: the largest of ns, µs, ms that keeps a whole part.
    const [unit, scale] =
      u < 1000n ? ['ns', 1n] : u < 1_000_000n ? ['µs', 1000n] : ['ms', 1_000_000n]
    out = fraction(u, scale) + unit
  } else {
    const h = u / 3_600_000_000_000n
    u -= h * 3_600_000_000_000n
    const m = u / 60_000_000_000n
    u -= m * 60_000_000_000n
    out = `${fraction(u, 1_000_000_000n)}s`
    if (h > 0n || m > 0n) out = `${m}m${out}`
    if (h > 0n) out = `${h}h${out}`
  }
  return neg ? `-${out}` : out
}

function fraction(v: bigint, scale: bigint): string {
  const whole = v / scale
  const rest = v % scale
  if (rest === 0n) return `${whole}`
  const digits = String(scale).length - 1
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`
}

function base64(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000))
  return btoa(s)
}

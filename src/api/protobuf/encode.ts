// An object's JSON to its protobuf message, as gogo's generated Marshal writes the Go value encoding/json would
// have read from that JSON: every non-pointer field whatever its value (an absent one as its zero value), a
// pointer, slice, map or []byte only when set, fields in number order, map entries sorted by key. The inverse of
// decode.ts, so that kube-apiserver's storage codec reads what this writes (and the bytes of a value kube wrote
// come out again).
import { parseGoDuration } from '../../go/duration'
import { messages, type Field, type FieldType, type Message, type Special } from './messages'
import { ProtobufError } from './reader'
import { WireWriter } from './writer'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Obj = { [k: string]: Json }

const utf8 = new TextEncoder()
const EMPTY: Obj = Object.freeze({}) as Obj

/** The message's bytes for obj (a JSON object). */
export function encodeMessage(msg: Message, obj: Obj): Uint8Array {
  const w = new WireWriter()
  writeFields(w, msg, obj)
  return w.finish()
}

/** The message's fields for obj, written into w (a list's items, one after another in one buffer). */
export function writeMessage(w: WireWriter, msg: Message, obj: Obj): void {
  writeFields(w, msg, obj)
}

// A message's fields in number order, the order gogo writes them (the table keeps Go struct order).
const byNumber = new WeakMap<Message, Field[]>()

function writeFields(w: WireWriter, msg: Message, obj: Obj): void {
  let fields = byNumber.get(msg)
  if (!fields) byNumber.set(msg, (fields = [...msg.fields].sort((a, b) => a.no - b.no)))
  for (const f of fields) writeField(w, msg, f, f.json === '' ? obj : obj[f.json])
}

function writeField(w: WireWriter, msg: Message, f: Field, v: Json | undefined): void {
  const t = f.type
  if (f.json === '') {
    // An embedded struct: its fields are the parent's JSON fields.
    if (t.kind !== 'message')
      throw new ProtobufError(`proto: ${msg.name}: unsupported inline field`)
    if (t.pointer && !hasAnyField(messages().get(t.message)!, v as Obj)) return
    const at = w.begin(f.no)
    writeFields(w, messages().get(t.message)!, v as Obj)
    w.end(at)
    return
  }
  switch (t.kind) {
    case 'repeated':
      if (!Array.isArray(v)) return
      for (const item of v) writeValue(w, f.no, t.elem, item, true)
      return
    case 'map': {
      if (v === null || v === undefined || typeof v !== 'object') return
      const keys = Object.keys(v).sort()
      for (const k of keys) {
        w.message(f.no, (e) => {
          e.string(1, k)
          writeValue(e, 2, t.value, (v as Obj)[k] ?? null, true)
        })
      }
      return
    }
    default:
      writeValue(w, f.no, t, v, false)
  }
}

/** Whether an embedded pointer struct has anything set (encoding/json leaves it nil otherwise). */
function hasAnyField(msg: Message, obj: Obj): boolean {
  return msg.fields.some((f) =>
    f.json === ''
      ? hasAnyField(messages().get((f.type as { message: string }).message)!, obj)
      : obj[f.json] !== undefined,
  )
}

function writeValue(
  w: WireWriter,
  no: number,
  t: FieldType,
  v: Json | undefined,
  element: boolean,
): void {
  // A pointer (or a slice element, a map value) is written when set; a non-pointer field always.
  const set = v !== undefined && v !== null
  switch (t.kind) {
    case 'scalar': {
      if (t.scalar === 'bytes') {
        if (set || element) w.bytes(no, unbase64(set ? String(v) : ''))
        return
      }
      if (t.pointer && !set) return
      writeScalar(w, no, t.scalar, set ? v : undefined)
      return
    }
    case 'message': {
      if (t.pointer && !set) return
      const msg = messages().get(t.message)!
      if (msg.list) {
        const items = Array.isArray(v) ? v : []
        w.message(no, (m) => {
          for (const item of items) writeValue(m, 1, msg.list!, item, true)
        })
        return
      }
      const at = w.begin(no)
      writeFields(w, msg, set ? (v as Obj) : EMPTY)
      w.end(at)
      return
    }
    case 'special':
      if (t.pointer && !set) return
      w.message(no, (m) => writeSpecial(m, t.special, set ? v : null))
      return
    default:
      throw new ProtobufError('proto: nested repeated field')
  }
}

function writeScalar(w: WireWriter, no: number, s: string, v: Json | undefined): void {
  switch (s) {
    case 's':
      w.string(no, typeof v === 'string' ? v : '')
      return
    case 'b':
      w.bool(no, v === true)
      return
    case 'f64':
      w.double(no, typeof v === 'number' ? v : 0)
      return
    case 'f32':
      throw new ProtobufError('proto: float32 fields are not written')
    default:
      w.int64(no, typeof v === 'number' ? Math.trunc(v) : 0)
  }
}

// Go's zero time.Time; metav1.Time's Marshal writes nothing for it.
function writeSpecial(w: WireWriter, special: Special, v: Json): void {
  switch (special) {
    case 'metav1.Time':
    case 'metav1.MicroTime': {
      if (typeof v !== 'string') return
      const [seconds, nanos] = parsedTime(v)
      w.int64(1, seconds).int64(2, nanos)
      return
    }
    case 'metav1.Duration': {
      const ms = typeof v === 'string' ? parseGoDuration(v) : 0
      w.int64(1, Math.round(ms * 1e6))
      return
    }
    case 'resource.Quantity':
      w.string(1, typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '0')
      return
    case 'intstr.IntOrString':
      if (typeof v === 'string') w.int64(1, 1).int64(2, 0).string(3, v)
      else
        w.int64(1, 0)
          .int64(2, typeof v === 'number' ? v : 0)
          .string(3, '')
      return
    case 'runtime.RawExtension':
    case 'metav1.FieldsV1':
    case 'apiextensionsv1.JSON':
      // JSON.UnmarshalJSON keeps the value's text as Raw, and leaves it nil for null.
      if (v !== null) w.bytes(1, utf8.encode(JSON.stringify(v)))
      return
    // The JSONSchemaPropsOr* unions hold what their UnmarshalJSON (apiextensions v1 marshal.go) read: an object
    // is the schema; otherwise an array of schemas, a bool, or an array of strings.
    case 'apiextensionsv1.JSONSchemaPropsOrArray':
      if (Array.isArray(v)) for (const item of v) writeSchema(w, 2, item)
      else if (isObject(v)) writeSchema(w, 1, v)
      return
    case 'apiextensionsv1.JSONSchemaPropsOrBool':
      // Allows is a plain bool, always written; an object allows too.
      w.bool(1, v === true || isObject(v))
      if (isObject(v)) writeSchema(w, 2, v)
      return
    case 'apiextensionsv1.JSONSchemaPropsOrStringArray':
      if (isObject(v)) writeSchema(w, 1, v)
      else if (Array.isArray(v))
        for (const item of v) w.string(2, typeof item === 'string' ? item : '')
      return
  }
}

function isObject(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function writeSchema(w: WireWriter, no: number, v: Json): void {
  const at = w.begin(no)
  writeFields(w, messages().get('apiextensionsv1.JSONSchemaProps')!, isObject(v) ? v : EMPTY)
  w.end(at)
}

// The objects of a list share few distinct timestamps (creation, managed fields): each is parsed once.
const times = new Map<string, [number, number]>()

function parsedTime(v: string): [number, number] {
  let t = times.get(v)
  if (t) return t
  const ms = Date.parse(v)
  if (Number.isNaN(ms)) throw new ProtobufError(`proto: bad time ${JSON.stringify(v)}`)
  const frac = /\.(\d+)/.exec(v)?.[1] ?? ''
  t = [Math.floor(ms / 1000), frac ? Number(frac.padEnd(9, '0').slice(0, 9)) : 0]
  if (times.size >= 4096) times.clear()
  times.set(v, t)
  return t
}

function unbase64(s: string): Uint8Array {
  const bin = atob(s)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

// application/vnd.kubernetes.protobuf bodies: apimachinery's runtime/serializer/protobuf envelope, the magic
// "k8s\0" and then a runtime.Unknown { typeMeta { apiVersion = 1, kind = 2 } = 1, raw = 2, contentEncoding = 3,
// contentType = 4 } whose raw is the object's own message.
import { badRequest, unsupportedMediaType, type StatusError } from '../../server/errors'
import { decodeMessage } from './decode'
import { encodeMessage } from './encode'
import { messageForKind } from './messages'
import { ProtobufError, WireReader, WIRE_BYTES } from './reader'
import { WireWriter } from './writer'
import { concatBytes } from '../../util/bytes'

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf'
const MAGIC = [0x6b, 0x38, 0x73, 0x00] // "k8s\0"

/** What the endpoint decodes into: it names the kind in errors and fills a missing kind or apiVersion, as kube's copyKindDefaults does. */
export interface DecodeInto {
  apiVersion: string
  kind: string
}

interface Unknown {
  apiVersion: string
  kind: string
  raw: Uint8Array
}

/**
 * Decodes a protobuf body to the object a JSON client would have sent for it (kind and apiVersion from the
 * envelope). Bad bodies get kube-apiserver's 400 wording; a kind we have no message table for answers 415, as
 * for a body of a type the endpoint cannot read.
 */
export function decodeProtobufObject(body: Uint8Array, into?: DecodeInto): Record<string, unknown> {
  let unk: Unknown
  try {
    unk = readEnvelope(body)
  } catch (e) {
    throw unrecognized(e, body, into)
  }
  // copyKindDefaults: a missing kind, or a missing version, comes from the endpoint.
  if (!unk.kind && into) unk.kind = into.kind
  if (!unk.apiVersion.split('/').pop() && into) unk.apiVersion = into.apiVersion
  if (!unk.kind)
    throw unrecognized(
      new ProtobufError(`Object 'Kind' is missing in '${typeMetaGoString(unk)}'`),
      body,
      into,
    )
  if (!unk.apiVersion.split('/').pop())
    throw unrecognized(
      new ProtobufError(`Object 'apiVersion' is missing in '${typeMetaGoString(unk)}'`),
      body,
      into,
    )

  const msg = messageForKind(unk.apiVersion, unk.kind)
  if (!msg)
    throw unsupportedMediaType(PROTOBUF_MEDIA_TYPE, ['application/json', 'application/yaml'])
  try {
    return { kind: unk.kind, apiVersion: unk.apiVersion, ...decodeMessage(msg, unk.raw) }
  } catch (e) {
    if (!(e instanceof ProtobufError)) throw e
    const version = unk.apiVersion.slice(unk.apiVersion.indexOf('/') + 1)
    throw badRequest(
      `${unk.kind} in version ${JSON.stringify(version)} cannot be handled as a ${into?.kind ?? unk.kind}: ${e.message}`,
    )
  }
}

/**
 * Decodes a value kube-apiserver stored (its storage codec writes built-in kinds in this envelope) to the
 * object's JSON form, with kind and apiVersion from the envelope. Throws ProtobufError where kube's codec
 * would fail the read: a malformed value, or a kind we have no message table for.
 */
export function decodeStoredProtobuf(value: Uint8Array): Record<string, unknown> {
  const unk = readEnvelope(value)
  const msg = messageForKind(unk.apiVersion, unk.kind)
  if (!msg)
    throw new ProtobufError(
      `no kind ${JSON.stringify(unk.kind)} is registered for version ${JSON.stringify(unk.apiVersion)}`,
    )
  return { kind: unk.kind, apiVersion: unk.apiVersion, ...decodeMessage(msg, unk.raw) }
}

/**
 * An object (JSON, with apiVersion and kind) in kube-apiserver's storage envelope, as its protobuf serializer
 * writes it for etcd; undefined for a kind without a message table (custom resources stay JSON, as kube's do)
 * and for CustomResourceDefinitions, which kube-apiserver stores as JSON whatever --storage-media-type says
 * (its apiextensions storage codec is Codecs.LegacyCodec, a JSON one).
 */
export function encodeStoredProtobuf(obj: Record<string, unknown>): Uint8Array | undefined {
  if (obj.kind === 'DeleteOptions' || obj.kind === 'Status') return undefined
  if (typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('apiextensions.k8s.io/'))
    return undefined
  return encodeProtobufObject(obj)
}

/**
 * An object (JSON, with apiVersion and kind) as kube's protobuf serializer encodes it, for etcd and for
 * responses alike: "k8s\0" and a runtime.Unknown whose raw is the object's message. Fields the Go type lacks
 * are not written, as a Go struct never holds them. Undefined for a kind without a message table.
 */
export function encodeProtobufObject(obj: Record<string, unknown>): Uint8Array | undefined {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : ''
  const kind = typeof obj.kind === 'string' ? obj.kind : ''
  const msg = messageForKind(apiVersion, kind)
  if (!msg) return undefined
  const raw = encodeMessage(msg, obj as Parameters<typeof encodeMessage>[1])
  return concatBytes(envelopeHead(apiVersion, kind, raw.length), raw, ENVELOPE_TAIL)
}

/**
 * The envelope's bytes up to its raw field's content, for a raw of rawLength bytes: a list's items can then
 * follow as they are written, without copying them into one buffer.
 */
export function envelopeHead(apiVersion: string, kind: string, rawLength: number): Uint8Array {
  const w = new WireWriter()
  for (const b of MAGIC) w.varint(b) // each byte is below 0x80: one varint byte apiece
  w.message(1, (t) => t.string(1, apiVersion).string(2, kind))
  w.varint((2 << 3) | WIRE_BYTES).varint(rawLength)
  return w.finish()
}

/** Unknown's contentEncoding and contentType: gogo writes the empty strings of non-pointer fields. */
export const ENVELOPE_TAIL = new WireWriter().string(3, '').string(4, '').finish()

function readEnvelope(body: Uint8Array): Unknown {
  // The checks and texts of the protobuf Serializer's Decode.
  if (body.length === 0) throw new ProtobufError('empty data')
  if (body.length < MAGIC.length || MAGIC.some((b, i) => body[i] !== b)) {
    throw new ProtobufError(
      `provided data does not appear to be a protobuf message, expected prefix [${MAGIC.join(' ')}]`,
    )
  }
  if (body.length === MAGIC.length) throw new ProtobufError('empty body')
  const unk: Unknown = { apiVersion: '', kind: '', raw: new Uint8Array(0) }
  const r = new WireReader(body.subarray(MAGIC.length))
  while (!r.done) {
    const { no, wire } = r.key('Unknown')
    if (no >= 1 && no <= 4 && wire !== WIRE_BYTES)
      throw new ProtobufError(
        `proto: wrong wireType = ${wire} for field ${['TypeMeta', 'Raw', 'ContentEncoding', 'ContentType'][no - 1]}`,
      )
    if (no === 1) {
      const t = new WireReader(r.bytes())
      while (!t.done) {
        const f = t.key('TypeMeta')
        if ((f.no === 1 || f.no === 2) && f.wire !== WIRE_BYTES)
          throw new ProtobufError(
            `proto: wrong wireType = ${f.wire} for field ${f.no === 1 ? 'APIVersion' : 'Kind'}`,
          )
        if (f.no === 1) unk.apiVersion = new TextDecoder().decode(t.bytes())
        else if (f.no === 2) unk.kind = new TextDecoder().decode(t.bytes())
        else t.skip(f.wire, 'TypeMeta')
      }
    } else if (no === 2) {
      unk.raw = r.bytes()
    } else {
      r.skip(wire, 'Unknown') // contentEncoding and contentType: the serializer does not look at them
    }
  }
  return unk
}

/** transformDecodeError for a body whose kind is not known. */
function unrecognized(
  e: unknown,
  body: Uint8Array,
  into: DecodeInto | undefined,
): StatusError | unknown {
  if (!(e instanceof ProtobufError)) return e
  if (!into) return badRequest(e.message)
  return badRequest(
    `the object provided is unrecognized (must be of type ${into.kind}): ${e.message} (${summarizeData(body, 30)})`,
  )
}

/** apiserver's summarizeData: the body's start as text if it looks like JSON, else as hex. */
export function summarizeData(data: Uint8Array, max: number): string {
  if (data.length === 0) return '<empty>'
  const head = data.subarray(0, max)
  const more = data.length > max ? ' ...' : ''
  if (data[0] === 0x7b) return new TextDecoder().decode(head) + more
  return Array.from(head, (b) => b.toString(16).padStart(2, '0')).join('') + more
}

/** fmt's %#v of a runtime.TypeMeta. */
function typeMetaGoString(unk: Unknown): string {
  return `runtime.TypeMeta{APIVersion:${JSON.stringify(unk.apiVersion)}, Kind:${JSON.stringify(unk.kind)}}`
}

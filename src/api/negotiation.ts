// Request bodies in and response bodies out: the content types kube-apiserver accepts and produces.
import { sizedBytesResponse, sizedResponse } from '../metrics/response-size'
import { stringify as stringifyYaml } from 'yaml'
import {
  badRequest,
  internalError,
  notAcceptable,
  requestEntityTooLarge,
  StatusError,
  unsupportedMediaType,
} from '../server/errors'
import {
  decodeGoJson,
  GoJsonSyntaxError,
  jsonKind,
  type DecodeOptions,
  type JsonValue,
} from '../go/json'
import {
  decodeProtobufObject,
  encodeProtobufObject,
  PROTOBUF_MEDIA_TYPE,
  summarizeData,
  type DecodeInto,
} from './protobuf/envelope'
import { YamlError, yamlToJson } from './yaml'
import { discardBody } from '../util/http'

/** kube-apiserver's default --max-request-bytes for a single object body. */
export const MAX_REQUEST_BYTES = 3 * 1024 * 1024

export const JSON_TYPES = [
  'application/json',
  'application/yaml',
  'application/vnd.kubernetes.protobuf',
]

export function mediaType(contentType: string | undefined | null): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase()
}

/**
 * Reads the body up to MAX_REQUEST_BYTES: a declared Content-Length over it is refused before reading
 * (the runtime holds the body to it; src/worker.ts reads the rest before the 413 goes out), and a body
 * without one is refused once past it, its rest read and dropped (discardBody) rather than cancelled.
 */
export async function readBodyText(req: Request, limit = MAX_REQUEST_BYTES): Promise<string> {
  const length = req.headers.get('content-length')
  const declared = Number(length ?? '0')
  if (declared > limit) throw requestEntityTooLarge(limit)
  if (length === '0') return ''
  if (length !== null && /^\d+$/.test(length)) {
    // A declared length the runtime holds the body to (Node's HTTP parser, workerd): read whole, which
    // @hono/node-server does straight from the socket instead of through a web stream (a twentieth of
    // a create's CPU in Node mode).
    return bodyText(req, new Uint8Array(await req.arrayBuffer()))
  }
  if (!req.body) return ''
  const reader = req.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await discardBody(reader)
      throw requestEntityTooLarge(limit)
    }
    chunks.push(value)
  }
  const buf = new Uint8Array(total)
  let off = 0
  for (const c of chunks) {
    buf.set(c, off)
    off += c.byteLength
  }
  return bodyText(req, buf)
}

function bodyText(req: Request, buf: Uint8Array): string {
  // A protobuf body is not text: keep its bytes, one char each (a "binary string"), for decodeObject.
  if (mediaType(req.headers.get('content-type')) === PROTOBUF_MEDIA_TYPE) return binaryString(buf)
  return new TextDecoder().decode(buf)
}

function binaryString(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000))
  return s
}

// The struct apimachinery's SimpleMetaFactory.Interpret decodes a body into to find its kind, as
// reflect prints it in encoding/json's errors.
const FIND_KIND_TYPE =
  'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'

/**
 * Decodes an object body sent as JSON, YAML or protobuf (as read by readBodyText), answering bad input the way
 * kube-apiserver's decoder does. `into` names the endpoint's kind: what cannot be read far enough to know the
 * body's own kind is "the object provided is unrecognized (must be of type <kind>)", as transformDecodeError
 * says it; without it (DeleteOptions) the decoder's error stands alone. A JSON null is an empty object, whose
 * kind the endpoint supplies. `options` collects duplicate fields of a JSON body.
 */
export function decodeObject(
  text: string,
  contentType: string,
  into?: DecodeInto,
  options: DecodeOptions = {},
): Record<string, unknown> {
  const mt = mediaType(contentType) || 'application/json'
  let value: unknown
  if (
    mt === 'application/json' ||
    mt === 'application/yaml' ||
    mt === 'application/apply-patch+yaml'
  ) {
    try {
      value = mt === 'application/json' ? decodeGoJson(text, options) : yamlToJson(text)
    } catch (e) {
      if (e instanceof GoJsonSyntaxError)
        throw decodeError(`couldn't get version/kind; json parse error: ${e.message}`, text, into)
      if (e instanceof YamlError)
        throw decodeError(`error converting YAML to JSON: yaml: ${e.message}`, text, into)
      throw e
    }
    const kindError = interpretError(value)
    if (kindError) throw decodeError(kindError, text, into)
  } else if (mt === PROTOBUF_MEDIA_TYPE) {
    value = decodeProtobufObject(
      Uint8Array.from(text, (c) => c.charCodeAt(0)),
      into,
    )
  } else {
    throw unsupportedMediaType(mt, [
      'application/json',
      'application/yaml',
      'application/vnd.kubernetes.protobuf',
    ])
  }
  return (value ?? {}) as Record<string, unknown>
}

/**
 * SimpleMetaFactory.Interpret: encoding/json's type errors for a body that is not an object or whose
 * apiVersion or kind is not a string (its fields match keys case-insensitively), and ParseGroupVersion's.
 */
function interpretError(value: unknown): string | undefined {
  if (value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) {
    return `couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonKind(value as JsonValue)} into Go value of type ${FIND_KIND_TYPE}`
  }
  let apiVersion = ''
  for (const [key, v] of Object.entries(value)) {
    const field =
      key.toLowerCase() === 'apiversion'
        ? 'apiVersion'
        : key.toLowerCase() === 'kind'
          ? 'kind'
          : undefined
    if (!field || v === null) continue
    if (typeof v !== 'string') {
      return `couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonKind(v as JsonValue)} into Go struct field .${field} of type string`
    }
    if (field === 'apiVersion') apiVersion = v
  }
  if (apiVersion.split('/').length > 2) return `unexpected GroupVersion string: ${apiVersion}`
  return undefined
}

function decodeError(message: string, text: string, into: DecodeInto | undefined): StatusError {
  if (!into) return badRequest(message)
  // summarizeData looks at 30 bytes; 31 characters are at least 31 bytes, enough to know there is more.
  const head = new TextEncoder().encode(text.length > 30 ? text.slice(0, 31) : text)
  return badRequest(
    `the object provided is unrecognized (must be of type ${into.kind}): ${message} (${summarizeData(head, 30)})`,
  )
}

export interface AcceptTarget {
  /** 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList' | '' for the plain object. */
  as: string
  version: string
  /** The response's media type: application/json, application/yaml or application/vnd.kubernetes.protobuf. */
  mediaType: string
  yaml: boolean
  protobuf: boolean
}

/** What an endpoint can answer beyond its plain object (kube's RequestScope as EndpointRestrictions). */
export interface Endpoint {
  table: boolean
  metadata: boolean
  /**
   * The plain object may go out as protobuf: built-in kinds. Custom resources have only
   * JSON and YAML, kube's StandardSerializers for them; their PartialObjectMetadata may still be protobuf.
   */
  protobuf?: boolean
}

/** kube-apiserver's serializers in its codec factory's order; the first answers a request without Accept. */
const SERIALIZERS = [
  { mediaType: 'application/json', type: 'application', subType: 'json', stream: true },
  { mediaType: 'application/yaml', type: 'application', subType: 'yaml', stream: false },
  {
    mediaType: PROTOBUF_MEDIA_TYPE,
    type: 'application',
    subType: 'vnd.kubernetes.protobuf',
    stream: true,
  },
]
type Serializer = (typeof SERIALIZERS)[number]

export const SERVED_MEDIA_TYPES = SERIALIZERS.map((s) => s.mediaType)
const STREAM_MEDIA_TYPES = SERIALIZERS.filter((s) => s.stream).map(
  (s) => `${s.mediaType};stream=watch`,
)

interface AcceptClause {
  type: string
  subType: string
  q: number
  params: Record<string, string>
}

/**
 * goautoneg.ParseAccept, which kube's negotiation uses: clauses split on "," and ";", trimmed of spaces
 * only, compared case-sensitively; a bad q is 0; a media range that is neither "*" nor type/subtype is
 * dropped. Sorted by sort.Sort with its Less (higher q first, then a concrete type or subtype before a
 * wildcard), which for the few clauses of a header is Go's insertion sort, so ties keep their order.
 */
export function parseAccept(header: string): AcceptClause[] {
  const out: AcceptClause[] = []
  for (const raw of header.split(',')) {
    const [range, ...params] = trimSpaces(raw).split(';')
    const sp = range.split('/')
    const type = trimSpaces(sp[0])
    let subType: string
    if (sp.length === 1 && type === '*') subType = '*'
    else if (sp.length === 2) subType = trimSpaces(sp[1])
    else continue
    const clause: AcceptClause = { type, subType, q: 1, params: {} }
    for (const param of params) {
      const eq = param.indexOf('=')
      if (eq < 0) continue
      const token = trimSpaces(param.slice(0, eq))
      if (token === 'q') clause.q = parseGoFloat32(param.slice(eq + 1))
      else clause.params[token] = trimSpaces(param.slice(eq + 1))
    }
    out.push(clause)
  }
  const less = (a: AcceptClause, b: AcceptClause) =>
    a.q > b.q || (a.type !== '*' && b.type === '*') || (a.subType !== '*' && b.subType === '*')
  for (let i = 1; i < out.length; i++)
    for (let j = i; j > 0 && less(out[j], out[j - 1]); j--)
      [out[j], out[j - 1]] = [out[j - 1], out[j]]
  return out
}

function trimSpaces(s: string): string {
  return s.replace(/^ +| +$/g, '')
}

/** strconv.ParseFloat(s, 32), 0 when it does not parse (goautoneg ignores the error). */
function parseGoFloat32(s: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return 0
  return Math.fround(Number(s))
}

/**
 * NegotiateOutputMediaType: the first clause of Accept, best first, that a serializer matches (exactly,
 * type/*, or * / *) and whose parameters the endpoint allows (as/g/v a transform it offers, stream=watch
 * only where the serializer streams, sv the meta group's version); no Accept is JSON. None acceptable is
 * 406 naming every serializer's media type.
 */
export function negotiate(accept: string | null | undefined, endpoint: Endpoint): AcceptTarget {
  const found = negotiateSerializer(accept, endpoint)
  if (!found) throw notAcceptable(SERVED_MEDIA_TYPES)
  return found.target
}

/**
 * A watch negotiates twice, as kube's ListResource and serveWatchHandler do: first as any read, then for a
 * serializer that streams (not YAML), whose refusal lists the stream media types.
 */
export function negotiateWatch(
  accept: string | null | undefined,
  endpoint: Endpoint,
): AcceptTarget {
  const target = negotiate(accept, endpoint)
  const found = negotiateSerializer(accept, endpoint)
  if (!found?.serializer.stream) throw notAcceptable(STREAM_MEDIA_TYPES)
  return target
}

function negotiateSerializer(
  accept: string | null | undefined,
  endpoint: Endpoint,
): { target: AcceptTarget; serializer: Serializer } | undefined {
  if (!accept) return { target: targetFor(SERIALIZERS[0], '', ''), serializer: SERIALIZERS[0] }
  for (const clause of parseAccept(accept)) {
    for (const ser of SERIALIZERS) {
      const matches =
        (clause.type === ser.type && (clause.subType === ser.subType || clause.subType === '*')) ||
        (clause.type === '*' && clause.subType === '*')
      if (!matches) continue
      const target = acceptMediaTypeOptions(clause.params, ser, endpoint)
      if (target) return { target, serializer: ser }
    }
  }
  return undefined
}

function targetFor(ser: Serializer, as: string, version: string): AcceptTarget {
  return {
    as,
    version,
    mediaType: ser.mediaType,
    yaml: ser.subType === 'yaml',
    protobuf: ser.mediaType === PROTOBUF_MEDIA_TYPE,
  }
}

/** acceptMediaTypeOptions with RequestScope's AllowsMediaTypeTransform, AllowsServerVersion and AllowsStreamSchema. */
function acceptMediaTypeOptions(
  params: Record<string, string>,
  ser: Serializer,
  endpoint: Endpoint,
): AcceptTarget | undefined {
  let convert: { kind: string; group: string; version: string } | undefined
  for (const [k, v] of Object.entries(params)) {
    if (k === 'as' || k === 'g' || k === 'v') {
      convert ??= { kind: '', group: '', version: '' }
      convert[k === 'as' ? 'kind' : k === 'g' ? 'group' : 'version'] = v
    } else if (k === 'stream') {
      if (v && (!ser.stream || v !== 'watch')) return undefined
    } else if (k === 'sv') {
      if (v && v !== 'v1') return undefined
    }
  }
  if (!convert) {
    if (ser.mediaType === PROTOBUF_MEDIA_TYPE && !endpoint.protobuf) return undefined
    return targetFor(ser, '', '')
  }
  if (
    convert.group !== 'meta.k8s.io' ||
    (convert.version !== 'v1' && convert.version !== 'v1beta1')
  )
    return undefined
  if (convert.kind === 'Table') {
    if (!endpoint.table || ser.mediaType === PROTOBUF_MEDIA_TYPE) return undefined
    return targetFor(ser, 'Table', convert.version)
  }
  if (convert.kind === 'PartialObjectMetadata' || convert.kind === 'PartialObjectMetadataList') {
    if (!endpoint.metadata) return undefined
    return targetFor(ser, convert.kind, convert.version)
  }
  return undefined
}

/** A response body in the negotiated media type; protobuf for a kind without a message is a 500. */
export function respondAs(status: number, body: unknown, target: AcceptTarget): Response {
  if (!target.protobuf) return respond(status, body, target.yaml)
  const bytes = encodeProtobufObject(body as Record<string, unknown>)
  if (!bytes) {
    const { kind, apiVersion } = body as Record<string, unknown>
    throw internalError(
      new Error(`no protobuf message for ${String(kind)} in ${String(apiVersion)}`),
    )
  }
  return respondProtobuf(status, [bytes])
}

/** A protobuf body made of chunks sent one after another (a list's items). */
export function respondProtobuf(status: number, chunks: Uint8Array[]): Response {
  return sizedBytesResponse(chunks, {
    status,
    headers: { 'Content-Type': PROTOBUF_MEDIA_TYPE, 'Cache-Control': 'no-cache, private' },
  })
}

export function respond(status: number, body: unknown, yaml = false): Response {
  if (!yaml) return respondJSON(status, JSON.stringify(body))
  return sizedResponse(stringifyYaml(body), {
    status,
    headers: { 'Content-Type': 'application/yaml', 'Cache-Control': 'no-cache, private' },
  })
}

/** A body already written as JSON text. */
export function respondJSON(status: number, text: string): Response {
  return sizedResponse(text, {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' },
  })
}

/** respondJSON for a body already in UTF-8 (a LIST's items put together from their cached bytes). */
export function respondJSONBytes(status: number, body: Uint8Array): Response {
  return sizedBytesResponse([body], {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' },
  })
}

/**
 * An error as a Status, negotiated as kube's ErrorNegotiated does (no transforms; protobuf for any client
 * that accepts it, as every scope's serializer offers it); where negotiation fails, JSON, so that the
 * error is never hidden behind a 406: WriteObjectNegotiated's WriteRawJSON, json.MarshalIndent with two
 * spaces.
 */
export function respondError(err: StatusError, accept?: string | null): Response {
  if (!err.bare && accept) {
    const found = negotiateSerializer(accept, { table: false, metadata: false, protobuf: true })
    if (found?.target.protobuf) return respondAs(err.code, err.toStatus(), found.target)
    if (found?.target.yaml) return respond(err.code, err.toStatus(), true)
    if (!found) return respondJSON(err.code, JSON.stringify(err.toStatus(), null, 2))
  }
  if (err.bare) {
    // Go's json.Encoder on a Status without TypeMeta, and net/http's sniffed content type.
    const { kind: _k, apiVersion: _a, ...status } = err.toStatus()
    return new Response(JSON.stringify(status) + '\n', {
      status: err.code,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    })
  }
  return respondJSON(err.code, JSON.stringify(err.toStatus()))
}

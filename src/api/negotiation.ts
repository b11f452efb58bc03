// Request bodies in and response bodies out: the content types kube-apiserver accepts and produces.
import { sizedResponse } from '../metrics/response-size'
import { stringify as stringifyYaml } from 'yaml'
import {
  badRequest,
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
  PROTOBUF_MEDIA_TYPE,
  summarizeData,
  type DecodeInto,
} from './protobuf/envelope'
import { YamlError, yamlToJson } from './yaml'

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

/** Reads the body up to MAX_REQUEST_BYTES without trusting Content-Length alone. */
export async function readBodyText(req: Request, limit = MAX_REQUEST_BYTES): Promise<string> {
  const declared = Number(req.headers.get('content-length') ?? '0')
  if (declared > limit) throw requestEntityTooLarge(limit)
  if (!req.body) return ''
  const reader = req.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await reader.cancel()
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
  yaml: boolean
}

/**
 * Picks the first acceptable representation from Accept, as kube-apiserver's negotiation does:
 * kubectl asks for a Table first and plain JSON as a fallback.
 */
export function negotiate(
  accept: string | null | undefined,
  allowed: { table: boolean; metadata: boolean },
): AcceptTarget {
  if (!accept) return { as: '', version: '', yaml: false }
  for (const raw of accept.split(',')) {
    const [typePart, ...paramParts] = raw.split(';').map((s) => s.trim())
    const params: Record<string, string> = {}
    for (const p of paramParts) {
      const [k, v] = p.split('=').map((s) => s.trim())
      if (k) params[k] = v ?? ''
    }
    const t = typePart.toLowerCase()
    if (
      t !== 'application/json' &&
      t !== 'application/yaml' &&
      t !== '*/*' &&
      t !== 'application/*'
    )
      continue
    const yaml = t === 'application/yaml'
    if (!params.as) return { as: '', version: '', yaml }
    if (params.g !== 'meta.k8s.io' || (params.v !== 'v1' && params.v !== 'v1beta1')) continue
    if (params.as === 'Table' && allowed.table) return { as: 'Table', version: params.v, yaml }
    if (
      (params.as === 'PartialObjectMetadata' || params.as === 'PartialObjectMetadataList') &&
      allowed.metadata
    ) {
      return { as: params.as, version: params.v, yaml }
    }
  }
  throw notAcceptable([
    'application/json',
    'application/yaml',
    'application/vnd.kubernetes.protobuf',
  ])
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

export function respondError(err: StatusError): Response {
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

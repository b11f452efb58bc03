// Request bodies in and response bodies out: the content types kube-apiserver accepts and produces.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { badRequest, notAcceptable, requestEntityTooLarge, StatusError, unsupportedMediaType } from '../server/errors'
import { decodeProtobufObject, PROTOBUF_MEDIA_TYPE, type DecodeInto } from './protobuf/envelope'

/** kube-apiserver's default --max-request-bytes for a single object body. */
export const MAX_REQUEST_BYTES = 3 * 1024 * 1024

export const JSON_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']

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

/**
 * Decodes an object body sent as JSON, YAML or protobuf (as read by readBodyText), answering bad input the way
 * kube-apiserver's decoder does; `into`, where known, names the endpoint's kind in protobuf errors.
 */
export function decodeObject(text: string, contentType: string, into?: DecodeInto): Record<string, unknown> {
  const mt = mediaType(contentType) || 'application/json'
  let value: unknown
  if (mt === 'application/json') {
    try {
      value = JSON.parse(text)
    } catch (e) {
      throw badRequest(`couldn't get version/kind; json parse error: ${jsonErrorText(e)}`)
    }
  } else if (mt === 'application/yaml' || mt === 'application/apply-patch+yaml') {
    try {
      value = parseYaml(text, { maxAliasCount: 100 })
    } catch (e) {
      throw badRequest(`error converting YAML to JSON: ${(e as Error).message.split('\n')[0]}`)
    }
  } else if (mt === PROTOBUF_MEDIA_TYPE) {
    value = decodeProtobufObject(Uint8Array.from(text, (c) => c.charCodeAt(0)), into)
  } else {
    throw unsupportedMediaType(mt, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'])
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`Object 'Kind' is missing in '${text.slice(0, 200)}'`)
  }
  return value as Record<string, unknown>
}

function jsonErrorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  return msg.replace(/^JSON\.parse: /, '')
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
export function negotiate(accept: string | null | undefined, allowed: { table: boolean; metadata: boolean }): AcceptTarget {
  if (!accept) return { as: '', version: '', yaml: false }
  for (const raw of accept.split(',')) {
    const [typePart, ...paramParts] = raw.split(';').map((s) => s.trim())
    const params: Record<string, string> = {}
    for (const p of paramParts) {
      const [k, v] = p.split('=').map((s) => s.trim())
      if (k) params[k] = v ?? ''
    }
    const t = typePart.toLowerCase()
    if (t !== 'application/json' && t !== 'application/yaml' && t !== '*/*' && t !== 'application/*') continue
    const yaml = t === 'application/yaml'
    if (!params.as) return { as: '', version: '', yaml }
    if (params.g !== 'meta.k8s.io' || (params.v !== 'v1' && params.v !== 'v1beta1')) continue
    if (params.as === 'Table' && allowed.table) return { as: 'Table', version: params.v, yaml }
    if ((params.as === 'PartialObjectMetadata' || params.as === 'PartialObjectMetadataList') && allowed.metadata) {
      return { as: params.as, version: params.v, yaml }
    }
  }
  throw notAcceptable(['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'])
}

export function respond(status: number, body: unknown, yaml = false): Response {
  if (!yaml) return respondJSON(status, JSON.stringify(body))
  return new Response(stringifyYaml(body), { status, headers: { 'Content-Type': 'application/yaml', 'Cache-Control': 'no-cache, private' } })
}

/** A body already written as JSON text. */
export function respondJSON(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' } })
}

export function respondError(err: StatusError): Response {
  if (err.bare) {
    // Go's json.Encoder on a Status without TypeMeta, and net/http's sniffed content type.
    const { kind: _k, apiVersion: _a, ...status } = err.toStatus()
    return new Response(JSON.stringify(status) + '\n', { status: err.code, headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
  }
  return respondJSON(err.code, JSON.stringify(err.toStatus()))
}

// Serving the OpenAPI documents with kube-openapi's caching rules (pkg/handler3): the v3 root lists each
// group-version's document URL with ?hash=<ETag>; a document fetched with the current hash is immutable
// for a year, one fetched with an old hash redirects (301) to the current one. /openapi/v2 is served as JSON or
// as gnostic's protobuf message (pkg/handler); the v3 documents only as JSON: a client that accepts nothing
// but protobuf there gets 406 and falls back to JSON.
import type { Registry } from '../../registry/registry'
import type { ResourceType } from '../../registry/types'
import { openapiV2Document, openapiV3Document, openapiV3Paths } from './document'
import { decodeOpenAPIHash } from '../query'
import { openapiV2Protobuf } from './protobuf'

interface Cached {
  sig: readonly unknown[]
  body: string
  etag: string
  protobuf?: Uint8Array<ArrayBuffer>
}
const caches = new WeakMap<Registry, Map<string, Cached>>()

async function sha512Hex(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-512', new TextEncoder().encode(text)),
  )
  let hex = ''
  for (const b of digest) hex += b.toString(16).padStart(2, '0')
  return hex.toUpperCase()
}

// What a document depends on: the type objects, and the schema each hands out (a CRD's schema can change
// without a new type object).
function signature(types: readonly ResourceType[]): unknown[] {
  return [...types, ...types.map((t) => t.schema?.())]
}

/** A document, rebuilt only when the types behind it changed (a CRD added, updated or removed). */
async function cached(
  registry: Registry,
  key: string,
  types: readonly ResourceType[],
  make: () => unknown,
): Promise<Cached | undefined> {
  let cache = caches.get(registry)
  if (!cache) caches.set(registry, (cache = new Map()))
  const sig = signature(types)
  const hit = cache.get(key)
  if (hit && hit.sig.length === sig.length && hit.sig.every((x, i) => x === sig[i])) return hit
  const doc = make()
  if (doc === undefined) return undefined
  const body = JSON.stringify(doc)
  const entry: Cached = { sig, body, etag: await sha512Hex(body) }
  cache.set(key, entry)
  return entry
}

function groupVersionDoc(
  registry: Registry,
  group: string,
  version: string,
): Promise<Cached | undefined> {
  const types = registry.all().filter((t) => t.group === group && t.version === version)
  if (!types.length) return Promise.resolve(undefined)
  return cached(registry, `v3:${group}/${version}`, types, () =>
    openapiV3Document(registry, group, version),
  )
}

/** Whether an Accept header lets us answer JSON (*\/*, application/*, application/json). */
function acceptsJSON(accept: string | null): boolean {
  if (!accept) return true
  return accept.split(',').some((part) => {
    const type = part.split(';')[0].trim().toLowerCase()
    const q = /;\s*q=([0-9.]+)/.exec(part)
    if (q && Number(q[1]) === 0) return false
    return type === '*/*' || type === 'application/*' || type === 'application/json'
  })
}

function notModified(req: Request, etag: string): boolean {
  const inm = req.headers.get('if-none-match')
  return !!inm && inm.split(',').some((t) => t.trim() === `"${etag}"` || t.trim() === '*')
}

function documentResponse(
  req: Request,
  entry: Cached,
  headers: Record<string, string>,
  protobuf = false,
): Response {
  const type = protobuf ? PROTOBUF_V2 : 'application/json'
  const h = { 'Content-Type': type, Etag: `"${entry.etag}"`, Vary: 'Accept', ...headers }
  if (notModified(req, entry.etag)) return new Response(null, { status: 304, headers: h })
  if (req.method === 'HEAD') return new Response(null, { status: 200, headers: h })
  // Made from the JSON text on first request, as kube-openapi's ToProtoBinary does, so that the document
  // object need not stay in memory beside the two encodings.
  if (protobuf) entry.protobuf ??= openapiV2Protobuf(JSON.parse(entry.body))
  return new Response(protobuf ? entry.protobuf : entry.body, { status: 200, headers: h })
}

// kube-openapi's names for the protobuf form; the first is deprecated but is what client-go asks for, and
// both are answered with the second. The ETag is the JSON document's, as there.
const PROTOBUF_V2 = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'
const PROTOBUF_V2_DEPRECATED = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
const V2_TYPES = ['application/json', PROTOBUF_V2_DEPRECATED, PROTOBUF_V2]

/**
 * The type /openapi/v2 answers with, chosen as kube-openapi's handler chooses: the Accept clauses sorted as
 * goautoneg sorts them (by q, then the more specific first), and for each the first of JSON, the deprecated
 * protobuf name and the protobuf name that it matches; undefined when none matches (406).
 */
function negotiateV2(accept: string | null): 'json' | 'protobuf' | undefined {
  const clauses = (accept || '*/*')
    .split(',')
    .map((part, i) => {
      const [range, ...params] = part.split(';').map((x) => x.trim())
      const [type = '', subtype = ''] = range.toLowerCase().split('/')
      const q = params.map((p) => /^q=([0-9.]+)$/.exec(p)).find(Boolean)
      return { type, subtype, q: q ? Number(q[1]) : 1, i }
    })
    .filter((c) => c.type && c.subtype)
  clauses.sort((a, b) => b.q - a.q || specificity(b) - specificity(a) || a.i - b.i)
  for (const c of clauses) {
    const match = V2_TYPES.find((t) => {
      const [type, subtype] = t.split('/')
      return (c.type === type || c.type === '*') && (c.subtype === subtype || c.subtype === '*')
    })
    if (match) return match === 'application/json' ? 'json' : 'protobuf'
  }
  return undefined
}
function specificity(c: { type: string; subtype: string }): number {
  return c.type === '*' ? 0 : c.subtype === '*' ? 1 : 2
}

const NOT_ACCEPTABLE = () =>
  new Response(null, {
    status: 406,
    headers: { Vary: 'Accept', 'Cache-Control': 'no-cache, private' },
  })
const NOT_FOUND = () =>
  new Response('404 page not found\n', {
    status: 404,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, private' },
  })

/**
 * GET /openapi/v2. Extension servers' documents (`merged`) add their paths and definitions, as
 * kube-aggregator's OpenAPI aggregation merges them; ours win where both have one.
 */
export async function serveOpenAPIV2(
  req: Request,
  registry: Registry,
  merged: Record<string, any>[] = [],
): Promise<Response> {
  const as = negotiateV2(req.headers.get('accept'))
  if (!as) return NOT_ACCEPTABLE()
  let entry = (await cached(registry, 'v2', registry.all(), () => openapiV2Document(registry)))!
  if (merged.length) {
    const doc = JSON.parse(entry.body) as Record<string, any>
    for (const m of merged) {
      doc.paths = { ...m.paths, ...doc.paths }
      doc.definitions = { ...m.definitions, ...doc.definitions }
    }
    const body = JSON.stringify(doc)
    entry = { sig: [], body, etag: await sha512Hex(body) }
  }
  return documentResponse(req, entry, { 'Cache-Control': 'no-cache, private' }, as === 'protobuf')
}

/** GET /openapi/v3: the group-versions and the hashed URL of each document. */
export async function serveOpenAPIV3Root(
  req: Request,
  registry: Registry,
  /** Extension servers' entries (their group versions), as their own roots list them. */
  merged: Record<string, { serverRelativeURL: string }> = {},
): Promise<Response> {
  const paths: Record<string, { serverRelativeURL: string }> = { ...merged }
  for (const gv of openapiV3Paths(registry)) {
    const entry = await groupVersionDoc(registry, gv.group, gv.version)
    if (entry) paths[gv.path] = { serverRelativeURL: `/openapi/v3/${gv.path}?hash=${entry.etag}` }
  }
  const body = JSON.stringify({
    paths: Object.fromEntries(
      Object.keys(paths)
        .sort()
        .map((k) => [k, paths[k]]),
    ),
  })
  const etag = await sha512Hex(body)
  return documentResponse(req, { sig: [], body, etag }, { 'Cache-Control': 'no-cache, private' })
}

/** GET /openapi/v3/api/<version> and /openapi/v3/apis/<group>/<version> */
export async function serveOpenAPIV3GroupVersion(
  req: Request,
  url: URL,
  registry: Registry,
): Promise<Response> {
  const parts = url.pathname
    .replace(/^\/openapi\/v3\//, '')
    .split('/')
    .filter(Boolean)
  let group: string
  let version: string
  if (parts[0] === 'api' && parts.length === 2) [group, version] = ['', parts[1]]
  else if (parts[0] === 'apis' && parts.length === 3) [group, version] = [parts[1], parts[2]]
  else return NOT_FOUND()
  const entry = await groupVersionDoc(registry, group, version)
  if (!entry) return NOT_FOUND()
  if (!acceptsJSON(req.headers.get('accept'))) return NOT_ACCEPTABLE()
  const hash = decodeOpenAPIHash(url.searchParams)
  if (hash) {
    if (hash !== entry.etag) {
      return new Response(null, {
        status: 301,
        headers: {
          Location: `/openapi/v3/${parts.join('/')}?hash=${entry.etag}`,
          'Cache-Control': 'no-cache, private',
        },
      })
    }
    const expires = new Date(Date.now() + 365 * 24 * 3600 * 1000)
      .toUTCString()
      .replace('GMT', 'UTC')
    return documentResponse(req, entry, { 'Cache-Control': 'public, immutable', Expires: expires })
  }
  return documentResponse(req, entry, { 'Cache-Control': 'no-cache, private' })
}

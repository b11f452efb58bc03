// Requests for a remote APIService's group version, proxied to its Service as kube-aggregator's
// handler_proxy.go does: authentication and authorization already happened here, the user travels in the
// front-proxy headers (X-Remote-User, X-Remote-Group, X-Remote-Extra-<key>) over TLS verified against the
// APIService's caBundle with the front-proxy client certificate, and the extension server authorizes on its
// own (a SubjectAccessReview back to us). Where the Service is reached: one of its ready endpoints, as
// --enable-aggregator-routing does, or its clusterIP:port.
import { HOP_BY_HOP_HEADERS } from '../util/http'
import type { UserInfo } from '../registry/types'
import type { Store } from '../storage/store'
import type { APIService, ServiceReference } from './apiservices'
import { errorText } from '../util/errors'

/** One outbound HTTPS request to an extension server; the answer streams back. */
export interface AggregatorCall {
  url: string
  method: string
  headers: Headers
  body: ReadableStream<Uint8Array> | null
  /** PEM, decoded from spec.caBundle; without it the system roots verify. */
  caBundle?: string
  insecureSkipTLSVerify?: boolean
  /** The name the certificate must carry: <service>.<namespace>.svc, as kube's transport config says. */
  serverName: string
  signal?: AbortSignal
}

/**
 * Makes the call. Node mode verifies against the caBundle and presents --proxy-client-cert-file; the Worker's
 * fetch trusts the platform's roots (NODE_EXTRA_CA_CERTS under `npm start`) and presents a client certificate
 * only through an mTLS certificate binding. Throws on transport errors, with Go's wording where it can.
 */
export type AggregatorFetch = (call: AggregatorCall) => Promise<Response>

/**
 * The Worker's call: its fetch verifies against the platform's roots only (workerd takes no CA per request;
 * `npm start` trusts NODE_EXTRA_CA_CERTS), so caBundle and insecureSkipTLSVerify cannot be honoured there,
 * and no client certificate is presented.
 */
export const fetchAggregatorCall: AggregatorFetch = (call) =>
  fetch(call.url, {
    method: call.method,
    headers: call.headers,
    body: call.body,
    signal: call.signal,
    redirect: 'manual',
    // Node's fetch (tests) needs to be told the body streams; workerd ignores it.
    ...(call.body ? { duplex: 'half' } : {}),
  } as RequestInit)

export interface AggregatorOptions {
  fetch: AggregatorFetch
  /** --enable-aggregator-routing: dial an endpoint of the Service rather than its cluster IP. */
  endpointRouting: boolean
  /**
   * Run the remote availability checks from requests that reach the aggregator (default true): for runtimes
   * without a loop of their own (the Worker). Node mode runs a loop (src/node/aggregator.ts).
   */
  checkOnRequests?: boolean
}

/** Why a Service could not be resolved; clients see only "service unavailable", as from kube. */
export class ResolveError extends Error {}

type Obj = Record<string, any>

async function read(store: Store, key: string): Promise<Obj | undefined> {
  const { kv } = await store.get(key)
  return kv ? (JSON.parse(kv.value) as Obj) : undefined
}

/**
 * The host:port of the Service: kube's proxy.ResolveEndpoint (a ready address of the Endpoints subset that
 * carries the service port's name, at that subset's port) or proxy.ResolveCluster (clusterIP:port, or the
 * ExternalName).
 */
export async function resolveService(
  store: Store,
  ref: ServiceReference,
  endpointRouting: boolean,
): Promise<string> {
  const port = ref.port ?? 443
  const svc = await read(store, `/registry/services/specs/${ref.namespace}/${ref.name}`)
  if (!svc) throw new ResolveError(`service "${ref.name}" not found`)
  const spec = (svc.spec ?? {}) as Obj
  const svcPort = ((spec.ports ?? []) as Obj[]).find((p) => p.port === port)
  if (spec.type === 'ExternalName') return `${spec.externalName}:${port}`
  if (!svcPort) throw new ResolveError(`no service port ${port} found for service "${ref.name}"`)
  if (!endpointRouting) {
    const ip = spec.clusterIP
    if (!ip || ip === 'None') throw new ResolveError(`service "${ref.name}" has no cluster IP`)
    return `${hostOf(ip)}:${port}`
  }
  const ep = await read(store, `/registry/services/endpoints/${ref.namespace}/${ref.name}`)
  if (!ep) throw new ResolveError(`endpoints "${ref.name}" not found`)
  for (const subset of (ep.subsets ?? []) as Obj[]) {
    const epPort = ((subset.ports ?? []) as Obj[]).find(
      (p) => (p.name ?? '') === (svcPort.name ?? ''),
    )
    const addresses = (subset.addresses ?? []) as Obj[]
    if (!epPort || !addresses.length) continue
    const addr = addresses[Math.floor(Math.random() * addresses.length)]!
    return `${hostOf(addr.ip)}:${epPort.port}`
  }
  throw new ResolveError(`no endpoints available for service "${ref.name}"`)
}

const hostOf = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip)

// Hop-by-hop headers, and the credentials this server consumed: kube's authentication and impersonation
// filters delete Authorization and Impersonate-* before the proxy sees the request.
const DROPPED = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'authorization',
  'content-length',
  // The body is relayed as it comes, decoded: neither side's compression crosses the proxy.
  'accept-encoding',
  'content-encoding',
])

/** transport.SetAuthProxyHeaders: the user's name, groups and extra, any such header from the client removed. */
export function authProxyHeaders(incoming: Headers, user: UserInfo): Headers {
  const h = new Headers()
  for (const [k, v] of incoming) {
    const lk = k.toLowerCase()
    if (DROPPED.has(lk) || lk.startsWith('impersonate-') || lk.startsWith('x-remote-')) continue
    h.append(k, v)
  }
  h.set('X-Remote-User', user.username)
  for (const g of user.groups) h.append('X-Remote-Group', g)
  for (const [key, values] of Object.entries(user.extra ?? {}))
    for (const v of values) h.append(`X-Remote-Extra-${encodeURIComponent(key)}`, v)
  return h
}

/** http.Error's answer: text/plain, the message and a newline. */
export function proxyError(message: string, status: number): Response {
  return new Response(`${message}\n`, {
    status,
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache, private',
    },
  })
}

function decodeCABundle(b64: string | undefined): string | undefined {
  if (!b64) return undefined
  try {
    return atob(b64)
  } catch {
    return undefined
  }
}

/** proxyHandler.ServeHTTP for a remote APIService. */
export async function proxyToAPIService(
  req: Request,
  url: URL,
  user: UserInfo,
  apiService: APIService & { spec: { service: ServiceReference } },
  available: boolean,
  store: Store,
  opts: AggregatorOptions,
): Promise<Response> {
  if (!available) return proxyError('service unavailable', 503)
  const ref = apiService.spec.service
  let host: string
  try {
    host = await resolveService(store, ref, opts.endpointRouting)
  } catch (e) {
    if (e instanceof ResolveError) {
      console.error(`error resolving ${ref.namespace}/${ref.name}: ${e.message}`)
      return proxyError('service unavailable', 503)
    }
    throw e
  }
  const target = `https://${host}${url.pathname}${url.search}`
  try {
    const res = await opts.fetch({
      url: target,
      method: req.method,
      headers: authProxyHeaders(req.headers, user),
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req.body,
      caBundle: decodeCABundle(apiService.spec.caBundle),
      insecureSkipTLSVerify: apiService.spec.insecureSkipTLSVerify,
      serverName: `${ref.name}.${ref.namespace}.svc`,
      signal: req.signal,
    })
    const headers = new Headers()
    for (const [k, v] of res.headers) if (!DROPPED.has(k.toLowerCase())) headers.append(k, v)
    // A watch is relayed as it comes: never buffered for compression (kubectl asks for gzip).
    if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1')
      headers.set('Content-Encoding', 'identity')
    return new Response(res.body, { status: res.status, headers })
  } catch (e) {
    // The upgrade-aware proxy's responder: 503 with the transport's error.
    return proxyError(errorText(e), 503)
  }
}

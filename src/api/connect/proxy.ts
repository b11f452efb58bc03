// pods/proxy, services/proxy and nodes/proxy: kube's ProxyREST for each (pkg/registry/core/{pod,service,
// node}), whose ResourceLocation picks the backend, and UpgradeAwareHandler with its proxy Transport
// (k8s.io/apimachinery/pkg/util/proxy), which sends every method on with the path after proxy/, and
// rewrites what points back at the backend (redirects, links in HTML) to go through the proxy path.
import { badRequest, StatusError } from '../../server/errors'
import { joinHostPort, type KubeletNode } from '../../kubelet/node-address'
import { KubeletDialError, type KubeletTransport } from '../../kubelet/transport'
import {
  forwardedHeaders,
  isUpgradeRequest,
  kubeletFor,
  plainError,
  storeFor,
  type KubeObject,
} from './kubelet'
import type { ConnectRequest } from './index'

/** utilnet.SplitSchemeNamePort: "name", "name:port" or "scheme:name:port" (scheme http or https). */
function splitSchemeNamePort(
  id: string,
): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':')
  let scheme = ''
  let name = ''
  let port = ''
  if (parts.length === 1) name = parts[0]
  else if (parts.length === 2) [name, port] = parts
  else if (parts.length === 3) [scheme, name, port] = parts
  else return undefined
  if (!name || (scheme && scheme !== 'http' && scheme !== 'https')) return undefined
  return { scheme, name, port }
}

const SERVICE_UNAVAILABLE = (message: string) => new StatusError(503, 'ServiceUnavailable', message)

/** proxyutil.IsProxyableIP: loopback and link-local addresses are not proxied to. */
function checkProxyableIP(ip: string): void {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip)
  const lower = ip.toLowerCase()
  let ok: boolean
  if (v4) ok = v4[1] !== '127' && !(v4[1] === '169' && v4[2] === '254') && v4[1] !== '0'
  else if (ip.includes(':'))
    ok = lower !== '::1' && !lower.startsWith('fe80:') && !/^ff0[12]:/.test(lower)
  else ok = false
  if (!ok) throw badRequest('address not allowed')
}

interface Target {
  transport: KubeletTransport
  node: KubeletNode
  scheme: 'http' | 'https'
}

async function podTarget(r: ConnectRequest, id: string): Promise<Target> {
  const split = splitSchemeNamePort(id)
  if (!split) throw badRequest(`invalid pod request ${JSON.stringify(id)}`)
  const pod: KubeObject = await storeFor(r.registry, r.store, 'pods').get(
    r.info.namespace,
    split.name,
  )
  let port = split.port
  if (!port)
    for (const c of pod.spec?.containers ?? [])
      if (c.ports?.length) {
        port = String(c.ports[0].containerPort)
        break
      }
  const ip: string = pod.status?.podIP ?? ''
  checkProxyableIP(ip)
  const scheme = split.scheme === 'https' ? 'https' : 'http'
  return {
    transport: endpointsOf(r),
    node: { name: split.name, host: ip, port: port ? Number(port) : scheme === 'https' ? 443 : 80 },
    scheme,
  }
}

async function serviceTarget(r: ConnectRequest, id: string): Promise<Target> {
  const split = splitSchemeNamePort(id)
  if (!split) throw badRequest(`invalid service request ${JSON.stringify(id)}`)
  const svc: KubeObject = await storeFor(r.registry, r.store, 'services').get(
    r.info.namespace,
    split.name,
  )
  const svcPorts: { name?: string; port: number }[] = svc.spec?.ports ?? []
  const svcPort = svcPorts.find(
    (p) => !split.port || p.name === split.port || String(p.port) === split.port,
  )
  if (!svcPort)
    throw SERVICE_UNAVAILABLE(
      `no service port ${JSON.stringify(split.port)} found for service ${JSON.stringify(split.name)}`,
    )
  const portName = svcPort.name ?? ''
  let eps: KubeObject | undefined
  try {
    eps = await storeFor(r.registry, r.store, 'endpoints').get(r.info.namespace, split.name)
  } catch (e) {
    if (!(e instanceof StatusError) || e.code !== 404) throw e
  }
  const subsets: KubeObject[] = eps?.subsets ?? []
  if (!subsets.length)
    throw SERVICE_UNAVAILABLE(`no endpoints available for service ${JSON.stringify(split.name)}`)
  // kube starts at a random subset and takes a random ready address with the port's name.
  const start = Math.floor(Math.random() * subsets.length)
  for (let i = 0; i < subsets.length; i++) {
    const ss = subsets[(start + i) % subsets.length]
    const port = (ss.ports ?? []).find((p: KubeObject) => (p.name ?? '') === portName)
    const addresses: KubeObject[] = ss.addresses ?? []
    if (!port || !addresses.length) continue
    const addr = addresses[Math.floor(Math.random() * addresses.length)]
    checkProxyableIP(addr.ip)
    return {
      transport: endpointsOf(r),
      node: { name: split.name, host: addr.ip, port: port.port },
      scheme: split.scheme === 'https' ? 'https' : 'http',
    }
  }
  throw SERVICE_UNAVAILABLE(`no endpoints available for service ${JSON.stringify(id)}`)
}

/** Node ResourceLocation: the kubelet, through its transport, unless another port is asked. */
async function nodeTarget(r: ConnectRequest, id: string): Promise<Target> {
  const split = splitSchemeNamePort(id)
  if (!split) throw badRequest(`invalid node request ${JSON.stringify(id)}`)
  const { node, transport } = await kubeletFor(r.kubelet, r.registry, r.store, split.name)
  if (node.host) checkProxyableIP(node.host)
  if (!split.port || split.port === String(node.port)) return { transport, node, scheme: 'https' }
  return {
    transport: endpointsOf(r),
    node: { ...node, port: Number(split.port) },
    scheme: split.scheme === 'https' ? 'https' : 'http',
  }
}

function endpointsOf(r: ConnectRequest): KubeletTransport {
  if (!r.kubelet) throw plainError('proxying is not configured on this server')
  return r.kubelet.endpoints
}

export async function proxy(
  r: ConnectRequest,
  kind: 'pods' | 'services' | 'nodes',
): Promise<Response> {
  const url = new URL(r.req.url)
  // parts: [resource, id, 'proxy', ...rest]; the path after proxy/ keeps its encoding and trailing slash.
  const prefixParts = url.pathname.split('/')
  const proxyAt = prefixParts.indexOf('proxy', prefixParts.indexOf(r.info.resource) + 2)
  const prefix = prefixParts.slice(0, proxyAt + 1).join('/')
  const rest = url.pathname.slice(prefix.length)
  // UpgradeAwareHandler: the bare proxy path is redirected to itself with a slash, for relative links.
  if (rest === '' && r.req.method === 'GET' && !isUpgradeRequest(r.req.headers))
    return new Response(null, {
      status: 301,
      headers: { Location: `${prefix}/${url.search}` },
    })
  const id = r.info.name
  const target =
    kind === 'pods'
      ? await podTarget(r, id)
      : kind === 'services'
        ? await serviceTarget(r, id)
        : await nodeTarget(r, id)
  const path = (rest || '/') + url.search
  const headers = forwardedHeaders(r.req.headers, isUpgradeRequest(r.req.headers))
  headers.set('X-Forwarded-Host', url.host)
  headers.set('X-Forwarded-Proto', url.protocol.replace(':', ''))
  headers.set('X-Forwarded-Uri', url.pathname + url.search)
  const backend = `${target.scheme}://${joinHostPort(target.node.host, target.node.port)}`
  const request = {
    method: r.req.method,
    path,
    headers,
    body: r.req.method === 'GET' || r.req.method === 'HEAD' ? null : r.req.body,
    signal: r.req.signal,
    scheme: target.scheme,
  }
  try {
    if (isUpgradeRequest(r.req.headers)) {
      const up = await target.transport.upgrade(target.node, request)
      if (up.status === 101) return r.kubelet!.respondUpgraded(up)
      return new Response(up.body ?? null, { status: up.status, headers: up.headers })
    }
    const res = await target.transport.request(target.node, request)
    return rewriteResponse(res, backend, prefix)
  } catch (e) {
    if (e instanceof KubeletDialError)
      throw plainError(`error trying to reach service: ${e.message}`, 503)
    throw e
  }
}

/**
 * The proxy Transport's rewriting: a redirect to the backend, or to a path on it, goes through the proxy
 * path; so do links in an HTML answer (href, src, action) that name the backend or an absolute path.
 */
async function rewriteResponse(res: Response, backend: string, prefix: string): Promise<Response> {
  const headers = new Headers(res.headers)
  const rewrite = (u: string): string => {
    if (u.startsWith(backend)) u = u.slice(backend.length) || '/'
    if (u.startsWith('/') && !u.startsWith('//') && !u.startsWith(prefix + '/')) return prefix + u
    return u
  }
  const location = headers.get('location')
  if (location) headers.set('location', rewrite(location))
  const type = headers.get('content-type') ?? ''
  if (!type.startsWith('text/html') || headers.get('content-encoding') || !res.body)
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers })
  const html = await res.text()
  const rewritten = html.replace(
    /(\s(?:href|src|action|background|cite|codebase|longdesc|usemap|data|poster|formaction)\s*=\s*)(["'])([^"']*)\2/gi,
    (_m, attr: string, quote: string, value: string) => `${attr}${quote}${rewrite(value)}${quote}`,
  )
  headers.delete('content-length')
  return new Response(rewritten, { status: res.status, statusText: res.statusText, headers })
}

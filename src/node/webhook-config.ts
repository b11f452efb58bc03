// The kubeconfig-format files of --authorization-webhook-config-file and
// --authentication-token-webhook-config-file: the current context's cluster is the webhook (its server
// URL, the CA that verifies it), its user is how this server authenticates to it (a client certificate,
// a token or a token file), and a fetch that calls it over node:https with those.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { dirname, isAbsolute, join } from 'node:path'
import { parse } from 'yaml'
import { errorText } from '../util/errors'

export interface WebhookTarget {
  url: string
  bearerToken?: string
  fetch: typeof fetch
}

interface Kubeconfig {
  clusters?: { name: string; cluster: Record<string, unknown> }[]
  users?: { name: string; user: Record<string, unknown> }[]
  contexts?: { name: string; context: { cluster?: string; user?: string } }[]
  'current-context'?: string
}

export class WebhookConfigError extends Error {}

/** Reads a webhook kubeconfig as kube's webhook client does (clientcmd, the current context). */
export function loadWebhookKubeconfig(flag: string, path: string): WebhookTarget {
  const fail = (why: string) => new WebhookConfigError(`--${flag}: ${path}: ${why}`)
  let cfg: Kubeconfig
  try {
    cfg = (parse(readFileSync(path, 'utf8')) ?? {}) as Kubeconfig
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).code ?? errorText(e))
  }
  const dir = dirname(path)
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : join(dir, p), 'utf8')
  const b64 = (s: unknown) => Buffer.from(String(s), 'base64').toString('utf8')
  const ctxName = cfg['current-context']
  const context = ctxName ? cfg.contexts?.find((c) => c.name === ctxName)?.context : undefined
  if (ctxName && !context)
    throw fail(`invalid configuration: context was not found for specified context: ${ctxName}`)
  // Without a current context, clientcmd has nothing to pick; one cluster and one user is unambiguous.
  const cluster = context
    ? cfg.clusters?.find((c) => c.name === context.cluster)?.cluster
    : cfg.clusters?.length === 1
      ? cfg.clusters[0]!.cluster
      : undefined
  const user = context
    ? cfg.users?.find((u) => u.name === context.user)?.user
    : cfg.users?.length === 1
      ? cfg.users[0]!.user
      : undefined
  if (!cluster)
    throw fail(
      'invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable',
    )
  const server = cluster.server
  if (typeof server !== 'string' || !server)
    throw fail('invalid configuration: no server found for cluster')
  let ca: string | undefined
  let cert: string | undefined
  let key: string | undefined
  let bearerToken: string | undefined
  try {
    if (cluster['certificate-authority-data']) ca = b64(cluster['certificate-authority-data'])
    else if (typeof cluster['certificate-authority'] === 'string')
      ca = file(cluster['certificate-authority'])
    if (user?.['client-certificate-data']) cert = b64(user['client-certificate-data'])
    else if (typeof user?.['client-certificate'] === 'string')
      cert = file(user['client-certificate'])
    if (user?.['client-key-data']) key = b64(user['client-key-data'])
    else if (typeof user?.['client-key'] === 'string') key = file(user['client-key'])
    if (typeof user?.token === 'string') bearerToken = user.token
    else if (typeof user?.tokenFile === 'string') bearerToken = file(user.tokenFile).trim()
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).message)
  }
  const insecure = cluster['insecure-skip-tls-verify'] === true
  const serverName =
    typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined
  return { url: server, bearerToken, fetch: nodeFetch({ ca, cert, key, insecure, serverName }) }
}

/** The part of fetch the webhook clients use (a POST with a body and a timeout signal), over node:https. */
function nodeFetch(tls: {
  ca?: string
  cert?: string
  key?: string
  insecure: boolean
  serverName?: string
}): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
      const body = typeof init.body === 'string' ? init.body : ''
      const headers = {
        ...(init.headers as Record<string, string> | undefined),
        'content-length': String(Buffer.byteLength(body)),
      }
      const opts = {
        method: init.method ?? 'POST',
        headers,
        signal: init.signal ?? undefined,
        ...(url.protocol === 'https:'
          ? {
              ...(tls.ca ? { ca: tls.ca } : {}),
              ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
              rejectUnauthorized: !tls.insecure,
              ...(tls.serverName ? { servername: tls.serverName } : {}),
            }
          : {}),
      }
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, opts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const status = res.statusCode ?? 500
          const contentType = res.headers['content-type']
          resolve(
            new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), {
              status,
              headers: contentType ? { 'content-type': contentType } : {},
            }),
          )
        })
        res.on('error', reject)
      })
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED')
          reject(new Error(`Post "${url.href}": dial tcp ${url.host}: connect: connection refused`))
        else reject(e)
      })
      req.end(body)
    })) as typeof fetch
}

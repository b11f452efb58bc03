// The aggregation layer in Node mode: calls to extension API servers over HTTPS verified against the
// APIService's caBundle (or not at all with insecureSkipTLSVerify) under the Service's DNS name, presenting
// --proxy-client-cert-file; and the availability loop kube-aggregator runs (a full pass every 30s, and one
// soon after an APIService, Service or Endpoints write).
import { request } from 'node:https'
import { pipeline, Readable } from 'node:stream'
import type { Aggregator } from '../aggregator/aggregator'
import type { AggregatorFetch } from '../aggregator/proxy'
import type { Store } from '../storage/store'
import { errorText } from '../util/errors'

export function nodeAggregatorFetch(client?: { certPem: string; keyPem: string }): AggregatorFetch {
  return (call) =>
    new Promise((resolve, reject) => {
      const url = new URL(call.url)
      const headers: Record<string, string | string[]> = {}
      // Repeated headers (X-Remote-Group) stay separate lines, as Go's http.Header sends them.
      for (const [k, v] of call.headers) {
        const prev = headers[k]
        headers[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v]
      }
      const groups = call.headers.get('x-remote-group')
      if (groups !== null) headers['x-remote-group'] = splitAppended(call.headers, 'x-remote-group')
      for (const [k] of call.headers)
        if (k.startsWith('x-remote-extra-')) headers[k] = splitAppended(call.headers, k)
      const req = request(url, {
        method: call.method,
        headers,
        ...(call.caBundle ? { ca: call.caBundle } : {}),
        rejectUnauthorized: !call.insecureSkipTLSVerify,
        servername: call.serverName,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
        signal: call.signal,
      })
      req.on('response', (res) => {
        const out = new Headers()
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
        const status = res.statusCode ?? 502
        const body =
          status === 204 || status === 304 || call.method === 'HEAD'
            ? null
            : (Readable.toWeb(res) as ReadableStream<Uint8Array>)
        if (!body) res.resume()
        resolve(new Response(body, { status, headers: out }))
      })
      req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(goError(e, url))))
      // pipeline: a client that goes away mid-body destroys the request (reported by its 'error').
      if (call.body) pipeline(Readable.fromWeb(call.body as never), req, () => {})
      else req.end()
    })
}

/**
 * Headers.append joins repeated values with ", "; the values we appended one by one are recovered by
 * splitting (user names and groups hold no ", " in practice, and kube's own header authenticator could not
 * tell them apart either).
 */
function splitAppended(h: Headers, name: string): string[] {
  return (h.get(name) ?? '').split(', ')
}

/** Go's wording for the usual transport failures, as kube's errors show them. */
function goError(e: NodeJS.ErrnoException, url: URL): string {
  if (e.code === 'ECONNREFUSED') return `dial tcp ${url.host}: connect: connection refused`
  if (
    e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    e.code === 'SELF_SIGNED_CERT_IN_CHAIN'
  )
    return 'tls: failed to verify certificate: x509: certificate signed by unknown authority'
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `tls: failed to verify certificate: x509: certificate is valid for ${e.message}`
  return e.message
}

const RESYNC_MS = 30_000
const COALESCE_MS = 100
// The writes that can change an APIService's availability: APIServices, and Services with their Endpoints.
const WATCHED = ['/registry/apiregistration.k8s.io/apiservices/', '/registry/services/']

/** The availability loop; stop() ends it. */
export function startAvailabilityLoop(
  store: Store,
  aggregator: Aggregator,
  log: (msg: string) => void,
): { stop(): Promise<void> } {
  const ctl = new AbortController()
  let timer: ReturnType<typeof setTimeout> | undefined
  const run = () => {
    timer = undefined
    aggregator.availability
      .syncAll(store)
      .catch((e) => log(`APIService availability: ${errorText(e)}`))
  }
  const soon = (ms: number) => {
    if (timer !== undefined || ctl.signal.aborted) return
    timer = setTimeout(run, ms)
    timer.unref?.()
  }
  const interval = setInterval(() => soon(0), RESYNC_MS)
  interval.unref?.()
  soon(0)
  const watch = async (prefix: string) => {
    while (!ctl.signal.aborted) {
      try {
        const { revision } = await store.get(prefix)
        for await (const ev of store.watch(prefix, revision, ctl.signal))
          if (ev.type !== 'progress') soon(COALESCE_MS)
      } catch (e) {
        if (ctl.signal.aborted) break
        log(`APIService availability: watch of ${prefix} failed: ${errorText(e)}`)
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
  }
  const watching = Promise.all(WATCHED.map(watch))
  return {
    async stop() {
      ctl.abort()
      clearInterval(interval)
      if (timer !== undefined) clearTimeout(timer)
      await watching
    },
  }
}

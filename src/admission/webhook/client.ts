// Calling a webhook: where it is (url, or a Service resolved the way kube-apiserver's aggregator routing does),
// and the HTTPS call itself. At the edge the call is the Worker's fetch, which trusts the platform's roots only:
// a caBundle cannot be honoured there (workerd has no per-request CA; in `npm start` the local runtime trusts
// the file named by NODE_EXTRA_CA_CERTS). Node mode passes a WebhookFetch that verifies against the caBundle.
// Admission webhooks and CRD conversion webhooks share it.
import type { ObjectReader } from '../reader'
import { errorText } from '../../util/errors'

type Obj = Record<string, any>

export interface WebhookCall {
  url: string
  body: string
  /** PEM, decoded from clientConfig.caBundle. */
  caBundle?: string
  /** The TLS name to verify for a Service reference (<name>.<namespace>.svc). */
  serverName?: string
  timeoutMs: number
  signal: AbortSignal
}

/** Makes the HTTP POST; returns status and body text. Throws on transport errors (Error.message is shown). */
export type WebhookFetch = (call: WebhookCall) => Promise<{ status: number; body: string }>

export const defaultWebhookFetch: WebhookFetch = async (call) => {
  const res = await fetch(call.url, {
    method: 'POST',
    body: call.body,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, */*' },
    signal: call.signal,
  })
  return { status: res.status, body: await res.text() }
}

/** Why a POST to a webhook gave no JSON body: the transport failed, or the answer was not a JSON 2xx. */
export class WebhookPostError extends Error {
  constructor(
    readonly stage: 'transport' | 'response',
    message: string,
  ) {
    super(message)
  }
}

/**
 * POSTs a JSON review with a deadline and returns the parsed JSON answer. Messages are client-go's: a transport
 * failure reads `Post "<url>": <why>`; callers put their own prefix in front, as kube's callers do.
 */
export async function postWebhook(
  fetcher: WebhookFetch,
  target: { url: string; caBundle?: string; serverName?: string },
  body: string,
  timeoutSeconds: number,
): Promise<unknown> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutSeconds * 1000)
  let res: { status: number; body: string }
  try {
    res = await fetcher({
      url: target.url,
      body,
      caBundle: target.caBundle,
      serverName: target.serverName,
      timeoutMs: timeoutSeconds * 1000,
      signal: controller.signal,
    })
  } catch (e) {
    const why = controller.signal.aborted
      ? 'context deadline exceeded'
      : e instanceof Error
        ? e.message
        : String(e)
    throw new WebhookPostError('transport', `Post "${target.url}": ${why}`)
  } finally {
    clearTimeout(timer)
  }
  if (res.status < 200 || res.status >= 300)
    throw new WebhookPostError(
      'response',
      `the server responded with the status code ${res.status} but did not return more information (post ${target.url.replace(/^https?:\/\/[^/]+/, '')})`,
    )
  try {
    return JSON.parse(res.body)
  } catch (e) {
    throw new WebhookPostError('response', errorText(e))
  }
}

/** The URL with client-go's ?timeout= parameter (the request's deadline, as Go's duration string). */
export function withTimeoutParam(url: string, timeoutSeconds: number): string {
  return `${url}${url.includes('?') ? '&' : '?'}timeout=${timeoutSeconds}s`
}

function decodeCA(caBundle: string | undefined): string | undefined {
  if (!caBundle) return undefined
  try {
    return atob(caBundle)
  } catch {
    return undefined
  }
}

/**
 * The URL of a webhook's clientConfig. A Service reference resolves to an endpoint address when the Service has
 * Endpoints (what kube-apiserver does with --enable-aggregator-routing), to its externalName for an ExternalName
 * Service, and otherwise to https://<name>.<namespace>.svc:<port>, which only answers where that name resolves.
 */
export async function resolveClientConfig(
  cc: Obj,
  a: { reader: ObjectReader },
): Promise<{ url: string; caBundle?: string; serverName?: string }> {
  const caBundle = decodeCA(cc.caBundle)
  if (cc.url) return { url: cc.url, caBundle }
  const svc = cc.service as Obj
  const port = svc.port ?? 443
  const path = svc.path ?? ''
  const serverName = `${svc.name}.${svc.namespace}.svc`
  const service = (await a.reader.get('services/specs', svc.namespace, svc.name)) as Obj | undefined
  if (service?.spec?.type === 'ExternalName' && service.spec.externalName) {
    return { url: `https://${service.spec.externalName}:${port}${path}`, caBundle, serverName }
  }
  const endpoints = (await a.reader.get('services/endpoints', svc.namespace, svc.name)) as
    Obj | undefined
  if (service && endpoints) {
    const svcPort = ((service.spec?.ports ?? []) as Obj[]).find((p) => p.port === port)
    for (const subset of (endpoints.subsets ?? []) as Obj[]) {
      const addr = (subset.addresses ?? [])[0]
      if (!addr?.ip) continue
      const epPort = ((subset.ports ?? []) as Obj[]).find(
        (p) => !svcPort?.name || p.name === svcPort.name,
      )
      const target =
        epPort?.port ?? (typeof svcPort?.targetPort === 'number' ? svcPort.targetPort : port)
      const host = addr.ip.includes(':') ? `[${addr.ip}]` : addr.ip
      return { url: `https://${host}:${target}${path}`, caBundle, serverName }
    }
  }
  return { url: `https://${serverName}:${port}${path}`, caBundle, serverName }
}

// Calling a webhook: where it is (url, or a Service resolved the way kube-apiserver's aggregator routing does),
// and the HTTPS call itself. At the edge the call is the Worker's fetch, which trusts the platform's roots only:
// a caBundle cannot be honoured there (workerd has no per-request CA; in `npm start` the local runtime trusts
// the file named by NODE_EXTRA_CA_CERTS). Node mode passes a WebhookFetch that verifies against the caBundle.
import type { Attributes } from '../types'

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
export async function resolveClientConfig(cc: Obj, a: Attributes): Promise<{ url: string; caBundle?: string; serverName?: string }> {
  const caBundle = decodeCA(cc.caBundle)
  if (cc.url) return { url: cc.url, caBundle }
  const svc = cc.service as Obj
  const port = svc.port ?? 443
  const path = svc.path ?? ''
  const serverName = `${svc.name}.${svc.namespace}.svc`
  const service = await a.reader.get('services/specs', svc.namespace, svc.name) as Obj | undefined
  if (service?.spec?.type === 'ExternalName' && service.spec.externalName) {
    return { url: `https://${service.spec.externalName}:${port}${path}`, caBundle, serverName }
  }
  const endpoints = await a.reader.get('services/endpoints', svc.namespace, svc.name) as Obj | undefined
  if (service && endpoints) {
    const svcPort = ((service.spec?.ports ?? []) as Obj[]).find((p) => p.port === port)
    for (const subset of (endpoints.subsets ?? []) as Obj[]) {
      const addr = (subset.addresses ?? [])[0]
      if (!addr?.ip) continue
      const epPort = ((subset.ports ?? []) as Obj[]).find((p) => !svcPort?.name || p.name === svcPort.name)
      const target = epPort?.port ?? (typeof svcPort?.targetPort === 'number' ? svcPort.targetPort : port)
      const host = addr.ip.includes(':') ? `[${addr.ip}]` : addr.ip
      return { url: `https://${host}:${target}${path}`, caBundle, serverName }
    }
  }
  return { url: `https://${serverName}:${port}${path}`, caBundle, serverName }
}

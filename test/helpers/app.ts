// The whole request path (authentication, RBAC, admission) over an in-memory store, driven as kubectl drives it.
import { buildAdmission } from '../../src/admission/chain'
import type { WebhookFetch } from '../../src/admission/webhook/client'
import { installAuthResources, ServerAuth } from '../../src/auth/server-auth'
import { bootstrapCluster } from '../../src/controllers/bootstrap'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { buildApp } from '../../src/server/app'
import type { KubeletClient } from '../../src/kubelet/transport'
import { MemoryStore } from './memory-store'
import type { WatchCaches } from '../../src/api/watch-cache'

export const ADMIN = 'admin-token'

/** fetch reaches admission webhooks, conversionFetch CRD conversion webhooks. */
export function makeApp(
  opts: {
    enable?: string
    disable?: string
    fetch?: WebhookFetch
    conversionFetch?: WebhookFetch
    /** How the connect subresources reach kubelets (src/kubelet/transport.ts). */
    kubelet?: KubeletClient
    /** Watches share one Store watch per resource (Node mode's --watch-cache). */
    watchCache?: WatchCaches
  } = {},
) {
  const registry = new Registry(builtinResources)
  installAuthResources(registry)
  const store = new MemoryStore()
  const auth = new ServerAuth({
    tokenAuthFile: `${ADMIN},admin,admin-uid,"system:masters"\nnode-token,system:node:n1,n1,"system:nodes"\n`,
  })
  const admission = buildAdmission({
    registry,
    enable: opts.enable,
    disable: opts.disable,
    webhook: { fetch: opts.fetch },
  })
  const app = buildApp({
    registry,
    store: () => store,
    authenticators: (_env, s) => auth.authenticators(s),
    auth: (_env, s) => auth.context(s),
    anonymous: () => false,
    admission: () => admission,
    conversion: { fetch: opts.conversionFetch },
    ready: (s) => bootstrapCluster(registry, s),
    kubelet: () => opts.kubelet,
    watchCache: () => opts.watchCache,
  })
  const call = async (method: string, path: string, body?: unknown, token = ADMIN) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` }
    if (body !== undefined)
      headers['content-type'] =
        method === 'PATCH' ? 'application/merge-patch+json' : 'application/json'
    const res = await app.request(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let json: Record<string, any> = {}
    try {
      json = JSON.parse(text)
    } catch {
      /* not JSON */
    }
    return { status: res.status, json, text, warning: res.headers.get('warning') ?? '' }
  }
  const ns = (name: string, labels: Record<string, string> = {}) =>
    call('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels },
    })
  const sa = (namespace: string, name = 'default') =>
    call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    })
  const pod = (
    namespace: string,
    name: string,
    spec: Record<string, unknown> = {},
    meta: Record<string, unknown> = {},
  ) =>
    call('POST', `/api/v1/namespaces/${namespace}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, ...meta },
      spec: { containers: [{ name: 'c', image: 'nginx' }], ...spec },
    })
  return { app, store, registry, call, ns, sa, pod }
}

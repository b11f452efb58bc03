// The edge entry: the Hono app as the Worker's fetch handler, and the ClusterStore Durable Object class.
import { buildApp } from './server/app'
import { WatchCaches, WORKER_WATCH_CACHE_LIMITS } from './api/watch-cache'
import { Registry } from './registry/registry'
import { builtinResources } from './registry/builtin'
import { clusterStore } from './storage/durable/client'
import { bootstrapCluster, bootstrapClusterOnce } from './controllers/bootstrap'
import { authOptionsFromEnv, installAuthResources, ServerAuth } from './auth/server-auth'
import type { ClusterStore as ClusterStoreObject } from './storage/durable/cluster-store'
import { withControllers } from './controllers/edge'
import { buildAdmission, type AdmissionChain } from './admission/chain'
import { ClusterMetrics } from './metrics/cluster'
import { withEncryption } from './storage/value'
import { DurableSnapshots } from './storage/durable/snapshots'
import type { StorageAdmin } from './api/storage-admin'
import { edgeKubeletClient, type KubeletEnv } from './kubelet/edge'
import { edgeTunnels, NodeTunnel, withTunnels, type TunnelEnv } from './tunnel/edge'

import { auditFromEnv, type AuditEnv } from './audit/edge'
import { ensureClusterAPI } from './tenancy/api'
import { clusterEnv } from './tenancy/settings'
import { clusterOfHost, TenantClusters } from './tenancy/serving'
import { discardBody } from './util/http'

export interface Env extends KubeletEnv, AuditEnv, TunnelEnv {
  /** Where the deployment is reached (https://host), for the clusters made through the management API. */
  EXTERNAL_URL?: string
  /**
   * A host name suffix (".clusters.example.com") under which each cluster also has a host name of its own
   * (team-a.clusters.example.com, through a Worker route pattern *.clusters.example.com/*).
   */
  CLUSTER_HOST_SUFFIX?: string
  CLUSTER: DurableObjectNamespace<ClusterStoreObject>
  /** --token-auth-file contents, from a Worker secret (the local state dir in development). */
  TOKEN_AUTH_FILE?: string
  /** "false" turns off anonymous requests (kube-apiserver --anonymous-auth=false); on by default, as there. */
  ANONYMOUS_AUTH?: string
  /** --authorization-mode: Node,RBAC by default; also Webhook, AlwaysAllow, AlwaysDeny; comma-separated, in order. */
  AUTHORIZATION_MODE?: string
  /** --service-account-signing-key-file contents (PKCS#8 PEM or JWK), from a Worker secret. */
  SERVICE_ACCOUNT_SIGNING_KEY?: string
  /** --service-account-issuer (comma-separated; the first signs). */
  SERVICE_ACCOUNT_ISSUER?: string
  /** --api-audiences (comma-separated); defaults to the issuers. */
  API_AUDIENCES?: string
  /** The cluster CA (PEM) the control loops publish as kube-root-ca.crt in every namespace (src/controllers/edge.ts). */
  CLUSTER_CA_CERT?: string
  /** --enable-admission-plugins: plugins to turn on beyond kube-apiserver's default set (comma-separated). */
  ENABLE_ADMISSION_PLUGINS?: string
  /** --disable-admission-plugins: plugins of the default set to turn off (comma-separated). */
  DISABLE_ADMISSION_PLUGINS?: string
  /**
   * --encryption-provider-config contents (an EncryptionConfiguration, YAML or JSON, keys included), from a
   * Worker secret: Secrets (or what it names) are encrypted before they reach the Durable Object.
   */
  ENCRYPTION_PROVIDER_CONFIG?: string
  /** "false": the request path records no metrics (npm run bench measures their cost so). */
  REQUEST_METRICS?: string
  /**
   * "false" (kube-apiserver's --watch-cache=false): each client watch gets a WebSocket to the cluster's
   * object of its own, instead of one per (cluster, resource) in the isolate fanned out from memory.
   */
  WATCH_CACHE?: string
  /**
   * --max-requests-inflight and --max-mutating-requests-inflight (400 and 200 by default): the seats API
   * priority and fairness shares out, per isolate (see README, "API priority and fairness").
   */
  MAX_REQUESTS_INFLIGHT?: string
  MAX_MUTATING_REQUESTS_INFLIGHT?: string
}

/** The types a cluster serves before its CRDs: every cluster has a registry of its own. */
function newRegistry(): Registry {
  const registry = new Registry(builtinResources)
  installAuthResources(registry)
  return registry
}
const registry = newRegistry()
/** The default cluster's counts in this isolate (the audit backends' failures are counted there too). */
const defaultClusterMetrics = new ClusterMetrics((env) => (env as Env).CLUSTER.getByName('default'))

/** A cluster's Durable Object: the store, with the control loops (src/controllers) run by its alarm. */
export const ClusterStore = withControllers(newRegistry)
/** A node agent's tunnel (src/tunnel/edge.ts): one object per node, holding the agent's WebSocket. */
export { NodeTunnel }

// One ServerAuth per isolate (its RBAC cache lives across requests), rebuilt only if the bindings change.
let serverAuth: { source: string; auth: ServerAuth } | undefined
const authByEnv = new WeakMap<object, ServerAuth>()
function authFor(env: Env): ServerAuth {
  const known = authByEnv.get(env)
  if (known) return known
  const options = authOptionsFromEnv(env as unknown as Record<string, unknown>)
  const source = JSON.stringify(options)
  if (serverAuth?.source !== source) serverAuth = { source, auth: new ServerAuth(options) }
  authByEnv.set(env, serverAuth.auth)
  return serverAuth.auth
}

// One admission chain per isolate, rebuilt only if the plugin flags change.
let admission: { source: string; chain: AdmissionChain } | undefined
function admissionFor(env: Env): AdmissionChain {
  const source = `${env.ENABLE_ADMISSION_PLUGINS ?? ''}|${env.DISABLE_ADMISSION_PLUGINS ?? ''}`
  if (admission?.source !== source) {
    admission = {
      source,
      chain: buildAdmission({
        registry,
        enable: env.ENABLE_ADMISSION_PLUGINS,
        disable: env.DISABLE_ADMISSION_PLUGINS,
      }),
    }
  }
  return admission.chain
}

/**
 * The clusters other than the default one, each served with its own registry, credentials (its settings
 * over the deployment's variables: src/tenancy/settings.ts) and admission chain, built once per isolate
 * for as long as its Cluster keeps its uid.
 */
const tenants = new TenantClusters<Env>({
  defaultStore,
  settings: (env, name) => env.CLUSTER.getByName(name).tenantSettings(),
  config: (env, name, own) => {
    const tenantEnv = clusterEnv(env, own)
    const tenantRegistry = newRegistry()
    const auth = new ServerAuth(authOptionsFromEnv(tenantEnv as unknown as Record<string, unknown>))
    const chain = buildAdmission({
      registry: tenantRegistry,
      enable: tenantEnv.ENABLE_ADMISSION_PLUGINS,
      disable: tenantEnv.DISABLE_ADMISSION_PLUGINS,
    })
    return {
      registry: tenantRegistry,
      store: (e) =>
        withEncryption(
          clusterStore(e as Env, name),
          (e as Env).ENCRYPTION_PROVIDER_CONFIG,
          tenantRegistry,
          { source: 'ENCRYPTION_PROVIDER_CONFIG' },
        ),
      authenticators: (_e, store) => auth.authenticators(store),
      auth: (_e, store) => auth.context(store),
      anonymous: (e) => (e as Env).ANONYMOUS_AUTH !== 'false',
      admission: () => chain,
      ready: (store) => bootstrapClusterOnce(tenantRegistry, store),
      storageAdmin: (e) => durableStorageAdmin(e as Env, name),
    }
  },
})

/**
 * Snapshots, restores and point-in-time restores of a cluster's own Durable Object: what the default
 * cluster has, every cluster has, of its own keys only (a restore keeps the cluster's settings, which
 * are not among its keys).
 */
function durableStorageAdmin(env: Env, name: string): StorageAdmin {
  const stub = () => env.CLUSTER.getByName(name)
  const snapshots = new DurableSnapshots(stub(), stub)
  return {
    cluster: name,
    source: 'edge',
    snapshots,
    restore: snapshots,
    pointInTime: {
      dryRun: (time) => snapshots.pointInTime(time),
      restore: (time) => snapshots.restoreToTime(time),
    },
  }
}

function defaultStore(env: Env) {
  return withEncryption(clusterStore(env), env.ENCRYPTION_PROVIDER_CONFIG, registry, {
    source: 'ENCRYPTION_PROVIDER_CONFIG',
  })
}

const watchCaches = new WatchCaches(WORKER_WATCH_CACHE_LIMITS)

const app = buildApp({
  registry,
  store: (env) => defaultStore(env as Env),
  authenticators: (env, store) => authFor(env as Env).authenticators(store),
  auth: (env, store) => authFor(env as Env).context(store),
  anonymous: (env) => (env as Env).ANONYMOUS_AUTH !== 'false',
  admission: (env) => admissionFor(env as Env),
  ready: async (store) => {
    await bootstrapCluster(registry, store)
    await ensureClusterAPI(registry, store)
  },
  // The clusters made through the management API (src/tenancy): served while their Cluster is Ready.
  clusters: (name, env) => tenants.resolve(name, env as Env),
  clusterOfHost: (hostname, env) => clusterOfHost(hostname, (env as Env).CLUSTER_HOST_SUFFIX),
  storageAdmin: (env) => durableStorageAdmin(env as Env, 'default'),
  // Counts are cluster-wide: each isolate's are flushed to the cluster's object (src/metrics/cluster.ts).
  metrics: (name) =>
    name === 'default'
      ? defaultClusterMetrics
      : new ClusterMetrics((env) => (env as Env).CLUSTER.getByName(name)),
  kubelet: (env) => withTunnels(edgeKubeletClient(env as Env), env as Env),
  tunnels: (env) => edgeTunnels(env as Env),
  // One WebSocket to the object per (cluster, resource) in this isolate for all of its client watches;
  // WATCH_CACHE=false, one per client watch (kube-apiserver's --watch-cache=false).
  watchCache: (env) => ((env as Env).WATCH_CACHE === 'false' ? undefined : watchCaches),
  requestMetrics: (env) => (env as Env).REQUEST_METRICS !== 'false',
  // AUDIT_POLICY and its backends (src/audit/edge.ts): Workers Logs, and a batched webhook.
  audit: {
    config: (c) => auditFromEnv(c.env as Env, defaultClusterMetrics.metrics),
    remoteAddress: (c) => c.req.header('cf-connecting-ip'),
    defer: (c, p) => c.executionCtx.waitUntil(p),
  },
  priorityAndFairness: (env) => {
    const e = env as Env
    const seats = (v: string | undefined, d: number) => (v && /^\d+$/.test(v) ? Number(v) : d)
    const max = seats(e.MAX_REQUESTS_INFLIGHT, 400)
    const mutating = seats(e.MAX_MUTATING_REQUESTS_INFLIGHT, 200)
    // kube-apiserver refuses to start without a positive sum; a Worker keeps the defaults instead.
    return max + mutating > 0
      ? {
          maxRequestsInflight: max,
          maxMutatingRequestsInflight: mutating,
          requestTimeoutMs: 60_000,
        }
      : { maxRequestsInflight: 400, maxMutatingRequestsInflight: 200, requestTimeoutMs: 60_000 }
  },
})

export default {
  async fetch(request, env, ctx) {
    const response = await app.fetch(request, env, ctx)
    // An answer given before the body was read (413 from the declared length, 401, 403, 404): the body
    // is read to its end first, as kube-apiserver's server reads on after answering, or workerd closes
    // with it unread and the reset can take the answer with it.
    if (request.body && !request.body.locked) await discardBody(request.body)
    return response
  },
} satisfies ExportedHandler<Env>

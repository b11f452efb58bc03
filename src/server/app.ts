// Builds the Hono app: /clusters/<name> taken off the path, then kube's handler chain, one filter a concern
// (src/server/filters): JSON indenting → cluster → request info → deadline → warnings → metrics → audit →
// the cluster's store → authentication → impersonation → priority and fairness → authorization → the API.
// No globals: the Worker and Node mode each build their own, and say where each cluster is (AppConfig).
import { Hono, type Context } from 'hono'
import {
  aggregatedContentType,
  aggregatedDiscovery,
  aggregatedDiscoveryVersion,
  apiGroupDoc,
  apiGroupList,
  apiResourceList,
  apiVersions,
} from '../api/discovery'
import { healthResponse, type HealthCheck } from '../api/health'
import { respond, respondError } from '../api/negotiation'
import { prettyJSON, wantsPrettyJSON } from '../api/pretty'
import {
  serveOpenAPIV2,
  serveOpenAPIV3GroupVersion,
  serveOpenAPIV3Root,
} from '../api/openapi/handler'
import { serveResource } from '../api/resources'
import { mountStorageAdmin, type StorageAdmin } from '../api/storage-admin'
import { connectHandler } from '../api/connect'
import { checkCustomResourceRequest } from '../apiextensions/serving'
import { versionInfo } from '../api/version'
import type { AuthContext } from '../auth/context'
import type { Admission } from '../admission/types'
import {
  jwks,
  JWKS_PATH,
  OPENID_CONFIGURATION_PATH,
  openIDConfiguration,
} from '../auth/serviceaccount/discovery'
import type { Registry } from '../registry/registry'
import type { HTTPProbe, UserInfo } from '../registry/types'
import { CLUSTER_DELETED, type Store } from '../storage/store'
import type { KubeletClient } from '../kubelet/transport'
import { checkTunnelRequest, TUNNEL_PATH, type TunnelServer } from '../tunnel/registry'
import { ClusterContext, clusterOfPath, DEFAULT_CLUSTER } from './cluster'
import { LruMap } from '../util/lru'
import { methodNotAllowed, notFoundPath, StatusError, toStatusError } from './errors'
import { interpretStrayStoreError } from '../registry/store-errors'
import { withAuthentication, type Authenticator } from './filters/authentication'
import { allowAuthenticated, withAuthorization } from './filters/authorization'
import { withCluster, withClusterStore } from './filters/cluster'
import { withImpersonation } from './filters/impersonation'
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  REQUEST_DEADLINE,
  withRequestDeadline,
} from './filters/request-deadline'
import { withRequestInfo, type RequestInfo } from './filters/request-info'
import { withWarningRecorder, type Warnings } from './filters/warnings'
import { withAudit, type AuditOptions } from './filters/audit'
import type { RequestAudit } from '../audit/request'
import {
  flowControlFor,
  priorityAndFairness,
  serveFlowControlDump,
  type PriorityAndFairnessOptions,
} from './filters/priority-and-fairness'
import { FlowControl } from '../flowcontrol/controller'
import type { ConversionOptions } from '../apiextensions/conversion/webhook'
import { auditObserver, SLI_METRICS } from '../metrics/apiserver'
import { InProcessMetrics, type MetricsBackend } from '../metrics/cluster'
import { REACHED_HANDLER, requestMetrics } from '../metrics/middleware'
import type { Registry as MetricsRegistry } from '../metrics/registry'
import { instrumentStore } from '../metrics/store'
import { Aggregator } from '../aggregator/aggregator'
import { withListsFromCache, type WatchCaches } from '../api/watch-cache'
import { requestURL } from './request-url'
import { errorText } from '../util/errors'

/**
 * What one cluster is served from: its store, its registry of served types (built-ins and its CRDs), and
 * who may do what in it. Every request is served for exactly one cluster (see ClusterContext).
 */
export interface ClusterConfig {
  registry: Registry
  /** The cluster's Store for this request (the Worker makes a Durable Object stub per request). */
  store(env: unknown): Store
  authenticators(env: unknown, store: Store): Authenticator[]
  /** The authorizer and the rest of the auth machinery for a request; without it every authenticated user may do anything. */
  auth?(env: unknown, store: Store): AuthContext | Promise<AuthContext>
  /** Let requests without credentials in as system:anonymous (kube-apiserver's --anonymous-auth, on by default). */
  anonymous?(env: unknown): boolean
  /** The admission chain for writes (--enable/--disable-admission-plugins); without it nothing is admitted. */
  admission?(env: unknown): Admission | undefined
  /** Runs before the cluster's first request is served in an isolate or process: bootstrap objects, for example. */
  ready?(store: Store): Promise<void>
  /** Snapshots and restores of the cluster's store (src/api/storage-admin.ts); not served without. */
  storageAdmin?(env: unknown): StorageAdmin
  /**
   * The aggregation layer: how extension servers are called (Node mode: their caBundle and the front-proxy
   * client certificate); by default the Worker's fetch with endpoint routing, availability checked from
   * requests.
   */
  aggregator?: Aggregator
}

/** The default cluster's configuration (served at the bare paths), and what the whole server shares. */
export interface AppConfig extends ClusterConfig {
  /**
   * The clusters served under /clusters/<name>/ besides the default one (which is also there as
   * /clusters/default/); a name it answers undefined for is not found. None by default.
   */
  clusters?(
    name: string,
    env: unknown,
  ): ClusterConfig | undefined | Promise<ClusterConfig | undefined>
  /** The cluster a host name names, for bare paths (<name>.<zone> through a Worker route); none by default. */
  clusterOfHost?(hostname: string, env: unknown): string | undefined
  /** How conversion webhooks of CRDs are called (Node mode verifies against their caBundle). */
  conversion?: ConversionOptions
  /**
   * Where a cluster's /metrics counts live (the edge: its Durable Object); in this process by default. Made
   * once per cluster context, so that each cluster's series are its own.
   */
  metrics?(cluster: string): MetricsBackend
  /** Checks of /healthz, /livez and /readyz beyond the store's (the KMS plugins': kms-provider-0, ...). */
  healthChecks?: HealthCheck[]
  /** More /readyz checks (Node mode's `shutdown`, which fails once a graceful shutdown has begun). */
  readyChecks?: HealthCheck[]
  /** --request-timeout in milliseconds (default one minute, as kube-apiserver's); 0: no deadline. */
  requestTimeoutMs?: number
  /** The HTTP prober of componentstatuses (Node mode: TLS unverified, as kube's); fetch by default. */
  httpProbe?: HTTPProbe
  /** false: no request or storage metrics are recorded (npm run bench measures their cost so). */
  requestMetrics?(env: unknown): boolean
  /** The audit policy and backends (--audit-policy-file, --audit-log-*, --audit-webhook-*); none: no audit. */
  audit?: AuditOptions
  /** API priority and fairness' server concurrency limit and queue wait; off when it answers undefined. */
  priorityAndFairness?(env: unknown): PriorityAndFairnessOptions | undefined
  /**
   * How the connect subresources (pods/log, exec, attach, portforward, proxy; nodes/proxy) reach kubelets:
   * the runtime's transports (src/kubelet/transport.ts), per request (Node mode hands over the socket).
   */
  kubelet?(env: unknown): KubeletClient | undefined
  /** Where a node agent's tunnel (TUNNEL_PATH/<node>) is kept: this process, or a Durable Object. */
  tunnels?(env: unknown): TunnelServer | undefined
  /**
   * kube-apiserver's watch cache (--watch-cache): one Store watch per (cluster, resource) shared by every
   * watch of it, per process or Worker isolate; none, each watch has a Store watch of its own.
   */
  watchCache?(env: unknown): WatchCaches | undefined
}

/** How often requests trigger the availability checks where no loop runs them (the Worker). */
const AVAILABILITY_RECHECK_MS = 10_000

type Variables = {
  cluster: ClusterContext<ClusterConfig>
  info: RequestInfo
  user: UserInfo
  store: Store
  auth: AuthContext
  warnings: Warnings
  audit?: RequestAudit
  [REACHED_HANDLER]: boolean
  [REQUEST_DEADLINE]?: number
}

/** The clusters besides the default one an isolate or process keeps contexts for (the least recently used go). */
const MAX_CLUSTER_CONTEXTS = 256
/** How long a cluster other than the default one is served on what was last learned of it. */
const CLUSTER_RECHECK_MS = 5_000

export function buildApp(cfg: AppConfig): Hono {
  const app = new Hono<{ Variables: Variables }>()
  const metricsOf = (name: string) => cfg.metrics?.(name) ?? new InProcessMetrics()
  const defaultCluster = new ClusterContext<ClusterConfig>(
    DEFAULT_CLUSTER,
    cfg,
    cfg.conversion,
    metricsOf(DEFAULT_CLUSTER),
  )
  // An isolate touched by thousands of clusters keeps only the most recently used ones' registries and caches.
  const clusters = new LruMap<
    string,
    { context: ClusterContext<ClusterConfig>; checkedAt: number }
  >(MAX_CLUSTER_CONTEXTS)
  const clusterContext = async (name: string, env: unknown) => {
    if (name === DEFAULT_CLUSTER) return defaultCluster
    const known = clusters.get(name)
    const now = Date.now()
    if (known && now - known.checkedAt < CLUSTER_RECHECK_MS) return known.context
    // Asked again now and then: a cluster deleted meanwhile stops being served here within that time.
    const config = await cfg.clusters?.(name, env)
    if (!config) {
      clusters.delete(name)
      return undefined
    }
    const context =
      known?.context.config === config
        ? known.context
        : new ClusterContext(name, config, cfg.conversion, metricsOf(name))
    clusters.set(name, { context, checkedAt: now })
    return context
  }

  app.onError((err, c) => {
    // A cluster deleted since this isolate last looked (its store refuses everything): not found from now on.
    if (err instanceof Error && err.message.includes(CLUSTER_DELETED)) {
      clusters.delete(c.get('cluster')?.name)
      return respondError(notFoundPath(), c.req.header('accept'))
    }
    const se = toStatusError(interpretStrayStoreError(err, c.req.method))
    if (!(err instanceof StatusError) && se.code >= 500) console.error('internal error', err)
    return respondError(se, c.req.header('accept'))
  })
  app.notFound((c) => respondError(notFoundPath(), c.req.header('accept')))

  // At the edge no timer runs between requests (an idle cluster hibernates): requests touching the
  // aggregator run the availability checks, after answering, when the last ones are old.
  const recheckAvailability = (c: Context<{ Variables: Variables }>) => {
    const aggregator = c.get('cluster').aggregator
    if (!(aggregator.opts.checkOnRequests ?? true)) return
    if (!aggregator.availability.due(AVAILABILITY_RECHECK_MS)) return
    const p = aggregator.availability
      .syncAll(c.get('store'))
      .catch((e) => console.error(`APIService availability: ${errorText(e)}`))
    try {
      c.executionCtx.waitUntil(p)
    } catch {
      // No execution context (Node): the promise runs on by itself.
    }
  }

  // Registered first, so that it indents errors from every later step too.
  app.use('*', async (c, next) => {
    await next()
    const url = requestURL(c.req.raw)
    if (!/^\/apis?(\/|$)/.test(url.pathname) || c.get('info')?.verb === 'watch') return
    if (wantsPrettyJSON(url.searchParams, c.req.header('user-agent')))
      c.res = await prettyJSON(c.res)
  })

  // kube's handler chain (DefaultBuildHandlerChain), outermost first, each filter one concern.
  app.use(
    '*',
    withCluster((req, env) => clusterContext(clusterNameOf(req), env)),
  )
  app.use('*', withRequestInfo())
  app.use('*', withRequestDeadline(cfg.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS))
  // Inside the deadline and outside everything else, as kube's DefaultBuildHandlerChain places it: any
  // layer may warn, and every response, errors included, carries what was recorded.
  app.use('*', withWarningRecorder())
  const recordMetrics = (env: unknown) => cfg.requestMetrics?.(env) !== false
  const metricsFilter = requestMetrics({
    metrics: (c) => c.get('cluster').metrics,
    recorded: (c) => c.get('cluster').metricsBackend.recorded(c),
  })
  app.use('*', (c, next) => (recordMetrics(c.env) ? metricsFilter(c, next) : next()))
  // WithAuditInit and WithAudit: the event is begun once authentication has named the user.
  app.use(
    '*',
    withAudit({
      config: () => undefined,
      ...cfg.audit,
      observer: (c) => auditObserver(c.get('cluster').metrics),
    }),
  )
  app.use(
    '*',
    withClusterStore<ClusterContext<ClusterConfig>>(
      (cluster, env) => {
        // The watch cache's LISTs are inside the Store's instrumentation, as Node mode's etcd mirror is.
        const caches = cfg.watchCache?.(env)
        const store = caches
          ? withListsFromCache(cluster.config.store(env), caches, cluster.name)
          : cluster.config.store(env)
        return recordMetrics(env)
          ? instrumentStore(store, cluster.keyResources, cluster.metrics)
          : store
      },
      (cluster, store) => cluster.ready(store),
    ),
  )
  const configOf = (c: Context) => (c.get('cluster') as ClusterContext<ClusterConfig>).config
  app.use(
    '*',
    withAuthentication({
      authenticators: (c) => configOf(c).authenticators(c.env, c.get('store')),
      anonymous: (c) => configOf(c).anonymous?.(c.env) ?? false,
      authContext: (c) =>
        configOf(c).auth?.(c.env, c.get('store')) ?? { authorizer: allowAuthenticated },
      metrics: (c) => c.get('cluster').metrics,
    }),
  )
  app.use('*', withImpersonation())
  // Each cluster is classified by its own FlowSchemas into seats of its own (per isolate at the edge):
  // one cluster's load does not queue another's requests.
  const flowControls = new WeakMap<ClusterContext, (env: unknown) => FlowControl | undefined>()
  const flowControl = (c: Context) => {
    const cluster = c.get('cluster')
    let of = flowControls.get(cluster)
    if (!of)
      flowControls.set(
        cluster,
        (of = flowControlFor(
          (env) => cfg.priorityAndFairness?.(env),
          (o) => new FlowControl({ ...o, metrics: cluster.metrics.apf }),
        )),
      )
    return of(c.env)
  }
  app.use(
    '*',
    priorityAndFairness(flowControl, (c) => (c.get('cluster') as ClusterContext).registry),
  )
  app.use('*', withAuthorization())
  app.use('*', async (c, next) => {
    c.set(REACHED_HANDLER, true)
    await next()
  })

  const healthChecks = (cluster: ClusterContext, store: Store): HealthCheck[] => [
    { name: 'ping', check: async () => {} },
    { name: 'log', check: async () => {} },
    // kube-apiserver's etcd check gives up after --etcd-healthcheck-timeout (2s), sooner than a request
    // waits for etcd.
    { name: 'etcd', check: () => withinHealthcheckTimeout(store.currentRevision()) },
    ...(cfg.healthChecks ?? []),
    { name: 'poststarthook/bootstrap-cluster', check: () => cluster.bootstrapped() },
  ]
  const checksFor = (
    endpoint: 'healthz' | 'livez' | 'readyz',
    cluster: ClusterContext,
    store: Store,
  ) =>
    endpoint === 'readyz'
      ? [...healthChecks(cluster, store), ...(cfg.readyChecks ?? [])]
      : healthChecks(cluster, store)
  // Each check's outcome goes to /metrics/slis (component-base's slis: kubernetes_healthcheck{,s_total}).
  const recordedChecks = (
    endpoint: 'healthz' | 'livez' | 'readyz',
    c: Context<{ Variables: Variables }>,
  ): HealthCheck[] =>
    checksFor(endpoint, c.get('cluster'), c.get('store')).map((h) => ({
      name: h.name,
      check: async () => {
        const metrics = c.get('cluster').metrics
        try {
          await h.check()
          metrics.healthcheck.set([h.name, endpoint], 1)
          metrics.healthchecksTotal.inc([h.name, 'success', endpoint])
        } catch (e) {
          metrics.healthcheck.set([h.name, endpoint], 0)
          metrics.healthchecksTotal.inc([h.name, 'error', endpoint])
          throw e
        }
      },
    }))
  for (const endpoint of ['healthz', 'livez', 'readyz'] as const) {
    app.get(`/${endpoint}`, (c) =>
      healthResponse(endpoint, recordedChecks(endpoint, c), new URL(c.req.url)),
    )
    app.get(`/${endpoint}/:check{.+}`, (c) =>
      healthResponse(
        endpoint,
        recordedChecks(endpoint, c),
        new URL(c.req.url),
        c.req.param('check'),
      ),
    )
  }
  // Prometheus' text format, version 0.0.4, as kube-apiserver's legacyregistry handler serves it.
  const exposition = (registries: MetricsRegistry[], slis: boolean) =>
    new Response(
      registries.map((r) => r.render((m) => SLI_METRICS.has(m.name) === slis)).join(''),
      {
        headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' },
      },
    )
  app.get('/metrics', async (c) => {
    const cluster = c.get('cluster')
    await cluster.customResources.refreshAll(c.get('store'))
    return exposition(
      await cluster.metricsBackend.collect(c, c.get('store'), cluster.keyResources),
      false,
    )
  })
  app.get('/metrics/slis', async (c) => {
    const cluster = c.get('cluster')
    return exposition(
      await cluster.metricsBackend.collect(c, c.get('store'), cluster.keyResources),
      true,
    )
  })
  app.get('/version', () => respond(200, versionInfo()))
  app.get('/debug/api_priority_and_fairness/:dump', (c) => {
    const res = serveFlowControlDump(flowControl(c), c.req.param('dump'), new URL(c.req.url))
    if (!res) throw notFoundPath()
    return res
  })
  // Service account issuer discovery, served only when a signing key is configured.
  app.get(OPENID_CONFIGURATION_PATH, (c) => {
    const tokens = c.get('auth').serviceAccountTokens
    if (!tokens?.publicKeys().length) throw notFoundPath()
    return openIDConfiguration(tokens, new URL(c.req.url))
  })
  app.get(JWKS_PATH, (c) => {
    const tokens = c.get('auth').serviceAccountTokens
    if (!tokens?.publicKeys().length) throw notFoundPath()
    return jwks(tokens)
  })

  mountStorageAdmin(app, (c) => c.get('cluster').config.storageAdmin?.(c.env))
  // A group version an extension server serves is proxied to it, after authentication and authorization
  // (kube-aggregator sits in front of everything else).
  app.use('/apis/*', async (c, next) => {
    const url = new URL(c.req.url)
    const store = c.get('store')
    const aggregator = c.get('cluster').aggregator
    if (url.pathname.startsWith('/apis/apiregistration.k8s.io/')) recheckAvailability(c)
    const remote = await aggregator.remoteFor(store, url.pathname)
    if (!remote) return next()
    recheckAvailability(c)
    return aggregator.proxy(c.req.raw, url, c.get('user'), remote, store)
  })

  // Discovery and the OpenAPI documents list every CRD first; a resource request re-reads only the CRD it names.
  app.use('*', async (c, next) => {
    const info = c.get('info')
    if (!info.isResourceRequest && /^\/(api|apis|openapi)(\/|$)/.test(info.path))
      await c.get('cluster').customResources.refreshForDiscovery(c.get('store'))
    await next()
  })

  const served = async (c: Context<{ Variables: Variables }>) => {
    recheckAvailability(c)
    return c.get('cluster').aggregator.served(c.get('store'))
  }
  app.get('/api', (c) => {
    const v = aggregatedDiscoveryVersion(c.req.header('accept') ?? null)
    if (v)
      return discoveryResponse(
        aggregatedDiscovery(c.get('cluster').registry, true, v),
        aggregatedContentType(v),
      )
    return respond(200, apiVersions(new URL(c.req.url).host))
  })
  app.get('/apis', async (c) => {
    const v = aggregatedDiscoveryVersion(c.req.header('accept') ?? null)
    const { groups, remote } = await served(c)
    if (v)
      return discoveryResponse(
        aggregatedDiscovery(
          c.get('cluster').registry,
          false,
          v,
          groups,
          await c.get('cluster').aggregator.remoteResources(c.get('store'), remote),
        ),
        aggregatedContentType(v),
      )
    return respond(200, apiGroupList(c.get('cluster').registry, groups))
  })
  app.get('/api/:version', async (c) => {
    const doc = await apiResourceList(c.get('cluster').registry, '', c.req.param('version'))
    return doc ? respond(200, doc) : respondError(notFoundPath())
  })
  app.get('/apis/:group', async (c) => {
    const { groups } = await served(c)
    const doc = apiGroupDoc(c.get('cluster').registry, c.req.param('group'), groups)
    return doc ? respond(200, doc) : respondError(notFoundPath())
  })
  app.get('/apis/:group/:version', async (c) => {
    const doc = await apiResourceList(
      c.get('cluster').registry,
      c.req.param('group'),
      c.req.param('version'),
    )
    return doc ? respond(200, doc) : respondError(notFoundPath())
  })

  app.get('/openapi/v2', async (c) => {
    const { remote } = await served(c)
    return serveOpenAPIV2(
      c.req.raw,
      c.get('cluster').registry,
      await c.get('cluster').aggregator.openAPIV2Documents(c.get('store'), remote),
    )
  })
  app.get('/openapi/v3', async (c) => {
    const { remote } = await served(c)
    return serveOpenAPIV3Root(
      c.req.raw,
      c.get('cluster').registry,
      await c.get('cluster').aggregator.openAPIV3Paths(c.get('store'), remote),
    )
  })
  app.get('/openapi/v3/*', async (c) => {
    const url = new URL(c.req.url)
    const remote = await c
      .get('cluster')
      .aggregator.openAPIV3Document(c.get('store'), c.req.raw, url)
    return remote ?? serveOpenAPIV3GroupVersion(c.req.raw, url, c.get('cluster').registry)
  })

  // A node agent dialling out (src/tunnel): authenticated and authorized as any request, then only the
  // node itself may go on.
  app.get(`${TUNNEL_PATH}/:name`, (c) => {
    const tunnels = cfg.tunnels?.(c.env)
    if (!tunnels) throw notFoundPath()
    const name = c.req.param('name')
    checkTunnelRequest(c.get('user'), name, c.req.raw)
    return tunnels.accept(name, c.req.raw)
  })

  app.all('*', async (c) => {
    const info = c.get('info')
    if (!info.isResourceRequest) throw notFoundPath()
    const connect = connectHandler(info)
    if (connect)
      return connect({
        req: c.req.raw,
        info,
        registry: c.get('cluster').registry,
        store: c.get('store'),
        user: c.get('user'),
        auth: c.get('auth'),
        kubelet: cfg.kubelet?.(c.env),
      })
    if (!['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(c.req.method))
      throw methodNotAllowed()
    const store = c.get('store')
    checkCustomResourceRequest(await c.get('cluster').customResources.forRequest(store, info), info)
    const res = await serveResource(
      c.req.raw,
      new URL(c.req.url),
      info,
      c.get('cluster').registry,
      store,
      {
        user: c.get('user'),
        auth: c.get('auth'),
        admission: c.get('cluster').config.admission?.(c.env),
        warnings: c.get('warnings'),
        probe: cfg.httpProbe ?? fetchProbe,
        audit: c.get('audit'),
        watchCache: cfg.watchCache?.(c.env),
        cluster: c.get('cluster').name,
        metrics: c.get('cluster').metrics,
        deadline: c.get(REQUEST_DEADLINE),
      },
    )
    await c.get('cluster').customResources.afterRequest(store, info, res)
    return res
  })
  return servedUnderClusterPaths(app, cfg.clusterOfHost)
}

/** Which cluster the (already rewritten) request is for: see servedUnderClusterPaths. */
const clusterOfRequest = new WeakMap<Request, string>()
function clusterNameOf(req: Request): string {
  return clusterOfRequest.get(req) ?? DEFAULT_CLUSTER
}

/**
 * Takes /clusters/<name> off a request's path before the app routes it, and remembers the cluster for the
 * request the app is then given: every route and filter serves bare paths, for one cluster.
 */
function servedUnderClusterPaths(
  app: Hono<{ Variables: Variables }>,
  clusterOfHost: AppConfig['clusterOfHost'],
): Hono {
  const route = (
    raw: Request,
    env: unknown,
    ctx: Context['executionCtx'] | undefined,
  ): Response | Promise<Response> => {
    const url = requestURL(raw)
    const { cluster, path } = clusterOfPath(url.pathname)
    if (cluster === DEFAULT_CLUSTER && path === url.pathname) {
      // A bare path on a cluster's own host name (<name>.<zone>) is that cluster's.
      const named = clusterOfHost?.(url.hostname, env)
      if (named === undefined) return app.fetch(raw, env, ctx)
      const req = new Request(url, raw)
      clusterOfRequest.set(req, named)
      return app.fetch(req, env, ctx)
    }
    if (cluster === undefined) return respondError(notFoundPath(), raw.headers.get('accept'))
    const rewritten = new URL(url)
    rewritten.pathname = path
    const req = new Request(rewritten, raw)
    clusterOfRequest.set(req, cluster)
    return app.fetch(req, env, ctx)
  }
  const outer = new Hono()
  // The runtime calls fetch (Hono's request() does too): routed here without a Hono dispatch of its own
  // (a Context and a router match per request) before the app's.
  outer.fetch = (req, env, ctx) => route(req, env, ctx)
  return outer
}

function discoveryResponse(body: unknown, contentType: string): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private' },
  })
}

/**
 * The Worker's HTTP prober: fetch verifies TLS against the platform's roots (kube's prober does not verify),
 * so a component with a self-signed serving certificate shows as a TLS failure here.
 */
const fetchProbe: HTTPProbe = async (url, timeoutMs) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' })
    return { status: res.status, body: await res.text() }
  } catch (e) {
    throw new Error(`Get "${url}": ${errorText(e)}`)
  }
}

const ETCD_HEALTHCHECK_TIMEOUT_MS = 2_000

async function withinHealthcheckTimeout(p: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error('etcd health check timed out')),
      ETCD_HEALTHCHECK_TIMEOUT_MS,
    )
  })
  try {
    await Promise.race([p, late])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

// Builds the Hono app from a Config and a Store factory: JSON indenting → request info → request deadline →
// warning recorder → metrics → authentication → impersonation → authorization → the API. No globals: the
// Worker and Node mode each build their own.
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
import { checkCustomResourceRequest, CustomResourceDefinitions } from '../apiextensions/serving'
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
import type { Store } from '../storage/store'
import type { KubeletClient } from '../kubelet/transport'
import { checkTunnelRequest, TUNNEL_PATH, type TunnelServer } from '../tunnel/registry'
import { methodNotAllowed, notFoundPath, StatusError, toStatusError, unauthorized } from './errors'
import { interpretStrayStoreError } from '../registry/store-errors'
import { authenticateRequest, type Authenticator } from './filters/authentication'
import { allowAuthenticated, authorize } from './filters/authorization'
import { impersonate } from './filters/impersonation'
import { DEFAULT_REQUEST_TIMEOUT_MS, withRequestDeadline } from './filters/request-deadline'
import { parseRequestInfo, type RequestInfo } from './filters/request-info'
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
import { compressUsername, metrics, SLI_METRICS } from '../metrics/apiserver'
import { InProcessMetrics, type MetricsBackend } from '../metrics/cluster'
import { REACHED_HANDLER, requestMetrics } from '../metrics/middleware'
import type { Registry as MetricsRegistry } from '../metrics/registry'
import { instrumentStore, KeyResources } from '../metrics/store'
import { Aggregator } from '../aggregator/aggregator'
import { fetchAggregatorCall } from '../aggregator/proxy'
import type { WatchCaches } from '../api/watch-cache'

export interface AppConfig {
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
  /** How conversion webhooks of CRDs are called (Node mode verifies against their caBundle). */
  conversion?: ConversionOptions
  /** Runs before the first request is served in an isolate or process: bootstrap objects, for example. */
  ready?(store: Store): Promise<void>
  /** Where /metrics counts live (the edge: the cluster's Durable Object); in this process by default. */
  metrics?: MetricsBackend
  /** Checks of /healthz, /livez and /readyz beyond the store's (the KMS plugins': kms-provider-0, ...). */
  healthChecks?: HealthCheck[]
  /** More /readyz checks (Node mode's `shutdown`, which fails once a graceful shutdown has begun). */
  readyChecks?: HealthCheck[]
  /** Snapshots and restores of the cluster's store (src/api/storage-admin.ts); not served without. */
  storageAdmin?(env: unknown): StorageAdmin
  /** --request-timeout in milliseconds (default one minute, as kube-apiserver's); 0: no deadline. */
  requestTimeoutMs?: number
  /**
   * The aggregation layer: how extension servers are called (Node mode: their caBundle and the front-proxy
   * client certificate); by default the Worker's fetch with endpoint routing, availability checked from
   * requests.
   */
  aggregator?: Aggregator
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
  /** API priority and fairness' server concurrency limit and queue wait; off when it answers undefined. */
  priorityAndFairness?(env: unknown): PriorityAndFairnessOptions | undefined
  /**
   * kube-apiserver's watch cache (--watch-cache): one Store watch per resource shared by every watch of
   * it. Only where a Store watch can outlive the request that opened it (Node mode, not a Worker).
   */
  watchCache?: WatchCaches
}

/** How often requests trigger the availability checks where no loop runs them (the Worker). */
const AVAILABILITY_RECHECK_MS = 10_000

type Variables = {
  info: RequestInfo
  user: UserInfo
  store: Store
  auth: AuthContext
  warnings: Warnings
  audit?: RequestAudit
  [REACHED_HANDLER]: boolean
}

export function buildApp(cfg: AppConfig): Hono<{ Variables: Variables }> {
  const app = new Hono<{ Variables: Variables }>()
  let ready: Promise<void> | undefined

  app.onError((err, c) => {
    const se = toStatusError(interpretStrayStoreError(err, c.req.method))
    if (!(err instanceof StatusError) && se.code >= 500) console.error('internal error', err)
    return respondError(se, c.req.header('accept'))
  })
  app.notFound((c) => respondError(notFoundPath(), c.req.header('accept')))

  const aggregator =
    cfg.aggregator ??
    new Aggregator(cfg.registry, { fetch: fetchAggregatorCall, endpointRouting: true })
  const checkOnRequests = aggregator.opts.checkOnRequests ?? true
  // At the edge no timer runs between requests (an idle cluster hibernates): requests touching the
  // aggregator run the availability checks, after answering, when the last ones are old.
  const recheckAvailability = (c: Context<{ Variables: Variables }>) => {
    if (!checkOnRequests || !aggregator.availability.due(AVAILABILITY_RECHECK_MS)) return
    const p = aggregator.availability
      .syncAll(c.get('store'))
      .catch((e) => console.error(`APIService availability: ${(e as Error).message}`))
    try {
      c.executionCtx.waitUntil(p)
    } catch {
      // No execution context (Node): the promise runs on by itself.
    }
  }
  const metricsBackend = cfg.metrics ?? new InProcessMetrics()
  const keyResources = new KeyResources(cfg.registry)

  // Registered first, so that it indents errors from every later step too.
  app.use('*', async (c, next) => {
    await next()
    const url = new URL(c.req.url)
    if (!/^\/apis?(\/|$)/.test(url.pathname) || c.get('info')?.verb === 'watch') return
    if (wantsPrettyJSON(url.searchParams, c.req.header('user-agent')))
      c.res = await prettyJSON(c.res)
  })

  app.use('*', async (c, next) => {
    c.set('info', parseRequestInfo(c.req.method, new URL(c.req.url)))
    await next()
  })
  app.use('*', withRequestDeadline(cfg.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS))
  // Inside the deadline and outside everything else, as kube's DefaultBuildHandlerChain places it: any
  // layer may warn, and every response, errors included, carries what was recorded.
  app.use('*', withWarningRecorder())
  const recordMetrics = (env: unknown) => cfg.requestMetrics?.(env) !== false
  const metricsFilter = requestMetrics({ recorded: (c) => metricsBackend.recorded(c) })
  app.use('*', (c, next) => (recordMetrics(c.env) ? metricsFilter(c, next) : next()))
  // WithAuditInit and WithAudit: the event is begun once authentication has named the user.
  app.use('*', withAudit(cfg.audit ?? { config: () => undefined }))
  app.use('*', async (c, next) => {
    const store = recordMetrics(c.env)
      ? instrumentStore(cfg.store(c.env), keyResources)
      : cfg.store(c.env)
    c.set('store', store)
    if (cfg.ready) {
      ready ??= cfg.ready(store).catch((e) => {
        ready = undefined
        throw e
      })
      await ready
    }
    const started = performance.now()
    const auth = await authenticateRequest(
      c.req.raw,
      cfg.authenticators(c.env, store),
      cfg.anonymous?.(c.env) ?? false,
    )
    // WithAuthentication's metrics: "error" when a credential was refused, "failure" when there was none.
    const result = auth.user ? 'success' : auth.presented ? 'error' : 'failure'
    metrics.authenticationAttempts.inc([result])
    metrics.authenticationDuration.observe([result], (performance.now() - started) / 1000)
    if (!auth.user) return respondError(unauthorized(), c.req.header('accept'))
    c.get('audit')?.begin(auth.user)
    metrics.authenticatedUserRequests.inc([compressUsername(auth.user.username)])
    const authContext = cfg.auth ? await cfg.auth(c.env, store) : { authorizer: allowAuthenticated }
    const user = await impersonate(c.req.raw.headers, auth.user, authContext.authorizer)
    if (user !== auth.user) c.get('audit')?.impersonated(user)
    c.set('user', user)
    c.set('auth', authContext)
    await next()
  })
  const flowControl = flowControlFor(
    (env) => cfg.priorityAndFairness?.(env),
    (o) => new FlowControl(o),
  )
  app.use('*', priorityAndFairness(flowControl, cfg.registry))
  app.use('*', async (c, next) => {
    await authorize(c.get('auth').authorizer, c.get('user'), c.get('info'), c.get('audit'))
    c.set(REACHED_HANDLER, true)
    await next()
  })

  const healthChecks = (store: Store): HealthCheck[] => [
    { name: 'ping', check: async () => {} },
    { name: 'log', check: async () => {} },
    // kube-apiserver's etcd check gives up after --etcd-healthcheck-timeout (2s), sooner than a request
    // waits for etcd.
    { name: 'etcd', check: () => withinHealthcheckTimeout(store.currentRevision()) },
    ...(cfg.healthChecks ?? []),
    {
      name: 'poststarthook/bootstrap-cluster',
      check: async () => {
        if (cfg.ready) await ready
      },
    },
  ]
  const checksFor = (endpoint: 'healthz' | 'livez' | 'readyz', store: Store) =>
    endpoint === 'readyz'
      ? [...healthChecks(store), ...(cfg.readyChecks ?? [])]
      : healthChecks(store)
  // Each check's outcome goes to /metrics/slis (component-base's slis: kubernetes_healthcheck{,s_total}).
  const recordedChecks = (endpoint: 'healthz' | 'livez' | 'readyz', store: Store): HealthCheck[] =>
    checksFor(endpoint, store).map((h) => ({
      name: h.name,
      check: async () => {
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
      healthResponse(endpoint, recordedChecks(endpoint, c.get('store')), new URL(c.req.url)),
    )
    app.get(`/${endpoint}/:check{.+}`, (c) =>
      healthResponse(
        endpoint,
        recordedChecks(endpoint, c.get('store')),
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
    await customResources.refreshAll(c.get('store'))
    return exposition(await metricsBackend.collect(c, c.get('store'), keyResources), false)
  })
  app.get('/metrics/slis', async (c) =>
    exposition(await metricsBackend.collect(c, c.get('store'), keyResources), true),
  )
  app.get('/version', () => respond(200, versionInfo()))
  app.get('/debug/api_priority_and_fairness/:dump', (c) => {
    const res = serveFlowControlDump(flowControl(c.env), c.req.param('dump'), new URL(c.req.url))
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

  if (cfg.storageAdmin) mountStorageAdmin(app, cfg.storageAdmin)
  // A group version an extension server serves is proxied to it, after authentication and authorization
  // (kube-aggregator sits in front of everything else).
  app.use('/apis/*', async (c, next) => {
    const url = new URL(c.req.url)
    const store = c.get('store')
    if (url.pathname.startsWith('/apis/apiregistration.k8s.io/')) recheckAvailability(c)
    const remote = await aggregator.remoteFor(store, url.pathname)
    if (!remote) return next()
    recheckAvailability(c)
    return aggregator.proxy(c.req.raw, url, c.get('user'), remote, store)
  })

  // Discovery and the OpenAPI documents list every CRD first; a resource request re-reads only the CRD it names.
  const customResources = new CustomResourceDefinitions(cfg.registry, cfg.conversion)
  app.use('*', async (c, next) => {
    const info = c.get('info')
    if (!info.isResourceRequest && /^\/(api|apis|openapi)(\/|$)/.test(info.path))
      await customResources.refreshForDiscovery(c.get('store'))
    await next()
  })

  const served = async (c: Context<{ Variables: Variables }>) => {
    recheckAvailability(c)
    return aggregator.served(c.get('store'))
  }
  app.get('/api', (c) => {
    const v = aggregatedDiscoveryVersion(c.req.header('accept') ?? null)
    if (v)
      return discoveryResponse(aggregatedDiscovery(cfg.registry, true, v), aggregatedContentType(v))
    return respond(200, apiVersions(new URL(c.req.url).host))
  })
  app.get('/apis', async (c) => {
    const v = aggregatedDiscoveryVersion(c.req.header('accept') ?? null)
    const { groups, remote } = await served(c)
    if (v)
      return discoveryResponse(
        aggregatedDiscovery(
          cfg.registry,
          false,
          v,
          groups,
          await aggregator.remoteResources(c.get('store'), remote),
        ),
        aggregatedContentType(v),
      )
    return respond(200, apiGroupList(cfg.registry, groups))
  })
  app.get('/api/:version', async (c) => {
    const doc = await apiResourceList(cfg.registry, '', c.req.param('version'))
    return doc ? respond(200, doc) : respondError(notFoundPath())
  })
  app.get('/apis/:group', async (c) => {
    const { groups } = await served(c)
    const doc = apiGroupDoc(cfg.registry, c.req.param('group'), groups)
    return doc ? respond(200, doc) : respondError(notFoundPath())
  })
  app.get('/apis/:group/:version', async (c) => {
    const doc = await apiResourceList(cfg.registry, c.req.param('group'), c.req.param('version'))
    return doc ? respond(200, doc) : respondError(notFoundPath())
  })

  app.get('/openapi/v2', async (c) => {
    const { remote } = await served(c)
    return serveOpenAPIV2(
      c.req.raw,
      cfg.registry,
      await aggregator.openAPIV2Documents(c.get('store'), remote),
    )
  })
  app.get('/openapi/v3', async (c) => {
    const { remote } = await served(c)
    return serveOpenAPIV3Root(
      c.req.raw,
      cfg.registry,
      await aggregator.openAPIV3Paths(c.get('store'), remote),
    )
  })
  app.get('/openapi/v3/*', async (c) => {
    const url = new URL(c.req.url)
    const remote = await aggregator.openAPIV3Document(c.get('store'), c.req.raw, url)
    return remote ?? serveOpenAPIV3GroupVersion(c.req.raw, url, cfg.registry)
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
        registry: cfg.registry,
        store: c.get('store'),
        user: c.get('user'),
        auth: c.get('auth'),
        kubelet: cfg.kubelet?.(c.env),
      })
    if (!['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(c.req.method))
      throw methodNotAllowed()
    const store = c.get('store')
    checkCustomResourceRequest(await customResources.forRequest(store, info), info)
    const res = await serveResource(c.req.raw, new URL(c.req.url), info, cfg.registry, store, {
      user: c.get('user'),
      auth: c.get('auth'),
      admission: cfg.admission?.(c.env),
      warnings: c.get('warnings'),
      probe: cfg.httpProbe ?? fetchProbe,
      audit: c.get('audit'),
      watchCache: cfg.watchCache,
    })
    await customResources.afterRequest(store, info, res)
    return res
  })
  return app
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
    throw new Error(`Get "${url}": ${(e as Error).message}`)
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

// kube-apiserver's metrics for what this server does, with its names, HELP texts, labels and buckets:
// k8s.io/apiserver/pkg/endpoints/metrics (requests, watches), pkg/endpoints/filters/metrics.go
// (authentication), pkg/admission/metrics (admission), pkg/storage/etcd3/metrics (storage) and
// k8s.io/component-base/metrics/prometheus/slis (health checks), with API priority and fairness' beside
// them. kube-apiserver keeps one set per process (its legacyregistry); here a process or isolate serves
// many clusters, so each cluster has a set of its own (its ClusterContext's), and every layer records
// into the set of the request's cluster: one cluster's /metrics never shows another's requests.
import { flowcontrolMetricsIn } from './flowcontrol'
import {
  Counter,
  exponentialBuckets,
  Gauge,
  Histogram,
  Registry,
  type StabilityLevel,
} from './registry'

const counter = (name: string, stability: StabilityLevel, help: string, labelNames: string[]) =>
  new Counter({ name, help, stability, labelNames })
const gauge = (name: string, stability: StabilityLevel, help: string, labelNames: string[]) =>
  new Gauge({ name, help, stability, labelNames })
const histogram = (
  name: string,
  stability: StabilityLevel,
  help: string,
  labelNames: string[],
  buckets: number[],
) => new Histogram({ name, help, stability, labelNames }, buckets)

/** apiserver_request_duration_seconds' buckets, which etcd_request_duration_seconds shares (for comparison). */
const REQUEST_BUCKETS = [
  0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45,
  60,
]
const ADMISSION_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1.0, 2.5]
const WEBHOOK_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10, 25]
const REQUEST_LABELS = [
  'verb',
  'dry_run',
  'group',
  'version',
  'resource',
  'subresource',
  'scope',
  'component',
]

/** One cluster's series, in a registry of their own. */
export function apiserverMetrics() {
  const r = new Registry()
  const m = {
    registry: r,
    requestTotal: r.register(
      counter(
        'apiserver_request_total',
        'STABLE',
        'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
        [...REQUEST_LABELS, 'code'],
      ),
    ),
    requestDuration: r.register(
      histogram(
        'apiserver_request_duration_seconds',
        'STABLE',
        'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
        REQUEST_LABELS,
        REQUEST_BUCKETS,
      ),
    ),
    responseSizes: r.register(
      histogram(
        'apiserver_response_sizes',
        'STABLE',
        'Response size distribution in bytes for each group, version, verb, resource, subresource, scope and component.',
        ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'],
        exponentialBuckets(1000, 10, 7),
      ),
    ),
    currentInflight: r.register(
      gauge(
        'apiserver_current_inflight_requests',
        'STABLE',
        'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
        ['request_kind'],
      ),
    ),
    longRunning: r.register(
      gauge(
        'apiserver_longrunning_requests',
        'STABLE',
        'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.',
        ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'],
      ),
    ),
    registeredWatchers: r.register(
      gauge(
        'apiserver_registered_watchers',
        'ALPHA',
        'Number of currently registered watchers for a given resources',
        ['group', 'version', 'kind'],
      ),
    ),
    watchEvents: r.register(
      counter('apiserver_watch_events_total', 'ALPHA', 'Number of events sent in watch clients', [
        'group',
        'version',
        'kind',
      ]),
    ),
    watchEventsSizes: r.register(
      histogram(
        'apiserver_watch_events_sizes',
        'ALPHA',
        'Watch event size distribution in bytes',
        ['group', 'version', 'kind'],
        exponentialBuckets(1024, 2, 8),
      ),
    ),
    // The watch cache's (storage/cacher/metrics): per resource, how often it started and what it took in.
    watchCacheInitializations: r.register(
      counter(
        'apiserver_watch_cache_initializations_total',
        'ALPHA',
        'Counter of watch cache initializations broken by resource type.',
        ['group', 'resource'],
      ),
    ),
    watchCacheEventsReceived: r.register(
      counter(
        'apiserver_watch_cache_events_received_total',
        'ALPHA',
        'Counter of events received in watch cache broken by resource type.',
        ['group', 'resource'],
      ),
    ),
    cacheList: r.register(
      counter(
        'apiserver_cache_list_total',
        'ALPHA',
        'Number of LIST requests served from watch cache',
        ['group', 'resource', 'index'],
      ),
    ),
    terminatedWatchers: r.register(
      counter(
        'apiserver_terminated_watchers_total',
        'ALPHA',
        'Counter of watchers closed due to unresponsiveness broken by resource type.',
        ['group', 'resource'],
      ),
    ),
    storageObjects: r.register(
      gauge(
        'apiserver_storage_objects',
        'STABLE',
        'Number of stored objects at the time of last check split by kind. In case of a fetching error, the value will be -1.',
        ['resource'],
      ),
    ),
    etcdRequestDuration: r.register(
      histogram(
        'etcd_request_duration_seconds',
        'ALPHA',
        'Etcd request latency in seconds for each operation and object type.',
        ['operation', 'group', 'resource'],
        REQUEST_BUCKETS,
      ),
    ),
    etcdRequests: r.register(
      counter(
        'etcd_requests_total',
        'ALPHA',
        'Etcd request counts for each operation and object type.',
        ['operation', 'group', 'resource'],
      ),
    ),
    etcdRequestErrors: r.register(
      counter(
        'etcd_request_errors_total',
        'ALPHA',
        'Etcd failed request counts for each operation and object type.',
        ['operation', 'group', 'resource'],
      ),
    ),
    admissionStep: r.register(
      histogram(
        'apiserver_admission_step_admission_duration_seconds',
        'STABLE',
        'Admission sub-step latency histogram in seconds, broken out for each operation and API resource and step type (validate or admit).',
        ['type', 'operation', 'rejected'],
        ADMISSION_BUCKETS,
      ),
    ),
    admissionController: r.register(
      histogram(
        'apiserver_admission_controller_admission_duration_seconds',
        'STABLE',
        'Admission controller latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit).',
        ['name', 'type', 'operation', 'rejected'],
        ADMISSION_BUCKETS,
      ),
    ),
    admissionWebhook: r.register(
      histogram(
        'apiserver_admission_webhook_admission_duration_seconds',
        'STABLE',
        'Admission webhook latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit).',
        ['name', 'type', 'operation', 'rejected'],
        WEBHOOK_BUCKETS,
      ),
    ),
    authenticatedUserRequests: r.register(
      counter(
        'authenticated_user_requests',
        'ALPHA',
        'Counter of authenticated requests broken out by username.',
        ['username'],
      ),
    ),
    authenticationAttempts: r.register(
      counter('authentication_attempts', 'ALPHA', 'Counter of authenticated attempts.', ['result']),
    ),
    authenticationDuration: r.register(
      histogram(
        'authentication_duration_seconds',
        'ALPHA',
        'Authentication duration in seconds broken out by result.',
        ['result'],
        exponentialBuckets(0.001, 2, 15),
      ),
    ),
    // k8s.io/apiserver/pkg/audit/metrics.go
    auditEventTotal: r.register(
      counter(
        'apiserver_audit_event_total',
        'ALPHA',
        'Counter of audit events generated and sent to the audit backend.',
        [],
      ),
    ),
    auditErrorTotal: r.register(
      counter(
        'apiserver_audit_error_total',
        'ALPHA',
        'Counter of audit events that failed to be audited properly. Plugin identifies the plugin affected by the error.',
        ['plugin'],
      ),
    ),
    auditLevelTotal: r.register(
      counter(
        'apiserver_audit_level_total',
        'ALPHA',
        'Counter of policy levels for audit events (1 per request).',
        ['level'],
      ),
    ),
    auditRequestsRejectedTotal: r.register(
      counter(
        'apiserver_audit_requests_rejected_total',
        'ALPHA',
        'Counter of apiserver requests rejected due to an error in audit logging backend.',
        [],
      ),
    ),
    healthcheck: r.register(
      gauge(
        'kubernetes_healthcheck',
        'STABLE',
        'This metric records the result of a single healthcheck.',
        ['name', 'type'],
      ),
    ),
    healthchecksTotal: r.register(
      counter(
        'kubernetes_healthchecks_total',
        'STABLE',
        'This metric records the results of all healthcheck.',
        ['name', 'status', 'type'],
      ),
    ),
    apf: flowcontrolMetricsIn(r),
  }
  return { ...m, inflight: new InflightRequests(m.currentInflight) }
}

export type ApiserverMetrics = ReturnType<typeof apiserverMetrics>

/**
 * apiserver_current_inflight_requests: the peak of each kind over the last second (long-running requests
 * excluded, as WithMaxInFlightLimit counts them).
 */
export class InflightRequests {
  private current = { readOnly: 0, mutating: 0 }
  private peak = { readOnly: 0, mutating: 0 }
  private windowStart = 0

  constructor(private readonly gauge: Gauge) {}

  // The gauges show the peaks, so they are set only when a peak moves (two gauge writes per request
  // fewer at each end of it).
  begin(kind: 'readOnly' | 'mutating'): void {
    this.roll()
    this.current[kind]++
    if (this.current[kind] > this.peak[kind]) {
      this.peak[kind] = this.current[kind]
      this.publish()
    }
  }

  end(kind: 'readOnly' | 'mutating'): void {
    this.roll()
    this.current[kind]--
  }

  /** Before a scrape: a window that has passed reports what is in flight now. */
  roll(): void {
    const now = Date.now()
    if (now - this.windowStart < 1000) return
    this.windowStart = now
    this.peak = { ...this.current }
    this.publish()
  }

  private publish(): void {
    this.gauge.set(['readOnly'], this.peak.readOnly)
    this.gauge.set(['mutating'], this.peak.mutating)
  }
}

/** The audit layer's counts of a request, as kube's audit package observes them. */
export function auditObserver(m: ApiserverMetrics) {
  return {
    event: () => m.auditEventTotal.inc([]),
    level: (level: string) => m.auditLevelTotal.inc([level]),
    rejected: () => m.auditRequestsRejectedTotal.inc([]),
  }
}

/** The health-check series, served on /metrics/slis rather than /metrics (component-base's slis registry). */
export const SLI_METRICS = new Set(['kubernetes_healthcheck', 'kubernetes_healthchecks_total'])

/**
 * Gauges that add up across isolates at the edge (each isolate's own requests in flight); the rest are
 * computed where they are served (storage objects) or describe only the isolate that ran the check.
 */
export const CLUSTER_GAUGES = new Set([
  'apiserver_current_inflight_requests',
  'apiserver_longrunning_requests',
  'apiserver_registered_watchers',
])

/** metrics.compressUsername in k8s.io/apiserver/pkg/endpoints/filters: a bounded set of label values. */
export function compressUsername(username: string): string {
  if (
    [
      'admin',
      'client',
      'kube_proxy',
      'kubelet',
      'system:serviceaccount:kube-system:default',
    ].includes(username)
  ) {
    return username
  }
  if (username.includes('@')) return 'email_id'
  return 'other'
}

export function seconds(startMs: number): number {
  return (performance.now() - startMs) / 1000
}

// API priority and fairness' metrics (k8s.io/apiserver/pkg/util/flowcontrol/metrics), with kube's names,
// HELP texts, labels and buckets, in the apiserver's registry beside the request metrics (a cluster's
// ApiserverMetrics.apf).
import { Counter, Gauge, Histogram, type Registry, type StabilityLevel } from './registry'

/** kube's queue-wait and execution-time buckets. */
const REQUEST_DURATION_BUCKETS = [0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30]
const QUEUE_LENGTH_BUCKETS = [0, 10, 25, 50, 100, 250, 500, 1000]
const FS_PL = ['flow_schema', 'priority_level']

/** The APF metrics, registered in r. */
export function flowcontrolMetricsIn(r: Registry) {
  const counter = (name: string, s: StabilityLevel, help: string, labelNames: string[]) =>
    r.register(new Counter({ name, help, stability: s, labelNames }))
  const gauge = (name: string, s: StabilityLevel, help: string, labelNames: string[]) =>
    r.register(new Gauge({ name, help, stability: s, labelNames }))
  const histogram = (
    name: string,
    s: StabilityLevel,
    help: string,
    labelNames: string[],
    buckets: number[],
  ) => r.register(new Histogram({ name, help, stability: s, labelNames }, buckets))
  return {
    rejectedRequests: counter(
      'apiserver_flowcontrol_rejected_requests_total',
      'BETA',
      'Number of requests rejected by API Priority and Fairness subsystem',
      [...FS_PL, 'reason'],
    ),
    dispatchedRequests: counter(
      'apiserver_flowcontrol_dispatched_requests_total',
      'BETA',
      'Number of requests executed by API Priority and Fairness subsystem',
      FS_PL,
    ),
    currentInqueueRequests: gauge(
      'apiserver_flowcontrol_current_inqueue_requests',
      'BETA',
      'Number of requests currently pending in queues of the API Priority and Fairness subsystem',
      FS_PL,
    ),
    currentExecutingRequests: gauge(
      'apiserver_flowcontrol_current_executing_requests',
      'BETA',
      'Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution stage in the API Priority and Fairness subsystem',
      FS_PL,
    ),
    currentExecutingSeats: gauge(
      'apiserver_flowcontrol_current_executing_seats',
      'BETA',
      'Concurrency (number of seats) occupied by the currently executing (initial stage for a WATCH, any stage otherwise) requests in the API Priority and Fairness subsystem',
      FS_PL,
    ),
    requestWaitDuration: histogram(
      'apiserver_flowcontrol_request_wait_duration_seconds',
      'BETA',
      'Length of time a request spent waiting in its queue',
      [...FS_PL, 'execute'],
      REQUEST_DURATION_BUCKETS,
    ),
    requestExecution: histogram(
      'apiserver_flowcontrol_request_execution_seconds',
      'ALPHA',
      'Duration of initial stage (for a WATCH) or any (for a non-WATCH) stage of request execution in the API Priority and Fairness subsystem',
      [...FS_PL, 'type'],
      REQUEST_DURATION_BUCKETS,
    ),
    queueLengthAfterEnqueue: histogram(
      'apiserver_flowcontrol_request_queue_length_after_enqueue',
      'ALPHA',
      'Length of queue in the API Priority and Fairness subsystem, as seen by each request after it is enqueued',
      FS_PL,
      QUEUE_LENGTH_BUCKETS,
    ),
    nominalLimitSeats: gauge(
      'apiserver_flowcontrol_nominal_limit_seats',
      'BETA',
      'Nominal number of execution seats configured for each priority level',
      ['priority_level'],
    ),
    currentLimitSeats: gauge(
      'apiserver_flowcontrol_current_limit_seats',
      'ALPHA',
      'current derived number of execution seats available to each priority level',
      ['priority_level'],
    ),
    lowerLimitSeats: gauge(
      'apiserver_flowcontrol_lower_limit_seats',
      'ALPHA',
      'Configured lower bound on number of execution seats available to each priority level',
      ['priority_level'],
    ),
    upperLimitSeats: gauge(
      'apiserver_flowcontrol_upper_limit_seats',
      'ALPHA',
      'Configured upper bound on number of execution seats available to each priority level',
      ['priority_level'],
    ),
    requestConcurrencyLimit: gauge(
      'apiserver_flowcontrol_request_concurrency_limit',
      'ALPHA',
      'Nominal number of execution seats configured for each priority level',
      ['priority_level'],
    ),
    // Recorded for the requests priority and fairness drops (kube's RecordRequestTermination).
    requestTerminations: counter(
      'apiserver_request_terminations_total',
      'ALPHA',
      'Number of requests which apiserver terminated in self-defense.',
      ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component', 'code'],
    ),
    seatFairFrac: gauge(
      'apiserver_flowcontrol_seat_fair_frac',
      'ALPHA',
      "Fair fraction of server's concurrency to allocate to each priority level that can use it",
      [],
    ),
  }
}

export type FlowcontrolMetrics = ReturnType<typeof flowcontrolMetricsIn>

/** The APF gauges that add up across edge isolates: each isolate's own queued and executing requests. */
export const APF_CLUSTER_GAUGES = new Set([
  'apiserver_flowcontrol_current_inqueue_requests',
  'apiserver_flowcontrol_current_executing_requests',
  'apiserver_flowcontrol_current_executing_seats',
])

/**
 * The APF gauges that describe one isolate's seats (at the edge each isolate enforces its own limits):
 * a scrape reports the scraping isolate's.
 */
export function apfIsolateGauges(m: FlowcontrolMetrics) {
  return [
    m.nominalLimitSeats,
    m.currentLimitSeats,
    m.lowerLimitSeats,
    m.upperLimitSeats,
    m.requestConcurrencyLimit,
    m.seatFairFrac,
  ].flatMap((g) => g.samples())
}

// Where the counts live. Node mode: in the process, as kube-apiserver keeps them. At the edge isolates are
// many and short-lived, so each isolate's counters and histograms are deltas: after a request, a flush
// (batched, at most one per FLUSH_INTERVAL_MS per isolate, run in waitUntil) adds them to the totals in
// the cluster's Durable Object, which keeps them in SQLite (src/storage/durable/metrics-table.ts). A scrape
// flushes its own isolate, then reads the totals, the gauges each live isolate last reported, and the
// object counts of the object's own tables, in one call. Nothing runs while nobody sends requests: no
// alarm, no timer beyond the flush that follows a request, so an idle cluster still hibernates.
//
// Either way a backend is one cluster's: it holds that cluster's series (ApiserverMetrics) and goes with its
// ClusterContext, so a process or isolate keeps counts only for the clusters it keeps contexts for.
import type { Context } from 'hono'
import type { Store } from '../storage/store'
import { apiserverMetrics, CLUSTER_GAUGES, type ApiserverMetrics } from './apiserver'
import { APF_CLUSTER_GAUGES, apfIsolateGauges } from './flowcontrol'
import type { Registry, SeriesSample } from './registry'
import type { KeyResources } from './store'

export const FLUSH_INTERVAL_MS = 1000
/** An isolate re-sends its non-zero gauges this often while it holds long requests (watches). */
export const GAUGE_REFRESH_MS = 60_000
/** Gauges of an isolate not heard from for this long are dropped: the isolate is gone. */
export const GAUGE_TTL_MS = 2 * GAUGE_REFRESH_MS + 10_000

/** Where one cluster's counts are kept, and what its scrape serves (the registries to render). */
export interface MetricsBackend {
  /** The cluster's series, which every layer of its requests records into. */
  readonly metrics: ApiserverMetrics
  /** A request's counts are recorded. */
  recorded(c: Context): void
  collect(c: Context, store: Store, keys: KeyResources): Promise<Registry[]>
}

/** The Durable Object's side (ClusterStore.recordMetrics / scrapeMetrics). */
export interface ClusterMetricsStub {
  recordMetrics(
    isolate: string,
    counts: SeriesSample[],
    gauges: SeriesSample[] | null,
  ): Promise<void>
  scrapeMetrics(prefixes: string[]): Promise<ClusterMetricsSnapshot>
}

export interface ClusterMetricsSnapshot {
  counts: SeriesSample[]
  /** The gauges of each isolate heard from within GAUGE_TTL_MS, summed. */
  gauges: SeriesSample[]
  /** Keys under each prefix asked for, in order. */
  objects: number[]
}

/** Node mode: the process's own registry, plus the object counts read from the store at scrape time. */
export class InProcessMetrics implements MetricsBackend {
  constructor(
    private readonly extra: () => Registry[] = () => [],
    readonly metrics: ApiserverMetrics = apiserverMetrics(),
  ) {}

  recorded(): void {}

  async collect(_c: Context, store: Store, keys: KeyResources): Promise<Registry[]> {
    const m = this.metrics
    m.inflight.roll()
    const prefixes = keys.prefixes()
    // kube-apiserver counts each resource's keys in etcd (a count-only range); so does this, per scrape.
    const counts = await Promise.all(
      prefixes.map((p) =>
        store.list(p.prefix, { limit: 1 }).then(
          (r) => r.count,
          () => -1,
        ),
      ),
    )
    setStorageObjects(m, prefixes, counts)
    return [m.registry, ...this.extra()]
  }
}

/** The edge: deltas flushed to the cluster's Durable Object, totals read from it at scrape time. */
export class ClusterMetrics implements MetricsBackend {
  /** Names this isolate in the object's table of gauges (made on first use: workerd has no randomness at startup). */
  private isolateId?: string
  private pending?: Promise<void>
  private flushing: Promise<void> = Promise.resolve()
  private gaugesSentAt = 0
  private lastGauges = ''

  constructor(
    private readonly stub: (env: unknown) => ClusterMetricsStub,
    readonly metrics: ApiserverMetrics = apiserverMetrics(),
  ) {}

  recorded(c: Context): void {
    // Only the request that schedules the flush waits for it. Handing the same promise to every request's
    // waitUntil kept each request (its body and response included) alive until the next flush: workerd
    // then held ~1 s of requests, which grew it past 1.9 GiB during LISTs and cost a third of GET's rate.
    if (this.pending) return
    const env = c.env
    this.pending = new Promise<void>((resolve) => {
      setTimeout(() => {
        this.pending = undefined
        this.flush(env).then(resolve, resolve)
      }, FLUSH_INTERVAL_MS)
    })
    try {
      c.executionCtx.waitUntil(this.pending)
    } catch {
      // no execution context (a test calling app.fetch directly): the timer still runs
    }
  }

  /** Sends what this isolate counted since the last flush; on failure the counts are kept for the next. */
  flush(env: unknown): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const counts = this.metrics.registry.drain()
      const gauges = this.gauges()
      const text = JSON.stringify(gauges)
      const now = Date.now()
      const sendGauges = text !== this.lastGauges || now - this.gaugesSentAt > GAUGE_REFRESH_MS
      if (!counts.length && !sendGauges) return
      try {
        this.isolateId ??= crypto.randomUUID()
        await this.stub(env).recordMetrics(this.isolateId, counts, sendGauges ? gauges : null)
        if (sendGauges) {
          this.lastGauges = text
          this.gaugesSentAt = now
        }
      } catch (e) {
        this.metrics.registry.merge(counts)
        console.error('metrics flush failed', e)
      }
    })
    return this.flushing
  }

  private gauges(): SeriesSample[] {
    this.metrics.inflight.roll()
    return this.metrics.registry
      .all()
      .filter((g) => CLUSTER_GAUGES.has(g.name) || APF_CLUSTER_GAUGES.has(g.name))
      .flatMap((g) => g.samples())
      .filter((s) => s.value !== 0)
  }

  async collect(c: Context, _store: Store, keys: KeyResources): Promise<Registry[]> {
    await this.flush(c.env)
    const prefixes = keys.prefixes()
    const snapshot = await this.stub(c.env).scrapeMetrics(prefixes.map((p) => p.prefix))
    const cluster = this.metrics.registry.emptyCopy()
    cluster.merge(snapshot.counts)
    cluster.merge(snapshot.gauges)
    // The health-check gauge describes the checks this isolate ran (the counters are cluster-wide).
    cluster.merge(this.metrics.healthcheck.samples())
    cluster.merge(apfIsolateGauges(this.metrics.apf))
    const storageObjects = cluster.get('apiserver_storage_objects')
    if (storageObjects?.type === 'gauge') {
      prefixes.forEach((p, i) =>
        storageObjects.set([storageResource(p)], snapshot.objects[i] ?? -1),
      )
    }
    return [cluster]
  }
}

function storageResource(p: { group: string; resource: string }): string {
  return p.group ? `${p.resource}.${p.group}` : p.resource
}

function setStorageObjects(
  m: ApiserverMetrics,
  prefixes: { group: string; resource: string }[],
  counts: number[],
): void {
  prefixes.forEach((p, i) => m.storageObjects.set([storageResource(p)], counts[i]!))
}

// API priority and fairness' configuration consumer and dispatcher (k8s.io/apiserver/pkg/util/flowcontrol's
// configController): it reads the FlowSchemas and PriorityLevelConfigurations, classifies each request,
// and holds each priority level's queues and seats.
//
// Concurrency limits are kube's: ServerCL = --max-requests-inflight + --max-mutating-requests-inflight;
// NominalCL(l) = ceil(ServerCL * NCS(l) / sum NCS); LendableCL(l) = round(NominalCL(l) * lendablePercent/100);
// BorrowingCL(l) = round(NominalCL(l) * borrowingLimitPercent/100), unlimited when unset. Every
// BORROWING_PERIOD_MS each limited level's current limit is re-divided: every level gets
// clamp(fairFrac * demand, NominalCL - LendableCL, NominalCL + BorrowingCL), with the one fairFrac that
// hands out ServerCL seats in all (demand is the most seats the level had executing and waiting in the
// period). Exempt levels are never limited.
import { decode, storageKey } from '../registry/store'
import type { Registry } from '../registry/registry'
import type { KubeObject, UserInfo } from '../registry/types'
import type { RequestInfo } from '../server/filters/request-info'
import type { Store } from '../storage/store'
import { flowcontrolMetricsIn, type FlowcontrolMetrics } from '../metrics/flowcontrol'
import { Registry as MetricsRegistry } from '../metrics/registry'
import {
  MANDATORY_FLOW_SCHEMAS,
  MANDATORY_PRIORITY_LEVELS,
  SUGGESTED_FLOW_SCHEMAS,
  SUGGESTED_PRIORITY_LEVELS,
} from './bootstrap'
import { flowDistinguisher, matchesFlowSchema, sortFlowSchemas } from './classify'
import { ensureAPFBootstrapConfiguration, updateFlowSchemaStatuses } from './ensurer'
import {
  QueueSet,
  type QueuingConfig,
  type RejectReason,
  type RequestDescription,
} from './queueset'
import { hashFlowID } from './shuffle-sharding'

type Obj = Record<string, any>

const GROUP = 'flowcontrol.apiserver.k8s.io'
/**
 * The longest a FlowSchema or PriorityLevelConfiguration written through another isolate or process
 * goes unseen here while requests come in. kube's configuration controller follows both kinds with
 * informers, so a change takes effect within a watch delay; the edge has no watch an idle isolate may
 * hold (it would keep the cluster's Durable Object awake), so the configuration is checked when a request
 * arrives and the last check is older than this: one read of both prefixes, and no decoding unless a key
 * or its mod revision moved. 5 s keeps a change prompt for an operator applying a FlowSchema and then
 * sending requests (and well inside the 10 s in which borrowing moves the limits anyway), for at most
 * one store read per 5 s per isolate that is serving requests, and none for an idle cluster. A write of
 * either kind through this isolate or process is seen at once (noteWrite): the next request waits for
 * the configuration it made.
 */
export const CONFIG_MAX_STALENESS_MS = 5000
/** kube's borrowing adjustment period. */
export const BORROWING_PERIOD_MS = 10_000
const MAX_RETRY_AFTER_S = 60
const LOAD_TIMEOUT_MS = 10_000
const FLOW_HASH_CACHE_SIZE = 10_000
/** kube's APF bootstrap ensurer period. */
export const ENSURE_INTERVAL_MS = 60_000

export interface FlowControlOptions {
  /** --max-requests-inflight + --max-mutating-requests-inflight. */
  serverConcurrencyLimit: number
  /** How long a request may wait in a queue (kube: a quarter of --request-timeout). */
  requestWaitLimitMs: number
  now?: () => number
  /** The cluster's APF series (ApiserverMetrics.apf); a set of its own when none is given. */
  metrics?: FlowcontrolMetrics
}

/** A level's share of the server: its nominal limit and the bounds borrowing moves it within. */
interface Limits {
  nominal: number
  min: number
  max: number
}

class PriorityLevelState {
  queues?: QueueSet
  /** An exempt level's executing requests, for dump_requests. */
  readonly exemptRunning = new Set<{ req: RequestDescription; arrived: number }>()
  exemptExecuting = 0
  exemptDispatched = 0
  limits: Limits = { nominal: 0, min: 0, max: 0 }
  current = 0
  // kube's droppedRequestsTracker: Retry-After grows while a level keeps dropping requests.
  retryAfter = 1
  private retryAfterSetAt = 0
  private drops: number[] = []

  constructor(public pl: Obj) {}

  get name(): string {
    return this.pl.metadata.name
  }
  get exempt(): boolean {
    return this.pl.spec?.type === 'Exempt'
  }
  get queuing(): QueuingConfig | undefined {
    const lr = this.pl.spec?.limited?.limitResponse
    return lr?.type === 'Queue' ? lr.queuing : undefined
  }

  recordDrop(nowS: number): void {
    this.drops.push(nowS)
    while (this.drops.length && this.drops[0] < nowS - MAX_RETRY_AFTER_S) this.drops.shift()
    if (nowS - this.retryAfterSetAt < this.retryAfter) return
    const recent = this.drops.filter((t) => t >= nowS - this.retryAfter).length
    if (recent >= 3 * this.retryAfter)
      this.retryAfter = Math.min(MAX_RETRY_AFTER_S, this.retryAfter * 2)
    else if (recent < this.retryAfter)
      this.retryAfter = Math.max(1, Math.floor(this.retryAfter / 2))
    this.retryAfterSetAt = nowS
  }
}

export interface Classification {
  flowSchema: Obj
  priorityLevel: Obj
  distinguisher: string
}

export type Admission =
  | (Classification & { executed: true; finish(): void })
  | (Classification & { executed: false; reason: RejectReason; retryAfterSeconds: number })

export class FlowControl {
  private schemas: Obj[] = []
  private levels = new Map<string, PriorityLevelState>()
  /** When the store was last read: a check that found nothing new counts. */
  private checkedAt = -Infinity
  /** The objects in hand, each key with its mod revision: a read that finds the same decodes nothing. */
  private appliedKeys?: string
  private appliedRevision = 0
  private loading?: { done: Promise<void>; since: number; writes: number }
  /** FlowSchema and PriorityLevelConfiguration writes this isolate or process answered. */
  private writes = 0
  /** The writes the last completed read began after. */
  private seenWrites = 0
  /** The bootstrap hook ensured the configuration as the process or isolate started. */
  private ensuredAt: number
  private adjustedAt: number
  private fairFrac = 0
  private readonly now: () => number
  private readonly m: FlowcontrolMetrics

  constructor(private readonly opts: FlowControlOptions) {
    this.now = opts.now ?? (() => performance.now())
    this.m = opts.metrics ?? flowcontrolMetricsIn(new MetricsRegistry())
    this.adjustedAt = this.now()
    this.ensuredAt = this.now()
    // Until the API has been read (or when it cannot be), the bootstrap configuration serves.
    this.apply(
      [...MANDATORY_FLOW_SCHEMAS, ...SUGGESTED_FLOW_SCHEMAS],
      [...MANDATORY_PRIORITY_LEVELS, ...SUGGESTED_PRIORITY_LEVELS],
    )
  }

  /** A FlowSchema or PriorityLevelConfiguration write was answered here: the next request reads it. */
  noteWrite(): void {
    this.writes++
  }

  /**
   * Reads the configuration again when a write was seen here, or when the last read is older than
   * CONFIG_MAX_STALENESS_MS; nothing runs between requests. The first read, and one after a write seen
   * here, is waited for; other reads run while the configuration in hand keeps serving, and the caller
   * is handed the read to keep alive (an edge isolate's waitUntil).
   */
  async refresh(
    registry: Registry,
    store: Store,
    keepAlive: (p: Promise<void>) => void = () => {},
  ): Promise<void> {
    const now = this.now()
    const written = this.writes !== this.seenWrites
    if (!written && now - this.checkedAt < CONFIG_MAX_STALENESS_MS) return
    // Join a read in flight, unless it began before a write seen here or never ended (its isolate's
    // request was cut short).
    const joinable =
      this.loading &&
      this.loading.writes === this.writes &&
      now - this.loading.since <= LOAD_TIMEOUT_MS
    if (!joinable) {
      const loading = { done: Promise.resolve(), since: now, writes: this.writes }
      loading.done = this.load(registry, store, loading.writes).finally(() => {
        if (this.loading === loading) this.loading = undefined
      })
      this.loading = loading
      keepAlive(loading.done)
    }
    if (this.checkedAt === -Infinity || written) await this.loading!.done
  }

  private async load(registry: Registry, store: Store, writes: number): Promise<void> {
    const fsType = registry.lookup(GROUP, 'v1', 'flowschemas')
    const plType = registry.lookup(GROUP, 'v1', 'prioritylevelconfigurations')
    if (!fsType || !plType) return
    try {
      // kube's ensurer re-applies the bootstrap configuration every minute (deleted mandatory objects
      // come back, autoupdate specs are restored); here, every minute that requests come in.
      if (this.now() - this.ensuredAt >= ENSURE_INTERVAL_MS) {
        this.ensuredAt = this.now()
        await ensureAPFBootstrapConfiguration(registry, store)
      }
      // Both kinds in one round trip, at one revision.
      const { results, revision } = await store.readBatch([
        { prefix: storageKey(fsType, undefined) },
        { prefix: storageKey(plType, undefined) },
      ])
      const [fsKvs, plKvs] = results.map((r) => r.kvs)
      this.checkedAt = this.now()
      this.seenWrites = Math.max(this.seenWrites, writes)
      // An older read that ended after a newer one changes nothing.
      if (revision < this.appliedRevision) return
      this.appliedRevision = revision
      const keys = [...fsKvs, ...plKvs].map((kv) => `${kv.key}@${kv.modRevision}`).join('\n')
      if (keys === this.appliedKeys) return
      this.appliedKeys = keys
      // Decoded and applied with no await in between, so that reads apply in revision order.
      const fs = fsKvs.map((kv) => decode(fsType, kv))
      const pl = plKvs.map((kv) => decode(plType, kv))
      this.apply(fs, pl)
      await updateFlowSchemaStatuses(registry, store, fs, new Set(pl.map((p) => p.metadata!.name!)))
    } catch (e) {
      // The configuration in hand keeps serving; the next request tries again.
      console.error('priority and fairness: reading the configuration failed', e)
    }
  }

  /**
   * Digests a configuration: schemas whose priority level exists, in matching order; a level per
   * PriorityLevelConfiguration (the mandatory ones are always there, from bootstrap if the API lacks them).
   */
  apply(flowSchemas: KubeObject[], priorityLevels: KubeObject[]): void {
    const pls = new Map(priorityLevels.map((p) => [p.metadata!.name!, p as Obj]))
    for (const m of MANDATORY_PRIORITY_LEVELS)
      if (!pls.has(m.metadata!.name!)) pls.set(m.metadata!.name!, m as Obj)
    const schemas = flowSchemas.filter((f) =>
      pls.has((f.spec as Obj)?.priorityLevelConfiguration?.name),
    ) as Obj[]
    for (const m of MANDATORY_FLOW_SCHEMAS)
      if (!schemas.some((s) => s.metadata.name === m.metadata!.name)) schemas.push(m as Obj)
    this.schemas = sortFlowSchemas(schemas)

    const next = new Map<string, PriorityLevelState>()
    for (const [name, pl] of pls) {
      const state = this.levels.get(name) ?? new PriorityLevelState(pl)
      const before = state.queuing
      state.pl = pl
      const after = state.queuing
      if (!state.exempt && (!state.queues || JSON.stringify(before) !== JSON.stringify(after))) {
        // A new queue configuration gets new queues; requests in the old ones finish there.
        state.queues = new QueueSet(after, 0, this.opts.requestWaitLimitMs, this.now)
      }
      if (state.exempt) state.queues = undefined
      next.set(name, state)
    }
    for (const name of this.levels.keys())
      if (!next.has(name)) this.m.currentLimitSeats.set([name], 0)
    this.levels = next
    this.computeNominalLimits()
  }

  private computeNominalLimits(): void {
    const serverCL = this.opts.serverConcurrencyLimit
    const ncsOf = (s: PriorityLevelState) =>
      (s.exempt
        ? s.pl.spec?.exempt?.nominalConcurrencyShares
        : s.pl.spec?.limited?.nominalConcurrencyShares) ?? 0
    const sum = [...this.levels.values()].reduce((t, s) => t + ncsOf(s), 0)
    for (const s of this.levels.values()) {
      const cfg = s.exempt ? s.pl.spec?.exempt : s.pl.spec?.limited
      const nominal = sum > 0 ? Math.ceil((serverCL * ncsOf(s)) / sum) : 0
      const lendable = Math.round((nominal * (cfg?.lendablePercent ?? 0)) / 100)
      const blp = cfg?.borrowingLimitPercent
      const borrowing =
        blp === undefined || blp === null ? serverCL : Math.round((nominal * blp) / 100)
      s.limits = { nominal, min: nominal - lendable, max: nominal + borrowing }
      if (!s.exempt) {
        // A new level, or one whose shares changed, starts at its nominal limit.
        if (s.current === 0 || s.current < s.limits.min || s.current > s.limits.max)
          s.current = nominal
        s.queues!.setConcurrencyLimit(s.current)
      }
      this.m.nominalLimitSeats.set([s.name], nominal)
      this.m.requestConcurrencyLimit.set([s.name], nominal)
      this.m.lowerLimitSeats.set([s.name], s.limits.min)
      this.m.upperLimitSeats.set([s.name], s.exempt ? nominal : s.limits.max)
      this.m.currentLimitSeats.set([s.name], s.exempt ? nominal : s.current)
    }
  }

  /** The borrowing adjustment: one fair fraction of each level's demand, within its bounds, for all. */
  private adjustLimits(): void {
    const levels = [...this.levels.values()].filter((s) => !s.exempt)
    const demand = new Map(levels.map((s) => [s, s.queues!.takeDemand()] as const))
    const serverCL = this.opts.serverConcurrencyLimit
    const exemptMin = [...this.levels.values()]
      .filter((s) => s.exempt)
      .reduce((t, s) => t + s.limits.min, 0)
    const budget = Math.max(0, serverCL - exemptMin)
    const alloc = (f: number, s: PriorityLevelState) =>
      Math.min(s.limits.max, Math.max(s.limits.min, f * demand.get(s)!))
    const total = (f: number) => levels.reduce((t, s) => t + alloc(f, s), 0)
    let lo = 0
    let hi = 1
    while (total(hi) < budget && hi < 1e9) hi *= 2
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2
      if (total(mid) < budget) lo = mid
      else hi = mid
    }
    this.fairFrac = total(hi) < budget ? hi : (lo + hi) / 2
    for (const s of levels) {
      s.current = Math.max(s.limits.min, Math.round(alloc(this.fairFrac, s)))
      s.queues!.setConcurrencyLimit(s.current)
      this.m.currentLimitSeats.set([s.name], s.current)
    }
    this.m.seatFairFrac.set([], this.fairFrac)
  }

  /** Flows repeat: their hashes are kept (a bounded cache, emptied when full). */
  private readonly hashes = new Map<string, bigint>()
  private flowHash(flowSchema: string, distinguisher: string): bigint {
    const key = `${flowSchema}\u0000${distinguisher}`
    let h = this.hashes.get(key)
    if (h === undefined) {
      if (this.hashes.size >= FLOW_HASH_CACHE_SIZE) this.hashes.clear()
      h = hashFlowID(flowSchema, distinguisher)
      this.hashes.set(key, h)
    }
    return h
  }

  classify(user: UserInfo, info: RequestInfo): Classification {
    for (const fs of this.schemas) {
      if (!matchesFlowSchema(fs, user, info)) continue
      const pl = this.levels.get(fs.spec.priorityLevelConfiguration.name)!.pl
      return { flowSchema: fs, priorityLevel: pl, distinguisher: flowDistinguisher(fs, user, info) }
    }
    // No schema matched (catch-all matches every authenticated or anonymous user): as kube, catch-all.
    const fs = this.schemas.find((s) => s.metadata.name === 'catch-all')!
    return { flowSchema: fs, priorityLevel: this.levels.get('catch-all')!.pl, distinguisher: '' }
  }

  /** Classifies the request and waits for its seat, or answers why it gets none. */
  async admit(
    user: UserInfo,
    info: RequestInfo,
    abortSignal?: () => AbortSignal | undefined,
  ): Promise<Admission> {
    if (this.now() - this.adjustedAt >= BORROWING_PERIOD_MS) {
      this.adjustedAt = this.now()
      this.adjustLimits()
    }
    const c = this.classify(user, info)
    const state = this.levels.get(c.priorityLevel.metadata.name)!
    const fsName: string = c.flowSchema.metadata.name
    const labels = [fsName, state.name]
    const started = this.now()
    const executing = () => {
      this.m.dispatchedRequests.inc(labels)
      this.m.currentExecutingRequests.inc(labels)
      this.m.currentExecutingSeats.inc(labels)
    }
    const finished = () => {
      this.m.currentExecutingRequests.dec(labels)
      this.m.currentExecutingSeats.dec(labels)
      this.m.requestExecution.observe([...labels, 'regular'], (this.now() - started) / 1000)
    }
    const req: RequestDescription = {
      flowSchema: fsName,
      distinguisher: c.distinguisher,
      hash: state.exempt ? 0n : this.flowHash(fsName, c.distinguisher),
      seats: 1,
      userName: user.username,
      verb: info.verb,
      path: info.path,
      namespace: info.namespace,
      name: info.name,
      apiVersion: info.apiGroup ? `${info.apiGroup}/${info.apiVersion}` : info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
    }
    if (state.exempt) {
      const running = { req, arrived: started }
      state.exemptRunning.add(running)
      state.exemptExecuting++
      state.exemptDispatched++
      executing()
      this.m.requestWaitDuration.observe([...labels, 'true'], 0)
      let done = false
      return {
        ...c,
        executed: true,
        finish: () => {
          if (done) return
          done = true
          state.exemptRunning.delete(running)
          state.exemptExecuting--
          finished()
        },
      }
    }
    const queues = state.queues!
    this.m.currentInqueueRequests.inc(labels)
    const outcome = await queues.enqueue(req, abortSignal, (length) =>
      this.m.queueLengthAfterEnqueue.observe(labels, length),
    )
    this.m.currentInqueueRequests.dec(labels)
    this.m.requestWaitDuration.observe(
      [...labels, String(outcome.executed)],
      outcome.waitedMs / 1000,
    )
    if (!outcome.executed) {
      this.m.rejectedRequests.inc([...labels, outcome.reason])
      state.recordDrop(Math.floor(Date.now() / 1000))
      return { ...c, executed: false, reason: outcome.reason, retryAfterSeconds: state.retryAfter }
    }
    executing()
    return {
      ...c,
      executed: true,
      finish: () => {
        outcome.finish()
        finished()
      },
    }
  }

  /** /debug/api_priority_and_fairness/dump_priority_levels. */
  dumpPriorityLevels(): string {
    const rows: string[][] = [
      [
        'PriorityLevelName',
        'ActiveQueues',
        'IsIdle',
        'IsQuiescing',
        'WaitingRequests',
        'ExecutingRequests',
        'DispatchedRequests',
        'RejectedRequests',
        'TimedoutRequests',
        'CancelledRequests',
      ],
    ]
    for (const s of this.sortedLevels()) {
      const q = s.queues
      rows.push([
        s.name,
        String(q ? q.queues.filter((x) => x.waiting.length > 0).length : 0),
        String(q ? q.isIdle : s.exemptExecuting === 0),
        'false',
        String(q?.waitingRequests ?? 0),
        String(q ? q.executingRequests : s.exemptExecuting),
        String(q ? q.dispatched : s.exemptDispatched),
        String(q?.rejected ?? 0),
        String(q?.timedOut ?? 0),
        String(q?.cancelled ?? 0),
      ])
    }
    return tabulate(rows)
  }

  /** /debug/api_priority_and_fairness/dump_queues. */
  dumpQueues(): string {
    const rows: string[][] = [
      [
        'PriorityLevelName',
        'Index',
        'PendingRequests',
        'ExecutingRequests',
        'SeatsInUse',
        'NextDispatchR',
        'InitialSeatsSum',
        'MaxSeatsSum',
        'TotalWorkSum',
      ],
    ]
    for (const s of this.sortedLevels()) {
      if (!s.queues?.queuing) continue
      for (const q of s.queues.queues) {
        const seats = q.waiting.reduce((t, w) => t + w.req.seats, 0)
        rows.push([
          s.name,
          String(q.index),
          String(q.waiting.length),
          String(q.executingRequests),
          String(q.seatsInUse),
          '0.00000000ss',
          String(seats),
          String(seats),
          '0.00000000ss',
        ])
      }
    }
    return tabulate(rows)
  }

  /** /debug/api_priority_and_fairness/dump_requests (?includeRequestDetails=1 adds who asked for what). */
  dumpRequests(includeDetails: boolean): string {
    const header = [
      'PriorityLevelName',
      'FlowSchemaName',
      'QueueIndex',
      'RequestIndexInQueue',
      'FlowDistingsher',
      'ArriveTime',
      'InitialSeats',
      'FinalSeats',
      'AdditionalLatency',
      'StartTime',
    ]
    if (includeDetails)
      header.push(
        'UserName',
        'Verb',
        'APIPath',
        'Namespace',
        'Name',
        'APIVersion',
        'Resource',
        'SubResource',
      )
    const rows: string[][] = [header]
    const origin = Date.now() - this.now()
    const time = (t: number | undefined) =>
      t === undefined ? GO_ZERO_TIME : rfc3339Nano(new Date(origin + t))
    for (const s of this.sortedLevels()) {
      const dumped =
        s.queues?.requests() ??
        [...s.exemptRunning].map((r) => ({ queue: -1, position: -1, ...r, started: r.arrived }))
      for (const w of dumped) {
        const row = [
          s.name,
          w.req.flowSchema,
          String(w.queue),
          String(w.position),
          w.req.distinguisher,
          time(w.arrived),
          String(w.req.seats),
          '0',
          '0s',
          time(w.started),
        ]
        if (includeDetails)
          row.push(
            w.req.userName ?? '',
            w.req.verb ?? '',
            w.req.path ?? '',
            w.req.namespace ?? '',
            w.req.name ?? '',
            w.req.apiVersion ?? '',
            w.req.resource ?? '',
            w.req.subresource ?? '',
          )
        rows.push(row)
      }
    }
    return tabulate(rows)
  }

  private sortedLevels(): PriorityLevelState[] {
    return [...this.levels.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )
  }
}

const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

/** Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros. */
function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.?0+Z$/, 'Z')
}

/**
 * kube's dump format: cells joined by ",\t" and aligned by Go's tabwriter (minwidth 8, padding 1, spaces):
 * every cell but a line's last is padded to its column's width.
 */
export function tabulate(rows: string[][]): string {
  const cells = rows.map((r) => r.map((c, i) => (i < r.length - 1 ? `${c},` : c)))
  const widths: number[] = []
  for (const r of cells)
    r.forEach((c, i) => {
      if (i < r.length - 1) widths[i] = Math.max(widths[i] ?? 0, c.length + 1, 8)
    })
  return cells
    .map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]) : c)).join('') + '\n')
    .join('')
}

// One cluster's store: etcd's revisioned key-value model on a Durable Object's SQLite. The object's
// single thread serializes writes, as a single etcd raft group does, and each write is one
// transactionSync, so the revision, the current state and the history change together or not at all.
import { DurableObject } from 'cloudflare:workers'
import {
  exceedsValueLimit,
  type BatchRead,
  type BatchReadResult,
  type KeyValue,
  type ListOptions,
  type StoreEvent,
} from '../store'
import { applyMigrations } from './migrations'
import {
  encodeEvent,
  type CompactResult,
  type Failure,
  type GetResult,
  type ListResult,
  type WriteResult,
} from './protocol'
import { Tables } from './tables'
import { MAX_PREFIX_LENGTH, WatchHub } from './watch-hub'
import { MetricsTable } from './metrics-table'
import { GAUGE_TTL_MS, type ClusterMetricsSnapshot } from '../../metrics/cluster'
import type { SeriesSample } from '../../metrics/registry'

export interface ClusterStoreEnv {
  /** Milliseconds between compactions (default 5 minutes, kube-apiserver's --etcd-compaction-interval). */
  COMPACTION_INTERVAL_MS?: string
}

export const DEFAULT_COMPACTION_INTERVAL_MS = 5 * 60 * 1000
/** A new instance runs its background work this soon: whatever an evicted instance had queued is gone. */
export const BACKGROUND_START_DELAY_MS = 100
const BACKGROUND_RETRY_MS = 1000

/**
 * Work the object does in its alarm besides compaction, fed every committed write: the control loops at the
 * edge (src/controllers/edge.ts). It runs on the object's thread over the object's own tables, with no
 * outbound I/O, so requests do not interleave with it.
 */
export interface BackgroundWork {
  /** Sees each committed write; returns in how many ms it wants to run, or undefined. Must not throw or wait. */
  observe(event: StoreEvent): number | undefined
  /** Runs in the alarm (`resync` on a compaction tick); returns in how many ms it wants to run again, or undefined. */
  run(opts: { resync: boolean }): Promise<number | undefined>
}

/**
 * The largest value accepted, in UTF-8 bytes: what etcd accepts by default (--max-request-bytes,
 * 1.5 MiB), so both stores refuse the same objects. It also keeps a row under SQLite's 2 MB.
 */
export { MAX_VALUE_BYTES } from '../store'

export class ClusterStore extends DurableObject<ClusterStoreEnv> {
  private readonly tables: Tables
  private readonly metrics: MetricsTable
  private hub!: WatchHub
  private revision = 1
  private compacted = 0
  /** When the alarm is set for, as far as this instance knows (null: not set). */
  private alarmAt: number | null = null
  /** When the next compaction tick is due (0: none pending); kept in meta so it outlives the instance. */
  private compactionDue = 0
  private background?: BackgroundWork
  private inBackground = false

  constructor(ctx: DurableObjectState, env: ClusterStoreEnv) {
    super(ctx, env)
    this.tables = new Tables(ctx.storage.sql)
    this.metrics = new MetricsTable(ctx.storage, GAUGE_TTL_MS)
    // Nothing is delivered to the object (requests, socket events after a wake from hibernation) until
    // this has run.
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage)
      this.revision = this.tables.loadRevision()
      this.compacted = this.tables.meta('compacted')
      this.hub = new WatchHub({
        revision: () => this.revision,
        compacted: () => this.compacted,
        readLog: (prefix, after, maxEvents, maxSize) =>
          this.tables.readLog({ prefix }, after, this.revision, maxEvents, maxSize),
        fanoutPending: (from) => this.tables.setMeta('fanout_from', from),
      })
      this.hub.restore(ctx.getWebSockets(), this.tables.meta('fanout_from'))
      this.alarmAt = await ctx.storage.getAlarm()
      this.compactionDue = this.tables.meta('compaction_due')
      // Before compaction_due existed, a pending alarm was always a compaction tick.
      if (!this.compactionDue && this.alarmAt !== null) this.setCompactionDue(this.alarmAt)
      this.background = this.startBackground()
      if (this.background) this.schedule(Date.now() + BACKGROUND_START_DELAY_MS)
    })
  }

  /** Subclasses that run work in the alarm (src/controllers/edge.ts) return it; called once the tables are ready. */
  protected startBackground(): BackgroundWork | undefined {
    return undefined
  }

  // ---- reads ----

  currentRevision(): number {
    return this.revision
  }

  get(key: string): GetResult {
    return { kv: this.tables.get(key), revision: this.revision }
  }

  /**
   * Keys under prefix in key order, as of opts.revision (0: now). `count` is the number of keys in the
   * range read (under prefix and after opts.after) regardless of limit, as etcd's RangeResponse.count,
   * from which kube-apiserver computes remainingItemCount.
   */
  list(prefix: string, opts: ListOptions = {}): ListResult {
    const revision = opts.revision || this.revision
    const bad = this.checkRevision(revision)
    if (bad) return bad
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1
    const range = { prefix, after: opts.after }
    const { kvs, count } =
      revision === this.revision
        ? this.tables.listCurrent(range, limit)
        : this.tables.listAt(range, revision, limit)
    return { ok: true, kvs, revision, more: count > kvs.length, count }
  }

  /** Several reads at the current revision in one RPC: a write's admission reads, for one round trip. */
  readBatch(reads: BatchRead[]): { results: BatchReadResult[]; revision: number } {
    const results = reads.map((r): BatchReadResult => {
      if ('key' in r) {
        const kv = this.tables.get(r.key)
        return { kvs: kv ? [kv] : [], more: false }
      }
      const limit = r.limit && r.limit > 0 ? r.limit : -1
      const { kvs, count } = this.tables.listCurrent({ prefix: r.prefix }, limit)
      return { kvs, more: count > kvs.length }
    })
    return { results, revision: this.revision }
  }

  // ---- writes ----

  create(key: string, value: string): WriteResult {
    return this.write(key, value, (current, revision) => {
      if (current) return { ok: false, code: 'KeyExists', current }
      return { key, value, createRevision: revision, modRevision: revision, version: 1 }
    })
  }

  update(key: string, value: string, expectModRevision: number): WriteResult {
    return this.write(key, value, (current, revision) => {
      if (!current) return { ok: false, code: 'NotFound' }
      if (current.modRevision !== expectModRevision) return { ok: false, code: 'Conflict', current }
      return {
        key,
        value,
        createRevision: current.createRevision,
        modRevision: revision,
        version: current.version + 1,
      }
    })
  }

  /** Returns the deleted pair at the deletion revision, as kube-apiserver returns a deleted object. */
  delete(key: string, expectModRevision?: number): WriteResult {
    return this.write(key, undefined, (current) => {
      if (!current) return { ok: false, code: 'NotFound' }
      if (expectModRevision != null && current.modRevision !== expectModRevision)
        return { ok: false, code: 'Conflict', current }
      return null
    })
  }

  /**
   * Drops the history not needed to read at `revision` or later. Compacting at or below the compacted
   * revision does nothing (kube-apiserver's compactor treats etcd's ErrCompacted as done).
   */
  compact(revision: number): CompactResult {
    if (revision > this.revision)
      return { ok: false, code: 'FutureRevision', revision: this.revision }
    if (revision > this.compacted) this.compactTo(revision)
    return { ok: true }
  }

  /**
   * kube-apiserver compacts etcd every 5 minutes to the revision that was current at the previous tick
   * (storage/etcd3/compact.go), so a client has at least one interval to resume a watch or a paged list.
   * The same alarm runs the background work (the control loops) when a subclass has any.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null
    let tick = false
    if (this.compactionDue && Date.now() >= this.compactionDue) {
      tick = true
      const mark = this.tables.meta('compaction_mark')
      if (mark > this.compacted) this.compactTo(mark)
      this.tables.setMeta('compaction_mark', this.revision)
      // Nothing left to compact: let an idle cluster sleep until its next write.
      this.setCompactionDue(
        this.revision > this.compacted ? Date.now() + this.compactionInterval() : 0,
      )
    }
    if (this.compactionDue) this.schedule(this.compactionDue)
    if (!this.background) return
    // The background work resyncs on each compaction tick: as long as the cluster has writes to compact,
    // nothing depends on the loops having seen every write.
    this.inBackground = true
    let next: number | undefined
    try {
      next = await this.background.run({ resync: tick })
    } catch (e) {
      console.error('ClusterStore background work failed', e)
      next = BACKGROUND_RETRY_MS
    } finally {
      this.inBackground = false
    }
    if (next !== undefined) this.schedule(Date.now() + next)
  }

  // ---- metrics (src/metrics/cluster.ts): totals across the Worker isolates, no alarm of their own ----

  recordMetrics(isolate: string, counts: SeriesSample[], gauges: SeriesSample[] | null): void {
    this.metrics.record(isolate, counts, gauges)
  }

  scrapeMetrics(prefixes: string[]): ClusterMetricsSnapshot {
    return {
      counts: this.metrics.totals(),
      gauges: this.metrics.liveGauges(),
      objects: prefixes.map((p) => this.tables.countKeys(p)),
    }
  }

  // ---- watch ----

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname !== '/watch') return new Response('not found', { status: 404 })
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket')
      return new Response('expected a WebSocket upgrade', { status: 426 })
    const prefix = url.searchParams.get('prefix')
    const after = Number(url.searchParams.get('after'))
    if (
      prefix === null ||
      prefix.length > MAX_PREFIX_LENGTH ||
      !Number.isSafeInteger(after) ||
      after < 0
    ) {
      return new Response('watch needs prefix (at most 1024 characters) and after (a revision)', {
        status: 400,
      })
    }
    const { 0: client, 1: server } = new WebSocketPair()
    this.ctx.acceptWebSocket(server)
    this.hub.open(server, prefix, after)
    return new Response(null, { status: 101, webSocket: client })
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.hub.message(ws, message)
  }

  override webSocketClose(ws: WebSocket): void {
    this.hub.closed(ws)
    try {
      ws.close(1000, 'watch closed') // complete the close handshake where workerd does not do it for us
    } catch {
      // already closed
    }
  }

  override webSocketError(ws: WebSocket): void {
    this.hub.closed(ws)
  }

  // ---- internals ----

  /**
   * One compare-and-swap write at the next revision. `decide` sees the current pair and returns the new
   * pair, a Failure, or null for a delete.
   */
  private write(
    key: string,
    value: string | undefined,
    decide: (current: KeyValue | undefined, revision: number) => KeyValue | Failure | null,
  ): WriteResult {
    if (value !== undefined && exceedsValueLimit(value)) return { ok: false, code: 'TooLarge' }
    const revision = this.revision + 1
    const outcome = this.ctx.storage.transactionSync(() => {
      const current = this.tables.get(key)
      const next = decide(current, revision)
      if (next && 'ok' in next) return next
      if (next) {
        this.tables.put(next, current)
        return { kv: next, prev: current, deleted: false }
      }
      this.tables.remove(current!, revision)
      return { kv: { ...current!, modRevision: revision }, prev: current, deleted: true }
    })
    if ('ok' in outcome) return outcome
    this.revision = revision
    // Sent to the watchers after this answers; the record that a fan-out is pending (if it is the first)
    // is written in this same turn, so it is committed with the write.
    this.hub.publish({
      rev: revision,
      key,
      json: JSON.stringify(encodeEvent(outcome.kv, outcome.prev, outcome.deleted)),
    })
    if (!this.compactionDue) {
      this.setCompactionDue(Date.now() + this.compactionInterval())
      this.schedule(this.compactionDue)
    }
    if (this.background) this.observe(outcome.kv, outcome.prev, outcome.deleted)
    return { ok: true, kv: outcome.kv }
  }

  /** Hands a committed write to the background work and wakes it when it asks. */
  private observe(kv: KeyValue, prev: KeyValue | undefined, deleted: boolean): void {
    const event: StoreEvent = deleted
      ? { type: 'delete', kv, prevKv: prev! }
      : prev
        ? { type: 'put', kv, prevKv: prev }
        : { type: 'put', kv }
    let ms: number | undefined
    try {
      ms = this.background!.observe(event)
    } catch (e) {
      console.error('ClusterStore background work failed to observe a write', e)
      ms = BACKGROUND_RETRY_MS
    }
    // Writes the work makes itself are followed up by what its run returns.
    if (ms !== undefined && !this.inBackground) this.schedule(Date.now() + ms)
  }

  /** Sets the alarm for `at` unless it is already set for earlier: one alarm serves compaction and background work. */
  private schedule(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return
    this.alarmAt = at
    void this.ctx.storage.setAlarm(at)
  }

  private setCompactionDue(at: number): void {
    this.compactionDue = at
    this.tables.setMeta('compaction_due', at)
  }

  private compactTo(revision: number): void {
    const from = this.compacted
    this.ctx.storage.transactionSync(() => this.tables.compact(from, revision, this.revision))
    this.compacted = revision
  }

  private checkRevision(revision: number): Failure | undefined {
    if (revision < this.compacted) return { ok: false, code: 'Compacted', revision: this.compacted }
    if (revision > this.revision)
      return { ok: false, code: 'FutureRevision', revision: this.revision }
    return undefined
  }

  private compactionInterval(): number {
    const ms = Number(this.env.COMPACTION_INTERVAL_MS)
    return ms > 0 ? ms : DEFAULT_COMPACTION_INTERVAL_MS
  }
}

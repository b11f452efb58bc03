// One cluster's store: etcd's revisioned key-value model on a Durable Object's SQLite. The object's
// single thread serializes writes, as a single etcd raft group does, and each write is one
// transactionSync, so the revision, the current state and the history change together or not at all.
import { DurableObject } from 'cloudflare:workers'
import {
  CLUSTER_DELETED,
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
  isAdmissionRead,
  type AdmissionMark,
  type CompactResult,
  type Failure,
  type GetResult,
  type LastChangeResult,
  type ListResult,
  type WriteResult,
} from './protocol'
import { Tables } from './tables'
import { MAX_PREFIX_LENGTH, WatchHub } from './watch-hub'
import { CLOSE_RESTARTED, type PointInTimeAnswer } from './protocol'
import type { SnapshotPoint } from '../snapshot/stream'
import { SNAPSHOT_KEY_ROOT } from '../snapshot/format'
import { MetricsTable } from './metrics-table'
import type { TenantRecord } from '../../tenancy/settings'
import { GAUGE_TTL_MS, type ClusterMetricsSnapshot } from '../../metrics/cluster'
import type { SeriesSample } from '../../metrics/registry'
import { errorText } from '../../util/errors'

export interface ClusterStoreEnv {
  /** Milliseconds between compactions (default 5 minutes, kube-apiserver's --etcd-compaction-interval). */
  COMPACTION_INTERVAL_MS?: string
}

/**
 * Writes lastChange looks through at most: the cluster's writes since the watch cache last heard of its
 * resource (an event of it, or this answer to an earlier LIST); beyond it the LIST reads the object.
 */
const LAST_CHANGE_SCAN = 10_000

const TENANT_KEY = 'tenant'
const RETIRED_KEY = 'retired'
/**
 * Set when the background work last ran with nothing left queued, cleared by the first write that queues
 * some: an instance that starts (a wake from hibernation, say) with it set has nothing to catch up on, so
 * it does not run the loops' full resync, nor set an alarm for it, on every wake. Work queued and not yet
 * done always has the (durable) alarm set for it.
 */
const SETTLED_KEY = 'background-settled'

/**
 * Object activity, for an operator (and the tests and bench) to see whether an idle cluster lets its
 * object hibernate without waking it to ask: one console.log line (`wrangler dev --log-level log`,
 * EDGE_LOG_LEVEL=log npm start) when an instance starts (a wake from hibernation or eviction), for each
 * alarm, and for the first call or socket message after ACTIVITY_QUIET_MS without any. A busy object
 * logs once, not once per call.
 */
export const ACTIVITY_LOG_PREFIX = 'object activity:'
const ACTIVITY_QUIET_MS = 1000

export const DEFAULT_COMPACTION_INTERVAL_MS = 5 * 60 * 1000
/** A snapshot page stops at about this much of values (besides its count of keys). */
export const SNAPSHOT_PAGE_BYTES = 8 * 1024 * 1024
/** A snapshot that has not read a page for this long no longer holds compaction back. */
export const SNAPSHOT_HOLD_MS = 10 * 60 * 1000
/** Cloudflare's point-in-time recovery window for a Durable Object's SQLite storage. */
export const RECOVERY_WINDOW_MS = 30 * 24 * 60 * 60 * 1000

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
  /** SETTLED_KEY as stored. */
  private settled = false
  /** A snapshot is reading at this revision: compaction stays below it until `until` (ms). */
  private snapshotHold?: { revision: number; until: number }
  /** A restore is under way (meta `restoring`): only its own writes are taken. */
  private restoring = false
  /** Tells this instance from the one a point-in-time restore replaces. */
  private readonly instance = crypto.randomUUID()
  private aborting = false
  /**
   * A cluster other than the default one: the settings its provisioner gave it (src/tenancy). Its loops run
   * with them; the Worker serves it with them.
   */
  protected tenant: TenantRecord | undefined
  /** Deleted through the management API: every call fails until the cluster is provisioned anew. */
  private retired = false
  /** When this instance last logged or did something (ACTIVITY_LOG_PREFIX). */
  private lastActivity = 0
  /**
   * The last change admission reads would see (protocol.ts, ADMISSION_READ_PREFIXES), in every answer to
   * the Worker; a new instance starts a new epoch, as it cannot tell what changed before it.
   */
  private admissionMark: AdmissionMark = { epoch: crypto.randomUUID(), rev: 0 }

  constructor(ctx: DurableObjectState, env: ClusterStoreEnv) {
    super(ctx, env)
    this.activity('start')
    this.tables = new Tables(ctx.storage.sql)
    this.metrics = new MetricsTable(ctx.storage, GAUGE_TTL_MS)
    // Nothing is delivered to the object (requests, socket events after a wake from hibernation) until
    // this has run.
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage)
      this.revision = this.tables.loadRevision()
      this.compacted = this.tables.meta('compacted')
      this.restoring = this.tables.meta('restoring') === 1
      this.tenant = await ctx.storage.get<TenantRecord>(TENANT_KEY)
      this.retired = (await ctx.storage.get<boolean>(RETIRED_KEY)) === true
      this.hub = this.newHub()
      this.hub.restore(ctx.getWebSockets(), this.tables.meta('fanout_from'))
      this.alarmAt = await ctx.storage.getAlarm()
      this.compactionDue = this.tables.meta('compaction_due')
      // Before compaction_due existed, a pending alarm was always a compaction tick.
      if (!this.compactionDue && this.alarmAt !== null) this.setCompactionDue(this.alarmAt)
      this.settled = (await ctx.storage.get<boolean>(SETTLED_KEY)) === true
      this.background = this.startBackground()
      if (this.background && !this.settled) this.schedule(Date.now() + BACKGROUND_START_DELAY_MS)
    })
  }

  private newHub(): WatchHub {
    return new WatchHub({
      revision: () => this.revision,
      compacted: () => this.compacted,
      readLog: (prefix, after, maxEvents, maxSize) =>
        this.tables.readLog({ prefix }, after, this.revision, maxEvents, maxSize),
      fanoutPending: (from) => this.tables.setMeta('fanout_from', from),
    })
  }

  /**
   * Subclasses bootstrap a newly provisioned cluster here, in the object, before the provisioner calls it
   * Ready: its first request then finds it bootstrapped rather than doing it (src/controllers/edge.ts).
   */
  protected async prepareTenant(): Promise<void> {}

  /** Subclasses that run work in the alarm (src/controllers/edge.ts) return it; called once the tables are ready. */
  protected startBackground(): BackgroundWork | undefined {
    return undefined
  }

  // ---- reads ----

  currentRevision(): number {
    this.checkServing()
    return this.revision
  }

  get(key: string): GetResult {
    this.checkServing()
    return { kv: this.tables.get(key), revision: this.revision, am: this.admissionMark }
  }

  /**
   * Keys under prefix in key order, as of opts.revision (0: now). `count` is the number of keys in the
   * range read (under prefix and after opts.after) regardless of limit, as etcd's RangeResponse.count,
   * from which kube-apiserver computes remainingItemCount.
   */
  list(prefix: string, opts: ListOptions = {}): ListResult {
    this.checkServing()
    const revision = opts.revision || this.revision
    const bad = this.checkRevision(revision)
    if (bad) return bad
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1
    const range = { prefix, after: opts.after }
    const { kvs, count } =
      revision === this.revision
        ? this.tables.listCurrent(range, limit)
        : this.tables.listAt(range, revision, limit)
    return { ok: true, kvs, revision, more: count > kvs.length, count, am: this.admissionMark }
  }

  /**
   * Store.lastChange: an isolate's watch cache asks before it answers a consistent LIST from memory
   * (src/api/watch-cache.ts). Every log row after the compacted revision is kept, so one after `after`
   * can only be missing when `after` is below it.
   */
  lastChange(prefix: string, after: number): LastChangeResult {
    this.checkServing()
    if (after < this.compacted) return { ok: false, code: 'Compacted', revision: this.compacted }
    const last = this.tables.lastChange(prefix, after, LAST_CHANGE_SCAN)
    return last === undefined
      ? { ok: true, revision: this.revision }
      : { ok: true, revision: this.revision, last }
  }

  /** Several reads at the current revision in one RPC: a write's admission reads, for one round trip. */
  readBatch(reads: BatchRead[]): {
    results: BatchReadResult[]
    revision: number
    am: AdmissionMark
  } {
    this.checkServing()
    const results = reads.map((r): BatchReadResult => {
      if ('key' in r) {
        const kv = this.tables.get(r.key)
        return { kvs: kv ? [kv] : [], more: false }
      }
      const limit = r.limit && r.limit > 0 ? r.limit : -1
      const { kvs, count } = this.tables.listCurrent({ prefix: r.prefix }, limit)
      return { kvs, more: count > kvs.length }
    })
    return { results, revision: this.revision, am: this.admissionMark }
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
    this.checkServing()
    if (revision > this.revision)
      return { ok: false, code: 'FutureRevision', revision: this.revision }
    if (revision > this.compacted) this.compactTo(revision)
    return { ok: true }
  }

  /**
   * kube-apiserver compacts etcd every 5 minutes to the revision that was current at the previous tick
   * (storage/etcd3/compact.go), so a client has at least one interval to resume a watch or a paged list.
   * Here a tick is due an interval after the previous one and runs at the first write after that (see
   * write()), so that a cluster nobody writes to sleeps. The same alarm runs the background work (the control loops) when a subclass has any.
   */
  override async alarm(): Promise<void> {
    this.activity('alarm')
    this.alarmAt = null
    let tick = false
    if (this.compactionDue && Date.now() >= this.compactionDue) {
      tick = true
      this.hub.progressAll()
      const mark = this.compactionFloor(this.tables.meta('compaction_mark'))
      if (mark > this.compacted) this.compactTo(mark)
      this.tables.pruneTimes(Date.now() - RECOVERY_WINDOW_MS)
      this.tables.setMeta('compaction_mark', this.revision)
      // Nothing left to compact: let an idle cluster sleep until its next write.
      this.setCompactionDue(
        this.revision > this.compacted ? Date.now() + this.compactionInterval() : 0,
      )
    }
    if (!this.background || this.restoring) return
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
    else this.setSettled(true)
  }

  // ---- metrics (src/metrics/cluster.ts): totals across the Worker isolates, no alarm of their own ----

  recordMetrics(isolate: string, counts: SeriesSample[], gauges: SeriesSample[] | null): void {
    this.activity('call')
    // A deleted cluster keeps nothing: an isolate's flush of requests from just before the deletion
    // (or of its gauges) is dropped rather than written into the emptied storage.
    if (this.retired) return
    this.metrics.record(isolate, counts, gauges)
  }

  scrapeMetrics(prefixes: string[]): ClusterMetricsSnapshot {
    this.activity('call')
    return {
      counts: this.metrics.totals(),
      gauges: this.metrics.liveGauges(),
      objects: prefixes.map((p) => this.tables.countKeys(p)),
    }
  }

  // ---- watch ----

  override async fetch(request: Request): Promise<Response> {
    this.activity('call')
    const url = new URL(request.url)
    if (url.pathname !== '/watch') return new Response('not found', { status: 404 })
    if (this.retired) return new Response(CLUSTER_DELETED, { status: 410 })
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
    this.activity('socket')
    this.hub.message(ws, message)
  }

  override webSocketClose(ws: WebSocket): void {
    this.activity('socket')
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

  // ---- clusters made through the management API (src/tenancy) ----

  /** The settings this object's cluster was provisioned with; undefined for the default cluster or a deleted one. */
  tenantSettings(): TenantRecord | undefined {
    this.activity('call')
    return this.retired ? undefined : this.tenant
  }

  /** Makes this (empty) object a cluster with these settings, and starts its control loops with them. */
  async provisionTenant(record: TenantRecord): Promise<void> {
    await this.ctx.storage.put(TENANT_KEY, record)
    await this.ctx.storage.delete(RETIRED_KEY)
    this.tenant = record
    this.retired = false
    await this.prepareTenant()
    this.background = this.startBackground()
    this.setSettled(false)
    if (this.background) this.schedule(Date.now() + BACKGROUND_START_DELAY_MS)
  }

  /**
   * Deletes everything the cluster stored, its settings included, and refuses every later call (the
   * Worker's isolates may still think it served for a moment): nothing of it is served half deleted.
   */
  async destroyTenant(): Promise<void> {
    this.retired = true
    this.background = undefined
    this.hub.closeAll(CLOSE_RESTARTED, CLUSTER_DELETED)
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
    this.settled = false
    this.alarmAt = null
    this.compactionDue = 0
    this.tenant = undefined
    // The tables again, empty, for a cluster of the same name provisioned later.
    applyMigrations(this.ctx.storage)
    this.revision = this.tables.loadRevision()
    this.compacted = 0
    this.newAdmissionEpoch()
    this.hub = this.newHub()
    await this.ctx.storage.put(RETIRED_KEY, true)
  }

  /**
   * Empties the cluster but for its settings and bootstraps it again: a new cluster with the same name and
   * credentials. Its revisions go on past every one handed out before and everything older reads as
   * compacted (as after a restore), so no client's resourceVersion names other data, each watch ends for
   * its client to relist, and every isolate's caches (RBAC, CRDs, watch caches) see the revision move.
   */
  async resetTenant(): Promise<void> {
    this.checkServing()
    if (!this.tenant) throw new Error('only a cluster made through the management API is reset')
    const past = this.revision
    this.ctx.storage.transactionSync(() => this.tables.wipe())
    this.snapshotHold = undefined
    this.background = undefined
    this.finishRestore(past + 1, 'the cluster was reset', false)
    // Its loops see the bootstrap by their first resync, as a new cluster's do.
    await this.prepareTenant()
    this.startOver()
  }

  private checkServing(): void {
    this.activity('call')
    if (this.retired) throw new Error(CLUSTER_DELETED)
  }

  // ---- snapshots (src/storage/snapshot): read at one revision in pages while the cluster serves ----

  beginSnapshot(): SnapshotPoint {
    this.holdCompaction(this.revision)
    return {
      revision: this.revision,
      compactedRevision: this.compacted,
      count: this.tables.countKeys(SNAPSHOT_KEY_ROOT),
    }
  }

  snapshotPage(
    revision: number,
    after: string,
    limit: number,
  ): { ok: true; kvs: KeyValue[]; more: boolean } | Failure {
    const bad = this.checkRevision(revision)
    if (bad) return bad
    this.holdCompaction(revision)
    return {
      ok: true,
      ...this.tables.pageAt(revision, after, Math.max(1, limit), SNAPSHOT_PAGE_BYTES),
    }
  }

  /**
   * Replaces the cluster's state with a snapshot's, keeping its revisions: the tables are emptied, and
   * until endRestore every other write is refused (StoreError Unreachable), as the cluster is only half
   * there. An interrupted restore leaves it so until a restore completes.
   */
  beginRestore(): void {
    this.ctx.storage.transactionSync(() => {
      this.tables.wipe()
      // The newest revision served, kept while the history is gone: endRestore goes on past it, even
      // if the object restarts half-way (loadRevision reads it back).
      this.tables.setMeta('revision', this.revision)
      this.tables.setMeta('restoring', 1)
    })
    this.newAdmissionEpoch()
    this.restoring = true
    this.snapshotHold = undefined
    this.hub.closeAll(CLOSE_RESTARTED, 'the cluster is being restored from a snapshot')
  }

  restorePage(kvs: KeyValue[]): { ok: true } | { ok: false; message: string } {
    if (!this.restoring) return { ok: false, message: 'no restore is under way' }
    for (const kv of kvs)
      if (kv.modRevision < 1 || kv.modRevision < kv.createRevision || kv.version < 1)
        return { ok: false, message: `the record of ${kv.key} has invalid revisions` }
    this.newAdmissionEpoch()
    try {
      this.ctx.storage.transactionSync(() => this.tables.restore(kvs))
    } catch (e) {
      // kv's key and log's rev are unique: the same key twice, or two keys at one revision (etcd puts
      // several keys at one revision only in a multi-key transaction, which kube-apiserver never writes).
      return { ok: false, message: `the snapshot cannot be restored: ${errorText(e)}` }
    }
    return { ok: true }
  }

  /**
   * The cluster goes on at the snapshot's revision or, if it served that one or later already, at the
   * next past every revision it served; that is also its compacted revision. So no resourceVersion goes
   * backwards or names other data for a client that kept watching or caching, a list or a watch from
   * before answers 410 Gone and clients relist, as kube-apiserver does after `etcdutl snapshot restore
   * --bump-revision --mark-compacted`. The records keep their own revisions (resourceVersions), as
   * etcd's do there.
   */
  endRestore(revision: number): { ok: true; revision: number } | { ok: false; message: string } {
    if (!this.restoring) return { ok: false, message: 'no restore is under way' }
    const newest = this.tables.newestRecord()
    if (newest && newest.rev > revision)
      return {
        ok: false,
        message:
          `the snapshot is invalid: its revision is ${revision}, ` +
          `but ${newest.key} was written at revision ${newest.rev}`,
      }
    const next = Math.max(revision, this.revision + 1)
    this.finishRestore(next)
    return { ok: true, revision: next }
  }

  // ---- point-in-time restore: the storage's own bookmarks, within its recovery window ----

  /**
   * What a restore to `time` (ms) brings back: the revision current then, from revision_times, and the
   * storage bookmark for it (`bookmarkError` when the runtime has none to give).
   */
  async pointInTime(time: number): Promise<PointInTimeAnswer> {
    const answer: PointInTimeAnswer = {
      time,
      revision: this.tables.revisionAt(time) ?? null,
      currentRevision: this.revision,
    }
    try {
      answer.bookmark = await this.ctx.storage.getBookmarkForTime(time)
    } catch (e) {
      answer.bookmarkError = errorText(e)
    }
    return answer
  }

  /**
   * Arms the restore of `bookmark` and ends this instance, so the next request finds the storage as it
   * was at the bookmark's time (the storage API's onNextSessionRestoreBookmark, then abort). Watches
   * are closed first, for their clients to watch again.
   */
  async restoreBookmark(bookmark: string): Promise<{ revision: number; instance: string }> {
    await this.ctx.storage.onNextSessionRestoreBookmark(bookmark)
    this.hub.closeAll(CLOSE_RESTARTED, 'the cluster was restored to an earlier point in time')
    const revision = this.revision
    // After this call answers: abort() throws into whatever call makes it.
    this.aborting = true
    setTimeout(() => this.ctx.abort('point-in-time restore'), 0)
    return { revision, instance: this.instance }
  }

  /**
   * After a point-in-time restore, revisions move on past every one handed out before it (`past`, the
   * revision before the restore) and everything older reads as compacted: a client's resourceVersion
   * from the abandoned timeline is never reused for other data, and its watch gets 410 and relists.
   * etcdutl snapshot restore --bump-revision --mark-compacted does the same for the same reason.
   */
  bumpRevision(past: number, notInstance: string): { revision: number } | null {
    if (this.aborting || this.instance === notInstance) return null
    const revision = Math.max(past, this.revision) + 1
    this.finishRestore(revision)
    return { revision }
  }

  // ---- internals ----

  private finishRestore(
    revision: number,
    why = 'the cluster was restored from a snapshot',
    startBackground = true,
  ): void {
    this.ctx.storage.transactionSync(() => {
      this.tables.setMeta('revision', revision)
      this.tables.setMeta('compacted', revision)
      this.tables.setMeta('compaction_mark', revision)
      this.tables.setMeta('fanout_from', 0)
      this.tables.setMeta('restoring', 0)
      // From now on a point-in-time restore's dry run answers the restored revision.
      this.tables.recordTime(Date.now(), revision)
    })
    this.revision = revision
    this.compacted = revision
    this.restoring = false
    this.newAdmissionEpoch()
    this.hub.closeAll(CLOSE_RESTARTED, why)
    this.hub = this.newHub()
    if (startBackground) this.startOver()
  }

  /** The control loops' state is of the old cluster: start them over on what the store holds now. */
  private startOver(): void {
    this.background = this.startBackground()
    this.setSettled(false)
    if (this.background) this.schedule(Date.now() + BACKGROUND_START_DELAY_MS)
  }

  private holdCompaction(revision: number): void {
    this.snapshotHold = { revision, until: Date.now() + SNAPSHOT_HOLD_MS }
  }

  /** The revision compaction may go up to: below a snapshot being read. */
  private compactionFloor(mark: number): number {
    const hold = this.snapshotHold
    if (!hold || hold.until < Date.now()) return mark
    return Math.min(mark, hold.revision)
  }

  /**
   * One compare-and-swap write at the next revision. `decide` sees the current pair and returns the new
   * pair, a Failure, or null for a delete.
   */
  private write(
    key: string,
    value: string | undefined,
    decide: (current: KeyValue | undefined, revision: number) => KeyValue | Failure | null,
  ): WriteResult {
    this.checkServing()
    if (value !== undefined && exceedsValueLimit(value)) return { ok: false, code: 'TooLarge' }
    if (this.restoring) return { ok: false, code: 'Unreachable' }
    const revision = this.revision + 1
    const outcome = this.ctx.storage.transactionSync(() => {
      const current = this.tables.get(key)
      const next = decide(current, revision)
      if (next && 'ok' in next) return next
      if (next) {
        this.tables.put(next, current)
        this.tables.recordTime(Date.now(), revision)
        return { kv: next, prev: current, deleted: false }
      }
      this.tables.remove(current!, revision)
      this.tables.recordTime(Date.now(), revision)
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
    // The compaction tick runs at the first write once it is due, not on a clock of its own: an idle
    // cluster's object is not woken to compact (its last interval's history stays until it is written to
    // again, which kube's clients cannot tell from a slower compactor).
    if (!this.compactionDue) this.setCompactionDue(Date.now() + this.compactionInterval())
    else if (Date.now() >= this.compactionDue) this.schedule(Date.now())
    if (this.background) this.observe(outcome.kv, outcome.prev, outcome.deleted)
    if (isAdmissionRead(key))
      this.admissionMark = { epoch: this.admissionMark.epoch, rev: revision }
    return { ok: true, kv: outcome.kv, am: this.admissionMark }
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
    if (ms === undefined) return
    this.setSettled(false)
    // Writes the work makes itself are followed up by what its run returns.
    if (!this.inBackground) this.schedule(Date.now() + ms)
  }

  private setSettled(settled: boolean): void {
    if (this.settled === settled) return
    this.settled = settled
    // Committed with the write or alarm that changes it (the object's output gate).
    void (settled ? this.ctx.storage.put(SETTLED_KEY, true) : this.ctx.storage.delete(SETTLED_KEY))
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

  /** Everything may have changed at once (a restore, a deleted cluster): no admission read is current. */
  private newAdmissionEpoch(): void {
    this.admissionMark = { epoch: crypto.randomUUID(), rev: this.revision }
  }

  /** Logs what woke or kept the object busy (ACTIVITY_LOG_PREFIX); calls in a burst log once. */
  private activity(kind: 'start' | 'alarm' | 'call' | 'socket'): void {
    const now = Date.now()
    const quiet = now - this.lastActivity >= ACTIVITY_QUIET_MS
    this.lastActivity = now
    if (kind === 'call' || kind === 'socket' ? !quiet : false) return
    console.log(
      `${ACTIVITY_LOG_PREFIX} cluster ${this.ctx.id.name ?? this.ctx.id.toString()}: ${kind}`,
    )
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

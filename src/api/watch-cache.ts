// The watch cache: one Store watch per (cluster, resource) per process, fanned out in memory to every
// client watch of that resource, in the spirit of kube-apiserver's cacher (storage/cacher). Each event
// is decoded once for all its watchers and serialized once per wire form (kube's cachingObject), where
// the per-watch path decodes and serializes it once per watcher. A bounded window of recent events
// (kube's watchCache ring) serves a watch that starts a little in the past; one that starts before the
// window goes to the Store as it would without the cache, which answers 410 once it is compacted.
//
// In a Worker the Store watch (a WebSocket to the Durable Object) belongs to the request that opened it,
// as do streams and timers: workerd refuses another request's I/O. Requests may share plain data, and a
// promise one request resolves runs its continuation in the request that awaits it. So the cacher hands
// each watch only encoded frames and a wake-up, every watch writes its own stream from its own pump, and
// the Store watch is held by one watch's request and handed on when that one ends
// (bench/experiments/cross-request-watch/).
import { decode, storageKey } from '../registry/store'
import { groupVersion, type KubeObject, type ResourceType } from '../registry/types'
import {
  CACHE_READ_WAIT_MS,
  isStoreError,
  prefixEnd,
  type KeyValue,
  type Store,
  type StoreEvent,
} from '../storage/store'
import { SortedPairs } from '../storage/sorted-pairs'
import type { ApiserverMetrics } from '../metrics/apiserver'

export interface WatchCacheLimits {
  /** Recent events kept per cacher (kube's watch cache capacity, which grows up to 100 × its default). */
  ringEvents: number
  /** Approximate bytes of stored values kept per cacher. */
  ringBytes: number
  /**
   * Events a watcher may have waiting for its client before it is closed, as kube's cacher closes a
   * watcher whose buffer stays full ("Forcing watcher close due to unresponsiveness"); the client
   * watches again from the last resourceVersion it saw.
   */
  watcherQueue: number
  /** Cachers held per process; past it, a cacher nobody watches is dropped, else the watch is not cached. */
  maxCachers: number
  /** How long a cacher nobody watches keeps its Store watch, for the next watcher to find it warm. */
  idleMs: number
  /** Bookmarks to a watcher that asked for them, roughly this often (kube: every minute). */
  bookmarkIntervalMs: number
  /**
   * The Store watch lives only as long as the request it runs in (a Worker: workerd ends a request's
   * sockets with it), so it moves to another watcher when its own ends, and the cacher stops with its
   * last watcher (idleMs does not apply).
   */
  requestBound: boolean
  /**
   * Bound to requests: events times watchers one request fans out before the Store watch moves to
   * another watcher's request, so that no request's CPU grows with the others' (a Worker's request has a
   * CPU limit).
   */
  ownerFanout: number
  /** Watchers woken to write an event before the thread is let go to other work for a moment. */
  wakeSlice: number
  /**
   * Bytes of stored values the cachers together may hold to answer consistent LISTs from memory, each
   * every pair of its resource (see withListsFromCache); 0: LISTs read the Store (Node mode, whose etcd
   * store keeps such a copy itself: src/storage/etcd/mirror.ts).
   */
  listBytes: number
}

export const DEFAULT_WATCH_CACHE_LIMITS: WatchCacheLimits = {
  ringEvents: 1_000,
  ringBytes: 8 * 1024 * 1024,
  watcherQueue: 1_000,
  maxCachers: 512,
  idleMs: 60_000,
  bookmarkIntervalMs: 60_000,
  requestBound: false,
  ownerFanout: Infinity,
  wakeSlice: Infinity,
  listBytes: 0,
}

/**
 * The limits in a Worker isolate: its memory is small (128 MB deployed), and each Store watch is held by
 * a request. A watch from before the smaller window still works: it reads the Store (the object's ring).
 */
export const WORKER_WATCH_CACHE_LIMITS: WatchCacheLimits = {
  ...DEFAULT_WATCH_CACHE_LIMITS,
  ringEvents: 256,
  ringBytes: 1024 * 1024,
  maxCachers: 64,
  idleMs: 0,
  requestBound: true,
  ownerFanout: 1_000_000,
  wakeSlice: 256,
  listBytes: 16 * 1024 * 1024,
}

/** kube sends a bookmark 2 s before a watch's deadline, so that its client resumes from close to now. */
const BOOKMARK_BEFORE_DEADLINE_MS = 2_000

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED'

/** One Store event, decoded at most once whatever the number of watchers. */
export class CacheEvent {
  private obj?: KubeObject
  private prevObj?: KubeObject
  private leftObj?: KubeObject
  /** Encoded forms, for the watches that each read this event from a Store watch of their own. */
  frames?: Map<string, Uint8Array>

  constructor(
    readonly type: ResourceType,
    readonly ev: StoreEvent & { type: 'put' | 'delete' },
  ) {}

  get revision(): number {
    return this.ev.kv.modRevision
  }

  get size(): number {
    const ev = this.ev
    return ev.kv.key.length + ev.kv.value.length + (ev.prevKv?.value.length ?? 0) + 64
  }

  /** The object as it is after the event (a delete: its last state, at the deletion's revision). */
  object(): KubeObject {
    return (this.obj ??= decode(this.type, this.ev.kv))
  }

  /** The object before the event, when there was one. */
  previous(): KubeObject | undefined {
    const prev = this.ev.prevKv
    if (!prev) return undefined
    return (this.prevObj ??= decode(this.type, prev))
  }

  /**
   * What a watcher whose selector the object leaves is sent: the previous object at the event's
   * resourceVersion (cache_watcher.go's convertToWatchEvent).
   */
  left(): KubeObject {
    return (this.leftObj ??= decode(this.type, {
      ...(this.ev.prevKv as KeyValue),
      modRevision: this.revision,
    }))
  }
}

/**
 * The event a watcher with selector `matches` is sent, kube's selector transitions included: an update
 * that brings the object into the selection is ADDED, one that takes it out DELETED (with the previous
 * object at the event's resourceVersion). `undefined`: the watcher is not interested.
 */
export function watchEventFor(
  ev: CacheEvent,
  matches: ((o: KubeObject) => boolean) | undefined,
): { type: WatchEventType; object: () => KubeObject } | undefined {
  const kind = ev.ev.type
  if (kind === 'delete') {
    if (matches && !matches(ev.object())) return undefined
    return { type: 'DELETED', object: () => ev.object() }
  }
  const created = !ev.ev.prevKv
  // Without a selector the previous object decides nothing, and is never decoded.
  if (!matches) return { type: created ? 'ADDED' : 'MODIFIED', object: () => ev.object() }
  const cur = matches(ev.object())
  const prev = !created && matches(ev.previous()!)
  if (cur) return { type: prev ? 'MODIFIED' : 'ADDED', object: () => ev.object() }
  if (prev) return { type: 'DELETED', object: () => ev.left() }
  return undefined
}

/** What a client watch gives the cacher: its selector, and how its stream takes events. */
export interface CacheWatchClient {
  matches?: (o: KubeObject) => boolean
  allowBookmarks: boolean
  /** When the watch ends (ms since the epoch): the last bookmark goes out shortly before. */
  deadline: number
  /**
   * The key of the bytes `encode` makes for an event type: equal keys, equal bytes, so one event is
   * serialized once for every watcher that asks for it in the same form. Called once per event offered,
   * in order, and `encode` (when no watcher has made those bytes yet) right after it for that event.
   */
  frameKey(type: WatchEventType): string
  encode(type: WatchEventType, object: KubeObject): Uint8Array
  /** Queues the frames of events for the client, in order; answers how many chunks are waiting for it. */
  write(frames: readonly CacheFrame[]): number
  /** A bookmark is never worth waiting for: the client drops it while events are queued, as kube does. */
  bookmark(revision: number): void
}

/** One event's bytes as a client asked for them. */
export type CacheFrame = { bytes: Uint8Array; type: WatchEventType }

/** How a cache watch ended: cleanly (the client watches again from where it was), or with an error. */
export type CacheWatchEnd = { error?: unknown; reason: 'stopped' | 'slow' | 'cache-ended' }

/**
 * One client watch fed by a cacher. The cacher only hands it plain data (encoded frames) and wakes it;
 * everything that touches the client's stream or a timer runs in the watch's own pump, started in the
 * request that joined. A Worker needs that: workerd binds streams and timers to the request that made
 * them, and runs a promise continuation in the request that awaited it, whoever resolved it.
 */
export class CacheWatcher {
  /** Every event up to this revision has been offered to the client. */
  delivered: number
  private nextBookmark: number
  private bookmarkDue = false
  private bookmarkTimer?: ReturnType<typeof setTimeout>
  /** Frames offered and not yet written by the pump. */
  private queue: CacheFrame[] = []
  /** Chunks the client had waiting when the pump last wrote (plain data, read by the cacher). */
  private backlog = 0
  /** Work the cacher asked to run in this watch's request: holding the Store watch. */
  private task?: () => void
  private waiter?: () => void
  private endedWith?: CacheWatchEnd
  readonly ended: Promise<CacheWatchEnd>

  constructor(
    /** The Store as this watch's request reaches it, for holding the cacher's Store watch. */
    readonly store: Store,
    readonly client: CacheWatchClient,
    from: number,
    private readonly limits: Pick<WatchCacheLimits, 'bookmarkIntervalMs' | 'watcherQueue'>,
    /** The revision the cacher has seen everything up to, for bookmarks. */
    private readonly position: () => number,
    private readonly detach: (w: CacheWatcher, end: CacheWatchEnd) => void,
  ) {
    this.delivered = from
    this.nextBookmark = this.nextBookmarkAfter(Date.now())
    this.ended = this.pump()
  }

  get isEnded(): boolean {
    return this.endedWith !== undefined
  }

  /** Queues the event's frame for the client; true when the pump has it to write (see wake). */
  offer(ev: CacheEvent, frames: Map<string, Uint8Array>): boolean {
    if (this.endedWith || ev.revision <= this.delivered) return false
    this.delivered = ev.revision
    const out = watchEventFor(ev, this.client.matches)
    if (!out) return false
    const key = this.client.frameKey(out.type)
    let bytes = frames.get(key)
    if (!bytes) frames.set(key, (bytes = this.client.encode(out.type, out.object())))
    this.queue.push({ bytes, type: out.type })
    if (this.queue.length + this.backlog <= this.limits.watcherQueue) return true
    this.end({ reason: 'slow' })
    return false
  }

  /** Lets the pump write what was offered. */
  wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  /** Runs `task` in this watch's request, from its pump. */
  assign(task: () => void): void {
    this.task = task
    this.wake()
  }

  end(end: CacheWatchEnd): void {
    if (this.endedWith) return
    this.endedWith = end
    this.detach(this, end)
    this.wake()
  }

  private async pump(): Promise<CacheWatchEnd> {
    this.armBookmark()
    try {
      for (;;) {
        while (!this.endedWith && !this.queue.length && !this.task && !this.bookmarkDue)
          await new Promise<void>((resolve) => (this.waiter = resolve))
        const end = this.endedWith
        // A client that left or fell behind is sent nothing more; one whose cacher ended gets what came before.
        if (end?.reason === 'stopped' || end?.reason === 'slow') return end
        if (this.queue.length) {
          const frames = this.queue
          this.queue = []
          this.backlog = this.client.write(frames)
        }
        if (end) return end
        if (this.backlog > this.limits.watcherQueue) {
          this.end({ reason: 'slow' })
          continue
        }
        const task = this.task
        this.task = undefined
        task?.()
        if (this.bookmarkDue) this.bookmarkTick()
      }
    } catch {
      // The client's stream is gone.
      this.end({ reason: 'stopped' })
      return { reason: 'stopped' }
    } finally {
      if (this.bookmarkTimer !== undefined) clearTimeout(this.bookmarkTimer)
    }
  }

  private armBookmark(): void {
    if (!this.client.allowBookmarks) return
    this.bookmarkTimer = unref(
      setTimeout(
        () => {
          this.bookmarkDue = true
          this.wake()
        },
        Math.max(0, this.nextBookmark - Date.now()),
      ),
    )
  }

  private bookmarkTick(): void {
    this.bookmarkDue = false
    const now = Date.now()
    if (now >= this.nextBookmark) {
      this.nextBookmark = this.nextBookmarkAfter(now)
      this.client.bookmark(Math.max(this.delivered, this.position()))
    }
    this.armBookmark()
  }

  /** kube's nextBookmarkTime: about every interval, and 2 s before the deadline. */
  private nextBookmarkAfter(now: number): number {
    const beat = now + this.limits.bookmarkIntervalMs
    const pre = this.client.deadline - BOOKMARK_BEFORE_DEADLINE_MS
    return pre < beat && pre > now ? pre : beat
  }
}

/**
 * One Store watch of a resource's prefix and the client watches it feeds. The Store watch runs in the
 * request of one of its watchers, its owner: where requests bind their I/O (a Worker), it moves to another
 * watcher when the owner ends and every so many events (the owner's request pays the fan-out's CPU), and
 * the cacher stops with its last watcher; in a process it simply outlives its first watcher.
 */
export class Cacher {
  /** Every event under the prefix up to this revision has been received. */
  private position = 0
  /** The ring holds every event in (ringFrom, position]. */
  private ringFrom = 0
  private ring: CacheEvent[] = []
  private ringHead = 0
  private ringBytes = 0
  private readonly watchers = new Set<CacheWatcher>()
  private started = false
  private stopped = false
  /** The Store watch being followed; aborted when it moves or the cacher stops. */
  private run?: AbortController
  private owner?: CacheWatcher
  /** Events times watchers the owner's request has fanned out since it took the Store watch. */
  private ownerFanout = 0
  private idleTimer?: ReturnType<typeof setTimeout>
  /** Watchers with frames to write that have not been woken yet (see wakeSome). */
  private readonly waking = new Set<CacheWatcher>()
  private wakeTimer?: ReturnType<typeof setTimeout>
  /** Every pair under the prefix once a LIST filled them in (fill), kept current by the events. */
  private pairs?: SortedPairs
  /** The pairs have every change up to max(pairsFrom, position) (see covered). */
  private pairsFrom = 0
  private pairsBytes = 0
  /** A fill did not fit the budget: not tried again while this cacher lives. */
  private unfillable = false
  /** LISTs waiting for the pairs to have a revision (reach). */
  private reaching: { revision: number; done: (ok: boolean) => void }[] = []

  private readonly labels: string[]

  constructor(
    readonly type: ResourceType,
    readonly prefix: string,
    private readonly limits: WatchCacheLimits,
    /** The cluster's: kube's watch cache counters. */
    private readonly metrics: ApiserverMetrics | undefined,
    private readonly onStop: (c: Cacher) => void,
    /** Shared by the process's cachers: what their pairs may take together (limits.listBytes). */
    private readonly budget: ListBudget = new ListBudget(limits.listBytes),
  ) {
    this.labels = [type.group, type.resource]
  }

  get watcherCount(): number {
    return this.watchers.size
  }

  get isStopped(): boolean {
    return this.stopped
  }

  /** Whether consistent LISTs are answered here (holdsPairs), or may be once a LIST fills it in. */
  get holdsPairs(): boolean {
    return this.pairs !== undefined
  }

  get fillable(): boolean {
    return this.started && !this.stopped && !this.pairs && !this.unfillable && this.budget.max > 0
  }

  /** The pairs hold every change up to this revision. */
  get covered(): number {
    return Math.max(this.pairsFrom, this.position)
  }

  /**
   * Takes every pair under the prefix as the Store had them at `revision` (a LIST's), with the events
   * after it this cacher has received, and keeps them current from then on. Nothing, when events after
   * `revision` have left the window already or the pairs do not fit the budget.
   */
  fill(kvs: KeyValue[], revision: number): void {
    if (!this.fillable || revision < this.ringFrom) return
    let bytes = 0
    for (const kv of kvs) bytes += pairBytes(kv)
    if (!this.budget.take(bytes)) {
      this.unfillable = true
      return
    }
    // Not heldPairs: what readers would remember with each pair (its JSON, its decoded object, several
    // times its size) is more than a Worker isolate's memory has room for; each LIST makes its own.
    const pairs = new SortedPairs()
    for (const kv of kvs) pairs.put(kv.key, kv)
    this.pairs = pairs
    this.pairsBytes = bytes
    this.pairsFrom = revision
    for (let i = this.ringHead; i < this.ring.length; i++) this.keep(this.ring[i]!)
  }

  /**
   * Once the pairs have every change up to `revision`: true; false when they are let go, or after
   * `waitMs` (the caller reads the Store). Called in the LIST's own request; the holder's request settles it.
   */
  async reach(revision: number, waitMs: number): Promise<boolean> {
    if (!this.pairs) return false
    if (this.covered >= revision) return true
    let timer: ReturnType<typeof setTimeout> | undefined
    let waiter: { revision: number; done: (ok: boolean) => void } | undefined
    try {
      return await new Promise<boolean>((resolve) => {
        waiter = { revision, done: resolve }
        this.reaching.push(waiter)
        timer = setTimeout(() => resolve(false), waitMs)
      })
    } finally {
      if (timer !== undefined) clearTimeout(timer)
      this.reaching = this.reaching.filter((x) => x !== waiter)
    }
  }

  /**
   * The store's word that nothing under the prefix changed in (after, revision] but up to `last`
   * (lastChange's answer from `after`): once the Store watch itself has brought both `after` and `last`,
   * it has every event up to `revision`, none of that range being on its way. Not from what a fill took
   * in: those events may still be on their way to the Store watch, and its watchers are owed them.
   */
  confirm(after: number, last: number, revision: number): void {
    if (this.stopped || after > this.position || last > this.position) return
    if (revision <= this.position) return
    this.position = revision
    this.settle()
  }

  /** The pairs under `prefix` in key order (the first `limit`), as of `covered`; undefined when none are held. */
  list(
    prefix: string,
    limit?: number,
  ): { kvs: KeyValue[]; more: boolean; count: number } | undefined {
    return this.pairs?.range(prefix, prefixEnd(prefix), limit)
  }

  /**
   * Joins a client watch from revision `from`: served from memory when the window reaches back to it.
   * `known`: `from` is a revision the store has reached (a LIST's); otherwise one newer than anything the
   * cacher has seen is checked against the store first. Undefined: the cacher cannot serve it (before
   * its window, newer than the store, or stopped); the caller watches the Store itself. Called in the
   * client watch's own request, which it may hold the Store watch in.
   */
  async join(
    /** The Store as this request reaches it: a Worker's Durable Object stub is bound to its request. */
    store: Store,
    from: number,
    client: CacheWatchClient,
    signal: AbortSignal,
    known: boolean,
  ): Promise<CacheWatcher | undefined> {
    // A cacher starts at the store's current revision, never at a client's: a watch from far back (or
    // from a compacted revision) reads the Store on its own rather than drag every later watcher through
    // that history, or into its 410. Each first joiner asks for itself: a promise shared between
    // requests would run one request's continuation in another's.
    if (!this.started) {
      let current: number
      try {
        current = await store.currentRevision()
      } catch {
        return undefined // this watch reads the Store (and its error)
      }
      if (!this.started) {
        this.started = true
        this.position = current
        this.ringFrom = current
        this.metrics?.watchCacheInitializations.inc(this.labels)
      }
    }
    if (this.stopped || from < this.ringFrom) return undefined
    if (!known && from > this.position) {
      const current = await store.currentRevision().catch(() => undefined)
      if (current === undefined || from > current) return undefined
      if (this.stopped || from < this.ringFrom) return undefined
    }
    if (signal.aborted) return undefined
    const w = new CacheWatcher(
      store,
      client,
      from,
      this.limits,
      () => this.position,
      (x, end) => this.remove(x, end),
    )
    // What the window holds after `from`, then live; nothing can come in between (one thread).
    for (let i = this.ringHead; i < this.ring.length; i++) {
      const ev = this.ring[i]!
      if (ev.revision > from) w.offer(ev, new Map())
    }
    w.wake()
    if (w.isEnded) return w // the window alone was more than it may have waiting: it watches again
    this.watchers.add(w)
    if (this.idleTimer) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
    if (!this.run) this.hold(w)
    signal.addEventListener('abort', () => w.end({ reason: 'stopped' }), { once: true })
    return w
  }

  /**
   * Ends the Store watch and every watcher: cleanly (the process shuts down, the type changed, the last
   * watcher left), or with the error the Store watch failed with.
   */
  stop(error?: unknown): void {
    if (this.stopped) return
    this.stopped = true
    this.run?.abort()
    this.run = undefined
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.wakeAll()
    const end: CacheWatchEnd =
      error === undefined ? { reason: 'cache-ended' } : { reason: 'cache-ended', error }
    for (const w of [...this.watchers]) w.end(end)
    this.ring = []
    this.letPairsGo()
    this.onStop(this)
  }

  /** Follows the Store from the cacher's position in the current request, that of watcher `w`. */
  private hold(w: CacheWatcher): void {
    this.owner = w
    this.ownerFanout = 0
    const run = new AbortController()
    this.run = run
    void this.follow(w.store, run)
  }

  /**
   * Gives the Store watch to another watcher, which starts it again from the cacher's position in its
   * own request; the old one is let go (its events up to the position are in).
   */
  private handOver(): void {
    const previous = this.owner
    this.wakeAll()
    this.run?.abort()
    this.run = undefined
    this.owner = undefined
    // To the first watcher in line; the previous holder, if it still watches, goes to the back.
    if (previous && this.watchers.delete(previous)) this.watchers.add(previous)
    for (const next of this.watchers) {
      if (next.isEnded) continue
      this.owner = next
      next.assign(() => {
        if (this.owner === next && !this.run && !this.stopped) this.hold(next)
      })
      return
    }
  }

  private async follow(store: Store, run: AbortController): Promise<void> {
    let error: unknown
    try {
      // Progress from the store moves the position, so that bookmarks carry a recent resourceVersion.
      const events = store.watch(this.prefix, this.position, run.signal, {
        progressIntervalMs: this.limits.bookmarkIntervalMs / 2,
      })
      for await (const ev of events) {
        if (this.run !== run) return
        if (ev.type === 'progress') {
          if (ev.revision > this.position) this.position = ev.revision
          this.settle()
          continue
        }
        if (ev.kv.modRevision <= this.position) continue
        this.publish(new CacheEvent(this.type, ev))
      }
    } catch (e) {
      error = e
    }
    if (this.run !== run) return
    // The Store ended or failed the watch: every watcher ends as its own Store watch would have (an
    // error such as 410 goes to the client; a clean end lets it watch again), as kube's cacher
    // terminates all watchers when its reflector's watch breaks.
    this.stop(error)
  }

  private publish(ev: CacheEvent): void {
    this.metrics?.watchCacheEventsReceived.inc(this.labels)
    this.position = ev.revision
    this.remember(ev)
    this.keep(ev)
    this.settle()
    // Each event is serialized once per wire form for all watchers; the bytes live as long as their queues.
    const frames = new Map<string, Uint8Array>()
    for (const w of this.watchers) if (w.offer(ev, frames)) this.waking.add(w)
    this.wakeSome()
    if (!this.limits.requestBound) return
    this.ownerFanout += this.watchers.size
    if (this.ownerFanout >= this.limits.ownerFanout && this.watchers.size > 1) this.handOver()
  }

  /**
   * Wakes the watchers with frames to write, at most wakeSlice at a time: each wake runs its watch's
   * pump, and between slices the thread serves other requests (a write must not wait for thousands of
   * watchers to be sent its predecessor's event). The timer is the current holder's: a hand-over wakes
   * the rest at once rather than leave them to a timer that dies with its request.
   */
  private wakeSome(): void {
    let n = 0
    for (const w of this.waking) {
      if (n++ === this.limits.wakeSlice) {
        this.wakeTimer ??= setTimeout(() => {
          this.wakeTimer = undefined
          this.wakeSome()
        }, 0)
        return
      }
      this.waking.delete(w)
      w.wake()
    }
  }

  private wakeAll(): void {
    if (this.wakeTimer !== undefined) clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    for (const w of this.waking) w.wake()
    this.waking.clear()
  }

  private remember(ev: CacheEvent): void {
    this.ring.push(ev)
    this.ringBytes += ev.size
    const { ringEvents, ringBytes } = this.limits
    while (
      this.ring.length - this.ringHead > ringEvents ||
      (this.ringBytes > ringBytes && this.ring.length - this.ringHead > 1)
    ) {
      const dropped = this.ring[this.ringHead]!
      this.ring[this.ringHead++] = undefined as never
      this.ringBytes -= dropped.size
      this.ringFrom = dropped.revision
    }
    if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead)
      this.ringHead = 0
    }
  }

  /** An event into the pairs, if they do not have it yet; over the budget they are let go. */
  private keep(ev: CacheEvent): void {
    const pairs = this.pairs
    if (!pairs || ev.revision <= this.pairsFrom) return
    const { kv } = ev.ev
    const before = pairs.kvs.get(kv.key)
    let grew = -(before ? pairBytes(before) : 0)
    if (ev.ev.type === 'delete') pairs.delete(kv.key)
    else {
      pairs.put(kv.key, kv)
      grew += pairBytes(kv)
    }
    if (grew <= 0) this.budget.give(-grew)
    else if (!this.budget.take(grew)) return this.letPairsGo(true)
    this.pairsBytes += grew
  }

  /** Wakes the LISTs waiting for a revision the pairs now have. */
  private settle(): void {
    if (this.reaching.length === 0) return
    const covered = this.covered
    for (const x of this.reaching) if (x.revision <= covered) x.done(true)
  }

  private letPairsGo(unfillable = false): void {
    if (this.pairs) this.budget.give(this.pairsBytes)
    this.pairs = undefined
    this.pairsBytes = 0
    this.unfillable ||= unfillable
    for (const x of this.reaching) x.done(false)
  }

  private remove(w: CacheWatcher, end: CacheWatchEnd): void {
    this.watchers.delete(w)
    if (end.reason === 'slow') this.metrics?.terminatedWatchers.inc(this.labels)
    if (this.stopped) return
    if (w === this.owner) {
      this.owner = undefined
      if (this.limits.requestBound) this.handOver()
    }
    if (this.watchers.size > 0) return
    // Bound to requests, the Store watch went with its last one.
    if (this.limits.requestBound || this.limits.idleMs <= 0) return this.stop()
    // The last watcher left: keep the Store watch a while for the next one, then let it go.
    this.idleTimer = unref(setTimeout(() => this.stop(), this.limits.idleMs))
  }
}

/** What a cacher's pairs are counted as taking: values and keys, and a little for the rest. */
function pairBytes(kv: KeyValue): number {
  return kv.key.length + kv.value.length + 64
}

/** Bytes the cachers of a process may hold in pairs together. */
class ListBudget {
  private used = 0

  constructor(readonly max: number) {}

  take(bytes: number): boolean {
    if (this.used + bytes > this.max) return false
    this.used += bytes
    return true
  }

  give(bytes: number): void {
    this.used -= bytes
  }
}

/** A Node timer does not hold the process open for the cache (workerd's timers have no unref). */
function unref<T>(t: T): T {
  ;(t as { unref?: () => void }).unref?.()
  return t
}

/**
 * The cachers of a process, by cluster and resource: at most limits.maxCachers, each stopping a while
 * after its last watcher left.
 */
export class WatchCaches {
  private readonly cachers = new Map<string, Cacher>()
  private readonly budget: ListBudget

  constructor(readonly limits: WatchCacheLimits = DEFAULT_WATCH_CACHE_LIMITS) {
    this.budget = new ListBudget(limits.listBytes)
  }

  get size(): number {
    return this.cachers.size
  }

  /**
   * The cacher of `type` in `cluster` (a name: the cluster the request resolved to), made on first use.
   * Undefined when the type is not cached: a conversion webhook must see each watcher's event (its
   * answer may differ per call), so those watches keep their own Store watch; and when every cacher
   * slot is taken by one with watchers.
   */
  for(cluster: string, type: ResourceType, metrics?: ApiserverMetrics): Cacher | undefined {
    if (type.convertBatch) return undefined
    const prefix = storageKey(type, undefined)
    const key = `${cluster}\u0000${prefix}\u0000${groupVersion(type)}\u0000${type.kind}`
    let c = this.cachers.get(key)
    if (c && c.type !== type) {
      // The type changed (a CRD's schema or versions): watchers of the old one finish on it.
      this.cachers.delete(key)
      if (c.watcherCount === 0) c.stop()
      c = undefined
    }
    if (c) return c
    if (this.cachers.size >= this.limits.maxCachers && !this.evictIdle()) return undefined
    const made = new Cacher(
      type,
      prefix,
      this.limits,
      metrics,
      (x) => {
        if (this.cachers.get(key) === x) this.cachers.delete(key)
      },
      this.budget,
    )
    this.cachers.set(key, made)
    return made
  }

  /**
   * A cacher of `cluster` whose resource holds the keys under `prefix` and that answers consistent LISTs
   * (holding the pairs, or able to be filled with them); one holding them first.
   */
  lister(cluster: string, prefix: string): Cacher | undefined {
    let fillable: Cacher | undefined
    for (const [key, c] of this.cachers) {
      if (!key.startsWith(`${cluster}\u0000`) || !prefix.startsWith(c.prefix)) continue
      if (c.holdsPairs) return c
      if (c.fillable) fillable ??= c
    }
    return fillable
  }

  /** Ends every cached watch cleanly (shutdown: clients watch again elsewhere). */
  close(): void {
    for (const c of [...this.cachers.values()]) c.stop()
    this.cachers.clear()
  }

  private evictIdle(): boolean {
    for (const c of this.cachers.values()) {
      if (c.watcherCount === 0) {
        c.stop()
        return true
      }
    }
    return false
  }
}

/**
 * The store with consistent LISTs (no resourceVersion to read at, no continue) answered from the watch
 * cache, as kube's cacher answers them (KEP-2340, consistent reads from cache); a first page's continue
 * token names the revision it was read at, so the store answers the next pages as of it. While a watch of
 * the resource is open in this isolate (its cacher runs), the first LIST of the whole resource that reads
 * it in one page fills the cacher with what it read; later LISTs of it or of a namespace ask the store
 * what changed in the resource since the cacher last heard (lastChange: the current revision, as kube
 * confirms etcd's first), wait up to 3 s for the cacher to have that, and answer from memory. Otherwise,
 * as without the cache, the store answers.
 */
export function withListsFromCache(store: Store, caches: WatchCaches, cluster: string): Store {
  const lastChange = store.lastChange?.bind(store)
  if (!lastChange || caches.limits.listBytes <= 0) return store
  const fromCache = async (
    prefix: string,
    limit: number | undefined,
  ): Promise<Awaited<ReturnType<Store['list']>> | undefined> => {
    const cacher = caches.lister(cluster, prefix)
    if (!cacher) return undefined
    if (!cacher.holdsPairs) {
      // Only a LIST of the whole resource fills the cacher in, with what it read anyway: reading the
      // whole for a namespace's LIST could be more than the isolate's memory (or the LIST) bargained for.
      if (prefix !== cacher.prefix) return undefined
      const all = await store.list(prefix, limit ? { limit } : undefined)
      if (!all.more) cacher.fill(all.kvs, all.revision)
      return all
    }
    // Asked of the whole resource, not only the LIST's part of it, so that the answer moves the
    // cacher on: a quiet resource in a busy cluster would otherwise have the store look through more
    // and more writes.
    let change: { revision: number; last?: number }
    const after = cacher.covered
    try {
      change = await lastChange(cacher.prefix, after)
    } catch (e) {
      if (isStoreError(e, 'Compacted')) return undefined
      throw e
    }
    if (change.last === undefined) return undefined
    if (!(await cacher.reach(change.last, CACHE_READ_WAIT_MS))) return undefined
    cacher.confirm(after, change.last, change.revision)
    // Nothing in the resource changed after `last` up to the store's revision: the pairs are as of
    // that revision too, which is what kube's consistent read answers with.
    const listed = cacher.list(prefix, limit)
    return (
      listed && { ...listed, revision: Math.max(cacher.covered, change.revision), fromCache: true }
    )
  }
  return {
    get: (key) => store.get(key),
    list: async (prefix, opts = {}) => {
      const consistent = !opts.revision && opts.after === undefined
      return (consistent && (await fromCache(prefix, opts.limit))) || store.list(prefix, opts)
    },
    readBatch: (reads) => store.readBatch(reads),
    create: (key, value, opts) => store.create(key, value, opts),
    update: (key, value, rev, opts) => store.update(key, value, rev, opts),
    delete: (key, rev, opts) => store.delete(key, rev, opts),
    watch: (prefix, after, signal, opts) => store.watch(prefix, after, signal, opts),
    cached: store.cached?.bind(store),
    lastChange,
    compact: (revision) => store.compact(revision),
    currentRevision: () => store.currentRevision(),
  }
}

/**
 * Where the cache does not serve a watch (one from before its window, a type converted by a webhook, every
 * cacher slot taken) and it keeps a Store watch of its own, watches can still share what they make of the
 * same event: plain data, which workerd lets one request hand to another where it refuses I/O objects. The events most recently seen in this isolate or
 * process, by cluster, type and (key, revision), each decoded once and encoded once per wire form for all
 * the watches that receive it. Bounded by count; a watch a little behind the others decodes again.
 */
export class SharedEvents {
  private readonly events = new Map<string, CacheEvent>()
  private bytes = 0

  constructor(
    private readonly max = 256,
    /** Values' bytes kept (their encoded forms come on top, a few times as much). */
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  get size(): number {
    return this.events.size
  }

  event(
    cluster: string,
    type: ResourceType,
    ev: StoreEvent & { type: 'put' | 'delete' },
  ): CacheEvent {
    const id = `${cluster}\u0000${groupVersion(type)}\u0000${type.kind}\u0000${ev.type}\u0000${ev.kv.key}\u0000${ev.kv.modRevision}`
    const hit = this.events.get(id)
    // The same type (a CRD changed since: decode again) and the same value (a store restored to an
    // earlier point may reuse a revision for another write).
    if (hit && hit.type === type && hit.ev.kv.value === ev.kv.value) return hit
    const made = new CacheEvent(type, ev)
    if (hit) this.forget(id, hit)
    this.events.set(id, made)
    this.bytes += made.size
    while (this.events.size > this.max || (this.bytes > this.maxBytes && this.events.size > 1)) {
      const [oldest, e] = this.events.entries().next().value!
      this.forget(oldest, e)
    }
    return made
  }

  private forget(id: string, e: CacheEvent): void {
    this.events.delete(id)
    this.bytes -= e.size
  }
}

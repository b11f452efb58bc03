// The watch cache: one Store watch per (cluster, resource) per process, fanned out in memory to every
// client watch of that resource, in the spirit of kube-apiserver's cacher (storage/cacher). Each event
// is decoded once for all its watchers and serialized once per wire form (kube's cachingObject), where
// the per-watch path decodes and serializes it once per watcher. A bounded window of recent events
// (kube's watchCache ring) serves a watch that starts a little in the past; one that starts before the
// window goes to the Store as it would without the cache, which answers 410 once it is compacted.
//
// Runs wherever its Store's watch can be shared between requests: Node mode. A Worker cannot share one
// (workerd binds a WebSocket and every stream to the request that made it: see bench/README.md).
import { decode, storageKey } from '../registry/store'
import { groupVersion, type KubeObject, type ResourceType } from '../registry/types'
import type { KeyValue, Store, StoreEvent } from '../storage/store'

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
}

export const DEFAULT_WATCH_CACHE_LIMITS: WatchCacheLimits = {
  ringEvents: 1_000,
  ringBytes: 8 * 1024 * 1024,
  watcherQueue: 1_000,
  maxCachers: 512,
  idleMs: 60_000,
  bookmarkIntervalMs: 60_000,
}

/** How often a cacher checks which watchers are due a bookmark (kube's bookmark timer ticks every second). */
const BOOKMARK_TICK_MS = 1_000
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
   * serialized once for every watcher that asks for it in the same form.
   */
  frameKey(type: WatchEventType): string
  encode(type: WatchEventType, object: KubeObject): Uint8Array
  /** Queues bytes for the client; answers how many chunks are waiting for it. */
  write(bytes: Uint8Array, type: WatchEventType): number
  /** A bookmark is never worth waiting for: the client drops it while events are queued, as kube does. */
  bookmark(revision: number): void
}

/** How a cache watch ended: cleanly (the client watches again from where it was), or with an error. */
export type CacheWatchEnd = { error?: unknown; reason: 'stopped' | 'slow' | 'cache-ended' }

export class CacheWatcher {
  /** Every event up to this revision has been offered to the client. */
  delivered: number
  nextBookmark: number
  private resolve!: (end: CacheWatchEnd) => void
  readonly ended: Promise<CacheWatchEnd>
  private done = false

  constructor(
    readonly client: CacheWatchClient,
    from: number,
    now: number,
    private readonly bookmarkIntervalMs: number,
    private readonly maxQueue: number,
    private readonly detach: (w: CacheWatcher) => void,
  ) {
    this.delivered = from
    this.nextBookmark = this.nextBookmarkAfter(now)
    this.ended = new Promise((r) => (this.resolve = r))
  }

  offer(ev: CacheEvent, frames: Map<string, Uint8Array>): void {
    if (this.done || ev.revision <= this.delivered) return
    this.delivered = ev.revision
    const out = watchEventFor(ev, this.client.matches)
    if (!out) return
    const key = this.client.frameKey(out.type)
    let bytes = frames.get(key)
    if (!bytes) frames.set(key, (bytes = this.client.encode(out.type, out.object())))
    if (this.client.write(bytes, out.type) > this.maxQueue) this.end({ reason: 'slow' })
  }

  /** kube's nextBookmarkTime: about every interval, and 2 s before the deadline. */
  private nextBookmarkAfter(now: number): number {
    const beat = now + this.bookmarkIntervalMs
    const pre = this.client.deadline - BOOKMARK_BEFORE_DEADLINE_MS
    return pre < beat && pre > now ? pre : beat
  }

  maybeBookmark(now: number, position: number): void {
    if (this.done || !this.client.allowBookmarks || now < this.nextBookmark) return
    this.nextBookmark = this.nextBookmarkAfter(now)
    this.client.bookmark(Math.max(this.delivered, position))
  }

  end(end: CacheWatchEnd): void {
    if (this.done) return
    this.done = true
    this.detach(this)
    this.resolve(end)
  }
}

/** One Store watch of a resource's prefix and the client watches it feeds. */
export class Cacher {
  /** Every event under the prefix up to this revision has been received. */
  private position = 0
  /** The ring holds every event in (ringFrom, position]. */
  private ringFrom = 0
  private ring: CacheEvent[] = []
  private ringHead = 0
  private ringBytes = 0
  private readonly watchers = new Set<CacheWatcher>()
  private readonly abort = new AbortController()
  private started = false
  private starting?: Promise<boolean>
  private stopped = false
  private idleTimer?: ReturnType<typeof setTimeout>
  private bookmarkTimer?: ReturnType<typeof setInterval>

  constructor(
    readonly type: ResourceType,
    readonly prefix: string,
    private readonly store: Store,
    private readonly limits: WatchCacheLimits,
    private readonly onStop: (c: Cacher) => void,
  ) {}

  get watcherCount(): number {
    return this.watchers.size
  }

  get isStopped(): boolean {
    return this.stopped
  }

  /**
   * Joins a client watch from revision `from`: served from memory when the window reaches back to it.
   * `known`: `from` is a revision the store has reached (a LIST's); otherwise one newer than anything the
   * cacher has seen is checked against the store first. Undefined: the cacher cannot serve it (before
   * its window, newer than the store, or stopped); the caller watches the Store itself.
   */
  async join(
    from: number,
    client: CacheWatchClient,
    signal: AbortSignal,
    known: boolean,
  ): Promise<CacheWatcher | undefined> {
    // A cacher starts at the store's current revision, never at a client's: a watch from far back (or
    // from a compacted revision) reads the Store on its own rather than drag every later watcher through
    // that history, or into its 410.
    if (!this.started && !(await (this.starting ??= this.begin()))) return undefined
    if (this.stopped || from < this.ringFrom) return undefined
    if (!known && from > this.position) {
      const current = await this.store.currentRevision().catch(() => undefined)
      if (current === undefined || from > current) return undefined
      if (this.stopped || from < this.ringFrom) return undefined
    }
    if (signal.aborted) return undefined
    const w = new CacheWatcher(
      client,
      from,
      Date.now(),
      this.limits.bookmarkIntervalMs,
      this.limits.watcherQueue,
      (x) => this.remove(x),
    )
    // What the window holds after `from`, then live; nothing can come in between (one thread).
    for (let i = this.ringHead; i < this.ring.length; i++) {
      const ev = this.ring[i]!
      if (ev.revision > from) w.offer(ev, new Map())
    }
    this.watchers.add(w)
    if (this.idleTimer) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
    if (client.allowBookmarks) this.startBookmarks()
    signal.addEventListener('abort', () => w.end({ reason: 'stopped' }), { once: true })
    return w
  }

  /** Ends every watcher cleanly and the Store watch (the process shuts down, or the type changed). */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.abort.abort()
    if (this.idleTimer) clearTimeout(this.idleTimer)
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer)
    for (const w of [...this.watchers]) w.end({ reason: 'cache-ended' })
    this.ring = []
    this.onStop(this)
  }

  /** Starts the Store watch at the current revision; false when the store cannot say which that is. */
  private async begin(): Promise<boolean> {
    let current: number
    try {
      current = await this.store.currentRevision()
    } catch {
      this.starting = undefined // the next watcher tries again; this one reads the Store (and its error)
      return false
    }
    if (this.stopped) return false
    if (!this.started) {
      this.started = true
      this.position = current
      this.ringFrom = current
      void this.run(current)
    }
    return true
  }

  private async run(from: number): Promise<void> {
    let error: unknown
    try {
      // Progress from the store moves the position, so that bookmarks carry a recent resourceVersion.
      const events = this.store.watch(this.prefix, from, this.abort.signal, {
        progressIntervalMs: this.limits.bookmarkIntervalMs / 2,
      })
      for await (const ev of events) {
        if (ev.type === 'progress') {
          if (ev.revision > this.position) this.position = ev.revision
          continue
        }
        if (ev.kv.modRevision <= this.position) continue
        this.publish(new CacheEvent(this.type, ev))
      }
    } catch (e) {
      error = e
    }
    if (this.stopped) return
    // The Store ended or failed the watch: every watcher ends as its own Store watch would have (an
    // error such as 410 goes to the client; a clean end lets it watch again), as kube's cacher
    // terminates all watchers when its reflector's watch breaks.
    this.stopped = true
    if (this.idleTimer) clearTimeout(this.idleTimer)
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer)
    for (const w of [...this.watchers]) w.end({ reason: 'cache-ended', error })
    this.ring = []
    this.onStop(this)
  }

  private publish(ev: CacheEvent): void {
    this.position = ev.revision
    this.remember(ev)
    // Each event is serialized once per wire form for all watchers; the bytes live as long as their queues.
    const frames = new Map<string, Uint8Array>()
    for (const w of this.watchers) w.offer(ev, frames)
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

  private remove(w: CacheWatcher): void {
    this.watchers.delete(w)
    if (this.watchers.size > 0 || this.stopped) return
    if (this.bookmarkTimer) {
      clearInterval(this.bookmarkTimer)
      this.bookmarkTimer = undefined
    }
    // The last watcher left: keep the Store watch a while for the next one, then let it go.
    this.idleTimer = unref(setTimeout(() => this.stop(), this.limits.idleMs))
  }

  private startBookmarks(): void {
    if (this.bookmarkTimer) return
    this.bookmarkTimer = unref(
      setInterval(
        () => {
          const now = Date.now()
          for (const w of this.watchers) w.maybeBookmark(now, this.position)
        },
        Math.min(BOOKMARK_TICK_MS, this.limits.bookmarkIntervalMs),
      ),
    )
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

  constructor(readonly limits: WatchCacheLimits = DEFAULT_WATCH_CACHE_LIMITS) {}

  get size(): number {
    return this.cachers.size
  }

  /**
   * The cacher of `type` in `cluster` (a name: the cluster the request resolved to), made on first use.
   * Undefined when the type is not cached: a conversion webhook must see each watcher's event (its
   * answer may differ per call), so those watches keep their own Store watch; and when every cacher
   * slot is taken by one with watchers.
   */
  for(cluster: string, type: ResourceType, store: Store): Cacher | undefined {
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
    const made = new Cacher(type, prefix, store, this.limits, (x) => {
      if (this.cachers.get(key) === x) this.cachers.delete(key)
    })
    this.cachers.set(key, made)
    return made
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
 * Where watches cannot share a Store watch (a Worker: each keeps its own WebSocket to the Durable
 * Object), they can still share what they make of the same event: plain data, which workerd lets one
 * request hand to another where it refuses I/O objects. The events most recently seen in this isolate or
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

// One etcd watch per resource prefix, fanned out to every client watching under it: the role of
// kube-apiserver's cacher (storage/cacher), whose watchCache keeps a ring of recent events so that
// a watcher starting a little in the past is served from memory. A client starting before the ring
// reads that history from etcd with a watch of its own, then joins the shared feed.
import { StoreError, type StoreEvent, type WatchOptions } from '../store'

/** Delivered by an etcd watch: events in revision order, or a progress notification (no events). */
export interface WatchSink {
  events(events: StoreEvent[]): void
  /** Every event up to `revision` has been delivered (etcd's progress notify). */
  progress(revision: number): void
  fail(err: unknown): void
}

export interface WatchSource {
  /** Opens an etcd watch of keys under `prefix` with revisions > `after`. */
  open(prefix: string, after: number, sink: WatchSink): { cancel(): void }
}

export interface HubLimits {
  /** Recent events kept per feed. */
  ringEvents: number
  /** Approximate bytes of values kept per feed. */
  ringBytes: number
  /** Events a client may have waiting before it is dropped (kube-apiserver closes unresponsive watchers). */
  clientQueue: number
}

// A feed lives as long as the store and there is one per watched resource: keep each ring modest.
export const DEFAULT_HUB_LIMITS: HubLimits = {
  ringEvents: 1_000,
  ringBytes: 8 * 1024 * 1024,
  clientQueue: 100_000,
}

export function eventRevision(ev: StoreEvent): number {
  return ev.type === 'progress' ? ev.revision : ev.kv.modRevision
}

function eventSize(ev: StoreEvent): number {
  if (ev.type === 'progress') return 16
  return ev.kv.key.length + ev.kv.value.length + (ev.prevKv?.value.length ?? 0) + 64
}

/** The feed a watch prefix joins: the resource's prefix (/registry/<resource>/), or the prefix itself above that. */
export function feedPrefix(prefix: string): string {
  return /^\/registry\/[^/]+\//.exec(prefix)?.[0] ?? prefix
}

export class WatchHub {
  private readonly feeds = new Map<string, Feed>()
  private closed = false

  constructor(
    private readonly source: WatchSource,
    private readonly limits: HubLimits = DEFAULT_HUB_LIMITS,
  ) {}

  /** How many etcd watches the hub holds (one per fed prefix). */
  get feedCount(): number {
    return this.feeds.size
  }

  async *watch(
    prefix: string,
    after: number,
    signal: AbortSignal,
    opts: WatchOptions = {},
  ): AsyncGenerator<StoreEvent> {
    if (this.closed || signal.aborted) return
    const sub = new Subscription(prefix, after, this.limits.clientQueue)
    const wake = () => sub.wake()
    signal.addEventListener('abort', wake)
    const timer = opts.progressIntervalMs
      ? setInterval(() => sub.tick(), opts.progressIntervalMs)
      : undefined
    this.subscribe(sub)
    try {
      for (;;) {
        const ev = sub.take()
        if (ev) {
          yield ev
          continue
        }
        if (sub.error) throw sub.error
        if (sub.ended || signal.aborted || this.closed) return
        await sub.wait()
      }
    } finally {
      if (timer) clearInterval(timer)
      signal.removeEventListener('abort', wake)
      sub.detach()
    }
  }

  /** Ends every watch and cancels every etcd watch (server shutdown). */
  close(): void {
    this.closed = true
    for (const feed of this.feeds.values()) feed.close()
    this.feeds.clear()
  }

  private subscribe(sub: Subscription): void {
    const key = feedPrefix(sub.prefix)
    let feed = this.feeds.get(key)
    if (!feed) {
      feed = new Feed(key, sub.delivered, this.source, this.limits, () => {
        if (this.feeds.get(key) === feed) this.feeds.delete(key)
      })
      this.feeds.set(key, feed)
    }
    feed.add(sub)
  }
}

class Feed {
  /** Every event under the prefix up to this revision has been received. */
  position: number
  /** The ring holds every event in (ringFrom, position]. */
  private ringFrom: number
  private ring: StoreEvent[] = []
  private ringHead = 0
  private ringSize = 0
  private readonly subs = new Set<Subscription>()
  private readonly watch: { cancel(): void }
  private failed: unknown

  constructor(
    readonly prefix: string,
    after: number,
    private readonly source: WatchSource,
    private readonly limits: HubLimits,
    private readonly onFail: () => void,
  ) {
    this.position = after
    this.ringFrom = after
    this.watch = source.open(prefix, after, {
      events: (evs) => this.publish(evs),
      progress: (rev) => this.progress(rev),
      fail: (err) => this.fail(err),
    })
  }

  add(sub: Subscription): void {
    sub.feed = this
    this.subs.add(sub)
    if (this.failed !== undefined) return sub.fail(this.failed)
    if (sub.delivered >= this.ringFrom) {
      // Served from memory: whatever the ring has after the client's revision, then live.
      for (let i = this.ringHead; i < this.ring.length; i++) sub.offer(this.ring[i]!)
      return
    }
    sub.catchUp(this.source, this.position)
  }

  remove(sub: Subscription): void {
    this.subs.delete(sub)
  }

  close(): void {
    this.watch.cancel()
    for (const sub of this.subs) sub.end()
    this.subs.clear()
  }

  private publish(evs: StoreEvent[]): void {
    for (const ev of evs) {
      const rev = eventRevision(ev)
      if (rev <= this.position) continue // already seen (a resumed etcd watch may repeat a revision)
      this.position = rev
      this.remember(ev)
      for (const sub of this.subs) sub.offer(ev)
    }
  }

  private progress(rev: number): void {
    if (rev > this.position) this.position = rev
  }

  private fail(err: unknown): void {
    this.failed = err
    this.onFail()
    for (const sub of this.subs) sub.fail(err)
    this.subs.clear()
  }

  private remember(ev: StoreEvent): void {
    this.ring.push(ev)
    this.ringSize += eventSize(ev)
    while (
      this.ring.length - this.ringHead > this.limits.ringEvents ||
      (this.ringSize > this.limits.ringBytes && this.ring.length - this.ringHead > 1)
    ) {
      const dropped = this.ring[this.ringHead]!
      this.ring[this.ringHead++] = undefined as never
      this.ringSize -= eventSize(dropped)
      this.ringFrom = eventRevision(dropped)
    }
    if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead)
      this.ringHead = 0
    }
  }
}

class Subscription {
  feed?: Feed
  /** Every event up to this revision under the prefix has been queued. */
  delivered: number
  error: unknown
  ended = false
  private queue: StoreEvent[] = []
  private head = 0
  private waiter?: () => void
  private sentSinceTick = false
  /** Catching up on its own etcd watch; feed events after `joinAt` wait in `held`. */
  private catching?: { watch: { cancel(): void }; joinAt: number; held: StoreEvent[] | undefined }

  constructor(
    readonly prefix: string,
    after: number,
    private readonly maxQueue: number,
  ) {
    this.delivered = after
  }

  /** A feed event: queued when it is under this prefix and new to this client. */
  offer(ev: StoreEvent): void {
    if (ev.type === 'progress' || !ev.kv.key.startsWith(this.prefix)) return
    if (this.catching) {
      const held = this.catching.held
      if (held) {
        held.push(ev)
        if (held.length > this.maxQueue) this.catching.held = undefined // stay on its own watch for good
      }
      return
    }
    this.push(ev)
  }

  catchUp(source: WatchSource, joinAt: number): void {
    const catching: NonNullable<Subscription['catching']> = {
      watch: { cancel() {} },
      joinAt,
      held: [],
    }
    this.catching = catching
    catching.watch = source.open(this.prefix, this.delivered, {
      events: (evs) => {
        for (const ev of evs) this.push(ev)
        this.maybeJoin()
      },
      progress: (rev) => {
        if (rev > this.delivered) this.delivered = rev
        this.maybeJoin()
      },
      fail: (err) => this.fail(err),
    })
  }

  /** Caught up with the feed's position when this client arrived: hand over to the feed. */
  private maybeJoin(): void {
    const c = this.catching
    if (!c || !c.held || this.delivered < c.joinAt) return
    c.watch.cancel()
    this.catching = undefined
    for (const ev of c.held) this.push(ev)
  }

  private push(ev: StoreEvent): void {
    if (this.ended || this.error !== undefined) return
    const rev = eventRevision(ev)
    if (rev <= this.delivered) return
    this.delivered = rev
    if (this.queue.length - this.head >= this.maxQueue) {
      // Too far behind: end the watch; the client watches again from the last revision it saw.
      this.end()
      return
    }
    this.queue.push(ev)
    this.sentSinceTick = true
    this.wake()
  }

  /** A progress interval passed: when nothing else went out and nothing is waiting, say how far the client is. */
  tick(): void {
    if (this.sentSinceTick || this.head < this.queue.length || this.catching || !this.feed) {
      this.sentSinceTick = false
      return
    }
    const revision = Math.max(this.delivered, this.feed.position)
    this.queue.push({ type: 'progress', revision })
    this.wake()
  }

  take(): StoreEvent | undefined {
    if (this.head >= this.queue.length) return undefined
    const ev = this.queue[this.head]!
    this.queue[this.head++] = undefined as never
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    }
    return ev
  }

  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve
    })
  }

  wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  fail(err: unknown): void {
    if (this.error === undefined) this.error = err ?? new StoreError('Compacted', this.prefix)
    this.stopCatching()
    this.wake()
  }

  end(): void {
    this.ended = true
    this.stopCatching()
    this.wake()
  }

  detach(): void {
    this.stopCatching()
    this.feed?.remove(this)
    this.ended = true
  }

  private stopCatching(): void {
    this.catching?.watch.cancel()
    this.catching = undefined
  }
}

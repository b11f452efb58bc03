// Watch fan-out inside the ClusterStore: hibernatable WebSockets, each watching one key prefix.
//
// A watcher first catches up (from the ring of recent events, or the SQLite log when the ring no
// longer reaches back far enough), paced by the consumer's acknowledgements, then goes live and is sent
// each new event after it is committed. This is etcd's split of watchers into unsynced and synced groups
// (mvcc/watchable_store.go); a live watcher that lets WATCH_WINDOW pile up unacknowledged is closed,
// as kube-apiserver's cacher closes a watcher whose buffer stays full ("Forcing watcher close due to
// unresponsiveness").
//
// The fan-out to live watchers runs after the write has answered, in slices of FANOUT_SLICE sends with
// the object's event loop free in between (etcd's watchable store likewise notifies synced watchers
// outside the write, kube-apiserver's cacher from its own goroutine). Events committed while a pass is
// under way wait for the next one, which sends them as one message per watcher: the cost per socket is
// paid once per pass, not once per event. Each message is encoded once per prefix.
//
// The DO may hibernate with sockets open: all state here is in memory, rebuilt from each socket's
// attachment ({p: prefix, c: cursor while catching up}) by restore() when the object wakes. A pending
// fan-out keeps the object awake (its timer), and the source records durably that one is pending
// (WatchSource.fanoutPending), so an object that restarts anyway closes the live watchers it may have
// left behind rather than let them miss events.
import type { StoreErrorCode } from '../store'
import {
  CLOSE_BAD_MESSAGE,
  CLOSE_ERROR,
  CLOSE_RESTARTED,
  CLOSE_SLOW,
  MAX_BATCH_EVENTS,
  MAX_BATCH_SIZE,
  WATCH_WINDOW,
  type ClientMessage,
} from './protocol'
import { EventRing, type LogEvent } from './ring'

/** What the hub reads from its Durable Object. */
export interface WatchSource {
  revision(): number
  compacted(): number
  /** History after `after` under `prefix` (see Tables.readLog). */
  readLog(
    prefix: string,
    after: number,
    maxEvents: number,
    maxSize: number,
  ): { events: LogEvent[]; through: number }
  /**
   * Records durably, with the write that calls publish, that events from `from` on may not have reached
   * every live watcher yet; 0 once they all have. Read back as restore()'s `interruptedFrom`.
   */
  fanoutPending(from: number): void
}

/**
 * Sends per slice of a fan-out pass, between which writes and socket messages get the object. A send
 * costs workerd some 30-60 µs whatever its size, so a slice holds the object for a few ms; measured on
 * Miniflare, 1,000 sends took no longer in slices of 32-512 than in one go (slightly less).
 */
export const FANOUT_SLICE = 64

/** Runs `fn` later, on a later turn of the event loop. */
export type Defer = (fn: () => void) => void
const nextTurn: Defer = (fn) => void setTimeout(fn, 0)

interface Attachment {
  p: string
  c?: number
}

interface Watcher {
  ws: WebSocket
  prefix: string
  /** Live: sent each event by the fan-out. Otherwise catching up from `cursor`. */
  live: boolean
  /**
   * Every event up to this revision under the prefix has been sent. A live watcher has also been sent
   * everything up to the hub's `frontier`; its cursor moves only when a pass sends it something.
   */
  cursor: number
  /** Sent and not yet acknowledged by the consumer. Starts from 0 again after hibernation. */
  pending: number
  /** What the attachment last said about the cursor (undefined: live). */
  saved: number | undefined | null
}

/** A prefix fits the socket attachment (2 KiB in workerd) with room to spare. */
export const MAX_PREFIX_LENGTH = 1024

export class WatchHub {
  private readonly watchers = new Map<WebSocket, Watcher>()
  /** Watchers by prefix, so a write checks each distinct prefix once and reads no attachment. */
  private readonly byPrefix = new Map<string, Set<Watcher>>()
  private readonly ring: EventRing
  /** Every live watcher has been sent each event up to this revision under its prefix. */
  private frontier: number
  /** Committed events the fan-out has not started on, in revision order. */
  private backlog: LogEvent[] = []
  /** The pass under way, suspended between slices. */
  private pass?: Generator<void, void>
  private scheduled = false

  constructor(
    private readonly source: WatchSource,
    private readonly defer: Defer = nextTurn,
  ) {
    this.ring = new EventRing(source.revision())
    this.frontier = source.revision()
  }

  /**
   * Rebuilds the index from the sockets that survived hibernation. `interruptedFrom` (the source's
   * fanoutPending record) says the previous instance stopped with events from that revision on perhaps not
   * sent: which of them went out to which socket is unknown, so live watchers are closed for their clients
   * to watch again from what they received. Watchers still catching up have their cursor in the attachment.
   */
  restore(sockets: WebSocket[], interruptedFrom = 0): void {
    for (const ws of sockets) {
      const w = this.adopt(ws)
      if (w?.live && interruptedFrom > 0) {
        this.close(
          w,
          CLOSE_RESTARTED,
          `watch interrupted by a restart; events from revision ${interruptedFrom} on may not have been sent`,
        )
      }
    }
    if (interruptedFrom > 0) this.source.fanoutPending(0)
  }

  get size(): number {
    return this.watchers.size
  }

  /**
   * Closes every watcher, live or catching up, for their clients to watch again: after a restore the
   * history they were reading is gone (they then get Compacted, 410, as after an etcd restore).
   */
  closeAll(code: number, reason: string): void {
    for (const w of [...this.watchers.values()]) this.close(w, code, reason)
  }

  /** Starts a watcher on an accepted socket: events after `after` under `prefix`. */
  open(ws: WebSocket, prefix: string, after: number): void {
    if (after > this.source.revision())
      return this.fail(ws, 'FutureRevision', this.source.revision())
    const w = this.add(ws, prefix, false, after)
    this.pump(w)
  }

  /**
   * A committed write: into the ring now, to the live watchers whose prefix it is under on a later turn,
   * after the write has answered.
   */
  publish(ev: LogEvent): void {
    this.ring.push(ev)
    if (!this.pass && this.backlog.length === 0) {
      if (this.watchers.size === 0) {
        this.frontier = ev.rev // nobody to send it to; a watcher opened later reads it from the ring
        return
      }
      this.source.fanoutPending(ev.rev)
    }
    this.backlog.push(ev)
    this.schedule()
  }

  /** Runs the pending fan-out to the end now (tests; the object itself lets it run on its own). */
  flush(): void {
    while (this.pass || this.backlog.length > 0) this.step()
  }

  message(ws: WebSocket, data: string | ArrayBuffer): void {
    const w = this.watchers.get(ws) ?? this.adopt(ws)
    if (!w) return
    let msg: ClientMessage
    try {
      msg = JSON.parse(
        typeof data === 'string' ? data : new TextDecoder().decode(data),
      ) as ClientMessage
    } catch {
      return this.close(w, CLOSE_BAD_MESSAGE, 'malformed message')
    }
    if (msg.t === 'p') {
      // Everything up to the revision named has been sent already, and this reply goes after it.
      this.send(w, `{"t":"p","r":${w.live ? Math.max(w.cursor, this.frontier) : w.cursor}}`)
    } else if (msg.t === 'a' && Number.isFinite(msg.n)) {
      w.pending = Math.max(0, w.pending - msg.n)
      if (!w.live) this.pump(w)
    } else {
      this.close(w, CLOSE_BAD_MESSAGE, 'unknown message')
    }
  }

  /**
   * Tells each live watcher the revision it has been sent everything up to, unasked: the compaction tick
   * does, before it compacts, so that the bookmarks the Worker answers by itself between ticks
   * (client.ts) name a revision the next compaction keeps, as kube-apiserver's cacher's bookmarks carry
   * its current resourceVersion.
   */
  progressAll(): void {
    for (const w of this.watchers.values())
      if (w.live) this.send(w, `{"t":"p","r":${Math.max(w.cursor, this.frontier)}}`)
  }

  /** The socket closed or failed: forget it at once. */
  closed(ws: WebSocket): void {
    const w = this.watchers.get(ws)
    if (w) this.remove(w)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    this.defer(() => {
      this.scheduled = false
      if (this.pass || this.backlog.length > 0) this.step() // flush() may have run it already
    })
  }

  // One slice of the fan-out; another is scheduled while anything is left.
  private step(): void {
    this.pass ??= this.fanOut()
    if (this.pass.next().done) {
      this.pass = undefined
      this.source.fanoutPending(0)
    } else {
      this.schedule()
    }
  }

  // Sends the backlog to the live watchers, pausing after every FANOUT_SLICE sends. Watchers come and go
  // between slices: one that went live meanwhile has a cursor past the events it already read, one that
  // was removed is no longer in its set.
  private *fanOut(): Generator<void, void> {
    let sends = 0
    while (this.backlog.length > 0) {
      const events = this.backlog
      this.backlog = []
      const from = this.frontier
      const to = events[events.length - 1]!.rev
      for (const [prefix, set] of this.byPrefix) {
        let shared: string[] | undefined
        for (const w of set) {
          if (!w.live || w.cursor >= to) continue
          shared ??= frames(events.filter((ev) => ev.key.startsWith(prefix)))
          if (shared.length === 0) break
          // Went live after the batch was taken: it read the start of the batch itself, from the ring.
          const msgs =
            w.cursor <= from
              ? shared
              : frames(events.filter((ev) => ev.rev > w.cursor && ev.key.startsWith(prefix)))
          if (!this.sendAll(w, msgs)) continue
          w.cursor = to
          if (++sends % FANOUT_SLICE === 0) yield
        }
      }
      this.frontier = to
    }
  }

  private sendAll(w: Watcher, msgs: string[]): boolean {
    for (const msg of msgs) {
      if (w.pending >= WATCH_WINDOW) {
        this.close(w, CLOSE_SLOW, `watcher fell behind: ${w.pending} unacknowledged`)
        return false
      }
      if (!this.send(w, msg)) return false
    }
    return true
  }

  // Sends what the watcher has not seen yet, from the ring or the log, until it is live or its window is full.
  private pump(w: Watcher): void {
    while (!w.live) {
      const compacted = this.source.compacted()
      if (w.cursor < compacted) return this.fail(w.ws, 'Compacted', compacted, w)
      if (w.pending >= WATCH_WINDOW) break
      const { events, through } = this.read(w.prefix, w.cursor)
      if (
        events.length > 0 &&
        !this.send(w, `{"t":"e","e":[${events.map((e) => e.json).join(',')}]}`)
      )
        return
      w.cursor = through
      if (w.cursor >= this.source.revision()) w.live = true
    }
    this.save(w)
  }

  private read(prefix: string, after: number): { events: LogEvent[]; through: number } {
    if (!this.ring.covers(after))
      return this.source.readLog(prefix, after, MAX_BATCH_EVENTS, MAX_BATCH_SIZE)
    const events: LogEvent[] = []
    let size = 0
    let through = after
    for (const ev of this.ring.after(after)) {
      through = ev.rev
      if (!ev.key.startsWith(prefix)) continue
      events.push(ev)
      size += ev.json.length
      if (events.length >= MAX_BATCH_EVENTS || size >= MAX_BATCH_SIZE) return { events, through }
    }
    return { events, through: this.source.revision() }
  }

  private send(w: Watcher, msg: string): boolean {
    try {
      w.ws.send(msg)
    } catch {
      this.remove(w) // the socket is gone; its close event may never come
      return false
    }
    w.pending += msg.length
    return true
  }

  private fail(ws: WebSocket, code: StoreErrorCode, revision: number, w?: Watcher): void {
    this.end(ws, JSON.stringify({ t: 'x', c: code, r: revision }), CLOSE_ERROR, code)
    if (w) this.remove(w)
  }

  private close(w: Watcher, code: number, reason: string): void {
    this.end(w.ws, JSON.stringify({ t: 'c', c: code, m: reason }), code, reason)
    this.remove(w)
  }

  // Says why in-band, then closes. The attachment is cleared first, so a message the client sent
  // before it saw the close cannot bring the watcher back through adopt().
  private end(ws: WebSocket, last: string, code: number, reason: string): void {
    try {
      ws.serializeAttachment(null)
      ws.send(last)
      ws.close(code, reason)
    } catch {
      // already closed
    }
  }

  private add(ws: WebSocket, prefix: string, live: boolean, cursor: number): Watcher {
    const w: Watcher = { ws, prefix, live, cursor, pending: 0, saved: null }
    this.watchers.set(ws, w)
    let set = this.byPrefix.get(prefix)
    if (!set) this.byPrefix.set(prefix, (set = new Set()))
    set.add(w)
    return w
  }

  private remove(w: Watcher): void {
    if (this.watchers.get(w.ws) !== w) return
    this.watchers.delete(w.ws)
    const set = this.byPrefix.get(w.prefix)
    set?.delete(w)
    if (set?.size === 0) this.byPrefix.delete(w.prefix)
  }

  /** Registers a socket from its attachment (after hibernation). */
  private adopt(ws: WebSocket): Watcher | undefined {
    const a = ws.deserializeAttachment() as Attachment | null
    if (!a || typeof a.p !== 'string') return undefined
    const w = this.add(ws, a.p, a.c === undefined, a.c ?? this.source.revision())
    w.saved = a.c
    return w
  }

  // The attachment changes only when a watcher goes live or stops to wait for acknowledgements, so a
  // live watcher costs no serialization per event.
  private save(w: Watcher): void {
    const c = w.live ? undefined : w.cursor
    if (w.saved === c) return
    const a: Attachment = c === undefined ? { p: w.prefix } : { p: w.prefix, c }
    try {
      w.ws.serializeAttachment(a)
      w.saved = c
    } catch {
      this.remove(w)
    }
  }
}

/** Events as messages of at most MAX_BATCH_EVENTS events and about MAX_BATCH_SIZE each, as a catch-up sends them. */
function frames(events: LogEvent[]): string[] {
  const out: string[] = []
  let start = 0
  let size = 0
  for (let i = 0; i < events.length; i++) {
    size += events[i]!.json.length
    if (i + 1 - start >= MAX_BATCH_EVENTS || size >= MAX_BATCH_SIZE || i === events.length - 1) {
      out.push(
        `{"t":"e","e":[${events
          .slice(start, i + 1)
          .map((e) => e.json)
          .join(',')}]}`,
      )
      start = i + 1
      size = 0
    }
  }
  return out
}

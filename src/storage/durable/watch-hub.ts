// Watch fan-out inside the ClusterStore: hibernatable WebSockets, each watching one key prefix.
//
// A watcher first catches up (from the ring of recent events, or the SQLite log when the ring no
// longer reaches back far enough), paced by the consumer's acknowledgements, then goes live and is sent
// each new event as it is committed. This is etcd's split of watchers into unsynced and synced groups
// (mvcc/watchable_store.go); a live watcher that lets WATCH_WINDOW pile up unacknowledged is closed,
// as kube-apiserver's cacher closes a watcher whose buffer stays full ("Forcing watcher close due to
// unresponsiveness").
//
// The DO may hibernate with sockets open: all state here is in memory, rebuilt from each socket's
// attachment ({p: prefix, c: cursor while catching up}) by restore() when the object wakes.
import type { StoreErrorCode } from '../store'
import {
  CLOSE_BAD_MESSAGE,
  CLOSE_ERROR,
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
  readLog(prefix: string, after: number, maxEvents: number, maxSize: number): { events: LogEvent[]; through: number }
}

interface Attachment {
  p: string
  c?: number
}

interface Watcher {
  ws: WebSocket
  prefix: string
  /** Live: sent each event as it is committed. Otherwise catching up from `cursor`. */
  live: boolean
  /** Every event up to this revision under the prefix has been sent (meaningful while catching up). */
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

  constructor(private readonly source: WatchSource) {
    this.ring = new EventRing(source.revision())
  }

  /** Rebuilds the index from the sockets that survived hibernation. */
  restore(sockets: WebSocket[]): void {
    for (const ws of sockets) this.adopt(ws)
  }

  get size(): number {
    return this.watchers.size
  }

  /** Starts a watcher on an accepted socket: events after `after` under `prefix`. */
  open(ws: WebSocket, prefix: string, after: number): void {
    if (after > this.source.revision()) return this.fail(ws, 'FutureRevision', this.source.revision())
    const w = this.add(ws, prefix, false, after)
    this.pump(w)
  }

  /** A committed write: into the ring, and to every live watcher whose prefix it is under. */
  publish(ev: LogEvent): void {
    this.ring.push(ev)
    let msg: string | undefined
    for (const [prefix, set] of this.byPrefix) {
      if (!ev.key.startsWith(prefix)) continue
      msg ??= `{"t":"e","e":[${ev.json}]}`
      for (const w of set) {
        if (!w.live) continue // it will read this event when it catches up
        if (w.pending >= WATCH_WINDOW) {
          this.close(w, CLOSE_SLOW, `watcher fell behind: ${w.pending} unacknowledged`)
        } else {
          this.send(w, msg)
        }
      }
    }
  }

  message(ws: WebSocket, data: string | ArrayBuffer): void {
    const w = this.watchers.get(ws) ?? this.adopt(ws)
    if (!w) return
    let msg: ClientMessage
    try {
      msg = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as ClientMessage
    } catch {
      return this.close(w, CLOSE_BAD_MESSAGE, 'malformed message')
    }
    if (msg.t === 'p') {
      // Everything up to the revision named has been sent already, and this reply goes after it.
      this.send(w, `{"t":"p","r":${w.live ? this.source.revision() : w.cursor}}`)
    } else if (msg.t === 'a' && Number.isFinite(msg.n)) {
      w.pending = Math.max(0, w.pending - msg.n)
      if (!w.live) this.pump(w)
    } else {
      this.close(w, CLOSE_BAD_MESSAGE, 'unknown message')
    }
  }

  /** The socket closed or failed: forget it at once. */
  closed(ws: WebSocket): void {
    const w = this.watchers.get(ws)
    if (w) this.remove(w)
  }

  // Sends what the watcher has not seen yet, from the ring or the log, until it is live or its window is full.
  private pump(w: Watcher): void {
    while (!w.live) {
      const compacted = this.source.compacted()
      if (w.cursor < compacted) return this.fail(w.ws, 'Compacted', compacted, w)
      if (w.pending >= WATCH_WINDOW) break
      const { events, through } = this.read(w.prefix, w.cursor)
      if (events.length > 0 && !this.send(w, `{"t":"e","e":[${events.map((e) => e.json).join(',')}]}`)) return
      w.cursor = through
      if (w.cursor >= this.source.revision()) w.live = true
    }
    this.save(w)
  }

  private read(prefix: string, after: number): { events: LogEvent[]; through: number } {
    if (!this.ring.covers(after)) return this.source.readLog(prefix, after, MAX_BATCH_EVENTS, MAX_BATCH_SIZE)
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

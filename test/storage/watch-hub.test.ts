// The watch hub and its ring with fake sockets: what workerd does not let a test force (hibernation,
// a ring that no longer reaches back), and the bookkeeping behind the fan-out.
import { describe, expect, it, vi } from 'vitest'
import {
  CLOSE_ERROR,
  CLOSE_RESTARTED,
  CLOSE_SLOW,
  MAX_BATCH_SIZE,
  WATCH_WINDOW,
  encodeEvent,
  type ServerMessage,
} from '../../src/storage/durable/protocol'
import { EventRing, type LogEvent } from '../../src/storage/durable/ring'
import { FANOUT_SLICE, WatchHub, type WatchSource } from '../../src/storage/durable/watch-hub'

class FakeSocket {
  sent: string[] = []
  closed?: { code: number; reason: string }
  attachment: unknown = null
  send(msg: string): void {
    if (this.closed) throw new Error('WebSocket closed')
    this.sent.push(msg)
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason }
  }
  serializeAttachment(a: unknown): void {
    this.attachment = structuredClone(a)
  }
  deserializeAttachment(): unknown {
    return structuredClone(this.attachment)
  }
  /** The messages received, parsed. */
  messages(): ServerMessage[] {
    return this.sent.map((m) => JSON.parse(m) as ServerMessage)
  }
  /** Revisions of the events received. */
  revisions(): number[] {
    return this.messages().flatMap((m) => (m.t === 'e' ? m.e.map((e) => e[0]) : []))
  }
}
const asWs = (s: FakeSocket) => s as unknown as WebSocket

/** An in-memory log standing in for the ClusterStore's SQLite. */
class FakeSource implements WatchSource {
  log: LogEvent[] = []
  rev = 1
  compactedRev = 0
  logReads = 0
  /** What the hub last recorded as the start of a pending fan-out (the ClusterStore keeps it in SQLite). */
  fanoutFrom = 0
  revision = () => this.rev
  compacted = () => this.compactedRev
  fanoutPending = (from: number) => {
    this.fanoutFrom = from
  }
  readLog(prefix: string, after: number, maxEvents: number, maxSize: number) {
    this.logReads++
    const events: LogEvent[] = []
    let size = 0
    for (const ev of this.log) {
      if (ev.rev <= after || !ev.key.startsWith(prefix)) continue
      events.push(ev)
      size += ev.json.length
      if (events.length >= maxEvents || size >= maxSize) return { events, through: ev.rev }
    }
    return { events, through: this.rev }
  }
  /** Commits a put of key=value and returns the event to publish. */
  write(key: string, value = 'v'): LogEvent {
    this.rev++
    const ev = {
      rev: this.rev,
      key,
      json: JSON.stringify(
        encodeEvent(
          { key, value, createRevision: this.rev, modRevision: this.rev, version: 1 },
          undefined,
          false,
        ),
      ),
    }
    this.log.push(ev)
    return ev
  }
}

/** The object's later turns, run when the test says (the hub's default is setTimeout). */
class Turns {
  queue: (() => void)[] = []
  defer = (fn: () => void) => void this.queue.push(fn)
  /** Runs one turn; false when none was pending. */
  one(): boolean {
    const fn = this.queue.shift()
    fn?.()
    return fn !== undefined
  }
  all(): number {
    let n = 0
    while (this.one()) n++
    return n
  }
}

/** A hub whose fan-out runs only when the test runs its turns (or calls flush()). */
function newHub(src: FakeSource, turns = new Turns()): WatchHub {
  return new WatchHub(src, turns.defer)
}

describe('EventRing', () => {
  const ev = (rev: number, size = 1): LogEvent => ({ rev, key: `/k${rev}`, json: 'x'.repeat(size) })

  it('serves the events after a revision while it reaches back that far', () => {
    const ring = new EventRing(10, 3)
    expect(ring.covers(10)).toBe(true)
    expect(ring.covers(9)).toBe(false)
    for (let r = 11; r <= 14; r++) ring.push(ev(r))
    expect(ring.length).toBe(3)
    expect(ring.covers(10)).toBe(false)
    expect(ring.covers(11)).toBe(true)
    expect([...ring.after(11)].map((e) => e.rev)).toEqual([12, 13, 14])
    expect([...ring.after(13)].map((e) => e.rev)).toEqual([14])
    expect(ring.covers(15)).toBe(false)
  })

  it('is bounded by size as well as by count', () => {
    const ring = new EventRing(0, 100, 10)
    ring.push(ev(1, 4))
    ring.push(ev(2, 4))
    ring.push(ev(3, 4))
    expect(ring.length).toBe(2)
    expect(ring.covers(0)).toBe(false)
    expect([...ring.after(1)].map((e) => e.rev)).toEqual([2, 3])
  })

  it('starts over rather than serve a gap', () => {
    const ring = new EventRing(0)
    ring.push(ev(1))
    ring.push(ev(5))
    expect(ring.covers(1)).toBe(false)
    expect([...ring.after(4)].map((e) => e.rev)).toEqual([5])
  })
})

describe('WatchHub', () => {
  it('sends each event to the live watchers of the prefixes it is under, reading no attachment', () => {
    const src = new FakeSource()
    const hub = newHub(src)
    const a = new FakeSocket()
    const ab = new FakeSocket()
    const all = new FakeSocket()
    hub.open(asWs(a), '/r/a/', 1)
    hub.open(asWs(ab), '/r/ab/', 1)
    hub.open(asWs(all), '/r/', 1)
    const reads = vi.spyOn(FakeSocket.prototype, 'deserializeAttachment')
    hub.publish(src.write('/r/a/x'))
    hub.publish(src.write('/r/ab/y'))
    hub.publish(src.write('/r/b/z'))
    hub.flush()
    expect(reads).not.toHaveBeenCalled()
    reads.mockRestore()
    expect(a.revisions()).toEqual([2])
    expect(ab.revisions()).toEqual([3])
    expect(all.revisions()).toEqual([2, 3, 4])
  })

  it('answers a progress request with the revision everything before it covers', () => {
    const src = new FakeSource()
    const hub = newHub(src)
    const s = new FakeSocket()
    hub.open(asWs(s), '/r/', 1)
    hub.publish(src.write('/r/a'))
    hub.publish(src.write('/other/b'))
    hub.flush()
    hub.message(asWs(s), '{"t":"p"}')
    expect(s.messages().at(-1)).toEqual({ t: 'p', r: 3 })
  })

  it('tells every live watcher its progress unasked (the compaction tick), so Worker-side bookmarks keep up', () => {
    const src = new FakeSource()
    const hub = newHub(src)
    const quiet = new FakeSocket()
    const busy = new FakeSocket()
    hub.open(asWs(quiet), '/r/quiet/', 1)
    hub.open(asWs(busy), '/r/busy/', 1)
    hub.publish(src.write('/r/busy/a'))
    hub.publish(src.write('/r/busy/b'))
    hub.flush()
    hub.progressAll()
    expect(quiet.messages()).toEqual([{ t: 'p', r: 3 }])
    expect(busy.messages().at(-1)).toEqual({ t: 'p', r: 3 })
  })

  it('replays from the log what the ring no longer holds', () => {
    const src = new FakeSource()
    for (let i = 0; i < 5; i++) src.write(`/r/${i}`) // committed before this hub's ring began
    const hub = newHub(src)
    hub.publish(src.write('/r/new'))
    const s = new FakeSocket()
    hub.open(asWs(s), '/r/', 2)
    expect(src.logReads).toBeGreaterThan(0)
    expect(s.revisions()).toEqual([3, 4, 5, 6, 7])
  })

  it('paces a catch-up by acknowledgements and closes a live watcher that stops acknowledging', () => {
    const src = new FakeSource()
    const hub = newHub(src)
    const big = 'x'.repeat(MAX_BATCH_SIZE)
    const n = Math.ceil((2 * WATCH_WINDOW) / MAX_BATCH_SIZE)
    for (let i = 0; i < n; i++) hub.publish(src.write(`/r/${i}`, big))
    const s = new FakeSocket()
    hub.open(asWs(s), '/r/', 1)
    const first = s.revisions().length
    expect(first).toBeLessThan(n)
    expect(s.attachment).toEqual({ p: '/r/', c: 1 + first })
    hub.publish(src.write('/r/during')) // not sent out of order while catching up
    expect(s.revisions().length).toBe(first)
    while (s.revisions().length < n + 1) {
      const before = s.revisions().length
      hub.message(asWs(s), JSON.stringify({ t: 'a', n: WATCH_WINDOW }))
      expect(s.revisions().length).toBeGreaterThan(before)
    }
    expect(s.revisions()).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 2))
    expect(s.attachment).toEqual({ p: '/r/' }) // live

    // Live now; without acknowledgements it gets the window's worth, then a close.
    for (let i = 0; !s.closed && i < 2 * n; i++) {
      hub.publish(src.write(`/r/live${i}`, big))
      hub.flush()
    }
    expect(s.closed?.code).toBe(CLOSE_SLOW)
    expect(s.messages().at(-1)).toMatchObject({ t: 'c', c: CLOSE_SLOW })
    expect(hub.size).toBe(0)
    // An acknowledgement already on its way does not bring the watcher back.
    s.closed = undefined
    const sent = s.sent.length
    hub.message(asWs(s), JSON.stringify({ t: 'a', n: WATCH_WINDOW }))
    hub.publish(src.write('/r/after'))
    hub.flush()
    expect(hub.size).toBe(0)
    expect(s.sent.length).toBe(sent)
  })

  it('fails a watcher whose cursor falls below the compacted revision while it catches up', () => {
    const src = new FakeSource()
    const hub = newHub(src)
    const big = 'x'.repeat(MAX_BATCH_SIZE)
    for (let i = 0; i < 12; i++) hub.publish(src.write(`/r/${i}`, big))
    const s = new FakeSocket()
    hub.open(asWs(s), '/r/', 1)
    src.compactedRev = src.rev
    hub.message(asWs(s), JSON.stringify({ t: 'a', n: WATCH_WINDOW }))
    expect(s.messages().at(-1)).toEqual({ t: 'x', c: 'Compacted', r: src.rev })
    expect(s.closed?.code).toBe(CLOSE_ERROR)
    expect(hub.size).toBe(0)
  })

  it('rebuilds its watchers from socket attachments after hibernation', () => {
    const src = new FakeSource()
    const before = newHub(src)
    const live = new FakeSocket()
    const parked = new FakeSocket()
    const big = 'x'.repeat(MAX_BATCH_SIZE)
    const n = Math.ceil((2 * WATCH_WINDOW) / MAX_BATCH_SIZE)
    for (let i = 0; i < n; i++) before.publish(src.write(`/r/${i}`, big))
    before.open(asWs(live), '/live/', src.rev)
    before.open(asWs(parked), '/r/', 1)
    const parkedAt = parked.revisions().length

    // Hibernation: the object's memory is gone; the sockets and their attachments are not.
    const after = newHub(src)
    after.restore([asWs(live), asWs(parked)])
    expect(after.size).toBe(2)
    after.publish(src.write('/live/x'))
    after.flush()
    expect(live.revisions()).toEqual([src.rev])
    expect(parked.revisions().length).toBe(parkedAt)
    for (let i = 0; i < 10 && parked.attachment && 'c' in (parked.attachment as object); i++) {
      after.message(asWs(parked), JSON.stringify({ t: 'a', n: WATCH_WINDOW }))
    }
    expect(parked.revisions()).toEqual(Array.from({ length: n }, (_, i) => i + 2))

    after.closed(asWs(live))
    after.publish(src.write('/live/y'))
    after.flush()
    expect(live.revisions()).toEqual([src.rev - 1])
    expect(after.size).toBe(1)
  })

  it('sends nothing inside the write: the fan-out runs on a later turn', () => {
    const src = new FakeSource()
    const turns = new Turns()
    const hub = newHub(src, turns)
    let publishing = false
    const sentDuringPublish: number[] = []
    const sockets = Array.from({ length: 3 }, () => {
      const s = new FakeSocket()
      const send = s.send.bind(s)
      s.send = (msg) => {
        if (publishing) sentDuringPublish.push(1)
        send(msg)
      }
      hub.open(asWs(s), '/r/', 1)
      return s
    })
    publishing = true
    hub.publish(src.write('/r/a'))
    publishing = false
    expect(sentDuringPublish).toEqual([])
    expect(sockets.map((s) => s.revisions())).toEqual([[], [], []])
    // Recorded with the write, so a restart before the fan-out knows it was pending.
    expect(src.fanoutFrom).toBe(2)
    turns.all()
    expect(sockets.map((s) => s.revisions())).toEqual([[2], [2], [2]])
    expect(src.fanoutFrom).toBe(0)
  })

  it('keeps each watcher in revision order, without gaps or repeats, across writes that land mid-pass', () => {
    const src = new FakeSource()
    const turns = new Turns()
    const hub = newHub(src, turns)
    const open = (prefix: string, after = src.rev) => {
      const s = new FakeSocket()
      hub.open(asWs(s), prefix, after)
      return s
    }
    // More watchers than one slice sends to, under two prefixes.
    const all = Array.from({ length: 2 * FANOUT_SLICE + 10 }, () => open('/r/'))
    const onlyA = Array.from({ length: 20 }, () => open('/r/a/'))
    const expectedAll: number[] = []
    const expectedA: number[] = []
    const write = (key: string) => {
      const ev = src.write(key)
      hub.publish(ev)
      expectedAll.push(ev.rev)
      if (key.startsWith('/r/a/')) expectedA.push(ev.rev)
    }
    write('/r/a/1')
    write('/r/b/1')
    expect(turns.one()).toBe(true) // one slice: some watchers have the first batch, the rest do not yet
    expect(all.filter((s) => s.revisions().length > 0).length).toBe(FANOUT_SLICE)
    const pending = all.find((s) => s.revisions().length === 0)!
    // Progress for a watcher the pass has not reached yet covers only what it was sent.
    hub.message(asWs(pending), '{"t":"p"}')
    expect(pending.messages().at(-1)).toEqual({ t: 'p', r: 1 })
    write('/r/a/2')
    write('/r/b/2')
    write('/r/a/3')
    // Opened mid-pass: it reads everything so far from the ring and must not get any of it twice.
    const late = open('/r/', 1)
    expect(late.revisions()).toEqual(expectedAll)
    expect(turns.one()).toBe(true)
    write('/r/b/3')
    expect(turns.all()).toBeGreaterThan(0)
    expect(hub.size).toBe(all.length + onlyA.length + 1)
    for (const s of [...all, late]) expect(s.revisions()).toEqual(expectedAll)
    for (const s of onlyA) expect(s.revisions()).toEqual(expectedA)
    // The writes that landed while the first pass was under way went out together in the second: one
    // message per watcher, not one per event.
    expect(
      all[0]!
        .messages()
        .filter((m) => m.t === 'e')
        .map((m) => (m.t === 'e' ? m.e.length : 0)),
    ).toEqual([2, 4])
    expect(src.fanoutFrom).toBe(0)
  })

  it('closes live watchers after a restart that cut a pending fan-out short, and keeps catching-up ones', () => {
    const src = new FakeSource()
    const big = 'x'.repeat(MAX_BATCH_SIZE)
    const n = Math.ceil((2 * WATCH_WINDOW) / MAX_BATCH_SIZE)
    const before = newHub(src, new Turns()) // its turns never run: the object goes away first
    for (let i = 0; i < n; i++) before.publish(src.write(`/r/${i}`, big))
    const live = new FakeSocket()
    const parked = new FakeSocket()
    before.open(asWs(live), '/live/', src.rev)
    before.open(asWs(parked), '/r/', 1)
    const parkedAt = parked.revisions().length
    before.publish(src.write('/live/lost'))
    expect(live.revisions()).toEqual([])
    expect(src.fanoutFrom).toBe(src.rev)

    const after = newHub(src)
    after.restore([asWs(live), asWs(parked)], src.fanoutFrom)
    expect(live.messages().at(-1)).toMatchObject({ t: 'c', c: CLOSE_RESTARTED })
    expect(live.closed?.code).toBe(CLOSE_RESTARTED)
    expect(live.attachment).toBeNull()
    expect(src.fanoutFrom).toBe(0)
    expect(after.size).toBe(1)
    // The watcher catching up resumes from its attachment and misses nothing.
    for (let i = 0; i < 10 && parked.attachment && 'c' in (parked.attachment as object); i++) {
      after.message(asWs(parked), JSON.stringify({ t: 'a', n: WATCH_WINDOW }))
    }
    expect(parked.revisions().length).toBeGreaterThan(parkedAt)
    expect(parked.revisions()).toEqual(Array.from({ length: n }, (_, i) => i + 2))
  })

  it('keeps live watchers across a restart when no fan-out was pending', () => {
    const src = new FakeSource()
    const before = newHub(src)
    const live = new FakeSocket()
    before.open(asWs(live), '/r/', 1)
    before.publish(src.write('/r/a'))
    before.flush()
    const after = newHub(src)
    after.restore([asWs(live)], src.fanoutFrom)
    expect(live.closed).toBeUndefined()
    after.publish(src.write('/r/b'))
    after.flush()
    expect(live.revisions()).toEqual([2, 3])
  })

  it('refuses a start revision in the future', () => {
    const src = new FakeSource()
    const hub = newHub(src)
    const s = new FakeSocket()
    hub.open(asWs(s), '/r/', 5)
    expect(s.messages()).toEqual([{ t: 'x', c: 'FutureRevision', r: 1 }])
    expect(s.closed?.code).toBe(CLOSE_ERROR)
    expect(hub.size).toBe(0)
  })
})

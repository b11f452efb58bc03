// The recent-events ring that feeds watchers without reading SQLite, the role of kube-apiserver's
// watch cache (cacher's watchCache, a cyclic buffer of the latest events).

/** A committed event: its revision, key, and its WireEvent already JSON-encoded (encoded once, sent to many). */
export interface LogEvent {
  rev: number
  key: string
  json: string
}

export const RING_EVENTS = 10_000
/** Values run to 1.5 MiB, so a count bound alone could hold gigabytes; a Durable Object has 128 MB. */
export const RING_SIZE = 32 * 1024 * 1024

/**
 * The latest events, contiguous in revision: every write makes exactly one event and one revision, so
 * the event at revision r sits at index r - first. Ends at `last`, the current revision.
 */
export class EventRing {
  private buf: (LogEvent | undefined)[] = []
  private start = 0
  private count = 0
  private size = 0

  constructor(
    private last: number,
    private readonly maxEvents = RING_EVENTS,
    private readonly maxSize = RING_SIZE,
  ) {}

  get length(): number {
    return this.count
  }

  push(ev: LogEvent): void {
    if (ev.rev !== this.last + 1) this.clear() // not contiguous: keep only what can be served correctly
    this.last = ev.rev
    while (
      this.count > 0 &&
      (this.count >= this.maxEvents || this.size + ev.json.length > this.maxSize)
    )
      this.dropOldest()
    const cap = Math.max(this.buf.length, 1)
    if (this.count === this.buf.length) this.grow(Math.min(cap * 2, this.maxEvents))
    this.buf[(this.start + this.count) % this.buf.length] = ev
    this.count++
    this.size += ev.json.length
  }

  /** Whether every event after `after` (up to the current revision) is in the ring. */
  covers(after: number): boolean {
    return after >= this.last - this.count && after <= this.last
  }

  /** Events after `after`, oldest first. Only valid when covers(after). */
  *after(after: number): IterableIterator<LogEvent> {
    const first = this.last - this.count + 1
    for (let i = Math.max(after + 1 - first, 0); i < this.count; i++)
      yield this.buf[(this.start + i) % this.buf.length]!
  }

  private dropOldest(): void {
    const ev = this.buf[this.start]!
    this.buf[this.start] = undefined
    this.start = (this.start + 1) % this.buf.length
    this.count--
    this.size -= ev.json.length
  }

  private grow(capacity: number): void {
    const next: (LogEvent | undefined)[] = new Array(Math.max(capacity, 1))
    for (let i = 0; i < this.count; i++) next[i] = this.buf[(this.start + i) % this.buf.length]
    this.buf = next
    this.start = 0
  }

  private clear(): void {
    this.buf = []
    this.start = 0
    this.count = 0
    this.size = 0
  }
}

// Progress of a long snapshot, restore or import on stderr: objects and bytes done, the rate, and an
// estimate of the time left from the count the snapshot's header gives.
export class Progress {
  private readonly started = Date.now()
  private last = 0
  count = 0
  bytes = 0

  constructor(
    private readonly what: string,
    private total: number | undefined,
    private readonly out: (line: string) => void = (l) => process.stderr.write(l + '\n'),
    private readonly everyMs = 1000,
  ) {}

  setTotal(total: number): void {
    this.total = total
  }

  add(count: number, bytes: number): void {
    this.count += count
    this.bytes += bytes
    const now = Date.now()
    if (now - this.last >= this.everyMs) {
      this.last = now
      this.out(this.line())
    }
  }

  /** The true totals, where the running figures were counted from the bytes going by. */
  settle(count: number, bytes?: number): void {
    this.count = count
    if (bytes !== undefined) this.bytes = bytes
  }

  done(): { seconds: number; objectsPerSecond: number; megabytesPerSecond: number } {
    this.out(this.line(true))
    const seconds = this.seconds()
    return {
      seconds,
      objectsPerSecond: this.count / seconds,
      megabytesPerSecond: this.bytes / 1e6 / seconds,
    }
  }

  private seconds(): number {
    return Math.max(0.001, (Date.now() - this.started) / 1000)
  }

  private line(final = false): string {
    const s = this.seconds()
    const rate = this.count / s
    const of = this.total !== undefined ? `/${this.total}` : ''
    let left = ''
    if (!final && this.total !== undefined && rate > 0 && this.count < this.total)
      left = `, about ${Math.ceil((this.total - this.count) / rate)} s left`
    return (
      `${this.what}: ${this.count}${of} objects, ${(this.bytes / 1e6).toFixed(1)} MB, ` +
      `${Math.round(rate)} objects/s, ${(this.bytes / 1e6 / s).toFixed(1)} MB/s` +
      (final ? ` in ${s.toFixed(1)} s` : left)
    )
  }
}

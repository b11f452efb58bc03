// The cluster's metric totals in the object's SQLite (migrations/0004_metrics.sql), and the gauges each
// Worker isolate last reported, in memory: a gauge is a current state that dies with its isolate, so it
// is kept only while the isolate keeps reporting (src/metrics/cluster.ts has the whole design).
import type { SeriesSample } from '../../metrics/registry'

type Row = {
  name: string
  labels: string
  value: number
  sum: number | null
  buckets: string | null
}

export class MetricsTable {
  private readonly gauges = new Map<string, { at: number; samples: SeriesSample[] }>()

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly ttlMs: number,
  ) {}

  /** Adds an isolate's counts to the totals in one transaction; replaces its gauges when it sends them. */
  record(isolate: string, counts: SeriesSample[], gauges: SeriesSample[] | null): void {
    const sql = this.storage.sql
    this.storage.transactionSync(() => {
      for (const c of counts) {
        const labels = JSON.stringify(c.labels)
        const row = sql
          .exec<Row>('SELECT * FROM metrics WHERE name = ? AND labels = ?', c.name, labels)
          .toArray()[0]
        const value = (row?.value ?? 0) + (c.value ?? 0)
        if (c.buckets) {
          const before: number[] = row?.buckets ? JSON.parse(row.buckets) : []
          const buckets = c.buckets.map((n, i) => n + (before[i] ?? 0))
          const sum = (row?.sum ?? 0) + (c.sum ?? 0)
          sql.exec(
            'INSERT OR REPLACE INTO metrics (name, labels, value, sum, buckets) VALUES (?, ?, ?, ?, ?)',
            c.name,
            labels,
            value,
            sum,
            JSON.stringify(buckets),
          )
        } else {
          sql.exec(
            'INSERT OR REPLACE INTO metrics (name, labels, value, sum, buckets) VALUES (?, ?, ?, NULL, NULL)',
            c.name,
            labels,
            value,
          )
        }
      }
    })
    if (gauges) {
      if (gauges.length) this.gauges.set(isolate, { at: Date.now(), samples: gauges })
      else this.gauges.delete(isolate)
    }
  }

  totals(): SeriesSample[] {
    return this.storage.sql
      .exec<Row>('SELECT * FROM metrics')
      .toArray()
      .map((r) => ({
        name: r.name,
        labels: JSON.parse(r.labels) as string[],
        value: r.value,
        ...(r.buckets ? { buckets: JSON.parse(r.buckets) as number[], sum: r.sum ?? 0 } : {}),
      }))
  }

  /** The gauges of the isolates heard from within the TTL (the registry adds them up). */
  liveGauges(): SeriesSample[] {
    const now = Date.now()
    const out: SeriesSample[] = []
    for (const [isolate, g] of this.gauges) {
      if (now - g.at > this.ttlMs) this.gauges.delete(isolate)
      else out.push(...g.samples)
    }
    return out
  }
}

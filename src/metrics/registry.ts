// A small Prometheus registry that runs on workerd and Node alike (prom-client needs Node built-ins):
// counters, gauges and histograms with label vectors, rendered in the text exposition format 0.0.4 the
// way k8s.io/component-base/metrics does it (the stability level leads the HELP text: "[STABLE] ...").
//
// Counters and histograms are additive, so a registry can hand over what it counted since the last
// time (drain) and another can add it (merge): that is how an edge isolate's counts reach the cluster's
// Durable Object (src/metrics/cluster.ts). Gauges are a current state, never drained.

export type StabilityLevel = 'ALPHA' | 'BETA' | 'STABLE'
export type MetricType = 'counter' | 'gauge' | 'histogram'

export interface MetricOpts {
  name: string
  help: string
  stability: StabilityLevel
  labelNames: readonly string[]
}

/** One series as it crosses isolates: a counter's or gauge's value, or a histogram's per-bucket counts. */
export interface SeriesSample {
  name: string
  labels: string[]
  value?: number
  /** Non-cumulative counts per bucket, the last one +Inf. */
  buckets?: number[]
  sum?: number
}

interface Series {
  labels: string[]
  value: number
  buckets?: number[]
  sum?: number
}

abstract class Metric {
  abstract readonly type: MetricType
  protected readonly series = new Map<string, Series>()

  constructor(readonly opts: MetricOpts) {}

  get name(): string {
    return this.opts.name
  }

  protected at(labels: readonly string[]): Series {
    if (labels.length !== this.opts.labelNames.length) {
      throw new Error(
        `${this.name}: ${labels.length} label values for ${this.opts.labelNames.length} labels`,
      )
    }
    const key = labels.join('\u0000')
    let s = this.series.get(key)
    if (!s) {
      s = this.fresh([...labels])
      this.series.set(key, s)
    }
    return s
  }

  protected fresh(labels: string[]): Series {
    return { labels, value: 0 }
  }

  samples(): SeriesSample[] {
    return [...this.series.values()].map((s) => ({
      name: this.name,
      labels: s.labels,
      value: s.value,
      ...(s.buckets ? { buckets: [...s.buckets], sum: s.sum } : {}),
    }))
  }

  reset(): void {
    this.series.clear()
  }
}

export class Counter extends Metric {
  readonly type = 'counter'

  inc(labels: readonly string[] = [], by = 1): void {
    this.at(labels).value += by
  }

  add(sample: SeriesSample): void {
    this.at(sample.labels).value += sample.value ?? 0
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge'

  set(labels: readonly string[], value: number): void {
    this.at(labels).value = value
  }

  inc(labels: readonly string[] = [], by = 1): void {
    this.at(labels).value += by
  }

  dec(labels: readonly string[] = [], by = 1): void {
    this.at(labels).value -= by
  }

  add(sample: SeriesSample): void {
    this.at(sample.labels).value += sample.value ?? 0
  }
}

export class Histogram extends Metric {
  readonly type = 'histogram'

  constructor(
    opts: MetricOpts,
    readonly buckets: readonly number[],
  ) {
    super(opts)
  }

  protected override fresh(labels: string[]): Series {
    return { labels, value: 0, buckets: new Array(this.buckets.length + 1).fill(0), sum: 0 }
  }

  observe(labels: readonly string[], v: number): void {
    const s = this.at(labels)
    let i = 0
    while (i < this.buckets.length && v > this.buckets[i]!) i++
    s.buckets![i]!++
    s.sum! += v
    s.value++
  }

  add(sample: SeriesSample): void {
    const s = this.at(sample.labels)
    const b = sample.buckets ?? []
    for (let i = 0; i < s.buckets!.length; i++) s.buckets![i]! += b[i] ?? 0
    s.sum! += sample.sum ?? 0
    s.value += sample.value ?? 0
  }
}

/** k8s.io/component-base/metrics ExponentialBuckets. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i)
}

export class Registry {
  private readonly metrics = new Map<string, Counter | Gauge | Histogram>()

  register<M extends Counter | Gauge | Histogram>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`)
    this.metrics.set(m.name, m)
    return m
  }

  get(name: string): Counter | Gauge | Histogram | undefined {
    return this.metrics.get(name)
  }

  all(): (Counter | Gauge | Histogram)[] {
    return [...this.metrics.values()]
  }

  /** What the counters and histograms counted since the last drain; they start again from zero. */
  drain(): SeriesSample[] {
    const out: SeriesSample[] = []
    for (const m of this.metrics.values()) {
      if (m.type === 'gauge') continue
      out.push(...m.samples())
      m.reset()
    }
    return out
  }

  /** Adds samples to the series of the same name and labels (metrics this registry does not know are dropped). */
  merge(samples: readonly SeriesSample[]): void {
    for (const s of samples) this.metrics.get(s.name)?.add(s)
  }

  /** A copy with the same definitions and no values, to merge into at scrape time. */
  emptyCopy(): Registry {
    const r = new Registry()
    for (const m of this.metrics.values()) {
      if (m instanceof Histogram) r.register(new Histogram(m.opts, m.buckets))
      else if (m instanceof Counter) r.register(new Counter(m.opts))
      else r.register(new Gauge(m.opts))
    }
    return r
  }

  /** The text exposition format, metrics in name order, as the Go client writes it. */
  render(only?: (m: Metric) => boolean): string {
    const lines: string[] = []
    const metrics = [...this.metrics.values()].filter((m) => !only || only(m))
    metrics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const m of metrics) {
      const samples = m.samples()
      // component-base registers lazily: a vector nobody has touched is not exposed at all.
      if (samples.length === 0) continue
      lines.push(`# HELP ${m.name} [${m.opts.stability}] ${escapeHelp(m.opts.help)}`)
      lines.push(`# TYPE ${m.name} ${m.type}`)
      samples.sort((a, b) => compareLabels(a.labels, b.labels))
      for (const s of samples) {
        if (m instanceof Histogram) {
          let cumulative = 0
          m.buckets.forEach((le, i) => {
            cumulative += s.buckets![i]!
            lines.push(
              `${m.name}_bucket${labelText(m.opts.labelNames, s.labels, ['le', formatValue(le)])} ${cumulative}`,
            )
          })
          cumulative += s.buckets![m.buckets.length]!
          lines.push(
            `${m.name}_bucket${labelText(m.opts.labelNames, s.labels, ['le', '+Inf'])} ${cumulative}`,
          )
          lines.push(
            `${m.name}_sum${labelText(m.opts.labelNames, s.labels)} ${formatValue(s.sum!)}`,
          )
          lines.push(`${m.name}_count${labelText(m.opts.labelNames, s.labels)} ${cumulative}`)
        } else {
          lines.push(`${m.name}${labelText(m.opts.labelNames, s.labels)} ${formatValue(s.value!)}`)
        }
      }
    }
    return lines.length ? lines.join('\n') + '\n' : ''
  }
}

function compareLabels(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  return 0
}

/** Label pairs in name order, as the Go client writes them; a histogram's le last. */
function labelText(
  names: readonly string[],
  values: readonly string[],
  extra?: [string, string],
): string {
  const parts = names
    .map((n, i) => [n, values[i]!] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([n, v]) => `${n}="${escapeLabel(v)}"`)
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

/**
 * Go's strconv.FormatFloat(v, 'g', -1, 64), which the Prometheus Go client prints values with: the
 * shortest digits, in exponent form below 1e-4 or from 1e+06 on (1e+06, 0.005, 1.5e-05, +Inf).
 */
export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  if (Number.isNaN(v)) return 'NaN'
  if (v === 0) return '0'
  const [mantissa, e] = v.toExponential().split('e') as [string, string]
  const exp = Number(e)
  if (exp < -4 || exp >= 6)
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  return String(v)
}

// Load: autocannon for HTTP (fixed connections, keep-alive), and a fixed-concurrency loop for what is not
// one HTTP request (a paginated LIST walk, etcd client calls). Both record every latency in fractional
// milliseconds (autocannon's own histogram rounds to whole ms), warm up first, and report the median of
// several timed runs.
import autocannon from 'autocannon'

export function percentile(sorted, p) {
  if (!sorted.length) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function median(xs) {
  const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = Math.floor(v.length / 2)
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

function summarize(latencies, ok, failed, elapsedS, extra = {}) {
  latencies.sort((a, b) => a - b)
  return {
    ops: ok,
    failed,
    seconds: elapsedS,
    rps: ok / elapsedS,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...extra,
  }
}

/**
 * One autocannon run. spec: {url, connections, durationS | amount, method, path, headers, body, requests,
 * perClient(i) → requests of client i, timeoutS}. Returns {ops, failed, rps, p50, p99, statuses}.
 */
export async function cannon(spec) {
  const latencies = []
  const statuses = {}
  let ok = 0
  let failed = 0
  const opts = {
    url: spec.url,
    connections: spec.connections,
    method: spec.method ?? 'GET',
    headers: spec.headers ?? {},
    timeout: spec.timeoutS ?? 60,
    bailout: undefined,
    excludeErrorStats: false,
  }
  if (spec.path) opts.url = spec.url + spec.path
  if (spec.body !== undefined) opts.body = spec.body
  if (spec.requests) opts.requests = spec.requests
  if (spec.perClient) {
    // autocannon clears a request's context each time a client starts its list of requests over, so
    // what a client must keep (the object it owns, its place in a paginated walk) lives in a closure
    let index = 0
    opts.setupClient = (client) => client.setRequests(spec.perClient(index++))
  }
  if (spec.amount) opts.amount = spec.amount
  else opts.duration = spec.durationS
  const t0 = performance.now()
  const instance = autocannon(opts)
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    statuses[statusCode] = (statusCode in statuses ? statuses[statusCode] : 0) + 1
    if (statusCode >= 200 && statusCode < 300) {
      ok++
      latencies.push(responseTime)
    } else {
      failed++
    }
  })
  const result = await instance
  const elapsedS = (performance.now() - t0) / 1000
  failed += result.errors + result.timeouts
  return summarize(latencies, ok, failed, elapsedS, { statuses, errors: result.errors, timeouts: result.timeouts })
}

/** op() is one operation (a promise); `concurrency` loops run it for durationS (or `amount` ops in all). */
export async function loop({ concurrency, durationS, amount, op }) {
  const latencies = []
  let ok = 0
  let failed = 0
  let firstError
  let issued = 0
  const t0 = performance.now()
  const deadline = t0 + (durationS ?? Infinity) * 1000
  const worker = async (w) => {
    while (performance.now() < deadline && (amount == null || issued < amount)) {
      const i = issued++
      const s = performance.now()
      try {
        await op(w, i)
        latencies.push(performance.now() - s)
        ok++
      } catch (err) {
        failed++
        firstError ??= String(err?.message ?? err).slice(0, 300)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)))
  const elapsedS = (performance.now() - t0) / 1000
  return summarize(latencies, ok, failed, elapsedS, firstError ? { firstError } : {})
}

/**
 * A warm-up run (not reported), then `runs` timed runs of run(durationS); the figures are the medians
 * of the runs, each run kept in `runs`.
 */
export async function measure(run, { warmupS, durationS, runs, minOps = 8, maxDurationS = 15 }) {
  // A run counts only what completes within it: an operation slower than the run (a LIST of 10,000 on a
  // busy machine) would give no figure at all. So each run lasts long enough for about minOps operations
  // at the warm-up's rate (at most maxDurationS).
  let d = durationS
  if (warmupS > 0) {
    const w = await run(warmupS, true)
    const rate = w?.rateHint || Math.max(w?.ops ?? 0, 0.5) / Math.max(w?.seconds ?? warmupS, warmupS)
    if (w && rate * durationS < minOps) d = Math.min(maxDurationS, Math.max(durationS, minOps / rate))
  }
  const results = []
  for (let i = 0; i < runs; i++) results.push(await run(d, false))
  return {
    durationS: d,
    cpuMsPerOp: medianCpu(results),
    rps: median(results.map((r) => r.rps)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    ops: results.reduce((a, r) => a + r.ops, 0),
    failed: results.reduce((a, r) => a + r.failed, 0),
    runs: results,
  }
}

/** The median, part by part, of runs' server CPU ms per operation ({server, worker, proxy, etcd, ...}). */
export function medianCpu(runs) {
  const parts = new Set(runs.flatMap((r) => Object.keys(r?.cpuMsPerOp ?? {})))
  if (!parts.size) return undefined
  return Object.fromEntries([...parts].map((k) => [k, median(runs.map((r) => r?.cpuMsPerOp?.[k]))]))
}

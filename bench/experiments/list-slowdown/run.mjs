// Does the edge's LIST of 10,000 ConfigMaps slow down after LISTs of 1,000, as in the bench (README.md
// here)? `npm start`, two namespaces of 1,000 and 10,000 ConfigMaps, LISTs sent straight to the user
// Worker in rounds, and the isolate's JS heap after each phase, read through wrangler dev's inspector.
//   node bench/experiments/list-slowdown/run.mjs
//   CONC=n: clients of the LIST of 10,000 (1)   ROUNDS=n (3)   GC=1: a full GC after each phase
//   HEAP=0: no heap read, no inspector attached   FIRST_PAGES=1: first pages of 100 instead of paged walks
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { directTarget, startEdge } from '../../lib/servers.mjs'
import { Client, forEachConcurrent } from '../../lib/http.mjs'
import { workerInspector } from '../../lib/inspector.mjs'
import { installCleanup, sleep } from '../../lib/procs.mjs'
installCleanup()

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)))
const CONC = Number(process.env.CONC ?? 1)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const GC = !!process.env.GC
const HEAP = process.env.HEAP !== '0'

const srv = await startEdge(root)
let direct
for (let i = 0; i < 100 && !(direct = directTarget(srv.stateDir)); i++) await sleep(100)
const d = new Client(direct.url, { maxSockets: 16 })
const h = { ...direct.headers, authorization: `Bearer ${srv.token}` }
const cm = (name, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { key: `value-${i}` } })
for (const [ns, n] of [['a', 1000], ['b', 10000]]) {
  await d.must('POST', '/api/v1/namespaces', { headers: h, body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } })
  await forEachConcurrent(n, 16, (i) => d.must('POST', `/api/v1/namespaces/${ns}/configmaps`, { headers: h, body: cm(`cm-${String(i).padStart(5, '0')}`, i) }))
}

/** One DevTools call to the API server's isolate, on a connection of its own. */
async function inspect(method) {
  const insp = await workerInspector(srv, { timeoutMs: 30_000 })
  try {
    return await insp.call(method)
  } finally {
    insp.close()
  }
}
async function heap() {
  if (!HEAP) return ''
  if (GC) await inspect('HeapProfiler.collectGarbage')
  const u = await inspect('Runtime.getHeapUsage')
  return `heap ${(u.usedSize / 2 ** 20).toFixed(0)} MiB used of ${(u.totalSize / 2 ** 20).toFixed(0)}${GC ? ' after a full GC' : ''}`
}

const pct = (xs, p) => xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]
async function phase(name, n, conc, request) {
  const ms = []
  const t0 = performance.now()
  await forEachConcurrent(n, conc, async () => {
    const t = performance.now()
    await request()
    ms.push(performance.now() - t)
  })
  const s = (performance.now() - t0) / 1000
  console.log(`${name}: ${(n / s).toFixed(1)}/s, p50 ${pct(ms, 50).toFixed(0)} p99 ${pct(ms, 99).toFixed(0)} ms; ${await heap()}`)
}
const list = (ns) => () => d.must('GET', `/api/v1/namespaces/${ns}/configmaps`, { headers: h })
async function walk() {
  let cont = ''
  do {
    const q = `limit=100${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`
    cont = (await d.must('GET', `/api/v1/namespaces/a/configmaps?${q}`, { headers: h })).json().metadata.continue
  } while (cont)
}

console.log(`start: ${await heap()}`)
await phase('LIST 10,000', 40, CONC, list('b'))
for (let r = 0; r < ROUNDS; r++) {
  await phase('LIST 1,000', 600, 4, list('a'))
  if (process.env.FIRST_PAGES) await phase('first pages only (limit=100)', 300, 1, () => d.must('GET', '/api/v1/namespaces/a/configmaps?limit=100', { headers: h }))
  else await phase('paged walks of 1,000 (limit=100)', 30, 1, walk)
  await phase('LIST 10,000', 40, CONC, list('b'))
}
await srv.proc.stop()
process.exit(0)

// The testing scenario's own process (bench/lib/testing.mjs forks it): edge-apiserver/testing used as a
// test suite uses it, so that its process tree (Node and workerd) is the library's alone. Prints one JSON
// line: the figures.
import { request } from 'node:https'
import { Agent } from 'node:https'
import { treeRss } from './procs.mjs'

const p = JSON.parse(process.argv[2])
const { start } = await import(p.dist)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const sorted = (xs) => [...xs].sort((a, b) => a - b)
const pct = (xs, q) => {
  const s = sorted(xs)
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))] : null
}

/** One GET as the default cluster's admin: its status. */
function get(url, ca, token, path, agent) {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { ca, agent, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', reject)
    req.end()
  })
}

const out = {}
const t0 = performance.now()
const server = await start()
out.startMs = performance.now() - t0
const agent = new Agent({ keepAlive: true, ca: server.caCert })
const status = await get(server.url, server.caCert, server.token, '/api/v1/namespaces/default', agent)
if (status !== 200) throw new Error(`first GET answered ${status}`)
out.startToFirstAnswerMs = performance.now() - t0
out.rssAfterStartMB = treeRss(process.pid).total / 2 ** 20

const firstAnswer = async (c) => {
  const a = await c.client.request('GET', '/api/v1/namespaces/default')
  if (a.status !== 200) throw new Error(`${c.name}: first GET answered ${a.status}: ${a.body}`)
}

// The first cluster of a runtime (its isolate's first tenant, the bundle's first provisioning).
let t = performance.now()
const first = await server.newCluster()
await firstAnswer(first)
out.firstClusterMs = performance.now() - t
await first.dispose()
for (let i = 0; i < p.warm; i++) {
  const c = await server.newCluster()
  await firstAnswer(c)
  await c.dispose()
}

// New cluster to its first answer, one after the other (a beforeEach), each kept (idle) for memory.
const kept = []
const ready = []
const total = []
await sleep(500)
const rss0 = treeRss(process.pid)
for (let i = 0; i < p.n; i++) {
  t = performance.now()
  const c = await server.newCluster()
  ready.push(performance.now() - t)
  await firstAnswer(c)
  total.push(performance.now() - t)
  kept.push(c)
}
await sleep(1000)
const rss1 = treeRss(process.pid)
out.newCluster = {
  n: p.n,
  readyP50: pct(ready, 50),
  p50: pct(total, 50),
  p99: pct(total, 99),
  max: pct(total, 100),
}
out.memory = {
  clusters: p.n,
  perClusterKB: (rss1.total - rss0.total) / p.n / 1024,
  workerdPerClusterKB: ((rss1.byComm.workerd ?? 0) - (rss0.byComm.workerd ?? 0)) / p.n / 1024,
  beforeMB: rss0.total / 2 ** 20,
  afterMB: rss1.total / 2 ** 20,
}

// reset(): a cluster with some objects back to a new one's state.
const resets = []
const r = kept[0]
for (let i = 0; i < p.resets; i++) {
  for (let j = 0; j < 10; j++)
    await r.client.json('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `cm-${j}` } })
  t = performance.now()
  await r.reset()
  resets.push(performance.now() - t)
}
out.reset = { n: p.resets, p50: pct(resets, 50), max: pct(resets, 100) }

// dispose(), one after the other.
const disposals = []
for (const c of kept.splice(0)) {
  t = performance.now()
  await c.dispose()
  disposals.push(performance.now() - t)
}
out.dispose = { p50: pct(disposals, 50), max: pct(disposals, 100) }

// Clusters made per second, `concurrency` at a time.
const made = []
let next = 0
t = performance.now()
await Promise.all(
  Array.from({ length: p.concurrency }, async () => {
    while (next < p.burst) {
      next++
      made.push(await server.newCluster())
    }
  }),
)
const burstS = (performance.now() - t) / 1000
out.throughput = { clusters: made.length, concurrency: p.concurrency, perSecond: made.length / burstS }
for (const c of made) await c.dispose()

agent.destroy()
await server.dispose()
console.log(JSON.stringify(out))

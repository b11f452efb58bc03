// node bench/profile-edge.mjs: the user Worker's CPU per operation and a CPU profile of its isolate (the
// API server's Worker and the ClusterStore object share it) under a GET or create load sent straight to
// workerd (no dev proxy), as the bench's "direct to workerd" rows. Prints workerd's CPU ms per operation
// (from /proc) with and without the profiler, and the functions with the most self and total time.
//   OPS=get,create (get1, create1: on the first cluster only) N=3000 CONCURRENCY=16 CLUSTERS=0 PROFILE=1 TOP=40 node bench/profile-edge.mjs
// OPS=list LIST=10000: LISTs of a namespace seeded with that many ConfigMaps (N is then the number of LISTs).
// N_<OP>=n (N_LIST=40, N_GET=20000) sets N for one operation.
// FLOOR=1 first runs the same GET load against bench/store's /get-one (a bare route and one RPC get of the
// object: the least an edge GET costs) and prints its workerd CPU per request.
// OPS=patch WATCHERS=1000: merge patches of a ConfigMap that many watches follow (each op's CPU includes its fan-out).
// PACE=R sends R requests a second, one at a time, instead. CLUSTERS=K spreads the GETs round robin over K clusters made through the management API (the
// "clusters" bench's load); PROFILE_ROOT=<dir> runs another checkout (a `git archive` of a commit, with
// node_modules linked in: wrangler dev reloads on edits, so do not edit the tree it runs meanwhile).
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { directTarget, startEdge, startWranglerWorker } from './lib/servers.mjs'
import { Client, forEachConcurrent } from './lib/http.mjs'
import { workerInspector } from './lib/inspector.mjs'
import { installCleanup, processCpuMs, sleep, treeMembers } from './lib/procs.mjs'
installCleanup()

const root = resolve(process.env.PROFILE_ROOT ?? join(fileURLToPath(new URL('.', import.meta.url)), '..'))
const OPS = (process.env.OPS ?? 'get,create').split(',')
const N = Number(process.env.N ?? 3000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
const CLUSTERS = Number(process.env.CLUSTERS ?? 0)
const PROFILE = process.env.PROFILE !== '0'
const TOP = Number(process.env.TOP ?? 40)
const PACE = Number(process.env.PACE ?? 0)

async function directOf(srv) {
  let direct
  for (let i = 0; i < 100 && !(direct = directTarget(srv.stateDir)); i++) await sleep(100)
  if (!direct) throw new Error('the user Worker address was not found in the wrangler log')
  return direct
}
const workerPid = (srv) => {
  for (const m of treeMembers(srv.proc.pid)) {
    if (m.comm !== 'workerd') continue
    const cmd = execFileSync('cat', [`/proc/${m.pid}/cmdline`]).toString()
    if (/entry=127\.0\.0\.1:0(\0|$)/.test(cmd)) return m.pid
  }
  throw new Error('no user workerd')
}

if (process.env.FLOOR) {
  const store = await startWranglerWorker(root, join(root, 'bench', 'store', 'wrangler.toml'), 'store')
  const sd = await directOf(store)
  const sc = new Client(sd.url, { maxSockets: CONCURRENCY, headers: sd.headers })
  await sc.must('GET', '/loop?where=inside&op=create&n=1&run=floor')
  const spid = workerPid(store)
  const get = () => sc.must('GET', '/get-one?run=floor')
  await forEachConcurrent(Math.min(N, 500), CONCURRENCY, get)
  const cpu0 = processCpuMs(spid)
  const t0 = performance.now()
  await forEachConcurrent(N, CONCURRENCY, get)
  const s = (performance.now() - t0) / 1000
  console.log(`floor (a bare route and one RPC get): workerd CPU ${((processCpuMs(spid) - cpu0) / N).toFixed(3)} ms/op, ${(N / s).toFixed(0)}/s`)
  sc.close()
  await store.proc.stop()
}

const srv = await startEdge(root)
const c = srv.client
const direct = await directOf(srv)
const d = new Client(direct.url, { maxSockets: CONCURRENCY })
const dh = direct.headers
const pid = workerPid(srv)

// Setup: a namespace with one ConfigMap in each cluster the load visits, with that cluster's admin token.
const cm = (name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { key: 'value' } })
const targets = [{ prefix: '', token: srv.token }]
if (CLUSTERS > 0) {
  targets.length = 0
  await forEachConcurrent(CLUSTERS, 8, async (i) => {
    const name = `p${i}`
    await c.must('POST', '/apis/tenancy.edge-apiserver.dev/v1alpha1/clusters', {
      body: { apiVersion: 'tenancy.edge-apiserver.dev/v1alpha1', kind: 'Cluster', metadata: { name } },
    })
    for (let t = 0; ; t++) {
      const r = await c.request('GET', `/apis/tenancy.edge-apiserver.dev/v1alpha1/clusters/${name}`)
      const ready = r.status === 200 && r.json().status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')
      if (ready) break
      if (t > 600) throw new Error(`cluster ${name} not Ready`)
      await sleep(100)
    }
    const res = await c.must('GET', `/api/v1/namespaces/kube-system/secrets/cluster-${name}-admin-kubeconfig`)
    const kubeconfig = Buffer.from(res.json().data.kubeconfig, 'base64').toString('utf8')
    targets[i] = { prefix: `/clusters/${name}`, token: /token:\s*(\S+)/.exec(kubeconfig)[1].replace(/^"|"$/g, '') }
  })
}
const as = (t) => ({ ...dh, authorization: `Bearer ${t.token}` })
await forEachConcurrent(targets.length, 8, async (i) => {
  const t = targets[i]
  await d.must('POST', `${t.prefix}/api/v1/namespaces`, { headers: as(t), body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prof' } } }, [201, 409])
  await d.must('POST', `${t.prefix}/api/v1/namespaces/prof/configmaps`, { headers: as(t), body: cm('cm-0') }, [201, 409])
})

const LIST = Number(process.env.LIST ?? 0)
if (LIST) {
  const t = targets[0]
  await d.must('POST', `${t.prefix}/api/v1/namespaces`, { headers: as(t), body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prof-list' } } }, [201, 409])
  await forEachConcurrent(LIST, 16, (i) => d.must('POST', `${t.prefix}/api/v1/namespaces/prof-list/configmaps`, { headers: as(t), body: cm(`l-${i}`) }, [201, 409]))
}

let seq = 0
const at = (i) => targets[i % targets.length]
const ops = {
  get: (i) => d.must('GET', `${at(i).prefix}/api/v1/namespaces/prof/configmaps/cm-0`, { headers: as(at(i)) }),
  create: (i) => d.must('POST', `${at(i).prefix}/api/v1/namespaces/prof/configmaps`, { headers: as(at(i)), body: cm(`c-${seq++}`) }, [201]),
  list: () => d.must('GET', `${at(0).prefix}/api/v1/namespaces/prof-list/configmaps`, { headers: as(at(0)) }),
  // the same LIST through npm start's front and wrangler dev's proxy Worker
  'list-front': () => c.must('GET', '/api/v1/namespaces/prof-list/configmaps'),
  // the same on the first cluster only (next to a load spread over CLUSTERS)
  get1: () => ops.get(0),
  create1: () => ops.create(0),
  // a merge patch of the ConfigMap WATCHERS watches follow: its CPU includes sending the event to each
  patch: (i) => d.must('PATCH', `${at(0).prefix}/api/v1/namespaces/prof/configmaps/cm-0`, { headers: { ...as(at(0)), 'content-type': 'application/merge-patch+json' }, body: { data: { key: `v${i}` } } }),
}

// WATCHERS=N: that many watches of the first cluster's ConfigMaps, open for the whole run (read and dropped).
const WATCHERS = Number(process.env.WATCHERS ?? 0)
/** The isolate's JS heap after a full GC (bytes), and the user workerd's RSS (KiB). */
async function memory() {
  const insp = await workerInspector(srv)
  await insp.call('HeapProfiler.collectGarbage')
  const { usedSize } = await insp.call('Runtime.getHeapUsage')
  insp.close()
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
  return { heap: usedSize, rss }
}
if (WATCHERS) {
  const before = await memory()
  const { Agent, request } = await import('node:http')
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity })
  const base = new URL(direct.url)
  await forEachConcurrent(WATCHERS, 64, () => new Promise((res, rej) => {
    const r = request({ host: base.hostname, port: base.port, path: `${at(0).prefix}/api/v1/namespaces/prof/configmaps?watch=true&resourceVersion=0&allowWatchBookmarks=true`, headers: as(at(0)), agent }, (x) => {
      if (x.statusCode !== 200) rej(new Error(`watch: HTTP ${x.statusCode}`))
      x.on('data', () => {})
      res()
    })
    r.on('error', rej)
    r.end()
  }))
  await sleep(2000)
  const after = await memory()
  console.log(`${WATCHERS} watches open: per watch ${((after.heap - before.heap) / WATCHERS / 1024).toFixed(1)} KiB of the isolate's JS heap (after a full GC), ${((after.rss - before.rss) / WATCHERS).toFixed(1)} KiB of the user workerd's RSS`)
}

async function run(op, n) {
  const cpu0 = processCpuMs(pid)
  const t0 = performance.now()
  if (PACE) {
    // one at a time, PACE a second: over K clusters each is visited every K / PACE s (a rarely used one)
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / PACE
      if (due > performance.now()) await sleep(due - performance.now())
      await ops[op](i)
    }
  } else await forEachConcurrent(n, CONCURRENCY, ops[op])
  const s = (performance.now() - t0) / 1000
  return { cpuPerOp: (processCpuMs(pid) - cpu0) / n, rate: n / s }
}

// The module of each line of wrangler's bundle (esbuild marks each with a `// src/...` comment).
function bundleModules() {
  const dir = join(root, '.wrangler', 'tmp')
  let newest
  for (const e of readdirSync(dir)) {
    const f = join(dir, e, 'worker.js')
    try {
      const m = statSync(f).mtimeMs
      if (!newest || m > newest.m) newest = { f, m }
    } catch { /* not a dev bundle */ }
  }
  const modules = []
  if (!newest) return modules
  let current = ''
  const text = readFileSync(newest.f, 'utf8')
  writeFileSync(join(srv.stateDir, 'worker.js'), text) // the profile's line numbers are this file's
  for (const l of text.split('\n')) {
    const m = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(l)
    if (m) current = m[1].replace(/^node_modules\//, '')
    modules.push(current)
  }
  return modules
}

function summarize(profile) {
  const modules = bundleModules()
  const byId = new Map(profile.nodes.map((x) => [x.id, x]))
  const parent = new Map()
  for (const x of profile.nodes) for (const ch of x.children ?? []) parent.set(ch, x.id)
  const label = (x) => {
    const f = x.callFrame
    const mod = f.url.endsWith('worker.js') ? modules[f.lineNumber] : undefined
    const at = mod ? `${mod}` : f.url.replace(/^.*\//, '')
    return `${f.functionName || '(anonymous)'} ${at}:${f.lineNumber + 1}`
  }
  const self = new Map()
  const total = new Map()
  const dt = profile.timeDeltas
  let all = 0
  profile.samples.forEach((sid, i) => {
    const w = dt[i] ?? 0
    all += w
    const x = byId.get(sid)
    const l = label(x)
    self.set(l, (self.get(l) ?? 0) + w)
    const seen = new Set()
    for (let id = sid; id !== undefined; id = parent.get(id)) {
      const ll = label(byId.get(id))
      if (seen.has(ll)) continue
      seen.add(ll)
      total.set(ll, (total.get(ll) ?? 0) + w)
    }
  })
  const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([l, v]) => `${((100 * v) / all).toFixed(1).padStart(5)}%  ${l}`).join('\n')
  return `self:\n${top(self)}\n\ntotal:\n${top(total)}`
}

for (const op of OPS) {
  const n = Number(process.env[`N_${op.toUpperCase().replace(/-/g, '_')}`] ?? N) // N_LIST=40: per op
  await run(op, Math.min(n, op.startsWith('list') ? 3 : 500)) // warm-up
  const plain = await run(op, n)
  console.log(`${op}${CLUSTERS ? ` over ${CLUSTERS} clusters` : ''}: workerd CPU ${plain.cpuPerOp.toFixed(3)} ms/op, ${plain.rate.toFixed(0)}/s (no profiler)`)
  const after = await memory()
  console.log(`${op}: then the isolate's JS heap after a full GC ${(after.heap / 1048576).toFixed(1)} MiB, the user workerd's RSS ${(after.rss / 1024).toFixed(0)} MiB`)
  if (!PROFILE) continue
  const insp = await workerInspector(srv)
  await insp.call('Profiler.enable')
  await insp.call('Profiler.setSamplingInterval', { interval: 100 })
  await insp.call('Profiler.start')
  const prof = await run(op, n)
  const { profile } = await insp.call('Profiler.stop')
  insp.close()
  const file = join(srv.stateDir, `${op}.cpuprofile`)
  writeFileSync(file, JSON.stringify(profile))
  console.log(`${op}: with the profiler ${prof.cpuPerOp.toFixed(3)} ms/op; profile ${file}\n${summarize(profile)}\n`)
}
c.close()
d.close()
await srv.proc.stop()
process.exit(0)

// The clusters scenario (issue #19, "Speed and scale"): many clusters on one `npm start`, made through the
// management API (tenancy.edge-apiserver.dev/v1alpha1 Cluster in the default cluster).
// - create N clusters (a few at a time): ms from POST until the Cluster is Ready, p50/p99, and clusters/s;
// - SQLite bytes of a new (bootstrapped, otherwise empty) cluster: its object's files under the state dir;
// - workerd RSS growth while each cluster is used once (a GET as its admin), per cluster;
// - a round-robin GET and create load across all N next to the same load on one cluster (goal: within 1.5x);
// - idle: one cluster with 10 open watches (5 with allowWatchBookmarks) logs no object activity for
//   --clusters-idle-seconds (ClusterStore's activity lines at EDGE_LOG_LEVEL=log), then a write reaches
//   every watch;
// - the first request to clusters whose objects were evicted (npm start stopped and started again on the
//   same state dir), p50/p99, next to the second request to each.
import { request as httpsRequest } from 'node:https'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Client, forEachConcurrent, waitFor } from './http.mjs'
import { loop, measure, median, percentile } from './load.mjs'
import { freePort, sleep, startProcess, treeRss } from './procs.mjs'
import { quietEnv, tempDir } from './servers.mjs'

const GROUP = '/apis/tenancy.edge-apiserver.dev/v1alpha1/clusters'
const ACTIVITY = 'object activity: cluster '

/** npm start on a state dir (fresh, or the one given: a restart), at EDGE_LOG_LEVEL=log; every line kept. */
async function start(root, stateDir) {
  const dir = stateDir ?? tempDir('clusters')
  const port = stateDir ? stateDir.port : await freePort()
  const lines = []
  const t0 = performance.now()
  const proc = startProcess(process.execPath, [join(root, 'scripts', 'start.mjs'), '--port', String(port), '--state-dir', dir.path ?? dir], {
    cwd: root,
    env: { ...process.env, ...quietEnv, EDGE_LOG_LEVEL: 'log' },
  })
  let partial = ''
  const keep = (d) => {
    partial += d
    const cut = partial.lastIndexOf('\n')
    if (cut < 0) return
    for (const l of partial.slice(0, cut).split('\n')) if (l.includes(ACTIVITY)) lines.push({ at: Date.now(), text: l.slice(l.indexOf(ACTIVITY)) })
    partial = partial.slice(cut + 1)
  }
  proc.child.stdout.on('data', keep)
  proc.child.stderr.on('data', keep)
  const path = dir.path ?? dir
  await waitFor(() => statSync(join(path, 'admin-token')).size > 0 && statSync(join(path, 'pki', 'ca.crt')).size > 0, { what: 'npm start state dir', proc, intervalMs: 50 })
  const { readFileSync } = await import('node:fs')
  const token = readFileSync(join(path, 'admin-token'), 'utf8').trim()
  const ca = readFileSync(join(path, 'pki', 'ca.crt'), 'utf8')
  const client = new Client(`https://127.0.0.1:${port}`, { token, ca, maxSockets: 64 })
  await waitFor(async () => (await client.request('GET', '/readyz', { timeoutMs: 3000 })).status === 200, { what: 'npm start /readyz', proc, intervalMs: 50, timeoutMs: 180_000 })
  return { proc, port, ca, token, client, dir: { path, port }, lines, readyMs: performance.now() - t0 }
}

const clusterName = (i) => `c${String(i).padStart(5, '0')}`

/** The token of a cluster's admin kubeconfig (the Secret kube-system/cluster-<n>-admin-kubeconfig). */
async function adminToken(srv, name) {
  const res = await srv.client.must('GET', `/api/v1/namespaces/kube-system/secrets/cluster-${name}-admin-kubeconfig`)
  const kubeconfig = Buffer.from(res.json().data.kubeconfig, 'base64').toString('utf8')
  const m = /token:\s*(\S+)/.exec(kubeconfig)
  if (!m) throw new Error(`no token in the admin kubeconfig of ${name}`)
  return m[1].replace(/^"|"$/g, '')
}

const ready = (c) => c?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')

/** Creates one Cluster and waits until it is Ready: ms. */
async function createCluster(srv, name) {
  const t0 = performance.now()
  await srv.client.must('POST', GROUP, { body: { apiVersion: 'tenancy.edge-apiserver.dev/v1alpha1', kind: 'Cluster', metadata: { name } } })
  await waitFor(async () => ready((await srv.client.must('GET', `${GROUP}/${name}`)).json()), { what: `cluster ${name} Ready`, intervalMs: 100, timeoutMs: 300_000 })
  return performance.now() - t0
}

/** Bytes of each Durable Object's SQLite files (database, WAL, shm) under the state dir, by object. */
function objectFiles(stateDir) {
  const root = join(stateDir, 'workerd')
  const byObject = new Map()
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !/\.sqlite(-wal|-shm)?$/.test(e.name)) continue
    const id = join(e.parentPath, e.name.replace(/\.sqlite(-wal|-shm)?$/, ''))
    if (!id.includes('ClusterStore')) continue
    let size
    try {
      size = statSync(join(e.parentPath, e.name)).size
    } catch {
      continue // SQLite removed it since the listing (a -shm or -wal file at a checkpoint)
    }
    byObject.set(id, (byObject.get(id) ?? 0) + size)
  }
  return byObject
}

const workerdRss = (srv) => treeRss(srv.proc.pid).byComm.workerd ?? 0

function summarize(ms) {
  const s = [...ms].sort((a, b) => a - b)
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) }
}

/** A raw watch as a client-go reflector opens it; its lines as they arrive. */
function rawWatch(srv, name, token, path) {
  let buf = ''
  const req = httpsRequest({ host: '127.0.0.1', port: srv.port, path: `/clusters/${name}${path}`, ca: srv.ca, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
    res.setEncoding('utf8')
    res.on('data', (d) => (buf += d))
    res.on('error', () => {})
  })
  req.on('error', () => {})
  req.end()
  return { lines: () => buf.split('\n').filter(Boolean).map((l) => JSON.parse(l)), close: () => req.destroy() }
}

/** o: {root, log, n, concurrency, idleS, coldN, durationS, warmupS, runs, connections} */
export async function clustersScenario(o) {
  const r = { n: o.n, notes: [] }
  let srv = await start(o.root)
  try {
    const before = objectFiles(srv.dir.path)
    const rss0 = workerdRss(srv)
    o.log(`  clusters: creating ${o.n} (${o.concurrency} at a time)`)
    const names = Array.from({ length: o.n }, (_, i) => clusterName(i))
    const createMs = []
    const t0 = performance.now()
    await forEachConcurrent(o.n, o.concurrency, async (i) => {
      createMs.push(await createCluster(srv, names[i]))
      if ((i + 1) % 100 === 0) o.log(`  clusters: ${i + 1} created`)
    })
    r.create = { ...summarize(createMs), perSecond: o.n / ((performance.now() - t0) / 1000), concurrency: o.concurrency }
    r.rssAfterCreateMB = (workerdRss(srv) - rss0) / 2 ** 20

    const files = objectFiles(srv.dir.path)
    const fresh = [...files].filter(([id]) => !before.has(id)).map(([, b]) => b)
    r.emptyClusterBytes = { objects: fresh.length, median: median(fresh), max: Math.max(...fresh) }

    o.log('  clusters: admin tokens')
    const tokens = new Array(o.n)
    await forEachConcurrent(o.n, 16, async (i) => (tokens[i] = await adminToken(srv, names[i])))
    const anon = new Client(`https://127.0.0.1:${srv.port}`, { ca: srv.ca, maxSockets: 64 })
    const get = (i) => anon.request('GET', `/clusters/${names[i]}/api/v1/namespaces/default`, { headers: { authorization: `Bearer ${tokens[i]}` } })

    o.log('  clusters: each used once (workerd RSS growth)')
    const rss1 = workerdRss(srv)
    await forEachConcurrent(o.n, 8, async (i) => {
      const res = await get(i)
      if (res.status !== 200) throw new Error(`GET in ${names[i]}: HTTP ${res.status}: ${res.body.slice(0, 200)}`)
    })
    await sleep(500)
    const rss2 = workerdRss(srv)
    const used = [...objectFiles(srv.dir.path)].filter(([id]) => !before.has(id)).map(([, b]) => b)
    r.usedClusterBytes = { objects: used.length, median: median(used), max: Math.max(...used) }
    r.memory = { workerdBeforeMB: rss1 / 2 ** 20, workerdAfterMB: rss2 / 2 ** 20, perClusterKB: (rss2 - rss1) / 1024 / o.n }

    // The same loads on all N in turn and on one cluster.
    const load = async (pick, op) => {
      let k = 0
      return measure((durationS) => loop({ concurrency: o.connections, durationS, op: async () => {
        const i = pick(k++)
        const res = op === 'get'
          ? await get(i)
          : await anon.request('POST', `/clusters/${names[i]}/api/v1/namespaces/default/configmaps`, {
            headers: { authorization: `Bearer ${tokens[i]}` },
            body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'bench-' }, data: { a: '1' } },
          })
        if (res.status !== 200 && res.status !== 201) throw new Error(`${op}: HTTP ${res.status}`)
      } }), { warmupS: o.warmupS, durationS: o.durationS, runs: o.runs })
    }
    r.load = {}
    for (const op of ['get', 'create']) {
      o.log(`  clusters: ${op} round robin across ${o.n}, and on one`)
      const all = await load((k) => k % o.n, op)
      const one = await load(() => 0, op)
      r.load[op] = { all, one, ratio: one.rps && all.rps ? one.rps / all.rps : null }
    }

    // Idle: one cluster, 10 watches, no activity.
    const idle = names[o.n - 1]
    const it = o.n - 1
    o.log(`  clusters: ${idle} idle with 10 watches for ${o.idleS} s`)
    const cm = (await anon.request('POST', `/clusters/${idle}/api/v1/namespaces/default/configmaps`, {
      headers: { authorization: `Bearer ${tokens[it]}` },
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'idle-before' } },
    })).json()
    const watches = Array.from({ length: 10 }, (_, w) => rawWatch(srv, idle, tokens[it],
      `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${cm.metadata.resourceVersion}${w < 5 ? '&allowWatchBookmarks=true' : ''}`))
    const mine = () => srv.lines.filter((l) => l.text.startsWith(`${ACTIVITY}${idle}:`))
    // settle: 15 s without a line for this cluster (at most 2 minutes)
    const settleStart = Date.now()
    while (Date.now() - settleStart < 120_000) {
      const last = mine().at(-1)?.at ?? settleStart
      if (Date.now() - last > 15_000) break
      await sleep(500)
    }
    const from = mine().length
    const idleStart = Date.now()
    await sleep(o.idleS * 1000)
    const during = mine().slice(from)
    const t1 = performance.now()
    await anon.request('POST', `/clusters/${idle}/api/v1/namespaces/default/configmaps`, {
      headers: { authorization: `Bearer ${tokens[it]}` },
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'idle-after' } },
    })
    const writeMs = performance.now() - t1
    let delivered = false
    try {
      await waitFor(() => watches.every((w) => w.lines().some((e) => e.type === 'ADDED' && e.object.metadata.name === 'idle-after')), { timeoutMs: 20_000, intervalMs: 50 })
      delivered = true
    } catch { /* reported below */ }
    r.idle = {
      seconds: Math.round((Date.now() - idleStart) / 1000) - Math.round(writeMs / 1000),
      watches: watches.length,
      activityLines: during.map((l) => l.text),
      bookmarks: watches.slice(0, 5).map((w) => w.lines().filter((e) => e.type === 'BOOKMARK').length),
      wokeWith: mine().slice(from + during.length, from + during.length + 3).map((l) => l.text),
      writeAfterIdleMs: writeMs,
      eventReachedEveryWatch: delivered,
    }
    for (const w of watches) w.close()
    anon.close()

    // Cold: restart the runtime, then the first request to clusters not touched since.
    const coldN = Math.min(o.coldN, o.n)
    o.log(`  clusters: restart, then the first request to ${coldN} clusters`)
    await srv.proc.stop()
    srv = await start(o.root, srv.dir)
    const again = new Client(`https://127.0.0.1:${srv.port}`, { ca: srv.ca, maxSockets: 4 })
    // the isolate's own start (and the default cluster's) is paid by /readyz and one GET first
    await srv.client.must('GET', '/api/v1/namespaces/default')
    const first = []
    const second = []
    const step = Math.max(1, Math.floor(o.n / coldN))
    for (let k = 0; k < coldN; k++) {
      const i = k * step
      const headers = { authorization: `Bearer ${tokens[i]}` }
      const path = `/clusters/${names[i]}/api/v1/namespaces/default`
      let t = performance.now()
      const a = await again.request('GET', path, { headers })
      first.push(performance.now() - t)
      t = performance.now()
      const b = await again.request('GET', path, { headers })
      second.push(performance.now() - t)
      if (a.status !== 200 || b.status !== 200) throw new Error(`cold GET in ${names[i]}: HTTP ${a.status}/${b.status}`)
    }
    again.close()
    r.cold = { first: summarize(first), second: summarize(second), restartReadyMs: srv.readyMs }
  } finally {
    await srv.proc.stop()
  }
  return r
}

const f = (x, d = 0) => (x == null ? '—' : Number(x).toFixed(d))

export function renderClusters(r) {
  if (!r) return []
  if (r.error) return ['', '## Many clusters', '', `failed: ${r.error}`]
  const out = ['', `## Many clusters (${r.n} clusters on one npm start)`, '', '| figure | value |', '|---|---|']
  out.push(`| create until Ready, p50 / p99 / max (${r.create.concurrency} at a time) | ${f(r.create.p50)} / ${f(r.create.p99)} / ${f(r.create.max)} ms |`)
  out.push(`| clusters Ready per second | ${f(r.create.perSecond, 2)} |`)
  out.push(`| SQLite bytes of a new cluster's object, median / max (${r.emptyClusterBytes.objects} objects) | ${f(r.emptyClusterBytes.median)} / ${f(r.emptyClusterBytes.max)} |`)
  if (r.usedClusterBytes) out.push(`| … once used (bootstrapped: system namespaces, RBAC and APF defaults), median / max | ${f(r.usedClusterBytes.median)} / ${f(r.usedClusterBytes.max)} |`)
  out.push(`| workerd RSS growth per cluster used once | ${f(r.memory.perClusterKB, 1)} KiB (${f(r.memory.workerdBeforeMB)} → ${f(r.memory.workerdAfterMB)} MiB) |`)
  for (const op of ['get', 'create'])
    out.push(`| ${op}: round robin across ${r.n} / on one cluster (req/s), one ÷ all | ${f(r.load[op].all.rps)} / ${f(r.load[op].one.rps)}, ${f(r.load[op].ratio, 2)}x (p50 ${f(r.load[op].all.p50, 1)} / ${f(r.load[op].one.p50, 1)} ms) |`)
  out.push(`| idle ${r.idle.seconds} s with ${r.idle.watches} watches: object activity lines | ${r.idle.activityLines.length}${r.idle.activityLines.length ? ` (${r.idle.activityLines.join('; ')})` : ''} |`)
  out.push(`| bookmarks per bookmark watch meanwhile | ${r.idle.bookmarks.join(', ')} |`)
  out.push(`| the write after idle: woke with / ms / reached all 10 watches | ${r.idle.wokeWith.join('; ') || '—'} / ${f(r.idle.writeAfterIdleMs)} / ${r.idle.eventReachedEveryWatch} |`)
  out.push(`| first GET to a cluster after a runtime restart, p50 / p99 (${r.cold.first.n}) | ${f(r.cold.first.p50, 1)} / ${f(r.cold.first.p99, 1)} ms |`)
  out.push(`| second GET to it, p50 / p99 | ${f(r.cold.second.p50, 1)} / ${f(r.cold.second.p99, 1)} ms |`)
  return out
}

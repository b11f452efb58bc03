// node bench/watch-memory.mjs (ROUNDS=3 WRITE_S=20 WATCHERS=200): does the edge's memory come back when
// watchers leave (issue #21)? Rounds of: WATCHERS watchers open, 20 writers for WRITE_S s, the watchers
// closed, 10 s idle. After each phase: RSS of the workerd running the API server, and the isolate's JS heap
// through the inspector wrangler dev serves (Runtime.getHeapUsage), once more after a full GC
// (HeapProfiler.collectGarbage). A JS leak keeps the heap after GC growing round after round; garbage
// not yet collected shows as heap before GC, memory the process keeps from the OS as RSS alone.
import { fork, execFileSync } from 'node:child_process'
import WebSocket from 'ws'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startEdge } from './lib/servers.mjs'
import { treeMembers, sleep, installCleanup } from './lib/procs.mjs'
installCleanup()
// Runs the tree it is in (wrangler dev reloads on edits: do not edit src/ meanwhile).
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const S = Number(process.env.WRITE_S ?? 20)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const srv = await startEdge(root)
const c = srv.client
const base = '/api/v1/namespaces/mem/configmaps'
await c.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mem' } } })
for (let i = 0; i < 20; i++) await c.must('POST', base, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `m-${i}` }, data: { k: 'v' } } })
const rss = () => {
  const out = {}
  for (const m of treeMembers(srv.proc.pid)) {
    if (m.comm !== 'workerd') continue
    const cmd = readFileSync(`/proc/${m.pid}/cmdline`, 'utf8')
    // MiB and open descriptors (a watch the server kept after its client left would hold its own)
    const role = /entry=127\.0\.0\.1:0(\0|$)/.test(cmd) ? 'worker' : 'proxy'
    out[role] = `${Math.round(m.rss / 1048576)} MiB, ${readdirSync(`/proc/${m.pid}/fd`).length} fds`
  }
  return out
}
// The isolates' JS heaps through workerd's inspector, after a full GC: a leak in JS shows here.
async function heaps(gc) {
  const pids = treeMembers(srv.proc.pid).filter((m) => m.comm === 'workerd').map((m) => m.pid)
  const out = []
  const lines = execFileSync('ss', ['-ltnpH']).toString().split('\n')
  for (const l of lines) {
    if (!pids.some((p) => l.includes(`pid=${p},`))) continue
    const port = /127\.0\.0\.1:(\d+)|\[::1?\]:(\d+)|\*:(\d+)/.exec(l)
    const pn = port && (port[1] ?? port[2] ?? port[3])
    if (!pn) continue
    let targets
    try {
      targets = await (await fetch(`http://127.0.0.1:${pn}/json/list`, { signal: AbortSignal.timeout(1000) })).json()
    } catch { continue }
    if (!Array.isArray(targets)) continue // the API server's own port
    for (const t of targets) {
      if (!t.webSocketDebuggerUrl || t.description !== 'workers') continue
      const ws = new WebSocket(t.webSocketDebuggerUrl)
      await new Promise((r, j) => { ws.on('open', r); ws.on('error', j) })
      let id = 0
      const call = (method) => new Promise((r) => {
        const my = ++id
        const on = (d) => { const m = JSON.parse(d); if (m.id === my) { ws.off('message', on); r(m.result) } }
        ws.on('message', on)
        ws.send(JSON.stringify({ id: my, method }))
      })
      if (gc) await call('HeapProfiler.collectGarbage')
      const h = await call('Runtime.getHeapUsage')
      out.push(`${t.title ?? t.id}: used ${Math.round(h.usedSize / 1048576)} / total ${Math.round(h.totalSize / 1048576)} MiB`)
      ws.close()
    }
  }
  return out.join('; ')
}
const WATCHERS = Number(process.env.WATCHERS ?? 200)
await sleep(2000)
console.log('baseline MiB', rss(), await heaps(true))
for (let round = 1; round <= ROUNDS; round++) {
  const rv = (await c.must('GET', base)).json().metadata.resourceVersion
  const child = fork(join(root, 'bench', 'lib', 'watchers.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const opened = new Promise((r) => child.on('message', (m) => m.type === 'opened' && r(m)))
  child.send({ cmd: 'open', url: srv.url, path: `${base}?watch=true&resourceVersion=${rv}`, token: srv.token, ca: srv.ca, count: WATCHERS, k0: 0 })
  const o = await opened
  console.log(`round ${round}: ${o.ok} watchers open`, rss())
  let writes = 0
  const end = Date.now() + S * 1000
  await Promise.all(Array.from({ length: 20 }, async (_, w) => {
    while (Date.now() < end) {
      await c.request('PATCH', `${base}/m-${w}`, { body: { data: { k: `v${writes++}` } }, headers: { 'content-type': 'application/merge-patch+json' } })
    }
  }))
  console.log(`round ${round}: ${writes} writes done`, rss(), await heaps(false))
  child.send({ cmd: 'close' })
  await new Promise((r) => child.on('exit', r))
  await sleep(10_000)
  console.log(`round ${round}: 10 s after the watchers closed`, rss(), 'heap before GC:', await heaps(false))
  console.log(`round ${round}: after a full GC`, rss(), await heaps(true))
}
c.close()
await srv.proc.stop()
process.exit(0)

// The Markdown report of one bench run (bench/results/<date>.md, printed, and pasted into the README).
import { renderProtobuf } from './protobuf.mjs'

const f0 = (x) => (x == null || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
const ms = (x) => (x == null || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
const mib = (b) => (b == null ? '–' : (b / 2 ** 20).toFixed(0))
const kib = (b) => (b == null || !Number.isFinite(b) ? '–' : (b / 1024).toFixed(1))
const cpu = (x) => (x == null || !Number.isFinite(x) ? '–' : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3))
const ratio = (x, y) => (x == null || y == null || !y ? '–' : `${(x / y).toFixed(x / y >= 10 ? 0 : 2)}×`)

/** A figure whose runs were made longer than --duration (too slow for 8 operations in one). */
const longer = (x, d, who = '') => (x?.durationS > d ? ` (${who}runs of ${x.durationS.toFixed(1)} s)` : '')

const LABELS = {
  ceiling: 'ceiling: bare Hono GET',
  'ceiling-direct': 'ceiling, direct to workerd (no dev proxy, HTTP)',
  'get-direct': 'GET one ConfigMap, direct to workerd',
  'create-direct': 'create ConfigMap, direct to workerd',
  get: 'GET one ConfigMap',
  create: 'create ConfigMap',
  update: 'update ConfigMap (PUT with resourceVersion)',
  patch: 'merge patch ConfigMap',
  delete: 'delete ConfigMap',
  'create-pod': 'create Pod (admission)',
}
function label(key) {
  if (LABELS[key]) return LABELS[key]
  let m = /^list-(\d+)-paged$/.exec(key)
  if (m) return `LIST ${Number(m[1]).toLocaleString('en-US')} ConfigMaps, limit=500 pages (whole walk)`
  m = /^list-(\d+)-watched$/.exec(key)
  if (m) return `LIST ${Number(m[1]).toLocaleString('en-US')} ConfigMaps, a watch of ConfigMaps open (the watch cache answers)`
  m = /^list-(\d+)$/.exec(key)
  if (m) return `LIST ${Number(m[1]).toLocaleString('en-US')} ConfigMaps`
  m = /^table-pods-(\d+)$/.exec(key)
  if (m) return `LIST ${Number(m[1]).toLocaleString('en-US')} Pods as Table`
  return key
}

export function renderMarkdown(r) {
  const L = []
  const m = r.machine
  const p = r.params
  L.push(`### Bench run ${r.date.slice(0, 10)}${p.smoke ? ' (smoke: tiny sizes, not figures)' : ''}`)
  L.push('')
  L.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}; Node ${m.node}, wrangler ${m.wrangler} (workerd ${m.workerd}), etcd ${m.etcd ?? '–'}; commit ${m.gitCommit ?? '–'}. ` +
    `Load average at start ${m.loadAvgStart?.join(' ')}, at end ${m.loadAvgEnd?.join(' ')} (other work on the machine shares its 2 cores). ` +
    (m.stealS !== undefined ? `CPU time the hypervisor gave other guests while this one's cores waited (/proc/stat steal) during the run: ${m.stealS} s, over the run's ${r.elapsedS ?? '–'} s on ${m.cores} cores. ` : '') +
    `Each figure: median of ${p.runs} runs of ${p.durationS} s after a ${p.warmupS} s warm-up (the ceiling: of ${p.runs} runs before the edge's reads and writes and ${p.runs} after), the warm-up not counted (a run lasts longer when fewer than 8 operations would complete in it); ${p.connections} connections (LISTs of 1,000+ and Table: ${p.listConnections}); client: autocannon ${m.autocannon} over HTTPS keep-alive from the bench process. ` +
    `RSS is the peak during the scenario of the whole server process tree (wrangler + workerd + esbuild for the edge), and of workerd alone. Whole run: ${r.elapsedS ?? '–'} s (pessimistic: the machine is shared).`)
  L.push('')
  const ceil = r.edge?.ceiling
  // each direct figure right under the one it shadows
  const all = Object.keys(r.edge ?? {})
  const edgeKeys = all.filter((k) => !k.endsWith('-direct')).flatMap((k) => (all.includes(`${k}-direct`) ? [k, `${k}-direct`] : [k]))
  for (const k of all) if (!edgeKeys.includes(k)) edgeKeys.push(k)
  if (edgeKeys.length) {
    L.push('**Edge (`npm start`: wrangler dev, workerd, HTTPS, Durable Object store)**')
    L.push('')
    L.push('| scenario | req/s | p50 ms | p99 ms | req/s vs ceiling | p50 vs ceiling | CPU ms/op: worker (+ DO) / dev proxy | worker CPU/op vs ceiling | peak RSS MiB tree / workerd |')
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for (const k of edgeKeys) {
      const e = r.edge[k]
      const fail = (e.failed ? ` (${e.failed} failed)` : '') + longer(e, p.durationS)
      // direct figures compare with the direct ceiling
      const c0 = k.endsWith('-direct') ? r.edge['ceiling-direct'] : ceil
      const one = k === 'ceiling' || k === 'ceiling-direct'
      const c = e.cpuMsPerOp
      L.push(`| ${label(k)}${fail} | ${f0(e.rps)} | ${ms(e.p50)} | ${ms(e.p99)} | ${one ? '1' : ratio(e.rps, c0?.rps)} | ${one ? '1' : ratio(e.p50, c0?.p50)} | ${cpu(c?.worker)} / ${cpu(c?.proxy)} | ${one ? '1' : ratio(c?.worker, c0?.cpuMsPerOp?.worker)} | ${mib(e.rss)} / ${mib(e.workerdRss)} |`)
    }
    L.push('')
  }
  // Older results have no server: they are the edge's.
  for (const server of [...new Set((r.watch ?? []).map((w) => w.server ?? 'edge'))]) {
    const rows = r.watch.filter((w) => (w.server ?? 'edge') === server)
    const edge = server.startsWith('edge')
    const title = server === 'edge'
      ? '**Watch (edge)**'
      : server === 'edge-direct'
        ? '**Watch (edge, direct to the user Worker: plain HTTP to its own address with the headers wrangler dev\'s proxy adds, for the watchers and the writes; no dev front or proxy Worker, as deployed)**'
        : `**Watch (Node mode on etcd, ${server === 'node' ? 'watch cache on: one etcd watch per resource, each event serialized once per wire form' : '--watch-cache=false: a Store watch per watcher, each event decoded and serialized per watcher'})**`
    L.push(`${title}: N watchers, each its own HTTP/1.1 keep-alive connection to \`?watch=true&resourceVersion=<rv>\` on one namespace, held by ${p.watchProcs} client process(es). ` +
      `Latency: ${p.watchWrites} merge patches one at a time, from the write's response (and from sending it) to its event at the last watcher${edge ? ' (the Durable Object answers a write first and sends its event to watchers after)' : ''}. Delivery: a burst of writes from 16 clients until every event reached every watcher. ` +
      (edge
        ? `Memory per watcher: RSS growth since the fresh server divided by N, of the server tree, of the workerd running the API server and its Durable Object (user worker: the API server's runtime), and of the workerd running wrangler dev's proxy Worker${server === 'edge-direct' ? ' (which these watchers do not cross)' : ''}. `
        : 'Memory per watcher: RSS growth of the node process since the fresh server divided by N (etcd apart); CPU: node, and etcd after the slash. ') +
      `One server for every N, watchers added to those already open (a fresh one after an N that lost watchers or failed); at most ${p.watchWriteS ?? '–'} s of timed writes per N once 10 are done.`)
    L.push('')
    L.push(edge
      ? '| watchers | open (+ added, s to open) | write response → last watcher p50 / p99 ms | write sent → last watcher p50 / p99 ms | write itself p50 / p99 ms | memory / watcher KiB: tree / user worker / dev proxy | events/s delivered | CPU µs/event delivered: worker (+ DO) / dev proxy | closed by server | note |'
      : '| watchers | open (+ added, s to open) | write response → last watcher p50 / p99 ms | write sent → last watcher p50 / p99 ms | write itself p50 / p99 ms | memory / watcher KiB: node | events/s delivered | CPU µs/event delivered: node / etcd | closed by server | note |')
    L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const w of rows) {
      const fds = w.workerdFds?.length ? `open fds after opening: ${w.workerdFds.map((x) => `${x.role} ${x.fds}`).join(', ')}` : undefined
      const note = [fds, w.error, w.timeout, w.openStopped, w.writesStopped, w.openError && `first open error: ${w.openError}`,
        w.writeRetries && `${w.writeRetries} writes failed (first: ${(w.writeError ?? '').slice(0, 70)}…) and were checked and sent again`].filter(Boolean).join('; ').replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 300)
      const opened = w.opened == null ? '–' : w.addedTo ? `${w.opened.toLocaleString('en-US')} (+${w.openedNow?.toLocaleString('en-US')} in ${w.openSeconds?.toFixed(1)})` : `${w.opened.toLocaleString('en-US')} (${w.openSeconds?.toFixed(1)})`
      const mem = edge ? `${kib(w.memPerWatcher?.tree)} / ${kib(w.memPerWatcher?.userWorker)} / ${kib(w.memPerWatcher?.proxy)}` : kib(w.memPerWatcher?.tree)
      const c = w.delivery?.cpuUsPerEvent
      const cpuCol = edge ? `${f0(c?.worker)} / ${f0(c?.proxy)}` : `${f0(c?.server)} / ${f0(c?.etcd)}`
      L.push(`| ${w.watchers.toLocaleString('en-US')} | ${opened} | ${ms(w.latency?.p50)} / ${ms(w.latency?.p99)} | ${ms(w.fromSend?.p50)} / ${ms(w.fromSend?.p99)} | ${ms(w.writeMs?.p50)} / ${ms(w.writeMs?.p99)} | ${mem} | ${f0(w.delivery?.eventsPerS)}${w.delivery ? ` (${w.delivery.writes} writes)` : ""} | ${cpuCol} | ${w.closedByServer ?? '–'} | ${note} |`)
    }
    L.push('')
  }
  if (r.node?.error) {
    L.push(`**Node mode**: not measured: ${r.node.error.split('\n')[0].slice(0, 300)}`)
    L.push('')
  } else if (r.node?.ours) {
    L.push(`**Node mode on etcd** (\`node dist/node.js\`, HTTPS, etcd 3.4 on loopback) next to the same operations done directly with the \`etcd3\` client (16 or 4 concurrent, the same keys and values; runs of ${p.etcdDurationS ?? p.durationS} s)`)
    L.push('')
    L.push('| scenario | ours req/s | p50 ms | p99 ms | etcd3 direct ops/s | p50 ms | p99 ms | throughput ours / etcd | CPU ms/op ours: node / etcd | CPU ms/op etcd3: client / etcd | CPU/op ours / etcd3 (with etcd) | peak RSS MiB node / etcd |')
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for (const k of Object.keys(r.node.ours)) {
      const o = r.node.ours[k]
      const d = r.node.etcd3?.[k]
      const fail = (o.failed ? ` (${o.failed} failed)` : '') + longer(o, p.durationS) + (d ? longer(d, p.etcdDurationS, 'etcd3 ') : '')
      const oc = o.cpuMsPerOp
      const dc = d?.cpuMsPerOp
      const sum = (x, y) => (x == null || y == null ? undefined : x + y)
      L.push(`| ${label(k)}${fail} | ${f0(o.rps)} | ${ms(o.p50)} | ${ms(o.p99)} | ${f0(d?.rps)} | ${ms(d?.p50)} | ${ms(d?.p99)} | ${ratio(o.rps, d?.rps)} | ${cpu(oc?.server)} / ${cpu(oc?.etcd)} | ${cpu(dc?.client)} / ${cpu(dc?.etcd)} | ${ratio(sum(oc?.server, oc?.etcd), sum(dc?.client, dc?.etcd))} | ${mib(o.rss)} / ${mib(o.etcdRss)} |`)
    }
    L.push('')
  }
  const modes = [['edge', 'edge (`npm start`)'], ['node', 'Node mode on etcd']].filter(([k]) => r.crd?.[k])
  if (modes.length) {
    const c0 = r.crd[modes[0][0]]
    L.push(`**Custom resources next to a built-in kind** (issue #8): a CRD with a structural schema (four string fields, a pattern, maxLengths, one \`x-kubernetes-validations\` CEL rule), its objects ${c0.bytes} bytes of JSON, next to ConfigMaps of the same JSON size (${c0.cmBytes} bytes: the same fields as data), one after the other in the same run. Create: ${p.connections} clients, each object new; LIST: ${c0.objects?.toLocaleString('en-US')} objects of one namespace, ${p.listConnections} clients.`)
    L.push('')
    L.push('| mode | operation | custom resource req/s | p50 / p99 ms | ConfigMap req/s | p50 / p99 ms | throughput CR / ConfigMap | p50 CR / ConfigMap | server CPU ms/op CR / ConfigMap |')
    L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|')
    for (const [k, name] of modes) {
      const c = r.crd[k]
      for (const [op, opName] of [['create', 'create'], ['list', `LIST ${c.objects?.toLocaleString('en-US')}`]]) {
        const cr = c[`${op}-cr`]
        const cm = c[`${op}-cm`]
        if (!cr || !cm) continue
        const fail = cr.failed || cm.failed ? ` (failed: CR ${cr.failed}, ConfigMap ${cm.failed})` : ''
        // the edge's worker (API server and Durable Object), Node mode's process
        const part = (x) => x.cpuMsPerOp?.worker ?? x.cpuMsPerOp?.server
        L.push(`| ${name} | ${opName}${fail} | ${f0(cr.rps)} | ${ms(cr.p50)} / ${ms(cr.p99)} | ${f0(cm.rps)} | ${ms(cm.p50)} / ${ms(cm.p99)} | ${ratio(cr.rps, cm.rps)} | ${ratio(cr.p50, cm.p50)} | ${cpu(part(cr))} / ${cpu(part(cm))} |`)
      }
    }
    L.push('')
  }
  const obs = Object.entries(r.observe ?? {})
  if (obs.length) {
    L.push(`**Metrics and audit per request** (issue #17): each mode started three times, the request path's metrics off, on (the default), and on with an audit policy at Metadata for every request (Node mode: \`--audit-log-path\` to a file; the edge: Workers Logs lines). Cost: the server's time per request (1 / req/s, ${p.connections} clients) minus that with both off.`)
    L.push('')
    L.push('| mode | operation | off req/s | metrics req/s | metrics + audit req/s | metrics µs/request | metrics + audit µs/request | p50 ms off / metrics / + audit |')
    L.push('|---|---|---:|---:|---:|---:|---:|---:|')
    const us = (x, base) => (x?.rps && base?.rps ? (1e6 / x.rps - 1e6 / base.rps).toFixed(0) : '–')
    for (const [mode, o] of obs) {
      if (o.error) {
        L.push(`| ${mode} | not measured: ${o.error.split('\n')[0].slice(0, 200)} | | | | | | |`)
        continue
      }
      for (const op of ['get', 'create']) {
        const [off, met, aud] = [o.off?.[op], o.metrics?.[op], o['metrics+audit']?.[op]]
        L.push(`| ${mode} | ${label(op)} | ${f0(off?.rps)} | ${f0(met?.rps)} | ${f0(aud?.rps)} | ${us(met, off)} | ${us(aud, off)} | ${ms(off?.p50)} / ${ms(met?.p50)} / ${ms(aud?.p50)} |`)
      }
    }
    L.push('')
  }
  L.push(...renderProtobuf(r.protobuf))
  const storeKeys = Object.keys(r.store ?? {}).filter((k) => k !== 'peak')
  if (storeKeys.length) {
    L.push('**Store (the ClusterStore Durable Object without HTTP, `bench/store`)**: `inside` is a loop in the object (SQLite, revision, event ring; no I/O between operations); `rpc` is one Worker→object RPC per operation (what the API server pays per store call), sequential or 16 at a time.')
    L.push('')
    L.push('| loop | ops | ops/s | µs/op | workerd CPU µs/op (Worker + object) |')
    L.push('|---|---:|---:|---:|---:|')
    for (const k of storeKeys) {
      const s = r.store[k]
      L.push(`| ${s.where}${s.concurrency > 1 ? ` ×${s.concurrency}` : ''} ${s.op} | ${s.n.toLocaleString('en-US')} | ${f0(s.opsPerS)} | ${f0(s.usPerOp)} | ${f0(s.cpuUsPerOp)} |`)
    }
    L.push('')
  }
  const b = r.bundle
  const st = r.startup ?? {}
  if (b || Object.keys(st).length) {
    const parts = []
    if (b?.error) parts.push(`bundle: \`wrangler deploy --dry-run\` failed: ${b.error.split('\n').filter(Boolean).slice(-1)[0]}`)
    else if (b) parts.push(`bundle (\`wrangler deploy --dry-run\`): ${kib(b.rawBytes)} KiB raw, ${kib(b.gzipBytes)} KiB gzipped${b.wranglerReport ? ` (wrangler: ${b.wranglerReport.rawKiB} / ${b.wranglerReport.gzipKiB} KiB)` : ''}, ${((b.gzipBytes / b.limitGzipBytes) * 100).toFixed(0)}% of the free plan's 3 MiB`)
    if (st.edge) parts.push(`\`npm start\` to first /readyz 200: ${(st.edge.readyMs / 1000).toFixed(1)} s (fresh state dir: PKI, bundling, workerd)`)
    if (st.ceiling) parts.push(`ceiling worker: ${(st.ceiling.readyMs / 1000).toFixed(1)} s`)
    if (st.node) parts.push(`Node mode: ${(st.node.readyMs / 1000).toFixed(1)} s`)
    L.push(`**Bundle and start**: ${parts.join('; ')}.`)
    L.push('')
  }
  for (const mb of r.micro ?? []) {
    L.push(`**Micro: ${mb.file}**${mb.status ? ` (exit ${mb.status})` : ''}`)
    L.push('')
    L.push('```')
    L.push(mb.output)
    L.push('```')
    L.push('')
  }
  if (r.phases?.length) {
    L.push(`Time per part of the run (s): ${r.phases.map((x) => `${x.name} ${x.seconds}${x.stealS ? ` (steal ${x.stealS})` : ''}`).join('; ')}.`)
    L.push('')
  }
  if (r.notes?.length) {
    L.push('Notes:')
    for (const n of r.notes) L.push(`- ${n.split('\n')[0]}`)
    L.push('')
  }
  return L.join('\n')
}

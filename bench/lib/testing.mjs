// The testing scenario (issue #20, "Speed"): edge-apiserver/testing, the server on Miniflare in the
// calling process, as a test suite uses it (bench/lib/testing-child.mjs, a process of its own), next to
// `npm start` and to etcd plus Node mode started from scratch (the closest this machine runs to envtest's
// kube-apiserver and etcd):
// - start() to the first answered request (a GET as the admin);
// - the first cluster of a runtime, then new cluster (newCluster(): POST a Cluster, watch it until Ready,
//   read its kubeconfig Secret) to its first answer, one after the other, p50/p99;
// - RSS growth per idle cluster (the library's whole process tree: Node and workerd);
// - reset() of a cluster with objects in it, dispose(), and clusters made per second, several at a time.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { request } from 'node:https'
import { startEdge, startEtcd, startNode } from './servers.mjs'
import { startProcess } from './procs.mjs'

function get(srv, path) {
  return new Promise((resolve, reject) => {
    const req = request(`${srv.url}${path}`, { ca: srv.ca, headers: { Authorization: `Bearer ${srv.token}` } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', reject)
    req.end()
  })
}

export async function testingScenario({ root, log, n, burst, concurrency, resets, nodeBuilt }) {
  const out = {}
  log('testing: npm run build:testing-js')
  const built = spawnSync('npm', ['run', 'build:testing-js', '--silent'], { cwd: root, encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`npm run build:testing-js failed: ${built.stderr}`)

  log(`testing: the library (start(), ${n} clusters one by one, ${burst} ${concurrency} at a time)`)
  const params = { dist: join(root, 'dist', 'testing.js'), n, warm: 3, resets, burst, concurrency }
  const child = startProcess(process.execPath, [join(root, 'bench', 'lib', 'testing-child.mjs'), JSON.stringify(params)], { cwd: root })
  await child.exit
  if (child.exitCode !== 0) throw new Error(`the testing child exited with ${child.exitCode}: ${child.output.slice(-3000)}`)
  const line = child.output.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  out.library = JSON.parse(line)

  log('testing: npm start to its first answer')
  const t0 = performance.now()
  const edge = await startEdge(root)
  if ((await get(edge, '/api/v1/namespaces/default')) !== 200) throw new Error('npm start: first GET failed')
  out.npmStart = { startToFirstAnswerMs: performance.now() - t0 }
  await edge.proc.stop()

  const buildError = await nodeBuilt()
  if (buildError) {
    out.node = { error: buildError }
  } else {
    log('testing: etcd and Node mode from scratch to the first answer')
    const t1 = performance.now()
    const etcd = await startEtcd()
    const etcdMs = performance.now() - t1
    const node = await startNode(root, etcd.endpoint)
    if ((await get(node, '/api/v1/namespaces/default')) !== 200) throw new Error('node mode: first GET failed')
    out.node = { startToFirstAnswerMs: performance.now() - t1, etcdMs }
    await node.proc.stop()
    await etcd.proc.stop()
  }
  return out
}

const f = (v, d = 0) => (v == null || !Number.isFinite(v) ? '—' : v.toFixed(d))

export function renderTesting(r) {
  if (!r) return []
  if (r.error) return ['', '## Testing library', '', `failed: ${r.error}`]
  const l = r.library
  const out = ['', '## Testing library (edge-apiserver/testing: the server on Miniflare in the test process)', '', '| figure | value |', '|---|---|']
  out.push(`| start() to the first answered request | ${f(l.startToFirstAnswerMs)} ms (start() itself ${f(l.startMs)} ms; RSS ${f(l.rssAfterStartMB)} MiB) |`)
  out.push(`| … npm start, spawn to the first answer | ${f(r.npmStart?.startToFirstAnswerMs)} ms |`)
  out.push(`| … etcd + Node mode from scratch to the first answer | ${r.node?.error ? r.node.error : `${f(r.node?.startToFirstAnswerMs)} ms (etcd ${f(r.node?.etcdMs)} ms)`} |`)
  out.push(`| the runtime's first cluster to its first answer | ${f(l.firstClusterMs)} ms |`)
  out.push(`| new cluster to its first answer, p50 / p99 / max (${l.newCluster.n} one after the other) | ${f(l.newCluster.p50, 1)} / ${f(l.newCluster.p99, 1)} / ${f(l.newCluster.max, 1)} ms (Ready p50 ${f(l.newCluster.readyP50, 1)} ms) |`)
  out.push(`| RSS growth per idle cluster (Node + workerd / workerd) | ${f(l.memory.perClusterKB, 1)} / ${f(l.memory.workerdPerClusterKB, 1)} KiB (${f(l.memory.beforeMB)} → ${f(l.memory.afterMB)} MiB) |`)
  out.push(`| reset() with objects in it, p50 / max (${l.reset.n}) | ${f(l.reset.p50, 1)} / ${f(l.reset.max, 1)} ms |`)
  out.push(`| dispose(), p50 / max | ${f(l.dispose.p50, 1)} / ${f(l.dispose.max, 1)} ms |`)
  out.push(`| clusters made per second (${l.throughput.clusters}, ${l.throughput.concurrency} at a time) | ${f(l.throughput.perSecond, 1)} |`)
  return out
}

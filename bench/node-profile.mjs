#!/usr/bin/env node
// Node mode under one operation's load at a time, for a CPU profile and an A/B of CPU per operation:
// an etcd of its own, seeded as the bench's `node` scenario seeds it, then for each operation a fresh
// `node dist/node.js` (optionally under --cpu-prof), a warm-up, a timed run, the server stopped. Prints
// CPU ms per operation of node and of etcd, and with --prof the profile's self time per function.
//
//   npm run build:node && node bench/node-profile.mjs --ops=create,get --seconds=5 --prof
//   node bench/node-profile.mjs --summarize=<file.cpuprofile>
// BENCH_ROOT=<another checkout> runs that checkout's dist/node.js (an A/B of two builds on one etcd).
// --floor: the same GET and create loads against ./lib/node-floor.mjs (a bare HTTPS server on the etcd3
// client, no API server), the least a Node.js server answering from etcd spends on them.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { forEachConcurrent } from './lib/http.mjs'
import { seedCopiesInEtcd } from './lib/seed.mjs'
import { cannon, loop } from './lib/load.mjs'
import { freePort, installCleanup, processCpuMs, startProcess, stopAll } from './lib/procs.mjs'
import { projectEtcdClient, startEtcd, startNode, tempDir } from './lib/servers.mjs'

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)))
const { values: a } = parseArgs({
  options: {
    ops: { type: 'string', default: 'get,list,table,create,update,delete' },
    seconds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    list: { type: 'string', default: '10000' },
    pods: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    'list-connections': { type: 'string', default: '4' },
    prof: { type: 'boolean', default: false },
    top: { type: 'string', default: '40' },
    summarize: { type: 'string' },
    window: { type: 'string' },
    'node-args': { type: 'string', default: '' },
    direct: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
  },
})

if (a.summarize) {
  summarize(a.summarize, Number(a.top), a.window?.split(',').map(Number))
  process.exit(0)
}

installCleanup()
const roots = (process.env.BENCH_ROOT ?? repo).split(',').map((r) => resolve(r))
const S = Number(a.seconds)
const conns = Number(a.connections)
const listConns = Number(a['list-connections'])
const LIST = Number(a.list)
const PODS = Number(a.pods)
const cm = (name, i) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { key: `value-${i}` },
})
const pod = (name) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] },
})

const etcd = await startEtcd()
const direct = await projectEtcdClient(repo, etcd.endpoint)
let seeded = false
let pkiDir // the last server's: the floor serves with its certificate
let createSeq = 0
const created = []

// each round runs every root once, so that an A/B shares the machine's moods (median of the rounds)
const figures = new Map()
for (let round = 0; round < Number(a.rounds); round++)
  for (const root of roots) {
    console.log(`# ${root}`)
    for (const op of a.ops.split(',')) {
      const profDir = tempDir('prof')
      mkdirSync(profDir, { recursive: true })
      const spawned = performance.now()
      const srv = await startNodeUnder(
        root,
        a.prof ? [`--cpu-prof`, `--cpu-prof-dir=${profDir}`] : [],
      )
      pkiDir = join(srv.stateDir, 'pki')
      if (!seeded) {
        await seed(srv)
        seeded = true
      }
      const run = scenario(srv, op)
      await run.prepare?.(Number(a.warmup))
      await run(Number(a.warmup))
      await run.prepare?.(S)
      const n0 = processCpuMs(srv.proc.pid)
      const e0 = processCpuMs(etcd.proc.pid)
      const m0 = await grpcCounts()
      const t0 = performance.now() - spawned
      const r = await run(S)
      const t1 = performance.now() - spawned
      const m1 = await grpcCounts()
      const node = (processCpuMs(srv.proc.pid) - n0) / r.ops
      const et = (processCpuMs(etcd.proc.pid) - e0) / r.ops
      console.log(
        `${op.padEnd(8)} ${r.rps.toFixed(0).padStart(6)}/s  p50 ${r.p50?.toFixed(2)} ms  ` +
          `node ${node.toFixed(3)} ms/op  etcd ${et.toFixed(3)} ms/op  failed ${r.failed}`,
      )
      const fk = `${op} ${root}`
      if (!figures.has(fk)) figures.set(fk, [])
      figures.get(fk).push({ rps: r.rps, node, etcd: et })
      // etcd round trips per operation, from etcd's own grpc_server_handled_total
      const trips = Object.keys(m1)
        .map((k) => [k, (m1[k] - (m0[k] ?? 0)) / r.ops])
        .filter(([, v]) => v >= 0.01)
      console.log(`  etcd calls/op: ${trips.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`)
      srv.client.close()
      await srv.proc.stop(20_000)
      if (a.prof) {
        const f = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'))
        if (f) {
          console.log(`  profile: ${join(profDir, f)} --window=${t0.toFixed(0)},${t1.toFixed(0)}`)
          summarize(join(profDir, f), Number(a.top), [t0, t1])
        } else console.log('  (no profile written)')
      }
    }
  }
if (Number(a.rounds) > 1) {
  console.log('# medians over the rounds')
  const med = (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]
  for (const [k, fs] of figures)
    console.log(
      `${k}: ${med(fs.map((f) => f.rps)).toFixed(1)}/s  node ${med(fs.map((f) => f.node)).toFixed(3)} ms/op  ` +
        `etcd ${med(fs.map((f) => f.etcd)).toFixed(3)} ms/op  (node ms/op: ${fs.map((f) => f.node.toFixed(2)).join(' ')})`,
    )
}
if (a.floor) await floorRuns()
if (a.direct) await directRuns()
direct.close()
await stopAll()

function startNodeUnder(root, nodeFlags) {
  return startNode(root, etcd.endpoint, a['node-args'].split(' ').filter(Boolean), nodeFlags)
}

async function grpcCounts() {
  const text = await (await fetch(`${etcd.endpoint}/metrics`)).text()
  const out = {}
  for (const m of text.matchAll(/^grpc_server_started_total\{([^}]*)\} (\S+)$/gm)) {
    const method = /grpc_method="([^"]+)"/.exec(m[1])?.[1]
    const type = /grpc_type="([^"]+)"/.exec(m[1])?.[1]
    out[`${method}${type === 'unary' ? '' : `(${type})`}`] = Number(m[2])
  }
  return out
}

async function seed(srv) {
  for (const name of ['bench-get', 'bench-list', 'bench-pods', 'bench-w'])
    await srv.client.must('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
    })
  await srv.client.must('POST', '/api/v1/namespaces/bench-get/configmaps', { body: cm('cm-0', 0) })
  await copies(srv, '/api/v1/namespaces/bench-list/configmaps', LIST, (i) => cm(`cm-${i}`, i))
  await copies(srv, '/api/v1/namespaces/bench-pods/pods', PODS, (i) => pod(`pod-${i}`))
  for (let i = 0; i < conns; i++)
    await srv.client.must('POST', '/api/v1/namespaces/bench-w/configmaps', {
      body: cm(`u-${i}`, i),
    })
}

/** As bench/run.mjs seeds Node mode (./lib/seed.mjs). */
function copies(srv, path, n, body) {
  return seedCopiesInEtcd(srv.client, direct, path, n, body)
}

function scenario(srv, op) {
  const headers = { accept: 'application/json', authorization: `Bearer ${srv.token}` }
  const http = (spec) => (durationS) =>
    cannon({
      url: srv.url,
      connections: conns,
      durationS,
      ...spec,
      headers: { ...headers, ...spec.headers },
    })
  const base = '/api/v1/namespaces/bench-w/configmaps'
  switch (op) {
    case 'get':
      return http({ path: '/api/v1/namespaces/bench-get/configmaps/cm-0' })
    case 'list':
      return http({ path: '/api/v1/namespaces/bench-list/configmaps', connections: listConns })
    case 'table':
      return http({
        path: '/api/v1/namespaces/bench-pods/pods',
        connections: listConns,
        headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
      })
    case 'paged':
      // a LIST of every ConfigMap in pages of 500 (following continue): one operation per walk
      return (durationS) =>
        loop({
          concurrency: listConns,
          durationS,
          op: async () => {
            let cont = ''
            do {
              const q = `?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`
              const r = await srv.client.must('GET', `/api/v1/namespaces/bench-list/configmaps${q}`)
              cont = r.json().metadata.continue ?? ''
            } while (cont)
          },
        })
    case 'create':
      return http({
        perClient: () => {
          let name
          return [
            {
              method: 'POST',
              path: base,
              setupRequest(req) {
                name = `c-${createSeq++}`
                return {
                  ...req,
                  headers: { ...req.headers, 'content-type': 'application/json' },
                  body: JSON.stringify(cm(name, createSeq)),
                }
              },
              onResponse(status) {
                if (status === 201) created.push(name)
              },
            },
          ]
        },
      })
    case 'update': {
      return async (durationS) => {
        const rv = []
        await forEachConcurrent(conns, conns, async (i) => {
          rv[i] = (await srv.client.must('GET', `${base}/u-${i}`)).json().metadata.resourceVersion
        })
        let n = 0
        return loop({
          concurrency: conns,
          durationS,
          op: async (w) => {
            const body = cm(`u-${w}`, n++)
            body.metadata.resourceVersion = rv[w]
            const r = await srv.client.must('PUT', `${base}/u-${w}`, { body })
            rv[w] = r.json().metadata.resourceVersion
          },
        })
      }
    }
    case 'delete': {
      // objects made beforehand (prepare: not measured), deleted for durationS
      const names = []
      const run = async (durationS) =>
        loop({
          concurrency: conns,
          durationS,
          op: async () => {
            const name = names.shift()
            if (!name) throw new Error('out of objects')
            await srv.client.must('DELETE', `${base}/${name}`)
          },
        })
      run.prepare = async (durationS) => {
        names.length = 0
        const want = Math.max(200, Math.round(durationS * 1200))
        await forEachConcurrent(want, conns, async () => {
          const name = `d-${createSeq++}`
          await srv.client.must('POST', base, { body: cm(name, 0) })
          names.push(name)
        })
      }
      return run
    }
    default:
      throw new Error(`unknown op ${op}`)
  }
}

async function floorRuns() {
  const port = await freePort()
  const clientModule = join(repo, 'node_modules', '.cache', 'edge-apiserver-bench', 'etcd-client.mjs')
  const proc = startProcess(process.execPath, [
    join(repo, 'bench', 'lib', 'node-floor.mjs'), clientModule, etcd.endpoint, String(port),
    join(pkiDir, 'apiserver.crt'), join(pkiDir, 'apiserver.key'), '/registry/configmaps/bench-get/cm-0',
  ])
  for (let i = 0; !proc.output.includes('listening'); i++) {
    if (proc.exited || i > 100) throw new Error(`node-floor did not start: ${proc.output}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const floor = { url: `https://127.0.0.1:${port}`, token: 'none' }
  for (const op of ['get', 'create']) {
    const run = scenario(floor, op)
    await run(Number(a.warmup))
    const n0 = processCpuMs(proc.pid)
    const e0 = processCpuMs(etcd.proc.pid)
    const r = await run(S)
    console.log(
      `floor ${op.padEnd(8)} ${r.rps.toFixed(0).padStart(6)}/s  p50 ${r.p50?.toFixed(2)} ms  ` +
        `node ${((processCpuMs(proc.pid) - n0) / r.ops).toFixed(3)} ms/op  etcd ${((processCpuMs(etcd.proc.pid) - e0) / r.ops).toFixed(3)} ms/op  failed ${r.failed}`,
    )
  }
  await proc.stop()
}

async function directRuns() {
  const value = await direct.get('/registry/configmaps/bench-get/cm-0').string()
  const ops = {
    get: () => direct.get('/registry/configmaps/bench-get/cm-0').buffer(),
    list: () => direct.getAll().prefix('/registry/configmaps/bench-list/').exec(),
    create: async () => {
      const key = `/bench-direct/c-${createSeq++}`
      await direct.if(key, 'Create', '==', 0).then(direct.put(key).value(value)).commit()
    },
  }
  for (const [name, op] of Object.entries(ops)) {
    const c = name === 'list' ? listConns : conns
    await loop({ concurrency: c, durationS: 0.5, op })
    const u0 = process.cpuUsage()
    const e0 = processCpuMs(etcd.proc.pid)
    const r = await loop({ concurrency: c, durationS: S, op })
    const u = process.cpuUsage(u0)
    console.log(
      `etcd3 ${name.padEnd(8)} ${r.rps.toFixed(0).padStart(6)}/s  client ${((u.user + u.system) / 1000 / r.ops).toFixed(3)} ms/op  ` +
        `etcd ${((processCpuMs(etcd.proc.pid) - e0) / r.ops).toFixed(3)} ms/op`,
    )
  }
}

/** Self time per function (and per file) of a .cpuprofile, the largest first. */
function summarize(file, top, windowMs) {
  const p = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map()
  const dt = p.timeDeltas
  // only the timed run: ms since the process was spawned, the profile starting about then
  const [from, to] = windowMs
    ? windowMs.map((ms) => p.startTime + ms * 1000)
    : [-Infinity, Infinity]
  let t = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    t += dt[i] ?? 0
    if (t < from || t > to) continue
    const id = p.samples[i]
    self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0))
  }
  const total = [...self.values()].reduce((x, y) => x + y, 0)
  const fn = new Map()
  const files = new Map()
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame
    const url = cf.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm:')
    const k = `${cf.functionName || '(anon)'} ${url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`
    fn.set(k, (fn.get(k) ?? 0) + us)
    const fk = url.includes('nm:')
      ? url
          .split('/')
          .slice(0, url.startsWith('nm:@') ? 2 : 1)
          .join('/')
      : url || cf.functionName
    files.set(fk, (files.get(fk) ?? 0) + us)
  }
  // inclusive time: each sample counts once for every function on its stack
  const parent = new Map()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const incl = new Map()
  for (const [id, us] of self) {
    const seen = new Set()
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const cf = byId.get(n).callFrame
      if (!cf.url.includes('dist/node.js')) continue
      const k = `${cf.functionName || '(anon)'}:${cf.lineNumber + 1}`
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + us)
    }
  }
  const pct = (us) => ((100 * us) / total).toFixed(1).padStart(5) + '%'
  console.log(`  total ${(total / 1000).toFixed(0)} ms sampled`)
  console.log('  -- by package/file')
  for (const [k, us] of [...files].sort((x, y) => y[1] - x[1]).slice(0, 15))
    console.log(`  ${pct(us)} ${k}`)
  console.log('  -- by function (self)')
  for (const [k, us] of [...fn].sort((x, y) => y[1] - x[1]).slice(0, top))
    console.log(`  ${pct(us)} ${k}`)
  console.log('  -- dist/node.js functions, inclusive')
  for (const [k, us] of [...incl].sort((x, y) => y[1] - x[1]).slice(0, top))
    console.log(`  ${pct(us)} ${k}`)
}

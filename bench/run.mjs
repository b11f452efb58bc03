#!/usr/bin/env node
// npm run bench [-- --smoke] [-- --only=SCENARIO,...] [-- --help]   (scenarios: see --help or bench/README.md)
//
// Starts each mode itself on 127.0.0.1 with a fresh state dir, loads it from this process (autocannon,
// and forked watcher processes), and writes bench/results/<date>.json and .md. Every process it starts
// is in its own process group and is ended on exit, on failure and on Ctrl-C. See bench/README.md.
import { seedCopiesInEtcd } from './lib/seed.mjs'
import { renderSnapshot, snapshotScenario } from './lib/snapshot.mjs'
import { execFileSync, fork, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { request as httpsRequest } from 'node:https'
import { Client, forEachConcurrent, waitFor } from './lib/http.mjs'
import { cannon, loop, measure, median, medianCpu, percentile } from './lib/load.mjs'
import { installCleanup, machineStealMs, memorySampler, processCpuMs, sleep, startProcess, stopAll, treeCpu, treeMembers, treeRss } from './lib/procs.mjs'
import { directTarget, etcdVersion, projectEtcdClient, removeTempDirs, startEdge, startEtcd, startNode, startWranglerWorker, tempDir } from './lib/servers.mjs'
import { renderMarkdown } from './lib/report.mjs'
import { apiHeartbeats, etcdHeartbeats, renderHeartbeats } from './heartbeats.mjs'
import { protobufScenario } from './lib/protobuf.mjs'
import { MEDIA_KINDS, renderStorageMedia } from './lib/storage-media.mjs'
import { logsScenario, renderLogs } from './lib/logs.mjs'
import { clustersScenario, renderClusters } from './lib/clusters.mjs'
import { renderTesting, testingScenario } from './lib/testing.mjs'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const ALL = ['ceiling', 'reads', 'writes', 'crd', 'watch', 'protobuf', 'node', 'store', 'bundle', 'observe', 'micro', 'snapshot', 'heartbeats', 'storage-media', 'logs', 'clusters', 'testing']

const { values: a } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    duration: { type: 'string' },
    'etcd-duration': { type: 'string' },
    warmup: { type: 'string' },
    runs: { type: 'string' },
    connections: { type: 'string' },
    'list-connections': { type: 'string' },
    'list-sizes': { type: 'string' },
    pods: { type: 'string' },
    watchers: { type: 'string' },
    'watch-writes': { type: 'string' },
    'watch-procs': { type: 'string' },
    'watch-events': { type: 'string' },
    'watch-open-seconds': { type: 'string' },
    'watch-write-seconds': { type: 'string' },
    'watch-event-seconds': { type: 'string' },
    'watch-servers': { type: 'string' },
    'store-ops': { type: 'string' },
    'store-rpc-ops': { type: 'string' },
    'seed-connections': { type: 'string' },
    'crd-objects': { type: 'string' },
    'crd-node': { type: 'boolean', default: false },
    'heartbeat-nodes': { type: 'string' },
    'heartbeat-seconds': { type: 'string' },
    'heartbeat-compression': { type: 'string' },
    'pb-pods': { type: 'string' },
    'pb-events': { type: 'string' },
    'snapshot-objects': { type: 'string' },
    'media-objects': { type: 'string' },
    'log-mb': { type: 'string' },
    clusters: { type: 'string' },
    'clusters-concurrency': { type: 'string' },
    'clusters-idle-seconds': { type: 'string' },
    'clusters-cold': { type: 'string' },
    'testing-clusters': { type: 'string' },
    out: { type: 'string' },
    worktree: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
})
if (a.help) {
  console.log(`Usage: npm run bench -- [flags]
  --smoke                 every scenario briefly, small sizes; results go to a temp dir unless --out
  --only=LIST             scenarios, comma separated: ${ALL.join(',')} (default: all)
  --duration=S            seconds per timed run (default 1.5)         --warmup=S   warm-up seconds (default 0.5)
  --runs=N                timed runs per figure, the median is reported (default 3)
  --etcd-duration=S       seconds per timed run of the etcd3 client directly (default 1)
  --connections=N         concurrent clients for GET and writes (default 16)
  --list-connections=N    concurrent clients for LISTs of 1,000+ and Table (default 4)
  --list-sizes=LIST       ConfigMaps per LIST (default 10,1000,10000)   --pods=N  pods for Table (default 1000)
  --watchers=LIST         concurrent watchers (default 100,1000,9000,10000)
  --watch-writes=N        writes timed one by one to the last watcher (default 50)
  --watch-procs=N         watcher processes (default 2)  --watch-events=N  events delivered in the burst (default 20000)
  --watch-open-seconds=S  opening watchers for one N stops after S (default 150)
  --watch-write-seconds=S timed writes for one N stop after S once 10 are done (default 20)
  --watch-event-seconds=S an event that has not reached every watcher after S ends that N (default 30)
  --watch-servers=LIST    whose watchers: edge (npm start), edge-direct (npm start, watchers and writes sent
                          to its user Worker directly: no dev front or proxy Worker), node (Node mode on
                          etcd, its watch cache on), node-no-cache (--watch-cache=false: a Store watch per
                          watcher) (default edge,edge-direct,node)
  --store-ops=N           operations per in-object store loop (default 20000)
  --store-rpc-ops=N       operations per Worker→object RPC loop (default 3000)
  --seed-connections=N    concurrent clients seeding objects through the API (default 16)
  --crd-node              the crd scenario in Node mode too (half a minute more)
  --crd-objects=N         custom resources (and ConfigMaps) per LIST in the crd scenario (default 1000)
  --heartbeat-nodes=LIST  simulated kubelets in the heartbeats scenario (default 100,1000)
  --heartbeat-seconds=S   how long each N renews its Leases and patches its status (default 30)
  --heartbeat-compression=C  time compression: each node renews every 10/C s (default 1)
  --pb-pods=LIST          Pods per LIST in the protobuf scenario (default 1000,10000)
  --pb-events=N           events of the protobuf scenario's watch (default 1000)
  --snapshot-objects=LIST objects per snapshot run (default 10000,100000; smoke 200)
  --media-objects=N       ConfigMaps and Pods per LIST in the storage-media scenario (default 500; smoke 20)
  --log-mb=N              MiB of container log read in the logs scenario (default 64; smoke 2)
  --clusters=N            clusters made through the management API in the clusters scenario (default 1000; smoke 5)
  --clusters-concurrency=N  Cluster creations at a time (default 8)
  --clusters-idle-seconds=S how long one cluster with 10 watches is watched for object activity (default 600; smoke 20)
  --clusters-cold=N       clusters whose first request after a runtime restart is timed (default 50; smoke 3)
  --testing-clusters=N    clusters made one after the other in the testing scenario (default 100; smoke 5)
  --out=DIR               results directory (default bench/results)
  --worktree              bench the working tree as it is, not HEAD (see "What is measured" in bench/README.md)
  --keep                  keep the servers' state dirs (temp dir, edge-bench-*) for a look afterwards`)
  process.exit(0)
}
const smoke = a.smoke
const num = (v, d, s) => Number(v ?? (smoke ? s : d))
const list = (v, d, s) => String(v ?? (smoke ? s : d)).split(',').filter(Boolean).map(Number)
const P = {
  only: a.only ? a.only.split(',') : ALL,
  durationS: num(a.duration, 1.5, 0.5),
  // etcd by itself answers in single milliseconds: a second holds hundreds of its operations
  etcdDurationS: num(a['etcd-duration'], 1, 0.5),
  warmupS: num(a.warmup, 0.5, 0.3),
  runs: num(a.runs, 3, 1),
  connections: num(a.connections, 16, 16),
  listConnections: num(a['list-connections'], 4, 4),
  listSizes: list(a['list-sizes'], '10,1000,10000', '10,600'),
  pods: num(a.pods, 1000, 30),
  // 9,000: the largest N below 10,000 that fits wrangler dev's open-file needs here (see bench/README.md)
  watchers: list(a.watchers, '100,1000,9000,10000', '10,50'),
  watchWrites: num(a['watch-writes'], 50, 5),
  watchProcs: num(a['watch-procs'], 2, 1),
  watchEvents: num(a['watch-events'], 20_000, 500),
  watchOpenS: num(a['watch-open-seconds'], 150, 30),
  watchWriteS: num(a['watch-write-seconds'], 20, 5),
  watchEventS: num(a['watch-event-seconds'], 30, 10),
  watchServers: String(a['watch-servers'] ?? 'edge,edge-direct,node').split(',').filter(Boolean),
  storeOps: num(a['store-ops'], 20_000, 500),
  storeRpcOps: num(a['store-rpc-ops'], 3_000, 50),
  seedConnections: num(a['seed-connections'], 16, 16),
  crdNode: a['crd-node'],
  crdObjects: num(a['crd-objects'], 1000, 50),
  heartbeatNodes: list(a['heartbeat-nodes'], '100,1000', '20'),
  heartbeatSeconds: num(a['heartbeat-seconds'], 30, 3),
  heartbeatCompression: num(a['heartbeat-compression'], 1, 5),
  pbPods: list(a['pb-pods'], '1000,10000', '20,100'),
  pbEvents: num(a['pb-events'], 1000, 50),
  mediaObjects: num(a['media-objects'], 500, 20),
  logMB: num(a['log-mb'], 64, 2),
  clusters: num(a.clusters, 1000, 5),
  clustersConcurrency: num(a['clusters-concurrency'], 8, 4),
  clustersIdleS: num(a['clusters-idle-seconds'], 600, 20),
  clustersCold: num(a['clusters-cold'], 50, 3),
  testingClusters: num(a['testing-clusters'], 100, 5),
  smoke,
}
for (const s of P.only) if (!ALL.includes(s)) throw new Error(`--only: unknown scenario ${s} (${ALL.join(', ')})`)
const WATCH_SERVERS = ['edge', 'edge-direct', 'node', 'node-no-cache']
for (const s of P.watchServers) if (!WATCH_SERVERS.includes(s)) throw new Error(`--watch-servers: unknown server ${s} (${WATCH_SERVERS.join(', ')})`)
const outDir = resolve(a.out ?? (smoke ? tempDir('smoke-results') : join(repo, 'bench', 'results')))
const timing = { warmupS: P.warmupS, durationS: P.durationS, runs: P.runs }
const want = (s) => P.only.includes(s)

installCleanup()

// wrangler dev reloads its Worker whenever a source file changes, and this tree is edited while the bench
// runs (a reload drops every request in flight and every watch). So the servers run from a snapshot:
// HEAD's files (or, with --worktree, the working tree's), with this bench/ and node_modules linked in.
const root = snapshot()
process.on('exit', () => rmSync(root, { recursive: true, force: true }))

const startedAt = new Date()
const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\..*$/, 'Z')
const results = {
  date: startedAt.toISOString(),
  machine: machineInfo(),
  params: P,
  startup: {},
  edge: {},
  watch: [],
  node: {},
  store: {},
  bundle: undefined,
  crd: {},
  observe: {},
  protobuf: undefined,
  micro: [],
  heartbeats: undefined,
  storageMedia: undefined,
  logs: undefined,
  clusters: undefined,
  testing: undefined,
  notes: [],
  phases: [], // [{name, seconds}]: where the run's time goes
}
let ceilingSrv // the ceiling's server, kept between its two halves
const workerdRoles = new Map() // workerd pid → 'proxy' or 'worker' (cpuReading)
const log = (...m) => console.error(`[bench ${((performance.now()) / 1000).toFixed(0)}s]`, ...m)

// Building the bundle and Node mode measures no time, so both run while the edge is being seeded
// (which measures nothing either) instead of on their own.
let sideWork
let nodeBuild
const edgeWanted = ['reads', 'writes', 'crd', 'watch', 'protobuf'].some(want)
try {
  if (want('ceiling')) await phase('ceiling (before)', () => ceilingScenario('before'))
  if (edgeWanted) await edgeScenarios()
  await (sideWork ??= startSideWork())
  if (want('store')) await phase('store', storeScenario)
  if (want('node')) await nodeScenarios()
  if (want('observe')) await observeScenario()
  if (want('micro')) await phase('micro', microBenchmarks)
  if (want('snapshot'))
    results.snapshot = await phase('snapshot', () =>
      snapshotScenario({ root, sizes: list(a['snapshot-objects'], '10000,100000', '200'), log, nodeBuilt: () => (nodeBuild ??= buildNodeQuietly()) }))
  if (want('heartbeats')) await heartbeatScenarios()
  if (want('storage-media')) await storageMediaScenario()
  if (want('logs'))
    results.logs = await phase('logs', () => logsScenario({
      root, log, runs: P.runs, warmupS: P.warmupS, durationS: P.durationS, mb: P.logMB, cpuReading,
      nodeBuilt: () => (nodeBuild ??= buildNodeQuietly()),
    }))
  if (want('clusters'))
    results.clusters = await phase('clusters', () => clustersScenario({
      root, log, n: P.clusters, concurrency: P.clustersConcurrency, idleS: P.clustersIdleS, coldN: P.clustersCold,
      durationS: P.durationS, warmupS: P.warmupS, runs: P.runs, connections: P.connections,
    }).catch((e) => ({ error: String(e?.stack ?? e) })))
  if (want('testing'))
    results.testing = await phase('testing', () => testingScenario({
      root, log, n: P.testingClusters, burst: smoke ? 8 : 50, concurrency: 8, resets: smoke ? 3 : 10,
      nodeBuilt: () => (nodeBuild ??= buildNodeQuietly()),
    }).catch((e) => ({ error: String(e?.stack ?? e) })))
} catch (err) {
  results.notes.push(`aborted: ${err?.stack ?? err}`)
  console.error(err)
  process.exitCode = 1
} finally {
  await stopAll()
  if (!a.keep) removeTempDirs([root, outDir])
}
results.machine.loadAvgEnd = loadavg().map((x) => +x.toFixed(2))
results.machine.stealS = +((machineStealMs() - results.machine.stealMsStart) / 1000).toFixed(1)
results.finishedAt = new Date().toISOString()
results.elapsedS = Math.round((Date.now() - startedAt.getTime()) / 1000)
const md = renderMarkdown(results) + renderSnapshot(results.snapshot).join('\n') + renderHeartbeats(results.heartbeats) +
  ['', ...renderStorageMedia(results.storageMedia), ...renderLogs(results.logs), ...renderClusters(results.clusters), ...renderTesting(results.testing)].join('\n')
mkdirSync(outDir, { recursive: true })
writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n')
writeFileSync(join(outDir, `${stamp}.md`), md)
console.log(md)
console.log(`\nwritten: ${join(outDir, `${stamp}.json`)} and .md`)
process.exit()

// ---- scenarios ------------------------------------------------------------------------------------

async function phase(name, fn) {
  const t0 = performance.now()
  const steal0 = machineStealMs()
  try {
    return await fn()
  } finally {
    results.phases.push({ name, seconds: +((performance.now() - t0) / 1000).toFixed(1), stealS: +((machineStealMs() - steal0) / 1000).toFixed(1) })
    // What was measured so far outlives a run stopped before its end (the .md is written at the end).
    mkdirSync(outDir, { recursive: true })
    writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n')
  }
}

/** The bundle and `npm run build:node`, side by side; nodeBuild resolves to an error message or undefined. */
function startSideWork() {
  const t0 = performance.now()
  if (want('node') || want('observe')) nodeBuild = runQuiet('npm', ['run', 'build:node', '--silent']).then((r) => (r.status === 0 ? undefined : `npm run build:node failed: ${r.output.slice(-2000)}`))
  if (!want('bundle') && !want('node') && !want('observe')) return Promise.resolve()
  return Promise.all([want('bundle') ? bundleScenario() : undefined, nodeBuild]).then(() => {
    results.phases.push({ name: 'bundle and build:node (during the edge seeding when there is one)', seconds: +((performance.now() - t0) / 1000).toFixed(1) })
  })
}

function buildNodeQuietly() {
  return runQuiet('npm', ['run', 'build:node', '--silent']).then((r) => (r.status === 0 ? undefined : `npm run build:node failed: ${r.output.slice(-2000)}`))
}

/** A command in its own process group (ended with the bench), its output kept: {status, output}. */
async function runQuiet(cmd, args, env = {}) {
  const proc = startProcess(cmd, args, { cwd: root, env: { ...process.env, ...env } })
  await proc.exit
  await proc.stop()
  return { status: proc.exitCode, output: proc.output }
}

function snapshot() {
  const dir = tempDir('tree')
  if (a.worktree) {
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' }).split('\0').filter(Boolean)
    for (const f of files) {
      if (f.startsWith('bench/') || !existsSync(join(repo, f))) continue
      mkdirSync(dirname(join(dir, f)), { recursive: true })
      cpSync(join(repo, f), join(dir, f))
    }
  } else {
    execFileSync('bash', ['-c', 'set -o pipefail; git archive --format=tar HEAD | tar -x -C "$1"', 'snapshot', dir], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] })
  }
  rmSync(join(dir, 'bench'), { recursive: true, force: true })
  cpSync(join(repo, 'bench'), join(dir, 'bench'), { recursive: true, filter: (src) => !src.includes(`${join(repo, 'bench', 'results')}`) })
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/**
 * In-process microbenchmarks next to this file (bench/*.bench.mjs), each run as its own process, in the
 * working tree (they start no wrangler, and they import test helpers that may not be committed yet).
 */
function microBenchmarks() {
  const dir = join(repo, 'bench')
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.bench.mjs')).sort()) {
    log(`micro: ${f}`)
    const r = spawnSync(process.execPath, [join(dir, f)], { cwd: repo, encoding: 'utf8', timeout: 300_000, env: { ...process.env, BENCH_SMOKE: smoke ? '1' : '' } })
    results.micro.push({ file: f, status: r.status, output: (r.stdout + (r.status ? r.stderr : '')).trim().slice(-8000) })
  }
}

async function bundleScenario() {
  log('bundle: wrangler deploy --dry-run')
  const out = tempDir('bundle')
  const r = await runQuiet(join(root, 'node_modules', '.bin', 'wrangler'), ['deploy', '--dry-run', '--outdir', out], { WRANGLER_SEND_METRICS: 'false', WRANGLER_UPDATE_CHECK: 'false', WRANGLER_LOG_PATH: out })
  if (r.status !== 0) {
    results.bundle = { error: r.output.slice(-2000) }
    return
  }
  let raw = 0
  let gz = 0
  const files = []
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f)
      if (statSync(p).isDirectory()) walk(p)
      else if (!f.endsWith('.map') && !f.endsWith('.log') && f !== 'README.md') {
        const buf = readFileSync(p)
        raw += buf.length
        gz += gzipSync(buf, { level: 9 }).length
        files.push(p.slice(out.length + 1))
      }
    }
  }
  walk(out)
  const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(r.output)
  results.bundle = {
    rawBytes: raw,
    gzipBytes: gz,
    files,
    wranglerReport: m ? { rawKiB: Number(m[1]), gzipKiB: Number(m[2]) } : undefined,
    limitGzipBytes: 3 * 1024 * 1024,
  }
  rmSync(out, { recursive: true, force: true })
}

/**
 * The ceiling is measured twice, before and after the edge's reads and writes (its server idles in
 * between), and its figures are the medians over both halves' runs: a burst of other work on the
 * machine during one half then moves every ratio less.
 */
async function ceilingScenario(half) {
  if (!ceilingSrv) {
    log('ceiling: bare Hono route on wrangler dev (HTTPS)')
    ceilingSrv = await startWranglerWorker(root, join(root, 'bench', 'ceiling', 'wrangler.toml'), 'ceiling')
    results.startup.ceiling = { readyMs: ceilingSrv.readyMs }
  }
  const srv = ceilingSrv
  const merge = (key, m) => {
    const prev = results.edge[key]
    if (!prev) {
      results.edge[key] = m
      return
    }
    const runs = [...prev.runs, ...m.runs]
    results.edge[key] = {
      ...m, runs, ops: prev.ops + m.ops, failed: prev.failed + m.failed,
      rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), cpuMsPerOp: medianCpu(runs),
      rss: Math.max(prev.rss ?? 0, m.rss ?? 0), workerdRss: Math.max(prev.workerdRss ?? 0, m.workerdRss ?? 0),
    }
  }
  merge('ceiling', await httpScenario(srv, `ceiling (${half})`, { path: '/readyz', connections: P.connections }))
  const direct = directTarget(srv.stateDir)
  if (direct) merge('ceiling-direct', await httpScenario(directServer(srv, direct), `ceiling, direct to workerd (${half})`, { path: '/readyz' }))
  else if (half === 'before') results.notes.push('ceiling: the user Worker address was not found in the wrangler log; no direct figures')
  if (half === 'after' || !(want('reads') || want('writes') || want('crd'))) {
    ceilingSrv.client.close()
    await ceilingSrv.proc.stop()
    ceilingSrv = undefined
  }
}

async function edgeScenarios() {
  log('edge: npm start (fresh state dir)')
  const srv = await phase('edge: npm start', () => startEdge(root))
  results.startup.edge = { readyMs: srv.readyMs, rssAfterStart: treeRss(srv.pid ?? srv.proc.pid) }
  if (want('reads') || want('crd')) {
    sideWork = startSideWork()
    await phase('edge: seeding', async () => {
      if (want('reads')) await seedReads(srv)
      if (want('crd')) await seedCrd(srv)
    })
    await sideWork
  }
  if (want('reads')) Object.assign(results.edge, await phase('edge: reads', () => readScenarios(srv)))
  const watchedN = P.listSizes[1]
  if (want('reads') && watchedN)
    results.edge[`list-${watchedN}-watched`] = await phase('edge: LIST from the watch cache', () => watchedListScenario(srv, watchedN))
  if (want('writes')) Object.assign(results.edge, await phase('edge: writes', () => writeScenarios(srv)))
  if (want('crd')) results.crd.edge = await phase('edge: crd', () => crdScenarios(srv))
  if (want('protobuf'))
    results.protobuf = await phase('edge: protobuf', () => protobufScenario({
      srv, repo, sizes: P.pbPods, events: P.pbEvents, runs: P.runs, podBody, log,
      seed: (path, n, body) => seedObjects(srv, path, n, body),
    }))
  // the same GET and create without wrangler dev's proxy Worker and TLS in front (see bench/README.md)
  const direct = directTarget(srv.stateDir)
  if (direct && (want('reads') || want('writes'))) {
    const d = directServer(srv, direct)
    if (want('reads')) results.edge['get-direct'] = await httpScenario(d, 'get, direct to workerd', { path: `/api/v1/namespaces/${ns(P.listSizes[0])}/configmaps/cm-00000` })
    if (want('writes')) {
      let seq = 0
      results.edge['create-direct'] = await httpScenario(d, 'create, direct to workerd', {
        requests: () => [{
          method: 'POST', path: '/api/v1/namespaces/bench-w/configmaps',
          setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(cmBody(`d-${seq++}`, seq)) }),
        }],
      })
    }
  }
  srv.client.close()
  await srv.proc.stop()
  if (ceilingSrv) await phase('ceiling (after)', () => ceilingScenario('after'))
  if (want('watch')) await phase('watch', watchScenarios)
}

async function nodeScenarios() {
  log('node: etcd, node dist/node.js (fresh state dir)')
  const buildError = await nodeBuild
  if (buildError) {
    results.node = { error: buildError }
    return
  }
  const t0 = performance.now()
  const etcd = await startEtcd()
  let srv
  try {
    srv = await startNode(root, etcd.endpoint)
  } catch (err) {
    results.node = { error: `node mode did not start: ${String(err.message).slice(0, 3000)}` }
    await etcd.proc.stop()
    return
  }
  results.startup.node = { readyMs: srv.readyMs }
  results.phases.push({ name: 'node: etcd and node dist/node.js', seconds: +((performance.now() - t0) / 1000).toFixed(1) })
  const rssRoots = { etcd: etcd.proc.pid }
  srv.etcd = await projectEtcdClient(root, etcd.endpoint)
  await phase('node: seeding', async () => {
    await seedReads(srv)
    if (want('crd') && P.crdNode) await seedCrd(srv)
  })
  const ours = { ...(await phase('node: reads', () => readScenarios(srv, rssRoots))), ...(await phase('node: writes', () => writeScenarios(srv, rssRoots))) }
  if (want('crd') && P.crdNode) results.crd.node = await phase('node: crd', () => crdScenarios(srv, rssRoots))
  srv.client.close()
  await srv.proc.stop()
  const direct = await phase('node: etcd3 directly', () => etcdDirect(etcd))
  results.node = { etcd: etcd.endpoint && 'loopback', ours, etcd3: direct }
  await etcd.proc.stop()
}

// ---- the cost of metrics and audit (issue #17) ------------------------------------------------------

/**
 * The same GET and create, each mode started three times: with the request path's metrics off
 * (--request-metrics=false, REQUEST_METRICS=false), with them on (the default), and with them on and an
 * audit policy at Metadata for every request (Node mode: --audit-log-path to a file; the edge: Workers
 * Logs lines). The cost per request is the difference of the server's time per request (1 / req/s) to
 * the run with both off.
 */
async function observeScenario() {
  const dir = tempDir('observe')
  const policy = join(dir, 'policy.yaml')
  writeFileSync(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n')
  const configs = {
    off: { edge: ['--request-metrics', 'false'], node: ['--request-metrics=false'] },
    metrics: { edge: [], node: [] },
    'metrics+audit': {
      edge: ['--audit-policy-file', policy],
      node: [`--audit-policy-file=${policy}`, `--audit-log-path=${join(dir, 'audit.log')}`],
    },
  }
  const buildError = await nodeBuild
  let etcd
  for (const mode of ['node', 'edge']) {
    if (mode === 'node' && buildError) {
      results.observe.node = { error: buildError }
      continue
    }
    results.observe[mode] = {}
    for (const [name, args] of Object.entries(configs)) {
      await phase(`observe: ${mode} ${name}`, async () => {
        if (mode === 'node') etcd ??= await startEtcd()
        const srv = mode === 'node' ? await startNode(root, etcd.endpoint, args.node) : await startEdge(root, args.edge)
        try {
          // Node mode's runs share one etcd: a namespace of each run's own.
          const nsName = `bench-o-${Object.keys(results.observe[mode]).length}`
          await createNamespaces(srv, [nsName])
          const base = `/api/v1/namespaces/${nsName}/configmaps`
          await srv.client.must('POST', base, { body: cmBody('o-0', 0) })
          const out = (results.observe[mode][name] = {})
          out.get = await httpScenario(srv, `${name}: get`, { path: `${base}/o-0` })
          let seq = 0
          out.create = await httpScenario(srv, `${name}: create`, {
            perClient: () => [{
              method: 'POST', path: base,
              setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(cmBody(`o-${++seq}`, seq)) }),
            }],
          })
        } finally {
          srv.client.close()
          await srv.proc.stop()
        }
      })
    }
  }
  await etcd?.proc.stop()
}

/** Node heartbeats (bench/heartbeats.mjs) in Node mode, at the edge, and on etcd by itself. */
async function heartbeatScenarios() {
  const h = (results.heartbeats = { node: [], edge: [], etcd3: [] })
  const opts = (nodes) => ({
    nodes,
    durationS: P.heartbeatSeconds,
    compression: P.heartbeatCompression,
    seedConnections: P.seedConnections,
    log,
  })
  const each = async (list, fn) => {
    for (const n of P.heartbeatNodes) {
      try {
        list.push(await fn(n))
      } catch (err) {
        list.push({ nodes: n, error: String(err?.message ?? err) })
      }
    }
  }
  const build = await (nodeBuild ??= buildNodeQuietly())
  const etcd = await startEtcd()
  try {
    if (build) h.node.push({ error: build })
    else {
      const srv = await phase('heartbeats: node start', () => startNode(root, etcd.endpoint))
      await phase('heartbeats: node', () => each(h.node, (n) => apiHeartbeats(srv.client, opts(n))))
      srv.client.close()
      await srv.proc.stop()
    }
    const client = await projectEtcdClient(root, etcd.endpoint)
    await phase('heartbeats: etcd3', () => each(h.etcd3, (n) => etcdHeartbeats(client, opts(n))))
    client.close()
  } finally {
    await etcd.proc.stop()
  }
  const edge = await phase('heartbeats: edge start', () => startEdge(root))
  await phase('heartbeats: edge', () => each(h.edge, (n) => apiHeartbeats(edge.client, opts(n))))
  edge.client.close()
  await edge.proc.stop()
}

// ---- storage media type (issue #18) -----------------------------------------------------------------

/**
 * Node mode with --storage-media-type protobuf, then JSON (each its own server and namespace on one
 * etcd), create / get / LIST of ConfigMaps and Pods measured as the node scenario measures (JSON on the
 * wire in both: only what is stored differs); then the etcd3 client doing the same on that etcd with
 * the values each server stored: a get, a range of the namespace's prefix, a create-if-absent.
 */
async function storageMediaScenario() {
  const build = await (nodeBuild ??= buildNodeQuietly())
  if (build) {
    results.storageMedia = { error: build }
    return
  }
  const out = (results.storageMedia = { objects: P.mediaObjects, protobuf: {}, json: {}, etcd3: {}, stored: {} })
  const etcd = await startEtcd()
  const types = { protobuf: 'application/vnd.kubernetes.protobuf', json: 'application/json' }
  const nsFor = (form) => `bench-sm-${form}`
  const kindBody = { configmaps: (name, i) => cmBody(name, i), pods: (name) => podBody(name) }
  try {
    for (const [form, type] of Object.entries(types)) {
      log(`storage-media: node dist/node.js --storage-media-type=${type}`)
      const srv = await phase(`storage-media: node ${form} start`, () => startNode(root, etcd.endpoint, [`--storage-media-type=${type}`]))
      try {
        await phase(`storage-media: node ${form}`, async () => {
          await createNamespaces(srv, [nsFor(form)])
          for (const kind of MEDIA_KINDS) {
            const base = `/api/v1/namespaces/${nsFor(form)}/${kind}`
            await forEachConcurrent(P.mediaObjects, P.seedConnections, (i) => srv.client.must('POST', base, { body: kindBody[kind](`o-${pad(i)}`, i) }))
            out[form][`${kind}-get`] = await httpScenario(srv, `${form}: get ${kind}`, { path: `${base}/o-00000` }, { etcd: etcd.proc.pid })
            out[form][`${kind}-list`] = await httpScenario(srv, `${form}: list ${P.mediaObjects} ${kind}`, { path: base, connections: P.listConnections }, { etcd: etcd.proc.pid })
            let seq = 0
            out[form][`${kind}-create`] = await httpScenario(srv, `${form}: create ${kind}`, {
              perClient: () => [{
                method: 'POST', path: base,
                setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(kindBody[kind](`c-${++seq}`, seq)) }),
              }],
            }, { etcd: etcd.proc.pid })
          }
        })
      } finally {
        srv.client.close()
        await srv.proc.stop()
      }
    }
    const client = await projectEtcdClient(root, etcd.endpoint)
    const etcdTiming = { ...timing, durationS: P.etcdDurationS }
    const t0 = performance.now()
    for (const form of Object.keys(types)) {
      const r = (out.etcd3[form] = {})
      for (const kind of MEDIA_KINDS) {
        const prefix = `/registry/${kind}/${nsFor(form)}/`
        const value = await client.get(`${prefix}o-00000`).buffer()
        if (!value) throw new Error(`storage-media: ${prefix}o-00000 is not in etcd`)
        // kube's protobuf envelope starts with "k8s\0"; JSON with "{"
        const got = value.subarray(0, 4).toString('latin1') === 'k8s\0' ? 'protobuf' : value[0] === 0x7b ? 'json' : 'other'
        out.stored[`${kind} (${form})`] = got
        if (got !== form) throw new Error(`storage-media: --storage-media-type=${types[form]} stored ${kind} as ${got}`)
        const run = (name, op, concurrency = P.connections) => {
          log(`  etcd3 (${form} value) ${name} ${kind}`)
          return measure(withClientCpu(etcd, (durationS) => loop({ concurrency, durationS, op })), etcdTiming)
        }
        r[`${kind}-get`] = await run('get', () => client.get(`${prefix}o-00000`).buffer())
        r[`${kind}-list`] = await run('list', () => client.getAll().prefix(prefix).exec(), P.listConnections)
        let seq = 0
        r[`${kind}-create`] = await run('create', async () => {
          const key = `/bench-direct/${form}/${kind}/c-${seq++}`
          const t = await client.if(key, 'Create', '==', 0).then(client.put(key).value(value)).commit()
          if (!t.succeeded) throw new Error('exists')
        })
      }
    }
    client.close()
    results.phases.push({ name: 'storage-media: etcd3 directly', seconds: +((performance.now() - t0) / 1000).toFixed(1) })
  } catch (err) {
    // what was measured stays in the report, with what stopped the rest
    out.error = String(err?.stack ?? err)
    log(`storage-media: ${out.error}`)
  } finally {
    await etcd.proc.stop()
  }
}

// ---- HTTP scenarios (shared by edge and node mode) -------------------------------------------------

/** The same server addressed at its user Worker directly (plain HTTP on loopback, no dev proxy). */
function directServer(srv, direct) {
  return { ...srv, kind: `${srv.kind} direct`, url: direct.url, extraHeaders: direct.headers }
}

function authHeaders(srv, extra = {}) {
  const h = { accept: 'application/json', ...srv.extraHeaders, ...extra }
  if (srv.token) h.authorization = `Bearer ${srv.token}`
  return h
}

/** A measured autocannon scenario with the peak RSS of the server's process tree (and of extra roots). */
async function httpScenario(srv, name, spec, extraRoots = {}) {
  log(`  ${srv.kind} ${name}`)
  const sampler = memorySampler({ server: srv.proc.pid, ...extraRoots })
  const run = spec.run ?? (async (durationS) => {
    await spec.before?.()
    return cannon({
      url: srv.url, headers: authHeaders(srv, spec.headers), connections: spec.connections ?? P.connections, durationS,
      path: spec.path, method: spec.method, body: spec.body, requests: spec.requests?.(), perClient: spec.perClient,
    })
  })
  // every run's server CPU per operation, read from /proc around it (see "CPU per operation" in bench/README.md)
  const timedRun = async (durationS, warm) => {
    const before = cpuReading(srv, extraRoots)
    const r = await run(durationS, warm)
    if (r?.ops) r.cpuMsPerOp = cpuPerOp(before, cpuReading(srv, extraRoots), r.ops)
    return r
  }
  const m = await measure(timedRun, spec.timing ?? timing)
  const peak = sampler.stop()
  return { ...m, connections: spec.connections ?? P.connections, rss: peak.server?.total, workerdRss: peak.server?.byComm.workerd, etcdRss: peak.etcd?.total }
}

/**
 * CPU ms used so far by a server's parts: `server` (its whole process tree), and for `npm start`
 * `worker` (the workerd that runs the Worker and its Durable Object: workerd runs both on one thread, so
 * /proc cannot part them) and `proxy` (what a deployed Worker does not have: the HTTPS listener of
 * scripts/start.mjs in front, src/node/dev-front.ts, and the workerd of wrangler dev's proxy Worker);
 * plus each extra root (Node mode's etcd).
 */
function cpuReading(srv, extraRoots = {}) {
  const members = treeCpu(srv.proc.pid)
  const out = { server: members.reduce((a, m) => a + m.cpuMs, 0) }
  for (const m of members) {
    if (!srv.port) continue
    let role = m.pid === srv.proc.pid ? 'proxy' : workerdRoles.get(m.pid)
    if (!role && m.comm === 'workerd') {
      try {
        role = workerdRole(readFileSync(`/proc/${m.pid}/cmdline`, 'utf8'))
      } catch { continue }
      workerdRoles.set(m.pid, role)
    }
    if (role) out[role] = (out[role] ?? 0) + m.cpuMs
  }
  for (const [label, pid] of Object.entries(extraRoots)) if (pid) out[label] = treeCpu(pid).reduce((a, m) => a + m.cpuMs, 0)
  return out
}

/**
 * Which workerd of wrangler dev a command line is: the user Worker's listens on a port the system picks
 * (entry=127.0.0.1:0), the proxy Worker's on the one it was given.
 */
function workerdRole(cmdline) {
  return /entry=127\.0\.0\.1:0(\0|$)/.test(cmdline) ? 'worker' : 'proxy'
}

function cpuPerOp(before, after, ops) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] - (before[k] ?? 0)) / ops]))
}

function ns(n) { return `bench-l${n}` }
function cmBody(name, i) { return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { key: `value-${i}` } } }
function podBody(name) { return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } } }
function pad(i) { return String(i).padStart(5, '0') }

async function createNamespaces(srv, names) {
  for (const name of names) await srv.client.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })
}

/**
 * n objects body(0) … body(n-1) in the collection at `path`, for the reads to read. Through the API with
 * --seed-connections clients; in Node mode (srv.etcd) as copies put into etcd (./lib/seed.mjs).
 */
async function seedObjects(srv, path, n, body) {
  if (!srv.etcd) return forEachConcurrent(n, P.seedConnections, (i) => srv.client.must('POST', path, { body: body(i) }))
  await seedCopiesInEtcd(srv.client, srv.etcd, path, n, body)
  // the server must list every copy as its own object (beside what controllers add: kube-root-ca.crt)
  const items = (await srv.client.must('GET', path)).json().items
  const names = new Set(Array.from({ length: n }, (_, i) => body(i).metadata.name))
  const ours = items.filter((o) => names.has(o.metadata.name))
  if (ours.length !== n || new Set(ours.map((o) => o.metadata.uid)).size !== n) throw new Error(`seeding: ${path} lists ${ours.length} of the ${n} objects`)
}

function seedNote(srv, created, t0) {
  const s = (performance.now() - t0) / 1000
  log(`  ${srv.kind} seeded ${created} objects in ${s.toFixed(1)} s`)
  results.notes.push(srv.etcd
    ? `${srv.kind}: seeding ${created} objects took ${s.toFixed(1)} s (one of each kind and namespace through the API, the rest copies of its stored value put into etcd directly)`
    : `${srv.kind}: seeding ${created} objects with ${P.seedConnections} clients took ${s.toFixed(1)} s (${(created / s).toFixed(0)}/s${sideWork ? ', beside the bundle and build:node' : ''})`)
}

async function seedReads(srv) {
  const t0 = performance.now()
  await createNamespaces(srv, [...P.listSizes.map(ns), 'bench-pods'])
  let created = 0
  for (const n of P.listSizes) {
    await seedObjects(srv, `/api/v1/namespaces/${ns(n)}/configmaps`, n, (i) => cmBody(`cm-${pad(i)}`, i))
    created += n
  }
  await seedObjects(srv, '/api/v1/namespaces/bench-pods/pods', P.pods, (i) => podBody(`pod-${pad(i)}`))
  created += P.pods
  seedNote(srv, created, t0)
}

async function readScenarios(srv, extraRoots) {
  const out = {}
  const first = P.listSizes[0]
  out.get = await httpScenario(srv, 'get', { path: `/api/v1/namespaces/${ns(first)}/configmaps/cm-00000` }, extraRoots)
  for (const n of P.listSizes) {
    const conns = n >= 1000 ? P.listConnections : P.connections
    const path = `/api/v1/namespaces/${ns(n)}/configmaps`
    out[`list-${n}`] = await httpScenario(srv, `list-${n}`, { path, connections: conns }, extraRoots)
    if (n > 500) out[`list-${n}-paged`] = await httpScenario(srv, `list-${n}-paged`, { connections: conns, run: pagedRun(srv, path, conns, Math.ceil(n / 500)) }, extraRoots)
  }
  out[`table-pods-${P.pods}`] = await httpScenario(srv, 'table', {
    path: '/api/v1/namespaces/bench-pods/pods', connections: P.listConnections,
    headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  }, extraRoots)
  return out
}

/**
 * The LIST of n ConfigMaps again with a watch of ConfigMaps open, after one LIST of every ConfigMap (an
 * informer's start): the isolate's watch cache answers it from memory (src/api/watch-cache.ts).
 */
async function watchedListScenario(srv, n) {
  const path = `/api/v1/namespaces/${ns(n)}/configmaps`
  const u = new URL(srv.url)
  const watch = httpsRequest({
    host: u.hostname, port: u.port, ca: srv.ca, headers: authHeaders(srv),
    path: `${path}?watch=true&resourceVersion=0`,
  })
  await new Promise((resolve, reject) => {
    watch.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`watch: HTTP ${res.statusCode}`))
      res.resume()
      resolve()
    })
    watch.on('error', reject)
    watch.end()
  })
  try {
    await srv.client.must('GET', '/api/v1/configmaps')
    return await httpScenario(srv, `list-${n}-watched`, { path, connections: P.listConnections })
  } finally {
    watch.destroy()
  }
}

/** A paginated LIST walk (limit=500, following continue) as one operation: walks/s and walk latency. */
function pagedRun(srv, path, connections, pagesPerWalk) {
  return async (durationS) => {
    const walks = []
    let bad = 0
    const r = await cannon({
      url: srv.url, headers: authHeaders(srv), connections, durationS,
      perClient: () => {
        const walk = { cont: undefined, start: 0 }
        return [{
          method: 'GET',
          setupRequest(req) {
            if (!walk.cont) walk.start = performance.now()
            return { ...req, path: `${path}?limit=500${walk.cont ? `&continue=${encodeURIComponent(walk.cont)}` : ''}` }
          },
          onResponse(status, body) {
            if (status !== 200) {
              bad++
              walk.cont = undefined
              return
            }
            const m = /"continue":"([^"]*)"/.exec(body.slice(0, 2000))
            if (m && m[1]) walk.cont = m[1]
            else {
              walk.cont = undefined
              walks.push(performance.now() - walk.start)
            }
          },
        }]
      },
    })
    walks.sort((x, y) => x - y)
    // rateHint: walks/s from the pages, for a warm-up too short to finish a walk (see measure)
    return { ops: walks.length, failed: bad + r.failed, seconds: r.seconds, rps: walks.length / r.seconds, p50: percentile(walks, 50), p99: percentile(walks, 99), pagesPerS: r.rps, rateHint: r.rps / pagesPerWalk }
  }
}

async function writeScenarios(srv, extraRoots) {
  const out = {}
  const c = srv.client
  await createNamespaces(srv, ['bench-w', 'bench-pw'])
  const base = '/api/v1/namespaces/bench-w/configmaps'
  // create: unique names; what was created is deleted by the delete scenario
  let seq = 0
  const created = []
  out.create = await httpScenario(srv, 'create', {
    perClient: () => {
      let name
      return [{
        method: 'POST', path: base,
        setupRequest(req) {
          name = `c-${seq++}`
          return { ...req, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(cmBody(name, seq)) }
        },
        onResponse(status) { if (status === 201) created.push(name) },
      }]
    },
  }, extraRoots)
  // update (PUT with resourceVersion) and merge patch: each client its own object
  const rv = []
  for (let i = 0; i < P.connections; i++) {
    const r = await c.must('POST', base, { body: cmBody(`u-${i}`, i) })
    rv[i] = r.json().metadata.resourceVersion
  }
  // a run ends with requests in flight whose answers are never read: start each run from the objects' rv
  // (once the server has finished them: the same rvs read twice 300 ms apart)
  const readAll = async () => {
    const out = []
    for (let i = 0; i < P.connections; i++) out[i] = (await c.must('GET', `${base}/u-${i}`)).json().metadata.resourceVersion
    return out
  }
  const refresh = async () => {
    let now = await readAll()
    for (let tries = 0; tries < 20; tries++) {
      await sleep(300)
      const again = await readAll()
      if (again.join() === now.join()) break
      now = again
    }
    now.forEach((v, i) => { rv[i] = v })
  }
  out.update = await httpScenario(srv, 'update', {
    before: refresh,
    perClient: (client) => {
      const i = client % P.connections
      let n = 0
      return [{
        method: 'PUT',
        setupRequest(req) {
          const body = cmBody(`u-${i}`, n++)
          body.metadata.resourceVersion = rv[i]
          return { ...req, path: `${base}/u-${i}`, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }
        },
        onResponse(status, body) {
          const m = /"resourceVersion":"(\d+)"/.exec(body)
          if (status === 200 && m) rv[i] = m[1]
        },
      }]
    },
  }, extraRoots)
  out.patch = await httpScenario(srv, 'merge patch', {
    perClient: (client) => {
      const i = client % P.connections
      let n = 0
      return [{
        method: 'PATCH',
        setupRequest(req) {
          return { ...req, path: `${base}/u-${i}`, headers: { ...req.headers, 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ data: { key: `patched-${n++}` } }) }
        },
      }]
    },
  }, extraRoots)
  // delete: the objects the create scenario made, split evenly over the warm-up and the timed runs
  const per = Math.floor(created.length / (P.runs + (P.warmupS > 0 ? 1 : 0)))
  if (per > 0) {
    out.delete = await httpScenario(srv, 'delete', {
      run: async () => cannon({
        url: srv.url, headers: authHeaders(srv), connections: Math.min(P.connections, per), amount: per,
        requests: [{ method: 'DELETE', setupRequest: (req) => ({ ...req, path: `${base}/${created.shift()}` }) }],
      }),
    }, extraRoots)
    out.delete.note = `${per} objects per run (those made by create)`
  }
  let pseq = 0
  out['create-pod'] = await httpScenario(srv, 'create pod', {
    requests: () => [{
      method: 'POST', path: '/api/v1/namespaces/bench-pw/pods',
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(podBody(`p-${pseq++}`)) }),
    }],
  }, extraRoots)
  return out
}

// ---- custom resources next to a built-in kind of the same size --------------------------------------

// functions, not constants: the scenarios above run before a constant down here would be initialized
function crdGroup() { return 'bench.example.com' }
function crdObject() {
  const CRD_GROUP = crdGroup()
  return {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${CRD_GROUP}` },
  spec: {
    group: CRD_GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{
      name: 'v1', served: true, storage: true,
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              required: ['image', 'size'],
              properties: {
                image: { type: 'string', maxLength: 253 },
                size: { type: 'string', pattern: '^[0-9]+(Mi|Gi)$' },
                owner: { type: 'string', maxLength: 63 },
                note: { type: 'string', maxLength: 256 },
              },
              'x-kubernetes-validations': [{ rule: "!self.image.endsWith(':latest')", message: 'pin the image to a version' }],
            },
          },
        },
      },
    }],
  },
  }
}
function crBody(name, i) {
  return { apiVersion: `${crdGroup()}/v1`, kind: 'Widget', metadata: { name }, spec: { image: 'registry.example.com/team-a/app:1.4.2', size: '10Gi', owner: 'team-a', note: `value-${i}` } }
}
/** A ConfigMap holding the custom resource's fields, its note padded so that both bodies are as long. */
function cmLikeCr(name, i) {
  const cr = crBody(name, i)
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { ...cr.spec } }
  cm.data.note += '-'.repeat(JSON.stringify(cr).length - JSON.stringify(cm).length)
  return cm
}
function CR_PATH(namespace) { return `/apis/${crdGroup()}/v1/namespaces/${namespace}/widgets` }
function CM_PATH(namespace) { return `/api/v1/namespaces/${namespace}/configmaps` }

async function seedCrd(srv) {
  const t0 = performance.now()
  await srv.client.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crdObject() })
  // served once Established (set with the CRD's own write here; waited for as a client would)
  await waitForServed(srv)
  await createNamespaces(srv, ['bench-crd', 'bench-crd-w'])
  await seedObjects(srv, CR_PATH('bench-crd'), P.crdObjects, (i) => crBody(`cr-${pad(i)}`, i))
  await seedObjects(srv, CM_PATH('bench-crd'), P.crdObjects, (i) => cmLikeCr(`cm-${pad(i)}`, i))
  seedNote(srv, 2 * P.crdObjects, t0)
}

async function waitForServed(srv) {
  for (let i = 0; i < 100; i++) {
    if ((await srv.client.request('GET', CR_PATH('default'))).status === 200) return
    await sleep(100)
  }
  throw new Error('the bench CRD is not served after 10 s')
}

/**
 * Create (16 clients) and LIST of --crd-objects, for the custom resource and for ConfigMaps of the same
 * JSON size, one after the other in the same run (ConfigMap first, then the custom resource, for each).
 */
async function crdScenarios(srv, extraRoots) {
  const out = { bytes: JSON.stringify(crBody('cr-00000', 0)).length, cmBytes: JSON.stringify(cmLikeCr('cm-00000', 0)).length, objects: P.crdObjects }
  const create = (label, path, body) => {
    let seq = 0
    return httpScenario(srv, `crd: create ${label}`, {
      requests: () => [{
        method: 'POST', path,
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'content-type': 'application/json' }, body: JSON.stringify(body(`${label}-${seq}`, seq++)) }),
      }],
    }, extraRoots)
  }
  out['create-cm'] = await create('cm', CM_PATH('bench-crd-w'), cmLikeCr)
  out['create-cr'] = await create('cr', CR_PATH('bench-crd-w'), crBody)
  out['list-cm'] = await httpScenario(srv, `crd: list ${P.crdObjects} cm`, { path: CM_PATH('bench-crd'), connections: P.listConnections }, extraRoots)
  out['list-cr'] = await httpScenario(srv, `crd: list ${P.crdObjects} cr`, { path: CR_PATH('bench-crd'), connections: P.listConnections }, extraRoots)
  return out
}

// ---- watch ------------------------------------------------------------------------------------------

/**
 * Each workerd in a tree: [{pid, role, fds, rss}]. The user worker runs the API server and the Durable
 * Object; the proxy is wrangler dev's proxy Worker.
 */
function workerdFds(rootPid) {
  const out = []
  for (const m of treeMembers(rootPid)) {
    if (m.comm !== 'workerd') continue
    try {
      const role = workerdRole(readFileSync(`/proc/${m.pid}/cmdline`, 'utf8')) === 'worker' ? 'user worker' : 'proxy'
      out.push({ pid: m.pid, role, fds: readdirSync(`/proc/${m.pid}/fd`).length, rss: m.rss })
    } catch { /* gone */ }
  }
  return out
}

function roleRss(list, role) {
  return list.filter((x) => x.role === role).reduce((a, x) => a + x.rss, 0)
}

/**
 * One `npm start` for every N, the watchers added to those already open (100, then 900 more, ...):
 * opening is the slow part (TLS and a store watch per watcher), and opening 100 + 1,000 + 9,000 + 10,000
 * afresh took half of the old run. Memory per watcher is the growth since the fresh server before the
 * first watcher, over every watcher open. A step that loses watchers, times out or fails leaves a server
 * that is no longer "N healthy watchers", so the next N starts on a fresh `npm start`.
 */
async function watchScenarios() {
  const base = '/api/v1/namespaces/bench-watch/configmaps'
  const limit = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
  results.notes.push(`watch: open-file limit of this run and its children: ${limit?.replace(/\s+/g, ' ').trim()} (the bench does not change it)`)
  for (const server of P.watchServers) await watchServerScenario(base, server)
}

async function watchServerScenario(base, server) {
  let live
  try {
    for (const n of [...P.watchers].sort((x, y) => x - y)) {
      if (live && (!live.healthy || live.total > n)) {
        await endWatchServer(live)
        live = undefined
      }
      const r = { server, watchers: n }
      results.watch.push(r)
      try {
        if (!live) live = await startWatchServer(base, server)
        else r.addedTo = live.total
        log(`  watch (${server}): ${n} watchers (${r.addedTo ? `${n - r.addedTo} more on the server with ${r.addedTo}` : 'fresh server'})`)
        await watchStep(live, base, n, r)
      } catch (err) {
        r.error = String(err?.message ?? err).slice(0, 2000)
        log(`    failed: ${r.error}`)
        if (live) {
          live.healthy = false
          r.serverOutput = live.srv.proc.output.slice(-4000)
          const fatal = serverFatal(live.srv)
          if (fatal && !r.error.startsWith('the server died')) r.error = `the server died: ${fatal} (after: ${r.error})`
        }
      }
    }
  } finally {
    if (live) await endWatchServer(live)
  }
}

/**
 * npm start (for edge-direct addressed at its user Worker), or Node mode (`dist/node.js`, built once) on
 * an etcd of its own, its watch cache on or off.
 */
async function startWatchServer(base, server) {
  let etcd
  let srv
  if (server === 'edge') srv = await startEdge(root)
  else if (server === 'edge-direct') srv = await edgeDirect(await startEdge(root))
  else {
    const buildError = await (nodeBuild ??= buildNodeQuietly())
    if (buildError) throw new Error(buildError)
    etcd = await startEtcd()
    try {
      srv = await startNode(root, etcd.endpoint, server === 'node-no-cache' ? ['--watch-cache=false'] : [])
    } catch (err) {
      await etcd.proc.stop()
      throw err
    }
  }
  const c = srv.client
  await c.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-watch' } } })
  for (let i = 0; i < 16; i++) await c.must('POST', base, { body: cmBody(`w-${i}`, i) })
  await sleep(1000)
  const live = { srv, etcd, c, pid: srv.proc.pid, procs: [], total: 0, kk: 0, healthy: true, waiters: [] }
  live.before = treeRss(live.pid)
  live.beforeWorkerd = workerdFds(live.pid)
  for (let p = 0; p < P.watchProcs; p++) {
    const child = fork(join(root, 'bench', 'lib', 'watchers.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const entry = { child, k: 0, t: [], opened: undefined, alive: 0, closedByServer: 0 }
    child.on('message', (m) => {
      if (m.type === 'opened') {
        entry.opened = m
        entry.alive = m.alive
      } else if (m.type === 'event') {
        entry.k = m.k
        entry.t[m.k] = BigInt(m.t)
      } else if (m.type === 'ended') {
        entry.closedByServer = m.closedByServer
        entry.alive = m.watchers
      }
      for (const w of live.waiters.splice(0)) w()
    })
    child.on('exit', () => { entry.exited = true; for (const w of live.waiters.splice(0)) w() })
    live.procs.push(entry)
  }
  return live
}

/**
 * The same npm start with its client (setup and writes) and watchers sent to the user Worker directly:
 * plain HTTP to its own address with the headers wrangler dev's proxy adds. The figures are then the API
 * server's own, without the Node front and the proxy Worker (and their two descriptors per watcher) that
 * a deployed Worker does not have.
 */
async function edgeDirect(srv) {
  let direct
  try {
    await waitFor(() => (direct = directTarget(srv.stateDir)), { what: 'the user Worker address in the wrangler log', proc: srv.proc, timeoutMs: 10_000 })
  } catch (err) {
    srv.client.close()
    await srv.proc.stop()
    throw err
  }
  srv.client.close()
  return { ...directServer(srv, direct), client: new Client(direct.url, { token: srv.token, headers: direct.headers }) }
}

async function endWatchServer(live) {
  for (const e of live.procs) {
    if (!e.exited) {
      try { e.child.send({ cmd: 'close' }) } catch { /* gone */ }
    }
  }
  await sleep(500)
  for (const e of live.procs) if (!e.exited) e.child.kill('SIGKILL')
  live.c.close()
  await live.srv.proc.stop()
  await live.etcd?.proc.stop()
}

/** Brings the server's watchers up to n, then the latency, memory and delivery figures at n. */
async function watchStep(live, base, n, r) {
  const { srv, c, pid, procs } = live
  // 30 s, not the client's 120: after the 9,000 step one of these once hung for the whole 120 s
  const rv = (await c.must('GET', base, { timeoutMs: 30_000 })).json().metadata.resourceVersion
  const sampler = memorySampler({ server: pid })
  const changed = () => new Promise((res) => live.waiters.push(res))
  let fatal
  let fatalCheckedAt = 0
  // workerd aborting (out of open files) does not end wrangler dev; its log says so
  const died = () => {
    if (!fatal && Date.now() - fatalCheckedAt > 1000) {
      fatalCheckedAt = Date.now()
      fatal = srv.proc.exited ? `wrangler dev exited (${srv.proc.exitCode})` : serverFatal(srv)
    }
    return fatal
  }
  const until = async (cond, ms) => {
    const end = Date.now() + ms
    while (!cond()) {
      if (Date.now() > end) return false
      await Promise.race([changed(), sleep(500)])
    }
    return true
  }
  const add = n - live.total
  const k = procs.length
  const tOpen = performance.now()
  const path = `${base}?watch=true&resourceVersion=${rv}`
  procs.forEach((e, i) => {
    e.opened = undefined
    e.child.send({ cmd: 'open', url: srv.url, path, token: srv.token, ca: srv.ca, headers: srv.extraHeaders, count: Math.floor(add / k) + (i < add % k ? 1 : 0), k0: live.kk })
  })
  const allOpened = () => procs.every((e) => e.opened || e.exited)
  // stopped as soon as the server is gone: the rest of the opening would only count errors
  // bounded by the step's size too (20 watchers/s at least), so that a proxy that stops accepting
  // without dying does not hold the 10,000 attempt for the whole --watch-open-seconds
  const openLimitS = Math.min(P.watchOpenS, Math.max(30, add / 20))
  if (!(await until(() => allOpened() || died(), openLimitS * 1000)) || (fatal && !allOpened())) {
    if (!fatal) r.openStopped = `opening stopped after ${openLimitS.toFixed(0)} s (--watch-open-seconds, or 20 watchers/s)`
    for (const e of procs) e.child.send({ cmd: 'stop-opening' })
    await until(allOpened, 30_000)
  }
  r.openedNow = procs.reduce((s, e) => s + (e.opened?.ok ?? 0), 0)
  r.openFailed = procs.reduce((s, e) => s + (e.opened?.failed ?? 0), 0)
  r.openError = procs.map((e) => e.opened?.firstError).find(Boolean)
  r.openSeconds = (performance.now() - tOpen) / 1000
  live.total += r.openedNow
  r.opened = procs.reduce((s, e) => s + e.alive, 0)
  r.workerdFds = workerdFds(pid)
  log(`    opened ${r.openedNow}/${add} in ${r.openSeconds.toFixed(1)} s, ${r.opened} open${r.openError ? ` (first error: ${r.openError})` : ''}`)
  if (died()) throw new Error(`the server died: ${fatal}${r.openError ? ` (first open error: ${r.openError})` : ''}`)
  if (!r.opened) throw new Error(`no watcher open: ${r.openError}`)
  if (r.openFailed || r.openedNow < add) live.healthy = false
  // One write that must happen exactly once (each is counted as one event): a 503 from wrangler's
  // proxy or a dropped connection is checked against the object, then sent again; both are counted.
  r.writeRetries = 0
  const patchOnce = async (name, value) => {
    for (let attempt = 0; ; attempt++) {
      let failure
      try {
        const res = await c.request('PATCH', `${base}/${name}`, { body: { data: { key: value } }, headers: { 'content-type': 'application/merge-patch+json' } })
        if (res.status === 200) return
        if (res.status !== 503) throw new Error(`PATCH ${name}: HTTP ${res.status}: ${res.body.slice(0, 300)}`)
        failure = `HTTP 503: ${res.body.slice(0, 120)}`
      } catch (err) {
        if (String(err?.message).startsWith('PATCH ')) throw err
        failure = String(err?.message ?? err)
      }
      r.writeRetries++
      r.writeError ??= failure
      if (attempt >= 5) throw new Error(`PATCH ${name}: ${failure} (5 retries)`)
      await sleep(100)
      const now = await c.request('GET', `${base}/${name}`)
      if (now.status === 200 && now.json().data?.key === value) return // it was written; the answer was lost
    }
  }
  const gone = () => procs.every((e) => e.exited || e.alive === 0)
  const done = (kk) => procs.every((e) => e.exited || e.alive === 0 || e.k >= kk)
  const lastArrival = (kk) => procs.reduce((m, e) => (e.t[kk] != null && e.t[kk] > m ? e.t[kk] : m), 0n)
  // latency: one write at a time, from its response to its event at the last watcher; at most
  // --watch-write-seconds of them once 10 are done (at 9,000 watchers one takes seconds)
  const lat = []
  const fromSend = []
  const writeMs = []
  const tWrites = performance.now()
  for (let i = 0; i < P.watchWrites; i++) {
    if (i >= 10 && performance.now() - tWrites > P.watchWriteS * 1000) {
      r.writesStopped = `${i} timed writes (--watch-write-seconds)`
      break
    }
    const tSend = process.hrtime.bigint()
    const retriesBefore = r.writeRetries
    await patchOnce('w-0', `l-${r.watchers}-${i}`)
    const tResp = process.hrtime.bigint()
    const kk = ++live.kk
    if (!(await until(() => done(kk), P.watchEventS * 1000))) {
      r.timeout = `event ${kk} did not reach every watcher within ${P.watchEventS} s`
      break
    }
    if (gone()) {
      r.timeout = `every watcher was closed by the server before event ${kk} reached it`
      break
    }
    if (r.writeRetries === retriesBefore) { // a retried write has no meaningful latency
      lat.push(Number(lastArrival(kk) - tResp) / 1e6)
      fromSend.push(Number(lastArrival(kk) - tSend) / 1e6)
      writeMs.push(Number(tResp - tSend) / 1e6)
    }
    // memory is read once every watcher is open and has had an event (later, watchers may be gone)
    if (i === 0) {
      r.rssAfterFirstEvent = treeRss(pid)
      r.workerdAfterFirstEvent = workerdFds(pid)
    }
  }
  const after = r.rssAfterFirstEvent ?? treeRss(pid)
  const afterWorkerd = r.workerdAfterFirstEvent ?? workerdFds(pid)
  for (const xs of [lat, fromSend, writeMs]) xs.sort((x, y) => x - y)
  r.latency = { writes: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.at(-1) }
  // the write's own time, and from sending it: a write may answer only after its fan-out
  r.fromSend = { p50: percentile(fromSend, 50), p99: percentile(fromSend, 99) }
  r.writeMs = { p50: percentile(writeMs, 50), p99: percentile(writeMs, 99) }
  r.memPerWatcher = {
    tree: (after.total - live.before.total) / live.total,
    workerd: ((after.byComm.workerd ?? 0) - (live.before.byComm.workerd ?? 0)) / live.total,
    userWorker: (roleRss(afterWorkerd, 'user worker') - roleRss(live.beforeWorkerd, 'user worker')) / live.total,
    proxy: (roleRss(afterWorkerd, 'proxy') - roleRss(live.beforeWorkerd, 'proxy')) / live.total,
    before: live.before, after,
  }
  // delivery: a burst of writes from 16 clients, until every event reached every watcher
  if (!r.timeout) {
    // at least 5 writes (45,000 events at 9,000 watchers): delivery takes seconds per write there
    const burst = Math.max(5, Math.min(200, Math.ceil(P.watchEvents / r.opened)))
    const t0 = process.hrtime.bigint()
    const cpu0 = cpuReading(srv, { etcd: live.etcd?.proc.pid })
    await forEachConcurrent(burst, 16, (i) => patchOnce(`w-${i % 16}`, `b-${r.watchers}-${i}`))
    const writesDone = process.hrtime.bigint()
    const target = (live.kk += burst)
    const reached = await until(() => done(target), 300_000)
    if (gone()) r.timeout = `every watcher was closed by the server during the burst of ${burst} writes`
    else if (reached) {
      const s = Number(lastArrival(target) - t0) / 1e9
      const alive = procs.reduce((x, e) => x + e.alive, 0)
      // the writes and every event's fan-out, per event delivered (in µs)
      const perEvent = cpuPerOp(cpu0, cpuReading(srv, { etcd: live.etcd?.proc.pid }), (alive * burst) / 1000)
      r.delivery = { writes: burst, seconds: s, writeSeconds: Number(writesDone - t0) / 1e9, eventsPerS: (alive * burst) / s, cpuUsPerEvent: perEvent }
    } else r.timeout = `the burst of ${burst} writes did not reach every watcher within 300 s`
  }
  r.closedByServer = procs.reduce((x, e) => x + e.closedByServer, 0)
  if (r.timeout || r.closedByServer) live.healthy = false
  if (r.writeRetries) r.serverOutput = srv.proc.output.slice(-4000)
  r.peak = sampler.stop().server
  log(`    p50 ${r.latency.p50?.toFixed(1)} ms, p99 ${r.latency.p99?.toFixed(1)} ms over ${lat.length} writes, ${(r.memPerWatcher.tree / 1024).toFixed(1)} KiB/watcher${srv.kind.startsWith('edge') ? ` (user worker ${(r.memPerWatcher.userWorker / 1024).toFixed(1)})` : ''}, ${r.delivery?.eventsPerS?.toFixed(0)} events/s${r.closedByServer ? `, ${r.closedByServer} closed by the server` : ''}`)
}

/** A fatal error in the wrangler log of an `npm start` state dir (workerd aborting), if any. */
function serverFatal(srv) {
  try {
    for (const f of readdirSync(join(srv.stateDir, 'logs'))) {
      const m = /\*\*\* Fatal[^\n]*/.exec(readFileSync(join(srv.stateDir, 'logs', f), 'utf8'))
      if (m) return m[0].replace(/^\*\*\* /, '')
    }
  } catch { /* no log */ }
  return undefined
}

// ---- store ------------------------------------------------------------------------------------------

async function storeScenario() {
  log('store: ClusterStore loops (bench/store) on wrangler dev')
  const srv = await startWranglerWorker(root, join(root, 'bench', 'store', 'wrangler.toml'), 'store')
  const out = {}
  const sampler = memorySampler({ server: srv.proc.pid })
  let runId = 0
  const cpus = {}
  const loopOnce = async (where, op, n, c, run) => {
    const before = cpuReading(srv)
    const r = await srv.client.must('GET', `/loop?where=${where}&op=${op}&n=${n}&c=${c}&run=${run}`, { timeoutMs: 600_000 })
    const j = r.json()
    if (j.failed) throw new Error(`store ${where} ${op}: ${j.failed} of ${n} failed`)
    if (!run.startsWith('warm-')) (cpus[`${where}-${c}-${op}`] ??= []).push({ cpuMsPerOp: cpuPerOp(before, cpuReading(srv), n) })
    return j.ms
  }
  for (const [where, n, c] of [['inside', P.storeOps, 1], ['rpc', P.storeRpcOps, 1], ['rpc', P.storeRpcOps, 16]]) {
    await loopOnce(where, 'create', Math.min(n, 200), c, `warm-${where}-${c}`) // warm-up
    for (const op of ['create', 'update', 'get']) {
      log(`  store ${where} ${op} x${n}${c > 1 ? ` (${c} concurrent)` : ''}`)
      const ms = []
      for (let i = 0; i < P.runs; i++) {
        // update and get work on the keys of the matching create run
        const run = `${where}-${c}-${op === 'create' ? ++runId : runId - P.runs + 1 + i}`
        ms.push(await loopOnce(where, op, n, c, run))
      }
      const m = median(ms)
      const cpu = medianCpu(cpus[`${where}-${c}-${op}`] ?? [])
      out[`${where}${c > 1 ? `-c${c}` : ''}-${op}`] = { where, op, n, concurrency: c, ms, opsPerS: m > 0 ? (n / m) * 1000 : null, usPerOp: (m * 1000) / n, cpuUsPerOp: cpu?.worker != null ? cpu.worker * 1000 : undefined }
    }
  }
  out.peak = sampler.stop().server
  results.store = out
  await srv.proc.stop()
}

// ---- etcd directly (the same operations Node mode does, with its client) ----------------------------

/** A run of the etcd3 client in this process, with its CPU per operation: the client's and etcd's. */
function withClientCpu(etcd, run) {
  return async (durationS, warm) => {
    const u0 = process.cpuUsage()
    const e0 = processCpuMs(etcd.proc.pid)
    const r = await run(durationS, warm)
    const u = process.cpuUsage(u0)
    if (r?.ops) r.cpuMsPerOp = { client: (u.user + u.system) / 1000 / r.ops, etcd: (processCpuMs(etcd.proc.pid) - e0) / r.ops }
    return r
  }
}

async function etcdDirect(etcd) {
  const client = await projectEtcdClient(root, etcd.endpoint)
  const out = {}
  const etcdTiming = { ...timing, durationS: P.etcdDurationS }
  const run = (name, op, { concurrency = P.connections } = {}) => {
    log(`  etcd3 ${name}`)
    return measure(withClientCpu(etcd, (durationS) => loop({ concurrency, durationS, op })), etcdTiming)
  }
  const first = P.listSizes[0]
  const cmKey = (n) => `/registry/configmaps/${ns(n)}/`
  const cmValue = (await client.get(`${cmKey(first)}cm-00000`).string()) ?? JSON.stringify(cmBody('x', 0))
  const podValue = (await client.get('/registry/pods/bench-pods/pod-00000').string()) ?? JSON.stringify(podBody('x'))
  out.get = await run('get', () => client.get(`${cmKey(first)}cm-00000`).buffer())
  for (const n of P.listSizes) {
    const conns = n >= 1000 ? P.listConnections : P.connections
    out[`list-${n}`] = await run(`list-${n}`, () => client.getAll().prefix(cmKey(n)).exec(), { concurrency: conns })
    if (n > 500) {
      out[`list-${n}-paged`] = await run(`list-${n}-paged`, async () => {
        const prefix = cmKey(n)
        const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
        let start = prefix
        for (;;) {
          const r = await client.getAll().inRange({ start, end }).limit(500).exec()
          if (!r.more) break
          start = r.kvs.at(-1).key.toString() + '\0'
        }
      }, { concurrency: conns })
    }
  }
  out[`table-pods-${P.pods}`] = await run('list pods (as Table)', () => client.getAll().prefix('/registry/pods/bench-pods/').exec(), { concurrency: P.listConnections })
  const dk = (kind, name) => `/bench-direct/${kind}/bench-w/${name}`
  let seq = 0
  const created = []
  out.create = await run('create', async () => {
    const key = dk('configmaps', `c-${seq++}`)
    const r = await client.if(key, 'Create', '==', 0).then(client.put(key).value(cmValue)).commit()
    if (!r.succeeded) throw new Error('exists')
    created.push(key)
  })
  const mod = []
  for (let i = 0; i < P.connections; i++) {
    const key = dk('configmaps', `u-${i}`)
    mod[i] = Number((await client.if(key, 'Create', '==', 0).then(client.put(key).value(cmValue)).commit()).header.revision)
  }
  out.update = await run('update', async (w) => {
    const key = dk('configmaps', `u-${w}`)
    const r = await client.if(key, 'Mod', '==', mod[w]).then(client.put(key).value(cmValue)).commit()
    if (!r.succeeded) throw new Error('conflict')
    mod[w] = Number(r.header.revision)
  })
  out.patch = await run('merge patch (get + compare-and-swap put)', async (w) => {
    const key = dk('configmaps', `u-${w}`)
    const cur = await client.get(key).exec()
    const m = cur.kvs[0].mod_revision
    const r = await client.if(key, 'Mod', '==', m).then(client.put(key).value(cmValue)).commit()
    if (!r.succeeded) throw new Error('conflict')
  })
  const per = Math.floor(created.length / (P.runs + (P.warmupS > 0 ? 1 : 0)))
  if (per > 0) {
    out.delete = await measure(withClientCpu(etcd, () => loop({
      concurrency: Math.min(P.connections, per), amount: per,
      op: async () => {
        const key = created.shift()
        const r = await client.if(key, 'Version', '>', 0).then(client.delete().key(key)).commit()
        if (!r.succeeded) throw new Error('not found')
      },
    })), etcdTiming)
  }
  let pseq = 0
  out['create-pod'] = await run('create pod', async () => {
    const key = dk('pods', `p-${pseq++}`)
    const r = await client.if(key, 'Create', '==', 0).then(client.put(key).value(podValue)).commit()
    if (!r.succeeded) throw new Error('exists')
  })
  client.close()
  return out
}

// ---- machine ------------------------------------------------------------------------------------------

function machineInfo() {
  const pkgVersion = (name) => {
    try {
      return JSON.parse(readFileSync(join(root, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version
    } catch {
      return undefined
    }
  }
  let gitCommit
  try {
    gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim() + (a.worktree ? ' + working tree' : '')
  } catch { /* not a checkout */ }
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    node: process.version,
    wrangler: pkgVersion('wrangler'),
    workerd: pkgVersion('workerd'),
    autocannon: pkgVersion('autocannon'),
    etcd: existsSync('/usr/bin/etcd') ? etcdVersion() : undefined,
    gitCommit,
    loadAvgStart: loadavg().map((x) => +x.toFixed(2)),
    stealMsStart: machineStealMs(),
    tmp: tmpdir(),
  }
}

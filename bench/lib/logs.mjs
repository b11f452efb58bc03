// The logs scenario (issue #16): a container log read through the server's pods/log, next to the same
// log read from the kubelet directly. The kubelet is the tests' stand-in (test/helpers/kubelet-standin.ts,
// bundled here with esbuild as servers.mjs bundles the project's PKI), serving over TLS on this machine's
// non-loopback address (kube does not proxy to loopback) as the kubelet of Node "bench-node". Per target:
// - latency: GET the log of a pod with one line, one request at a time: p50/p99 (the added latency of
//   the server is its figure minus the kubelet's);
// - a log of --log-mb MiB read whole, and the same with ?follow=true read until that many MiB arrived:
//   MiB/s, the time to the first byte of the body, and the server's CPU ms per MiB.
import { request as httpsRequest, Agent } from 'node:https'
import { request as httpRequest, Agent as HttpAgent } from 'node:http'
import { writeFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { loop, measure, median } from './load.mjs'
import { directTarget, startEdge, startEtcd, startNode, tempDir } from './servers.mjs'

const NS = 'bench-logs'
const NODE = 'bench-node'
const MiB = 2 ** 20
const LINE = 'x'.repeat(1023) // 1 KiB with its newline

/** This machine's first non-loopback IPv4 address, as test/e2e/kubelet-streams.test.ts chooses it. */
function machineAddress() {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  throw new Error('the logs scenario needs a non-loopback IPv4 address on the machine')
}

async function standinModule(root) {
  const out = join(root, 'node_modules', '.cache', 'edge-apiserver-bench', 'kubelet-standin.mjs')
  await build({ entryPoints: [join(root, 'test', 'helpers', 'kubelet-standin.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: out, logLevel: 'warning', absWorkingDir: root })
  return import(pathToFileURL(out).href + `?${Date.now()}`)
}

/**
 * GET path on target, counting the body's bytes (not keeping them); with stopAfter, the request is
 * ended once that many bytes arrived (a follow). → {ms, ttfbMs, bytes}
 */
function read(target, path, stopAfter) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let ttfb
    let bytes = 0
    let done = false
    const finish = () => {
      if (done) return
      done = true
      resolve({ ms: performance.now() - t0, ttfbMs: ttfb, bytes })
    }
    const headers = { accept: '*/*', ...target.headers }
    if (target.token) headers.authorization = `Bearer ${target.token}`
    const req = (target.http ? httpRequest : httpsRequest)({ host: target.host, port: target.port, path, headers, agent: target.agent, timeout: 120_000 }, (res) => {
      if (res.statusCode !== 200) {
        let text = ''
        res.on('data', (d) => (text += d))
        res.on('end', () => reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)))
        return
      }
      res.on('data', (d) => {
        ttfb ??= performance.now() - t0
        bytes += d.length
        if (stopAfter && bytes >= stopAfter) {
          finish()
          req.destroy()
        }
      })
      res.on('end', finish)
      res.on('error', (e) => (done ? undefined : reject(e)))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)))
    req.on('error', (e) => (done ? undefined : reject(e)))
    req.end()
  })
}

/**
 * Through wrangler dev's proxy Worker a log streams at some 0.2 MiB/s (README, Performance), so there the
 * big log is read to this many MiB (limitBytes, and a follow stopped there) to keep the run in minutes.
 */
const PROXY_MIB = 4

async function measureTarget(target, o, mib = o.mb) {
  const r = {}
  const cpu = () => (target.srv ? o.cpuReading(target.srv) : undefined)
  const perOp = (c0, c1, n) => (c0 && c1 ? Object.fromEntries(Object.keys(c1).map((k) => [k, (c1[k] - (c0[k] ?? 0)) / n])) : undefined)
  o.log(`  logs ${target.name}: latency (a one-line log, one request at a time)`)
  r.latency = await measure(async (durationS) => {
    const c0 = cpu()
    const x = await loop({ concurrency: 1, durationS, op: async () => {
      const got = await read(target, target.path('small', ''))
      if (got.bytes !== LINE.length + 1) throw new Error(`small log: ${got.bytes} bytes`)
    } })
    if (x.ops) x.cpuMsPerOp = perOp(c0, cpu(), x.ops)
    return x
  }, { warmupS: o.warmupS, durationS: o.durationS, runs: o.runs })
  const total = mib * MiB
  const whole = mib < o.mb ? `?limitBytes=${total}` : ''
  for (const [key, query, stop] of [['whole', whole, undefined], ['follow', '?follow=true', total]]) {
    o.log(`  logs ${target.name}: ${mib} MiB${stop ? ' of ?follow=true' : ''} x${o.runs}`)
    const runs = []
    for (let i = 0; i < o.runs; i++) {
      const c0 = cpu()
      const got = await read(target, target.path('big', query), stop)
      const c1 = cpu()
      if (got.bytes < total) throw new Error(`${target.name} ${key}: ${got.bytes} bytes of ${total}`)
      runs.push({ ...got, mibPerS: got.bytes / MiB / (got.ms / 1000), cpuMsPerMiB: perOp(c0, c1, got.bytes / MiB) })
    }
    r[key] = {
      mib,
      mibPerS: median(runs.map((x) => x.mibPerS)),
      ttfbMs: median(runs.map((x) => x.ttfbMs)),
      ms: median(runs.map((x) => x.ms)),
      cpuMsPerMiB: runs[0].cpuMsPerMiB && Object.fromEntries(Object.keys(runs[0].cpuMsPerMiB).map((k) => [k, median(runs.map((x) => x.cpuMsPerMiB?.[k]))])),
      runs,
    }
  }
  return r
}

/** The Node, its status (addresses, kubelet port) and the two Pods on it, through the server's API. */
async function register(srv, kubelet) {
  const c = srv.client
  await c.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } })
  await c.must('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } } })
  await c.must('PATCH', `/api/v1/nodes/${NODE}/status`, {
    headers: { 'content-type': 'application/merge-patch+json' },
    body: { status: { addresses: [{ type: 'InternalIP', address: kubelet.host }], daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } } },
  })
  for (const name of ['small', 'big'])
    await c.must('POST', `/api/v1/namespaces/${NS}/pods`, { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } } })
}

function serverTarget(name, srv) {
  const u = new URL(srv.url)
  return {
    name, srv, host: u.hostname, port: Number(u.port), token: srv.token,
    agent: new Agent({ keepAlive: true, ca: srv.ca }),
    path: (pod, q) => `/api/v1/namespaces/${NS}/pods/${pod}/log${q}`,
  }
}

export async function logsScenario(o) {
  const { root, log } = o
  const { startKubeletStandin } = await standinModule(root)
  const kubelet = await startKubeletStandin(NODE, machineAddress())
  const out = { mib: o.mb, address: 'this machine\'s non-loopback IPv4' }
  try {
    kubelet.addPod(NS, 'small', ['app'])
    kubelet.addPod(NS, 'big', ['app'])
    kubelet.log(NS, 'small', 'app', LINE)
    for (let i = 0; i < o.mb * 1024; i++) kubelet.log(NS, 'big', 'app', LINE)
    const dir = tempDir('logs')
    const caPath = join(dir, 'kubelet-ca.crt')
    writeFileSync(caPath, kubelet.caPem)
    const direct = {
      name: 'kubelet', host: kubelet.host, port: kubelet.port,
      agent: new Agent({ keepAlive: true, ca: kubelet.caPem }),
      path: (pod, q) => `/containerLogs/${NS}/${pod}/app${q}`,
    }
    log('logs: the kubelet stand-in directly')
    out.kubelet = await measureTarget(direct, o)
    direct.agent.destroy()

    const buildError = await o.nodeBuilt()
    if (buildError) out.node = { error: buildError }
    else {
      log('logs: Node mode (etcd, node dist/node.js --kubelet-certificate-authority)')
      const etcd = await startEtcd()
      try {
        const srv = await startNode(root, etcd.endpoint, [`--kubelet-certificate-authority=${caPath}`])
        try {
          await register(srv, kubelet)
          const t = serverTarget('node', srv)
          out.node = await measureTarget(t, o)
          t.agent.destroy()
        } finally {
          srv.client.close()
          await srv.proc.stop()
        }
      } catch (err) {
        out.node = { error: String(err?.message ?? err).slice(0, 2000) }
      } finally {
        await etcd.proc.stop()
      }
    }

    log('logs: the edge (npm start, the stand-in\'s CA in NODE_EXTRA_CA_CERTS)')
    // the Worker's fetch verifies the kubelet with the runtime's trust store; npm start passes this on
    const saved = process.env.NODE_EXTRA_CA_CERTS
    process.env.NODE_EXTRA_CA_CERTS = caPath
    let srv
    try {
      srv = await startEdge(root)
    } finally {
      if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS
      else process.env.NODE_EXTRA_CA_CERTS = saved
    }
    try {
      await register(srv, kubelet)
      const t = serverTarget('edge', srv)
      out.edge = await measureTarget(t, o, Math.min(o.mb, PROXY_MIB))
      t.agent.destroy()
      // the same without wrangler dev's proxy Worker and TLS in front (a deployed Worker has neither)
      const d = directTarget(srv.stateDir)
      if (d) {
        const u = new URL(d.url)
        const dt = { ...t, name: 'edge, direct to workerd', http: true, host: u.hostname, port: Number(u.port), headers: d.headers, agent: new HttpAgent({ keepAlive: true }) }
        out['edge-direct'] = await measureTarget(dt, o)
        dt.agent.destroy()
      }
    } catch (err) {
      out.edge = { error: String(err?.message ?? err).slice(0, 2000) }
    } finally {
      srv.client.close()
      await srv.proc.stop()
    }
  } finally {
    await kubelet.close()
  }
  return out
}

const f = (x, d = 1) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(d))
const cpuParts = (c) => (c ? Object.entries(c).map(([k, v]) => `${k} ${f(v, v >= 10 ? 1 : 2)}`).join(', ') : '–')

export function renderLogs(r) {
  if (!r) return []
  const L = [`**Logs through the server (pods/log) next to the kubelet stand-in directly** (the stand-in on ${r.address}; ${r.mib} MiB of 1 KiB lines; HTTPS keep-alive from the bench process)`, '']
  L.push('| target | one-line log p50 / p99 ms | added p50 ms | whole log MiB/s | first byte ms | CPU ms/MiB | follow MiB/s | first byte ms | CPU ms/MiB |')
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  const base = r.kubelet?.latency?.p50
  for (const [k, label] of [['kubelet', 'kubelet stand-in directly'], ['node', 'Node mode'], ['edge', 'edge (`npm start`)'], ['edge-direct', 'edge, direct to workerd (no dev proxy, HTTP)']]) {
    const x = r[k]
    if (!x) continue
    if (x.error) {
      L.push(`| ${label} | ${x.error.split('\n')[0].slice(0, 200)} | | | | | | | |`)
      continue
    }
    const added = k === 'kubelet' || base == null ? '–' : f(x.latency.p50 - base, 2)
    const part = x.whole && x.whole.mib !== r.mib ? ` (first ${x.whole.mib} MiB)` : ''
    L.push(`| ${label}${part} | ${f(x.latency.p50, 2)} / ${f(x.latency.p99, 2)} | ${added} | ${f(x.whole?.mibPerS)} | ${f(x.whole?.ttfbMs, 2)} | ${cpuParts(x.whole?.cpuMsPerMiB)} | ${f(x.follow?.mibPerS)} | ${f(x.follow?.ttfbMs, 2)} | ${cpuParts(x.follow?.cpuMsPerMiB)} |`)
  }
  L.push('')
  L.push('CPU: the server\'s process tree (edge: `worker` is the workerd of the Worker, `proxy` wrangler dev\'s proxy), per MiB delivered; the stand-in runs in the bench process, so the direct row has none.')
  L.push('')
  return L
}

// The protobuf scenario: LIST of N Pods and a watch of M events, each as JSON and as
// application/vnd.kubernetes.protobuf, from one server, one after another (A/B in the same run). Per figure:
// the request's wall time, the server's CPU time (utime + stime of its whole process tree from /proc,
// 10 ms ticks), the body's size, and the client's decode time: for JSON what @kubernetes/client-node does
// with a response (ObjectSerializer.parse and deserialize into V1PodList; JSON.parse per watch line, as its
// Watch does), for protobuf protobufjs decoding kube's generated.proto messages (test/fixtures/proto).
import { request } from 'node:https'
import { join } from 'node:path'
import protobuf from 'protobufjs'
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js'
import { median } from './load.mjs'
import { treeCpu } from './procs.mjs'

const PB = 'application/vnd.kubernetes.protobuf'
/** CPU milliseconds the server's process tree has used so far (procs.mjs reads /proc for every scenario). */
function treeCpuMs(rootPid) {
  return treeCpu(rootPid).reduce((a, m) => a + m.cpuMs, 0)
}

function loadProtos(repo) {
  const root = new protobuf.Root()
  const dir = join(repo, 'test', 'fixtures', 'proto')
  root.resolvePath = (_o, target) => join(dir, target)
  root.loadSync(['k8s.io/api/core/v1/generated.proto'])
  root.resolveAll()
  return {
    unknown: root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown'),
    podList: root.lookupType('k8s.io.api.core.v1.PodList'),
    pod: root.lookupType('k8s.io.api.core.v1.Pod'),
    watchEvent: root.lookupType('k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent'),
  }
}

/** GET as raw bytes; with `until`, stops reading once it says the body so far is enough (a watch). */
function get(srv, path, accept, until) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request(
      { host: '127.0.0.1', port: srv.port, path, ca: srv.ca, headers: { accept, authorization: `Bearer ${srv.token}` } },
      (res) => {
        const chunks = []
        let size = 0
        const done = () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks), ms: performance.now() - t0 })
        res.on('data', (c) => {
          chunks.push(c)
          size += c.length
          if (until?.(Buffer.concat(chunks), size)) {
            done()
            req.destroy()
          }
        })
        res.on('end', done)
        res.on('error', reject)
      },
    )
    req.on('error', (e) => (until ? undefined : reject(e)))
    req.end()
  })
}

function timed(fn) {
  const t0 = performance.now()
  const out = fn()
  return { ms: performance.now() - t0, out }
}

function decodeListJSON(body) {
  return ObjectSerializer.deserialize(ObjectSerializer.parse(body.toString('utf8'), 'application/json'), 'V1PodList', '')
}

function decodeListPB(p, body) {
  const u = p.unknown.decode(body.subarray(4))
  return p.podList.decode(u.raw)
}

function jsonEvents(body) {
  const text = body.toString('utf8')
  return text.split('\n').filter(Boolean)
}

function pbFrames(body) {
  const frames = []
  for (let at = 0; at + 4 <= body.length; ) {
    const len = body.readUInt32BE(at)
    if (at + 4 + len > body.length) break
    frames.push(body.subarray(at + 4, at + 4 + len))
    at += 4 + len
  }
  return frames
}

/**
 * srv: a started server (port, ca, token, proc, client); sizes: Pods per LIST; events: watch events; runs:
 * requests per figure (median). Seeds its own namespaces through `seed(path, n, body)`.
 */
export async function protobufScenario({ srv, repo, sizes, events, runs, seed, podBody, log }) {
  const p = loadProtos(repo)
  const out = { list: [], watch: [] }
  const nsFor = (n) => `bench-pb-${n}`
  for (const n of new Set([...sizes, events])) {
    await srv.client.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsFor(n) } } })
    await seed(`/api/v1/namespaces/${nsFor(n)}/pods`, n, (i) => podBody(`pod-${String(i).padStart(5, '0')}`))
  }
  for (const n of sizes) {
    const path = `/api/v1/namespaces/${nsFor(n)}/pods`
    for (const [format, accept] of [['json', 'application/json'], ['protobuf', `${PB}, application/json`]]) {
      log(`  protobuf: LIST ${n} pods as ${format}`)
      await get(srv, path, accept) // warm-up
      const walls = [], cpus = [], decodes = []
      let bytes = 0
      for (let r = 0; r < runs; r++) {
        const c0 = treeCpuMs(srv.proc.pid)
        const res = await get(srv, path, accept)
        cpus.push(treeCpuMs(srv.proc.pid) - c0)
        if (res.status !== 200) throw new Error(`LIST ${path} as ${format}: HTTP ${res.status}`)
        if (format === 'protobuf' && res.type !== PB) throw new Error(`LIST as protobuf answered ${res.type}`)
        walls.push(res.ms)
        bytes = res.body.length
        const d = timed(() => (format === 'json' ? decodeListJSON(res.body) : decodeListPB(p, res.body)))
        if (d.out.items.length !== n) throw new Error(`LIST ${path} as ${format}: ${d.out.items.length} items, not ${n}`)
        decodes.push(d.ms)
      }
      out.list.push({ pods: n, format, wallMs: median(walls), serverCpuMs: median(cpus), bytes, decodeMs: median(decodes) })
    }
  }
  // a watch from resourceVersion 0 starts with an ADDED event per object: `events` of them
  const wpath = `/api/v1/namespaces/${nsFor(events)}/pods?watch=1&resourceVersion=0&timeoutSeconds=60`
  for (const [format, accept] of [['json', 'application/json'], ['protobuf', `${PB}, application/json`]]) {
    log(`  protobuf: watch of ${events} events as ${format}`)
    const enough = format === 'json'
      ? (body) => body.toString('utf8').split('\n').length > events
      : (body) => pbFrames(body).length >= events
    const walls = [], cpus = [], decodes = []
    let bytes = 0
    for (let r = 0; r < runs; r++) {
      const c0 = treeCpuMs(srv.proc.pid)
      const res = await get(srv, wpath, accept, enough)
      cpus.push(treeCpuMs(srv.proc.pid) - c0)
      walls.push(res.ms)
      bytes = res.body.length
      const d = timed(() => {
        if (format === 'json') return jsonEvents(res.body).map((l) => JSON.parse(l))
        return pbFrames(res.body).map((f) => {
          const ev = p.watchEvent.decode(f)
          return p.pod.decode(p.unknown.decode(ev.object.raw.subarray(4)).raw)
        })
      })
      if (d.out.length < events) throw new Error(`watch as ${format}: ${d.out.length} events, not ${events}`)
      decodes.push(d.ms)
    }
    out.watch.push({ events, format, wallMs: median(walls), serverCpuMs: median(cpus), bytes, decodeMs: median(decodes) })
  }
  return out
}

/** The scenario's table for the report. */
export function renderProtobuf(r) {
  if (!r?.list?.length) return []
  const L = ['**Protobuf and JSON (edge): the same LIST or watch in each, one after another**', '']
  L.push('| request | format | wall ms | server CPU ms | body KiB | client decode ms |')
  L.push('|---|---|---:|---:|---:|---:|')
  const row = (what, x) => `| ${what} | ${x.format} | ${x.wallMs?.toFixed(0)} | ${x.serverCpuMs?.toFixed(0)} | ${(x.bytes / 1024).toFixed(0)} | ${x.decodeMs?.toFixed(1)} |`
  for (const x of r.list) L.push(row(`LIST ${x.pods} Pods`, x))
  for (const x of r.watch) L.push(row(`watch, ${x.events} events`, x))
  L.push('')
  L.push('Client decode: JSON with @kubernetes/client-node (ObjectSerializer into V1PodList; JSON.parse per watch line, as its Watch does), protobuf with protobufjs (Unknown, then PodList or WatchEvent and Pod). Server CPU: the whole process tree, in 10 ms ticks.')
  L.push('')
  return L
}

// CPU per request of the whole request path in one process (authentication, RBAC, admission, the
// handlers, the metrics and deadline middleware) over the in-memory Store: no HTTP, no TLS, no store round
// trip, so what is left is the Hono app's own work, which both modes run. The same file profiles it:
//   node --cpu-prof bench/request-path.bench.mjs
// BENCH_ROOT=<another checkout> runs it on that tree (an A/B of two commits on the same machine);
// BENCH_ONLY=<regexp> runs the scenarios whose names match.
import { build } from 'esbuild'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(process.env.BENCH_ROOT ?? fileURLToPath(new URL('..', import.meta.url)))
const smoke = !!process.env.BENCH_SMOKE
const outfile = join(root, 'node_modules', '.cache', 'edge-apiserver', 'request-path-bench.mjs')
await build({
  stdin: { contents: `export { makeApp, ADMIN } from './test/helpers/app'`, resolveDir: root, loader: 'ts' },
  bundle: true, outfile, format: 'esm', platform: 'node', packages: 'external', logLevel: 'silent',
})
const { makeApp, ADMIN } = await import(pathToFileURL(outfile).href + `?${Date.now()}`)
// Reads and writes on two servers: the in-memory store scans every key for a prefix read (admission's),
// so the writes get a store holding only their own namespace's few objects.
const reads = makeApp()
const writes = makeApp()

const cm = (name, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { key: `value-${i}` } })
await reads.ns('bench')
await reads.ns('bench-big')
await writes.ns('bench')
for (let i = 0; i < 10; i++) await reads.call('POST', '/api/v1/namespaces/bench/configmaps', cm(`cm-${i}`, i))
const bigN = smoke ? 50 : 1000
for (let i = 0; i < bigN; i++) await reads.call('POST', '/api/v1/namespaces/bench-big/configmaps', cm(`cm-${i}`, i))
for (let i = 0; i < 16; i++) await writes.call('POST', '/api/v1/namespaces/bench/configmaps', cm(`u-${i}`, i))

const auth = { authorization: `Bearer ${ADMIN}` }
const req = (app, method, path, body, type = 'application/json') =>
  app.request(path, { method, headers: body === undefined ? auth : { ...auth, 'content-type': type }, body: body === undefined ? undefined : JSON.stringify(body) })
const get = (path) => req(reads.app, 'GET', path)
let seq = 0
const scenarios = {
  'GET one ConfigMap': () => get('/api/v1/namespaces/bench/configmaps/cm-0'),
  'LIST 10 ConfigMaps': () => get('/api/v1/namespaces/bench/configmaps'),
  [`LIST ${bigN} ConfigMaps`]: () => get('/api/v1/namespaces/bench-big/configmaps'),
  // each created object is removed from the store at once (not through the API), so the store stays small
  'create ConfigMap': async () => {
    const name = `c-${seq++}`
    const res = await req(writes.app, 'POST', '/api/v1/namespaces/bench/configmaps', cm(name, seq))
    await writes.store.delete(`/registry/configmaps/bench/${name}`)
    return res
  },
  'update ConfigMap (PUT, no resourceVersion)': () => { const i = seq++ % 16; return req(writes.app, 'PUT', `/api/v1/namespaces/bench/configmaps/u-${i}`, cm(`u-${i}`, seq)) },
  'merge patch ConfigMap': () => req(writes.app, 'PATCH', `/api/v1/namespaces/bench/configmaps/u-${seq++ % 16}`, { data: { key: `p-${seq}` } }, 'application/merge-patch+json'),
}
console.log(`request path in one process (in-memory store), µs of CPU per request (process.cpuUsage), ${smoke ? 'smoke' : 'median of 5 runs'}`)
const only = process.env.BENCH_ONLY && new RegExp(process.env.BENCH_ONLY, 'i') // e.g. BENCH_ONLY=get
for (const [name, fn] of Object.entries(scenarios)) {
  if (only && !only.test(name)) continue
  const big = name.startsWith('LIST') && !name.includes(' 10 ')
  const n = smoke ? 20 : big ? 60 : 800
  const runs = []
  for (let r = 0; r < (smoke ? 1 : 6); r++) {
    const u0 = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const res = await fn()
      await res.arrayBuffer()
      if (res.status >= 300) throw new Error(`${name}: HTTP ${res.status}`)
    }
    const u = process.cpuUsage(u0)
    if (r > 0 || smoke) runs.push((u.user + u.system) / n) // the first run warms up
  }
  runs.sort((a, b) => a - b)
  console.log(`${name.padEnd(44)} ${runs[Math.floor(runs.length / 2)].toFixed(1).padStart(8)} µs/request  [${runs.map((x) => x.toFixed(0)).join(' ')}]`)
}

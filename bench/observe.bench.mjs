// What the request path's metrics and audit (Metadata level, every request) cost per request, in process:
// the whole Hono app (authentication, RBAC, admission) over an in-memory store, a GET and a create of a
// ConfigMap, with metrics off, on, and on with audit; the three interleaved round by round so that a busy
// machine slows each alike. The audit backend serializes every event and hands the line to a no-op writer
// (the cost of the policy, the event and its JSON; not of a disk or of a network).
import { build } from 'esbuild'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = `
export { buildApp } from './src/server/app'
export { buildAdmission } from './src/admission/chain'
export { installAuthResources, ServerAuth } from './src/auth/server-auth'
export { bootstrapCluster } from './src/controllers/bootstrap'
export { Registry } from './src/registry/registry'
export { builtinResources } from './src/registry/builtin'
export { MemoryStore } from './test/helpers/memory-store'
export { LineBackend } from './src/audit/backend'
export { parsePolicy, PolicyRuleEvaluator } from './src/audit/policy'
`
const outfile = join(root, 'node_modules', '.cache', 'edge-apiserver', 'observe-bench.mjs')
await build({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, outfile, format: 'esm', platform: 'node', packages: 'external', logLevel: 'silent' })
const m = await import(pathToFileURL(outfile).href)

const TOKEN = 'bench-token'
let lines = 0
function makeApp(kind) {
  const registry = new m.Registry(m.builtinResources)
  m.installAuthResources(registry)
  const store = new m.MemoryStore()
  const auth = new m.ServerAuth({ tokenAuthFile: `${TOKEN},admin,admin,"system:masters"\n` })
  const admission = m.buildAdmission({ registry })
  const evaluator = new m.PolicyRuleEvaluator(m.parsePolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n'))
  const backend = new m.LineBackend((line) => (lines += line.length > 0 ? 1 : 0))
  return m.buildApp({
    registry,
    store: () => store,
    authenticators: (_env, s) => auth.authenticators(s),
    auth: (_env, s) => auth.context(s),
    admission: () => admission,
    ready: (s) => m.bootstrapCluster(registry, s),
    requestMetrics: () => kind !== 'off',
    audit: kind === 'metrics+audit' ? { config: () => ({ evaluator, backend }) } : undefined,
  })
}

const headers = { authorization: `Bearer ${TOKEN}`, accept: 'application/json', 'user-agent': 'bench' }
const apps = Object.fromEntries(['off', 'metrics', 'metrics+audit'].map((k) => [k, makeApp(k)]))
const seq = { off: 0, metrics: 0, 'metrics+audit': 0 }
const ops = {
  get: (app) => app.request('/api/v1/namespaces/default/configmaps/c0', { headers }),
  create: (app, k) =>
    app.request('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c-${++seq[k]}` }, data: { a: 'b' } }),
    }),
}
for (const app of Object.values(apps)) {
  const r = await app.request('/api/v1/namespaces/default/configmaps', {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c0' } }),
  })
  if (r.status !== 201) throw new Error(`seed: ${r.status} ${await r.text()}`)
}

const smoke = process.argv.includes('--smoke') || process.env.BENCH_SMOKE === '1'
const ROUNDS = smoke ? 3 : 15
const PER_ROUND = smoke ? 50 : 300
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const out = []
for (const [op, fn] of Object.entries(ops)) {
  const perRound = { off: [], metrics: [], 'metrics+audit': [] }
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const [k, app] of Object.entries(apps)) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < PER_ROUND; i++) {
        const res = await fn(app, k)
        if (res.status >= 300) throw new Error(`${op} ${k}: ${res.status} ${await res.text()}`)
        await res.arrayBuffer()
      }
      // The first round warms each app up and is not counted.
      if (r > 0) perRound[k].push(Number(process.hrtime.bigint() - t0) / 1000 / PER_ROUND)
    }
  }
  const off = median(perRound.off)
  const met = median(perRound.metrics)
  const aud = median(perRound['metrics+audit'])
  out.push(
    `${op.padEnd(7)} µs/request: off ${off.toFixed(1)}, metrics ${met.toFixed(1)} (+${(met - off).toFixed(1)}), metrics + audit ${aud.toFixed(1)} (+${(aud - off).toFixed(1)})`,
  )
}
console.log(`in process (${ROUNDS} rounds of ${PER_ROUND}, medians; ${lines} audit lines written):`)
for (const l of out) console.log(l)

// Added latency of the built-in admission chain per write: creates of ConfigMaps and Pods through RegistryStore
// with kube-apiserver's default plugins, against the same creates without admission, over an in-memory Store (the
// plugins' own cost), and the Store round trips the chain adds (what each write costs at the edge, where every
// read is a Durable Object call; the chain issues them together, see AdmissionChain.prefetch).
import { build } from 'esbuild'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = `
export { buildAdmission } from './src/admission/chain'
export { RegistryStore } from './src/registry/store'
export { Registry } from './src/registry/registry'
export { builtinResources } from './src/registry/builtin'
export { MemoryStore } from './test/helpers/memory-store'
`
// Bundled to a file (not a data: URL) so that packages resolve from node_modules.
const outfile = join(root, 'node_modules', '.cache', 'edge-apiserver', 'admission-bench.mjs')
await build({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, outfile, format: 'esm', platform: 'node', packages: 'external', logLevel: 'silent' })
const { buildAdmission, RegistryStore, Registry, builtinResources, MemoryStore } = await import(pathToFileURL(outfile).href)

const registry = new Registry(builtinResources)
const store = new MemoryStore()
const admission = buildAdmission({ registry })
const type = (resource) => registry.lookup('', 'v1', resource)
const admin = { username: 'admin', groups: ['system:masters', 'system:authenticated'] }
const ctx = () => ({ dryRun: false, warnings: [], user: admin })
const plain = (t) => new RegistryStore(t, store)
const admitted = (t) => new RegistryStore(t, store, { admission })

await plain(type('namespaces')).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } }, ctx())
await plain(type('serviceaccounts')).create('bench', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } }, ctx())
await plain(type('limitranges')).create('bench', { apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'lr' }, spec: { limits: [{ type: 'Container', defaultRequest: { cpu: '10m' } }] } }, ctx())
await plain(type('resourcequotas')).create('bench', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { pods: '1000000', 'count/configmaps': '1000000' } } }, ctx())

let seq = 0
const configMap = () => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${seq++}` }, data: { a: 'b' } })
const pod = () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${seq++}` }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })

async function measure(name, n, fn) {
  for (let i = 0; i < 100; i++) {
    const created = await fn()
    await store.delete(`/registry/${created.kind === 'Pod' ? 'pods' : 'configmaps'}/bench/${created.metadata.name}`)
  }
  const samples = new Float64Array(n)
  const reads0 = store.reads
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    const created = await fn()
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000
    // Not timed: keep the store small, so that its list scans are not what is measured.
    await store.delete(`/registry/${created.kind === 'Pod' ? 'pods' : 'configmaps'}/bench/${created.metadata.name}`)
  }
  const reads = (store.reads - reads0) / n // the deletes do not read
  samples.sort()
  const q = (p) => samples[Math.min(n - 1, Math.floor(p * n))]
  console.log(`${name.padEnd(52)} p50 ${q(0.5).toFixed(1).padStart(7)}µs  p99 ${q(0.99).toFixed(1).padStart(7)}µs  store reads/write ${reads.toFixed(1)}`)
  return q(0.5)
}

console.log('admission: the built-in chain (kube-apiserver\'s default plugins) per create, in-memory store')
const cmPlain = await measure('ConfigMap create, no admission', 3000, () => plain(type('configmaps')).create('bench', configMap(), ctx()))
const cmAdm = await measure('ConfigMap create, default admission chain', 3000, () => admitted(type('configmaps')).create('bench', configMap(), ctx()))
const podPlain = await measure('Pod create, no admission', 2000, () => plain(type('pods')).create('bench', pod(), ctx()))
const podAdm = await measure('Pod create, default admission chain (SA, LimitRange, quota CAS)', 2000, () => admitted(type('pods')).create('bench', pod(), ctx()))
console.log(`added by admission: ConfigMap ${(cmAdm - cmPlain).toFixed(1)}µs, Pod ${(podAdm - podPlain).toFixed(1)}µs (p50)`)

// The report's table for the storage-media scenario (run.mjs measures it with its httpScenario, the
// node scenario's measurement): Node mode with --storage-media-type protobuf and JSON, and the etcd3
// client directly on the same etcd, for create/get/list of ConfigMaps and Pods.

const f = (x) => (x == null || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
const cpu = (x) => (x == null || !Number.isFinite(x) ? '–' : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3))

export const MEDIA_OPS = ['create', 'get', 'list']
export const MEDIA_KINDS = ['configmaps', 'pods']

export function renderStorageMedia(r) {
  if (!r) return []
  const L = [`**Storage media type (Node mode on etcd)**: \`--storage-media-type=application/vnd.kubernetes.protobuf\` next to \`application/json\` (each its own \`node dist/node.js\`, on one etcd, its own namespace; responses are JSON in both) and the \`etcd3\` client doing the same get / range / create-if-absent with the values the server stored; LIST of ${r.objects}`, '']
  L.push('| object | operation | protobuf req/s | p50 ms | CPU ms/op node / etcd | JSON req/s | p50 ms | CPU ms/op node / etcd | etcd3 (pb value) ops/s | p50 ms | etcd3 (JSON value) ops/s | p50 ms | CPU ms/op etcd3: client / etcd (pb / JSON) |')
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const kind of MEDIA_KINDS) {
    for (const op of MEDIA_OPS) {
      const k = `${kind}-${op}`
      const pb = r.protobuf?.[k], js = r.json?.[k], ep = r.etcd3?.protobuf?.[k], ej = r.etcd3?.json?.[k]
      const fail = [pb, js, ep, ej].reduce((a, x) => a + (x?.failed ?? 0), 0)
      const c = (x, a = 'server', b = 'etcd') => `${cpu(x?.cpuMsPerOp?.[a])} / ${cpu(x?.cpuMsPerOp?.[b])}`
      L.push(`| ${kind}${fail ? ` (${fail} failed)` : ''} | ${op === 'list' ? `list ${r.objects}` : op} | ${f(pb?.rps)} | ${f(pb?.p50)} | ${c(pb)} | ${f(js?.rps)} | ${f(js?.p50)} | ${c(js)} | ${f(ep?.rps)} | ${f(ep?.p50)} | ${f(ej?.rps)} | ${f(ej?.p50)} | ${c(ep, 'client')} ; ${c(ej, 'client')} |`)
    }
  }
  L.push('')
  if (r.error) L.push(`Stopped: ${r.error.split('\n')[0].slice(0, 300)}`, '')
  if (r.stored) L.push(`Stored values checked: ${Object.entries(r.stored).map(([k, v]) => `${k}: ${v}`).join(', ')}.`, '')
  return L
}

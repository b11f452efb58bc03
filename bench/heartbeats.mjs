// Node heartbeats (issue 16): N simulated kubelets, each renewing its Lease in kube-node-lease every 10 s
// (an Update with the resourceVersion of the copy it holds, as the kubelet's lease controller does; a
// Conflict reads the lease again) and patching its Node's status every minute (a strategic merge patch
// of the Ready condition's heartbeat, as the kubelet's node status loop does). Time may be compressed:
// with --heartbeat-compression=C each kubelet renews every 10/C s, so N nodes write at C times the rate
// of N real kubelets; the report gives both. Open loop: each write is sent at its scheduled time whether
// or not the earlier ones have answered, so a server that falls behind shows it as latency and lag.
import { forEachConcurrent } from './lib/http.mjs'
import { percentile } from './lib/load.mjs'

const LEASE_SECONDS = 10
const STATUS_SECONDS = 60

/** metav1.MicroTime as a kubelet writes renewTime. */
const microTime = (ms) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
const seconds = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')
const nodeName = (i) => `hb-node-${String(i).padStart(5, '0')}`

function leaseBody(name) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(Date.now()) },
  }
}

function nodeBody(name) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  }
}

function statusPatch(now) {
  return {
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: seconds(now),
          lastTransitionTime: seconds(now),
        },
      ],
    },
  }
}

function summarize(lat) {
  const s = [...lat].sort((x, y) => x - y)
  return {
    count: s.length,
    p50Ms: +percentile(s, 50).toFixed(2),
    p99Ms: +percentile(s, 99).toFixed(2),
    maxMs: +(s.at(-1) ?? 0).toFixed(2),
  }
}

/**
 * Runs the schedule: `renew(i)` every LEASE_SECONDS/compression and `status(i)` every
 * STATUS_SECONDS/compression for each node, spread evenly; returns the latencies and lags.
 */
async function drive(nodes, durationS, compression, renew, status) {
  const leaseMs = (LEASE_SECONDS * 1000) / compression
  const statusMs = (STATUS_SECONDS * 1000) / compression
  const events = []
  for (let i = 0; i < nodes; i++) {
    for (let t = (i / nodes) * leaseMs; t < durationS * 1000; t += leaseMs) events.push([t, 0, i])
    for (let t = ((i + 0.5) / nodes) * statusMs; t < durationS * 1000; t += statusMs)
      events.push([t, 1, i])
  }
  events.sort((x, y) => x[0] - y[0])
  const lease = []
  const patch = []
  const lag = []
  let errors = 0
  const inFlight = new Set()
  const t0 = performance.now()
  for (const [at, kind, i] of events) {
    const wait = t0 + at - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    const sent = performance.now()
    lag.push(sent - (t0 + at))
    const p = (kind === 0 ? renew(i) : status(i)).then(
      () => (kind === 0 ? lease : patch).push(performance.now() - sent),
      () => errors++,
    )
    inFlight.add(p)
    p.finally(() => inFlight.delete(p))
  }
  await Promise.all(inFlight)
  const elapsedS = (performance.now() - t0) / 1000
  const writes = lease.length + patch.length
  const perRealKubelet = (1 / LEASE_SECONDS + 1 / STATUS_SECONDS) * nodes
  return {
    nodes,
    compression,
    seconds: +elapsedS.toFixed(1),
    realKubeletWritesPerS: +perRealKubelet.toFixed(1),
    targetWritesPerS: +(perRealKubelet * compression).toFixed(1),
    writesPerS: +(writes / elapsedS).toFixed(1),
    renewal: summarize(lease),
    statusPatch: summarize(patch),
    lagP99Ms: +percentile([...lag].sort((x, y) => x - y), 99).toFixed(2),
    errors,
  }
}

/** Through the API server (either mode): creates the Nodes and Leases, then runs the schedule. */
export async function apiHeartbeats(client, { nodes, durationS, compression, seedConnections, log }) {
  log(`  heartbeats: seeding ${nodes} Nodes and Leases`)
  const leases = new Array(nodes)
  await forEachConcurrent(nodes, seedConnections, async (i) => {
    const name = nodeName(i)
    await client.must('POST', '/api/v1/nodes', { body: nodeBody(name) })
    leases[i] = (
      await client.must('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        body: leaseBody(name),
      })
    ).json()
  })
  log(`  heartbeats: ${nodes} nodes for ${durationS} s (time x${compression})`)
  const leasePath = (i) =>
    `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName(i)}`
  const renew = async (i) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const next = { ...leases[i], spec: { ...leases[i].spec, renewTime: microTime(Date.now()) } }
      const res = await client.request('PUT', leasePath(i), { body: next })
      if (res.status === 200) {
        leases[i] = res.json()
        return
      }
      if (res.status !== 409) throw new Error(`renew: HTTP ${res.status}`)
      leases[i] = (await client.must('GET', leasePath(i))).json()
    }
    throw new Error('renew: conflicts')
  }
  const status = (i) =>
    client.must('PATCH', `/api/v1/nodes/${nodeName(i)}/status`, {
      body: statusPatch(Date.now()),
      headers: { 'content-type': 'application/strategic-merge-patch+json' },
    })
  const r = await drive(nodes, durationS, compression, renew, status)
  // Leave the next N a clean cluster: the nodes and leases go.
  await forEachConcurrent(nodes, seedConnections, async (i) => {
    await client.request('DELETE', leasePath(i))
    await client.request('DELETE', `/api/v1/nodes/${nodeName(i)}`)
  })
  return r
}

/**
 * The same writes straight to etcd with the etcd3 client: a renewal is a read of the copy held and a
 * compare-and-swap on its mod revision (what kube-apiserver's GuaranteedUpdate sends), a status patch
 * a get and a compare-and-swap.
 */
export async function etcdHeartbeats(etcd, { nodes, durationS, compression }) {
  const key = (kind, i) => `/bench-heartbeats/${kind}/${nodeName(i)}`
  const held = new Array(nodes)
  await forEachConcurrent(nodes, 16, async (i) => {
    await etcd.put(key('leases', i)).value(JSON.stringify(leaseBody(nodeName(i))))
    await etcd.put(key('minions', i)).value(JSON.stringify(nodeBody(nodeName(i))))
    const r = await etcd.get(key('leases', i)).exec()
    held[i] = { value: JSON.parse(r.kvs[0].value.toString()), rev: r.kvs[0].mod_revision }
  })
  const renew = async (i) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const v = held[i].value
      v.spec.renewTime = microTime(Date.now())
      const r = await etcd
        .if(key('leases', i), 'Mod', '==', held[i].rev)
        .then(etcd.put(key('leases', i)).value(JSON.stringify(v)))
        .commit()
      if (r.succeeded) {
        held[i].rev = r.header.revision
        return
      }
      const cur = await etcd.get(key('leases', i)).exec()
      held[i] = { value: JSON.parse(cur.kvs[0].value.toString()), rev: cur.kvs[0].mod_revision }
    }
    throw new Error('renew: conflicts')
  }
  const status = async (i) => {
    const cur = await etcd.get(key('minions', i)).exec()
    const node = JSON.parse(cur.kvs[0].value.toString())
    node.status = statusPatch(Date.now()).status
    await etcd
      .if(key('minions', i), 'Mod', '==', cur.kvs[0].mod_revision)
      .then(etcd.put(key('minions', i)).value(JSON.stringify(node)))
      .commit()
  }
  const r = await drive(nodes, durationS, compression, renew, status)
  await etcd.delete().prefix('/bench-heartbeats/')
  return r
}

/** The report's section. */
export function renderHeartbeats(h) {
  if (!h) return ''
  const lines = [
    '',
    '## Node heartbeats',
    '',
    'Each node renews its Lease every 10 s and patches its status every 60 s (time compressed by the',
    'factor given: the target rate is that many times what the same number of real kubelets write).',
    '',
    '| mode | nodes | time × | real kubelets (writes/s) | target (writes/s) | achieved (writes/s) | renewal p50 / p99 (ms) | status patch p50 / p99 (ms) | lag p99 (ms) | errors |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const mode of ['node', 'edge', 'etcd3']) {
    for (const r of h[mode] ?? []) {
      if (r.error) {
        lines.push(`| ${mode} | ${r.nodes ?? ''} | | | | | ${r.error.slice(0, 200)} | | | |`)
        continue
      }
      lines.push(
        `| ${mode} | ${r.nodes} | ${r.compression} | ${r.realKubeletWritesPerS} | ${r.targetWritesPerS} | ${r.writesPerS} | ${r.renewal.p50Ms} / ${r.renewal.p99Ms} | ${r.statusPatch.p50Ms} / ${r.statusPatch.p99Ms} | ${r.lagP99Ms} | ${r.errors} |`,
      )
    }
  }
  return lines.join('\n') + '\n'
}

// The snapshot scenario: `npm run snapshot` saving and restoring N objects in both modes, next to
// `etcdctl snapshot save` on the same etcd. The cluster is filled by restoring a generated snapshot
// (the restore is what is measured first), then saved back.
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream, statSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { startEdge, startEtcd, startNode, tempDir } from './servers.mjs'

/** A snapshot file of n ConfigMaps of about 1 KB each, at revisions 2..n+1 (as a fresh store gives them). */
async function generate(path, n) {
  const out = createWriteStream(path)
  const hash = createHash('sha256')
  let bytes = 0
  const write = async (line) => {
    const data = Buffer.from(line + '\n')
    hash.update(data)
    bytes += data.length
    if (!out.write(data)) await once(out, 'drain')
  }
  await write(JSON.stringify({ format: 'edge-apiserver-snapshot', version: 1, cluster: 'bench', source: 'bench', revision: n + 1, compacted_revision: 0, count: n, created: new Date().toISOString() }))
  const filler = 'x'.repeat(700)
  // key order is the file's order: zero-padded names sort as they count
  for (let i = 0; i < n; i++) {
    const name = `cm-${String(i).padStart(7, '0')}`
    const value = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'bench', uid: randomUUID(), creationTimestamp: '2026-12-01T00:00:00Z' }, data: { index: String(i), filler } })
    await write(JSON.stringify({ key: `/registry/configmaps/bench/${name}`, value, create_revision: i + 2, mod_revision: i + 2, version: 1 }))
  }
  const trailer = JSON.stringify({ trailer: { count: n, bytes, sha256: hash.digest('hex') } }) + '\n'
  out.end(trailer)
  await once(out, 'finish')
  return statSync(path).size
}

function kubeconfig(srv, dir) {
  const path = join(dir, `${srv.kind}.kubeconfig`)
  const ca = Buffer.from(srv.ca).toString('base64')
  execFileSync('bash', ['-c', `cat > "$1"`, 'kubeconfig', path], {
    input: `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${srv.url}", certificate-authority-data: ${ca}}}]\nusers: [{name: u, user: {token: "${srv.token}"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
  })
  return path
}

/** One run of the snapshot command, timed from spawn to exit. */
function timed(root, args, objects) {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [join(root, 'dist', 'snapshot.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 1_800_000, maxBuffer: 64 << 20 })
  const seconds = (performance.now() - t0) / 1000
  if (r.status !== 0) throw new Error(`snapshot ${args[0]} failed (${r.status}): ${(r.stderr ?? '').slice(-2000)}`)
  return { seconds, objects, objectsPerSecond: objects / seconds }
}

function withBytes(t, bytes) {
  return { ...t, bytes, megabytesPerSecond: bytes / 1e6 / t.seconds }
}

export async function snapshotScenario({ root, sizes, log, nodeBuilt }) {
  const buildErr = spawnSync('npm', ['run', 'build:snapshot', '--silent'], { cwd: root, encoding: 'utf8' })
  if (buildErr.status !== 0) return { error: `npm run build:snapshot failed: ${buildErr.stderr}` }
  const dir = tempDir('snapshot')
  const rows = []
  for (const n of sizes) {
    const file = join(dir, `gen-${n}.snapshot`)
    const bytes = await generate(file, n)
    const row = { objects: n, fileBytes: bytes }
    rows.push(row)

    log(`snapshot: edge, ${n} objects`)
    const edge = await startEdge(root)
    try {
      const kc = kubeconfig(edge, dir)
      row.edgeRestore = withBytes(timed(root, ['restore', file, '--kubeconfig', kc, '--verify=false'], n), bytes)
      const out = join(dir, `edge-${n}.snapshot`)
      const save = timed(root, ['save', out, '--kubeconfig', kc], n)
      row.edgeSave = withBytes(save, statSync(out).size)
    } catch (err) {
      row.edgeError = String(err.message).slice(0, 2000)
    } finally {
      edge.client.close?.()
      await edge.proc.stop()
    }

    if (nodeBuilt) {
      const buildError = await nodeBuilt()
      if (buildError) {
        row.nodeError = buildError
        continue
      }
    }
    log(`snapshot: node mode, ${n} objects`)
    const etcd = await startEtcd()
    try {
      row.nodeRestore = withBytes(timed(root, ['restore', file, '--etcd-servers', etcd.endpoint, '--verify=false'], n), bytes)
      const direct = join(dir, `etcd-${n}.snapshot`)
      row.etcdSave = withBytes(timed(root, ['save', direct, '--etcd-servers', etcd.endpoint, '--keep-apiserver-state'], n), statSync(direct).size)
      const db = join(dir, `etcdctl-${n}.db`)
      const t0 = performance.now()
      const r = spawnSync('etcdctl', [`--endpoints=${etcd.endpoint}`, 'snapshot', 'save', db], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } })
      if (r.status !== 0) throw new Error(`etcdctl snapshot save failed: ${r.stderr}`)
      const seconds = (performance.now() - t0) / 1000
      row.etcdctlSave = { seconds, objects: n, objectsPerSecond: n / seconds, bytes: statSync(db).size, megabytesPerSecond: statSync(db).size / 1e6 / seconds }
      const node = await startNode(root, etcd.endpoint)
      try {
        const kc = kubeconfig(node, dir)
        const out = join(dir, `node-${n}.snapshot`)
        row.nodeSave = withBytes(timed(root, ['save', out, '--kubeconfig', kc], n), statSync(out).size)
      } finally {
        node.client.close?.()
        await node.proc.stop()
      }
    } catch (err) {
      row.nodeError = String(err.message).slice(0, 2000)
    } finally {
      await etcd.proc.stop()
    }
  }
  return { rows }
}

export function renderSnapshot(s) {
  if (!s) return []
  const L = ['**Snapshots (`npm run snapshot`): save and restore of N ConfigMaps of ~1 KB, wall time of the command**', '']
  if (s.error) return [...L, `error: ${s.error}`, '']
  L.push('| objects | what | seconds | objects/s | MB/s |')
  L.push('|---:|---|---:|---:|---:|')
  const names = {
    edgeRestore: 'edge: restore (POST /storage/snapshot)',
    edgeSave: 'edge: save (GET /storage/snapshot)',
    nodeRestore: 'Node mode: restore into a fresh etcd (every revision kept)',
    nodeSave: 'Node mode: save through the server',
    etcdSave: 'Node mode: save straight from etcd',
    etcdctlSave: '`etcdctl snapshot save` (the db file) on the same etcd',
  }
  for (const row of s.rows) {
    for (const [k, label] of Object.entries(names)) {
      const t = row[k]
      if (t) L.push(`| ${row.objects} | ${label} | ${t.seconds.toFixed(2)} | ${Math.round(t.objectsPerSecond)} | ${t.megabytesPerSecond.toFixed(1)} |`)
    }
    if (row.edgeError) L.push(`| ${row.objects} | edge failed: ${row.edgeError.replace(/\|/g, '/').replace(/\n/g, ' ')} | | | |`)
    if (row.nodeError) L.push(`| ${row.objects} | Node mode failed: ${row.nodeError.replace(/\|/g, '/').replace(/\n/g, ' ')} | | | |`)
  }
  L.push('')
  return L
}

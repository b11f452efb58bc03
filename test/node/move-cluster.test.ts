// Moving a cluster with `npm run snapshot`: from an etcd kube-apiserver filled (the Pod kube-apiserver 1.24
// stored in protobuf, a Secret it encrypted with aescbc, and its own state, which does not move) into the
// edge and into Node mode; and a cluster moved edge → Node mode → edge, with the real kubectl showing the
// same objects, CRDs and custom resources, with their resourceVersions, at each stop; and a cluster made
// through the management API moved the same ways (under its Node prefix, then served there as a cluster
// made on that server), its snapshot carrying kube's /registry keys only, each restored cluster
// bootstrapping again on its next start as kube-apiserver does.
import { execFileSync } from 'node:child_process'
import { createCipheriv, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalServer, run } from '../e2e/harness'
import { snapshotCommand, snapshotOk } from '../e2e/snapshot-cli'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { createClusters } from '../helpers/tenancy'
import { BOOTSTRAP_MARKER_KEY } from '../../src/controllers/bootstrap'
import { tenantEtcdPrefix } from '../../src/node/tenants'
import {
  keyValueOf,
  SnapshotEncoder,
  type SnapshotHeader,
  type SnapshotRecord,
} from '../../src/storage/snapshot/format'
import { buildNode, ETCDCTL, NodeServer, ROOT } from './harness'

const FIXTURE = readFileSync(join(ROOT, 'test', 'fixtures', 'etcd-pod-kube-apiserver-1.24.bin'))
const dir = mkdtempSync(join(tmpdir(), 'edge-move-'))
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
  rmSync(dir, { recursive: true, force: true })
})

async function etcd(): Promise<EtcdCluster> {
  const e = await startEtcd()
  cleanups.push(() => e.stop())
  return e
}

async function nodeServer(endpoints: string[]): Promise<NodeServer> {
  await buildNode()
  const s = await NodeServer.start(endpoints)
  cleanups.push(() => s.destroy())
  return s
}

async function edgeServer(): Promise<LocalServer> {
  const s = await LocalServer.start()
  cleanups.push(() => s.dispose())
  return s
}

async function modRevision(endpoints: string[], key: string): Promise<number> {
  const client = new Etcd3({ hosts: endpoints })
  try {
    return Number((await client.get(key).exec()).kvs[0]!.mod_revision)
  } finally {
    client.close()
  }
}

interface Kubectl {
  kubeconfig: string
}
/** kubectl that must succeed. Not a synchronous call: the edge server answers from this process. */
async function kubectl(s: Kubectl, ...args: string[]): Promise<string> {
  const r = await run('/usr/bin/kubectl', ['--kubeconfig', s.kubeconfig, ...args])
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
  return r.stdout
}

describe('from an etcd kube-apiserver filled', () => {
  it("serves kube-apiserver's protobuf Pod and decrypted Secret at the edge and in Node mode; its own state is skipped and counted", async () => {
    const source = await etcd()
    const put = (key: string, value: Buffer | string) =>
      execFileSync(ETCDCTL, [`--endpoints=${source.endpoints.join(',')}`, 'put', key], {
        input: value,
      })
    put('/registry/pods/default/nginxpod', FIXTURE)
    const key = randomBytes(32)
    const iv = randomBytes(16)
    const cipher = createCipheriv('aes-256-cbc', key, iv)
    const secret = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'db',
        namespace: 'default',
        uid: '7f0c8e6a-1111-4222-8333-944455556666',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      type: 'Opaque',
      data: { password: Buffer.from('s3cret').toString('base64') },
    })
    put(
      '/registry/secrets/default/db',
      Buffer.concat([
        Buffer.from('k8s:enc:aescbc:v1:key1:'),
        iv,
        cipher.update(secret),
        cipher.final(),
      ]),
    )
    // kube-apiserver's own state, and an event long past its TTL.
    put('/registry/masterleases/10.0.0.1', '{"kind":"Endpoints","apiVersion":"v1"}')
    put(
      '/registry/leases/kube-system/apiserver-abcdef',
      '{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"apiserver-abcdef","namespace":"kube-system"}}',
    )
    put(
      '/registry/events/default/old.1',
      '{"kind":"Event","apiVersion":"v1","metadata":{"name":"old.1","namespace":"default","creationTimestamp":"2020-01-01T00:00:00Z"},"lastTimestamp":"2020-01-01T00:00:00Z"}',
    )
    const podRevision = await modRevision(source.endpoints, '/registry/pods/default/nginxpod')
    const secretRevision = await modRevision(source.endpoints, '/registry/secrets/default/db')
    const config = join(dir, 'encryption.yaml')
    writeFileSync(
      config,
      `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: ["secrets"]
    providers:
      - aescbc: {keys: [{name: key1, secret: ${key.toString('base64')}}]}
`,
    )
    const file = join(dir, 'kube.snapshot')
    const saved = await snapshotOk(
      'save',
      file,
      '--etcd-servers',
      source.endpoints.join(','),
      `--encryption-provider-config=${config}`,
    )
    expect(saved).toContain(
      "save: skipped 1: kube-apiserver's master leases (/registry/masterleases/)",
    )
    expect(saved).toContain(
      "save: skipped 1: kube-apiserver's identity leases (kube-system/apiserver-*)",
    )
    expect(saved).toContain('save: skipped 1: events past their TTL')
    expect(saved).toContain('save: skipped 3 in all')

    const check = async (s: Kubectl) => {
      const pod = JSON.parse(
        await kubectl(s, 'get', 'pod', 'nginxpod', '-n', 'default', '-o', 'json'),
      )
      expect(pod).toMatchObject({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'nginxpod',
          uid: '198b1e4e-20ea-4577-a487-07413aa11ec5',
          resourceVersion: String(podRevision),
        },
        status: { phase: 'Pending', qosClass: 'BestEffort' },
      })
      expect(pod.spec.containers[0]).toMatchObject({ name: 'nginx', image: 'nginx' })
      const s2 = JSON.parse(await kubectl(s, 'get', 'secret', 'db', '-n', 'default', '-o', 'json'))
      expect(Buffer.from(s2.data.password, 'base64').toString()).toBe('s3cret')
      expect(s2.metadata.resourceVersion).toBe(String(secretRevision))
      expect(await kubectl(s, 'get', 'leases', '-n', 'kube-system', '-o', 'name')).not.toContain(
        'apiserver-abcdef',
      )
      expect(await kubectl(s, 'get', 'events', '-n', 'default', '-o', 'name')).not.toContain(
        'old.1',
      )
    }

    const edge = await edgeServer()
    // The edge stores the protobuf Pod as its JSON; the verification compares values as JSON.
    expect(await snapshotOk('restore', file, '--kubeconfig', edge.kubeconfig)).toMatch(
      /verify: \d+ objects in \d+ resources match/,
    )
    await check(edge)

    const target = await etcd()
    await snapshotOk('restore', file, '--etcd-servers', target.endpoints.join(','))
    const node = await nodeServer(target.endpoints)
    await check(node)
  }, 600_000)
})

const CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`

/** What the move must keep: the test namespace's objects, the CRD and its custom resources, as kubectl shows them. */
async function view(s: Kubectl): Promise<unknown> {
  const get = async (...args: string[]) =>
    JSON.parse(await kubectl(s, 'get', ...args, '-o', 'json'))
  const cms = (await get('configmaps', '-n', 'move')).items.filter(
    // each server publishes its own CA here
    (c: { metadata: { name: string } }) => c.metadata.name !== 'kube-root-ca.crt',
  )
  return {
    namespace: await get('namespace', 'move'),
    configmaps: cms,
    secrets: (await get('secrets', '-n', 'move')).items,
    deployments: (await get('deployments', '-n', 'move')).items,
    crd: await get('crd', 'gadgets.example.com'),
    gadgets: (await get('gadgets', '-n', 'move')).items,
  }
}

describe('a cluster moved edge → Node mode → edge', () => {
  it('shows the same objects, CRDs and custom resources with their resourceVersions at each stop', async () => {
    const edge = await edgeServer()
    await edge.k('create', 'namespace', 'move')
    await edge.k('create', 'configmap', 'settings', '-n', 'move', '--from-literal=mode=fast')
    await edge.k('create', 'secret', 'generic', 'token', '-n', 'move', '--from-literal=t=abc')
    await edge.k('create', 'deployment', 'api', '-n', 'move', '--image=nginx')
    await edge.k('apply', '-f', edge.file('crd.yaml', CRD))
    await edge.k('wait', '--for=condition=Established', 'crd/gadgets.example.com')
    for (const [name, size] of [
      ['g1', 1],
      ['g2', 2],
    ] as const)
      await edge.k(
        'apply',
        '-f',
        edge.file(
          `${name}.yaml`,
          `apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: ${name}, namespace: move}\nspec: {size: ${size}}\n`,
        ),
      )
    const atEdge = await view(edge)

    const first = join(dir, 'edge.snapshot')
    await snapshotOk('save', first, '--kubeconfig', edge.kubeconfig)
    const nodeEtcd = await etcd()
    const restored = await snapshotOk(
      'restore',
      first,
      '--etcd-servers',
      nodeEtcd.endpoints.join(','),
    )
    expect(restored).toMatch(/verify: \d+ objects in \d+ resources match/)
    const node = await nodeServer(nodeEtcd.endpoints)
    expect(await view(node)).toEqual(atEdge)

    const second = join(dir, 'node.snapshot')
    await snapshotOk('save', second, '--kubeconfig', node.kubeconfig)
    const back = await edgeServer()
    // Not verified: the edge's control loops publish its own CA in kube-root-ca.crt on arrival.
    await snapshotOk('restore', second, '--kubeconfig', back.kubeconfig, '--verify=false')
    expect(await view(back)).toEqual(atEdge)
    // A snapshot file names what differs between two of them, per resource.
    const diff = await snapshotCommand('diff', first, second)
    expect(diff.stderr).toMatch(/verify: configmaps: /) // kube-root-ca.crt: the Node server's own CA
  }, 600_000)
})

/** A cluster made through the management API, with its admin kubeconfig from its Secret. */
async function tenantOf(server: Kubectl, name: string): Promise<Kubectl> {
  const kubeconfigs = await createClusters(server.kubeconfig, [name], dir)
  return { kubeconfig: kubeconfigs[name]! }
}

/** The file as one saved before carried the edge's bootstrap marker, as its first record. */
function withMarker(file: string): Buffer {
  const lines = readFileSync(file, 'utf8').trim().split('\n')
  const header = JSON.parse(lines[0]!) as SnapshotHeader
  const records = lines.slice(1, -1).map((l) => JSON.parse(l) as SnapshotRecord)
  // At a revision no record of the file holds, as the marker's own write was.
  const taken = new Set(records.map((r) => r.mod_revision))
  let at = 1
  while (taken.has(at)) at++
  const enc = new SnapshotEncoder()
  return Buffer.concat([
    enc.header({ ...header, count: header.count + 1 }),
    enc.records([
      { key: BOOTSTRAP_MARKER_KEY, value: 'v1-0', createRevision: at, modRevision: at, version: 1 },
    ]),
    enc.records(records.map(keyValueOf)),
    enc.trailer(),
  ])
}

/** The keys a snapshot file holds. */
function keysOf(file: string): string[] {
  const lines = readFileSync(file, 'utf8').trim().split('\n')
  return lines.slice(1, -1).map((l) => (JSON.parse(l) as { key: string }).key)
}

describe('a cluster made through the management API moved edge → Node mode → edge', () => {
  it("carries kube's data only: restored under its Node prefix or as a fresh etcd's default cluster, and back in place, it verifies and bootstraps as a new start of kube-apiserver", async () => {
    const edge = await edgeServer()
    const team = await tenantOf(edge, 'team')
    await kubectl(team, 'create', 'namespace', 'move')
    await kubectl(team, 'create', 'configmap', 'settings', '-n', 'move', '--from-literal=m=f')
    await kubectl(team, 'create', 'secret', 'generic', 'token', '-n', 'move', '--from-literal=t=a')
    await kubectl(team, 'create', 'deployment', 'api', '-n', 'move', '--image=nginx')
    await kubectl(team, 'apply', '-f', edge.file('team-crd.yaml', CRD))
    await kubectl(team, 'wait', '--for=condition=Established', 'crd/gadgets.example.com')
    await kubectl(
      team,
      'apply',
      '-f',
      edge.file(
        'team-g1.yaml',
        'apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: move}\nspec: {size: 1}\n',
      ),
    )
    // A bootstrap role removed: kube-apiserver puts it back on its next start, and so must a cluster
    // restored from this snapshot (its bootstrap is its own, not the source's).
    await kubectl(team, 'delete', 'clusterrole', 'system:public-info-viewer')
    const atEdge = await view(team)

    const file = join(dir, 'team.snapshot')
    await snapshotOk('save', file, '--kubeconfig', team.kubeconfig)
    // The server's own bookkeeping (its bootstrap marker) is not kube's data: an etcd snapshot of
    // kube-apiserver holds only what it wrote under its prefix, and so does this one.
    expect(keysOf(file).filter((k) => !k.startsWith('/registry/'))).toEqual([])

    // Edge to edge, in place: the cluster bootstraps again on its next start (a new isolate), as
    // kube-apiserver does after its etcd was restored, not skipping it on the source's word.
    await snapshotOk('restore', file, '--kubeconfig', team.kubeconfig)
    await edge.restart([])
    await kubectl(team, 'get', 'clusterrole', 'system:public-info-viewer')
    expect(await view(team)).toEqual(atEdge)

    // A file saved before carried the marker: the restore leaves it out.
    const older = join(dir, 'team-older.snapshot')
    writeFileSync(older, withMarker(file))

    // Under its Node-mode prefix, and as the default cluster of a fresh etcd: every key reads back
    // as it was saved.
    const underPrefix = await etcd()
    const restored = await snapshotOk(
      'restore',
      older,
      '--etcd-servers',
      underPrefix.endpoints.join(','),
      '--etcd-prefix',
      tenantEtcdPrefix('team'),
    )
    expect(restored).toContain(
      "restore: left out 1 keys outside /registry/ (the server's own bookkeeping",
    )
    expect(restored).toMatch(/verify: \d+ objects in \d+ resources match/)
    const keys = new Etcd3({ hosts: underPrefix.endpoints })
    try {
      const all = await keys.getAll().keys()
      expect(all.filter((k) => !k.startsWith(`${tenantEtcdPrefix('team')}/`))).toEqual([])
      expect(all.filter((k) => k.includes('bootstrapped'))).toEqual([])
    } finally {
      keys.close()
    }
    // Served there once its Cluster is made on that server: the data as it was, with credentials of
    // the new server's own (the settings are not in the file: a move does not carry the old ones).
    const nodeWithTenant = await nodeServer(underPrefix.endpoints)
    const teamOnNode = await tenantOf(nodeWithTenant, 'team')
    expect(await view(teamOnNode)).toEqual(atEdge)
    await kubectl(teamOnNode, 'get', 'clusterrole', 'system:public-info-viewer')

    const asDefault = await etcd()
    expect(
      await snapshotOk('restore', file, '--etcd-servers', asDefault.endpoints.join(',')),
    ).toMatch(/verify: \d+ objects in \d+ resources match/)
    const node = await nodeServer(asDefault.endpoints)
    expect(await view(node)).toEqual(atEdge)
    // Node mode bootstraps on its start, as kube-apiserver does.
    await kubectl(node, 'get', 'clusterrole', 'system:public-info-viewer')

    // Back into the edge cluster in place (bootstrapped in its object, which marks it so), and into
    // another edge's default cluster (bootstrapped by each isolate).
    await kubectl(node, 'delete', 'clusterrole', 'system:public-info-viewer')
    const back = join(dir, 'team-back.snapshot')
    await snapshotOk('save', back, '--kubeconfig', node.kubeconfig)
    // Not verified: the edge's control loops publish its own CA in kube-root-ca.crt on arrival.
    await snapshotOk('restore', back, '--kubeconfig', team.kubeconfig, '--verify=false')
    const other = await edgeServer()
    await snapshotOk('restore', back, '--kubeconfig', other.kubeconfig, '--verify=false')
    expect(await view(team)).toEqual(atEdge)
    expect(await view(other)).toEqual(atEdge)
    // And so does each cluster restored from Node mode.
    await edge.restart([])
    await other.restart([])
    await kubectl(team, 'get', 'clusterrole', 'system:public-info-viewer')
    await kubectl(other, 'get', 'clusterrole', 'system:public-info-viewer')
  }, 600_000)
})

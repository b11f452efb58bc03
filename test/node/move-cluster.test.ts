// Moving a cluster with `npm run snapshot`: from an etcd kube-apiserver filled (the Pod kube-apiserver 1.24
// stored in protobuf, a Secret it encrypted with aescbc, and its own state, which does not move) into the
// edge and into Node mode; and a cluster moved edge → Node mode → edge, with the real kubectl showing the
// same objects, CRDs and custom resources, with their resourceVersions, at each stop.
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

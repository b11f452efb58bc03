// Node mode reads the etcd values kube-apiserver wrote in its protobuf storage envelope: the Pod a kube-apiserver
// 1.24 stored (test/fixtures/etcd-pod-kube-apiserver-1.24.bin), put into an etcd that holds nothing else, is
// served to kubectl by get, list and watch with its mod revision as resourceVersion, and kubectl's update
// rewrites it as JSON that still reads. A protobuf value under encryption at rest is decrypted, then decoded.
import { execFileSync } from 'node:child_process'
import { createCipheriv, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WireWriter } from '../../src/api/protobuf/writer'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { ETCDCTL, NodeServer, ROOT, run } from './harness'

const FIXTURE = readFileSync(join(ROOT, 'test', 'fixtures', 'etcd-pod-kube-apiserver-1.24.bin'))
const POD_KEY = '/registry/pods/default/nginxpod'
const KEY = randomBytes(32)
const dir = mkdtempSync(join(tmpdir(), 'edge-protobuf-storage-'))
const configPath = join(dir, 'encryption.yaml')
writeFileSync(
  configPath,
  `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: ["configmaps"]
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: ${KEY.toString('base64')}
`,
)

let etcd: EtcdCluster
let server: NodeServer
let podRevision: number

function etcdctl(args: string[], input?: Buffer): Buffer {
  return execFileSync(ETCDCTL, [`--endpoints=${etcd.endpoints.join(',')}`, ...args], { input })
}

async function modRevision(key: string): Promise<number> {
  const client = new Etcd3({ hosts: etcd.endpoints })
  try {
    const r = await client.get(key).exec()
    return Number(r.kvs[0]!.mod_revision)
  } finally {
    client.close()
  }
}

beforeAll(async () => {
  etcd = await startEtcd()
  // Before the server starts, as when it is pointed at an etcd kube-apiserver filled.
  etcdctl(['put', POD_KEY], FIXTURE)
  podRevision = await modRevision(POD_KEY)
  server = await NodeServer.start(etcd.endpoints, [`--encryption-provider-config=${configPath}`])
})
afterAll(async () => {
  await server?.destroy()
  await etcd?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('the Pod kube-apiserver 1.24 stored in protobuf, through kubectl', () => {
  it('etcd holds the fixture bytes unchanged', () => {
    const stored = etcdctl(['get', '--print-value-only', POD_KEY])
    // etcdctl prints the value and a newline.
    expect(stored.subarray(0, stored.length - 1).equals(FIXTURE)).toBe(true)
  })

  it('kubectl get -o json shows the Pod, with its mod revision as resourceVersion', async () => {
    const r = await server.kubectl('get', 'pod', 'nginxpod', '-o', 'json', '--show-managed-fields')
    expect(r.stderr).toBe('')
    const pod = JSON.parse(r.stdout)
    expect(pod.apiVersion).toBe('v1')
    expect(pod.kind).toBe('Pod')
    expect(pod.metadata.name).toBe('nginxpod')
    expect(pod.metadata.namespace).toBe('default')
    expect(pod.metadata.uid).toBe('198b1e4e-20ea-4577-a487-07413aa11ec5')
    expect(pod.metadata.creationTimestamp).toBe('2023-05-14T06:18:49Z')
    expect(pod.metadata.resourceVersion).toBe(String(podRevision))
    expect(pod.metadata.managedFields).toHaveLength(1)
    expect(pod.metadata.managedFields[0]).toMatchObject({
      manager: 'test',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2023-05-14T06:18:49Z',
      fieldsType: 'FieldsV1',
    })
    expect(pod.metadata.managedFields[0].fieldsV1['f:spec']['f:containers']).toHaveProperty([
      'k:{"name":"nginx"}',
      'f:image',
    ])
    expect(pod.spec.containers).toEqual([
      {
        name: 'nginx',
        image: 'nginx',
        resources: {},
        volumeMounts: [
          {
            name: 'kube-api-access-xgbf8',
            readOnly: true,
            mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
          },
        ],
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'Always',
      },
    ])
    expect(pod.spec.volumes[0].name).toBe('kube-api-access-xgbf8')
    expect(pod.spec.volumes[0].projected.defaultMode).toBe(420)
    expect(pod.spec.volumes[0].projected.sources).toEqual([
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [
            { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
          ],
        },
      },
    ])
    expect(pod.spec.schedulerName).toBe('default-scheduler')
    expect(pod.spec.tolerations).toHaveLength(2)
    expect(pod.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' })
  })

  it('kubectl get pods lists it, as a table and as a list', async () => {
    const table = await server.kubectl('get', 'pods', '-n', 'default')
    expect(table.stderr).toBe('')
    expect(table.stdout).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/)
    expect(table.stdout).toMatch(/\nnginxpod\s+0\/1\s+Pending\s+0\s+/)
    const list = await server.kubectl('get', 'pods', '-A', '-o', 'json')
    expect(list.stderr).toBe('')
    const items = JSON.parse(list.stdout).items as { metadata: Record<string, string> }[]
    const pod = items.find((p) => p.metadata.name === 'nginxpod')
    expect(pod?.metadata.resourceVersion).toBe(String(podRevision))
  })

  it('a watch sees it, and a protobuf value put while watching arrives decoded', async () => {
    const creds = server.credentials()
    const w = server.watch(
      '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dnginxpod&timeoutSeconds=20',
      creds,
    )
    await w.firstLine
    const first = JSON.parse(w.lines[0]!)
    expect(first.type).toBe('ADDED')
    expect(first.object.metadata.name).toBe('nginxpod')
    expect(first.object.spec.containers[0].image).toBe('nginx')
    expect(first.object.metadata.resourceVersion).toBe(String(podRevision))

    // kube-apiserver writing the same value again: an event from etcd's watch, not the initial list.
    etcdctl(['put', POD_KEY], FIXTURE)
    const again = await modRevision(POD_KEY)
    for (let i = 0; i < 100 && w.lines.length < 2; i++) await new Promise((r) => setTimeout(r, 50))
    const second = JSON.parse(w.lines[1]!)
    expect(second.type).toBe('MODIFIED')
    expect(second.object.metadata.resourceVersion).toBe(String(again))
    expect(second.object.metadata.managedFields[0].manager).toBe('test')
    podRevision = again
  })

  it('an update through kubectl rewrites it as JSON, which still reads', async () => {
    const r = await server.kubectl('label', 'pod', 'nginxpod', 'moved=here')
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('pod/nginxpod labeled\n')
    const stored = etcdctl(['get', '--print-value-only', POD_KEY]).toString()
    const json = JSON.parse(stored)
    expect(json.metadata.labels).toEqual({ moved: 'here' })
    expect(json.metadata.uid).toBe('198b1e4e-20ea-4577-a487-07413aa11ec5')
    expect(json.spec.containers[0].image).toBe('nginx')
    expect(json.metadata.resourceVersion).toBeUndefined()

    const got = await server.kubectl(
      'get',
      'pod',
      'nginxpod',
      '-o',
      'json',
      '--show-managed-fields',
    )
    expect(got.stderr).toBe('')
    const pod = JSON.parse(got.stdout)
    expect(pod.metadata.labels).toEqual({ moved: 'here' })
    expect(pod.metadata.resourceVersion).toBe(String(await modRevision(POD_KEY)))
    expect(pod.spec.volumes[0].projected.sources).toHaveLength(3)
    expect(pod.metadata.managedFields.map((m: { manager: string }) => m.manager)).toEqual([
      'test',
      'kubectl-label',
    ])
  })
})

/** A v1 ConfigMap in kube's storage envelope, as kube-apiserver's protobuf serializer writes it. */
function protobufConfigMap(name: string, data: Record<string, string>): Buffer {
  const raw = new WireWriter().message(1, (m) =>
    m
      .string(1, name)
      .string(3, 'default')
      .string(5, '0b9c5f0e-1111-4222-8333-944455556666')
      .message(8, (t) => t.int64(1, 1767225600)),
  )
  for (const [k, v] of Object.entries(data)) raw.message(2, (e) => e.string(1, k).string(2, v))
  const unknown = new WireWriter()
    .message(1, (t) => t.string(1, 'v1').string(2, 'ConfigMap'))
    .bytes(2, raw.finish())
    .string(3, '')
    .string(4, '')
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown.finish()])
}

describe('protobuf under encryption at rest', () => {
  it('decrypts, then decodes, a ConfigMap kube-apiserver stored encrypted in protobuf', async () => {
    const iv = randomBytes(16)
    const cipher = createCipheriv('aes-256-cbc', KEY, iv)
    const plain = protobufConfigMap('pb-enc', { greeting: 'from kube' })
    const value = Buffer.concat([
      Buffer.from('k8s:enc:aescbc:v1:key1:'),
      iv,
      cipher.update(plain),
      cipher.final(),
    ])
    etcdctl(['put', '/registry/configmaps/default/pb-enc'], value)
    const r = await server.kubectl('get', 'configmap', 'pb-enc', '-o', 'json')
    expect(r.stderr).toBe('')
    const cm = JSON.parse(r.stdout)
    expect(cm.data).toEqual({ greeting: 'from kube' })
    expect(cm.metadata.creationTimestamp).toBe('2026-01-01T00:00:00Z')
    expect(cm.metadata.resourceVersion).toBe(
      String(await modRevision('/registry/configmaps/default/pb-enc')),
    )
    const list = await server.kubectl('get', 'configmaps', '-o', 'name')
    expect(list.stdout.split('\n')).toContain('configmap/pb-enc')
  })
})

describe('--storage-media-type', () => {
  it('refuses application/yaml by name rather than writing something else under it', async () => {
    const r = await run(process.execPath, [
      join(ROOT, 'dist', 'node.js'),
      '--etcd-servers=http://127.0.0.1:1',
      '--storage-media-type=application/yaml',
    ])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      '--storage-media-type=application/yaml is not supported by this server: objects are written as application/json or application/vnd.kubernetes.protobuf',
    )
  })

  it('answers an unknown media type in kube-apiserver words', async () => {
    const r = await run(process.execPath, [
      join(ROOT, 'dist', 'node.js'),
      '--storage-media-type=text/plain',
    ])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      '--storage-media-type "text/plain" invalid, allowed values: application/json, application/vnd.kubernetes.protobuf, application/yaml',
    )
  })
})

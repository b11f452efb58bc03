// --storage-media-type=application/vnd.kubernetes.protobuf: built-in kinds written through kubectl land in etcd in
// kube-apiserver's storage envelope — checked with protobufjs against kube's field numbers (generated.proto of
// k8s.io/api core/v1 and apimachinery, transcribed for the few messages read here), not with our decoder — and
// read back through kubectl; a custom resource and its CustomResourceDefinition stay JSON, as kube-apiserver's.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { Etcd3 } from 'etcd3'
import protobuf from 'protobufjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { ETCDCTL, NodeServer } from './harness'

// k8s.io/apimachinery/pkg/runtime/generated.proto and the fields of k8s.io/api/core/v1 and
// apimachinery/pkg/apis/meta/v1 generated.proto this test reads.
const PROTO = `
syntax = "proto2";
package k8s;
message TypeMeta { optional string apiVersion = 1; optional string kind = 2; }
message Unknown {
  optional TypeMeta typeMeta = 1; optional bytes raw = 2;
  optional string contentEncoding = 3; optional string contentType = 4;
}
message Time { optional int64 seconds = 1; optional int32 nanos = 2; }
message ObjectMeta {
  optional string name = 1; optional string namespace = 3; optional string uid = 5;
  optional Time creationTimestamp = 8; map<string, string> labels = 11;
}
message ConfigMap { optional ObjectMeta metadata = 1; map<string, string> data = 2; }
message Container { optional string name = 1; optional string image = 2; }
message PodSpec { repeated Container containers = 2; optional string restartPolicy = 3; }
message Pod { optional ObjectMeta metadata = 1; optional PodSpec spec = 2; }
// Any kind's field 1, its ObjectMeta; the rest is skipped.
message Object { optional ObjectMeta metadata = 1; }
`
const root = protobuf.parse(PROTO).root
const Unknown = root.lookupType('k8s.Unknown')

let etcd: EtcdCluster
let server: NodeServer

function stored(key: string): Buffer {
  const out = execFileSync(ETCDCTL, [
    `--endpoints=${etcd.endpoints.join(',')}`,
    'get',
    '--print-value-only',
    key,
  ])
  return out.subarray(0, out.length - 1) // etcdctl prints the value and a newline
}

/** The stored value as kube's protobuf serializer reads it: magic, runtime.Unknown, then the kind's message. */
function decodeEnvelope(value: Buffer, type: string): { typeMeta: unknown; obj: any } {
  expect(value.subarray(0, 4).equals(Buffer.from('k8s\0', 'latin1'))).toBe(true)
  const unk = Unknown.toObject(Unknown.decode(value.subarray(4)), { longs: Number }) as {
    typeMeta: unknown
    raw: Uint8Array
  }
  const T = root.lookupType(`k8s.${type}`)
  return { typeMeta: unk.typeMeta, obj: T.toObject(T.decode(unk.raw), { longs: Number }) }
}

beforeAll(async () => {
  etcd = await startEtcd()
  server = await NodeServer.start(etcd.endpoints, [
    '--storage-media-type=application/vnd.kubernetes.protobuf',
  ])
})
afterAll(async () => {
  await server?.destroy()
  await etcd?.stop()
})

describe('writing built-in kinds in protobuf', () => {
  it('stores a ConfigMap created by kubectl in kube-apiserver envelope, and reads it back', async () => {
    const r = await server.kubectl(
      'create',
      'configmap',
      'pb',
      '--from-literal=greeting=hello',
      '--from-literal=answer=42',
    )
    expect(r.stderr).toBe('')
    const { typeMeta, obj } = decodeEnvelope(stored('/registry/configmaps/default/pb'), 'ConfigMap')
    expect(typeMeta).toEqual({ apiVersion: 'v1', kind: 'ConfigMap' })
    expect(obj.metadata.name).toBe('pb')
    expect(obj.metadata.namespace).toBe('default')
    expect(obj.metadata.creationTimestamp.seconds).toBeGreaterThan(1_700_000_000)
    expect(obj.data).toEqual({ answer: '42', greeting: 'hello' })

    const got = await server.kubectl('get', 'configmap', 'pb', '-o', 'json')
    expect(got.stderr).toBe('')
    const cm = JSON.parse(got.stdout)
    expect(cm.data).toEqual({ answer: '42', greeting: 'hello' })
    expect(cm.metadata.uid).toBe(obj.metadata.uid)
  })

  it('stores a Pod, an update keeps it protobuf, and list and get read it', async () => {
    const r = await server.kubectl('run', 'web', '--image=nginx:1.27', '--restart=Never')
    expect(r.stderr).toBe('')
    const label = await server.kubectl('label', 'pod', 'web', 'tier=front')
    expect(label.stderr).toBe('')
    const { typeMeta, obj } = decodeEnvelope(stored('/registry/pods/default/web'), 'Pod')
    expect(typeMeta).toEqual({ apiVersion: 'v1', kind: 'Pod' })
    expect(obj.metadata.labels).toEqual({ run: 'web', tier: 'front' })
    expect(obj.spec.containers).toEqual([{ name: 'web', image: 'nginx:1.27' }])
    expect(obj.spec.restartPolicy).toBe('Never')

    const list = await server.kubectl('get', 'pods', '-l', 'tier=front', '-o', 'name')
    expect(list.stdout).toBe('pod/web\n')
    const image = await server.kubectl(
      'get',
      'pod',
      'web',
      '-o',
      'jsonpath={.spec.containers[0].image}',
    )
    expect(image.stdout).toBe('nginx:1.27')
  })

  it('drives the control loops from protobuf values: a new Namespace gets its ServiceAccount', async () => {
    const r = await server.kubectl('create', 'namespace', 'pbns')
    expect(r.stderr).toBe('')
    let sa = ''
    for (let i = 0; i < 100 && !sa; i++) {
      sa = (await server.kubectl('get', 'serviceaccount', 'default', '-n', 'pbns', '-o', 'name'))
        .stdout
      if (!sa) await new Promise((res) => setTimeout(res, 100))
    }
    expect(sa).toBe('serviceaccount/default\n')
    const ns = decodeEnvelope(stored('/registry/namespaces/pbns'), 'Object')
    expect(ns.typeMeta).toEqual({ apiVersion: 'v1', kind: 'Namespace' })
    const { typeMeta, obj } = decodeEnvelope(
      stored('/registry/serviceaccounts/pbns/default'),
      'Object',
    )
    expect(typeMeta).toEqual({ apiVersion: 'v1', kind: 'ServiceAccount' })
    expect(obj.metadata).toMatchObject({ name: 'default', namespace: 'pbns' })
  })

  it('keeps a CustomResourceDefinition and its custom resources JSON', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        ],
      },
    }
    const applied = await server.kubectl('apply', '-f', writeTemp(JSON.stringify(crd)))
    expect(applied.stderr).toBe('')
    const crdValue = stored(
      '/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com',
    )
    expect(JSON.parse(crdValue.toString()).kind).toBe('CustomResourceDefinition')
    let created = { stderr: 'not tried' }
    for (let i = 0; i < 50 && created.stderr !== ''; i++) {
      created = await server.kubectl(
        'apply',
        '-f',
        writeTemp(
          JSON.stringify({
            apiVersion: 'example.com/v1',
            kind: 'Widget',
            metadata: { name: 'w', namespace: 'default' },
            size: 3,
          }),
        ),
      )
      if (created.stderr !== '') await new Promise((r) => setTimeout(r, 200))
    }
    expect(created.stderr).toBe('')
    const cr = JSON.parse(stored('/registry/example.com/widgets/default/w').toString())
    expect(cr.size).toBe(3)
  })
})

describe('what the server itself stores', () => {
  it('writes every built-in object in protobuf, the bootstrap policy and controllers included', async () => {
    const client = new Etcd3({ hosts: etcd.endpoints })
    let all: Record<string, Buffer>
    try {
      all = await client.getAll().prefix('/registry/').buffers()
    } finally {
      client.close()
    }
    const json = Object.entries(all)
      .filter(([, v]) => !v.subarray(0, 4).equals(Buffer.from('k8s\0', 'latin1')))
      .map(([k]) => k.split('/').slice(0, 3).join('/'))
    // Left JSON: custom resources and CRDs (as kube-apiserver's), IPAddress (no protobuf table yet) and this
    // server's own master leases (not kube's Endpoints values).
    expect([...new Set(json)].sort()).toEqual([
      '/registry/apiextensions.k8s.io',
      '/registry/example.com',
      '/registry/ipaddresses',
      '/registry/masterleases',
    ])
    expect(Object.keys(all).length - json.length).toBeGreaterThan(40)
  })
})

let temp = 0
function writeTemp(text: string): string {
  const path = `${server.stateDir}/manifest-${temp++}.json`
  writeFileSync(path, text)
  return path
}

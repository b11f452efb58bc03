// The etcd value kube-apiserver 1.24 stored for a Pod (test/fixtures/etcd-pod-kube-apiserver-1.24.bin) decodes to
// the JSON kube-apiserver serves for it: every field of the object, in the order and with the zero values Go's
// encoding/json gives (written out here from the Pod's Go struct, not from our decoder).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodeStoredProtobuf, encodeStoredProtobuf } from '../../../src/api/protobuf/envelope'
import { ProtobufError } from '../../../src/api/protobuf/reader'
import { WireWriter } from '../../../src/api/protobuf/writer'
import { storedJson } from '../../../src/storage/storage-codec'
import { toByteString } from '../../../src/storage/store'

const FIXTURE = new Uint8Array(
  readFileSync(join(__dirname, '..', '..', 'fixtures', 'etcd-pod-kube-apiserver-1.24.bin')),
)

const FIELDS_V1 = {
  'f:spec': {
    'f:containers': {
      'k:{"name":"nginx"}': {
        '.': {},
        'f:image': {},
        'f:imagePullPolicy': {},
        'f:name': {},
        'f:resources': {},
        'f:terminationMessagePath': {},
        'f:terminationMessagePolicy': {},
      },
    },
    'f:dnsPolicy': {},
    'f:enableServiceLinks': {},
    'f:restartPolicy': {},
    'f:schedulerName': {},
    'f:securityContext': {},
    'f:terminationGracePeriodSeconds': {},
  },
}

// kube-apiserver's JSON for this Pod (kubectl get -o json --show-managed-fields, less resourceVersion).
const KUBE_JSON = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'nginxpod',
    namespace: 'default',
    uid: '198b1e4e-20ea-4577-a487-07413aa11ec5',
    creationTimestamp: '2023-05-14T06:18:49Z',
    managedFields: [
      {
        manager: 'test',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2023-05-14T06:18:49Z',
        fieldsType: 'FieldsV1',
        fieldsV1: FIELDS_V1,
      },
    ],
  },
  spec: {
    volumes: [
      {
        name: 'kube-api-access-xgbf8',
        projected: {
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            {
              configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
            },
            {
              downwardAPI: {
                items: [
                  {
                    path: 'namespace',
                    fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
                  },
                ],
              },
            },
          ],
          defaultMode: 420,
        },
      },
    ],
    containers: [
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
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    serviceAccount: 'default',
    securityContext: {},
    schedulerName: 'default-scheduler',
    tolerations: [
      {
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
      {
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
    ],
    // *int32 and *string set by kube's defaulting: present on the wire, so written even where zero.
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
  },
  status: { phase: 'Pending', qosClass: 'BestEffort' },
}

describe('the Pod kube-apiserver 1.24 stored', () => {
  it('decodes field by field to kube-apiserver JSON', () => {
    const pod = decodeStoredProtobuf(FIXTURE)
    expect(pod.kind).toBe('Pod')
    expect(pod.apiVersion).toBe('v1')
    expect(pod.metadata).toEqual(KUBE_JSON.metadata)
    expect(pod.spec).toEqual(KUBE_JSON.spec)
    expect(pod.status).toEqual(KUBE_JSON.status)
    expect(Object.keys(pod).sort()).toEqual(Object.keys(KUBE_JSON).sort())
  })

  it('is read from the Store as the JSON text we store, apiVersion, kind and metadata first', () => {
    const text = storedJson('/registry/pods/default/nginxpod', toByteString(FIXTURE))
    expect(text.startsWith('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nginxpod",')).toBe(
      true,
    )
    // Go's encoding/json order within the object, key for key.
    expect(text).toBe(JSON.stringify(KUBE_JSON))
  })

  it('leaves JSON values as they are', () => {
    const json = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}'
    expect(storedJson('/registry/configmaps/default/x', json)).toBe(json)
  })

  it('fails the read of a kind without a protobuf message table, naming it', () => {
    const unknown = new WireWriter()
      .message(1, (t) => t.string(1, 'example.com/v1').string(2, 'Widget'))
      .bytes(2, new Uint8Array(0))
      .finish()
    const value = 'k8s\0' + toByteString(unknown)
    expect(() => decodeStoredProtobuf(new Uint8Array([0x6b, 0x38, 0x73, 0, ...unknown]))).toThrow(
      new ProtobufError('no kind "Widget" is registered for version "example.com/v1"'),
    )
    expect(() => storedJson('/registry/widgets/default/w', value)).toThrow(
      'unable to decode the protobuf value at /registry/widgets/default/w: no kind "Widget" is registered for version "example.com/v1"',
    )
  })

  it('fails the read of a truncated value', () => {
    const value = toByteString(FIXTURE.subarray(0, 200))
    expect(() => storedJson('/registry/pods/default/nginxpod', value)).toThrow(
      /^unable to decode the protobuf value at \/registry\/pods\/default\/nginxpod: /,
    )
  })
})

describe('written in kube-apiserver storage envelope', () => {
  it("gives back kube-apiserver's bytes for the Pod, less what changed in the types since 1.24", () => {
    // What a kube-apiserver 1.32 (the types we have) writes for the same Pod: the fixture without ObjectMeta's
    // clusterName (field 15, gone since 1.25) and with PodStatus's resize (field 14, since 1.27), each an
    // empty string that gogo writes as a key and a zero length; the lengths around them follow.
    const edits: [string, string][] = [
      ['0ace030a086e67696e78706f64', '0acc030a086e67696e78706f64'], // ObjectMeta: 462 -> 460 bytes
      ['a3061000' + '7a00' + '8a01', 'a3061000' + '8a01'], // clusterName
      ['1a1f0a0750656e64696e67', '1a210a0750656e64696e67'], // PodStatus: 31 -> 33 bytes
      ['426573744566666f72745a00', '426573744566666f72745a00' + '7200'], // resize
    ]
    let expected = Buffer.from(FIXTURE).toString('hex')
    for (const [from, to] of edits) {
      expect(expected.split(from)).toHaveLength(2)
      expected = expected.replace(from, to)
    }
    const out = encodeStoredProtobuf(decodeStoredProtobuf(FIXTURE))!
    expect(Buffer.from(out).toString('hex')).toBe(expected)
    expect(decodeStoredProtobuf(out)).toEqual(decodeStoredProtobuf(FIXTURE))
  })

  it('leaves kinds without a message table to JSON', () => {
    expect(encodeStoredProtobuf({ apiVersion: 'example.com/v1', kind: 'Widget' })).toBeUndefined()
    expect(
      encodeStoredProtobuf({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
      }),
    ).toBeUndefined()
  })
})

describe('a server reading and writing every value', () => {
  it('survives the decoder and encoder running hot (Node 20 aborted on BigInt.asUintN(64) once optimized)', () => {
    let out: Uint8Array | undefined
    for (let i = 0; i < 20_000; i++) out = encodeStoredProtobuf(decodeStoredProtobuf(FIXTURE))
    expect(decodeStoredProtobuf(out!)).toEqual(decodeStoredProtobuf(FIXTURE))
  })

  it("writes negative integers as their ten-byte 64-bit two's complement", () => {
    const hex = (v: number) => Buffer.from(new WireWriter().int64(1, v).finish()).toString('hex')
    expect(hex(-1)).toBe('08ffffffffffffffffff01')
    expect(hex(-62135596800)).toBe('088092b8c398feffffff01') // Go's zero time, in seconds
    expect(hex(2 ** 53 + 2)).toBe('088280808080808010')
  })
})

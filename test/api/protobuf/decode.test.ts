import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { thrown } from '../../helpers/status'
import { describe, expect, it } from 'vitest'
import { decodeObject, negotiate, readBodyText } from '../../../src/api/negotiation'
import { formatDuration } from '../../../src/api/protobuf/decode'
import { decodeProtobufObject } from '../../../src/api/protobuf/envelope'
import { messages } from '../../../src/api/protobuf/messages'
import { bytes, concat, entry, envelope, msg, str, timestamp, varint } from './wire'

const FIXTURES = join(__dirname, 'fixtures')
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)))
const PROTOBUF = 'application/vnd.kubernetes.protobuf'

function failure(fn: () => unknown): { code: number; reason: string | undefined; message: string } {
  return thrown(() => fn())
}

describe('bodies kubectl 1.32 sends as protobuf (captured by capture.mjs)', () => {
  // Each .pb is what `kubectl create ...` sent; each .json is `kubectl create ... --dry-run=client -o json`,
  // the same Go object through encoding/json: what a JSON client would have sent.
  const kinds = [
    'namespace',
    'configmap',
    'secret',
    'secret-docker-registry',
    'deployment',
    'service',
    'service-nodeport',
    'job',
    'cronjob',
    'serviceaccount',
    'role',
    'rolebinding',
    'clusterrole',
    'clusterrolebinding',
    'quota',
    'priorityclass',
    'poddisruptionbudget',
    'ingress',
  ]
  for (const name of kinds) {
    it(`decodes kubectl create ${name} to kubectl's JSON for it`, () => {
      const expected = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'))
      expect(decodeProtobufObject(fixture(`${name}.pb`))).toStrictEqual(expected)
    })
  }

  it('keeps binaryData and Secret data as base64 of the raw bytes, and empty values as ""', () => {
    const cm = decodeProtobufObject(fixture('configmap.pb'))
    expect(cm.binaryData).toEqual({ blob: 'AP/+gEEK' }) // 00 ff fe 80 41 0a
    expect(cm.data).toEqual({ empty: '', mode: 'fast' })
    const secret = decodeProtobufObject(fixture('secret.pb'))
    expect(secret.data).toEqual({ blob: 'AP/+gEEK', empty: '', user: 'YWRtaW4=' })
  })

  it('decodes a named targetPort as a string and a numbered one as a number', () => {
    const svc = decodeProtobufObject(fixture('service.pb')) as {
      spec: { ports: { targetPort: unknown }[] }
    }
    expect(svc.spec.ports.map((p) => p.targetPort)).toEqual([8080, 'https'])
  })

  it('decodes kubectl create token: nil audiences and boundObjectRef are null, zero status written', () => {
    expect(decodeProtobufObject(fixture('token-request.pb'))).toStrictEqual({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { audiences: ['api', 'vault'], expirationSeconds: 3600, boundObjectRef: null },
      status: { token: '', expirationTimestamp: null },
    })
    expect(decodeProtobufObject(fixture('token-request-bound.pb'))).toStrictEqual({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: {
        audiences: null,
        expirationSeconds: null,
        boundObjectRef: {
          kind: 'Secret',
          apiVersion: 'v1',
          name: 'pull',
          uid: '6b1f7c4e-1111-4d2a-9c1e-0123456789ab',
        },
      },
      status: { token: '', expirationTimestamp: null },
    })
  })

  it('decodes kubectl auth can-i as a SelfSubjectAccessReview', () => {
    expect(decodeProtobufObject(fixture('self-subject-access-review.pb'))).toStrictEqual({
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: {
        resourceAttributes: {
          namespace: 'pb-fixtures',
          verb: 'list',
          resource: 'pods',
          subresource: 'log',
        },
      },
      status: { allowed: false },
    })
    expect(
      decodeProtobufObject(fixture('self-subject-access-review-nonresource.pb')),
    ).toStrictEqual({
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { nonResourceAttributes: { path: '/healthz', verb: 'get' } },
      status: { allowed: false },
    })
  })

  it('decodes kubectl auth can-i --list as a SelfSubjectRulesReview', () => {
    expect(decodeProtobufObject(fixture('self-subject-rules-review.pb'))).toStrictEqual({
      kind: 'SelfSubjectRulesReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { namespace: 'pb-fixtures' },
      status: { resourceRules: null, nonResourceRules: null, incomplete: false },
    })
  })

  it("decodes the DeleteOptions of kubectl drain's pod delete", () => {
    expect(decodeProtobufObject(fixture('drain-delete-options.pb'))).toStrictEqual({
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      gracePeriodSeconds: 30,
    })
  })
})

describe('Go JSON semantics of gogo-encoded fields', () => {
  const meta = msg(1, str(1, 'x'))

  it('keeps an explicit zero in a pointer field and drops zero values of omitempty fields', () => {
    // DeploymentSpec: replicas *int32 = 0, minReadySeconds int32 = 0, paused bool = false
    const obj = decodeProtobufObject(
      envelope('apps/v1', 'Deployment', meta, msg(2, varint(1, 0), varint(5, 0), varint(7, false))),
    )
    const spec = obj.spec as Record<string, unknown>
    expect(spec.replicas).toBe(0)
    expect(spec).not.toHaveProperty('minReadySeconds')
    expect(spec).not.toHaveProperty('paused')
    expect(spec).not.toHaveProperty('revisionHistoryLimit') // a nil pointer with omitempty
    expect(spec.selector).toBeNull() // a nil pointer without omitempty
    // an absent struct is the zero struct, which encoding/json always writes
    expect(spec.template).toEqual({
      metadata: { creationTimestamp: null },
      spec: { containers: null },
    })
    expect(spec.strategy).toEqual({})
  })

  it('writes zero values of fields without omitempty', () => {
    const obj = decodeProtobufObject(
      envelope('v1', 'Pod', meta, msg(2, msg(2, str(1, 'c'), msg(6, varint(3, 0))))),
    )
    expect((obj.spec as { containers: unknown[] }).containers).toEqual([
      { name: 'c', ports: [{ containerPort: 0 }], resources: {} },
    ])
  })

  it('reads negative int32 values sign-extended to ten bytes', () => {
    const obj = decodeProtobufObject(
      envelope('scheduling.k8s.io/v1', 'PriorityClass', meta, varint(2, -5)),
    )
    expect(obj).toEqual({
      kind: 'PriorityClass',
      apiVersion: 'scheduling.k8s.io/v1',
      metadata: { name: 'x', creationTimestamp: null },
      value: -5,
    })
  })

  it('reads Time as RFC 3339 seconds, MicroTime with microseconds, and the zero time as null', () => {
    const obj = decodeProtobufObject(
      envelope(
        'events.k8s.io/v1',
        'Event',
        msg(
          1,
          str(1, 'e'),
          timestamp(8, '2024-05-06T07:08:09Z', 999_000_000),
          timestamp(9, '2024-05-06T07:08:10Z'),
        ),
        timestamp(2, '2024-05-06T07:08:09Z', 123_456_789),
        msg(3, varint(1, 2), bytes(2, new Uint8Array())),
        str(7, 'Started'),
        msg(13, varint(1, -62135596800), varint(2, 0)),
      ),
    )
    expect(obj.metadata).toEqual({
      name: 'e',
      creationTimestamp: '2024-05-06T07:08:09Z',
      deletionTimestamp: '2024-05-06T07:08:10Z',
    })
    expect(obj.eventTime).toBe('2024-05-06T07:08:09.123456Z')
    expect(obj.series).toEqual({ count: 2, lastObservedTime: null })
    expect(obj.deprecatedFirstTimestamp).toBeNull() // Go's zero time, written out explicitly
    expect(obj.deprecatedLastTimestamp).toBeNull()
  })

  it('reads IntOrString, Quantity and resource maps', () => {
    const obj = decodeProtobufObject(
      envelope(
        'apps/v1',
        'Deployment',
        meta,
        msg(
          2,
          msg(
            4,
            str(1, 'RollingUpdate'),
            msg(
              2,
              msg(1, varint(1, 1), varint(2, 0), str(3, '25%')),
              msg(2, varint(1, 0), varint(2, 0), str(3, '')),
            ),
          ),
          msg(
            3,
            msg(
              2,
              msg(
                2,
                str(1, 'c'),
                msg(
                  8,
                  msg(1, str(1, 'cpu'), msg(2, str(1, '500m'))),
                  msg(2, str(1, 'memory'), msg(2)),
                ),
              ),
            ),
          ),
        ),
      ),
    )
    const spec = obj.spec as {
      strategy: unknown
      template: { spec: { containers: { resources: unknown }[] } }
    }
    expect(spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: '25%', maxSurge: 0 },
    })
    expect(spec.template.spec.containers[0].resources).toEqual({
      limits: { cpu: '500m' },
      requests: { memory: '0' },
    })
  })

  it('reads RawExtension and FieldsV1 as the JSON they carry', () => {
    const raw = new TextEncoder().encode('{"spec":{"template":{"$patch":"replace"}}}')
    const fields = new TextEncoder().encode('{"f:data":{".":{}}}')
    const obj = decodeProtobufObject(
      envelope(
        'apps/v1',
        'ControllerRevision',
        msg(
          1,
          str(1, 'r'),
          msg(
            17,
            str(1, 'kubectl'),
            str(2, 'Update'),
            str(3, 'apps/v1'),
            timestamp(4, '2024-01-01T00:00:00Z'),
            str(6, 'FieldsV1'),
            msg(7, bytes(1, fields)),
          ),
        ),
        msg(2, bytes(1, raw)),
        varint(3, 0),
      ),
    )
    expect(obj).toEqual({
      kind: 'ControllerRevision',
      apiVersion: 'apps/v1',
      metadata: {
        name: 'r',
        creationTimestamp: null,
        managedFields: [
          {
            manager: 'kubectl',
            operation: 'Update',
            apiVersion: 'apps/v1',
            time: '2024-01-01T00:00:00Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { '.': {} } },
          },
        ],
      },
      data: { spec: { template: { $patch: 'replace' } } },
      revision: 0,
    })
  })

  it('reads map<string, ExtraValue> as lists, sorted by key', () => {
    const obj = decodeProtobufObject(
      envelope(
        'authorization.k8s.io/v1',
        'SubjectAccessReview',
        msg(1),
        msg(
          2,
          str(3, 'alice'),
          str(4, 'devs'),
          msg(5, str(1, 'zone'), msg(2, str(1, 'a'), str(1, 'b'))),
          msg(5, str(1, 'empty'), msg(2)),
          msg(5, str(1, 'app'), msg(2, str(1, 'x'))),
        ),
      ),
    )
    expect(obj.spec).toEqual({
      user: 'alice',
      groups: ['devs'],
      extra: { app: ['x'], empty: null, zone: ['a', 'b'] },
    })
    expect(Object.keys((obj.spec as { extra: object }).extra)).toEqual(['app', 'empty', 'zone'])
  })

  it('reads packed and unpacked repeated integers', () => {
    const job = (values: Uint8Array) =>
      decodeProtobufObject(
        envelope(
          'batch/v1',
          'Job',
          meta,
          msg(2, msg(11, msg(1, str(1, 'FailJob'), msg(2, str(2, 'In'), values)))),
        ),
      )
    const rule = (o: Record<string, unknown>) =>
      (o.spec as { podFailurePolicy: { rules: { onExitCodes: unknown }[] } }).podFailurePolicy
        .rules[0].onExitCodes
    expect(rule(job(bytes(3, new Uint8Array([1, 2, 0x7f]))))).toEqual({
      operator: 'In',
      values: [1, 2, 127],
    })
    expect(rule(job(concat(varint(3, 1), varint(3, 2), varint(3, 127))))).toEqual({
      operator: 'In',
      values: [1, 2, 127],
    })
  })

  it('skips fields it does not know and merges a message field sent twice', () => {
    const obj = decodeProtobufObject(
      envelope(
        'v1',
        'ConfigMap',
        msg(1, str(1, 'x')),
        msg(1, str(3, 'ns')),
        str(99, 'future'),
        varint(98, 7),
        entry(2, 'k', 'v'),
      ),
    )
    expect(obj).toEqual({
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'x', namespace: 'ns', creationTimestamp: null },
      data: { k: 'v' },
    })
  })

  it('decodes inline (embedded) structs into their parent', () => {
    // Volume { name = 1, volumeSource = 2 (inline) { configMap = 19 { localObjectReference = 1 (inline) { name = 1 } } } }
    const obj = decodeProtobufObject(
      envelope(
        'v1',
        'Pod',
        meta,
        msg(
          2,
          msg(1, str(1, 'data'), msg(2, msg(19, msg(1, str(1, 'settings')), varint(3, 0o644)))),
        ),
      ),
    )
    expect((obj.spec as { volumes: unknown }).volumes).toEqual([
      { name: 'data', configMap: { name: 'settings', defaultMode: 420 } },
    ])
  })

  it('decodes subresource bodies: Scale, Eviction with DeleteOptions, and DeleteOptions under any group version', () => {
    expect(
      decodeProtobufObject(
        envelope(
          'autoscaling/v1',
          'Scale',
          msg(1, str(1, 'web'), str(3, 'ns')),
          msg(2, varint(1, 5)),
          msg(3, varint(1, 0), str(2, '')),
        ),
      ),
    ).toEqual({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: 'web', namespace: 'ns', creationTimestamp: null },
      spec: { replicas: 5 },
      status: { replicas: 0 },
    })
    expect(
      decodeProtobufObject(
        envelope(
          'policy/v1',
          'Eviction',
          msg(1, str(1, 'p')),
          msg(2, varint(1, 0), msg(2, str(1, 'uid-1')), str(4, 'Foreground'), str(5, 'All')),
        ),
      ),
    ).toEqual({
      kind: 'Eviction',
      apiVersion: 'policy/v1',
      metadata: { name: 'p', creationTimestamp: null },
      deleteOptions: {
        gracePeriodSeconds: 0,
        preconditions: { uid: 'uid-1' },
        propagationPolicy: 'Foreground',
        dryRun: ['All'],
      },
    })
    expect(
      decodeProtobufObject(
        envelope('apps/v1', 'DeleteOptions', varint(3, false), msg(2, str(2, ''))),
      ),
    ).toEqual({
      kind: 'DeleteOptions',
      apiVersion: 'apps/v1',
      orphanDependents: false,
      preconditions: { resourceVersion: '' },
    })
  })
})

describe('protobuf errors, worded as kube-apiserver words them', () => {
  it('answers a body without the k8s\\0 prefix with the serializer error, wrapped as transformDecodeError does', () => {
    const json = new TextEncoder().encode(
      '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x"}}',
    )
    expect(
      failure(() => decodeProtobufObject(json, { apiVersion: 'v1', kind: 'Namespace' })),
    ).toEqual({
      code: 400,
      reason: 'BadRequest',
      message:
        'the object provided is unrecognized (must be of type Namespace): provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] ({"kind":"Namespace","apiVersio ...)',
    })
    expect(
      failure(() =>
        decodeProtobufObject(new Uint8Array([1, 2, 3]), { apiVersion: 'v1', kind: 'ConfigMap' }),
      ).message,
    ).toBe(
      'the object provided is unrecognized (must be of type ConfigMap): provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (010203)',
    )
    expect(failure(() => decodeProtobufObject(new Uint8Array([0x6b, 0x38, 0x73, 0]))).message).toBe(
      'empty body',
    )
    expect(failure(() => decodeProtobufObject(new Uint8Array([]))).message).toBe('empty data')
  })

  it('answers a truncated object with "<Kind> in version ... cannot be handled as a <Kind>: unexpected EOF"', () => {
    const body = fixture('deployment.pb')
    const cut = body.subarray(0, body.length - 30)
    // The envelope's raw field now runs past the end: the Unknown itself fails, so the kind is not known.
    expect(
      failure(() => decodeProtobufObject(cut, { apiVersion: 'apps/v1', kind: 'Deployment' }))
        .message,
    ).toMatch(
      /^the object provided is unrecognized \(must be of type Deployment\): unexpected EOF \(6b3873000a150a07617070732f7631120a4465706c6f796d656e7412c801 \.\.\.\)$/,
    )
    const inner = envelope('apps/v1', 'Deployment', new Uint8Array([0x0a, 0x05, 0x0a]))
    expect(
      failure(() => decodeProtobufObject(inner, { apiVersion: 'apps/v1', kind: 'Deployment' })),
    ).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: 'Deployment in version "v1" cannot be handled as a Deployment: unexpected EOF',
    })
  })

  it('names the field of a wrong wire type and an illegal tag as gogo does', () => {
    expect(
      failure(() => decodeProtobufObject(envelope('v1', 'ConfigMap', msg(1, varint(1, 3)))))
        .message,
    ).toBe(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: proto: wrong wireType = 0 for field Name',
    )
    expect(
      failure(() => decodeProtobufObject(envelope('v1', 'ConfigMap', new Uint8Array([0x00, 0x01]))))
        .message,
    ).toBe(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: proto: ConfigMap: illegal tag 0 (wire type 0)',
    )
  })

  it("answers a missing kind with kube's MissingKind error, or takes the kind from the endpoint", () => {
    expect(
      failure(() => decodeProtobufObject(envelope('v1', '', msg(1, str(1, 'x'))))).message,
    ).toBe('Object \'Kind\' is missing in \'runtime.TypeMeta{APIVersion:"v1", Kind:""}\'')
    expect(
      decodeProtobufObject(envelope('', '', msg(1, str(1, 'x'))), {
        apiVersion: 'v1',
        kind: 'Namespace',
      }),
    ).toEqual({
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: { name: 'x', creationTimestamp: null },
      spec: {},
      status: {},
    })
  })

  it('answers 415 for a kind it has no message table for', () => {
    expect(
      failure(() =>
        decodeProtobufObject(envelope('example.com/v1', 'Widget', msg(1, str(1, 'x')))),
      ),
    ).toEqual({
      code: 415,
      reason: 'UnsupportedMediaType',
      message:
        'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml',
    })
  })
})

describe('negotiation with protobuf clients', () => {
  it('reads a protobuf request body through readBodyText and decodeObject without losing bytes', async () => {
    const req = new Request('http://x/api/v1/namespaces/pb/configmaps', {
      method: 'POST',
      body: fixture('configmap.pb'),
      headers: { 'content-type': PROTOBUF },
    })
    const text = await readBodyText(req)
    const obj = decodeObject(text, PROTOBUF)
    expect(obj).toStrictEqual(JSON.parse(readFileSync(join(FIXTURES, 'configmap.json'), 'utf8')))
  })

  it('answers protobuf to the Accept headers client-go sends for built-in kinds, JSON for custom resources', () => {
    const builtin = { table: false, metadata: false, protobuf: true }
    const custom = { table: false, metadata: false, protobuf: false }
    const accept = 'application/vnd.kubernetes.protobuf,application/json'
    expect(negotiate(accept, builtin).mediaType).toBe(PROTOBUF)
    expect(negotiate(accept, custom).mediaType).toBe('application/json')
    expect(negotiate('application/vnd.kubernetes.protobuf, */*', custom).mediaType).toBe(
      'application/json',
    )
  })
})

describe('the message table', () => {
  it('resolves every message it refers to', () => {
    expect(messages().size).toBeGreaterThan(380)
    expect(
      messages()
        .get('corev1.Container')!
        .fields.find((f) => f.no === 24),
    ).toEqual({
      no: 24,
      json: 'restartPolicy',
      always: false,
      type: { kind: 'scalar', scalar: 's', pointer: true },
    })
  })

  it("formats durations as Go's time.Duration.String does", () => {
    const cases: [bigint, string][] = [
      [0n, '0s'],
      [1n, '1ns'],
      [1500n, '1.5µs'],
      [2_000_000n, '2ms'],
      [1_500_000_000n, '1.5s'],
      [90_000_000_000n, '1m30s'],
      [3_600_000_000_000n, '1h0m0s'],
      [-5_000_000_000n, '-5s'],
    ]
    for (const [d, s] of cases) expect(formatDuration(d)).toBe(s)
  })
})

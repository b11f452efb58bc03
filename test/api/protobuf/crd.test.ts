// CustomResourceDefinition in protobuf: JSONSchemaProps' recursive schema and its JSON-valued fields (JSON and the
// JSONSchemaPropsOr{Array,Bool,StringArray} unions, whose JSON forms are apiextensions v1 marshal.go's) written
// by our encoder, read back by protobufjs against kube's generated.proto (independent of our field table) and by
// our decoder; meta/v1beta1's PartialObjectMetadataList, whose items come before its metadata.
import { describe, expect, it } from 'vitest'
import {
  decodeProtobufObject,
  decodeStoredProtobuf,
  encodeProtobufObject,
  encodeStoredProtobuf,
} from '../../../src/api/protobuf/envelope'
import { protobufListChunks } from '../../../src/api/protobuf/response'
import { concatBytes } from '../../../src/util/bytes'
import { decodeEnvelope, decodeObject, kubeProtos, withoutEmpty } from '../../helpers/kube-proto'

const schema = {
  type: 'object',
  description: 'a widget',
  required: ['spec'],
  properties: {
    spec: {
      type: 'object',
      'x-kubernetes-validations': [
        { rule: 'self.replicas <= 10', message: 'too many', fieldPath: '.replicas' },
        { rule: 'self == oldSelf', optionalOldSelf: true, reason: 'FieldValueForbidden' },
      ],
      properties: {
        replicas: { type: 'integer', format: 'int32', minimum: 0, maximum: 10.5, default: 1 },
        mode: {
          type: 'string',
          enum: ['fast', 'slow', null],
          example: 'fast',
          pattern: '^[a-z]+$',
        },
        ports: {
          type: 'array',
          items: { type: 'integer', multipleOf: 2 },
          maxItems: 4,
          'x-kubernetes-list-type': 'set',
        },
        tuple: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }] },
        labels: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 3 },
        closed: { type: 'object', additionalProperties: false },
        open: { type: 'object', additionalProperties: true },
        raw: { 'x-kubernetes-preserve-unknown-fields': true, nullable: true },
        port: {
          'x-kubernetes-int-or-string': true,
          anyOf: [{ type: 'integer' }, { type: 'string' }],
        },
        pod: {
          type: 'object',
          'x-kubernetes-embedded-resource': true,
          'x-kubernetes-preserve-unknown-fields': false,
          default: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'p' },
            spec: { a: [1, 2.5] },
          },
        },
        keyed: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        },
      },
      dependencies: {
        a: ['b', 'c'],
        b: { required: ['a'] },
      },
      not: { required: ['forbidden'] },
      'x-kubernetes-map-type': 'granular',
    },
  },
}

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: {
    name: 'widgets.example.com',
    uid: 'a5a9c7a6-2f64-4b5e-9b1e-0c1e2d3f4a5b',
    resourceVersion: '42',
    generation: 2,
    creationTimestamp: '2026-01-02T03:04:05Z',
  },
  spec: {
    group: 'example.com',
    names: {
      plural: 'widgets',
      singular: 'widget',
      shortNames: ['wd'],
      kind: 'Widget',
      listKind: 'WidgetList',
      categories: ['all'],
    },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: schema },
        subresources: {
          status: {},
          scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
        },
        additionalPrinterColumns: [
          { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', priority: 1 },
        ],
        selectableFields: [{ jsonPath: '.spec.mode' }],
      },
      {
        name: 'v1beta1',
        served: false,
        storage: false,
        deprecated: true,
        deprecationWarning: '',
        schema: {
          openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    ],
    conversion: {
      strategy: 'Webhook',
      webhook: {
        clientConfig: {
          service: { namespace: 'ns', name: 'conv', path: '/convert', port: 8443 },
          caBundle: 'Y2E=',
        },
        conversionReviewVersions: ['v1'],
      },
    },
  },
  status: {
    conditions: [
      {
        type: 'Established',
        status: 'True',
        lastTransitionTime: '2026-01-02T03:04:06Z',
        reason: 'InitialNamesAccepted',
        message: 'the initial names have been accepted',
      },
    ],
    acceptedNames: {
      plural: 'widgets',
      singular: 'widget',
      kind: 'Widget',
      listKind: 'WidgetList',
    },
    storedVersions: ['v1'],
  },
}

/** The CRD's JSON as Go's encoding/json writes the struct it decodes into (fields in struct order). */
function asGoWrites(o: typeof crd): unknown {
  const copy = JSON.parse(JSON.stringify(o))
  // Fields without omitempty come out zero-valued; the rest as given.
  copy.status.conditions ??= null
  return copy
}

describe('CustomResourceDefinition in protobuf', () => {
  const bytes = encodeProtobufObject(crd)!

  it("decodes with kube's generated.proto to the CRD's JSON", () => {
    expect(decodeEnvelope(bytes)).toMatchObject({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
    })
    const decoded = decodeObject(bytes) as typeof crd
    // gogo writes every non-pointer field: the two agree once zero values are dropped from both.
    expect(withoutEmpty(decoded)).toEqual(withoutEmpty(crd))
    const root = decoded.spec.versions[0].schema!.openAPIV3Schema as typeof schema
    const props = root.properties.spec.properties
    // The unions as marshal.go writes them: an object schema, an array of schemas, a bool.
    expect(withoutEmpty(props.ports.items)).toEqual({ type: 'integer', multipleOf: 2 })
    expect(withoutEmpty(props.tuple.items)).toEqual([{ type: 'string' }, { type: 'integer' }])
    expect(withoutEmpty(props.labels.additionalProperties)).toEqual({ type: 'string' })
    expect(props.closed.additionalProperties).toBe(false)
    expect(props.open.additionalProperties).toBe(true)
    expect(withoutEmpty(root.properties.spec.dependencies)).toEqual({
      a: ['b', 'c'],
      b: { required: ['a'] },
    })
    // JSON values keep their JSON: numbers, objects, null in an enum.
    expect(props.replicas.default).toBe(1)
    expect(props.pod.default).toEqual(schema.properties.spec.properties.pod.default)
    expect(props.mode.enum).toEqual(['fast', 'slow', null])
    // A pointer set to its zero value stays set (x-kubernetes-preserve-unknown-fields: false, "").
    expect(props.pod['x-kubernetes-preserve-unknown-fields']).toBe(false)
    expect(decoded.spec.versions[1].deprecationWarning).toBe('')
  })

  it('reads back to the same JSON with our decoder', () => {
    const back = decodeProtobufObject(bytes)
    expect(back).toEqual(asGoWrites(crd))
    // Field order is Go's struct order, as encoding/json writes it.
    expect(Object.keys((back.spec as typeof crd.spec).versions[0])).toEqual([
      'name',
      'served',
      'storage',
      'schema',
      'subresources',
      'additionalPrinterColumns',
      'selectableFields',
    ])
    expect(encodeProtobufObject(back)).toEqual(bytes)
  })

  it('writes an empty list of schemas, a null default and a missing union as Go does', () => {
    const odd = JSON.parse(JSON.stringify(crd))
    odd.spec.versions[0].schema.openAPIV3Schema = {
      type: 'object',
      default: null, // a nil *JSON: left out
      properties: { x: { type: 'array', items: [] } }, // JSONSchemas [] and no schema: null
    }
    const back = decodeProtobufObject(encodeProtobufObject(odd)!) as typeof crd
    expect(back.spec.versions[0].schema!.openAPIV3Schema).toEqual({
      type: 'object',
      properties: { x: { type: 'array', items: null } },
    })
  })

  it('lists CRDs in protobuf', () => {
    const list = concatBytes(
      ...protobufListChunks(
        'apiextensions.k8s.io/v1',
        'CustomResourceDefinitionList',
        { resourceVersion: '7' },
        [crd],
      ),
    )
    const decoded = decodeObject(list) as { items: { metadata: { name: string } }[] }
    expect(decoded).toMatchObject({
      kind: 'CustomResourceDefinitionList',
      metadata: { resourceVersion: '7' },
    })
    expect(decoded.items.map((i) => i.metadata.name)).toEqual(['widgets.example.com'])
  })

  it('stays JSON in etcd, as kube-apiserver stores CRDs', () => {
    expect(encodeStoredProtobuf(crd)).toBeUndefined()
    // A value in the envelope still reads.
    expect(decodeStoredProtobuf(bytes)).toEqual(asGoWrites(crd))
  })
})

describe('meta.k8s.io/v1beta1 PartialObjectMetadataList', () => {
  it('writes items (field 1) before the list metadata (field 2), and reads with kube’s .proto', () => {
    const items = [
      { metadata: { name: 'a', namespace: 'n', resourceVersion: '3' } },
      { metadata: { name: 'b', namespace: 'n', resourceVersion: '4' } },
    ]
    const body = concatBytes(
      ...protobufListChunks(
        'meta.k8s.io/v1beta1',
        'PartialObjectMetadataList',
        { resourceVersion: '5', continue: 'c' },
        items,
      ),
    )
    const env = decodeEnvelope(body)
    expect(env.raw[0]).toBe((1 << 3) | 2) // items first
    const type = kubeProtos().lookupType(
      'k8s.io.apimachinery.pkg.apis.meta.v1beta1.PartialObjectMetadataList',
    )
    expect(type.fieldsById[1].name).toBe('items')
    expect(decodeObject(body)).toMatchObject({
      apiVersion: 'meta.k8s.io/v1beta1',
      kind: 'PartialObjectMetadataList',
      metadata: { resourceVersion: '5', continue: 'c' },
      items: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }],
    })
    const one = encodeProtobufObject({
      apiVersion: 'meta.k8s.io/v1beta1',
      kind: 'PartialObjectMetadata',
      ...items[0],
    })!
    expect(decodeObject(one)).toMatchObject({
      apiVersion: 'meta.k8s.io/v1beta1',
      kind: 'PartialObjectMetadata',
      metadata: { name: 'a' },
    })
  })
})

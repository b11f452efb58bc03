// /openapi/v2 as protobuf, checked without our encoder: protobufjs decodes the bytes against gnostic's
// OpenAPIv2.proto (test/fixtures/openapiv2), the decoded message is read back into a swagger document the
// way gnostic's ToJSON / kube-openapi's proto reader read it, and that must be the JSON document.
import protobuf from 'protobufjs'
import { parse as parseYAML } from 'yaml'
import { describe, expect, it } from 'vitest'
import { openapiV2Document } from '../../../src/api/openapi/document'
import { openapiV2Protobuf } from '../../../src/api/openapi/protobuf'
import { customResourceTypes } from '../../../src/apiextensions/custom-resource'
import { builtinResources } from '../../../src/registry/builtin'
import { Registry } from '../../../src/registry/registry'

type Any = Record<string, any>
const root = new protobuf.Root().loadSync(
  new URL('../../fixtures/openapiv2/OpenAPIv2.proto', import.meta.url).pathname,
  { keepCase: true },
)
const Document = root.lookupType('openapi.v2.Document')

// Messages gnostic uses for a JSON object of named values, and the field that holds them.
const NAMED: Record<string, string> = {
  Properties: 'additional_properties',
  Definitions: 'additional_properties',
  ParameterDefinitions: 'additional_properties',
  ResponseDefinitions: 'additional_properties',
  SecurityDefinitions: 'additional_properties',
  SecurityRequirement: 'additional_properties',
  Oauth2Scopes: 'additional_properties',
  Examples: 'additional_properties',
  Headers: 'additional_properties',
  Paths: 'path',
  Responses: 'response_code',
}
const ONEOF = [
  'AdditionalPropertiesItem',
  'Parameter',
  'NonBodyParameter',
  'ParametersItem',
  'ResponseValue',
  'SchemaItem',
  'SecurityDefinitionsItem',
]
const camel = (s: string) =>
  s === '_ref' ? '$ref' : s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

/** A decoded gnostic message as the swagger JSON it stands for. */
function toSwagger(type: protobuf.Type, msg: Any): unknown {
  const name = type.name
  if (name === 'Any') return parseYAML(msg.yaml)
  if (name === 'TypeItem') return msg.value.length === 1 ? msg.value[0] : msg.value
  if (name === 'ItemsItem')
    return msg.schema.length === 1
      ? value(type, 'schema', msg.schema[0])
      : msg.schema.map((s: Any) => value(type, 'schema', s))
  if (name === 'StringArray') return msg.value
  if (ONEOF.includes(name)) {
    const [field] = Object.keys(msg)
    return value(type, field, msg[field])
  }
  const out: Any = {}
  for (const [field, v] of Object.entries(msg)) {
    if (field === 'vendor_extension') {
      for (const ext of v as Any[]) out[ext.name] = parseYAML(ext.value.yaml)
    } else if (NAMED[name] === field) {
      const named = type.fields[field].resolvedType as protobuf.Type
      for (const n of v as Any[])
        out[n.name] = n.value === undefined ? undefined : value(named, 'value', n.value)
    } else {
      out[camel(field)] = Array.isArray(v)
        ? v.map((x) => value(type, field, x))
        : value(type, field, v)
    }
  }
  return out
}
function value(type: protobuf.Type, field: string, v: unknown): unknown {
  const t = type.fields[field].resolvedType
  return t instanceof protobuf.Type ? toSwagger(t, v as Any) : v
}

/** The JSON document less what proto3 does not carry: false, "", 0 and empty lists outside free-form values. */
function withoutDefaults(v: unknown, key = ''): unknown {
  if (key === 'default' || key === 'example' || key === 'enum' || key.startsWith('x-')) return v
  if (Array.isArray(v)) return v.length ? v.map((x) => withoutDefaults(x)) : undefined
  if (typeof v === 'object' && v !== null) {
    const out: Any = {}
    for (const [k, x] of Object.entries(v)) {
      if (k === 'additionalProperties' && x === false) out[k] = false
      else {
        const y = withoutDefaults(x, k)
        if (y !== undefined) out[k] = y
      }
    }
    return out
  }
  return v === false || v === '' || v === 0 ? undefined : v
}

describe('/openapi/v2 as gnostic protobuf', () => {
  const registry = new Registry(builtinResources)
  const doc = openapiV2Document(registry)
  const bytes = openapiV2Protobuf(doc)
  const decoded = Document.toObject(Document.decode(bytes), {
    longs: Number,
    defaults: false,
  }) as Any

  it('decodes with protobufjs against OpenAPIv2.proto to the JSON document', () => {
    expect(toSwagger(Document, decoded)).toEqual(withoutDefaults(doc))
  })

  it('carries operations, parameters and vendor extensions where client-go reads them', () => {
    const cm = decoded.paths.path.find(
      (p: Any) => p.name === '/api/v1/namespaces/{namespace}/configmaps/{name}',
    ).value
    expect(cm.get.operation_id).toBe('readCoreV1NamespacedConfigMap')
    const gvk = cm.get.vendor_extension.find(
      (e: Any) => e.name === 'x-kubernetes-group-version-kind',
    )
    expect(parseYAML(gvk.value.yaml)).toEqual({ group: '', version: 'v1', kind: 'ConfigMap' })
    const body = cm.put.parameters.find((p: Any) => p.parameter?.body_parameter).parameter
      .body_parameter
    expect(body.schema._ref).toBe('#/definitions/io.k8s.api.core.v1.ConfigMap')
    const name = cm.parameters.find(
      (p: Any) => p.parameter?.non_body_parameter?.path_parameter_sub_schema?.name === 'name',
    )
    expect(name.parameter.non_body_parameter.path_parameter_sub_schema.required).toBe(true)
    const def = decoded.definitions.additional_properties.find(
      (d: Any) => d.name === 'io.k8s.api.core.v1.ConfigMap',
    ).value
    const data = def.properties.additional_properties.find((p: Any) => p.name === 'data').value
    expect(data.type.value).toEqual(['object'])
    expect(data.additional_properties.schema.type.value).toEqual(['string'])
  })
})

// A CRD whose schema uses what swagger 2.0 has no words for: kube publishes it in /openapi/v2 as
// apiextensions-apiserver's ToStructuralOpenAPIV2 leaves it, and gnostic can then parse every key.
describe('/openapi/v2 of a custom resource', () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.v2.example.com' },
    spec: {
      group: 'v2.example.com',
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size', 'note'],
                  properties: {
                    size: {
                      anyOf: [{ type: 'integer' }, { type: 'string' }],
                      'x-kubernetes-int-or-string': true,
                    },
                    note: { type: 'string', nullable: true },
                    tags: { type: 'array', items: { type: 'string' }, nullable: true },
                    free: {
                      type: 'object',
                      'x-kubernetes-preserve-unknown-fields': true,
                      properties: { a: { type: 'string' } },
                    },
                    mode: {
                      type: 'string',
                      enum: ['a', 'b'],
                      default: 'a',
                      oneOf: [{ pattern: '^a' }, { pattern: '^b' }],
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
    status: {
      conditions: [{ type: 'Established', status: 'True' }],
      acceptedNames: {
        plural: 'gadgets',
        singular: 'gadget',
        kind: 'Gadget',
        listKind: 'GadgetList',
      },
    },
  }
  const registry = new Registry([...builtinResources, ...customResourceTypes(crd as any)])
  const doc = openapiV2Document(registry) as Any
  const def = Object.entries(doc.definitions as Any).find(
    ([name]) => name === 'com.example.v2.v1.Gadget',
  )![1] as Any
  const spec = def.properties.spec

  it('drops junctors and nullable, and what an untyped or open field cannot carry', () => {
    expect(JSON.stringify(def)).not.toMatch(/"(anyOf|oneOf|allOf|not|nullable)"/)
    expect(spec.properties.size).toEqual({ 'x-kubernetes-int-or-string': true })
    expect(spec.properties.note).toEqual({})
    expect(spec.properties.tags).toEqual({})
    expect(spec.properties.free).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    })
    expect(spec.properties.mode).toEqual({ type: 'string', enum: ['a', 'b'], default: 'a' })
    expect(spec.required).toEqual(['size'])
    expect(Object.keys(def.properties)).toEqual(
      expect.arrayContaining(['apiVersion', 'kind', 'metadata', 'spec']),
    )
    expect(
      doc.definitions[
        Object.keys(doc.definitions).find((n) => n === 'com.example.v2.v1.GadgetList')!
      ].description,
    ).toBe('GadgetList is a list of Gadget')
  })

  it('decodes with protobufjs to the JSON document', () => {
    const decoded = Document.toObject(Document.decode(openapiV2Protobuf(doc)), {
      longs: Number,
      defaults: false,
    }) as Any
    expect(toSwagger(Document, decoded)).toEqual(withoutDefaults(doc))
  })
})

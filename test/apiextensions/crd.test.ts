import { describe, expect, it } from 'vitest'
import { acceptNames } from '../../src/apiextensions/crd'
import { validateCRD, validateCRDUpdate } from '../../src/apiextensions/crd-validation'
import { customResourceTypes } from '../../src/apiextensions/custom-resource'
import { compareKubeVersions } from '../../src/apiextensions/serving'
import type { CRD } from '../../src/apiextensions/types'
import { fieldErrorString } from '../../src/server/errors'

function crd(over: Partial<CRD['spec']> = {}, name = 'widgets.example.com'): CRD {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: {
        plural: 'widgets',
        singular: 'widget',
        kind: 'Widget',
        listKind: 'WidgetList',
        shortNames: ['wd'],
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
            },
          },
        },
        {
          name: 'v1beta1',
          served: true,
          storage: false,
          schema: {
            openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          },
        },
      ],
      ...over,
    },
    status: { storedVersions: ['v1'] },
  }
}

const errors = (c: CRD) => validateCRD(c).map(fieldErrorString)

describe('CustomResourceDefinition validation', () => {
  it('accepts a valid CRD', () => {
    expect(errors(crd())).toEqual([])
  })

  it('requires exactly one storage version and unique version names', () => {
    const c = crd()
    c.spec.versions[1].storage = true
    expect(
      errors(c).some(
        (e) =>
          e.startsWith('spec.versions: Invalid value: ') &&
          e.endsWith('must have exactly one version marked as storage version'),
      ),
    ).toBe(true)
    c.spec.versions[1] = { ...c.spec.versions[0] }
    expect(errors(c).some((e) => e.endsWith('must contain unique version names'))).toBe(true)
  })

  it('checks the group, scope and names', () => {
    const c = crd(
      {
        group: 'example',
        scope: 'Galaxy' as 'Cluster',
        names: { plural: 'Widgets', kind: 'Widget', listKind: 'Widget' },
      },
      'Widgets.example',
    )
    expect(errors(c)).toEqual(
      expect.arrayContaining([
        'spec.group: Invalid value: "example": should be a domain with at least one dot',
        'spec.scope: Unsupported value: "Galaxy": supported values: "Cluster", "Namespaced"',
        'spec.names.singular: Required value',
        'spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same',
      ]),
    )
    expect(
      errors(c).some((e) =>
        e.startsWith(
          'spec.names.plural: Invalid value: "Widgets": a DNS-1035 label must consist of lower case',
        ),
      ),
    ).toBe(true)
    expect(errors(crd({}, 'gadgets.example.com'))).toEqual([
      'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group',
    ])
  })

  it('enforces structural schemas', () => {
    const c = crd()
    c.spec.versions[0].schema = {
      openAPIV3Schema: {
        type: 'object',
        properties: {
          spec: {
            properties: {
              list: { type: 'array' },
              both: {
                type: 'object',
                properties: { a: { type: 'string' } },
                additionalProperties: { type: 'string' },
              },
            },
          },
          keep: { type: 'object', 'x-kubernetes-preserve-unknown-fields': false },
          uniq: { type: 'array', items: { type: 'string' }, uniqueItems: true },
          bad: { type: 'integer', default: 'x' },
        },
      },
    }
    expect(errors(c)).toEqual(
      expect.arrayContaining([
        'spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields',
        'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items: Required value: must be specified',
        'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive',
        'spec.versions[0].schema.openAPIV3Schema.properties[keep].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined',
        'spec.versions[0].schema.openAPIV3Schema.properties[uniq].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic',
        'spec.versions[0].schema.openAPIV3Schema.properties[bad].default: Invalid value: "string":  in body must be of type integer: "string"',
      ]),
    )
  })

  it('reports a CEL rule that does not compile', () => {
    const c = crd()
    c.spec.versions[0].schema!.openAPIV3Schema!['x-kubernetes-validations'] = [
      { rule: 'self.spec.size >' },
    ]
    expect(
      errors(c).some((e) =>
        e.startsWith(
          'spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule: Invalid value: "self.spec.size >": compilation failed:',
        ),
      ),
    ).toBe(true)
  })

  it('keeps scope, kind, group and plural once established', () => {
    const old = crd()
    acceptNames(old)
    const next = crd({
      scope: 'Cluster',
      names: { ...old.spec.names, kind: 'Gadget', listKind: 'GadgetList' },
    })
    expect(validateCRDUpdate(next, old).map(fieldErrorString)).toEqual([
      'spec.scope: Invalid value: "Cluster": field is immutable',
      'spec.names.kind: Invalid value: "Gadget": field is immutable',
    ])
  })
})

describe('names and conditions', () => {
  it('accepts free names and establishes the CRD', () => {
    const c = crd()
    acceptNames(c)
    expect(c.status!.acceptedNames).toMatchObject({
      plural: 'widgets',
      kind: 'Widget',
      shortNames: ['wd'],
    })
    expect(c.status!.conditions!.map((x) => [x.type, x.status, x.reason, x.message])).toEqual([
      ['NamesAccepted', 'True', 'NoConflicts', 'no conflicts found'],
      ['Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted'],
    ])
    expect(customResourceTypes(c).map((t) => `${t.group}/${t.version}/${t.resource}`)).toEqual([
      'example.com/v1/widgets',
      'example.com/v1beta1/widgets',
    ])
  })

  it('does not accept a name another CRD of the group holds', () => {
    const first = crd()
    acceptNames(first)
    const second = crd(
      {
        names: {
          plural: 'gadgets',
          singular: 'gadget',
          kind: 'Gadget',
          listKind: 'GadgetList',
          shortNames: ['wd'],
        },
      },
      'gadgets.example.com',
    )
    acceptNames(second, [first])
    expect(second.status!.conditions!.map((x) => [x.type, x.status, x.reason, x.message])).toEqual([
      ['NamesAccepted', 'False', 'ShortNamesConflict', '"wd" is already in use'],
      ['Established', 'False', 'NotAccepted', 'not all names are accepted'],
    ])
    expect(customResourceTypes(second)).toEqual([])
  })
})

describe('version priority', () => {
  it('orders versions as kube does: GA, then beta, then alpha, newest first', () => {
    expect(['v1alpha1', 'v2beta1', 'v1', 'v1beta2', 'v2', 'foo'].sort(compareKubeVersions)).toEqual(
      ['v2', 'v1', 'v2beta1', 'v1beta2', 'v1alpha1', 'foo'],
    )
  })
})

// Bounded validator time for custom resources: CRD patterns are RE2 (refused at CRD admission when RE2 cannot
// compile them), CEL rules are costed at CRD admission and metered at runtime, with kube-apiserver's messages.
import { describe, expect, it } from 'vitest'
import { validateCRD } from '../../src/apiextensions/crd-validation'
import { validateRules } from '../../src/apiextensions/schema/cel'
import {
  costErrorMessage,
  PER_CALL_LIMIT,
  STATIC_ESTIMATED_COST_LIMIT,
} from '../../src/apiextensions/schema/cel-cost'
import type { JSONSchemaProps } from '../../src/apiextensions/schema/types'
import { validateValue } from '../../src/apiextensions/schema/validate'
import type { CRD } from '../../src/apiextensions/types'
import { fieldErrorString, type FieldError } from '../../src/server/errors'

const HINT =
  '(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)'

function crd(spec: JSONSchemaProps, versions = 1): CRD {
  const schema = { openAPIV3Schema: { type: 'object', properties: { spec } } }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: Array.from({ length: versions }, (_, i) => ({
        name: `v${i + 1}`,
        served: true,
        storage: i === 0,
        schema: structuredClone(schema),
      })),
    },
    status: { storedVersions: ['v1'] },
  } as CRD
}
const errors = (c: CRD) => validateCRD(c).map(fieldErrorString)

describe('patterns at CRD admission', () => {
  it("refuses what Go's regexp cannot compile, under spec.validation when all versions share the schema", () => {
    const spec: JSONSchemaProps = {
      type: 'object',
      properties: {
        a: { type: 'string', pattern: '(a)\\1' },
        b: { type: 'string', pattern: '^x(?=y)' },
      },
    }
    expect(errors(crd(spec, 2))).toEqual([
      'spec.validation.openAPIV3Schema.properties[spec].properties[a].pattern: Invalid value: "(a)\\\\1": must be a valid regular expression, but isn\'t: error parsing regexp: invalid escape sequence: `\\1`',
      'spec.validation.openAPIV3Schema.properties[spec].properties[b].pattern: Invalid value: "^x(?=y)": must be a valid regular expression, but isn\'t: error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    ])
  })

  it("keeps per-version paths when the versions' schemas differ", () => {
    const c = crd({ type: 'object', properties: { a: { type: 'string', pattern: '[' } } }, 2)
    c.spec.versions[1].schema = { openAPIV3Schema: { type: 'object' } }
    expect(errors(c)).toEqual([
      'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[a].pattern: Invalid value: "[": must be a valid regular expression, but isn\'t: error parsing regexp: missing closing ]: `[`',
    ])
  })

  it('accepts a catastrophic-for-backtracking pattern, which RE2 matches in linear time', () => {
    const spec: JSONSchemaProps = {
      type: 'object',
      properties: { name: { type: 'string', pattern: '^(a+)+$' } },
    }
    expect(errors(crd(spec))).toEqual([])
    const errs: FieldError[] = []
    validateValue(spec, { name: 'a'.repeat(5000) + '!' }, 'spec', errs)
    expect(errs.map(fieldErrorString)).toEqual([
      `spec.name: Invalid value: "${'a'.repeat(5000)}!": spec.name in body should match '^(a+)+$'`,
    ])
  })
})

describe('CEL cost at CRD admission', () => {
  const rules = (rule: string) => [{ rule }]

  it('words the budget factor as kube-apiserver does', () => {
    expect(costErrorMessage('estimated rule cost', 32_000_000, STATIC_ESTIMATED_COST_LIMIT)).toBe(
      `estimated rule cost exceeds budget by factor of 3.2x ${HINT}`,
    )
    expect(costErrorMessage('estimated rule cost', 12_000_000, STATIC_ESTIMATED_COST_LIMIT)).toBe(
      `estimated rule cost exceeds budget by factor of 1.200000x ${HINT}`,
    )
    expect(costErrorMessage('estimated rule cost', 2e9, STATIC_ESTIMATED_COST_LIMIT)).toBe(
      `estimated rule cost exceeds budget by factor of more than 100x ${HINT}`,
    )
  })

  it("refuses a nested loop over a list without maxItems, and the schema's total", () => {
    const spec: JSONSchemaProps = {
      type: 'object',
      properties: {
        tags: {
          type: 'array',
          items: { type: 'string' },
          'x-kubernetes-validations': rules('self.all(x, self.all(y, x == y))'),
        },
      },
    }
    const rule =
      'spec.validation.openAPIV3Schema.properties[spec].properties[tags].x-kubernetes-validations[0].rule'
    expect(errors(crd(spec))).toEqual([
      `${rule}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x ${HINT}`,
      `${rule}: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema`,
      `spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x ${HINT}`,
    ])
  })

  it('accepts the same rule once maxItems and maxLength bound it', () => {
    const spec: JSONSchemaProps = {
      type: 'object',
      properties: {
        tags: {
          type: 'array',
          maxItems: 20,
          items: { type: 'string', maxLength: 64 },
          'x-kubernetes-validations': rules('self.all(x, self.all(y, x == y))'),
        },
      },
    }
    expect(errors(crd(spec))).toEqual([])
  })

  it('multiplies a rule on list items by how many items a request can hold', () => {
    // 22 per evaluation (2 ids and calls, a 200-character traversal at 0.1) times 1048576 strings in 3 MiB.
    const spec: JSONSchemaProps = {
      type: 'object',
      properties: {
        names: {
          type: 'array',
          items: {
            type: 'string',
            maxLength: 200,
            'x-kubernetes-validations': rules('self.startsWith("a")'),
          },
        },
      },
    }
    expect(errors(crd(spec))).toEqual([
      `spec.validation.openAPIV3Schema.properties[spec].properties[names].items.x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of 2.3x ${HINT}`,
    ])
    spec.properties!.names.maxItems = 1000
    expect(errors(crd(spec))).toEqual([])
  })
})

describe('CEL cost at runtime', () => {
  it("stops a rule past the per-call limit with kube-apiserver's message, and runs no further rules", () => {
    const s: JSONSchemaProps = {
      type: 'object',
      properties: {
        a: {
          type: 'array',
          items: { type: 'string' },
          'x-kubernetes-validations': [
            { rule: 'self.all(x, self.all(y, self.all(z, x + y + z != "")))' },
          ],
        },
        b: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == "ok"' }] },
      },
    }
    // 200^3 steps: far past PER_CALL_LIMIT; a hang here would be the vitest timeout.
    const errs = validateRules(s, {
      a: Array.from({ length: 200 }, (_, i) => `v${i}`),
      b: 'not ok',
    }).map(fieldErrorString)
    expect(errs).toEqual([
      'a: Invalid value: "array": \'operation cancelled: actual cost limit exceeded\': no further validation rules will be run due to call cost exceeds limit for rule: self.all(x, self.all(y, self.all(z, x + y + z != "")))',
    ])
    expect(PER_CALL_LIMIT).toBe(1_000_000)
  })

  it("stops when the request's cost budget runs out", () => {
    // Each item's rule stays under the per-call limit (~400^2 steps); twenty of them do not fit in 10,000,000.
    const s: JSONSchemaProps = {
      type: 'object',
      properties: {
        groups: {
          type: 'array',
          items: {
            type: 'object',
            properties: { l: { type: 'array', items: { type: 'string' } } },
            'x-kubernetes-validations': [
              { rule: 'self.l.all(x, self.l.all(y, x != ""))', message: 'empty names' },
            ],
          },
        },
      },
    }
    const l = Array.from({ length: 400 }, (_, i) => `n${i}`)
    const errs = validateRules(s, { groups: Array.from({ length: 20 }, () => ({ l })) })
    expect(errs).toHaveLength(1)
    expect(fieldErrorString(errs[0])).toMatch(
      /^groups\[\d+\]: Invalid value: "object": validation failed due to running out of cost budget, no further validation rules will be run$/,
    )
  })

  it("reports a failing rule's evaluation error as kube-apiserver does", () => {
    const s: JSONSchemaProps = {
      type: 'object',
      properties: {
        m: {
          type: 'object',
          additionalProperties: { type: 'string' },
          'x-kubernetes-validations': [{ rule: 'self.k == "v"', message: 'k must be v' }],
        },
      },
    }
    const errs = validateRules(s, { m: { other: 'x' } }).map(fieldErrorString)
    expect(errs).toHaveLength(1)
    expect(errs[0]).toMatch(/^m: Invalid value: "object": .* evaluating rule: k must be v$/)
  })

  it("runs matches() with RE2: linear time, and Go's syntax", () => {
    const s: JSONSchemaProps = {
      type: 'object',
      properties: {
        s: { type: 'string', 'x-kubernetes-validations': [{ rule: "self.matches('^(a+)+$')" }] },
      },
    }
    expect(validateRules(s, { s: 'aaaa' })).toEqual([])
    expect(validateRules(s, { s: 'a'.repeat(5000) + 'b' }).map(fieldErrorString)).toEqual([
      's: Invalid value: "string": failed rule: self.matches(\'^(a+)+$\')',
    ])
    const bad: JSONSchemaProps = {
      type: 'object',
      properties: {
        s: { type: 'string', 'x-kubernetes-validations': [{ rule: "self.matches('(a)\\\\1')" }] },
      },
    }
    expect(validateRules(bad, { s: 'aa' }).map(fieldErrorString)).toEqual([
      's: Invalid value: "string": error parsing regexp: invalid escape sequence: `\\1` evaluating rule: self.matches(\'(a)\\\\1\')',
    ])
  })
})

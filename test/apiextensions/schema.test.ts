import { describe, expect, it } from 'vitest'
import {
  compilePattern,
  patternMatches,
  validateStructure,
  validateValue,
} from '../../src/apiextensions/schema/validate'
import { applyDefaults, prune, pruneNonNullableNulls } from '../../src/apiextensions/schema/prune'
import { validateRules } from '../../src/apiextensions/schema/cel'
import { evalJSONPath, parseJSONPath } from '../../src/apiextensions/jsonpath'
import type { JSONSchemaProps } from '../../src/apiextensions/schema/types'
import { fieldErrorString, type FieldError } from '../../src/server/errors'

const schema: JSONSchemaProps = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['image'],
      properties: {
        image: { type: 'string', minLength: 3, maxLength: 10, pattern: '^[a-z]+$' },
        replicas: { type: 'integer', minimum: 0, maximum: 10, default: 1 },
        mode: { type: 'string', enum: ['Fast', 'Slow'] },
        port: {
          'x-kubernetes-int-or-string': true,
          anyOf: [{ type: 'integer' }, { type: 'string' }],
        },
        when: { type: 'string', format: 'date-time' },
        tags: {
          type: 'array',
          maxItems: 2,
          items: { type: 'string' },
          'x-kubernetes-list-type': 'set',
        },
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, port: { type: 'integer' } },
          },
        },
        labels: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 2 },
        template: {
          type: 'object',
          'x-kubernetes-embedded-resource': true,
          'x-kubernetes-preserve-unknown-fields': true,
        },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        nested: {
          type: 'object',
          default: {},
          properties: { level: { type: 'string', default: 'info' } },
        },
        nullableField: { type: 'string', nullable: true },
        choice: {
          type: 'object',
          properties: { a: { type: 'string' }, b: { type: 'string' } },
          oneOf: [{ required: ['a'] }, { required: ['b'] }],
        },
      },
    },
  },
}

function messages(value: unknown): string[] {
  const errs: FieldError[] = []
  validateValue(schema, value, '', errs)
  validateStructure(schema, value, '', errs)
  return errs.map(fieldErrorString)
}

describe('structural schema validation', () => {
  it('reports a wrong type as kube-openapi does', () => {
    expect(messages({ spec: { image: 'nginx', replicas: 'three' } })).toEqual([
      'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    ])
  })

  it('reports a missing required field, an enum and bounds', () => {
    expect(messages({ spec: { replicas: 11, mode: 'Medium' } })).toEqual([
      'spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10',
      'spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow"',
      'spec.image: Required value',
    ])
  })

  it('checks string length, pattern and format', () => {
    expect(messages({ spec: { image: 'ABCDEFGHIJKL', when: 'yesterday' } })).toEqual([
      'spec.image: Too long: may not be more than 10 bytes',
      'spec.image: Invalid value: "ABCDEFGHIJKL": spec.image in body should match \'^[a-z]+$\'',
      'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"',
    ])
    expect(messages({ spec: { image: 'ab' } })).toEqual([
      'spec.image: Invalid value: "ab": spec.image in body should be at least 3 chars long',
    ])
  })

  it('accepts int-or-string and rejects other types there', () => {
    expect(messages({ spec: { image: 'nginx', port: 80 } })).toEqual([])
    expect(messages({ spec: { image: 'nginx', port: 'http' } })).toEqual([])
    expect(messages({ spec: { image: 'nginx', port: true } })[0]).toBe(
      'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
    )
  })

  it('checks list and map sizes, sets and map keys', () => {
    expect(messages({ spec: { image: 'nginx', tags: ['a', 'b', 'c'] } })).toEqual([
      'spec.tags: Too many: 3: must have at most 2 items',
    ])
    expect(messages({ spec: { image: 'nginx', tags: ['a', 'a'] } })).toEqual([
      'spec.tags[1]: Duplicate value: "a"',
    ])
    expect(
      messages({
        spec: {
          image: 'nginx',
          ports: [
            { name: 'x', port: 1 },
            { name: 'x', port: 2 },
          ],
        },
      }),
    ).toEqual(['spec.ports[1]: Duplicate value: "object"'])
    expect(messages({ spec: { image: 'nginx', labels: { a: '1', b: '2', c: '3' } } })).toEqual([
      'spec.labels: Too many: 2: must have at most 2 items',
    ])
  })

  it('requires apiVersion and kind of an embedded resource', () => {
    expect(messages({ spec: { image: 'nginx', template: { metadata: {} } } })).toEqual([
      'spec.template.apiVersion: Required value: must not be empty',
      'spec.template.kind: Required value: must not be empty',
    ])
  })

  it('reports oneOf at the nil path with the best branch errors', () => {
    expect(messages({ spec: { image: 'nginx', choice: {} } })).toEqual([
      '<nil>: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). Found none valid',
      'spec.choice.a: Required value',
    ])
  })

  it('rejects null in a non-nullable field and accepts it in a nullable one', () => {
    expect(messages({ spec: { image: 'nginx', nullableField: null } })).toEqual([])
    expect(messages({ spec: { image: null } })).toEqual([
      'spec.image: Invalid value: "null": spec.image in body must be of type string: "null"',
    ])
  })
})

describe('pruning and defaulting', () => {
  it('drops unknown fields but keeps apiVersion, kind, metadata and preserved subtrees', () => {
    const obj = {
      apiVersion: 'x/v1',
      kind: 'X',
      metadata: { name: 'a', foo: 1 },
      bogus: 1,
      spec: {
        image: 'nginx',
        unknown: true,
        extra: { anything: { deep: 1 } },
        template: { apiVersion: 'v1', kind: 'Pod', metadata: {}, spec: {} },
      },
    }
    expect(prune(obj, schema)).toEqual(['.bogus', '.spec.unknown'])
    expect(obj).toEqual({
      apiVersion: 'x/v1',
      kind: 'X',
      metadata: { name: 'a', foo: 1 },
      spec: {
        image: 'nginx',
        extra: { anything: { deep: 1 } },
        template: { apiVersion: 'v1', kind: 'Pod', metadata: {}, spec: {} },
      },
    })
  })

  it('drops nulls of non-nullable fields, then fills defaults, nested ones included', () => {
    const obj: Record<string, any> = { spec: { image: 'nginx', mode: null, nullableField: null } }
    pruneNonNullableNulls(obj, schema)
    applyDefaults(obj, schema)
    expect(obj.spec).toEqual({
      image: 'nginx',
      nullableField: null,
      replicas: 1,
      nested: { level: 'info' },
    })
  })
})

describe('x-kubernetes-validations', () => {
  const ruled: JSONSchemaProps = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        'x-kubernetes-validations': [
          {
            rule: 'self.minReplicas <= self.maxReplicas',
            message: 'minReplicas cannot be larger than maxReplicas',
          },
          { rule: 'self.name.startsWith("a")' },
          { rule: 'self.name == oldSelf.name', message: 'name is immutable' },
        ],
        properties: {
          minReplicas: { type: 'integer' },
          maxReplicas: { type: 'integer' },
          name: { type: 'string' },
        },
      },
    },
  }
  it('fails a rule with its message and the node type as value', () => {
    const errs = validateRules(ruled, { spec: { minReplicas: 5, maxReplicas: 2, name: 'b' } }).map(
      fieldErrorString,
    )
    expect(errs).toEqual([
      'spec: Invalid value: "object": minReplicas cannot be larger than maxReplicas',
      'spec: Invalid value: "object": failed rule: self.name.startsWith("a")',
    ])
  })
  it('runs transition rules only against an old object', () => {
    const obj = { spec: { minReplicas: 1, maxReplicas: 2, name: 'ab' } }
    expect(validateRules(ruled, obj)).toEqual([])
    expect(
      validateRules(ruled, obj, { spec: { minReplicas: 1, maxReplicas: 2, name: 'ac' } }).map(
        fieldErrorString,
      ),
    ).toEqual(['spec: Invalid value: "object": name is immutable'])
  })
})

describe('Go regular expressions', () => {
  it('compiles RE2 inline flags, anchors and POSIX classes as Go does', () => {
    expect(patternMatches('^(?i)(abort|warn)?$', 'ABORT')).toBe(true)
    expect(patternMatches('^[[:alpha:]]+\\z', 'abc')).toBe(true)
    expect(patternMatches('^[[:alpha:]]+\\z', 'ab1')).toBe(false)
    // Go's MatchString is a search, not a full match.
    expect(patternMatches('b', 'abc')).toBe(true)
  })
  it("gives the error Go's regexp.Compile gives for what RE2 does not accept", () => {
    expect(compilePattern('[')).toEqual({
      ok: false,
      error: 'error parsing regexp: missing closing ]: `[`',
    })
    expect(compilePattern('(a)\\1')).toEqual({
      ok: false,
      error: 'error parsing regexp: invalid escape sequence: `\\1`',
    })
    expect(compilePattern('a(?=b)')).toEqual({
      ok: false,
      error: 'error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    })
    expect(patternMatches('(?<!a)b', 'b')).toBeUndefined()
  })
  it('matches a pattern that backtracks exponentially in a JS RegExp in linear time', () => {
    // Under a backtracking engine this input takes ~2^40 steps; the test would hit vitest's timeout.
    const errs: FieldError[] = []
    validateValue({ type: 'string', pattern: '^(a+)+$' }, 'a'.repeat(40) + 'b', 'spec.name', errs)
    expect(errs.map(fieldErrorString)).toEqual([
      `spec.name: Invalid value: "${'a'.repeat(40)}b": spec.name in body should match '^(a+)+$'`,
    ])
  })
})

describe('printer column JSONPath', () => {
  const obj = {
    status: {
      conditions: [
        { type: 'Issuing', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
    },
    spec: { a: { 'b.c': 1 } },
  }
  it('evaluates filters, indexes and quoted fields', () => {
    expect(
      evalJSONPath(parseJSONPath('.status.conditions[?(@.type == "Ready")].status'), obj),
    ).toEqual(['True'])
    expect(
      evalJSONPath(parseJSONPath(".status.conditions[?(@.type=='Ready')].status"), obj),
    ).toEqual(['True'])
    expect(evalJSONPath(parseJSONPath('.status.conditions[0].type'), obj)).toEqual(['Issuing'])
    expect(evalJSONPath(parseJSONPath("{.spec.a['b.c']}"), obj)).toEqual([1])
    expect(evalJSONPath(parseJSONPath('.spec.missing.x'), obj)).toEqual([])
  })
})

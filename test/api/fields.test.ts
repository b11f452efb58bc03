import { thrown } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import {
  builtinFieldLabelConversion,
  customResourceFieldLabelConversion,
  escapeFieldValue,
  oneTermEqualSelector,
  parseFieldRequirements,
  parseFieldSelector,
  unescapeFieldValue,
} from '../../src/api/selectors/fields'

function failure(fn: () => unknown): { code: number; reason: string | undefined; message: string } {
  return thrown(() => fn())
}

interface Obj {
  name: string
  phase?: string
}
const getters = {
  'metadata.name': (o: Obj) => o.name,
  'metadata.namespace': () => 'default',
  'status.phase': (o: Obj) => o.phase,
}

describe('parseFieldSelector', () => {
  it('parses =, == and != and ANDs comma-separated terms, sorted as apimachinery sorts them', () => {
    const s = parseFieldSelector('status.phase!=Failed,metadata.name==a,metadata.namespace=default')
    expect(s.requirements).toEqual([
      { field: 'metadata.name', operator: '=', value: 'a' },
      { field: 'metadata.namespace', operator: '=', value: 'default' },
      { field: 'status.phase', operator: '!=', value: 'Failed' },
    ])
    expect(s.toString()).toBe('metadata.name=a,metadata.namespace=default,status.phase!=Failed')
  })

  it('is empty for "" and skips empty terms', () => {
    expect(parseFieldSelector('').empty).toBe(true)
    expect(parseFieldSelector(',,').empty).toBe(true)
    expect(parseFieldSelector('a=b,,').toString()).toBe('a=b')
  })

  it('unescapes \\, \\= and \\\\ in values and escapes them back in String()', () => {
    const s = parseFieldSelector('a=x\\,y\\=z\\\\w,b=c')
    expect(s.requirements[0]).toEqual({ field: 'a', operator: '=', value: 'x,y=z\\w' })
    expect(s.toString()).toBe('a=x\\,y\\=z\\\\w,b=c')
    expect(escapeFieldValue('a,b=c\\')).toBe('a\\,b\\=c\\\\')
    expect(unescapeFieldValue('plain')).toBe('plain')
  })

  it('splits a term at the first operator from the left', () => {
    expect(() => parseFieldRequirements('a!==b')).toThrow(
      'invalid field selector: unescaped character in value: 61',
    )
    expect(parseFieldRequirements('a==b')).toEqual([{ field: 'a', operator: '=', value: 'b' }])
    expect(parseFieldRequirements('=b')).toEqual([{ field: '', operator: '=', value: 'b' }])
  })

  it('answers malformed selectors with 400 and apimachinery wording', () => {
    expect(failure(() => parseFieldSelector('foo'))).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: "invalid selector: 'foo'; can't understand 'foo'",
    })
    expect(failure(() => parseFieldSelector('a=b,foo')).message).toBe(
      "invalid selector: 'a=b,foo'; can't understand 'foo'",
    )
    expect(failure(() => parseFieldSelector('a=b=c')).message).toBe(
      'invalid field selector: unescaped character in value: 61',
    )
    expect(failure(() => parseFieldSelector('a=b\\')).message).toBe(
      'invalid field selector: invalid escape sequence: \\',
    )
    expect(failure(() => parseFieldSelector('a=b\\n')).message).toBe(
      'invalid field selector: invalid escape sequence: \\n',
    )
  })

  it('matches through getters, reading a missing field as ""', () => {
    const s = parseFieldSelector('metadata.name=a,status.phase!=Failed', getters)
    expect(s.matches({ name: 'a', phase: 'Running' })).toBe(true)
    expect(s.matches({ name: 'a', phase: 'Failed' })).toBe(false)
    expect(s.matches({ name: 'b' })).toBe(false)
    expect(parseFieldSelector('status.phase=', getters).matches({ name: 'a' })).toBe(true)
    expect(parseFieldSelector('x=1').matchesFields((f) => (f === 'x' ? '1' : undefined))).toBe(true)
    expect(parseFieldSelector('x!=1').matchesFields(() => undefined)).toBe(true)
  })

  it('rejects a field the kind does not register, with the message of its conversion', () => {
    // Kinds that register their own conversion (pods): "field label not supported: spec.foo".
    expect(failure(() => parseFieldSelector('spec.foo=bar', getters))).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: 'field label not supported: spec.foo',
    })
    // Kinds with only metadata fields use runtime.DefaultMetaV1FieldSelectorConversion.
    const metaOnly = { 'metadata.name': (o: Obj) => o.name, 'metadata.namespace': () => 'default' }
    expect(failure(() => parseFieldSelector('spec.foo=bar', metaOnly)).message).toBe(
      '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"',
    )
  })

  it('uses the built-in table for kinds with their own field label conversion', () => {
    const pods = { convert: builtinFieldLabelConversion('', 'Pod') }
    expect(failure(() => parseFieldSelector('spec.foo=bar', undefined, pods)).message).toBe(
      'field label not supported: spec.foo',
    )
    expect(parseFieldSelector('spec.host=n1', undefined, pods).toString()).toBe('spec.nodeName=n1')
    expect(
      failure(() =>
        parseFieldSelector('metadata.namespace=a', undefined, {
          convert: builtinFieldLabelConversion('', 'Node'),
        }),
      ).message,
    ).toBe('field label not supported: metadata.namespace')
    expect(
      failure(() =>
        parseFieldSelector('spec.x=1', undefined, {
          convert: builtinFieldLabelConversion('batch', 'Job'),
        }),
      ).message,
    ).toBe('field label "spec.x" not supported for batchv1.Job')
    expect(
      failure(() =>
        parseFieldSelector('spec.x=1', undefined, {
          convert: builtinFieldLabelConversion('', 'ConfigMap'),
        }),
      ).message,
    ).toBe('"spec.x" is not a known field selector: only "metadata.name", "metadata.namespace"')
    // The first unsupported field in sorted order is the one reported.
    expect(failure(() => parseFieldSelector('z.z=1,b.b=2', undefined, pods)).message).toBe(
      'field label not supported: b.b',
    )
  })

  it("accepts a custom resource's metadata fields and selectableFields", () => {
    const cr = { convert: customResourceFieldLabelConversion(false, ['.spec.color']) }
    expect(parseFieldSelector('spec.color=red,metadata.name=x', undefined, cr).toString()).toBe(
      'metadata.name=x,spec.color=red',
    )
    expect(failure(() => parseFieldSelector('metadata.namespace=a', undefined, cr)).message).toBe(
      'field label not supported: metadata.namespace',
    )
  })

  it('reports RequiresExactMatch', () => {
    const s = parseFieldSelector('metadata.name=a,status.phase!=b')
    expect(s.requiresExactMatch('metadata.name')).toBe('a')
    expect(s.requiresExactMatch('status.phase')).toBeUndefined()
    expect(oneTermEqualSelector('metadata.name', 'x').toString()).toBe('metadata.name=x')
  })
})

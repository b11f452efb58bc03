import { thrown } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import { applyMergePatch } from '../../src/api/patch/merge-patch'

const doc = () => ({
  metadata: { name: 'c', labels: { a: '1', b: '2' } },
  data: { k: 'v' },
  list: [1, 2],
  spec: { template: { x: 1 } },
})

function failure(
  body: string,
  fieldValidation?: string,
): { code: number; reason: string | undefined; message: string } {
  return thrown(() => applyMergePatch(doc(), body, { fieldValidation }))
}

describe('applyMergePatch', () => {
  it('merges objects recursively, deletes on null and replaces arrays', () => {
    const d = doc()
    const out = applyMergePatch(
      d,
      JSON.stringify({ metadata: { labels: { a: null, c: '3' } }, list: [3], data: null }),
    )
    expect(out).toEqual({
      metadata: { name: 'c', labels: { b: '2', c: '3' } },
      list: [3],
      spec: { template: { x: 1 } },
    })
    expect(d).toEqual(doc())
  })

  it('ignores a null for a missing key and prunes nulls from new values', () => {
    expect(applyMergePatch(doc(), '{"nope":null,"n":{"a":null,"b":{"c":null,"d":1}}}')).toEqual({
      ...doc(),
      n: { b: { d: 1 } },
    })
  })

  it('drops null elements from a replacing array and nulls inside its objects (evanphx/json-patch v4)', () => {
    expect(
      (applyMergePatch(doc(), '{"list":[1,null,{"a":null,"b":2}]}') as { list: unknown[] }).list,
    ).toEqual([1, { b: 2 }])
  })

  it('keeps nulls in a non-object value that replaces an object', () => {
    expect((applyMergePatch(doc(), '{"spec":[null,1]}') as { spec: unknown }).spec).toEqual([
      null,
      1,
    ])
  })

  it('replaces a scalar with an object, pruning its nulls', () => {
    expect(
      (applyMergePatch(doc(), '{"data":{"k":{"x":null,"y":1}}}') as { data: unknown }).data,
    ).toEqual({ k: { y: 1 } })
  })

  it('makes an array patch the whole result', () => {
    expect(applyMergePatch(doc(), '[1,null]')).toEqual([1])
  })

  it('answers null, scalars and malformed JSON with 400 "Invalid JSON Patch"', () => {
    for (const body of ['null', '1', '"x"', 'true', '{', '{"a":}']) {
      expect(failure(body)).toEqual({
        code: 400,
        reason: 'BadRequest',
        message: 'Invalid JSON Patch',
      })
    }
  })

  it('decodes strictly under fieldValidation=Strict', () => {
    expect(failure('{', 'Strict').message).toBe(
      'error decoding patch: unexpected end of JSON input',
    )
    expect(failure('[1]', 'Strict').message).toBe(
      'error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}',
    )
    const strictErrors: string[] = []
    applyMergePatch(doc(), '{"metadata":{"labels":{"a":"x","a":"y"}}}', {
      fieldValidation: 'Strict',
      strictErrors,
    })
    expect(strictErrors).toEqual(['duplicate field "metadata.labels.a"'])
  })

  it('keeps a "__proto__" key as data', () => {
    const out = applyMergePatch(doc(), '{"data":{"__proto__":"x"}}') as {
      data: Record<string, unknown>
    }
    expect(Object.keys(out.data)).toEqual(['k', '__proto__'])
    expect(Object.getPrototypeOf(out.data)).toBe(Object.prototype)
  })
})

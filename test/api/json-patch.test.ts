import { thrown } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import {
  JsonPatchApplyError,
  applyJsonPatch,
  applyJsonPatchOperations,
} from '../../src/api/patch/json-patch'

const cm = () => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', labels: { a: '1' }, annotations: { 'x/y': 'z', 'm~n': 'o' } },
  data: { k: 'v', html: 'a<b&c' },
  list: [1, 2, 3],
  replicas: 3,
})

const patch = (doc: unknown, ops: unknown) => applyJsonPatch(doc, JSON.stringify(ops))

function applyFailure(
  doc: unknown,
  ops: unknown,
): { code: number; reason: string; message: string; detail: string } {
  try {
    patch(doc, ops)
  } catch (e) {
    expect(e).toBeInstanceOf(JsonPatchApplyError)
    const err = e as JsonPatchApplyError
    return { code: err.code, reason: err.reason, message: err.message, detail: err.detail }
  }
  throw new Error('expected the patch to fail')
}

function failure(
  doc: unknown,
  body: string,
): { code: number; reason: string | undefined; message: string } {
  return thrown(() => applyJsonPatch(doc, body))
}

describe('applyJsonPatch', () => {
  it('adds, removes and replaces members, leaving the input untouched', () => {
    const doc = cm()
    const out = patch(doc, [
      { op: 'add', path: '/metadata/labels/b', value: '2' },
      { op: 'remove', path: '/data/k' },
      { op: 'replace', path: '/replicas', value: 5 },
    ]) as ReturnType<typeof cm>
    expect(out.metadata.labels).toEqual({ a: '1', b: '2' })
    expect(out.data).toEqual({ html: 'a<b&c' })
    expect(out.replicas).toBe(5)
    expect(doc).toEqual(cm())
  })

  it('inserts into arrays by index, appends with -, and counts negative indices from the end', () => {
    expect(
      (patch(cm(), [{ op: 'add', path: '/list/0', value: 0 }]) as { list: number[] }).list,
    ).toEqual([0, 1, 2, 3])
    expect(
      (patch(cm(), [{ op: 'add', path: '/list/-', value: 4 }]) as { list: number[] }).list,
    ).toEqual([1, 2, 3, 4])
    expect(
      (patch(cm(), [{ op: 'add', path: '/list/3', value: 4 }]) as { list: number[] }).list,
    ).toEqual([1, 2, 3, 4])
    expect(
      (patch(cm(), [{ op: 'add', path: '/list/-1', value: 9 }]) as { list: number[] }).list,
    ).toEqual([1, 2, 3, 9])
    expect((patch(cm(), [{ op: 'remove', path: '/list/-1' }]) as { list: number[] }).list).toEqual([
      1, 2,
    ])
    expect(
      (patch(cm(), [{ op: 'replace', path: '/list/1', value: 7 }]) as { list: number[] }).list,
    ).toEqual([1, 7, 3])
  })

  it('unescapes ~1 and ~0 in pointers', () => {
    const out = patch(cm(), [
      { op: 'replace', path: '/metadata/annotations/x~1y', value: 'w' },
      { op: 'remove', path: '/metadata/annotations/m~0n' },
    ]) as ReturnType<typeof cm>
    expect(out.metadata.annotations).toEqual({ 'x/y': 'w' })
  })

  it('moves and copies', () => {
    const moved = patch(cm(), [
      { op: 'move', from: '/data/k', path: '/metadata/labels/k' },
    ]) as ReturnType<typeof cm>
    expect(moved.data).toEqual({ html: 'a<b&c' })
    expect(moved.metadata.labels).toEqual({ a: '1', k: 'v' })
    const copied = patch(cm(), [
      { op: 'copy', from: '/metadata/labels', path: '/data/labels' },
    ]) as { data: Record<string, unknown>; metadata: { labels: object } }
    expect(copied.data.labels).toEqual({ a: '1' })
    expect(copied.data.labels).not.toBe(copied.metadata.labels)
    expect(
      (patch(cm(), [{ op: 'move', from: '/list/0', path: '/list/-' }]) as { list: number[] }).list,
    ).toEqual([2, 3, 1])
  })

  it("passes tests that compare equal and fails the rest with kube-apiserver's generic 422", () => {
    expect(() =>
      patch(cm(), [
        { op: 'test', path: '/data/k', value: 'v' },
        { op: 'test', path: '/metadata/labels', value: { a: '1' } },
      ]),
    ).not.toThrow()
    expect(applyFailure(cm(), [{ op: 'test', path: '/data/k', value: 'x' }])).toEqual({
      code: 422,
      reason: 'Invalid',
      message: 'the server rejected our request due to an error in our request',
      detail: 'testing value /data/k failed: test failed',
    })
    expect(
      applyFailure(cm(), [{ op: 'test', path: '/metadata/labels', value: { a: '1', b: '2' } }])
        .detail,
    ).toBe('testing value /metadata/labels failed: test failed')
  })

  it('tests scalars by their JSON text, as evanphx/json-patch does', () => {
    // The object's own strings are compared as Go encodes them (with HTML escaping), the patch's as sent.
    expect(applyFailure(cm(), [{ op: 'test', path: '/data/html', value: 'a<b&c' }]).detail).toBe(
      'testing value /data/html failed: test failed',
    )
    expect(() =>
      applyJsonPatch(cm(), '[{"op":"test","path":"/data/html","value":"a\\u003cb\\u0026c"}]'),
    ).not.toThrow()
    expect(applyFailure(cm(), [{ op: 'test', path: '/replicas', value: 3.5 }]).detail).toBe(
      'testing value /replicas failed: test failed',
    )
    expect(() => applyJsonPatch(cm(), '[{"op":"test","path":"/replicas","value":3.0}]')).toThrow(
      JsonPatchApplyError,
    )
    expect(() => applyJsonPatch(cm(), '[{"op":"test","path":"/replicas","value":3}]')).not.toThrow()
    // A value added by the same patch keeps the bytes it was sent with.
    expect(() =>
      applyJsonPatch(
        cm(),
        '[{"op":"add","path":"/data/n","value":1.0},{"op":"test","path":"/data/n","value":1.0}]',
      ),
    ).not.toThrow()
  })

  it('matches a missing key or null only with a null test value', () => {
    expect(() => patch(cm(), [{ op: 'test', path: '/data/missing', value: null }])).not.toThrow()
    expect(applyFailure(cm(), [{ op: 'test', path: '/data/missing', value: 'x' }]).detail).toBe(
      'testing value /data/missing failed: test failed',
    )
  })

  it('treats replace of a missing object key as add (evanphx/json-patch v4)', () => {
    expect(
      (patch(cm(), [{ op: 'replace', path: '/data/new', value: 'n' }]) as { data: object }).data,
    ).toEqual({ k: 'v', html: 'a<b&c', new: 'n' })
  })

  it('replaces the whole document with path ""', () => {
    expect(patch(cm(), [{ op: 'replace', path: '', value: { a: 1 } }])).toEqual({ a: 1 })
    // A scalar is silently ignored: the error is wrapped around nil.
    expect(patch(cm(), [{ op: 'replace', path: '', value: 1 }])).toEqual(cm())
  })

  it('reports missing paths, keys and indices with evanphx/json-patch wording', () => {
    expect(applyFailure(cm(), [{ op: 'add', path: '/nope/x', value: 1 }]).detail).toBe(
      'add operation does not apply: doc is missing path: "/nope/x": missing value',
    )
    expect(applyFailure(cm(), [{ op: 'remove', path: '/data/nope' }]).detail).toBe(
      "error in remove for path: '/data/nope': Unable to remove nonexistent key: nope: missing value",
    )
    expect(applyFailure(cm(), [{ op: 'remove', path: '/nope/x' }]).detail).toBe(
      'remove operation does not apply: doc is missing path: "/nope/x": missing value',
    )
    expect(applyFailure(cm(), [{ op: 'replace', path: '/list/9', value: 1 }]).detail).toBe(
      'replace operation does not apply: doc is missing key: /list/9: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'replace', path: '/nope/x', value: 1 }]).detail).toBe(
      'replace operation does not apply: doc is missing path: /nope/x: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'add', path: '/list/5', value: 1 }]).detail).toBe(
      "error in add for path: '/list/5': Unable to access invalid index: 5: invalid index referenced",
    )
    expect(applyFailure(cm(), [{ op: 'add', path: '/list/x', value: 1 }]).detail).toBe(
      `error in add for path: '/list/x': value was not a proper array index: 'x': strconv.Atoi: parsing "x": invalid syntax`,
    )
    expect(applyFailure(cm(), [{ op: 'remove', path: '/list/3' }]).detail).toBe(
      "error in remove for path: '/list/3': Unable to access invalid index: 3: invalid index referenced",
    )
    expect(applyFailure(cm(), [{ op: 'test', path: '/nope/x', value: 1 }]).detail).toBe(
      'test operation does not apply: is missing path: /nope/x: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'move', from: '/data/nope', path: '/data/x' }]).detail).toBe(
      "error in move for path: 'nope': Unable to remove nonexistent key: nope: missing value",
    )
    expect(applyFailure(cm(), [{ op: 'move', from: '/data/k', path: '/nope/x' }]).detail).toBe(
      'move operation does not apply: doc is missing destination path: /nope/x: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'copy', from: '/nope/x', path: '/data/x' }]).detail).toBe(
      'copy operation does not apply: doc is missing from path: /nope/x: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'add', path: '', value: 1 }]).detail).toBe(
      'add operation does not apply: doc is missing path: "": missing value',
    )
    expect(applyFailure(cm(), [{ op: 'add', path: '/data/k/x', value: 1 }]).detail).toBe(
      'add operation does not apply: doc is missing path: "/data/k/x": missing value',
    )
  })

  it('reports malformed operations', () => {
    expect(applyFailure(cm(), [{ op: 'frob', path: '/a' }]).detail).toBe('Unexpected kind: frob')
    expect(applyFailure(cm(), [{ path: '/a' }]).detail).toBe('Unexpected kind: unknown')
    expect(applyFailure(cm(), [null]).detail).toBe('Unexpected kind: unknown')
    expect(applyFailure(cm(), [{ op: 'add', value: 1 }]).detail).toBe(
      'add operation failed to decode path: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'replace', value: 1 }]).detail).toBe(
      'replace operation failed to decode path: operation missing path field: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'move', path: '/a' }]).detail).toBe(
      'move operation failed to decode from: operation, missing from field: missing value',
    )
    expect(applyFailure(cm(), [{ op: 'test', path: 1 }]).detail).toBe(
      'test operation failed to decode path: json: cannot unmarshal number into Go value of type string',
    )
  })

  it('adds null when the value is missing, and copies null from a missing key', () => {
    expect((patch(cm(), [{ op: 'add', path: '/data/n' }]) as { data: object }).data).toEqual({
      k: 'v',
      html: 'a<b&c',
      n: null,
    })
    expect(
      (patch(cm(), [{ op: 'copy', from: '/data/nope', path: '/data/n' }]) as { data: object }).data,
    ).toEqual({ k: 'v', html: 'a<b&c', n: null })
  })

  it("answers an undecodable body with 400 and encoding/json's message", () => {
    expect(failure(cm(), '{"op":"add"}')).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
    })
    expect(failure(cm(), '["x"]').message).toBe(
      'json: cannot unmarshal string into Go value of type jsonpatch.Operation',
    )
    expect(failure(cm(), '[{"op":"add"').message).toBe('unexpected end of JSON input')
    expect(failure(cm(), '[{op:1}]').message).toBe(
      "invalid character 'o' looking for beginning of object key string",
    )
    expect(failure(cm(), '[1 2]').message).toBe("invalid character '2' after array element")
    expect(failure(cm(), '[] x').message).toBe("invalid character 'x' after top-level value")
    expect(failure(cm(), '[{"a" 1}]').message).toBe("invalid character '1' after object key")
    expect(failure(cm(), '[{"a":1 "b":2}]').message).toBe(
      `invalid character '"' after object key:value pair`,
    )
    expect(failure(cm(), '[tru]').message).toBe(
      "invalid character ']' in literal true (expecting 'e')",
    )
    expect(failure(cm(), '[-]').message).toBe("invalid character ']' in numeric literal")
    expect(failure(cm(), '[1.]').message).toBe(
      "invalid character ']' after decimal point in numeric literal",
    )
    expect(failure(cm(), '[1e]').message).toBe(
      "invalid character ']' in exponent of numeric literal",
    )
    expect(failure(cm(), '["\\x"]').message).toBe("invalid character 'x' in string escape code")
    expect(failure(cm(), '["a\nb"]').message).toBe("invalid character '\\n' in string literal")
    expect(failure(cm(), "['a']").message).toBe(
      "invalid character '\\'' looking for beginning of value",
    )
    expect(failure(cm(), '').message).toBe('unexpected end of JSON input')
  })

  it('prefixes decode errors with "error decoding patch" under strict field validation', () => {
    expect(() => applyJsonPatch(cm(), '[{"op":1}]', { fieldValidation: 'Strict' })).toThrow(
      'error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.op of type string',
    )
    expect(() => applyJsonPatch(cm(), '{}', { fieldValidation: 'Strict' })).toThrow(
      'error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp',
    )
  })

  it('accepts null as an empty patch and rejects more than 10000 operations with 413', () => {
    expect(applyJsonPatch(cm(), 'null')).toEqual(cm())
    const ops = JSON.stringify(
      Array.from({ length: 10001 }, () => ({ op: 'test', path: '/replicas', value: 3 })),
    )
    expect(failure(cm(), ops)).toEqual({
      code: 413,
      reason: 'RequestEntityTooLarge',
      message:
        'Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001',
    })
  })

  it('applies decoded operations for internal callers', () => {
    expect(
      applyJsonPatchOperations({ a: [1] }, [
        { op: 'add', path: '/a/-', value: 2 },
        { op: 'test', path: '/a/1', value: 2 },
      ]),
    ).toEqual({ a: [1, 2] })
  })
})

// Object bodies decoded as kube-apiserver's serializer decodes them, and refused in its words.
import { describe, expect, it } from 'vitest'
import { decodeObject } from '../../src/api/negotiation'
import { yamlToJson, YamlError } from '../../src/api/yaml'
import { StatusError } from '../../src/server/errors'

const NAMESPACE = { apiVersion: 'v1', kind: 'Namespace' }
const FIND_KIND =
  'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'

function refusal(
  text: string,
  contentType = 'application/json',
  into: typeof NAMESPACE | null = NAMESPACE,
): string {
  try {
    decodeObject(text, contentType, into ?? undefined)
  } catch (e) {
    expect(e).toBeInstanceOf(StatusError)
    expect((e as StatusError).code).toBe(400)
    return (e as StatusError).message
  }
  throw new Error('expected a refusal')
}

describe('decodeObject', () => {
  it('frames what cannot be read as "unrecognized", with the body summarized as summarizeData does', () => {
    expect(refusal('xyz')).toBe(
      "the object provided is unrecognized (must be of type Namespace): couldn't get version/kind; json parse error: invalid character 'x' looking for beginning of value (78797a)",
    )
    expect(refusal('')).toBe(
      "the object provided is unrecognized (must be of type Namespace): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)",
    )
    const long = `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":`
    expect(refusal(long)).toBe(
      `the object provided is unrecognized (must be of type Namespace): couldn't get version/kind; json parse error: unexpected end of JSON input (${long.slice(0, 30)} ...)`,
    )
  })

  it("reports Interpret's type errors: a body that is not an object, an apiVersion or kind that is not a string", () => {
    expect(refusal('[1]', 'application/json', null)).toBe(
      `couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type ${FIND_KIND}`,
    )
    expect(refusal('true', 'application/json', null)).toBe(
      `couldn't get version/kind; json parse error: json: cannot unmarshal bool into Go value of type ${FIND_KIND}`,
    )
    expect(refusal('{"APIVERSION":1}', 'application/json', null)).toBe(
      "couldn't get version/kind; json parse error: json: cannot unmarshal number into Go struct field .apiVersion of type string",
    )
    expect(refusal('{"apiVersion":"a/b/c"}', 'application/json', null)).toBe(
      'unexpected GroupVersion string: a/b/c',
    )
  })

  it('takes a JSON null as an empty object, whose kind the endpoint supplies', () => {
    expect(decodeObject('null', 'application/json', NAMESPACE)).toEqual({})
    expect(decodeObject('', 'application/yaml', NAMESPACE)).toEqual({})
  })

  it('collects duplicate fields while decoding once', () => {
    const duplicates: string[] = []
    expect(
      decodeObject(
        '{"kind":"Namespace","metadata":{"name":"a","name":"b"}}',
        'application/json',
        NAMESPACE,
        { duplicates },
      ),
    ).toEqual({ kind: 'Namespace', metadata: { name: 'b' } })
    expect(duplicates).toEqual(['duplicate field "metadata.name"'])
  })
})

describe('yamlToJson', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
  it("reads YAML nested as deep as goyaml allows when it is JSON, and refuses one level more in goyaml's words", () => {
    expect(Array.isArray(yamlToJson(deep(10000)))).toBe(true)
    expect(() => yamlToJson(deep(10001))).toThrow(new YamlError('exceeded max depth of 10000'))
  })

  it('refuses YAML that is not JSON deeper than the yaml library can compose, without recursing', () => {
    expect(() => yamlToJson(`${'- '.repeat(600)}a\n`)).toThrow(
      new YamlError('exceeded max depth of 500'),
    )
    expect(yamlToJson(`${'- '.repeat(50)}a\n`)).toBeTruthy()
  })

  it('keeps block YAML as the yaml library reads it', () => {
    expect(yamlToJson('apiVersion: v1\nkind: ConfigMap\ndata:\n  a: "1"\n')).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      data: { a: '1' },
    })
  })
})

import { describe, expect, it } from 'vitest'
import { GoJsonSyntaxError, decodeGoJson, goSprint, goSprintS, goTypeName } from '../../src/go/json'
import { goQuote } from '../../src/api/selectors/validation'

const syntax = (s: string) => {
  try {
    decodeGoJson(s)
  } catch (e) {
    expect(e).toBeInstanceOf(GoJsonSyntaxError)
    return (e as Error).message
  }
  throw new Error('expected a syntax error')
}

describe('Go-compatible JSON', () => {
  it('decodes values and keeps the last of duplicate keys', () => {
    expect(decodeGoJson(' {"a":[1,-2.5e3,true,false,null,"\\u00e9\\n"],"a":{}} ')).toEqual({
      a: {},
    })
    const dups: string[] = []
    decodeGoJson('{"x":{"y":1,"y":2}}', { duplicates: dups })
    expect(dups).toEqual(['duplicate field "x.y"'])
  })

  it('prints the offending byte as encoding/json does', () => {
    expect(syntax('é')).toBe("invalid character 'Ã' looking for beginning of value")
    expect(syntax('\u0001')).toBe("invalid character '\\x01' looking for beginning of value")
    expect(syntax('[1,]')).toBe("invalid character ']' looking for beginning of value")
    expect(syntax('{"a":1,}')).toBe(
      "invalid character '}' looking for beginning of object key string",
    )
    expect(syntax('"\\u12x4"')).toBe("invalid character 'x' in \\u hexadecimal character escape")
    expect(syntax('01')).toBe("invalid character '1' after top-level value")
    expect(syntax('nul')).toBe('unexpected end of JSON input')
  })

  it('formats decoded values as fmt %v, %s and reflect do', () => {
    expect(goSprint({ b: [1, 'x', null], a: { c: true } })).toBe('map[a:map[c:true] b:[1 x <nil>]]')
    expect(goSprint(0.5)).toBe('0.5')
    expect(goSprint(1.5e-7)).toBe('1.5e-07')
    expect(goSprint(1234567.5)).toBe('1.2345675e+06')
    expect(goSprintS(1)).toBe('%!s(int64=1)')
    expect(goSprintS(null)).toBe('%!s(<nil>)')
    expect(goTypeName({})).toBe('map[string]interface {}')
    expect(goTypeName([])).toBe('[]interface {}')
    expect(goTypeName(null)).toBe('%!s(<nil>)')
  })

  it('quotes strings as strconv.Quote does', () => {
    expect(goQuote('a"b\\c\n\u0001\u00a0é')).toBe('"a\\"b\\\\c\\n\\x01\\u00a0é"')
  })
})

describe('Go-compatible JSON nesting', () => {
  it('decodes nesting as deep as encoding/json allows without using the JavaScript stack', () => {
    const deep = '['.repeat(10000) + ']'.repeat(10000)
    let v = decodeGoJson(deep)
    for (let d = 1; d < 10000; d++) v = (v as unknown[])[0] as never
    expect(v).toEqual([])
    const objects = '{"a":'.repeat(10000) + '1' + '}'.repeat(10000)
    expect(() => decodeGoJson(objects)).not.toThrow()
  })

  it('refuses one level more with the scanner\'s "exceeded max depth"', () => {
    expect(syntax('['.repeat(10001) + ']'.repeat(10001))).toBe(
      "invalid character '[' exceeded max depth",
    )
    expect(syntax('{"a":'.repeat(10001) + '1' + '}'.repeat(10001))).toBe(
      "invalid character '{' exceeded max depth",
    )
    expect(syntax('['.repeat(10001))).toBe("invalid character '[' exceeded max depth")
  })

  it('names duplicate fields by their path through objects and arrays', () => {
    const dups: string[] = []
    decodeGoJson('{"a":[{"b":1},{"b":{"c":1,"c":2}}],"a":0}', { duplicates: dups })
    expect(dups).toEqual(['duplicate field "a[1].b.c"', 'duplicate field "a"'])
  })
})

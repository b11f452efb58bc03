import { describe, expect, it } from 'vitest'
import { GoJsonSyntaxError, decodeGoJson, goSprint, goSprintS, goTypeName } from '../../src/api/patch/gojson'
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
    expect(decodeGoJson(' {"a":[1,-2.5e3,true,false,null,"\\u00e9\\n"],"a":{}} ')).toEqual({ a: {} })
    const dups: string[] = []
    decodeGoJson('{"x":{"y":1,"y":2}}', { duplicates: dups })
    expect(dups).toEqual(['duplicate field "x.y"'])
  })

  it('prints the offending byte as encoding/json does', () => {
    expect(syntax('é')).toBe("invalid character 'Ã' looking for beginning of value")
    expect(syntax('\u0001')).toBe("invalid character '\\x01' looking for beginning of value")
    expect(syntax('[1,]')).toBe("invalid character ']' looking for beginning of value")
    expect(syntax('{"a":1,}')).toBe("invalid character '}' looking for beginning of object key string")
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

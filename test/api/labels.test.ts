import { thrown } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import {
  formatLabelSelector,
  labelSelectorFromObject,
  labelSelectorFromSet,
  labelSelectorToString,
  parseLabelSelector,
} from '../../src/api/selectors/labels'

function parseError(s: string): { code: number; reason: string | undefined; message: string } {
  return thrown(() => parseLabelSelector(s))
}

const nameRegex =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
const valueRegex =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

describe('parseLabelSelector', () => {
  it('parses every operator and prints requirements sorted by key', () => {
    const s = parseLabelSelector('l>5,a=b,c!=d,e in (g,f),h notin (i),j,!k,m<3,n==o')
    expect(s.toString()).toBe('a=b,c!=d,e in (f,g),h notin (i),j,!k,l>5,m<3,n==o')
    expect(s.empty).toBe(false)
  })

  it('is empty for an empty or blank string', () => {
    expect(parseLabelSelector('').empty).toBe(true)
    expect(parseLabelSelector('  ').empty).toBe(true)
    expect(parseLabelSelector('').toString()).toBe('')
    expect(parseLabelSelector('').matches({ a: 'b' })).toBe(true)
  })

  it('matches equality, sets, existence and integer comparisons as apimachinery does', () => {
    const l = { app: 'web', tier: 'front', n: '7' }
    expect(parseLabelSelector('app=web').matches(l)).toBe(true)
    expect(parseLabelSelector('app==db').matches(l)).toBe(false)
    expect(parseLabelSelector('app!=db').matches(l)).toBe(true)
    expect(parseLabelSelector('missing!=x').matches(l)).toBe(true)
    expect(parseLabelSelector('tier in (front,back)').matches(l)).toBe(true)
    expect(parseLabelSelector('tier notin (front)').matches(l)).toBe(false)
    expect(parseLabelSelector('missing notin (front)').matches(l)).toBe(true)
    expect(parseLabelSelector('missing in (front)').matches(l)).toBe(false)
    expect(parseLabelSelector('app').matches(l)).toBe(true)
    expect(parseLabelSelector('!app').matches(l)).toBe(false)
    expect(parseLabelSelector('!missing').matches(l)).toBe(true)
    expect(parseLabelSelector('n>5').matches(l)).toBe(true)
    expect(parseLabelSelector('n<5').matches(l)).toBe(false)
    expect(parseLabelSelector('app>5').matches(l)).toBe(false)
    expect(parseLabelSelector('missing>5').matches(l)).toBe(false)
    expect(parseLabelSelector('app=web,tier=back').matches(l)).toBe(false)
    expect(parseLabelSelector('app=web').matches(undefined)).toBe(false)
    expect(parseLabelSelector('!app').matches(undefined)).toBe(true)
  })

  it('takes empty values: "a=", "a in ()", "a in (,b)"', () => {
    expect(parseLabelSelector('a=').matches({ a: '' })).toBe(true)
    expect(parseLabelSelector('a=').toString()).toBe('a=')
    expect(parseLabelSelector('a in ()').toString()).toBe('a in ()')
    expect(parseLabelSelector('a in (,b)').toString()).toBe('a in (,b)')
    expect(parseLabelSelector('a in (b,,c)').toString()).toBe('a in (,b,c)')
    expect(parseLabelSelector('a in (b,)').toString()).toBe('a in (,b)')
  })

  it('dedupes and sorts set values, reads in/notin as values inside parentheses', () => {
    expect(parseLabelSelector('x in (b,a,b)').toString()).toBe('x in (a,b)')
    expect(parseLabelSelector('x in (in,notin)').toString()).toBe('x in (in,notin)')
    expect(parseLabelSelector('in in (in)').toString()).toBe('in in (in)')
    expect(parseLabelSelector(' a = b , c ').toString()).toBe('a=b,c')
  })

  it('reports RequiresExactMatch', () => {
    const s = parseLabelSelector('a=b,c in (d),e in (f,g),h!=i')
    expect(s.requiresExactMatch('a')).toBe('b')
    expect(s.requiresExactMatch('c')).toBe('d')
    expect(s.requiresExactMatch('e')).toBeUndefined()
    expect(s.requiresExactMatch('h')).toBeUndefined()
  })

  it('answers an unterminated set with 400 BadRequest and labels.Parse wording', () => {
    expect(parseError('a in (b')).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: "unable to parse requirement: found '', expected: ',' or ')'",
    })
  })

  it('reports grammar errors word for word', () => {
    expect(parseError('a in b').message).toBe(
      "unable to parse requirement: found 'b' expected: '('",
    )
    expect(parseError('a b').message).toBe(
      "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
    )
    expect(parseError('a=b c').message).toBe("found 'c', expected: ',' or 'end of string'")
    expect(parseError('a=b,').message).toBe("found '', expected: identifier after ','")
    expect(parseError('a=b,=c').message).toBe("found '=', expected: identifier after ','")
    expect(parseError('=a').message).toBe("found '=', expected: !, identifier, or 'end of string'")
    expect(parseError('a in (b c)').message).toBe(
      "unable to parse requirement: found 'c', expected: ',' or ')'",
    )
    expect(parseError('a in (=)').message).toBe(
      "unable to parse requirement: found '=', expected: ',', ')' or identifier",
    )
    expect(parseError('a in (b,=)').message).toBe(
      "unable to parse requirement: found '=', expected: ',', or identifier",
    )
    expect(parseLabelSelector('a==,b').toString()).toBe('a==,b')
    expect(parseError('a=(').message).toBe(
      "unable to parse requirement: found '(', expected: identifier",
    )
    expect(parseError('!=a').message).toBe(
      "found '!=', expected: !, identifier, or 'end of string'",
    )
    expect(parseError('!!a').message).toBe(
      "unable to parse requirement: found '!', expected: identifier",
    )
    expect(parseError('!a=b').message).toBe("found '=', expected: ',' or 'end of string'")
  })

  it("reports an invalid key with the parser's nil field path", () => {
    expect(parseError('A_').message).toBe(
      `unable to parse requirement: <nil>: Invalid value: "A_": ${nameRegex}`,
    )
    expect(parseError('a/b/c').message).toBe(
      "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    )
    expect(parseError('/a').message).toBe(
      'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty',
    )
    expect(parseError('Ex.com/a').message).toBe(
      "unable to parse requirement: <nil>: Invalid value: \"Ex.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    )
    expect(parseError('a/').message).toBe(
      `unable to parse requirement: <nil>: Invalid value: "a/": name part must be non-empty; ${nameRegex}`,
    )
    expect(parseError('a'.repeat(64)).message).toBe(
      `unable to parse requirement: <nil>: Invalid value: "${'a'.repeat(64)}": name part must be no more than 63 characters`,
    )
  })

  it('reports an invalid value with its values[i][key] path', () => {
    expect(parseError('a=b_').message).toBe(
      `unable to parse requirement: values[0][a]: Invalid value: "b_": ${valueRegex}`,
    )
    expect(parseError(`a=${'b'.repeat(64)}`).message).toBe(
      `unable to parse requirement: values[0][a]: Invalid value: "${'b'.repeat(64)}": must be no more than 63 characters`,
    )
    expect(parseError('a in (x_,y_)').message).toBe(
      `unable to parse requirement: [values[0][a]: Invalid value: "x_": ${valueRegex}, values[1][a]: Invalid value: "y_": ${valueRegex}]`,
    )
  })

  it('requires integers for gt and lt', () => {
    expect(parseError('a>b').message).toBe(
      `unable to parse requirement: values[0]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer`,
    )
    expect(parseError('a<').message).toBe(
      `unable to parse requirement: values[0]: Invalid value: "": for 'Gt', 'Lt' operators, the value must be an integer`,
    )
    expect(parseError('a>-1').message).toBe(
      `unable to parse requirement: values[0][a]: Invalid value: "-1": ${valueRegex}`,
    )
  })
})

describe('labelSelectorFromObject (metav1.LabelSelectorAsSelector)', () => {
  it('selects nothing for a nil selector and everything for an empty one', () => {
    expect(labelSelectorFromObject(undefined).matches({})).toBe(false)
    expect(labelSelectorFromObject(null).empty).toBe(false)
    expect(labelSelectorFromObject({}).matches({})).toBe(true)
    expect(labelSelectorFromObject({}).empty).toBe(true)
  })

  it('combines matchLabels and matchExpressions', () => {
    const s = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['b', 'a'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'x', operator: 'Exists' },
        { key: 'y', operator: 'DoesNotExist' },
      ],
    })
    expect(s.toString()).toBe('app=web,env notin (prod),tier in (a,b),x,!y')
    expect(s.matches({ app: 'web', tier: 'a', x: '' })).toBe(true)
    expect(s.matches({ app: 'web', tier: 'a', x: '', y: '1' })).toBe(false)
  })

  it('rejects an unknown operator and invalid requirements with apimachinery messages', () => {
    expect(() =>
      labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo', values: [] }] }),
    ).toThrow('"Foo" is not a valid label selector operator')
    expect(() =>
      labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
    ).toThrow(
      "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
    )
    expect(() =>
      labelSelectorFromObject({
        matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }],
      }),
    ).toThrow(
      'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
    )
    expect(() => labelSelectorFromObject({ matchLabels: { 'a b': 'c' } })).toThrow(
      `key: Invalid value: "a b": ${nameRegex}`,
    )
  })

  it('prints the forms the scale subresource and kubectl use', () => {
    expect(labelSelectorToString({ matchLabels: { b: '2', a: '1' } })).toBe('a=1,b=2')
    expect(labelSelectorToString({})).toBe('')
    expect(formatLabelSelector({})).toBe('<none>')
    expect(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Bad' }] })).toBe(
      '<error>',
    )
    expect(labelSelectorFromSet({ b: '2', a: '1' }).toString()).toBe('a=1,b=2')
  })
})

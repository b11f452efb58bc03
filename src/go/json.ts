// Decoding JSON the way Go's encoding/json reports it (the messages kube-apiserver returns for a malformed
// patch body come from there), and printing decoded values as Go's fmt does (%v, %s, reflect type names),
// which strategic merge patch errors embed.
import { compareStrings } from './fmt'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue }

/** json.SyntaxError and the "unexpected end of JSON input" of json.Unmarshal. */
export class GoJsonSyntaxError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'GoJsonSyntaxError'
  }
}

const utf8 = new TextEncoder()

// encoding/json's quoteChar: the offending byte, printed as strconv.Quote prints string(byte).
function quoteChar(ch: string): string {
  if (ch === "'") return "'\\''"
  if (ch === '"') return `'"'`
  const b = utf8.encode(ch)[0]
  const c = String.fromCharCode(b)
  if (b < 0x20 || b === 0x7f) {
    const named: Record<number, string> = {
      7: '\\a',
      8: '\\b',
      9: '\\t',
      10: '\\n',
      11: '\\v',
      12: '\\f',
      13: '\\r',
    }
    return `'${named[b] ?? `\\x${b.toString(16).padStart(2, '0')}`}'`
  }
  if (c === '\\') return "'\\\\'"
  if (b >= 0x80 && b < 0xa0) return `'\\u${b.toString(16).padStart(4, '0')}'`
  if (b === 0xa0 || b === 0xad) return `'\\u00${b.toString(16)}'`
  return `'${c}'`
}

/** encoding/json's maxNestingDepth (sigs.k8s.io/json, which kube decodes with, keeps it). */
export const MAX_NESTING_DEPTH = 10000

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n'
const isDigit = (c: string) => c >= '0' && c <= '9'
const isHex = (c: string) => /^[0-9a-fA-F]$/.test(c)

export interface DecodeOptions {
  /** Collects kjson.UnmarshalStrict's duplicate field errors ("duplicate field \"a.b\""). */
  duplicates?: string[]
  /** Replaces each non-null scalar with what this returns, given the literal's text as written. */
  leaf?: (raw: string, value: JsonValue) => unknown
}

/**
 * json.Unmarshal into interface{}: the value, or GoJsonSyntaxError with encoding/json's message for the
 * first offending byte (checkValid scans the whole input before decoding anything).
 */
export function decodeGoJson(text: string, opts: DecodeOptions = {}): JsonValue {
  let i = 0
  const n = text.length
  const fail = (context: string): never => {
    if (i >= n) throw new GoJsonSyntaxError('unexpected end of JSON input')
    throw new GoJsonSyntaxError(
      `invalid character ${quoteChar(String.fromCodePoint(text.codePointAt(i)!))} ${context}`,
    )
  }
  const skip = () => {
    while (i < n && isSpace(text[i])) i++
  }

  const literal = (word: string, value: JsonValue): JsonValue => {
    for (let k = 1; k < word.length; k++) {
      i++
      if (i >= n) fail('')
      if (text[i] !== word[k]) fail(`in literal ${word} (expecting ${quoteChar(word[k])})`)
    }
    i++
    return value
  }

  const string = (): string => {
    // text[i] === '"'
    i++
    let out = ''
    for (;;) {
      if (i >= n) fail('')
      const c = text[i]
      if (c === '"') {
        i++
        return out
      }
      if (c === '\\') {
        i++
        if (i >= n) fail('')
        const e = text[i]
        const simple: Record<string, string> = {
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
          '\\': '\\',
          '/': '/',
          '"': '"',
        }
        if (e in simple) {
          out += simple[e]
          i++
        } else if (e === 'u') {
          let hex = ''
          for (let k = 0; k < 4; k++) {
            i++
            if (i >= n) fail('')
            if (!isHex(text[i])) fail('in \\u hexadecimal character escape')
            hex += text[i]
          }
          out += String.fromCharCode(parseInt(hex, 16))
          i++
        } else {
          fail('in string escape code')
        }
        continue
      }
      if (c < ' ') fail('in string literal')
      out += c
      i++
    }
  }

  const number = (): number => {
    const start = i
    if (text[i] === '-') {
      i++
      if (i >= n) fail('')
      if (!isDigit(text[i])) fail('in numeric literal')
    }
    if (text[i] === '0') i++
    else while (i < n && isDigit(text[i])) i++
    if (i < n && text[i] === '.') {
      i++
      if (i >= n) fail('')
      if (!isDigit(text[i])) fail('after decimal point in numeric literal')
      while (i < n && isDigit(text[i])) i++
    }
    if (i < n && (text[i] === 'e' || text[i] === 'E')) {
      i++
      if (i < n && (text[i] === '+' || text[i] === '-')) i++
      if (i >= n) fail('')
      if (!isDigit(text[i])) fail('in exponent of numeric literal')
      while (i < n && isDigit(text[i])) i++
    }
    return Number(text.slice(start, i))
  }

  const scalar = (c: string): JsonValue => {
    const start = i
    let v: JsonValue
    if (c === '"') v = string()
    else if (c === '-' || isDigit(c)) v = number()
    else if (c === 't') v = literal('true', true)
    else if (c === 'f') v = literal('false', false)
    else if (c === 'n') return literal('null', null)
    else return fail('looking for beginning of value')
    return opts.leaf ? (opts.leaf(text.slice(start, i), v) as JsonValue) : v
  }

  // The open objects and arrays, innermost last: an explicit stack, so that nesting as deep as Go's
  // scanner allows costs no JavaScript stack. An object frame holds the key its next value goes to.
  interface Frame {
    obj?: { [k: string]: JsonValue }
    arr?: JsonValue[]
    key: string
  }
  const stack: Frame[] = []
  // kjson.UnmarshalStrict's field path ("a.b[0].c"), built only when a duplicate is found.
  const pathTo = (key: string): string => {
    let p = ''
    for (const f of stack) {
      if (f.arr) p += `[${f.arr.length}]`
      else p = p ? `${p}.${f.key}` : f.key
    }
    return p ? `${p}.${key}` : key
  }
  const objectKey = (frame: Frame) => {
    skip()
    if (i >= n) fail('')
    if (text[i] !== '"') fail('looking for beginning of object key string')
    frame.key = string()
    skip()
    if (i >= n) fail('')
    if (text[i] !== ':') fail('after object key')
    i++
  }

  let result: JsonValue
  value: for (;;) {
    skip()
    if (i >= n) fail('')
    const c = text[i]
    let v: JsonValue
    if (c === '{' || c === '[') {
      // encoding/json's scanner refuses the container that opens past maxNestingDepth.
      if (stack.length >= MAX_NESTING_DEPTH) fail('exceeded max depth')
      i++
      skip()
      if (c === '{') {
        if (i < n && text[i] === '}') {
          i++
          v = {}
        } else {
          const frame: Frame = { obj: {}, key: '' }
          objectKey(frame)
          stack.push(frame)
          continue value
        }
      } else if (i < n && text[i] === ']') {
        i++
        v = []
      } else {
        stack.push({ arr: [], key: '' })
        continue value
      }
    } else {
      v = scalar(c)
    }
    // A value is complete: hand it to the container it is in, closing every container that ends with it.
    for (;;) {
      const top = stack[stack.length - 1]
      if (!top) {
        result = v
        break value
      }
      if (top.arr) {
        top.arr.push(v)
        skip()
        if (i >= n) fail('')
        if (text[i] === ',') {
          i++
          continue value
        }
        if (text[i] !== ']') fail('after array element')
        i++
        stack.pop()
        v = top.arr
        continue
      }
      const obj = top.obj!
      if (opts.duplicates && Object.prototype.hasOwnProperty.call(obj, top.key)) {
        stack.pop()
        opts.duplicates.push(`duplicate field "${pathTo(top.key)}"`)
        stack.push(top)
      }
      // Object.defineProperty keeps a "__proto__" key an ordinary property.
      Object.defineProperty(obj, top.key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      })
      skip()
      if (i >= n) fail('')
      if (text[i] === ',') {
        i++
        objectKey(top)
        continue value
      }
      if (text[i] !== '}') fail('after object key:value pair')
      i++
      stack.pop()
      v = obj
    }
  }
  skip()
  if (i < n) fail('after top-level value')
  return result
}

/** The JSON type name json.UnmarshalTypeError reports ("object", "array", "string", "number", "bool"). */
export function jsonKind(v: JsonValue): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'object') return 'object'
  if (typeof v === 'boolean') return 'bool'
  return typeof v
}

export function isObject(v: unknown): v is Record<string, JsonValue> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

// ---- Go's fmt for decoded JSON values ----

// fmt's %v of a float64, strconv.FormatFloat(f, 'g', -1, 64): the shortest digits, in %e form when the
// decimal exponent is below -4 or at least 6.
function formatFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN'
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf'
  const [mant, expStr] = f.toExponential().split('e')
  const exp = Number(expStr)
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+'
    return `${mant}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`
  }
  const digits = mant.replace('-', '').replace('.', '')
  const neg = f < 0 ? '-' : ''
  if (exp < 0) return `${neg}0.${'0'.repeat(-exp - 1)}${digits}`
  if (digits.length <= exp + 1) return neg + digits + '0'.repeat(exp + 1 - digits.length)
  return `${neg}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
}

/**
 * fmt %v of a value decoded by kjson.UnmarshalCaseSensitivePreserveInts: integers are int64, other numbers
 * float64, objects map[string]interface{} printed with sorted keys.
 */
export function goSprint(v: unknown): string {
  if (v === null || v === undefined) return '<nil>'
  if (typeof v === 'string') return v
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'number')
    return Number.isInteger(v) && Math.abs(v) < 2 ** 63 ? BigInt(v).toString() : formatFloat(v)
  if (Array.isArray(v)) return `[${v.map(goSprint).join(' ')}]`
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort(compareStrings)
    return `map[${keys.map((k) => `${k}:${goSprint((v as Record<string, unknown>)[k])}`).join(' ')}]`
  }
  return String(v)
}

/** fmt %s of an interface value: strings as they are, other scalars as %!s(type=value). */
export function goSprintS(v: unknown): string {
  if (typeof v === 'string') return v
  if (v === null || v === undefined) return '%!s(<nil>)'
  if (typeof v === 'number' || typeof v === 'boolean') return `%!s(${goTypeName(v)}=${goSprint(v)})`
  return goSprint(v)
}

/** reflect.TypeOf(v).String() for decoded JSON, as mergepatch.ErrBadArgType prints it (%s of a nil Type: "%!s(<nil>)"). */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '%!s(<nil>)'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64'
  if (Array.isArray(v)) return '[]interface {}'
  return 'map[string]interface {}'
}

/**
 * json.Marshal of a decoded value: map keys sorted, and <, >, &, U+2028 and U+2029 escaped as encoding/json
 * escapes them for HTML.
 */
export function goJsonMarshal(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (Array.isArray(v)) return `[${v.map(goJsonMarshal).join(',')}]`
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort(compareStrings)
    return `{${keys.map((k) => `${goJsonString(k)}:${goJsonMarshal((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return typeof v === 'string' ? goJsonString(v) : JSON.stringify(v)
}

function goJsonString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** A deep copy of a JSON value (patches never mutate the object they are given). */
export function cloneJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(cloneJson) as T
  const out: Record<string, unknown> = {}
  for (const [k, val] of Object.entries(v)) {
    Object.defineProperty(out, k, {
      value: cloneJson(val),
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return out as T
}

/** Structural equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]))
  }
  const ak = Object.keys(a)
  const bo = b as Record<string, unknown>
  if (ak.length !== Object.keys(bo).length) return false
  return ak.every(
    (k) =>
      Object.prototype.hasOwnProperty.call(bo, k) &&
      jsonEqual((a as Record<string, unknown>)[k], bo[k]),
  )
}

// List continue tokens as k8s.io/apiserver/pkg/storage/continue.go writes and reads them: base64url
// without padding of {"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key after the prefix>\u0000"}, and
// every way a token can be refused is the storage layer's 400 "invalid continue token: ...".
import { badRequest, type StatusError } from '../server/errors'
import { goEqualFold } from '../go/fmt'
import { decodeGoJson, jsonKind, type JsonValue } from '../go/json'
import { errorText } from '../util/errors'

/** rv < 0: the inconsistent continuation kube-apiserver hands out with an expired token; read at the latest revision. */
export interface ContinueToken {
  rv: number
  start: string
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** base64.RawURLEncoding.EncodeToString */
function encodeRawURL(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6))
    for (let k = 0; k < chars; k++) out += B64URL[(n >> (18 - 6 * k)) & 63]
  }
  return out
}

/** base64.RawURLEncoding.DecodeString: CR and LF are skipped; the first other byte outside the alphabet fails. */
function decodeRawURL(s: string): Uint8Array {
  const out: number[] = []
  let acc = 0
  let bits = 0
  let lastIndex = -1
  let count = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '\r' || c === '\n') continue
    const v = B64URL.indexOf(c)
    if (v < 0 || c.length !== 1)
      throw new Error(
        `illegal base64 data at input byte ${new TextEncoder().encode(s.slice(0, i)).length}`,
      )
    acc = (acc << 6) | v
    bits += 6
    count++
    lastIndex = i
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }
  // A lone character in the last quantum carries fewer than 8 bits: Go reports the byte after the data.
  if (count % 4 === 1)
    throw new Error(
      `illegal base64 data at input byte ${new TextEncoder().encode(s.slice(0, lastIndex)).length}`,
    )
  return Uint8Array.from(out)
}

/** json.Marshal's string escaping beyond JSON.stringify's: HTML-safe <, > and &, and U+2028/U+2029. */
function goJSONString(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

export function encodeContinue(rv: number, lastKeyRelative: string): string {
  const json = goJSONString({ v: 'meta.k8s.io/v1', rv, start: lastKeyRelative + '\u0000' })
  return encodeRawURL(new TextEncoder().encode(json))
}

const invalidToken = (why: string): StatusError => badRequest(`invalid continue token: ${why}`)
const GENERIC = 'continue key is not valid'

/** A number literal as written, so that rv converts as encoding/json converts into an int64. */
class NumberLiteral {
  constructor(readonly raw: string) {}
}

/** json.Unmarshal into continueToken: the first UnmarshalTypeError, fields matched case-insensitively. */
function unmarshalToken(data: string): { v: string; rv: bigint; start: string } {
  const parsed = decodeGoJson(data, {
    leaf: (raw, value) => (typeof value === 'number' ? new NumberLiteral(raw) : value),
  }) as unknown
  const token = { v: '', rv: 0n, start: '' }
  if (parsed === null) return token
  if (typeof parsed !== 'object' || Array.isArray(parsed) || isNumber(parsed)) {
    throw new Error(
      `json: cannot unmarshal ${isNumber(parsed) ? 'number' : jsonKind(parsed as JsonValue)} into Go value of type storage.continueToken`,
    )
  }
  let firstError: string | undefined
  const typeError = (value: unknown, field: string, type: string) => {
    const what = isNumber(value)
      ? `number${type === 'string' ? '' : ` ${value.raw}`}`
      : jsonKind(value as JsonValue)
    firstError ??= `json: cannot unmarshal ${what} into Go struct field continueToken.${field} of type ${type}`
  }
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const field =
      ['v', 'rv', 'start'].find((f) => f === key) ??
      ['v', 'rv', 'start'].find((f) => goEqualFold(key, f))
    if (!field || value === null) continue
    if (field === 'rv') {
      if (!isNumber(value)) typeError(value, field, 'int64')
      else if (
        !/^-?[0-9]+$/.test(value.raw) ||
        BigInt(value.raw) !== BigInt.asIntN(64, BigInt(value.raw))
      )
        typeError(value, field, 'int64')
      else token.rv = BigInt(value.raw)
    } else if (typeof value !== 'string') {
      typeError(value, field, 'string')
    } else {
      token[field as 'v' | 'start'] = value
    }
  }
  if (firstError) throw new Error(firstError)
  return token
}

function isNumber(v: unknown): v is NumberLiteral {
  return v instanceof NumberLiteral
}

/** path.Clean of a rooted path is the path itself: no empty, "." or ".." element and no trailing slash. */
function isCleanRooted(p: string): boolean {
  if (p === '/') return true
  if (p.endsWith('/')) return false
  return p
    .slice(1)
    .split('/')
    .every((e) => e !== '' && e !== '.' && e !== '..')
}

/** storage.DecodeContinue, with the 400 the storage layer answers for every refusal. */
export function decodeContinue(token: string): ContinueToken {
  let c: { v: string; rv: bigint; start: string }
  try {
    const data = decodeRawURL(token)
    c = unmarshalToken(new TextDecoder().decode(data))
  } catch (e) {
    const why = errorText(e)
    throw invalidToken(`${GENERIC}: ${why}`)
  }
  if (c.v !== 'meta.k8s.io/v1')
    throw invalidToken(`${GENERIC}: server does not recognize this encoded version ${c.v}`)
  if (c.rv === 0n)
    throw invalidToken(
      `${GENERIC}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)`,
    )
  if (c.start === '')
    throw invalidToken(`${GENERIC}: encoded start key empty (version meta.k8s.io/v1)`)
  // Against path traversal: the start key must stay under the list's prefix.
  const key = c.start.startsWith('/') ? c.start : `/${c.start}`
  if (!isCleanRooted(key)) throw invalidToken(`${GENERIC}: ${c.start}`)
  const start = key.slice(1)
  return { rv: Number(c.rv), start: start.endsWith('\u0000') ? start.slice(0, -1) : start }
}

// The shared query decoder against Go's own answers: strconv.ParseInt(s, 10, 64), runtime's
// Convert_Slice_string_To_bool, strconv.ParseBool, and the options kinds built from them.
import { describe, expect, it } from 'vitest'
import { wantsPrettyJSON } from '../../src/api/pretty'
import { watchTimeoutMs } from '../../src/api/handlers/watch'
import {
  decodeDeleteOptions,
  decodeListOptions,
  decodeWriteOptions,
  goParseBool,
  goParseInt64,
  goQueryBool,
  isWatchRequest,
  QUERY_PARAMETERS,
} from '../../src/api/query'
import { StatusError } from '../../src/server/errors'

describe('goParseInt64 (strconv.ParseInt base 10, 64 bits)', () => {
  const accepted: [string, bigint][] = [
    ['0', 0n],
    ['-0', 0n],
    ['+0', 0n],
    ['42', 42n],
    ['+42', 42n],
    ['-42', -42n],
    ['007', 7n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    ['00000000000000000000000000000001', 1n],
  ]
  it.each(accepted)('accepts %j', (s, v) => {
    expect(goParseInt64(s)).toBe(v)
  })

  const refused: [string, string][] = [
    ['', 'strconv.ParseInt: parsing "": invalid syntax'],
    ['abc', 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ['+', 'strconv.ParseInt: parsing "+": invalid syntax'],
    ['-', 'strconv.ParseInt: parsing "-": invalid syntax'],
    [' 1', 'strconv.ParseInt: parsing " 1": invalid syntax'],
    ['1 ', 'strconv.ParseInt: parsing "1 ": invalid syntax'],
    ['1.5', 'strconv.ParseInt: parsing "1.5": invalid syntax'],
    ['1e3', 'strconv.ParseInt: parsing "1e3": invalid syntax'],
    ['0x10', 'strconv.ParseInt: parsing "0x10": invalid syntax'],
    ['1_000', 'strconv.ParseInt: parsing "1_000": invalid syntax'],
    ['--1', 'strconv.ParseInt: parsing "--1": invalid syntax'],
    ['\u0661', 'strconv.ParseInt: parsing "\u0661": invalid syntax'], // ARABIC-INDIC DIGIT ONE is not a digit to Go
    ['a\tb', 'strconv.ParseInt: parsing "a\\tb": invalid syntax'],
    ['9223372036854775808', 'strconv.ParseInt: parsing "9223372036854775808": value out of range'],
    [
      '-9223372036854775809',
      'strconv.ParseInt: parsing "-9223372036854775809": value out of range',
    ],
    [
      '18446744073709551616',
      'strconv.ParseInt: parsing "18446744073709551616": value out of range',
    ],
    // ParseUint stops at the overflow before it sees the bad byte.
    [
      '99999999999999999999x',
      'strconv.ParseInt: parsing "99999999999999999999x": value out of range',
    ],
    ['9223372036854775808x', 'strconv.ParseInt: parsing "9223372036854775808x": invalid syntax'],
  ]
  it.each(refused)("refuses %j with Go's message", (s, message) => {
    expect(() => goParseInt64(s)).toThrowError(message)
  })
})

describe('goQueryBool (runtime.Convert_Slice_string_To_bool)', () => {
  const cases: [string, boolean][] = [
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['1', true],
    ['', true],
    ['yes', true],
    ['t', true],
    ['2', true],
    ['no', true],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['fAlSe', false],
    ['0', false],
    ['fal\u017fe', false], // strings.EqualFold folds the long s onto "s"
    ['00', true],
    [' false', true],
    ['f', true],
    ['off', true],
  ]
  it.each(cases)('%j is %s', (s, v) => {
    expect(goQueryBool(s)).toBe(v)
  })
})

describe('goParseBool (strconv.ParseBool, for pretty)', () => {
  const cases: [string, boolean | undefined][] = [
    ['1', true],
    ['t', true],
    ['T', true],
    ['TRUE', true],
    ['true', true],
    ['True', true],
    ['0', false],
    ['f', false],
    ['F', false],
    ['FALSE', false],
    ['false', false],
    ['False', false],
    ['tRUE', undefined],
    ['yes', undefined],
    ['', undefined],
  ]
  it.each(cases)('%j is %s', (s, v) => {
    expect(goParseBool(s)).toBe(v)
  })
})

function badRequest(fn: () => unknown): { code: number; reason: string; message: string } {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(StatusError)
    const s = (e as StatusError).toStatus()
    return { code: s.code, reason: String(s.reason), message: s.message! }
  }
  throw new Error('expected a StatusError')
}

describe('decodeListOptions', () => {
  it('reads each field with its Go type and takes the first of repeated values', () => {
    const o = decodeListOptions(
      new URLSearchParams(
        'watch=True&allowWatchBookmarks&limit=5&limit=x&timeoutSeconds=-3&sendInitialEvents=FALSE&labelSelector=a%3Db&continue=c',
      ),
    )
    expect(o).toEqual({
      labelSelector: 'a=b',
      fieldSelector: '',
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: '',
      resourceVersionMatch: '',
      timeoutSeconds: -3n,
      limit: 5,
      continue: 'c',
      sendInitialEvents: false,
    })
    expect(decodeListOptions(new URLSearchParams('')).sendInitialEvents).toBeUndefined()
    expect(decodeListOptions(new URLSearchParams('')).timeoutSeconds).toBeUndefined()
  })

  it('takes the largest int64 limit, capped where a JavaScript number stays exact', () => {
    expect(decodeListOptions(new URLSearchParams('limit=9223372036854775807')).limit).toBe(
      Number.MAX_SAFE_INTEGER,
    )
    expect(decodeListOptions(new URLSearchParams('limit=-9223372036854775808')).limit).toBe(
      -9223372036854775808,
    )
  })

  const refused: [string, string][] = [
    ['limit=abc', 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ['limit=', 'strconv.ParseInt: parsing "": invalid syntax'],
    [
      'limit=9223372036854775808',
      'strconv.ParseInt: parsing "9223372036854775808": value out of range',
    ],
    ['timeoutSeconds=abc', 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ['timeoutSeconds=1e2', 'strconv.ParseInt: parsing "1e2": invalid syntax'],
    // The generated conversion reads timeoutSeconds before limit.
    ['limit=x&timeoutSeconds=y', 'strconv.ParseInt: parsing "y": invalid syntax'],
  ]
  it.each(refused)("answers %s with 400 BadRequest and strconv's message", (q, message) => {
    expect(badRequest(() => decodeListOptions(new URLSearchParams(q)))).toEqual({
      code: 400,
      reason: 'BadRequest',
      message,
    })
  })
})

describe('decodeDeleteOptions and decodeWriteOptions', () => {
  it('reads pointers only when present', () => {
    expect(decodeDeleteOptions(new URLSearchParams(''))).toEqual({ dryRun: [] })
    expect(
      decodeDeleteOptions(
        new URLSearchParams(
          'gracePeriodSeconds=0&orphanDependents=FALSE&propagationPolicy=Foreground&dryRun=All',
        ),
      ),
    ).toEqual({
      gracePeriodSeconds: 0,
      orphanDependents: false,
      propagationPolicy: 'Foreground',
      dryRun: ['All'],
    })
    expect(decodeDeleteOptions(new URLSearchParams('orphanDependents')).orphanDependents).toBe(true)
    expect(
      badRequest(() => decodeDeleteOptions(new URLSearchParams('gracePeriodSeconds=soon'))).message,
    ).toBe('strconv.ParseInt: parsing "soon": invalid syntax')
  })

  it('reads force for PatchOptions only, in any spelling Go takes', () => {
    expect(
      decodeWriteOptions(new URLSearchParams('force=True&fieldManager=m'), 'PatchOptions'),
    ).toEqual({ dryRun: [], fieldManager: 'm', fieldValidation: '', force: true })
    expect(decodeWriteOptions(new URLSearchParams('force=0'), 'PatchOptions').force).toBe(false)
    expect(
      decodeWriteOptions(new URLSearchParams('force=true'), 'CreateOptions').force,
    ).toBeUndefined()
  })
})

describe('isWatchRequest', () => {
  it.each([
    ['watch=true', true],
    ['watch=True', true],
    ['watch=1', true],
    ['watch', true],
    ['watch=false', false],
    ['watch=0', false],
    ['', false],
  ] as const)('%j', (q, v) => {
    expect(isWatchRequest(new URLSearchParams(q))).toBe(v)
  })
})

describe('QUERY_PARAMETERS', () => {
  it('names each parameter once, with who reads it', () => {
    const names = QUERY_PARAMETERS.map((p) => p.name)
    expect(new Set(names).size).toBe(names.length)
    for (const p of QUERY_PARAMETERS) expect(p.readBy.length).toBeGreaterThan(0)
    expect(names).toEqual(
      expect.arrayContaining([
        'watch',
        'limit',
        'timeoutSeconds',
        'continue',
        'gracePeriodSeconds',
        'orphanDependents',
        'force',
        'sendInitialEvents',
      ]),
    )
  })
})

describe("wantsPrettyJSON (negotiation's isPrettyPrint)", () => {
  const cases: [string, string | undefined, boolean][] = [
    ['pretty=true', undefined, true],
    ['pretty=T', 'kubectl/v1.34.0', true],
    ['pretty=yes', undefined, false],
    ['pretty=false', 'curl/8.5.0', false],
    ['pretty=', 'curl/8.5.0', true],
    ['', 'curl/8.5.0', true],
    ['', 'Wget/1.21', true],
    ['', 'Mozilla/5.0 (X11)', true],
    ['', 'kubectl/v1.34.0', false],
    ['', undefined, false],
  ]
  it.each(cases)('%j with User-Agent %j is %s', (q, ua, v) => {
    expect(wantsPrettyJSON(new URLSearchParams(q), ua)).toBe(v)
  })
})

describe('watchTimeoutMs (time.Duration(timeoutSeconds) * time.Second)', () => {
  it('is the randomized default for unset or 0', () => {
    for (const t of [undefined, 0n]) {
      const ms = watchTimeoutMs(t)
      expect(ms).toBeGreaterThanOrEqual(1800_000)
      expect(ms).toBeLessThan(3600_000)
    }
  })

  const cases: [bigint, number][] = [
    [1n, 1000],
    [-1n, 0],
    [9223372036n, 9223372036000],
    // Past int64 nanoseconds the product wraps as Go's does: negative ends the watch at once...
    [9223372037n, 0],
    // ...and a wrap back to a small positive duration is that duration.
    [18446744074n, 290],
  ]
  it.each(cases)('timeoutSeconds=%s runs %s ms', (t, ms) => {
    expect(watchTimeoutMs(t)).toBe(ms)
  })
})

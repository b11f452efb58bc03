import { describe, expect, it } from 'vitest'
import { GoDurationError, parseGoDuration, tryParseGoDuration } from '../../src/go/duration'

describe("Go's time.ParseDuration", () => {
  it.each([
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['5s', 5000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['.5s', 500],
    ['1.s', 1000],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['1000000ns', 1],
    ['-1m', -60_000],
    ['2h45m0.5s', 9_900_500],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms)
  })

  it.each([
    ['', 'time: invalid duration ""'],
    ['abc', 'time: invalid duration "abc"'],
    ['-', 'time: invalid duration "-"'],
    ['.', 'time: invalid duration "."'],
    ['.s', 'time: invalid duration ".s"'],
    ['5', 'time: missing unit in duration "5"'],
    ['1m5', 'time: missing unit in duration "1m5"'],
    ['5x', 'time: unknown unit "x" in duration "5x"'],
    ['5 s', 'time: unknown unit " s" in duration "5 s"'],
    ['3000000h', 'time: invalid duration "3000000h"'],
  ])('refuses %j with %s', (text, message) => {
    expect(() => parseGoDuration(text)).toThrow(new GoDurationError(message))
    expect(tryParseGoDuration(text)).toBeUndefined()
  })
})

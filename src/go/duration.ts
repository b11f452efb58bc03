// Go's time.ParseDuration with its error messages: flags, metav1.Duration fields and the `timeout` query
// parameter all read durations this way in kube-apiserver.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5
  μs: 1e-3, // U+03BC
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

export class GoDurationError extends Error {}

/** Milliseconds; throws GoDurationError with Go's message (`time: invalid duration "x"`, ...). */
export function parseGoDuration(text: string): number {
  const quoted = JSON.stringify(text)
  const invalid = () => new GoDurationError(`time: invalid duration ${quoted}`)
  let s = text
  let negative = false
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-'
    s = s.slice(1)
  }
  if (s === '0') return 0
  if (s === '') throw invalid()
  let total = 0
  while (s !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(s)!
    if (!(s[0] === '.' || (s[0]! >= '0' && s[0]! <= '9'))) throw invalid()
    if (!number[1] && !number[2]) throw invalid()
    s = s.slice(number[0].length)
    const unit = /^[^.0-9]*/.exec(s)![0]
    if (unit === '') throw new GoDurationError(`time: missing unit in duration ${quoted}`)
    const ms = UNIT_MS[unit]
    if (ms === undefined)
      throw new GoDurationError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`)
    s = s.slice(unit.length)
    total += Number(`${number[1] || '0'}.${number[2] || '0'}`) * ms
  }
  // Go keeps nanoseconds in an int64: past ~292 years it overflows.
  if (total > 9_223_372_036_854.775) throw invalid()
  return negative ? -total : total
}

/** parseGoDuration, or undefined where Go would fail. */
export function tryParseGoDuration(text: string): number | undefined {
  try {
    return parseGoDuration(text)
  } catch (e) {
    if (e instanceof GoDurationError) return undefined
    throw e
  }
}

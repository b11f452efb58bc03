// resource.Quantity as quota status needs it: exact sums (in nano-units, BigInt) and kube's canonical
// strings ("1500m", "192Mi", "2"). A sum takes the format of its first non-zero term, as Quantity.Add does.
export type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent'

export interface Quantity {
  nano: bigint
  format: Format
}

const NANO = 1_000_000_000n
const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n }
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 }
const SI_SUFFIXES: [string, number][] = [['E', 18], ['P', 15], ['T', 12], ['G', 9], ['M', 6], ['k', 3], ['', 0], ['m', -3], ['u', -6], ['n', -9]]
const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/

export const zero = (): Quantity => ({ nano: 0n, format: 'DecimalSI' })
export const count = (n: number): Quantity => ({ nano: BigInt(n) * NANO, format: 'DecimalSI' })

/** Parses a quantity; undefined when it is not one. Precision below 1n rounds up, as kube's does. */
export function parseQuantity(input: unknown): Quantity | undefined {
  if (typeof input === 'number' && Number.isFinite(input)) input = String(input)
  if (typeof input !== 'string') return undefined
  const m = QUANTITY.exec(input.trim())
  if (!m || (!m[2] && !m[3])) return undefined
  const [, sign, whole = '', frac = '', suffix = ''] = m
  const digits = BigInt((whole || '0') + frac)
  let nano: bigint
  let format: Format
  if (suffix in BINARY) {
    format = 'BinarySI'
    nano = ceilDiv(digits * BINARY[suffix]! * NANO, 10n ** BigInt(frac.length))
  } else {
    format = suffix in DECIMAL ? 'DecimalSI' : 'DecimalExponent'
    const shift = (suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1))) + 9 - frac.length
    nano = shift >= 0 ? digits * 10n ** BigInt(shift) : ceilDiv(digits, 10n ** BigInt(-shift))
  }
  return { nano: sign === '-' ? -nano : nano, format }
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n ? q + 1n : q
}

/** Quantity.Add: a zero receiver takes the other's format. */
export function add(a: Quantity, b: Quantity): Quantity {
  return { nano: a.nano + b.nano, format: a.nano === 0n ? b.format : a.format }
}

export function max(a: Quantity, b: Quantity): Quantity {
  return b.nano > a.nano ? b : a
}

/** Quantity.String(): the largest suffix of the format that leaves an integral mantissa. */
export function formatQuantity(q: Quantity): string {
  if (q.nano === 0n) return '0'
  const sign = q.nano < 0n ? '-' : ''
  const abs = q.nano < 0n ? -q.nano : q.nano
  // BinarySI only for whole values of at least 1024; anything else would round, so it prints as DecimalSI.
  if (q.format === 'BinarySI' && abs % NANO === 0n && abs >= 1024n * NANO) {
    const v = abs / NANO
    for (const suffix of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) if (v % BINARY[suffix]! === 0n) return `${sign}${v / BINARY[suffix]!}${suffix}`
    return `${sign}${v}`
  }
  for (const [suffix, exp] of SI_SUFFIXES) {
    const unit = 10n ** BigInt(exp + 9)
    if (abs % unit !== 0n) continue
    if (q.format === 'DecimalExponent') return `${sign}${abs / unit}${exp ? `e${exp}` : ''}`
    return `${sign}${abs / unit}${suffix}`
  }
  return `${sign}${abs}n`
}

/** The canonical string of a quantity written as text; text that is not a quantity comes back as is. */
export function canonical(input: unknown): string {
  const q = parseQuantity(input)
  return q ? formatQuantity(q) : String(input)
}

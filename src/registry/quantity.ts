// resource.Quantity (k8s.io/apimachinery/pkg/api/resource) as far as admission and quota need it: exact
// arithmetic in nano-units, comparisons, and the canonical string kube prints ("500m", "128Mi", "1536").
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent'

export interface Quantity {
  /** The value times 10^9, rounded up as kube rounds values finer than 1n. */
  nano: bigint
  format: QuantityFormat
}

const NANO = 1_000_000_000n
const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
}
const DECIMAL: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
}
const QUANTITY_RE = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/

export class QuantityParseError extends Error {}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a > 0n ? q + 1n : q
}

export function parseQuantity(input: string | number): Quantity {
  const s = typeof input === 'number' ? String(input) : input.trim()
  const m = QUANTITY_RE.exec(s)
  if (!m || (m[2] === '' && (m[3] ?? '') === ''))
    throw new QuantityParseError(
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    )
  const [, sign, whole, frac = '', suffix = ''] = m
  const digits = BigInt((whole || '0') + frac)
  const scale = frac.length
  let nano: bigint
  let format: QuantityFormat
  if (suffix in BINARY) {
    format = 'BinarySI'
    nano = ceilDiv(digits * BINARY[suffix] * NANO, 10n ** BigInt(scale))
  } else {
    const exp = suffix in DECIMAL ? DECIMAL[suffix] : Number(suffix.slice(1))
    format = suffix in DECIMAL ? 'DecimalSI' : 'DecimalExponent'
    const shift = exp + 9 - scale
    nano = shift >= 0 ? digits * 10n ** BigInt(shift) : ceilDiv(digits, 10n ** BigInt(-shift))
  }
  return { nano: sign === '-' ? -nano : nano, format }
}

export function tryParseQuantity(input: unknown): Quantity | undefined {
  if (typeof input !== 'string' && typeof input !== 'number') return undefined
  try {
    return parseQuantity(input)
  } catch {
    return undefined
  }
}

export function quantity(nano: bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
  return { nano, format }
}

export const ZERO: Quantity = { nano: 0n, format: 'DecimalSI' }
export const ONE: Quantity = { nano: NANO, format: 'DecimalSI' }

/** A count of objects as a quantity (quota's "pods: 3"). */
export function count(n: number): Quantity {
  return { nano: BigInt(n) * NANO, format: 'DecimalSI' }
}

/** Quantity.Add keeps the receiver's format, except that a zero receiver takes the other's. */
export function add(a: Quantity, b: Quantity): Quantity {
  return { nano: a.nano + b.nano, format: a.nano === 0n ? b.format : a.format }
}
export function max(a: Quantity, b: Quantity): Quantity {
  return b.nano > a.nano ? b : a
}
export function sub(a: Quantity, b: Quantity): Quantity {
  return { nano: a.nano - b.nano, format: a.format }
}
export function cmp(a: Quantity, b: Quantity): number {
  return a.nano < b.nano ? -1 : a.nano > b.nano ? 1 : 0
}

/** Quantity.String(): the canonical form in the quantity's format. */
export function formatQuantity(q: Quantity): string {
  const neg = q.nano < 0n
  const abs = neg ? -q.nano : q.nano
  if (abs === 0n) return '0'
  const sign = neg ? '-' : ''
  if (q.format === 'BinarySI' && abs % NANO === 0n && abs >= 1024n * NANO) {
    const v = abs / NANO
    for (const suffix of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
      if (v % BINARY[suffix] === 0n) return `${sign}${v / BINARY[suffix]}${suffix}`
    }
    return `${sign}${v}`
  }
  if (q.format === 'BinarySI' && abs % NANO === 0n) return `${sign}${abs / NANO}`
  // DecimalSI (and BinarySI with a fraction or below 1024): the largest SI suffix with an integral mantissa.
  const suffixes: [string, number][] = [
    ['E', 18],
    ['P', 15],
    ['T', 12],
    ['G', 9],
    ['M', 6],
    ['k', 3],
    ['', 0],
    ['m', -3],
    ['u', -6],
    ['n', -9],
  ]
  for (const [suffix, exp] of suffixes) {
    const unit = 10n ** BigInt(exp + 9)
    if (abs % unit === 0n) {
      if (q.format === 'DecimalExponent') return `${sign}${abs / unit}${exp === 0 ? '' : `e${exp}`}`
      return `${sign}${abs / unit}${suffix}`
    }
  }
  return `${sign}${abs}n`
}

/** The canonical string of a quantity given as text (what kube stores and prints for it). */
export function canonical(input: unknown): string {
  const q = tryParseQuantity(input)
  return q ? formatQuantity(q) : String(input)
}

/** A ResourceList (resource name → quantity string) parsed. Unparsable values are skipped. */
export type ResourceList = Map<string, Quantity>

export function parseResourceList(obj: unknown): ResourceList {
  const out: ResourceList = new Map()
  if (!obj || typeof obj !== 'object') return out
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const q = tryParseQuantity(v)
    if (q) out.set(k, q)
  }
  return out
}

export function resourceListToObject(list: ResourceList): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of [...list.keys()].sort()) out[k] = formatQuantity(list.get(k)!)
  return out
}

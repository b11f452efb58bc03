// Quota sums and kube's canonical quantity strings (resource.Quantity's String()).
import { describe, expect, it } from 'vitest'
import {
  add,
  canonical,
  formatQuantity,
  tryParseQuantity as parseQuantity,
  ZERO,
} from '../../src/registry/quantity'

const sum = (...qs: string[]) => formatQuantity(qs.map((q) => parseQuantity(q)!).reduce(add, ZERO))

describe('quantities', () => {
  it('prints the canonical form kube stores', () => {
    expect(
      ['1.5', '1000m', '12000', '1200', '0.5Gi', '1Ki', '1024', '1e3', '0', '100n', '2.5k'].map(
        canonical,
      ),
    ).toEqual(['1500m', '1', '12k', '1200', '512Mi', '1Ki', '1024', '1e3', '0', '100n', '2500'])
  })

  it('sums exactly, in the format of the first non-zero term', () => {
    expect(sum('100m', '250m')).toBe('350m')
    expect(sum('64Mi', '128Mi')).toBe('192Mi')
    expect(sum('1Gi', '512Mi')).toBe('1536Mi')
    expect(sum('100M', '1Gi')).toBe('1173741824') // DecimalSI first: no binary suffix
    expect(sum()).toBe('0')
  })

  it('refuses what is not a quantity', () => {
    expect(parseQuantity('abc')).toBeUndefined()
    expect(parseQuantity('1.2.3')).toBeUndefined()
    expect(canonical('lots')).toBe('lots')
  })
})

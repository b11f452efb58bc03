import { describe, expect, it } from 'vitest'
import { freshOrLastKnown } from '../../src/storage/last-known'
import { StoreError } from '../../src/storage/store'

const never = new Promise<string>(() => {})
const unreachable = () =>
  Promise.reject(new StoreError('Unreachable', '/registry/x', undefined, undefined, 'etcd down'))

describe('freshOrLastKnown', () => {
  it('answers the fresh read when the store answers in time', async () => {
    expect(await freshOrLastKnown(Promise.resolve('fresh'), () => 'old')).toBe('fresh')
  })

  it('goes on with the last known value when the store is unreachable or late', async () => {
    expect(await freshOrLastKnown(unreachable(), () => 'old')).toBe('old')
    expect(await freshOrLastKnown(never, () => 'old', 20)).toBe('old')
  })

  it("gives the store's own answer, error included, until something is known", async () => {
    await expect(freshOrLastKnown(unreachable(), () => undefined)).rejects.toThrow('etcd down')
  })

  it('does not hide errors other than an unreachable store', async () => {
    const conflict = Promise.reject(new StoreError('Conflict', '/registry/x'))
    await expect(freshOrLastKnown(conflict, () => 'old')).rejects.toThrow('Conflict')
  })
})

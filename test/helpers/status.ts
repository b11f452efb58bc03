// What a client would see of a failure: the Status a call throws (and a failed test if it throws none).
import { expect } from 'vitest'
import { StatusError, type Status } from '../../src/server/errors'

export function thrownStatus(fn: () => unknown): Status {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(StatusError)
    return (e as StatusError).toStatus()
  }
  throw new Error('expected a StatusError')
}

/** The code, reason and message of the Status fn throws. */
export function thrown(fn: () => unknown): {
  code: number
  reason: string | undefined
  message: string
} {
  const s = thrownStatus(fn)
  return { code: s.code, reason: s.reason, message: s.message ?? '' }
}

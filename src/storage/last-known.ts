import { isStoreError } from './store'

/** How long discovery and request routing wait for the store before going on with what they read last. */
export const LAST_KNOWN_WAIT_MS = 1000

/**
 * kube-apiserver answers discovery and routes requests from informer caches, which outlive an etcd outage.
 * Tables kept here the same way read the store through this: once something has been read, a store that is
 * unreachable or slower than `waitMs` leaves the caller with `lastKnown()`; before that, the read's own
 * outcome (an error included) is the answer.
 */
export async function freshOrLastKnown<T>(
  read: Promise<T>,
  lastKnown: () => T | undefined,
  waitMs = LAST_KNOWN_WAIT_MS,
): Promise<T> {
  const known = lastKnown()
  if (known === undefined) return read
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(lastKnown() ?? known), waitMs)
  })
  const fresh = read.catch((e) => {
    if (!isStoreError(e, 'Unreachable')) throw e
    return lastKnown() ?? known
  })
  try {
    return await Promise.race([fresh, late])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

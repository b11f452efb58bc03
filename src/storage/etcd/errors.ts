// etcd's errors arrive as gRPC status messages (etcd's rpctypes); the Store speaks StoreError.
import { GRPCUnavailableError, isRecoverableError } from 'etcd3'
import { errorText } from '../../util/errors'

/** mvcc.ErrCompacted: a read or watch at a revision compaction has removed. */
export function isCompactedError(e: unknown): boolean {
  return errorText(e).includes('required revision has been compacted')
}

/** mvcc.ErrFutureRev: a read at a revision the store has not reached. */
export function isFutureRevisionError(e: unknown): boolean {
  return errorText(e).includes('required revision is a future revision')
}

/** rpctypes.ErrRequestTooLarge (--max-request-bytes), or the gRPC message size limit. */
export function isTooLargeError(e: unknown): boolean {
  const m = errorText(e)
  return (
    m.includes('request is too large') ||
    m.includes('message larger than max') ||
    m.includes('trying to send message larger')
  )
}

/** etcd out of reach: no connection, a dropped one, or no answer before the call's deadline. */
export function isUnreachableError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && isRecoverableError(e as Error)
}

/**
 * A call that never left: no connection to send it on. Only such a write is safe to send again
 * (clientv3's isSafeRetryMutableRPC); any other failure leaves its outcome unknown.
 */
export function wasNotSent(e: unknown): boolean {
  return (
    e instanceof GRPCUnavailableError &&
    /No connection established|ECONNREFUSED|no connection available/.test(e.message)
  )
}

// Store errors become API errors here, one function per verb, as k8s.io/apiserver's storeerr
// (storage/errors/storage.go: InterpretCreateError, InterpretUpdateError, ...) turns storage errors into
// the Status a client sees. The generic registry store and the watch handler call nothing else.
import {
  alreadyExists,
  conflict,
  internalError,
  notFound,
  resourceExpired,
  StatusError,
  type GroupResource,
} from '../server/errors'
import { isStoreError, type StoreError } from '../storage/store'

/** storage.StorageError's codes (storage/errors.go), which its message names by number. */
const STORAGE_ERROR_CODES = {
  KeyNotFound: [1, 'key not found'],
  KeyExists: [2, 'key exists'],
  ResourceVersionConflicts: [3, 'resource version conflicts'],
  InvalidObj: [4, 'invalid object'],
  Unreachable: [5, 'server unreachable'],
} as const
export type StorageErrorCode = keyof typeof STORAGE_ERROR_CODES

/**
 * storage.StorageError's Error(): what kube-apiserver puts after "Operation cannot be fulfilled on ...: "
 * when a storage-level check fails, e.g. a delete precondition that no longer holds on a retry.
 */
export function storageErrorMessage(
  code: StorageErrorCode,
  key: string,
  additional?: string,
  resourceVersion = 0,
): string {
  const [n, text] = STORAGE_ERROR_CODES[code]
  return `StorageError: ${text}, Code: ${n}, Key: ${key}, ResourceVersion: ${resourceVersion}, AdditionalErrorMsg: ${additional ?? '<nil>'}`
}

/**
 * A storage precondition that failed (storage.Preconditions.Check: an InvalidObjError), as
 * InterpretUpdateError and InterpretDeleteError answer it: 409 Conflict with the storage error's text.
 */
export function preconditionFailed(
  gr: GroupResource,
  name: string,
  key: string,
  why: string,
): StatusError {
  return conflict(gr, name, storageErrorMessage('InvalidObj', key, why))
}

/**
 * What a write answers once its deadline passed with the store out of reach: the handlers' finisher
 * (endpoints/handlers/finisher) gives up at the request's deadline, at most 34 s for a write, and answers
 * 504 Timeout with the context's error.
 */
export function writeTimeout(): StatusError {
  return new StatusError(
    504,
    'Timeout',
    'Timeout: request did not complete within requested timeout - context deadline exceeded',
    {},
  )
}

/**
 * What a read answers once its deadline passed with the store out of reach: reads have no finisher, so
 * kube-apiserver's timeout filter (server/filters/timeout.go) answers, writing the bare Status (no kind or
 * apiVersion) as text. client-go cannot decode that, and kubectl says "the server was unable to return a
 * response in the time allotted, but may still be processing the request (get configmaps x)".
 */
export function readTimeout(): StatusError {
  const e = new StatusError(
    504,
    'Timeout',
    'Timeout: request did not complete within the allotted timeout',
    {},
  )
  e.bare = true
  return e
}

// kube's etcd3 store returns the etcd client's errors unclassified: an etcd that is down makes a call wait
// (the client waits for a connection) until the request's deadline, and the timeouts above answer. Our
// Store waits the same way and then throws Unreachable, which takes their place. storeerr's own mapping of
// an unreachable storage, NewServerTimeout, is for a storage that says so at once; etcd never does.

/** Other StoreErrors reaching a verb that does not expect them: an internal error, as storeerr's default. */
function unexpected(e: StoreError): StatusError {
  // A value past the store's limit (etcd's 1.5 MiB request limit): kube-apiserver passes etcd's error on as a
  // bare 500 (kubernetes/kubernetes#112152), and so do we, with etcd's words.
  if (e.code === 'TooLarge')
    return new StatusError(500, 'InternalError', 'etcdserver: request is too large')
  return internalError(e)
}

export function interpretGetError(e: unknown, gr: GroupResource, name: string): unknown {
  if (!isStoreError(e)) return e
  switch (e.code) {
    case 'NotFound':
      return notFound(gr, name)
    case 'Unreachable':
      return readTimeout()
    default:
      return unexpected(e)
  }
}

/**
 * A list's errors; `readRevision` is the revision the list read at. A Compacted read is 410 Expired: with a
 * continue token the caller answers it itself (it knows where to resume), so only the plain case is here.
 */
export function interpretListError(e: unknown, gr: GroupResource, readRevision: number): unknown {
  if (!isStoreError(e)) return e
  switch (e.code) {
    case 'NotFound':
      return notFound(gr, '')
    case 'Compacted':
      return resourceExpired(`too old resource version: ${readRevision} (${e.revision})`)
    case 'FutureRevision':
      return tooLargeResourceVersion(readRevision)
    case 'Unreachable':
      return readTimeout()
    default:
      return unexpected(e)
  }
}

export function interpretCreateError(e: unknown, gr: GroupResource, name: string): unknown {
  if (!isStoreError(e)) return e
  switch (e.code) {
    case 'KeyExists':
      return alreadyExists(gr, name)
    case 'Unreachable':
      return writeTimeout()
    default:
      return unexpected(e)
  }
}

export function interpretUpdateError(e: unknown, gr: GroupResource, name: string): unknown {
  if (!isStoreError(e)) return e
  switch (e.code) {
    case 'Conflict':
      return conflict(gr, name, storageErrorMessage('ResourceVersionConflicts', e.key))
    case 'KeyExists':
      return conflict(gr, name, storageErrorMessage('KeyExists', e.key))
    case 'NotFound':
      return notFound(gr, name)
    case 'Unreachable':
      return writeTimeout()
    default:
      return unexpected(e)
  }
}

export function interpretDeleteError(e: unknown, gr: GroupResource, name: string): unknown {
  if (!isStoreError(e)) return e
  switch (e.code) {
    case 'NotFound':
      return notFound(gr, name)
    case 'Conflict':
      return conflict(gr, name, storageErrorMessage('ResourceVersionConflicts', e.key))
    case 'Unreachable':
      return writeTimeout()
    default:
      return unexpected(e)
  }
}

/** A watch's errors, at its start or while it runs; `rv` is the revision it was asked to start after. */
export function interpretWatchError(e: unknown, rv: number): unknown {
  if (!isStoreError(e)) return e
  switch (e.code) {
    case 'Compacted':
      return resourceExpired(`too old resource version: ${rv} (${e.revision})`)
    case 'FutureRevision':
      return tooLargeResourceVersion(rv)
    case 'Unreachable':
      return readTimeout()
    default:
      return unexpected(e)
  }
}

/**
 * A store error that reached the top of a request uninterpreted: from a read the request path makes besides
 * its verb's own (an authorizer's or admission plugin's), so named by the request's HTTP method: a
 * store out of reach answers as the request's own reads or writes would.
 */
export function interpretStrayStoreError(e: unknown, method: string): unknown {
  if (!isStoreError(e)) return e
  if (e.code === 'Unreachable')
    return method === 'GET' || method === 'HEAD' ? readTimeout() : writeTimeout()
  return unexpected(e)
}

/** The watch cache's answer to a resourceVersion the store has not reached (storage.NewTooLargeResourceVersionError). */
export function tooLargeResourceVersion(rv: number): StatusError {
  return new StatusError(504, 'Timeout', `Too large resource version: ${rv}, current: unknown`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  })
}

// Errors as values, named after k8s.io/apimachinery/pkg/api/errors, rendered to a Status in one place.
import { goValue } from '../go/fmt'
import { errorText } from '../util/errors'

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'Forbidden'
  | 'Unauthorized'
  | 'Gone'
  | 'Expired'
  | 'TooManyRequests'
  | 'InternalError'
  | 'Timeout'
  | 'ServiceUnavailable'

export interface StatusCause {
  reason?: string
  message?: string
  field?: string
}
export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  uid?: string
  causes?: StatusCause[]
  retryAfterSeconds?: number
}

export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, unknown>
  status: 'Success' | 'Failure'
  message?: string
  reason?: StatusReason | string
  details?: StatusDetails
  code: number
}

/** A group and resource ("configmaps", "deployments.apps") as kube-apiserver names them in messages. */
export interface GroupResource {
  group: string
  resource: string
}
export interface GroupKind {
  group: string
  kind: string
}

export function qualifiedResource(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource
}
export function qualifiedKind(gk: GroupKind): string {
  return gk.group ? `${gk.kind}.${gk.group}` : gk.kind
}

export class StatusError extends Error {
  /**
   * Written as kube-apiserver's timeout filter writes its Status: without kind and apiVersion, as text
   * (see registry/store-errors.ts readTimeout).
   */
  bare = false

  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
    /** ListMeta carried by the Status: the continue token that resumes an expired list inconsistently. */
    readonly listMeta?: { continue?: string },
  ) {
    super(message)
    this.name = 'StatusError'
  }

  toStatus(): Status {
    // StatusReasonUnknown is "", which metav1.Status omits (omitempty); fields in metav1.Status's order.
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: { ...this.listMeta },
      status: 'Failure',
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    }
  }
}

function grDetails(gr: GroupResource, name?: string): StatusDetails {
  const d: StatusDetails = {}
  if (name !== undefined) d.name = name
  if (gr.group) d.group = gr.group
  d.kind = gr.resource
  return d
}

export function notFound(gr: GroupResource, name: string): StatusError {
  return new StatusError(
    404,
    'NotFound',
    `${qualifiedResource(gr)} "${name}" not found`,
    grDetails(gr, name),
  )
}

/** A path that names no served resource. */
export function notFoundPath(): StatusError {
  return new StatusError(404, 'NotFound', 'the server could not find the requested resource', {})
}

export function alreadyExists(gr: GroupResource, name: string): StatusError {
  return new StatusError(
    409,
    'AlreadyExists',
    `${qualifiedResource(gr)} "${name}" already exists`,
    grDetails(gr, name),
  )
}

export const OPTIMISTIC_LOCK_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again'

export function conflict(gr: GroupResource, name: string, why: string): StatusError {
  return new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(gr)} "${name}": ${why}`,
    grDetails(gr, name),
  )
}

/** A validation failure on one field, as field.Error renders it ("spec.replicas: Invalid value: -1: must be ..."). */
export interface FieldError {
  type:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueNotSupported'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate'
    | 'FieldValueTooLong'
    | 'FieldValueTypeInvalid'
    | 'FieldValueTooMany'
  field: string
  badValue?: unknown
  detail?: string
  /** For NotSupported: the allowed values. */
  supported?: string[]
}

export function fieldInvalid(field: string, badValue: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, badValue, detail }
}
export function fieldRequired(field: string, detail = ''): FieldError {
  return { type: 'FieldValueRequired', field, detail }
}
export function fieldForbidden(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail }
}
export function fieldNotSupported(
  field: string,
  badValue: unknown,
  supported: string[],
): FieldError {
  return { type: 'FieldValueNotSupported', field, badValue, supported }
}
export function fieldDuplicate(field: string, badValue: unknown): FieldError {
  return { type: 'FieldValueDuplicate', field, badValue }
}
export function fieldTooLong(field: string, badValue: unknown, max: number): FieldError {
  return { type: 'FieldValueTooLong', field, badValue, detail: `may not be more than ${max} bytes` }
}
export function fieldTypeInvalid(field: string, badValue: unknown, detail: string): FieldError {
  return { type: 'FieldValueTypeInvalid', field, badValue, detail }
}

/** The part after "field: " in field.Error.Error(). */
export function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case 'FieldValueRequired':
      return e.detail ? `Required value: ${e.detail}` : 'Required value'
    case 'FieldValueForbidden':
      return e.detail ? `Forbidden: ${e.detail}` : 'Forbidden'
    case 'FieldValueNotSupported': {
      const supported = (e.supported ?? []).map((s) => JSON.stringify(s)).join(', ')
      return `Unsupported value: ${goValue(e.badValue)}${supported ? `: supported values: ${supported}` : ''}`
    }
    case 'FieldValueDuplicate':
      return `Duplicate value: ${goValue(e.badValue)}`
    case 'FieldValueTooLong':
      return `Too long: ${e.detail}`
    case 'FieldValueTooMany':
      return `Too many: ${e.detail ?? ''}`
    case 'FieldValueTypeInvalid':
      return `Invalid value: ${goValue(e.badValue)}: ${e.detail ?? ''}`
    default:
      return e.detail
        ? `Invalid value: ${goValue(e.badValue)}: ${e.detail}`
        : `Invalid value: ${goValue(e.badValue)}`
  }
}

export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`
}

/** NewInvalid: 422 with one cause per field error and kube-apiserver's aggregated message. */
export function invalid(gk: GroupKind, name: string, errs: FieldError[]): StatusError {
  const causes = errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }))
  const list = errs.map(fieldErrorString)
  const agg = list.length === 1 ? list[0] : `[${list.join(', ')}]`
  // StatusDetails' name and kind are omitempty: the patch handler's Invalid names neither.
  const details: StatusDetails = {}
  if (name) details.name = name
  if (gk.group) details.group = gk.group
  if (gk.kind) details.kind = gk.kind
  details.causes = causes
  return new StatusError(
    422,
    'Invalid',
    `${qualifiedKind(gk)} "${name}" is invalid: ${agg}`,
    details,
  )
}

export function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message)
}

export function methodNotSupported(gr: GroupResource, verb: string): StatusError {
  return new StatusError(
    405,
    'MethodNotAllowed',
    `${verb} is not supported on resources of kind "${qualifiedResource(gr)}"`,
    grDetails(gr),
  )
}

/** What kube-apiserver answers for an HTTP method the route does not take. */
export function methodNotAllowed(): StatusError {
  return new StatusError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
    {},
  )
}

export function forbidden(gr: GroupResource, name: string, why: string): StatusError {
  const target = name ? `${qualifiedResource(gr)} "${name}"` : qualifiedResource(gr)
  return new StatusError(
    403,
    'Forbidden',
    `${target} is forbidden: ${why}`,
    grDetails(gr, name || undefined),
  )
}

export function unauthorized(message = 'Unauthorized'): StatusError {
  return new StatusError(401, 'Unauthorized', message)
}

/** 410 for a resourceVersion older than what the store keeps ("too old resource version: 5 (20)"). */
export function resourceExpired(message: string): StatusError {
  return new StatusError(410, 'Expired', message)
}

export function gone(message: string): StatusError {
  return new StatusError(410, 'Gone', message)
}

export function tooManyRequests(message: string, retryAfterSeconds: number): StatusError {
  return new StatusError(429, 'TooManyRequests', message, { retryAfterSeconds })
}

export function requestEntityTooLarge(limit: number): StatusError {
  return new StatusError(
    413,
    'RequestEntityTooLarge',
    `Request entity too large: limit is ${limit}`,
  )
}

export function unsupportedMediaType(contentType: string, accepted: string[]): StatusError {
  return new StatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    {
      causes: contentType
        ? [{ reason: 'UnexpectedServerResponse', message: contentType }]
        : undefined,
    },
  )
}

export function notAcceptable(accepted: string[]): StatusError {
  return new StatusError(
    406,
    'NotAcceptable',
    `only the following media types are accepted: ${accepted.join(', ')}`,
  )
}

export function internalError(err: unknown): StatusError {
  const msg = errorText(err)
  return new StatusError(500, 'InternalError', `Internal error occurred: ${msg}`, {
    causes: [{ message: msg }],
  })
}

export function timeout(message: string): StatusError {
  return new StatusError(504, 'Timeout', message)
}

/**
 * Our answer for a body that decodes (kube's decoders allow 10000 levels) but nests deeper than a walk over
 * it can recurse on the JavaScript stack (patching, cloning, field sets, JSON encoding: a few thousand levels,
 * depending on the runtime): a client's input, so a 400 rather than a 500. kube-apiserver, whose stacks grow,
 * accepts such bodies; the README lists the difference.
 */
export const NESTED_TOO_DEEPLY =
  'the request body is nested too deeply to be processed: exceeded max depth'

function isStackExhaustion(err: unknown): boolean {
  return err instanceof RangeError && err.message.includes('Maximum call stack size exceeded')
}

/** Store errors are interpreted before this (registry/store-errors.ts); anything else unnamed is a 500. */
export function toStatusError(err: unknown): StatusError {
  if (err instanceof StatusError) return err
  if (isStackExhaustion(err)) return badRequest(NESTED_TOO_DEEPLY)
  return internalError(err)
}

export function isStatusErrorReason(err: unknown, reason: StatusReason): boolean {
  return err instanceof StatusError && err.reason === reason
}

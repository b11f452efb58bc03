// The query parameters the server reads, decoded the way kube-apiserver's parameter codec decodes them
// (metainternalversionscheme.ParameterCodec.DecodeParameters: the generated url.Values conversions of
// k8s.io/apimachinery/pkg/apis/meta/v1 with the string conversions of pkg/runtime/conversion.go).
// Every handler decodes its options here, so that `watch=True` (what the Python client sends) is a watch
// everywhere and `limit=abc` is the same 400 on a list, a watch and a deletecollection.
import {
  badRequest,
  fieldForbidden,
  fieldNotSupported,
  invalid,
  type FieldError,
} from '../server/errors'
import { goEqualFold, goQuote } from '../go/fmt'
import { errorText } from '../util/errors'

/** The Go type a parameter converts to; a pointer is unset when the parameter is absent. */
export type QueryParameterType =
  | 'string'
  | 'bool'
  | '*bool'
  | 'int64'
  | '*int64'
  | '[]string'
  | 'presence'
  /** strconv.ParseBool, whose error counts as false */
  | 'ParseBool'
  /** time.ParseDuration (src/go/duration.ts) */
  | 'duration'

export interface QueryParameter {
  name: string
  type: QueryParameterType
  /** The options kinds (or the server part) that read it, as kube-apiserver's do. */
  readBy: readonly string[]
}

/**
 * Every query parameter the server reads. The options kinds are metav1's; a parameter read outside them
 * names the part of the server that reads it. Parameters no entry names are ignored, as kube ignores them.
 *
 * Read by kube-apiserver and not here: DeleteOptions' `ignoreStoreReadErrorWithClusterBreakingPotential`
 * (the unsafe delete of an object storage cannot decode is not offered).
 */
export const QUERY_PARAMETERS: readonly QueryParameter[] = [
  { name: 'labelSelector', type: 'string', readBy: ['ListOptions'] },
  { name: 'fieldSelector', type: 'string', readBy: ['ListOptions'] },
  { name: 'watch', type: 'bool', readBy: ['ListOptions', 'RequestInfo'] },
  { name: 'allowWatchBookmarks', type: 'bool', readBy: ['ListOptions'] },
  { name: 'resourceVersion', type: 'string', readBy: ['ListOptions', 'GetOptions'] },
  { name: 'resourceVersionMatch', type: 'string', readBy: ['ListOptions'] },
  { name: 'timeoutSeconds', type: '*int64', readBy: ['ListOptions'] },
  { name: 'limit', type: 'int64', readBy: ['ListOptions'] },
  { name: 'continue', type: 'string', readBy: ['ListOptions'] },
  { name: 'sendInitialEvents', type: '*bool', readBy: ['ListOptions'] },
  { name: 'gracePeriodSeconds', type: '*int64', readBy: ['DeleteOptions'] },
  { name: 'orphanDependents', type: '*bool', readBy: ['DeleteOptions'] },
  { name: 'propagationPolicy', type: 'string', readBy: ['DeleteOptions'] },
  {
    name: 'dryRun',
    type: '[]string',
    readBy: ['DeleteOptions', 'CreateOptions', 'UpdateOptions', 'PatchOptions'],
  },
  {
    name: 'fieldManager',
    type: 'string',
    readBy: ['CreateOptions', 'UpdateOptions', 'PatchOptions'],
  },
  {
    name: 'fieldValidation',
    type: 'string',
    readBy: ['CreateOptions', 'UpdateOptions', 'PatchOptions'],
  },
  { name: 'force', type: '*bool', readBy: ['PatchOptions'] },
  { name: 'includeObject', type: 'string', readBy: ['TableOptions'] },
  { name: 'pretty', type: 'ParseBool', readBy: ['negotiation'] },
  { name: 'exclude', type: '[]string', readBy: ['healthz'] },
  { name: 'verbose', type: 'presence', readBy: ['healthz'] },
  { name: 'timeout', type: 'duration', readBy: ['RequestDeadline'] },
  { name: 'hash', type: 'string', readBy: ['openapi/v3'] },
]

// ---- strconv and runtime's string conversions ----

const UINT64_MAX = 2n ** 64n - 1n
const INT64_CUTOFF = 2n ** 63n

/** strconv.ParseInt(s, 10, 64); throws Go's *NumError text ("strconv.ParseInt: parsing ...: invalid syntax"). */
export function goParseInt64(s: string): bigint {
  const fail = (why: 'invalid syntax' | 'value out of range') =>
    new Error(`strconv.ParseInt: parsing ${goQuote(s)}: ${why}`)
  if (s === '') throw fail('invalid syntax')
  const neg = s[0] === '-'
  const digits = s[0] === '+' || s[0] === '-' ? s.slice(1) : s
  // ParseUint: a syntax error at the first non-digit, a range error as soon as the value passes 2^64-1,
  // whatever follows (so "99999999999999999999x" is out of range, not invalid).
  if (digits === '') throw fail('invalid syntax')
  let n = 0n
  for (const c of digits) {
    if (c < '0' || c > '9') throw fail('invalid syntax')
    n = n * 10n + BigInt(c.charCodeAt(0) - 48)
    if (n > UINT64_MAX) throw fail('value out of range')
  }
  if (!neg && n >= INT64_CUTOFF) throw fail('value out of range')
  if (neg && n > INT64_CUTOFF) throw fail('value out of range')
  return neg ? -n : n
}

/**
 * Convert_Slice_string_To_bool: only "0" and "false" in any case are false; any other value, the empty
 * one included (`?watch`), is true.
 */
export function goQueryBool(value: string): boolean {
  return !(value === '0' || goEqualFold(value, 'false'))
}

/** strconv.ParseBool, which `pretty` uses (its error ignored): undefined where Go returns an error. */
export function goParseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false
  return undefined
}

// ---- one reader per Go type: the first value counts, as Convert_Slice_string_To_* take (*in)[0] ----

class Reader {
  constructor(private readonly query: URLSearchParams) {}
  private first(name: string): string | undefined {
    return this.query.has(name) ? this.query.getAll(name)[0] : undefined
  }
  string(name: string): string {
    return this.first(name) ?? ''
  }
  bool(name: string): boolean {
    const v = this.first(name)
    return v !== undefined && goQueryBool(v)
  }
  pointerBool(name: string): boolean | undefined {
    const v = this.first(name)
    return v === undefined ? undefined : goQueryBool(v)
  }
  /** A conversion error is the request's 400, with strconv's message as kube-apiserver returns it. */
  pointerInt64(name: string): bigint | undefined {
    const v = this.first(name)
    if (v === undefined) return undefined
    try {
      return goParseInt64(v)
    } catch (e) {
      throw badRequest(errorText(e))
    }
  }
  int64(name: string): bigint {
    return this.pointerInt64(name) ?? 0n
  }
  strings(name: string): string[] {
    return this.query.getAll(name)
  }
}

// ---- the options kinds, each field decoded in the order of its generated conversion ----

export interface ListOptions {
  labelSelector: string
  fieldSelector: string
  watch: boolean
  allowWatchBookmarks: boolean
  resourceVersion: string
  resourceVersionMatch: string
  timeoutSeconds?: bigint
  /** 0 (or less): no limit. Beyond 2^53 a limit asks for everything as surely as 2^53 does, so it is capped there. */
  limit: number
  continue: string
  sendInitialEvents?: boolean
}

/** ListOptions of a list, watch or deletecollection. Throws kube-apiserver's 400 for a value Go cannot convert. */
export function decodeListOptions(query: URLSearchParams): ListOptions {
  const r = new Reader(query)
  const labelSelector = r.string('labelSelector')
  const fieldSelector = r.string('fieldSelector')
  const watch = r.bool('watch')
  const allowWatchBookmarks = r.bool('allowWatchBookmarks')
  const resourceVersion = r.string('resourceVersion')
  const resourceVersionMatch = r.string('resourceVersionMatch')
  const timeoutSeconds = r.pointerInt64('timeoutSeconds')
  const limit = r.int64('limit')
  return {
    labelSelector,
    fieldSelector,
    watch,
    allowWatchBookmarks,
    resourceVersion,
    resourceVersionMatch,
    timeoutSeconds,
    limit: limit > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(limit),
    continue: r.string('continue'),
    sendInitialEvents: r.pointerBool('sendInitialEvents'),
  }
}

/**
 * apimachinery's internalversion ValidateListOptions, which the list, watch and deletecollection handlers
 * answer with 422 Invalid on ListOptions.meta.k8s.io, every error at once. WatchList is enabled here
 * (sendInitialEvents is served).
 */
export function validateListOptions(o: ListOptions): void {
  const errs: FieldError[] = []
  const match = o.resourceVersionMatch
  if (o.watch) {
    if (o.sendInitialEvents !== undefined) {
      if (match !== 'NotOlderThan')
        errs.push(
          fieldForbidden(
            'resourceVersionMatch',
            'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
          ),
        )
      if (!o.allowWatchBookmarks)
        errs.push(
          fieldForbidden(
            'allowWatchBookmarks',
            'sendInitialEvents requires setting allowWatchBookmarks to true',
          ),
        )
    }
    if (match) {
      if (o.sendInitialEvents === undefined)
        errs.push(
          fieldForbidden(
            'resourceVersionMatch',
            'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
          ),
        )
      if (match !== 'NotOlderThan')
        errs.push(fieldNotSupported('resourceVersionMatch', match, ['NotOlderThan']))
      if (o.continue)
        errs.push(
          fieldForbidden(
            'resourceVersionMatch',
            'resourceVersionMatch is forbidden when continue is provided',
          ),
        )
    }
  } else {
    if (match) {
      if (!o.resourceVersion)
        errs.push(
          fieldForbidden(
            'resourceVersionMatch',
            'resourceVersionMatch is forbidden unless resourceVersion is provided',
          ),
        )
      if (o.continue)
        errs.push(
          fieldForbidden(
            'resourceVersionMatch',
            'resourceVersionMatch is forbidden when continue is provided',
          ),
        )
      if (match !== 'Exact' && match !== 'NotOlderThan')
        errs.push(fieldNotSupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', '']))
      if (match === 'Exact' && o.resourceVersion === '0') {
        errs.push(
          fieldForbidden(
            'resourceVersionMatch',
            'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
          ),
        )
      }
    }
    if (o.sendInitialEvents !== undefined)
      errs.push(fieldForbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list'))
  }
  if (errs.length) throw invalid({ group: 'meta.k8s.io', kind: 'ListOptions' }, '', errs)
}

/** RequestInfoFactory: a collection GET is a watch when `watch` converts to true. */
export function isWatchRequest(query: URLSearchParams): boolean {
  return new Reader(query).bool('watch')
}

export interface GetOptions {
  resourceVersion: string
}

export function decodeGetOptions(query: URLSearchParams): GetOptions {
  return { resourceVersion: new Reader(query).string('resourceVersion') }
}

/** The query form of DeleteOptions (used only when the request has no body, as kube's delete handlers do). */
export interface DeleteOptionsQuery {
  gracePeriodSeconds?: number
  orphanDependents?: boolean
  propagationPolicy?: string
  dryRun: string[]
}

export function decodeDeleteOptions(query: URLSearchParams): DeleteOptionsQuery {
  const r = new Reader(query)
  const grace = r.pointerInt64('gracePeriodSeconds')
  const orphanDependents = r.pointerBool('orphanDependents')
  const policy = query.has('propagationPolicy') ? r.string('propagationPolicy') : undefined
  const out: DeleteOptionsQuery = { dryRun: r.strings('dryRun') }
  if (grace !== undefined) out.gracePeriodSeconds = Number(grace)
  if (orphanDependents !== undefined) out.orphanDependents = orphanDependents
  if (policy !== undefined) out.propagationPolicy = policy
  return out
}

export interface WriteOptionsQuery {
  dryRun: string[]
  fieldManager: string
  fieldValidation: string
  /** PatchOptions only. */
  force?: boolean
}

/** CreateOptions, UpdateOptions and PatchOptions (force is PatchOptions' alone). */
export function decodeWriteOptions(
  query: URLSearchParams,
  kind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions',
): WriteOptionsQuery {
  const r = new Reader(query)
  const dryRun = r.strings('dryRun')
  const force = kind === 'PatchOptions' ? r.pointerBool('force') : undefined
  return {
    dryRun,
    fieldManager: r.string('fieldManager'),
    fieldValidation: r.string('fieldValidation'),
    ...(force !== undefined ? { force } : {}),
  }
}

/** dryRun accepts only "All" (apiserver's ValidateDryRun); true when the request is a dry run. */
export function validateDryRun(values: string[]): boolean {
  for (const v of values) {
    if (v !== 'All') throw badRequest(`Invalid dryRun value: "${v}": supported values: "All"`)
  }
  return values.length > 0
}

export interface TableOptions {
  includeObject: string
}

export function decodeTableOptions(query: URLSearchParams): TableOptions {
  return { includeObject: new Reader(query).string('includeObject') }
}

/** isPrettyPrint's reading of `pretty`: undefined when absent or empty (the User-Agent decides then). */
export function decodePretty(query: URLSearchParams): boolean | undefined {
  const pp = new Reader(query).string('pretty')
  return pp ? (goParseBool(pp) ?? false) : undefined
}

export interface HealthOptions {
  exclude: string[]
  verbose: boolean
}

/** healthz.handleRootHealth: `verbose` counts by its presence, `exclude` by each of its values. */
export function decodeHealthOptions(query: URLSearchParams): HealthOptions {
  return { exclude: new Reader(query).strings('exclude'), verbose: query.has('verbose') }
}

export function decodeOpenAPIHash(query: URLSearchParams): string {
  return new Reader(query).string('hash')
}

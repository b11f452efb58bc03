// Field selectors as k8s.io/apimachinery/pkg/fields parses them (ParseSelector: "=", "==", "!=", comma-AND,
// values escaped with \ , = ), and the per-kind check of which fields a kind can be selected by
// (the scheme's field label conversion functions, run by the list handler through Selector.Transform).
import { badRequest } from '../../server/errors'
import { compareStrings, goQuote } from '../../go/fmt'

export type FieldOperator = '=' | '!='

export interface FieldRequirement {
  readonly field: string
  readonly operator: FieldOperator
  readonly value: string
}

export type FieldGetter<T> = (obj: T) => string | undefined

export interface FieldSelector<T = unknown> {
  /** True when the selector does not restrict anything (fields.Everything()). */
  readonly empty: boolean
  readonly requirements: readonly FieldRequirement[]
  /** Matches an object through the getters given to parseFieldSelector. */
  matches(obj: T): boolean
  /** Matches a set of fields; a field the getter does not know reads as "" (fields.Set.Get). */
  matchesFields(get: (field: string) => string | undefined): boolean
  /** The value an "=" requirement on this field pins, as RequiresExactMatch. */
  requiresExactMatch(field: string): string | undefined
  toString(): string
}

/** fields.EscapeValue: prefixes \ , and = with a backslash. */
export function escapeFieldValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`)
}

export class FieldSelectorParseError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FieldSelectorParseError'
  }
}

/** fields.UnescapeValue. Go prints the offending rune of UnescapedRune with %v, i.e. as its number. */
export function unescapeFieldValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s
  let out = ''
  let inSlash = false
  for (const c of s) {
    if (inSlash) {
      if (c === '\\' || c === ',' || c === '=') out += c
      else
        throw new FieldSelectorParseError(`invalid field selector: invalid escape sequence: \\${c}`)
      inSlash = false
      continue
    }
    if (c === '\\') inSlash = true
    else if (c === ',' || c === '=')
      throw new FieldSelectorParseError(
        `invalid field selector: unescaped character in value: ${c.codePointAt(0)}`,
      )
    else out += c
  }
  if (inSlash)
    throw new FieldSelectorParseError('invalid field selector: invalid escape sequence: \\')
  return out
}

// splitTerms: commas escaped with a backslash stay inside a term, backslash and all.
function splitTerms(s: string): string[] {
  if (s.length === 0) return []
  const terms: string[] = []
  let start = 0
  let inSlash = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (inSlash) inSlash = false
    else if (c === '\\') inSlash = true
    else if (c === ',') {
      terms.push(s.slice(start, i))
      start = i + 1
    }
  }
  terms.push(s.slice(start))
  return terms
}

const termOperators = ['!=', '==', '='] as const

// splitTerm: the first operator found from the left splits the term; the field itself has no escaping.
function splitTerm(
  term: string,
): { lhs: string; op: (typeof termOperators)[number]; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of termOperators) {
      if (term.startsWith(op, i))
        return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) }
    }
  }
  return undefined
}

/** fields.ParseSelector, throwing FieldSelectorParseError with apimachinery's message. */
export function parseFieldRequirements(selector: string): FieldRequirement[] {
  const parts = splitTerms(selector).sort(compareStrings)
  const reqs: FieldRequirement[] = []
  for (const part of parts) {
    if (part === '') continue
    const t = splitTerm(part)
    if (!t)
      throw new FieldSelectorParseError(
        `invalid selector: '${selector}'; can't understand '${part}'`,
      )
    const value = unescapeFieldValue(t.rhs)
    reqs.push({ field: t.lhs, operator: t.op === '!=' ? '!=' : '=', value })
  }
  return reqs
}

/**
 * A field label conversion function (runtime.FieldLabelConversionFunc): the canonical field and value, or
 * throws with the message kube-apiserver puts in its 400 for a field the kind cannot be selected by.
 */
export type FieldLabelConversion = (
  label: string,
  value: string,
) => { label: string; value: string }

function notSupported(message: string): never {
  throw new FieldSelectorParseError(message)
}

/** runtime.DefaultMetaV1FieldSelectorConversion: every kind without its own function. */
export const defaultFieldLabelConversion: FieldLabelConversion = (label, value) => {
  if (label === 'metadata.name' || label === 'metadata.namespace') return { label, value }
  return notSupported(
    `${goQuote(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
  )
}

function allowList(
  labels: string[],
  message: (label: string) => string,
  aliases: Record<string, string> = {},
): FieldLabelConversion {
  const allowed = new Set(labels)
  return (label, value) => {
    if (allowed.has(label)) return { label, value }
    if (Object.prototype.hasOwnProperty.call(aliases, label))
      return { label: aliases[label], value }
    return notSupported(message(label))
  }
}

const fieldLabelNotSupported = (label: string) => `field label not supported: ${label}`

/**
 * The kinds that register their own field label conversion (pkg/apis/<group>/<version>/conversion.go);
 * the key is "group/Kind" with "" for the core group.
 */
const builtinConversions: Record<string, FieldLabelConversion> = {
  '/Pod': allowList(
    [
      'metadata.name',
      'metadata.namespace',
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.podIPs',
      'status.nominatedNodeName',
    ],
    fieldLabelNotSupported,
    // Old v1 clients sent spec.host.
    { 'spec.host': 'spec.nodeName' },
  ),
  '/Node': allowList(['metadata.name', 'spec.unschedulable'], fieldLabelNotSupported),
  '/ReplicationController': allowList(
    ['metadata.name', 'metadata.namespace', 'status.replicas'],
    fieldLabelNotSupported,
  ),
  '/Event': allowList(
    [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
      'metadata.namespace',
      'metadata.name',
    ],
    fieldLabelNotSupported,
  ),
  '/Namespace': allowList(['status.phase', 'metadata.name'], fieldLabelNotSupported),
  '/Secret': allowList(['type', 'metadata.namespace', 'metadata.name'], fieldLabelNotSupported),
  '/Service': allowList(
    ['metadata.namespace', 'metadata.name', 'spec.clusterIP', 'spec.type'],
    fieldLabelNotSupported,
  ),
  'batch/Job': allowList(
    ['metadata.name', 'metadata.namespace', 'status.successful'],
    (l) => `field label ${goQuote(l)} not supported for batchv1.Job`,
  ),
  'certificates.k8s.io/CertificateSigningRequest': allowList(
    ['metadata.name', 'spec.signerName'],
    fieldLabelNotSupported,
  ),
  'certificates.k8s.io/ClusterTrustBundle': allowList(
    ['metadata.name', 'spec.signerName'],
    fieldLabelNotSupported,
  ),
}

/** The field label conversion kube-apiserver uses for a built-in kind. */
export function builtinFieldLabelConversion(group: string, kind: string): FieldLabelConversion {
  return builtinConversions[`${group}/${kind}`] ?? defaultFieldLabelConversion
}

/**
 * A custom resource's conversion (apiextensions-apiserver crConverter): metadata.name, metadata.namespace
 * when namespaced, and the CRD version's selectableFields jsonPaths (without their leading dot).
 */
export function customResourceFieldLabelConversion(
  namespaced: boolean,
  selectableFields: string[] = [],
): FieldLabelConversion {
  const allowed = new Set(selectableFields.map((f) => f.replace(/^\./, '')))
  return (label, value) => {
    if (
      label === 'metadata.name' ||
      (namespaced && label === 'metadata.namespace') ||
      allowed.has(label)
    )
      return { label, value }
    return notSupported(fieldLabelNotSupported(label))
  }
}

export interface ParseFieldSelectorOptions {
  /**
   * The kind's field label conversion. Without one, a getters map decides: its keys are the supported
   * fields, and an unsupported field gets the message of a kind that registers its own conversion when the
   * map has fields beyond metadata.name/namespace, else runtime.DefaultMetaV1FieldSelectorConversion's.
   */
  convert?: FieldLabelConversion
}

class Selector<T> implements FieldSelector<T> {
  constructor(
    readonly requirements: readonly FieldRequirement[],
    private readonly getters?: Record<string, FieldGetter<T>>,
  ) {}
  get empty(): boolean {
    return this.requirements.length === 0
  }
  matchesFields(get: (field: string) => string | undefined): boolean {
    return this.requirements.every(
      (r) => ((get(r.field) ?? '') === r.value) === (r.operator === '='),
    )
  }
  matches(obj: T): boolean {
    const getters = this.getters ?? {}
    return this.matchesFields((f) =>
      Object.prototype.hasOwnProperty.call(getters, f) ? getters[f](obj) : undefined,
    )
  }
  requiresExactMatch(field: string): string | undefined {
    return this.requirements.find((r) => r.field === field && r.operator === '=')?.value
  }
  toString(): string {
    return this.requirements
      .map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`)
      .join(',')
  }
}

function conversionFromGetters(getters: Record<string, unknown>): FieldLabelConversion {
  const keys = Object.keys(getters)
  const extra = keys.some((k) => k !== 'metadata.name' && k !== 'metadata.namespace')
  return allowList(keys, extra ? fieldLabelNotSupported : (l) => defaultMessage(l))
}
const defaultMessage = (label: string) =>
  `${goQuote(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`

/**
 * The fieldSelector parameter of a list, watch or deletecollection: parse, then run each requirement
 * through the kind's field label conversion. kube-apiserver answers either failure with 400 BadRequest and
 * the bare message (ListResource: NewBadRequest(err.Error())). Without getters or options every field is
 * accepted as written.
 */
export function parseFieldSelector<T = unknown>(
  s: string,
  getters?: Record<string, FieldGetter<T>>,
  options: ParseFieldSelectorOptions = {},
): FieldSelector<T> {
  try {
    let reqs = parseFieldRequirements(s)
    const convert = options.convert ?? (getters ? conversionFromGetters(getters) : undefined)
    if (convert) {
      reqs = reqs
        .map((r) => {
          const c = convert(r.field, r.value)
          return { field: c.label, operator: r.operator, value: c.value }
        })
        // Transform drops a requirement whose field and value both convert to "".
        .filter((r) => r.field !== '' || r.value !== '')
    }
    return new Selector(reqs, getters)
  } catch (e) {
    if (e instanceof FieldSelectorParseError) throw badRequest(e.message)
    throw e
  }
}

/** fields.OneTermEqualSelector. */
export function oneTermEqualSelector<T = unknown>(
  field: string,
  value: string,
  getters?: Record<string, FieldGetter<T>>,
): FieldSelector<T> {
  return new Selector([{ field, operator: '=', value }], getters)
}

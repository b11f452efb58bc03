// Validation of a custom resource against its structural schema, with the messages kube-apiserver gives:
// kube-openapi's validators (pkg/validation/validate) turned into field errors the way apiextensions-apiserver's
// kubeOpenAPIResultToFieldErrors does, then the embedded-resource and list-type checks
// (schema/objectmeta, schema/listtype). Paths are kube-openapi's: "spec.items[0].name".
import {
  fieldDuplicate,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  fieldTooLong,
  fieldTypeInvalid,
  type FieldError,
} from '../../server/errors'
import { isDNS1035Label } from '../../registry/validation/names'
import { childPath, isObject, type JSONSchemaProps } from './types'
import { checkFormat } from './formats'
import { RE2JS } from 're2js'
import { errorText } from '../../util/errors'

/** Field of errors kube-openapi reports without a path of their own (oneOf/anyOf/allOf/not): a nil field.Path. */
export const NIL_PATH = '<nil>'

/** The JSON type kube-openapi infers from a decoded value (schemaInfoForType). */
export function jsonType(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return 'boolean'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  if (Array.isArray(v)) return 'array'
  return 'object'
}

function schemaTypes(s: JSONSchemaProps): string[] {
  if (s['x-kubernetes-int-or-string']) return ['integer', 'string']
  return s.type ? [s.type] : []
}

/** A compiled CRD pattern, or the error Go's regexp.Compile gives for it. */
export type CompiledPattern = { ok: true; re: RE2JS } | { ok: false; error: string }

const patternCache = new Map<string, CompiledPattern>()

/**
 * A CRD pattern compiled as kube-apiserver compiles it: Go's regexp (RE2 syntax, linear-time matching), here
 * re2js, its port. A JS RegExp would both accept patterns kube rejects (backreferences, lookaround) and
 * backtrack exponentially on patterns like ^(a+)+$, freezing the isolate for every other client.
 * Compiled once per pattern string: every custom resource of the CRD shares it.
 */
export function compilePattern(pattern: string): CompiledPattern {
  let c = patternCache.get(pattern)
  if (c === undefined) {
    try {
      c = { ok: true, re: RE2JS.compile(pattern) }
    } catch (e) {
      // re2js words its syntax errors as Go does: "error parsing regexp: missing closing ): `(`".
      c = { ok: false, error: errorText(e) }
    }
    if (patternCache.size > 2000) patternCache.clear()
    patternCache.set(pattern, c)
  }
  return c
}

/** regexp.MatchString: true when the pattern matches anywhere in value (unanchored, as Go's). */
export function patternMatches(pattern: string, value: string): boolean | undefined {
  const c = compilePattern(pattern)
  return c.ok ? c.re.matcher(value).find() : undefined
}

const runeLength = (s: string) => {
  let n = 0
  for (const _ of s) n++
  return n
}

/** %v of a Go float64/int64 bound. */
const num = (n: number) => String(n)

/**
 * Validates value against schema (kube-openapi's SchemaValidator.Validate); errors are appended to errs.
 * Value validations of a schema without structure (allOf/anyOf/oneOf/not branches) run through the same walk.
 */
export function validateValue(
  s: JSONSchemaProps,
  value: unknown,
  path: string,
  errs: FieldError[],
): void {
  const types = schemaTypes(s)
  const at = path
  const field = path || NIL_PATH
  // typeValidator
  if (value === null || value === undefined) {
    if (types.length && !s.nullable)
      errs.push(
        fieldTypeInvalid(field, 'null', `${at} in body must be of type ${types.join(',')}: "null"`),
      )
    return
  }
  const t = jsonType(value)
  const typeOK = !types.length || types.includes(t) || (t === 'integer' && types.includes('number'))
  if (!typeOK) {
    errs.push(
      fieldTypeInvalid(field, t, `${at} in body must be of type ${types.join(',')}: "${t}"`),
    )
  }
  schemaPropsValidate(s, value, path, errs)
  if (typeof value === 'string') {
    if (s.maxLength !== undefined && runeLength(value) > s.maxLength)
      errs.push(fieldTooLong(field, value, s.maxLength))
    if (s.minLength !== undefined && runeLength(value) < s.minLength) {
      errs.push(
        fieldInvalid(field, value, `${at} in body should be at least ${s.minLength} chars long`),
      )
    }
    if (s.pattern !== undefined) {
      if (patternMatches(s.pattern, value) === false)
        errs.push(fieldInvalid(field, value, `${at} in body should match '${s.pattern}'`))
    }
    if (s.format && !checkFormat(s.format, value)) {
      errs.push(
        fieldTypeInvalid(
          field,
          value,
          `${at} in body must be of type ${s.format}: ${JSON.stringify(value)}`,
        ),
      )
    }
  }
  if (typeof value === 'number') {
    if (s.multipleOf !== undefined && s.multipleOf > 0) {
      const q = value / s.multipleOf
      if (Math.abs(q - Math.round(q)) > 1e-9)
        errs.push(
          fieldInvalid(field, value, `${at} in body should be a multiple of ${num(s.multipleOf)}`),
        )
    }
    if (s.maximum !== undefined && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum)) {
      errs.push(
        fieldInvalid(
          field,
          value,
          `${at} in body should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${num(s.maximum)}`,
        ),
      )
    }
    if (s.minimum !== undefined && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum)) {
      errs.push(
        fieldInvalid(
          field,
          value,
          `${at} in body should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${num(s.minimum)}`,
        ),
      )
    }
  }
  if (Array.isArray(value)) {
    if (s.items)
      for (let i = 0; i < value.length; i++) validateValue(s.items, value[i], `${path}[${i}]`, errs)
    if (s.minItems !== undefined && value.length < s.minItems) {
      errs.push(
        fieldInvalid(field, value.length, `${at} in body should have at least ${s.minItems} items`),
      )
    }
    if (s.maxItems !== undefined && value.length > s.maxItems)
      errs.push(tooMany(field, value.length, s.maxItems))
  }
  // commonValidator: enum
  if (s.enum && !s.enum.some((e) => jsonEqual(e, value))) {
    errs.push(
      fieldNotSupported(
        field,
        value,
        s.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))),
      ),
    )
  }
  if (isObject(value)) validateObject(s, value, path, errs)
}

function tooMany(field: string, actual: number, max: number): FieldError {
  return {
    type: 'FieldValueTooMany',
    field,
    badValue: actual,
    detail: `${actual}: must have at most ${max} ${max === 1 ? 'item' : 'items'}`,
  }
}

function validateObject(
  s: JSONSchemaProps,
  value: Record<string, unknown>,
  path: string,
  errs: FieldError[],
): void {
  const field = path || NIL_PATH
  const n = Object.keys(value).length
  // objectValidator returns at once on a property count failure.
  if (s.minProperties !== undefined && n < s.minProperties) {
    errs.push(
      fieldInvalid(
        field,
        s.minProperties,
        `${path} in body should have at least ${s.minProperties} properties`,
      ),
    )
    return
  }
  if (s.maxProperties !== undefined && n > s.maxProperties) {
    errs.push(tooMany(field, s.maxProperties, s.maxProperties))
    return
  }
  const props = s.properties ?? {}
  const additional = isObject(s.additionalProperties)
    ? (s.additionalProperties as JSONSchemaProps)
    : undefined
  if (s.additionalProperties === false) {
    for (const k of Object.keys(value)) {
      if (!(k in props))
        errs.push(fieldInvalid(field, k, `${path}.${k} in body is a forbidden property`))
    }
  } else if (additional) {
    for (const [k, v] of Object.entries(value)) {
      if (!Object.prototype.hasOwnProperty.call(props, k))
        validateValue(additional, v, childPath(path, k), errs)
    }
  }
  for (const [k, ps] of Object.entries(props)) {
    if (Object.prototype.hasOwnProperty.call(value, k))
      validateValue(ps, value[k], childPath(path, k), errs)
  }
  for (const k of s.required ?? []) {
    if (!Object.prototype.hasOwnProperty.call(value, k))
      errs.push(fieldRequired(childPath(path, k), ''))
  }
}

// schemaPropsValidator: allOf, oneOf, anyOf, not. Their own failures are composite errors, which
// kubeOpenAPIResultToFieldErrors reports at the nil path with an empty value.
function schemaPropsValidate(
  s: JSONSchemaProps,
  value: unknown,
  path: string,
  errs: FieldError[],
): void {
  const quoted = JSON.stringify(path)
  if (s.anyOf?.length) {
    let best: FieldError[] | undefined
    let ok = false
    for (const sub of s.anyOf) {
      const e: FieldError[] = []
      validateValue(sub, value, path, e)
      if (!e.length) {
        ok = true
        break
      }
      if (!best || e.length < best.length) best = e
    }
    if (!ok) {
      errs.push(fieldInvalid(NIL_PATH, '', `${quoted} must validate at least one schema (anyOf)`))
      if (best) errs.push(...best)
    }
  }
  if (s.oneOf?.length) {
    let valid = 0
    let best: FieldError[] | undefined
    for (const sub of s.oneOf) {
      const e: FieldError[] = []
      validateValue(sub, value, path, e)
      if (!e.length) valid++
      else if (!best || e.length < best.length) best = e
    }
    if (valid !== 1) {
      const more = valid === 0 ? 'Found none valid' : `Found ${valid} valid alternatives`
      errs.push(
        fieldInvalid(
          NIL_PATH,
          '',
          `${quoted} must validate one and only one schema (oneOf). ${more}`,
        ),
      )
      if (valid === 0 && best) errs.push(...best)
    }
  }
  if (s.allOf?.length) {
    let valid = 0
    const all: FieldError[] = []
    for (const sub of s.allOf) {
      const e: FieldError[] = []
      validateValue(sub, value, path, e)
      if (!e.length) valid++
      all.push(...e)
    }
    if (valid !== s.allOf.length) {
      const more = valid === 0 ? '. None validated' : ''
      errs.push(
        fieldInvalid(NIL_PATH, '', `${quoted} must validate all the schemas (allOf)${more}`),
      )
      errs.push(...all)
    }
  }
  if (s.not) {
    const e: FieldError[] = []
    validateValue(s.not, value, path, e)
    if (!e.length)
      errs.push(fieldInvalid(NIL_PATH, '', `${quoted} must not validate the schema (not)`))
  }
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]))
  }
  const ak = Object.keys(a as object)
  const bo = b as Record<string, unknown>
  return (
    ak.length === Object.keys(bo).length &&
    ak.every(
      (k) =>
        Object.prototype.hasOwnProperty.call(bo, k) &&
        jsonEqual((a as Record<string, unknown>)[k], bo[k]),
    )
  )
}

/**
 * schema/objectmeta.Validate for x-kubernetes-embedded-resource objects and structurallisttype's
 * list-type invariants (sets and maps hold no duplicates), walking the structural part of the schema.
 */
export function validateStructure(
  s: JSONSchemaProps,
  value: unknown,
  path: string,
  errs: FieldError[],
): void {
  if (Array.isArray(value)) {
    const listType = s['x-kubernetes-list-type']
    if (listType === 'set') {
      const seen: unknown[] = []
      value.forEach((v, i) => {
        if (seen.some((x) => jsonEqual(x, v))) errs.push(fieldDuplicate(`${path}[${i}]`, v))
        else seen.push(v)
      })
    } else if (listType === 'map') {
      const keys = s['x-kubernetes-list-map-keys'] ?? []
      const seen = new Set<string>()
      value.forEach((v, i) => {
        if (!isObject(v)) return
        const k = JSON.stringify(
          keys.map((key) => v[key] ?? s.items?.properties?.[key]?.default ?? null),
        )
        if (seen.has(k)) {
          const dup: Record<string, unknown> = {}
          for (const key of keys) if (v[key] !== undefined) dup[key] = v[key]
          errs.push(fieldDuplicate(`${path}[${i}]`, dup))
        } else seen.add(k)
      })
    }
    if (s.items) value.forEach((v, i) => validateStructure(s.items!, v, `${path}[${i}]`, errs))
    return
  }
  if (!isObject(value)) return
  if (s['x-kubernetes-embedded-resource']) validateEmbedded(value, path, errs)
  const props = s.properties ?? {}
  const additional = isObject(s.additionalProperties)
    ? (s.additionalProperties as JSONSchemaProps)
    : undefined
  for (const [k, v] of Object.entries(value)) {
    const sub = Object.prototype.hasOwnProperty.call(props, k) ? props[k] : additional
    if (sub) validateStructure(sub, v, childPath(path, k), errs)
  }
}

function validateEmbedded(x: Record<string, unknown>, path: string, errs: FieldError[]): void {
  if (!('apiVersion' in x))
    errs.push(fieldRequired(childPath(path, 'apiVersion'), 'must not be empty'))
  if (!('kind' in x)) errs.push(fieldRequired(childPath(path, 'kind'), 'must not be empty'))
  const apiVersion = x.apiVersion
  if (apiVersion !== undefined) {
    if (typeof apiVersion !== 'string')
      errs.push(fieldInvalid(childPath(path, 'apiVersion'), apiVersion, 'must be a string'))
    else if (!apiVersion)
      errs.push(fieldInvalid(childPath(path, 'apiVersion'), apiVersion, 'must not be empty'))
    else if (apiVersion.split('/').length > 2)
      errs.push(
        fieldInvalid(
          childPath(path, 'apiVersion'),
          apiVersion,
          `unexpected GroupVersion string: ${apiVersion}`,
        ),
      )
  }
  const kind = x.kind
  if (kind !== undefined) {
    if (typeof kind !== 'string')
      errs.push(fieldInvalid(childPath(path, 'kind'), kind, 'must be a string'))
    else if (!kind) errs.push(fieldInvalid(childPath(path, 'kind'), kind, 'must not be empty'))
    else {
      const e = isDNS1035Label(kind.toLowerCase())
      if (e.length)
        errs.push(
          fieldInvalid(
            childPath(path, 'kind'),
            kind,
            'may have mixed case, but should otherwise match: ' + e.join(','),
          ),
        )
    }
  }
}

// Field validation: the fieldValidation query parameter (Ignore, Warn, Strict) and what kube-apiserver's
// strict decoding reports. Unknown fields are those the kind's schema does not declare; a built-in kind's
// decoder drops them whatever the directive (they never reach storage), Warn answers a Warning header for
// each, Strict fails the request. Duplicate JSON fields are reported the same way.
import { badRequest, StatusError } from '../server/errors'
import { deref, type JSONSchema, type TypeSchema } from '../registry/schema/types'
import type { RequestContext } from '../registry/types'

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict'

/**
 * Removes from obj every field its schema does not declare and returns kube's strict decoding errors for
 * them (`unknown field "spec.foo"`), in document order. Nothing is removed under a schema that keeps unknown
 * fields (x-kubernetes-preserve-unknown-fields), or without a schema.
 */
export function pruneUnknownFields(obj: unknown, schema: TypeSchema | undefined): string[] {
  const out: string[] = []
  if (!schema) return out
  walk(obj, schema.definitions[schema.name], schema.definitions, '', out, true)
  return out
}

function walk(
  value: unknown,
  s: JSONSchema | undefined,
  defs: TypeSchema['definitions'],
  path: string,
  out: string[],
  root: boolean,
): void {
  const schema = deref(s, defs)
  if (
    !schema ||
    schema['x-kubernetes-preserve-unknown-fields'] ||
    value === null ||
    typeof value !== 'object'
  )
    return
  if (Array.isArray(value)) {
    if (schema.items)
      value.forEach((v, i) => walk(v, schema.items, defs, `${path}[${i}]`, out, false))
    return
  }
  const obj = value as Record<string, unknown>
  const props = schema.properties
  const extra =
    typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined
  if (!props && !extra) return // a free-form object (RawExtension, FieldsV1)
  // An embedded object, and a custom resource's root, may carry apiVersion, kind and metadata undeclared.
  const embedded = root || !!schema['x-kubernetes-embedded-resource']
  for (const key of Object.keys(obj)) {
    const child = path ? `${path}.${key}` : key
    const prop = props?.[key]
    if (prop) walk(obj[key], prop, defs, child, out, false)
    else if (extra) walk(obj[key], extra, defs, child, out, false)
    else if (embedded && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue
    else {
      out.push(`unknown field ${JSON.stringify(child)}`)
      delete obj[key]
    }
  }
}

/**
 * Acts on strict decoding errors by directive: Warn adds one warning each, Strict throws what `fail`
 * builds from "strict decoding error: <errors joined by ', '>", Ignore drops them.
 */
export function enforceFieldValidation(
  directive: FieldValidation,
  errors: string[],
  ctx: RequestContext,
  fail: (message: string) => StatusError = badRequest,
): void {
  if (!errors.length || directive === 'Ignore') return
  if (directive === 'Warn') {
    ctx.warnings.push(...errors)
    return
  }
  throw fail(`strict decoding error: ${errors.join(', ')}`)
}

/** The decode error of a create or update body: transformDecodeError's "<Kind> in version ... cannot be handled as a <Kind>: ...". */
export function decodeFailure(kind: string, version: string): (message: string) => StatusError {
  return (message) =>
    badRequest(
      `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: ${message}`,
    )
}

// Pruning and defaulting of custom resources by their structural schema, in the order
// apiextensions-apiserver's decoder applies them: unknown fields are dropped (structural/pruning),
// nulls of non-nullable fields without a default are dropped (PruneNonNullableNullsWithoutDefaults),
// then defaults fill absent fields (structural/defaulting.Default).
import { isObject, type JSONSchemaProps } from './types'

const RESOURCE_FIELDS = new Set(['apiVersion', 'kind', 'metadata'])

function additionalSchema(s: JSONSchemaProps): JSONSchemaProps | undefined {
  return isObject(s.additionalProperties) ? (s.additionalProperties as JSONSchemaProps) : undefined
}

/**
 * Removes fields the schema does not know; returns their paths (".spec.foo") in the order found, for
 * fieldValidation's warnings and strict errors. isResourceRoot keeps apiVersion, kind and metadata.
 */
export function prune(
  value: unknown,
  s: JSONSchemaProps | undefined,
  isResourceRoot = true,
  path = '',
): string[] {
  const pruned: string[] = []
  pruneInto(value, s, isResourceRoot, path, pruned)
  return pruned
}

function pruneInto(
  value: unknown,
  s: JSONSchemaProps | undefined,
  isResourceRoot: boolean,
  path: string,
  pruned: string[],
): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => pruneInto(v, s?.items, false, `${path}[${i}]`, pruned))
    return
  }
  if (!isObject(value)) return
  const keepUnknown =
    !s || s['x-kubernetes-preserve-unknown-fields'] === true || s.additionalProperties === true
  const embedded = isResourceRoot || !!s?.['x-kubernetes-embedded-resource']
  const props = s?.properties ?? {}
  const additional = s ? additionalSchema(s) : undefined
  for (const k of Object.keys(value)) {
    const p = `${path}.${k}`
    if (embedded && RESOURCE_FIELDS.has(k)) {
      // metadata is ObjectMeta, typed by kube itself; apiVersion and kind are kept as they are.
      if (k !== 'metadata' && Object.prototype.hasOwnProperty.call(props, k))
        pruneInto(value[k], props[k], false, p, pruned)
      continue
    }
    if (Object.prototype.hasOwnProperty.call(props, k))
      pruneInto(value[k], props[k], false, p, pruned)
    else if (additional) pruneInto(value[k], additional, false, p, pruned)
    else if (!keepUnknown) {
      delete value[k]
      pruned.push(p)
    }
  }
}

function isNonNullableNull(v: unknown, s: JSONSchemaProps | undefined): boolean {
  return v === null && !!s && !s.nullable
}

/** Drops null values of fields that are not nullable and have no default (they would fail validation). */
export function pruneNonNullableNulls(value: unknown, s: JSONSchemaProps | undefined): void {
  if (!s) return
  if (Array.isArray(value)) {
    for (const v of value) pruneNonNullableNulls(v, s.items)
    return
  }
  if (!isObject(value)) return
  const props = s.properties ?? {}
  const additional = additionalSchema(s)
  for (const k of Object.keys(value)) {
    const sub = Object.prototype.hasOwnProperty.call(props, k) ? props[k] : additional
    if (!sub) continue
    if (isNonNullableNull(value[k], sub) && sub.default === undefined) delete value[k]
    else pruneNonNullableNulls(value[k], sub)
  }
}

/** Whether applyDefaults could change anything: a default anywhere under s. */
export function hasDefaults(s: JSONSchemaProps | undefined): boolean {
  if (!s) return false
  if (s.default !== undefined) return true
  return (
    hasDefaults(s.items) ||
    hasDefaults(additionalSchema(s)) ||
    Object.values(s.properties ?? {}).some(hasDefaults)
  )
}

/** Fills absent (or non-nullable null) fields from their schema's default, then descends into the result. */
export function applyDefaults(value: unknown, s: JSONSchemaProps | undefined): void {
  if (!s) return
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (isNonNullableNull(value[i], s.items) && s.items?.default !== undefined)
        value[i] = structuredClone(s.items.default)
      applyDefaults(value[i], s.items)
    }
    return
  }
  if (!isObject(value)) return
  const props = s.properties ?? {}
  for (const [k, ps] of Object.entries(props)) {
    if (ps.default === undefined) continue
    if (!Object.prototype.hasOwnProperty.call(value, k) || isNonNullableNull(value[k], ps))
      value[k] = structuredClone(ps.default)
  }
  const additional = additionalSchema(s)
  for (const k of Object.keys(value)) {
    if (Object.prototype.hasOwnProperty.call(props, k)) applyDefaults(value[k], props[k])
    else if (additional) {
      if (isNonNullableNull(value[k], additional) && additional.default !== undefined)
        value[k] = structuredClone(additional.default)
      applyDefaults(value[k], additional)
    }
  }
}

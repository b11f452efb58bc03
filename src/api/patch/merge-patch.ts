// application/merge-patch+json: RFC 7386 as kube-apiserver applies it, through evanphx/json-patch v4's
// MergePatch: null deletes, objects merge recursively, anything else replaces. Nulls are pruned from
// values that replace (from objects, and from arrays as elements), except from a non-object value that
// replaces an object.
import { badRequest } from '../../server/errors'
import {
  GoJsonSyntaxError,
  cloneJson,
  decodeGoJson,
  isObject,
  jsonKind,
  type JsonValue,
} from '../../go/json'

type Obj = { [k: string]: JsonValue }
const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k)
const setKey = (o: Obj, k: string, v: JsonValue) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })

/** evanphx/json-patch's errBadJSONPatch; kube-apiserver answers it with 400 BadRequest. */
export const INVALID_JSON_PATCH = 'Invalid JSON Patch'

function pruneNulls(v: JsonValue): JsonValue {
  if (isObject(v)) return pruneDocNulls(v)
  if (Array.isArray(v)) return pruneAryNulls(v)
  return v
}

function pruneDocNulls(doc: Obj): Obj {
  for (const k of Object.keys(doc)) {
    if (doc[k] === null) delete doc[k]
    else pruneNulls(doc[k])
  }
  return doc
}

function pruneAryNulls(ary: JsonValue[]): JsonValue[] {
  const kept = ary.filter((v) => v !== null)
  kept.forEach(pruneNulls)
  ary.splice(0, ary.length, ...kept)
  return ary
}

function merge(cur: JsonValue, patch: JsonValue): JsonValue {
  if (!isObject(cur)) return pruneNulls(patch)
  if (!isObject(patch)) return patch
  mergeDocs(cur, patch)
  return cur
}

function mergeDocs(doc: Obj, patch: Obj): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete doc[k]
    } else if (!has(doc, k) || doc[k] === null) {
      setKey(doc, k, pruneNulls(v))
    } else {
      setKey(doc, k, merge(doc[k], v))
    }
  }
}

/** Merges an already-decoded patch into a copy of doc (jsonpatch.MergePatch on decoded values). */
export function mergePatchValues(doc: unknown, patch: JsonValue): JsonValue {
  if (patch === null) throw badRequest(INVALID_JSON_PATCH)
  const p = cloneJson(patch)
  if (!isObject(p)) {
    // Not an object: an array becomes the result, anything else is not a merge patch.
    if (Array.isArray(p)) return pruneAryNulls(p)
    throw badRequest(INVALID_JSON_PATCH)
  }
  const d = cloneJson(doc) as JsonValue
  if (!isObject(d)) return pruneDocNulls(p)
  mergeDocs(d, p)
  return d
}

export interface MergePatchOptions {
  /** metav1.FieldValidation: Strict and Warn decode the patch strictly first ("error decoding patch: ..."). */
  fieldValidation?: string
  /** Receives kjson.UnmarshalStrict's strict errors (duplicate fields) under Strict and Warn. */
  strictErrors?: string[]
}

/**
 * Applies a JSON merge patch body to a document (not mutated) as kube-apiserver does: a body that is not
 * JSON, is null, or is a scalar answers 400 BadRequest "Invalid JSON Patch".
 */
export function applyMergePatch(
  doc: unknown,
  patchBody: string,
  options: MergePatchOptions = {},
): unknown {
  const strict = options.fieldValidation === 'Strict' || options.fieldValidation === 'Warn'
  const duplicates: string[] = []
  let patch: JsonValue
  try {
    patch = decodeGoJson(patchBody, strict ? { duplicates } : {})
  } catch (e) {
    if (!(e instanceof GoJsonSyntaxError)) throw e
    throw badRequest(strict ? `error decoding patch: ${e.message}` : INVALID_JSON_PATCH)
  }
  if (strict) {
    if (patch !== null && !isObject(patch)) {
      throw badRequest(
        `error decoding patch: json: cannot unmarshal ${jsonKind(patch)} into Go value of type map[string]interface {}`,
      )
    }
    options.strictErrors?.push(...duplicates)
  }
  return mergePatchValues(doc, patch)
}

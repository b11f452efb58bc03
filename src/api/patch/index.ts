// The PATCH verb's body, applied by content type as handlers/patch.go PatchResource does.
import { StatusError, unsupportedMediaType } from '../../server/errors'
import { applyJsonPatch } from './json-patch'
import { applyMergePatch } from './merge-patch'
import { applyStrategicMergePatch } from './strategic-merge-patch'

export const JSON_PATCH = 'application/json-patch+json'
export const MERGE_PATCH = 'application/merge-patch+json'
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json'
export const APPLY_PATCH_YAML = 'application/apply-patch+yaml'

export interface PatchSchemaInfo {
  /** A built-in kind (typed in kube-apiserver): strategic merge patch is accepted. Custom resources are not. */
  builtin?: boolean
  group?: string
  kind?: string
  /** The fieldValidation query parameter (Strict, Warn, Ignore). */
  fieldValidation?: string
}

export interface PatchResult {
  object: unknown
  /** kjson.UnmarshalStrict's errors under fieldValidation Strict or Warn, for the caller to fail or warn with. */
  strictErrors: string[]
}

/**
 * The patch types a resource accepts, in installer.go's order; custom resources (crdhandler) have no
 * strategic merge patch.
 */
export function supportedPatchTypes(builtin: boolean): string[] {
  return builtin
    ? [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH_YAML]
    : [JSON_PATCH, MERGE_PATCH, APPLY_PATCH_YAML]
}

/**
 * Applies patchBody to doc (not mutated) by content type (parameters after ";" are ignored). A type the
 * resource does not accept is 415 with kube-apiserver's list. Server-side apply (apply-patch+yaml) is not a
 * patch of this kind: the patch handler merges it through src/api/fieldmanager instead.
 */
export function applyPatchWithWarnings(
  contentType: string,
  doc: unknown,
  patchBody: string,
  info: PatchSchemaInfo = {},
): PatchResult {
  const semi = contentType.indexOf(';')
  const mediaType = (semi > 0 ? contentType.slice(0, semi) : contentType).trim()
  const builtin = info.builtin ?? false
  const strictErrors: string[] = []
  switch (mediaType) {
    case JSON_PATCH:
      return {
        object: applyJsonPatch(doc, patchBody, { fieldValidation: info.fieldValidation }),
        strictErrors,
      }
    case MERGE_PATCH:
      return {
        object: applyMergePatch(doc, patchBody, {
          fieldValidation: info.fieldValidation,
          strictErrors,
        }),
        strictErrors,
      }
    case STRATEGIC_MERGE_PATCH:
      if (builtin) {
        const object = applyStrategicMergePatch(doc, patchBody, info.group ?? '', info.kind ?? '', {
          fieldValidation: info.fieldValidation,
          strictErrors,
        })
        return { object, strictErrors }
      }
      break
  }
  // negotiation.NewUnsupportedMediaTypeError: the same message, in a Status without details.
  const e = unsupportedMediaType('', supportedPatchTypes(builtin))
  throw new StatusError(e.code, e.reason, e.message)
}

/** applyPatchWithWarnings without the strict errors: the patched object. */
export function applyPatch(
  contentType: string,
  doc: unknown,
  patchBody: string,
  info: PatchSchemaInfo = {},
): unknown {
  return applyPatchWithWarnings(contentType, doc, patchBody, info).object
}

export {
  applyJsonPatch,
  applyJsonPatchOperations,
  JsonPatchApplyError,
  JsonPatchError,
  MAX_JSON_PATCH_OPERATIONS,
} from './json-patch'
export { applyMergePatch, mergePatchValues, INVALID_JSON_PATCH } from './merge-patch'
export {
  applyStrategicMergePatch,
  strategicMergeMapPatch,
  StrategicMergePatchError,
  UnknownStatusError,
} from './strategic-merge-patch'

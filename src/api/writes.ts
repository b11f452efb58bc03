// What create, update and patch share beyond their verb: the write options (fieldManager, fieldValidation,
// force), the strict decoding of a body against the kind's published schema, and the managed fields every
// write records.
import { parse as parseYaml } from 'yaml'
import { badRequest, fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, fieldTooLong, invalid, type FieldError } from '../server/errors'
import { groupVersion, type KubeObject } from '../registry/types'
import { applyConfiguration, managerOrUserAgent, updateManagedFields, type FieldManagerScope } from './fieldmanager'
import { decodeFailure, duplicateFields, enforceFieldValidation, pruneUnknownFields, type FieldValidation } from './fieldvalidation'
import { decodeObject, mediaType } from './negotiation'
import { APPLY_PATCH_YAML } from './patch'
import { publishedSchema } from './openapi/schema'
import type { Scope } from './scope'
import { decodeWriteOptions } from './query'

export interface WriteOptions {
  fieldValidation: FieldValidation
  /** The manager named in managedFields: fieldManager, or the User-Agent's product. */
  manager: string
  force: boolean
}

const FIELD_MANAGER_MAX_LENGTH = 128

/**
 * ValidateCreateOptions / ValidateUpdateOptions / ValidatePatchOptions: a 422 on the options kind for a
 * fieldManager that is too long or unprintable, an unknown fieldValidation, force on a non-apply patch or
 * an apply patch without fieldManager.
 */
export function writeOptions(s: Scope, optionsKind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions', patchType?: string): WriteOptions {
  const errs: FieldError[] = []
  const { fieldManager, fieldValidation: fv, force } = decodeWriteOptions(s.query, optionsKind)
  if (patchType !== undefined) {
    if (patchType !== APPLY_PATCH_YAML) {
      if (force !== undefined) errs.push(fieldForbidden('force', 'may not be specified for non-apply patch'))
    } else if (!fieldManager) {
      errs.push(fieldRequired('fieldManager', 'is required for apply patch'))
    }
  }
  if (fieldManager.length > FIELD_MANAGER_MAX_LENGTH) errs.push(fieldTooLong('fieldManager', fieldManager, FIELD_MANAGER_MAX_LENGTH))
  let i = 0
  for (const ch of fieldManager) {
    if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) {
      const cp = ch.codePointAt(0)!
      errs.push(fieldInvalid('fieldManager', fieldManager, `invalid character U+${cp.toString(16).toUpperCase().padStart(4, '0')} (at position ${i})`))
    }
    i += new TextEncoder().encode(ch).length
  }
  if (!['', 'Ignore', 'Warn', 'Strict'].includes(fv)) errs.push(fieldNotSupported('fieldValidation', fv, ['', 'Ignore', 'Strict', 'Warn']))
  if (errs.length) throw invalid({ group: 'meta.k8s.io', kind: optionsKind }, '', errs)
  return {
    fieldValidation: (fv || 'Warn') as FieldValidation,
    manager: managerOrUserAgent(fieldManager, s.req.headers.get('user-agent')),
    force: force === true,
  }
}

/**
 * Decodes a create or update body, drops the fields the kind's schema does not declare and reports them
 * (and duplicate fields) as fieldValidation says, in kube-apiserver's words.
 */
export function decodeForWrite(s: Scope, text: string, contentType: string, fieldValidation: FieldValidation): KubeObject {
  const obj = decodeObject(text, contentType) as KubeObject
  const schema = publishedSchema(s.type)
  const unknown = pruneUnknownFields(obj, schema)
  const duplicates = fieldValidation === 'Ignore' ? [] : duplicateFields(text, mediaType(contentType))
  const version = typeof obj.apiVersion === 'string' ? obj.apiVersion.split('/').pop()! : s.type.version
  enforceFieldValidation(fieldValidation, [...duplicates, ...unknown], s.ctx, decodeFailure(s.type.kind, version))
  return obj
}

/**
 * An apply-patch+yaml body as applyPatcher decodes it (yaml.Unmarshal into a map): "error decoding YAML: ..."
 * for what does not parse or is not an object; null and an empty document are an empty configuration.
 */
export function decodeApplyConfiguration(text: string): KubeObject {
  let value: unknown
  try {
    value = parseYaml(text, { maxAliasCount: 100 })
  } catch (e) {
    throw badRequest(`error decoding YAML: error converting YAML to JSON: yaml: ${(e as Error).message.split('\n')[0]}`)
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    const kind = Array.isArray(value) ? 'array' : typeof value === 'string' ? 'string' : typeof value === 'boolean' ? 'bool' : 'number'
    throw badRequest(`error decoding YAML: json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`)
  }
  return value as KubeObject
}

/** Drops undeclared fields from a patched object; returns the strict decoding errors about them. */
export function pruneForPatch(s: Scope, obj: KubeObject): string[] {
  return pruneUnknownFields(obj, publishedSchema(s.type))
}

export { enforceFieldValidation }

function managerScope(s: Scope, subresource: string): FieldManagerScope | undefined {
  const schema = publishedSchema(s.type)
  if (!schema) {
    // A schemaless kind still tracks ownership, with every part of it deduced from the values.
    return { schema: { name: 'object', definitions: { object: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }, apiVersion: groupVersion(s.type), kind: s.type.kind, subresource, statusIsSubresource: !!s.type.subresources?.status }
  }
  return { schema, apiVersion: groupVersion(s.type), kind: s.type.kind, subresource, statusIsSubresource: !!s.type.subresources?.status, scaleReplicasPath: s.type.subresources?.scale?.specReplicasPath.split('.') }
}

/**
 * The object with managedFields recording an Update by `manager` (live is undefined for a create). kube-apiserver
 * defaults a body as it decodes it, before the field manager looks: the updater owns what defaulting set, and
 * what decoding converted (a Secret's stringData) is owned where it lands.
 */
export function withManagedFields(s: Scope, live: KubeObject | undefined, obj: KubeObject, manager: string, subresource = ''): KubeObject {
  const scope = managerScope(s, subresource)
  if (!scope) return obj
  if (!subresource) s.type.strategy.defaults?.(obj)
  return updateManagedFields(live, obj, manager, scope)
}

/** A server-side apply of config over live. */
export function applyToLive(s: Scope, live: KubeObject | undefined, config: KubeObject, opts: WriteOptions, subresource = ''): KubeObject {
  return applyConfiguration(live, config, opts.manager, opts.force, managerScope(s, subresource)!)
}

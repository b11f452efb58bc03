// What create, update and patch share beyond their verb: the write options (fieldManager, fieldValidation,
// force), the strict decoding of a body against the kind's published schema, and the managed fields every
// write records.
import {
  badRequest,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  fieldTooLong,
  invalid,
  type FieldError,
  type StatusError,
} from '../server/errors'
import { groupVersion, type KubeObject, type TypeMismatch } from '../registry/types'
import {
  applyConfiguration,
  managerOrUserAgent,
  updateManagedFields,
  type FieldManagerScope,
} from './fieldmanager'
import {
  decodeFailure,
  enforceFieldValidation,
  pruneUnknownFields,
  type FieldValidation,
} from './fieldvalidation'
import { decodeObject } from './negotiation'
import { YamlError, yamlToJson } from './yaml'
import { APPLY_PATCH_YAML, STRATEGIC_MERGE_PATCH } from './patch'
import { decodeGoJson, goJsonMarshal, goSprint } from '../go/json'
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
export function writeOptions(
  s: Scope,
  optionsKind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions',
  patchType?: string,
): WriteOptions {
  const errs: FieldError[] = []
  const { fieldManager, fieldValidation: fv, force } = decodeWriteOptions(s.query, optionsKind)
  if (patchType !== undefined) {
    if (patchType !== APPLY_PATCH_YAML) {
      if (force !== undefined)
        errs.push(fieldForbidden('force', 'may not be specified for non-apply patch'))
    } else if (!fieldManager) {
      errs.push(fieldRequired('fieldManager', 'is required for apply patch'))
    }
  }
  if (fieldManager.length > FIELD_MANAGER_MAX_LENGTH)
    errs.push(fieldTooLong('fieldManager', fieldManager, FIELD_MANAGER_MAX_LENGTH))
  let i = 0
  for (const ch of fieldManager) {
    if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) {
      const cp = ch.codePointAt(0)!
      errs.push(
        fieldInvalid(
          'fieldManager',
          fieldManager,
          `invalid character U+${cp.toString(16).toUpperCase().padStart(4, '0')} (at position ${i})`,
        ),
      )
    }
    i += new TextEncoder().encode(ch).length
  }
  if (!['', 'Ignore', 'Warn', 'Strict'].includes(fv))
    errs.push(fieldNotSupported('fieldValidation', fv, ['', 'Ignore', 'Strict', 'Warn']))
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
export function decodeForWrite(
  s: Scope,
  text: string,
  contentType: string,
  fieldValidation: FieldValidation,
): KubeObject {
  const duplicates: string[] = []
  const into = { apiVersion: groupVersion(s.type), kind: s.type.kind }
  const obj = decodeObject(
    text,
    contentType,
    into,
    fieldValidation === 'Ignore' ? {} : { duplicates },
  ) as KubeObject
  checkDecodedKind(s, obj)
  const schema = publishedSchema(s.type)
  const unknown = pruneUnknownFields(obj, schema)
  const version =
    typeof obj.apiVersion === 'string' ? obj.apiVersion.split('/').pop()! : s.type.version
  enforceFieldValidation(
    fieldValidation,
    [...duplicates, ...unknown],
    s.ctx,
    decodeFailure(s.type.kind, version),
  )
  // LogRequestObject, once decoded (kube's decoding also defaults, which the handlers do later).
  s.ctx.audit?.logRequestObject(
    obj,
    s.info.subresource ? undefined : (o) => s.type.strategy.defaults?.(o),
  )
  return obj
}

// The package kube's internal (hub) types of a group live in, which conversion errors name.
const INTERNAL_PACKAGES: Record<string, string> = {
  '': 'core',
  'events.k8s.io': 'core',
  'internal.apiserver.k8s.io': 'apiserverinternal',
}

/**
 * A built-in endpoint decodes a body of another kind as that kind and then fails to convert it to its own
 * (the versioning codec's Convert), or fails to make one at all for a kind kube's scheme does not have; both
 * reach the client through transformDecodeError. The body's kind and version default to the endpoint's
 * (gvkWithDefaults). The same kind in another version is the registry store's to refuse, as create.go does
 * after decoding.
 */
function checkDecodedKind(s: Scope, obj: KubeObject): void {
  if (s.type.custom) return
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : ''
  const kind = typeof obj.kind === 'string' && obj.kind ? obj.kind : s.type.kind
  if (kind === s.type.kind) return
  let [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
  if (!version && (!group || group === s.type.group))
    [group, version] = [s.type.group, s.type.version]
  const gv = group ? `${group}/${version}` : version
  const handled = `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${s.type.kind}`
  const known = s.registry.byKind(gv, kind)
  if (!known || known.custom) {
    throw badRequest(
      `${handled}: no kind ${JSON.stringify(kind)} is registered for version ${JSON.stringify(gv)} in scheme "pkg/api/legacyscheme/scheme.go:30"`,
    )
  }
  const hub = INTERNAL_PACKAGES[s.type.group] ?? s.type.group.split('.')[0]
  throw badRequest(
    `${handled}: converting (${version}.${kind}) to (${hub}.${s.type.kind}): unknown conversion`,
  )
}

/**
 * An apply-patch+yaml body as applyPatcher decodes it (yaml.Unmarshal into a map): "error decoding YAML: ..."
 * for what does not parse or is not an object; null and an empty document are an empty configuration.
 */
export function decodeApplyConfiguration(text: string): KubeObject {
  let value: unknown
  try {
    value = yamlToJson(text)
  } catch (e) {
    if (!(e instanceof YamlError)) throw e
    throw badRequest(`error decoding YAML: error converting YAML to JSON: yaml: ${e.message}`)
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    const kind = Array.isArray(value)
      ? 'array'
      : typeof value === 'string'
        ? 'string'
        : typeof value === 'boolean'
          ? 'bool'
          : 'number'
    throw badRequest(
      `error decoding YAML: json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`,
    )
  }
  return value as KubeObject
}

/**
 * What the patch handler answers for a patched built-in object that does not decode into its Go struct:
 * 422 with the patch as the invalid value. The JSON and merge patchers decode the patched JSON (the value is
 * that JSON, the detail encoding/json's error); the strategic merge patcher converts the patched map with
 * the unstructured converter (the value is the patch map as %+v prints it, the detail the converter's error).
 */
export function patchDecodeError(
  s: Scope,
  patchType: string,
  patchBody: string,
  patched: KubeObject,
): StatusError | undefined {
  const mismatch = s.type.custom ? undefined : s.type.strategy.typeMismatch?.(patched)
  if (!mismatch) return undefined
  const [value, detail] =
    patchType === STRATEGIC_MERGE_PATCH
      ? [goSprint(decodeGoJson(patchBody)), fromUnstructuredError(mismatch)]
      : [goJsonMarshal(patched), mismatch.message]
  return invalid({ group: '', kind: '' }, '', [fieldInvalid('patch', value, detail)])
}

// Go types with their own UnmarshalJSON, which the converter calls: their errors are encoding/json's.
const CUSTOM_UNMARSHALERS = new Set([
  'v1.Time',
  'v1.MicroTime',
  'resource.Quantity',
  'intstr.IntOrString',
  '[]byte',
])

/** runtime.DefaultUnstructuredConverter.FromUnstructured's error for a value of the wrong kind. */
function fromUnstructuredError(m: TypeMismatch): string {
  if (CUSTOM_UNMARSHALERS.has(m.goType)) return m.message
  const v = m.value
  const kind =
    typeof v === 'string'
      ? 'string'
      : typeof v === 'boolean'
        ? 'bool'
        : typeof v === 'number'
          ? Number.isInteger(v)
            ? 'int64'
            : 'float64'
          : Array.isArray(v)
            ? 'slice'
            : 'map'
  if (m.goType.startsWith('map[') || m.goType.endsWith('.ResourceList'))
    return `cannot restore map from ${kind}`
  if (m.goType.startsWith('[]')) return `cannot restore slice from ${kind}`
  if (m.goType.includes('.')) return `cannot restore struct from: ${kind}`
  const type =
    kind === 'slice' ? '[]interface {}' : kind === 'map' ? 'map[string]interface {}' : kind
  return `cannot convert ${type} to ${m.goType}`
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
    return {
      schema: {
        name: 'object',
        definitions: { object: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
      apiVersion: groupVersion(s.type),
      kind: s.type.kind,
      subresource,
      statusIsSubresource: !!s.type.subresources?.status,
    }
  }
  return {
    schema,
    apiVersion: groupVersion(s.type),
    kind: s.type.kind,
    subresource,
    statusIsSubresource: !!s.type.subresources?.status,
    scaleReplicasPath: s.type.subresources?.scale?.specReplicasPath.split('.'),
    subresourceFields: s.type.subresources?.updates?.[subresource]?.ownedFields,
  }
}

/**
 * The object with managedFields recording an Update by `manager` (live is undefined for a create). kube-apiserver
 * defaults a body as it decodes it, before the field manager looks: the updater owns what defaulting set, and
 * what decoding converted (a Secret's stringData) is owned where it lands.
 */
export function withManagedFields(
  s: Scope,
  live: KubeObject | undefined,
  obj: KubeObject,
  manager: string,
  subresource = '',
): KubeObject {
  const scope = managerScope(s, subresource)
  if (!scope) return obj
  if (!subresource) s.type.strategy.defaults?.(obj)
  return updateManagedFields(live, obj, manager, scope)
}

/** A server-side apply of config over live. */
export function applyToLive(
  s: Scope,
  live: KubeObject | undefined,
  config: KubeObject,
  opts: WriteOptions,
  subresource = '',
): KubeObject {
  return applyConfiguration(live, config, opts.manager, opts.force, managerScope(s, subresource)!)
}

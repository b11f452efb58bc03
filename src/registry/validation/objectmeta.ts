// ObjectMeta validation (k8s.io/apimachinery/pkg/api/validation/objectmeta.go, plus core's finalizer rule).
import {
  fieldForbidden,
  fieldInvalid,
  fieldRequired,
  fieldTooLong,
  type FieldError,
} from '../../server/errors'
import type { ObjectMeta, OwnerReference } from '../types'
import { semanticEqual } from './equality'
import {
  byteLength,
  isQualifiedName,
  isValidLabelValue,
  nameIsDNSSubdomain,
  validateNamespaceName,
  validatePathSegmentName,
  type NameValidator,
} from './names'
import { child, index } from './path'

export const FIELD_IMMUTABLE = 'field is immutable'
export const IS_NEGATIVE = 'must be greater than or equal to 0'
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const asMap = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {}

export function validateImmutableField(
  newVal: unknown,
  oldVal: unknown,
  path: string,
): FieldError[] {
  return semanticEqual(newVal, oldVal) ? [] : [fieldInvalid(path, newVal ?? null, FIELD_IMMUTABLE)]
}

export function validateNonnegativeField(value: unknown, path: string): FieldError[] {
  return typeof value === 'number' && value < 0 ? [fieldInvalid(path, value, IS_NEGATIVE)] : []
}

export function validateLabelName(name: string, path: string): FieldError[] {
  return isQualifiedName(name).map((msg) => fieldInvalid(path, name, msg))
}

export function validateLabels(labels: unknown, path: string): FieldError[] {
  const errs: FieldError[] = []
  for (const [k, v] of Object.entries(asMap(labels))) {
    errs.push(...validateLabelName(k, path))
    const value = asString(v) ?? ''
    for (const msg of isValidLabelValue(value)) errs.push(fieldInvalid(path, value, msg))
  }
  return errs
}

export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = []
  let total = 0
  for (const [k, v] of Object.entries(asMap(annotations))) {
    // The rule is a qualified name, except that case does not matter.
    for (const msg of isQualifiedName(k.toLowerCase())) errs.push(fieldInvalid(path, k, msg))
    total += byteLength(k) + byteLength(asString(v) ?? '')
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT)
    errs.push(fieldTooLong(path, '', TOTAL_ANNOTATION_SIZE_LIMIT))
  return errs
}

/** metav1.LabelSelector validation (matchLabels, matchExpressions). */
export function validateLabelSelector(selector: unknown, path: string): FieldError[] {
  if (!selector || typeof selector !== 'object') return []
  const s = selector as { matchLabels?: unknown; matchExpressions?: unknown }
  const errs = validateLabels(s.matchLabels, child(path, 'matchLabels'))
  const exprs = Array.isArray(s.matchExpressions) ? s.matchExpressions : []
  exprs.forEach((e: { key?: string; operator?: string; values?: string[] }, i) => {
    const p = index(child(path, 'matchExpressions'), i)
    const values = e.values ?? []
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0)
          errs.push(
            fieldRequired(
              child(p, 'values'),
              "must be specified when `operator` is 'In' or 'NotIn'",
            ),
          )
        break
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0)
          errs.push(
            fieldForbidden(
              child(p, 'values'),
              "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
          )
        break
      default:
        errs.push(
          fieldInvalid(child(p, 'operator'), e.operator ?? '', 'not a valid selector operator'),
        )
    }
    errs.push(...validateLabelName(e.key ?? '', child(p, 'key')))
    values.forEach((v, j) => {
      for (const msg of isValidLabelValue(v))
        errs.push(fieldInvalid(index(child(p, 'values'), j), v, msg))
    })
  })
  return errs
}

function validateOwnerReferences(refs: OwnerReference[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = []
  let firstController = ''
  for (const ref of refs ?? []) {
    const apiVersion = ref.apiVersion ?? ''
    const version = apiVersion.includes('/')
      ? apiVersion.slice(apiVersion.indexOf('/') + 1)
      : apiVersion
    if (!version)
      errs.push(fieldInvalid(child(path, 'apiVersion'), apiVersion, 'version must not be empty'))
    if (!ref.kind) errs.push(fieldInvalid(child(path, 'kind'), ref.kind ?? '', 'must not be empty'))
    if (!ref.name) errs.push(fieldInvalid(child(path, 'name'), ref.name ?? '', 'must not be empty'))
    if (!ref.uid) errs.push(fieldInvalid(child(path, 'uid'), ref.uid ?? '', 'must not be empty'))
    if (apiVersion === 'v1' && ref.kind === 'Event')
      errs.push(fieldInvalid(path, ref, '/v1, Kind=Event is disallowed from being an owner'))
    if (ref.controller) {
      const name = `${ref.kind}/${ref.name}`
      if (firstController) {
        errs.push(
          fieldInvalid(
            path,
            refs,
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${name}`,
          ),
        )
      } else firstController = name
    }
  }
  return errs
}

function validateFinalizers(finalizers: string[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = []
  const list = finalizers ?? []
  for (const f of list) for (const msg of isQualifiedName(f)) errs.push(fieldInvalid(path, f, msg))
  if (list.includes('orphan') && list.includes('foregroundDeletion')) {
    errs.push(
      fieldInvalid(path, list, 'finalizer orphan and foregroundDeletion cannot be both set'),
    )
  }
  return errs
}

function validateManagedFields(entries: unknown[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = []
  ;(entries ?? []).forEach((raw, i) => {
    const e = asMap(raw)
    const p = index(path, i)
    if (e.operation !== 'Apply' && e.operation !== 'Update')
      errs.push(
        fieldInvalid(child(p, 'operation'), e.operation ?? '', 'must be `Apply` or `Update`'),
      )
    if (e.fieldsType && e.fieldsType !== 'FieldsV1')
      errs.push(fieldInvalid(child(p, 'fieldsType'), e.fieldsType, 'must be `FieldsV1`'))
  })
  return errs
}

function validateMetaCommon(meta: ObjectMeta, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = []
  if (namespaced) {
    if (!meta.namespace) errs.push(fieldRequired('metadata.namespace'))
    else
      for (const msg of validateNamespaceName(meta.namespace, false))
        errs.push(fieldInvalid('metadata.namespace', meta.namespace, msg))
  } else if (meta.namespace) {
    errs.push(fieldForbidden('metadata.namespace', 'not allowed on this type'))
  }
  errs.push(...validateNonnegativeField(meta.generation, 'metadata.generation'))
  errs.push(...validateLabels(meta.labels, 'metadata.labels'))
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'))
  errs.push(...validateOwnerReferences(meta.ownerReferences, 'metadata.ownerReferences'))
  errs.push(...validateFinalizers(meta.finalizers, 'metadata.finalizers'))
  errs.push(...validateManagedFields(meta.managedFields, 'metadata.managedFields'))
  return errs
}

export interface ObjectMetaOptions {
  namespaced: boolean
  /** The kind's name rule (strategy.validateName); DNS-1123 subdomain when absent. */
  validateName?: NameValidator
}

/** ValidateObjectMeta on create: expects name generation to have happened already. */
export function validateObjectMeta(
  meta: ObjectMeta | undefined,
  opts: ObjectMetaOptions,
): FieldError[] {
  const m = meta ?? {}
  const nameFn = opts.validateName ?? nameIsDNSSubdomain
  const errs: FieldError[] = []
  if (m.generateName)
    for (const msg of nameFn(m.generateName, true))
      errs.push(fieldInvalid('metadata.generateName', m.generateName, msg))
  if (!m.name) errs.push(fieldRequired('metadata.name', 'name or generateName is required'))
  else
    for (const msg of nameFn(m.name, false)) errs.push(fieldInvalid('metadata.name', m.name, msg))
  errs.push(...validateMetaCommon(m, opts.namespaced))
  // rest.BeforeCreate then checks every name is a valid path segment, once the kind's own rules pass.
  if (errs.length === 0 && m.name)
    for (const msg of validatePathSegmentName(m.name, false))
      errs.push(fieldInvalid('metadata.name', m.name, msg))
  return errs
}

const sameInstant = (a?: string, b?: string) =>
  a && b ? Date.parse(a) === Date.parse(b) : !a && !b

/** ValidateObjectMetaUpdate: identity and timestamps are immutable; labels and annotations revalidated. */
export function validateObjectMetaUpdate(
  newMeta: ObjectMeta | undefined,
  oldMeta: ObjectMeta | undefined,
): FieldError[] {
  const n = newMeta ?? {}
  const o = oldMeta ?? {}
  const errs: FieldError[] = []
  if (o.deletionTimestamp) {
    const added = [
      ...new Set((n.finalizers ?? []).filter((f) => !(o.finalizers ?? []).includes(f))),
    ].sort()
    if (added.length)
      errs.push(
        fieldForbidden(
          'metadata.finalizers',
          `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
        ),
      )
  }
  if ((n.generation ?? 0) < (o.generation ?? 0))
    errs.push(fieldInvalid('metadata.generation', n.generation ?? 0, 'must not be decremented'))
  errs.push(...validateImmutableField(n.name, o.name, 'metadata.name'))
  errs.push(...validateImmutableField(n.namespace, o.namespace, 'metadata.namespace'))
  errs.push(...validateImmutableField(n.uid, o.uid, 'metadata.uid'))
  if (!sameInstant(n.creationTimestamp, o.creationTimestamp))
    errs.push(
      fieldInvalid('metadata.creationTimestamp', n.creationTimestamp ?? null, FIELD_IMMUTABLE),
    )
  if (!sameInstant(n.deletionTimestamp, o.deletionTimestamp))
    errs.push(
      fieldInvalid('metadata.deletionTimestamp', n.deletionTimestamp ?? null, FIELD_IMMUTABLE),
    )
  errs.push(
    ...validateImmutableField(
      n.deletionGracePeriodSeconds,
      o.deletionGracePeriodSeconds,
      'metadata.deletionGracePeriodSeconds',
    ),
  )
  errs.push(...validateLabels(n.labels, 'metadata.labels'))
  errs.push(...validateAnnotations(n.annotations, 'metadata.annotations'))
  errs.push(...validateOwnerReferences(n.ownerReferences, 'metadata.ownerReferences'))
  errs.push(...validateFinalizers(n.finalizers, 'metadata.finalizers'))
  errs.push(...validateManagedFields(n.managedFields, 'metadata.managedFields'))
  return errs
}

/** ValidateObjectMeta for an embedded template's metadata (labels and annotations only matter there). */
export function validateTemplateMeta(meta: unknown, path: string): FieldError[] {
  const m = asMap(meta)
  return [
    ...validateLabels(m.labels, child(path, 'labels')),
    ...validateAnnotations(m.annotations, child(path, 'annotations')),
  ]
}

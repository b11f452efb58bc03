// core/v1 ConfigMap (ValidateConfigMap, ValidateConfigMapUpdate).
import { fieldForbidden, fieldInvalid, fieldTooLong, type FieldError } from '../../server/errors'
import { byteLength, isConfigMapKey } from '../validation/names'
import { semanticEqual } from '../validation/equality'
import { key } from '../validation/path'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

/** corev1.MaxSecretSize: the most a ConfigMap or Secret may hold. */
export const MAX_SECRET_SIZE = 1024 * 1024
export const IMMUTABLE_WHEN_SET = 'field is immutable when `immutable` is set'

function validateConfigMap(cm: Obj): FieldError[] {
  const errs: FieldError[] = []
  let total = 0
  const data = (cm.data ?? {}) as Record<string, string>
  const binary = (cm.binaryData ?? {}) as Record<string, string>
  for (const [k, v] of Object.entries(data)) {
    for (const msg of isConfigMapKey(k)) errs.push(fieldInvalid(key('data', k), k, msg))
    if (k in binary)
      errs.push(fieldInvalid(key('data', k), k, 'duplicate of key present in binaryData'))
    total += byteLength(String(v ?? ''))
  }
  for (const [k, v] of Object.entries(binary)) {
    for (const msg of isConfigMapKey(k)) errs.push(fieldInvalid(key('binaryData', k), k, msg))
    total += Math.floor((String(v ?? '').replace(/=+$/, '').length * 3) / 4)
  }
  if (total > MAX_SECRET_SIZE) errs.push(fieldTooLong('', '', MAX_SECRET_SIZE))
  return errs
}

/** The `immutable: true` rule ConfigMaps and Secrets share. */
export function immutableDataErrors(obj: Obj, old: Obj, fields: string[]): FieldError[] {
  if (old.immutable !== true) return []
  const errs: FieldError[] = []
  if (obj.immutable !== true) errs.push(fieldForbidden('immutable', IMMUTABLE_WHEN_SET))
  for (const f of fields)
    if (!semanticEqual(obj[f], old[f])) errs.push(fieldForbidden(f, IMMUTABLE_WHEN_SET))
  return errs
}

export const configmaps = defineKind({
  group: '',
  version: 'v1',
  resource: 'configmaps',
  kind: 'ConfigMap',
  namespaced: true,
  shortNames: ['cm'],
  schema: 'CoreV1ConfigMap',
  strategy: {
    validate: validateConfigMap,
    validateUpdate: (obj, old) => [
      ...immutableDataErrors(obj, old, ['data', 'binaryData']),
      ...validateConfigMap(obj),
    ],
    printer: printer(
      [
        col(
          'Data',
          'string',
          "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
        ),
      ],
      (o) => [Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length],
    ),
  },
})

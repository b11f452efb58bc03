// core/v1 Secret (ValidateSecret, ValidateSecretUpdate; stringData folds into data on decode).
import { decodeGoJson, GoJsonSyntaxError, isObject, jsonKind, type JsonValue } from '../../go/json'
import { fieldInvalid, fieldRequired, fieldTooLong, type FieldError } from '../../server/errors'
import { isConfigMapKey } from '../validation/names'
import { validateImmutableField } from '../validation/objectmeta'
import { key } from '../validation/path'
import { col } from '../printers/format'
import { immutableDataErrors, MAX_SECRET_SIZE } from './configmaps'
import { defineKind, fieldsAt, printer, type Obj } from './define'

function base64OfUtf8(s: string): string {
  let bin = ''
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b)
  return btoa(bin)
}

function decodedLength(b64: string): number {
  const clean = String(b64 ?? '').replace(/[\r\n]/g, '')
  return Math.floor((clean.replace(/=+$/, '').length * 3) / 4)
}

function decodeText(b64: string): string | undefined {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))
  } catch {
    return undefined
  }
}

/** json.Unmarshal(text, &map[string]interface{}{})'s error, in encoding/json's words, as ValidateSecret reports it. */
function validJSON(text: string | undefined): string | undefined {
  let value: JsonValue
  try {
    value = decodeGoJson(text ?? '')
  } catch (e) {
    if (e instanceof GoJsonSyntaxError) return e.message
    throw e
  }
  if (value !== null && !isObject(value))
    return `json: cannot unmarshal ${jsonKind(value)} into Go value of type map[string]interface {}`
  return undefined
}

function validateSecret(secret: Obj): FieldError[] {
  const errs: FieldError[] = []
  const data = (secret.data ?? {}) as Record<string, string>
  let total = 0
  for (const [k, v] of Object.entries(data)) {
    for (const msg of isConfigMapKey(k)) errs.push(fieldInvalid(key('data', k), k, msg))
    total += decodedLength(v)
  }
  if (total > MAX_SECRET_SIZE) errs.push(fieldTooLong('data', '', MAX_SECRET_SIZE))
  const has = (k: string) => k in data
  switch (secret.type) {
    case 'kubernetes.io/service-account-token':
      if (!secret.metadata?.annotations?.['kubernetes.io/service-account.name'])
        errs.push(fieldRequired(key('metadata.annotations', 'kubernetes.io/service-account.name')))
      break
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const k = secret.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson'
      if (!has(k)) errs.push(fieldRequired(key('data', k)))
      else {
        const problem = validJSON(decodeText(data[k]))
        if (problem) errs.push(fieldInvalid(key('data', k), '<secret contents redacted>', problem))
      }
      break
    }
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password'))
        errs.push(fieldRequired(key('data', 'username')), fieldRequired(key('data', 'password')))
      break
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']) errs.push(fieldRequired(key('data', 'ssh-privatekey')))
      break
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) errs.push(fieldRequired(key('data', 'tls.crt')))
      if (!has('tls.key')) errs.push(fieldRequired(key('data', 'tls.key')))
      break
  }
  return errs
}

export const secrets = defineKind({
  group: '',
  version: 'v1',
  resource: 'secrets',
  kind: 'Secret',
  namespaced: true,
  schema: 'CoreV1Secret',
  strategy: {
    defaults(obj) {
      // Convert_v1_Secret_To_core_Secret: stringData is write-only and overlays data.
      if (obj.stringData && typeof obj.stringData === 'object') {
        const data = ((obj.data as Obj) ??= {})
        for (const [k, v] of Object.entries(obj.stringData as Record<string, string>))
          data[k] = base64OfUtf8(String(v ?? ''))
      }
      delete obj.stringData
      obj.type ||= 'Opaque'
    },
    validate: validateSecret,
    validateUpdate: (obj, old) => [
      ...validateImmutableField(obj.type, old.type, 'type'),
      ...immutableDataErrors(obj, old, ['data']),
      ...validateSecret(obj),
    ],
    fieldSelectors: fieldsAt({ type: 'type' }),
    printer: printer(
      [
        col(
          'Type',
          'string',
          'Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types',
        ),
        col(
          'Data',
          'string',
          "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
        ),
      ],
      (o) => [o.type ?? '', Object.keys(o.data ?? {}).length],
    ),
  },
})

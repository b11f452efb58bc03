// kube-apiserver's --encryption-provider-config file: an EncryptionConfiguration (apiserver.config.k8s.io/v1,
// or the legacy `apiVersion: v1, kind: EncryptionConfig` kube still registers "due to a docs bug"), decoded
// strictly as kube's loadConfig does and checked with the rules and words of
// k8s.io/apiserver/pkg/apis/apiserver/validation/validation_encryption.go.
import { tryParseGoDuration } from '../../go/duration'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { fieldErrorString, fieldInvalid, fieldRequired, type FieldError } from '../../server/errors'
import { errorText } from '../../util/errors'

const key = z.strictObject({ name: z.string().optional(), secret: z.string().optional() })
const keys = z.strictObject({ keys: z.array(key).nullish() })
const kms = z.strictObject({
  apiVersion: z.string().optional(),
  name: z.string().optional(),
  endpoint: z.string().optional(),
  cachesize: z.number().int().optional(),
  timeout: z.string().optional(),
})
const provider = z.strictObject({
  aesgcm: keys.optional(),
  aescbc: keys.optional(),
  secretbox: keys.optional(),
  identity: z.strictObject({}).optional(),
  kms: kms.optional(),
})
const resourceConfiguration = z.strictObject({
  resources: z.array(z.string()).nullish(),
  providers: z.array(provider).nullish(),
})
const encryptionConfiguration = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  resources: z.array(resourceConfiguration).nullish(),
})

export type Key = z.infer<typeof key>
export type ProviderConfiguration = z.infer<typeof provider>
export type KMSConfiguration = z.infer<typeof kms>
export interface ResourceConfiguration {
  resources: string[]
  providers: ProviderConfiguration[]
}
export interface EncryptionConfiguration {
  resources: ResourceConfiguration[]
}

/** A configuration kube-apiserver would refuse; the message is kube's. */
export class EncryptionConfigError extends Error {}

const AES_KEY_SIZES = [16, 24, 32]
const SECRETBOX_KEY_SIZES = [32]

/**
 * Decodes and validates the configuration text (YAML or JSON). `source` names it in the message for an empty
 * file, as kube names the file.
 */
export function parseEncryptionConfiguration(
  text: string,
  source: string,
): EncryptionConfiguration {
  if (text.length === 0)
    throw new EncryptionConfigError(
      `encryption provider configuration file ${JSON.stringify(source)} is empty`,
    )
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (e) {
    throw new EncryptionConfigError(`error converting YAML to JSON: ${errorText(e).split('\n')[0]}`)
  }
  const head = (doc ?? {}) as { apiVersion?: unknown; kind?: unknown }
  if (typeof head !== 'object' || Array.isArray(head)) {
    throw new EncryptionConfigError(
      "couldn't get version/kind; json parse error: cannot unmarshal into Go value of type struct",
    )
  }
  if (!head.kind)
    throw new EncryptionConfigError(`Object 'Kind' is missing in '${JSON.stringify(doc)}'`)
  const known =
    (head.apiVersion === 'apiserver.config.k8s.io/v1' && head.kind === 'EncryptionConfiguration') ||
    (head.apiVersion === 'v1' && head.kind === 'EncryptionConfig')
  if (!known) {
    const version = JSON.stringify(head.apiVersion ?? '')
    throw new EncryptionConfigError(
      `no kind ${JSON.stringify(head.kind)} is registered for version ${version} in scheme "k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go"`,
    )
  }
  const parsed = encryptionConfiguration.safeParse(doc)
  if (!parsed.success) throw new EncryptionConfigError(decodingError(parsed.error))
  const config: EncryptionConfiguration = {
    resources: (parsed.data.resources ?? []).map((r) => ({
      resources: r.resources ?? [],
      providers: r.providers ?? [],
    })),
  }
  const errs = validateEncryptionConfiguration(config)
  if (errs.length === 1) throw new EncryptionConfigError(fieldErrorString(errs[0]!))
  if (errs.length > 1) throw new EncryptionConfigError(`[${errs.map(fieldErrorString).join(', ')}]`)
  return config
}

/** A strict decoding failure as kube's decoder words it: unknown fields by path, else the type that did not fit. */
function decodingError(error: z.ZodError): string {
  const path = (p: PropertyKey[]) =>
    p
      .map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? String(s) : `.${String(s)}`))
      .join('')
  const unknown = error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => `unknown field ${JSON.stringify(path([...i.path, k]))}`)
      : [],
  )
  if (unknown.length) return `strict decoding error: ${unknown.join(', ')}`
  const first = error.issues[0]!
  return `json: cannot unmarshal into Go struct field EncryptionConfiguration.${path(first.path)}: ${first.message}`
}

const MESSAGES = {
  atLeastOneRequired: (what: string) => `at least one ${what} is required`,
  moreThanOneElement:
    'more than one provider specified in a single element, should split into different list elements',
  noProvider:
    'provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity',
  keyLen: (got: number, expected: number[]) =>
    `secret is not of the expected length, got ${got}, expected one of [${expected.join(' ')}]`,
  mandatoryField: (field: string, of: string) => `${field} is a mandatory field for a ${of}`,
  base64: 'secrets must be base64 encoded',
  eventsGroup:
    "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file",
  extensionsGroup: "'extensions' group has been removed and cannot be used for encryption",
  starResource:
    "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources",
  overlap:
    "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked",
  nonRESTAPIResource: 'resources which do not have REST API/s cannot be encrypted',
  resourceName: 'resource name should not contain capital letters',
  resourceAcrossGroup: 'encrypting the same resource across groups is not supported',
  duplicateResource: 'the same resource cannot be specified multiple times',
  unsupportedScheme: (scheme: string) =>
    `unsupported scheme ${JSON.stringify(scheme)} for KMS provider, only unix is supported`,
  unsupportedKMSAPIVersion:
    'unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported',
  invalidKMSName: (name: string) => `invalid KMS provider name ${name}, must not contain ':'`,
  duplicateKMSName: (name: string) => `duplicate KMS provider name ${name}, names must be unique`,
  positive: (field: string) => `${field} should be a positive value`,
  cacheSizeV2: 'cachesize is not supported in v2',
  cacheSizeNonZero: 'cachesize should be a positive value, or negative to disable',
}

/** schema.ParseGroupResource: "secrets" is core secrets, "deployments.apps" apps' deployments, split at the first dot. */
export function parseGroupResource(s: string): { group: string; resource: string } {
  const i = s.indexOf('.')
  return i < 0 ? { group: '', resource: s } : { group: s.slice(i + 1), resource: s.slice(0, i) }
}

/** ValidateEncryptionConfiguration, rule for rule and in kube's order. */
export function validateEncryptionConfiguration(c: EncryptionConfiguration): FieldError[] {
  const errs: FieldError[] = []
  if (c.resources.length === 0)
    return [fieldRequired('resources', MESSAGES.atLeastOneRequired('resources'))]
  const kmsNames = new Set<string>()
  c.resources.forEach((conf, i) => {
    const r = `resources[${i}].resources`
    const p = `resources[${i}].providers`
    if (conf.resources.length === 0) errs.push(fieldRequired(r, MESSAGES.atLeastOneRequired(r)))
    errs.push(
      ...validateResourceOverlap(conf.resources, r),
      ...validateResourceNames(conf.resources, r),
    )
    if (conf.providers.length === 0) errs.push(fieldRequired(p, MESSAGES.atLeastOneRequired(p)))
    conf.providers.forEach((provider, j) => {
      const path = `${p}[${j}]`
      const found = (['kms', 'aesgcm', 'aescbc', 'secretbox', 'identity'] as const).filter(
        (k) => provider[k] != null,
      ).length
      if (found === 0) errs.push(fieldInvalid(path, provider, MESSAGES.noProvider))
      if (found > 1) errs.push(fieldInvalid(path, provider, MESSAGES.moreThanOneElement))
      if (provider.kms) {
        errs.push(...validateKMS(provider.kms, `${path}.kms`, kmsNames))
        kmsNames.add(provider.kms.name ?? '')
      } else if (provider.aesgcm) {
        errs.push(...validateKeys(provider.aesgcm.keys ?? [], `${path}.aesgcm.keys`, AES_KEY_SIZES))
      } else if (provider.aescbc) {
        errs.push(...validateKeys(provider.aescbc.keys ?? [], `${path}.aescbc.keys`, AES_KEY_SIZES))
      } else if (provider.secretbox) {
        errs.push(
          ...validateKeys(
            provider.secretbox.keys ?? [],
            `${path}.secretbox.keys`,
            SECRETBOX_KEY_SIZES,
          ),
        )
      }
    })
  })
  return errs
}

function validateResourceOverlap(resources: string[], path: string): FieldError[] {
  if (resources.length < 2) return []
  const grs = resources.map(parseGroupResource)
  let hasOverlap = false
  let hasDuplicate = false
  grs.forEach((r1, i) =>
    grs.forEach((r2, j) => {
      if (i === j) return
      if (r1.group === r2.group && r1.resource === r2.resource && !hasDuplicate) {
        hasDuplicate = true
        return
      }
      if (hasOverlap) return
      if (r1.group === '*' && r1.resource === '*') hasOverlap = true
      else if (r1.group === r2.group && (r1.resource === '*' || r2.resource === '*'))
        hasOverlap = true
    }),
  )
  const errs: FieldError[] = []
  if (hasDuplicate) errs.push(fieldInvalid(path, resources, MESSAGES.duplicateResource))
  if (hasOverlap) errs.push(fieldInvalid(path, resources, MESSAGES.overlap))
  return errs
}

const NON_REST_RESOURCES = ['apiserveripinfo', 'serviceipallocations', 'servicenodeportallocations']

function validateResourceNames(resources: string[], path: string): FieldError[] {
  const errs: FieldError[] = []
  resources.forEach((res, j) => {
    const at = `${path}[${j}]`
    const gr = parseGroupResource(res)
    if (res.toLowerCase() !== res) errs.push(fieldInvalid(at, res, MESSAGES.resourceName))
    else if (res === '*') errs.push(fieldInvalid(at, res, MESSAGES.starResource))
    else if (NON_REST_RESOURCES.includes(res))
      errs.push(fieldInvalid(at, res, MESSAGES.nonRESTAPIResource))
    else if (gr.group === 'events.k8s.io') errs.push(fieldInvalid(at, res, MESSAGES.eventsGroup))
    else if (gr.group === 'extensions') errs.push(fieldInvalid(at, res, MESSAGES.extensionsGroup))
    else if (gr.group === '*' && gr.resource !== '*')
      errs.push(fieldInvalid(at, res, MESSAGES.resourceAcrossGroup))
  })
  return errs
}

function validateKeys(list: Key[], path: string, sizes: number[]): FieldError[] {
  if (list.length === 0) return [fieldRequired(path, MESSAGES.atLeastOneRequired('keys'))]
  const errs: FieldError[] = []
  list.forEach((k, i) => {
    const at = `${path}[${i}]`
    if (!k.name) errs.push(fieldRequired(`${at}.name`, MESSAGES.mandatoryField('name', 'key')))
    if (!k.secret) {
      errs.push(fieldRequired(`${at}.secret`, MESSAGES.mandatoryField('secret', 'key')))
      return
    }
    const secret = decodeBase64(k.secret)
    if (!secret) errs.push(fieldInvalid(`${at}.secret`, 'REDACTED', MESSAGES.base64))
    else if (!sizes.includes(secret.length))
      errs.push(fieldInvalid(`${at}.secret`, 'REDACTED', MESSAGES.keyLen(secret.length, sizes)))
  })
  return errs
}

function validateKMS(c: KMSConfiguration, path: string, names: Set<string>): FieldError[] {
  const errs: FieldError[] = []
  const apiVersion = c.apiVersion || 'v1' // kube's default
  const name = c.name ?? ''
  if (!name) errs.push(fieldRequired(`${path}.name`, MESSAGES.mandatoryField('name', 'provider')))
  if (apiVersion !== 'v1' && name.includes(':'))
    errs.push(fieldInvalid(`${path}.name`, name, MESSAGES.invalidKMSName(name)))
  if (apiVersion !== 'v1' && names.has(name))
    errs.push(fieldInvalid(`${path}.name`, name, MESSAGES.duplicateKMSName(name)))
  const timeout = c.timeout === undefined ? 3000 : tryParseGoDuration(c.timeout)
  if (timeout === undefined) {
    errs.push(
      fieldInvalid(
        `${path}.timeout`,
        c.timeout,
        `time: invalid duration ${JSON.stringify(c.timeout)}`,
      ),
    )
  } else if (timeout <= 0) {
    errs.push(fieldInvalid(`${path}.timeout`, c.timeout, MESSAGES.positive('timeout')))
  }
  const endpoint = c.endpoint ?? ''
  if (!endpoint) {
    errs.push(fieldInvalid(`${path}.endpoint`, '', MESSAGES.mandatoryField('endpoint', 'kms')))
  } else {
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(endpoint)?.[1] ?? ''
    if (scheme !== 'unix')
      errs.push(fieldInvalid(`${path}.endpoint`, endpoint, MESSAGES.unsupportedScheme(scheme)))
  }
  if (apiVersion !== 'v1' && c.cachesize !== undefined)
    errs.push(fieldInvalid(`${path}.cachesize`, c.cachesize, MESSAGES.cacheSizeV2))
  if (apiVersion === 'v1' && c.cachesize === 0)
    errs.push(fieldInvalid(`${path}.cachesize`, 0, MESSAGES.cacheSizeNonZero))
  if (apiVersion !== 'v1' && apiVersion !== 'v2')
    errs.push(fieldInvalid(`${path}.apiVersion`, apiVersion, MESSAGES.unsupportedKMSAPIVersion))
  return errs
}

/** Go's base64.StdEncoding.DecodeString: padded standard alphabet, or undefined. */
export function decodeBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined
  try {
    const bin = atob(s)
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  } catch {
    return undefined
  }
}

// Values transformed on their way to and from storage, as k8s.io/apiserver/pkg/storage/value/transformer.go:
// a list of prefixed transformers per resource, the first of which writes and any of which reads the values
// that carry its prefix ("k8s:enc:aescbc:v1:<key name>:" and so on), so a key rotation needs nothing but a
// new first entry. The providers are encrypt/aes/aes.go, encrypt/secretbox/secretbox.go and
// encrypt/identity/identity.go, with WebCrypto for AES (workerd has it) and @noble/ciphers for XSalsa20-Poly1305.
import { concatBytes } from '../../util/bytes'
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js'
import {
  decodeBase64,
  parseGroupResource,
  type EncryptionConfiguration,
  type Key,
  type KMSConfiguration,
  type ProviderConfiguration,
} from './encryption-config'

export interface Transformer {
  /** The value as stored, back to what was written; `stale` when it was not written by the first transformer. */
  fromStorage(
    data: Uint8Array,
    authenticatedData: Uint8Array,
  ): Promise<{ data: Uint8Array; stale: boolean }>
  toStorage(data: Uint8Array, authenticatedData: Uint8Array): Promise<Uint8Array>
}

export interface PrefixTransformer {
  prefix: Uint8Array
  transformer: Transformer
}

/** Every encrypted value starts with this; identity refuses to read such a value as it is. */
export const ENCRYPTED_PREFIX = 'k8s:enc:'
const ENCRYPTED = bytes(ENCRYPTED_PREFIX)

const KMS_V1_DEPRECATED =
  'KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature.'

/** identity.NewEncryptCheckTransformer: values as they are, refusing to hand out one that is encrypted. */
export const identityTransformer: Transformer = {
  async fromStorage(data) {
    if (hasPrefix(data, ENCRYPTED))
      throw new Error('identity transformer tried to read encrypted data')
    return { data, stale: false }
  },
  async toStorage(data) {
    return data
  },
}

/**
 * NewPrefixTransformers: reads with the first transformer whose prefix the value has (the prefix stripped), going
 * on to the next match when one fails (two aescbc providers share a prefix during a rotation), and writes with
 * the first. An identity entry (empty prefix) that fails is passed over silently: its failure is only that the
 * value is encrypted.
 */
export class PrefixTransformers implements Transformer {
  constructor(
    private readonly transformers: PrefixTransformer[],
    private readonly noMatch: string,
  ) {}

  async fromStorage(
    data: Uint8Array,
    authenticatedData: Uint8Array,
  ): Promise<{ data: Uint8Array; stale: boolean }> {
    const errs: Error[] = []
    for (let i = 0; i < this.transformers.length; i++) {
      const { prefix, transformer } = this.transformers[i]!
      if (!hasPrefix(data, prefix)) continue
      try {
        const r = await transformer.fromStorage(data.subarray(prefix.length), authenticatedData)
        return { data: r.data, stale: r.stale || i !== 0 }
      } catch (e) {
        if (prefix.length === 0) continue
        errs.push(e as Error)
      }
    }
    // errors.Reduce(NewAggregate(errs)): one error as itself, several in brackets.
    if (errs.length === 1) throw errs[0]
    if (errs.length > 1) throw new Error(`[${errs.map((e) => e.message).join(', ')}]`)
    throw new Error(this.noMatch)
  }

  async toStorage(data: Uint8Array, authenticatedData: Uint8Array): Promise<Uint8Array> {
    const { prefix, transformer } = this.transformers[0]!
    return concatBytes(prefix, await transformer.toStorage(data, authenticatedData))
  }
}

/** aes.go's CBC: a random 16-byte IV, then the PKCS#7-padded plaintext encrypted; no authenticated data. */
export class AESCBCTransformer implements Transformer {
  private readonly key: Promise<CryptoKey>

  constructor(secret: Uint8Array) {
    this.key = crypto.subtle.importKey('raw', buf(secret), 'AES-CBC', false, ['encrypt', 'decrypt'])
  }

  async fromStorage(data: Uint8Array): Promise<{ data: Uint8Array; stale: boolean }> {
    if (data.length < 16) throw new Error('the stored data was shorter than the required size')
    const body = data.subarray(16)
    if (body.length % 16 !== 0)
      throw new Error('the stored data is not a multiple of the block size')
    if (body.length === 0) throw new Error('invalid PKCS7 data (empty or not padded)')
    let plain: ArrayBuffer
    try {
      // WebCrypto checks and strips the PKCS#7 padding itself.
      plain = await crypto.subtle.decrypt(
        { name: 'AES-CBC', iv: buf(data.subarray(0, 16)) },
        await this.key,
        buf(body),
      )
    } catch {
      throw new Error('invalid padding on input')
    }
    return { data: new Uint8Array(plain), stale: false }
  }

  async toStorage(data: Uint8Array): Promise<Uint8Array> {
    const iv = crypto.getRandomValues(new Uint8Array(16))
    return concatBytes(
      iv,
      new Uint8Array(
        await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, await this.key, buf(data)),
      ),
    )
  }
}

/** aes.go's GCM: a random 12-byte nonce, then ciphertext and tag, sealed with the etcd key as additional data. */
export class AESGCMTransformer implements Transformer {
  private readonly key: Promise<CryptoKey>

  constructor(secret: Uint8Array) {
    this.key = crypto.subtle.importKey('raw', buf(secret), 'AES-GCM', false, ['encrypt', 'decrypt'])
  }

  async fromStorage(
    data: Uint8Array,
    authenticatedData: Uint8Array,
  ): Promise<{ data: Uint8Array; stale: boolean }> {
    if (data.length < 12) throw new Error('the stored data was shorter than the required size')
    let plain: ArrayBuffer
    try {
      const params = {
        name: 'AES-GCM',
        iv: buf(data.subarray(0, 12)),
        additionalData: buf(authenticatedData),
      }
      plain = await crypto.subtle.decrypt(params, await this.key, buf(data.subarray(12)))
    } catch {
      throw new Error('cipher: message authentication failed') // Go's crypto/cipher words
    }
    return { data: new Uint8Array(plain), stale: false }
  }

  async toStorage(data: Uint8Array, authenticatedData: Uint8Array): Promise<Uint8Array> {
    const iv = crypto.getRandomValues(new Uint8Array(12))
    return concatBytes(
      iv,
      new Uint8Array(
        await crypto.subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: buf(authenticatedData) },
          await this.key,
          buf(data),
        ),
      ),
    )
  }
}

/** secretbox.go: a random 24-byte nonce, then NaCl's secretbox (Poly1305 tag first); no authenticated data. */
export class SecretboxTransformer implements Transformer {
  constructor(private readonly key: Uint8Array) {}

  async fromStorage(data: Uint8Array): Promise<{ data: Uint8Array; stale: boolean }> {
    if (data.length < 16 + 24) throw new Error('the stored data was shorter than the required size')
    try {
      return {
        data: xsalsa20poly1305(this.key, data.subarray(0, 24)).decrypt(data.subarray(24)),
        stale: false,
      }
    } catch {
      throw new Error('output array was not large enough for encryption') // kube's words for a failed Open
    }
  }

  async toStorage(data: Uint8Array): Promise<Uint8Array> {
    const nonce = crypto.getRandomValues(new Uint8Array(24))
    return concatBytes(nonce, xsalsa20poly1305(this.key, nonce).encrypt(data))
  }
}

export interface TransformerOptions {
  /** The kms v2 provider's transformer, where the runtime can reach a plugin's unix socket (Node mode). */
  kms?(c: KMSConfiguration): Transformer
}

/** One provider entry as its prefixed transformer (config.go's prefixTransformers). */
function providerTransformer(
  p: ProviderConfiguration,
  opts: TransformerOptions,
): PrefixTransformer {
  if (p.aesgcm)
    return keyed('k8s:enc:aesgcm:v1:', p.aesgcm.keys ?? [], (k) => new AESGCMTransformer(k), 'AES')
  if (p.aescbc)
    return keyed('k8s:enc:aescbc:v1:', p.aescbc.keys ?? [], (k) => new AESCBCTransformer(k), 'AES')
  if (p.secretbox)
    return keyed(
      'k8s:enc:secretbox:v1:',
      p.secretbox.keys ?? [],
      (k) => new SecretboxTransformer(k),
      'Secretbox',
    )
  if (p.identity) return { prefix: new Uint8Array(0), transformer: identityTransformer }
  if (p.kms) {
    const name = p.kms.name ?? ''
    if ((p.kms.apiVersion || 'v1') === 'v1') throw new Error(KMS_V1_DEPRECATED)
    if (opts.kms) return { prefix: bytes(`k8s:enc:kms:v2:${name}:`), transformer: opts.kms(p.kms) }
    // Refused rather than accepted and ignored: a Secret meant for the plugin must never be written in the clear.
    throw new Error(
      `could not configure KMSv2 plugin ${JSON.stringify(name)}: a Worker cannot reach the plugin's unix socket ` +
        `(${p.kms.endpoint}); use the aescbc, aesgcm or secretbox provider at the edge, or Node mode`,
    )
  }
  throw new Error(
    'provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity',
  )
}

function keyed(
  prefix: string,
  keys: Key[],
  make: (secret: Uint8Array) => Transformer,
  kind: string,
): PrefixTransformer {
  const perKey = keys.map((k) => ({
    prefix: bytes(`${k.name}:`),
    transformer: make(decodeBase64(k.secret ?? '')!),
  }))
  return {
    prefix: bytes(prefix),
    transformer: new PrefixTransformers(
      perKey,
      `no matching key was found for the provided ${kind} transformer`,
    ),
  }
}

export interface GroupResource {
  group: string
  resource: string
}

/**
 * The configured transformer of each group resource. A resource the configuration does not name is read and
 * written as it is (and refuses encrypted values), as kube's transformerFromOverrides falls back to identity.
 */
export class ResourceTransformers {
  private readonly byResource = new Map<string, Transformer>()

  constructor(config: EncryptionConfiguration, opts: TransformerOptions = {}) {
    const lists = new Map<string, PrefixTransformer[]>()
    for (const rc of config.resources) {
      const transformers = rc.providers.map((p) => providerTransformer(p, opts))
      for (const res of rc.resources) {
        const gr = parseGroupResource(res)
        for (const masking of [
          { group: gr.group, resource: '*' },
          { group: '*', resource: '*' },
        ]) {
          if (lists.has(grKey(masking))) {
            throw new Error(
              `resource ${JSON.stringify(grYAML(gr))} is masked by earlier rule ${JSON.stringify(grYAML(masking))}`,
            )
          }
        }
        lists.set(grKey(gr), [...(lists.get(grKey(gr)) ?? []), ...transformers])
      }
    }
    for (const [k, list] of lists)
      this.byResource.set(k, new PrefixTransformers(list, 'no matching prefix found'))
  }

  /** The transformer for a group resource, or undefined when its values are stored as they are. */
  forResource(gr: GroupResource): Transformer | undefined {
    return (
      this.byResource.get(grKey(gr)) ??
      this.byResource.get(grKey({ group: gr.group, resource: '*' })) ??
      this.byResource.get('*/*')
    )
  }
}

const grKey = (gr: GroupResource) => `${gr.group}/${gr.resource}`
/** How kube names a group resource in these messages: "*." for every core resource, else resource.group. */
const grYAML = (gr: GroupResource) =>
  gr.group === '' && gr.resource === '*'
    ? '*.'
    : gr.group
      ? `${gr.resource}.${gr.group}`
      : gr.resource

/** WebCrypto's types want an ArrayBuffer-backed view; these always are. */
const buf = (u: Uint8Array) => u as Uint8Array<ArrayBuffer>

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

export function hasPrefix(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false
  return true
}

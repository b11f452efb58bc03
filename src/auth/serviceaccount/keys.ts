// The service account signing key: PKCS#8 PEM or a JWK (kube-apiserver's --service-account-signing-key-file),
// with its public half for verification and the JWKS, and kube's key id (base64url SHA-256 of the DER public key).
import { exportJWK, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose'

export interface SigningKey {
  alg: 'RS256' | 'ES256' | 'ES384' | 'ES512'
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

const PRIVATE_JWK_FIELDS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

function algForJwk(jwk: JWK): SigningKey['alg'] {
  if (jwk.alg && ['RS256', 'ES256', 'ES384', 'ES512'].includes(jwk.alg))
    return jwk.alg as SigningKey['alg']
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'EC')
    return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256'
  throw new Error(`service account signing key: unsupported key type ${jwk.kty}`)
}

export function publicPart(jwk: JWK): JWK {
  const pub: JWK = {}
  for (const [k, v] of Object.entries(jwk))
    if (!PRIVATE_JWK_FIELDS.includes(k)) (pub as Record<string, unknown>)[k] = v
  return pub
}

/** keyIDFromPublicKey: base64url(SHA-256(PKIX DER of the public key)), no padding. */
export async function keyIdOf(publicJwk: JWK, alg: string): Promise<string> {
  const key = (await importJWK({ ...publicJwk, ext: true }, alg, {
    extractable: true,
  })) as CryptoKey
  const spki = await crypto.subtle.exportKey('spki', key as unknown as globalThis.CryptoKey)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', spki as ArrayBuffer))
  let bin = ''
  for (const b of digest) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Loads a signing key from PEM (PKCS#8) or JSON (a JWK, or a JWKS whose first key is used). */
export async function loadSigningKey(text: string): Promise<SigningKey> {
  const trimmed = text.trim()
  let jwk: JWK
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as JWK & { keys?: JWK[] }
    jwk = parsed.keys ? parsed.keys[0] : parsed
    if (!jwk?.d) throw new Error('service account signing key: the JWK has no private part')
  } else if (trimmed.includes('-----BEGIN PRIVATE KEY-----')) {
    const pem = trimmed.replace(/\\n/g, '\n')
    let key: CryptoKey | undefined
    let lastError: unknown
    for (const alg of ['ES256', 'RS256', 'ES384', 'ES512']) {
      try {
        key = (await importPKCS8(pem, alg, { extractable: true })) as CryptoKey
        break
      } catch (e) {
        lastError = e
      }
    }
    if (!key)
      throw new Error(
        `service account signing key: cannot read the PKCS#8 key: ${(lastError as Error)?.message}`,
      )
    jwk = await exportJWK(key)
  } else {
    throw new Error(
      'service account signing key: expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a JWK',
    )
  }
  const alg = algForJwk(jwk)
  const privateKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey
  const pub = publicPart(jwk)
  delete pub.alg
  delete pub.key_ops
  delete pub.ext
  const kid = await keyIdOf(pub, alg)
  return { alg, kid, privateKey, publicJwk: { ...pub, use: 'sig', kid, alg } }
}

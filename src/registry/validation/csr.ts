// PKCS#10 certificate requests as kube-apiserver reads them (certificates.ParseCSR, then
// x509.CertificateRequest.CheckSignature): the one PEM block must be a CERTIFICATE REQUEST, its DER must
// parse, and its signature must verify with the key it carries. DER is read by hand, only as far as
// that needs, and the signature checked with WebCrypto, so this runs on workerd as on Node.

export interface ParsedCSR {
  /** The DER of certificationRequestInfo: what the signature covers. */
  info: Uint8Array
  /** The DER of subjectPKInfo. */
  spki: Uint8Array
  keyAlgorithm: string
  /** The named curve of an EC key, as an OID. */
  keyCurve?: string
  signatureAlgorithm: string
  signature: Uint8Array
  /** Subject attributes by OID (commonName 2.5.4.3, organization 2.5.4.10). */
  subject: { oid: string; value: string }[]
  /** The DER of the subject Name, copied as is into a certificate issued for it. */
  subjectDer: Uint8Array
  /** The requested extensions (the extensionRequest attribute): each Extension's DER, by its OID. */
  extensions: { oid: string; der: Uint8Array }[]
}

interface Tlv {
  tag: number
  start: number
  header: number
  length: number
  end: number
}

class Asn1Error extends Error {}

function readTlv(der: Uint8Array, at: number, limit = der.length): Tlv {
  if (at + 2 > limit) throw new Asn1Error('asn1: syntax error: data truncated')
  const tag = der[at]
  if ((tag & 0x1f) === 0x1f) throw new Asn1Error('asn1: syntax error: tag number too large')
  let length = der[at + 1]
  let header = 2
  if (length & 0x80) {
    const n = length & 0x7f
    if (n === 0 || n > 4)
      throw new Asn1Error('asn1: syntax error: indefinite length found (not DER)')
    if (at + 2 + n > limit) throw new Asn1Error('asn1: syntax error: data truncated')
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + der[at + 2 + i]
    header += n
  }
  const end = at + header + length
  if (end > limit) throw new Asn1Error('asn1: syntax error: data truncated')
  return { tag, start: at, header, length, end }
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = parent.start + parent.header; at < parent.end;) {
    const t = readTlv(der, at, parent.end)
    out.push(t)
    at = t.end
  }
  return out
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new Asn1Error(`asn1: structure error: tags don't match (${what})`)
  return t
}

function oid(der: Uint8Array, t: Tlv): string {
  const bytes = der.subarray(t.start + t.header, t.end)
  if (!bytes.length) throw new Asn1Error('asn1: syntax error: zero length OBJECT IDENTIFIER')
  const parts: number[] = []
  let v = 0
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f)
    if (!(b & 0x80)) {
      if (!parts.length) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80)
      else parts.push(v)
      v = 0
    }
  }
  return parts.join('.')
}

const body = (der: Uint8Array, t: Tlv) => der.subarray(t.start + t.header, t.end)
const whole = (der: Uint8Array, t: Tlv) => der.subarray(t.start, t.end)

function base64Decode(s: string): Uint8Array {
  const bin = atob(s)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** encoding/pem.Decode of the first block: its type, headers and bytes, or undefined when there is none. */
export function pemDecode(
  text: string,
): { type: string; headers: boolean; bytes: Uint8Array; rest: string } | undefined {
  const re = /-----BEGIN ([^\n-]*)-----\r?\n([\s\S]*?)-----END \1-----/g
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const lines = m[2].split(/\r?\n/)
    const headers = lines.some((l) => l.includes(':'))
    const b64 = lines
      .filter((l) => !l.includes(':'))
      .join('')
      .replace(/\s+/g, '')
    try {
      return {
        type: m[1],
        headers,
        bytes: base64Decode(b64),
        rest: text.slice(m.index + m[0].length),
      }
    } catch {
      continue
    }
  }
  return undefined
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14'

/** x509.ParseCertificateRequest, as far as the signature check needs. Throws Go's message on failure. */
export function parseCertificateRequest(der: Uint8Array): ParsedCSR {
  const top = expect(readTlv(der, 0), 0x30, 'CertificationRequest')
  if (top.end !== der.length) throw new Asn1Error('asn1: syntax error: trailing data')
  const [infoT, algT, sigT] = children(der, top)
  expect(infoT, 0x30, 'certificationRequestInfo')
  const [, subjectT, spkiT, attrsT] = children(der, infoT)
  expect(subjectT, 0x30, 'subject')
  expect(spkiT, 0x30, 'subjectPKInfo')
  const [keyAlgT] = children(der, spkiT)
  const [keyOid, keyParams] = children(der, expect(keyAlgT, 0x30, 'algorithm'))
  const [sigOid] = children(der, expect(algT, 0x30, 'signatureAlgorithm'))
  const sigBits = body(der, expect(sigT, 0x03, 'signature'))
  const subject: { oid: string; value: string }[] = []
  for (const rdn of children(der, subjectT)) {
    for (const atv of children(der, rdn)) {
      const [o, v] = children(der, atv)
      subject.push({
        oid: oid(der, expect(o, 0x06, 'attribute type')),
        value: new TextDecoder().decode(body(der, v)),
      })
    }
  }
  const extensions: { oid: string; der: Uint8Array }[] = []
  if (attrsT?.tag === 0xa0) {
    for (const attr of children(der, attrsT)) {
      const [type, values] = children(der, attr)
      if (oid(der, expect(type, 0x06, 'attribute type')) !== EXTENSION_REQUEST) continue
      for (const exts of children(der, expect(values, 0x31, 'attribute values')))
        for (const ext of children(der, expect(exts, 0x30, 'extensions'))) {
          const [extOid] = children(der, ext)
          extensions.push({ oid: oid(der, expect(extOid, 0x06, 'extnID')), der: whole(der, ext) })
        }
    }
  }
  return {
    info: whole(der, infoT),
    spki: whole(der, spkiT),
    subjectDer: whole(der, subjectT),
    extensions,
    keyAlgorithm: oid(der, expect(keyOid, 0x06, 'algorithm')),
    keyCurve: keyParams?.tag === 0x06 ? oid(der, keyParams) : undefined,
    signatureAlgorithm: oid(der, expect(sigOid, 0x06, 'algorithm')),
    signature: sigBits.subarray(1),
    subject,
  }
}

/** certificates.ParseCSR over spec.request's bytes. */
export function parseCSR(pemBytes: Uint8Array): ParsedCSR {
  const block = pemDecode(new TextDecoder().decode(pemBytes))
  if (!block || block.type !== 'CERTIFICATE REQUEST')
    throw new Error('PEM block type must be CERTIFICATE REQUEST')
  return parseCertificateRequest(block.bytes)
}

const RSA = '1.2.840.113549.1.1.1'
const EC = '1.2.840.10045.2.1'
const ED25519 = '1.3.101.112'
const SIGNATURES: Record<string, { key: string; hash?: string }> = {
  '1.2.840.113549.1.1.5': { key: RSA, hash: 'SHA-1' },
  '1.2.840.113549.1.1.11': { key: RSA, hash: 'SHA-256' },
  '1.2.840.113549.1.1.12': { key: RSA, hash: 'SHA-384' },
  '1.2.840.113549.1.1.13': { key: RSA, hash: 'SHA-512' },
  '1.2.840.10045.4.3.2': { key: EC, hash: 'SHA-256' },
  '1.2.840.10045.4.3.3': { key: EC, hash: 'SHA-384' },
  '1.2.840.10045.4.3.4': { key: EC, hash: 'SHA-512' },
  '1.3.101.112': { key: ED25519 },
}
const CURVES: Record<string, { name: string; size: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
}

/** An ECDSA-Sig-Value (SEQUENCE of r and s) as WebCrypto's fixed-width r || s. */
function ecdsaRaw(sig: Uint8Array, size: number): Uint8Array {
  const seq = readTlv(sig, 0)
  const [r, s] = children(sig, seq)
  const out = new Uint8Array(size * 2)
  for (const [i, t] of [r, s].entries()) {
    let v = body(sig, expect(t, 0x02, 'INTEGER'))
    while (v.length > size && v[0] === 0) v = v.subarray(1)
    if (v.length > size) throw new Error('x509: ECDSA verification failure')
    out.set(v, i * size + size - v.length)
  }
  return out
}

/** x509.CertificateRequest.CheckSignature; throws Go's message when it fails. */
export async function checkSignature(csr: ParsedCSR): Promise<void> {
  const alg = SIGNATURES[csr.signatureAlgorithm]
  if (!alg) throw new Error('x509: cannot verify signature: algorithm unimplemented')
  if (alg.key !== csr.keyAlgorithm)
    throw new Error(
      'x509: signature algorithm specifies an ' +
        (alg.key === RSA ? 'RSA' : alg.key === EC ? 'ECDSA' : 'Ed25519') +
        ' public key, but have public key of type ' +
        (csr.keyAlgorithm === RSA
          ? '*rsa.PublicKey'
          : csr.keyAlgorithm === EC
            ? '*ecdsa.PublicKey'
            : 'ed25519.PublicKey'),
    )
  const subtle = crypto.subtle
  let ok = false
  if (alg.key === RSA) {
    const key = await subtle
      .importKey('spki', csr.spki.slice(), { name: 'RSASSA-PKCS1-v1_5', hash: alg.hash! }, false, [
        'verify',
      ])
      .catch(() => {
        throw new Error('x509: cannot verify signature: malformed RSA public key')
      })
    ok = await subtle.verify('RSASSA-PKCS1-v1_5', key, csr.signature.slice(), csr.info.slice())
    if (!ok) throw new Error('crypto/rsa: verification error')
  } else if (alg.key === EC) {
    const curve = CURVES[csr.keyCurve ?? '']
    if (!curve) throw new Error('x509: unsupported elliptic curve')
    const key = await subtle
      .importKey('spki', csr.spki.slice(), { name: 'ECDSA', namedCurve: curve.name }, false, [
        'verify',
      ])
      .catch(() => {
        throw new Error('x509: failed to unmarshal elliptic curve point')
      })
    let raw: Uint8Array
    try {
      raw = ecdsaRaw(csr.signature, curve.size)
    } catch {
      throw new Error('x509: ECDSA verification failure')
    }
    ok = await subtle.verify({ name: 'ECDSA', hash: alg.hash! }, key, raw.slice(), csr.info.slice())
    if (!ok) throw new Error('x509: ECDSA verification failure')
  } else {
    const key = await subtle
      .importKey('spki', csr.spki.slice(), { name: 'Ed25519' }, false, ['verify'])
      .catch(() => {
        throw new Error('x509: malformed Ed25519 public key')
      })
    ok = await subtle.verify({ name: 'Ed25519' }, key, csr.signature.slice(), csr.info.slice())
    if (!ok) throw new Error('x509: Ed25519 verification failure')
  }
}

/** Validates the certificate PEM of status.certificate (validateCertificate): every block a CERTIFICATE, no headers. */
export function validateCertificatePEM(pemBytes: Uint8Array): string | undefined {
  if (!pemBytes.length) return undefined
  let text = new TextDecoder().decode(pemBytes)
  let blocks = 0
  for (let block = pemDecode(text); block; block = pemDecode(text)) {
    if (block.type !== 'CERTIFICATE')
      return `only CERTIFICATE PEM blocks are allowed, found ${JSON.stringify(block.type)}`
    if (block.headers) return 'no PEM block headers are permitted'
    blocks++
    try {
      const t = readTlv(block.bytes, 0)
      if (t.tag !== 0x30 || t.end !== block.bytes.length)
        throw new Asn1Error('x509: malformed certificate')
    } catch (e) {
      return e instanceof Asn1Error && e.message.startsWith('x509')
        ? e.message
        : 'x509: malformed certificate'
    }
    text = block.rest
  }
  return blocks ? undefined : 'must contain at least one CERTIFICATE PEM block'
}

export { base64Decode, readTlv, children, expect, oid, body, whole, type Tlv }

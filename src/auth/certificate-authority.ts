// The cluster signing CA of kube-controller-manager's csrsigning controller
// (pkg/controller/certificates/authority): a certificate issued for a CertificateSigningRequest carries the
// request's subject, public key and subject alternative names, the usages the CSR asks for, and
// BasicConstraints CA:false, under the CA's name. DER is written by hand and signed with WebCrypto so the
// same code runs on workerd (the ClusterStore's alarm) and in Node mode.
import { concatBytes } from '../util/bytes'
import {
  body,
  children,
  expect,
  oid,
  pemDecode,
  readTlv,
  whole,
  type ParsedCSR,
} from '../registry/validation/csr'

// --- DER writing -------------------------------------------------------------------------------

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const c = concatBytes(...content)
  const n = c.length
  let len: number[]
  if (n < 0x80) len = [n]
  else {
    const bytes: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
    len = [0x80 | bytes.length, ...bytes]
  }
  return concatBytes(Uint8Array.of(tag, ...len), c)
}

const seq = (...c: Uint8Array[]) => tlv(0x30, ...c)
const octets = (c: Uint8Array) => tlv(0x04, c)

/** A non-negative INTEGER from big-endian bytes: leading zeros dropped, a zero prepended when the top bit is set. */
function uint(bytes: Uint8Array): Uint8Array {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  const b = bytes.subarray(i)
  return tlv(0x02, b[0]! & 0x80 ? concatBytes(Uint8Array.of(0), b) : b)
}

function objectId(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number)
  const out: number[] = []
  const push = (v: number) => {
    const groups = [v & 0x7f]
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v & 0x7f))
    out.push(...groups)
  }
  push(parts[0]! * 40 + parts[1]!)
  for (const p of parts.slice(2)) push(p)
  return tlv(0x06, Uint8Array.from(out))
}

/** Go's asn1 marshals times before 2050 as UTCTime, later ones as GeneralizedTime (RFC 5280). */
function time(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString()
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '')
  const year = Number(iso.slice(0, 4))
  const text = new TextEncoder().encode((year < 2050 ? digits.slice(2) : digits) + 'Z')
  return tlv(year < 2050 ? 0x17 : 0x18, text)
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return seq(objectId(id), ...(critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), octets(value))
}

// --- usages ----------------------------------------------------------------------------------

/** keyUsageDict of kube's authority policies: the x509.KeyUsage bit of each usage. */
const KEY_USAGE_BITS: Record<string, number> = {
  signing: 0,
  'digital signature': 0,
  'content commitment': 1,
  'key encipherment': 2,
  'data encipherment': 3,
  'key agreement': 4,
  'cert sign': 5,
  'crl sign': 6,
  'encipher only': 7,
  'decipher only': 8,
}

/** extKeyUsageDict, in Go's x509.ExtKeyUsage order (the order kube sorts them in). */
const EXT_KEY_USAGES: [string[], string][] = [
  [['any'], '2.5.29.37.0'],
  [['server auth'], '1.3.6.1.5.5.7.3.1'],
  [['client auth'], '1.3.6.1.5.5.7.3.2'],
  [['code signing'], '1.3.6.1.5.5.7.3.3'],
  [['email protection', 's/mime'], '1.3.6.1.5.5.7.3.4'],
  [['ipsec end system'], '1.3.6.1.5.5.7.3.5'],
  [['ipsec tunnel'], '1.3.6.1.5.5.7.3.6'],
  [['ipsec user'], '1.3.6.1.5.5.7.3.7'],
  [['timestamping'], '1.3.6.1.5.5.7.3.8'],
  [['ocsp signing'], '1.3.6.1.5.5.7.3.9'],
  [['microsoft sgc'], '1.3.6.1.4.1.311.10.3.3'],
  [['netscape sgc'], '2.16.840.1.113730.4.1'],
]

/** keyUsagesFromStrings: the KeyUsage bits and the sorted ExtKeyUsage OIDs; kube's error on unknown ones. */
export function keyUsagesFromStrings(usages: string[]): { bits: number[]; ext: string[] } {
  const bits = new Set<number>()
  const ext = new Set<string>()
  const unrecognized: string[] = []
  for (const u of usages) {
    if (u in KEY_USAGE_BITS) bits.add(KEY_USAGE_BITS[u]!)
    else {
      const e = EXT_KEY_USAGES.find(([names]) => names.includes(u))
      if (e) ext.add(e[1])
      else unrecognized.push(u)
    }
  }
  if (unrecognized.length)
    throw new Error(
      `unrecognized usage values: [${unrecognized.map((u) => JSON.stringify(u)).join(' ')}]`,
    )
  return {
    bits: [...bits].sort((a, b) => a - b),
    ext: EXT_KEY_USAGES.map(([, o]) => o).filter((o) => ext.has(o)),
  }
}

/** The KeyUsage BIT STRING as Go writes it: bit 0 first, trailing zero bits left out. */
function keyUsageBits(bits: number[]): Uint8Array {
  const last = Math.max(...bits)
  const bytes = new Uint8Array(Math.floor(last / 8) + 1)
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7)
  return tlv(0x03, Uint8Array.of(bytes.length * 8 - (last + 1)), bytes)
}

// --- the CA ----------------------------------------------------------------------------------

const OID_RSA = '1.2.840.113549.1.1.1'
const OID_EC = '1.2.840.10045.2.1'
const OID_SHA256_RSA = '1.2.840.113549.1.1.11'
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2'
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3'
const CURVES: Record<string, { name: string; size: number; sig: string; hash: string }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32, sig: OID_ECDSA_SHA256, hash: 'SHA-256' },
  '1.3.132.0.34': { name: 'P-384', size: 48, sig: OID_ECDSA_SHA384, hash: 'SHA-384' },
}
const OID_SUBJECT_KEY_ID = '2.5.29.14'
const OID_SUBJECT_ALT_NAME = '2.5.29.17'

export interface CertificateAuthority {
  /** The CA certificate, PEM. */
  certPem: string
  /** The DER of the CA's subject: the issuer of what it signs. */
  subject: Uint8Array
  subjectKeyId?: Uint8Array
  notAfterMs: number
  key: CryptoKey
  /** The AlgorithmIdentifier of the signatures sign() makes (SHA-256 with RSA, ECDSA with the curve's hash). */
  signatureAlgorithm: Uint8Array
  sign(data: Uint8Array): Promise<Uint8Array>
}

/** The CA that signs for kube's signers (kube-controller-manager's --cluster-signing-* flags). */
export interface ClusterSigner {
  /** The CA (loaded once, lazily: importing a key is asynchronous). */
  ca(): Promise<CertificateAuthority>
  /** --cluster-signing-duration: the longest certificate issued. */
  durationMs: number
}

/** A certificate's UTCTime (two-digit year, 1950-2049) or GeneralizedTime, as milliseconds. */
function parseTime(tag: number, text: string): number {
  const full = tag === 0x17 ? (Number(text.slice(0, 2)) < 50 ? '20' : '19') + text : text
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(full)
  if (!m) throw new Error('x509: malformed validity')
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
}

/**
 * A PKCS#8 key from PEM: PKCS#8 as it is, PKCS#1 (RSA PRIVATE KEY) and SEC 1 (EC PRIVATE KEY) wrapped in
 * it, the three forms kube's keyutil reads.
 */
function pkcs8Of(keyPem: string): { der: Uint8Array; algorithm: string; curve?: string } {
  const block = pemDecode(keyPem)
  if (!block) throw new Error('data does not contain a valid RSA or ECDSA private key')
  if (block.type === 'PRIVATE KEY') {
    const top = readTlv(block.bytes, 0)
    const [, algT] = children(block.bytes, top)
    const [algOid, params] = children(block.bytes, expect(algT, 0x30, 'algorithm'))
    return {
      der: block.bytes,
      algorithm: oid(block.bytes, expect(algOid, 0x06, 'algorithm')),
      curve: params?.tag === 0x06 ? oid(block.bytes, params) : undefined,
    }
  }
  if (block.type === 'RSA PRIVATE KEY') {
    const alg = seq(objectId(OID_RSA), Uint8Array.of(0x05, 0x00))
    return {
      der: seq(Uint8Array.of(0x02, 0x01, 0x00), alg, octets(block.bytes)),
      algorithm: OID_RSA,
    }
  }
  if (block.type === 'EC PRIVATE KEY') {
    const top = readTlv(block.bytes, 0)
    const params = children(block.bytes, top).find((t) => t.tag === 0xa0)
    if (!params) throw new Error('x509: EC private key without a named curve')
    const [curveT] = children(block.bytes, params)
    const curve = oid(block.bytes, expect(curveT, 0x06, 'namedCurve'))
    const alg = seq(objectId(OID_EC), objectId(curve))
    return {
      der: seq(Uint8Array.of(0x02, 0x01, 0x00), alg, octets(block.bytes)),
      algorithm: OID_EC,
      curve,
    }
  }
  throw new Error(`unsupported private key type ${JSON.stringify(block.type)}`)
}

/** An ECDSA signature from WebCrypto's r || s into the ECDSA-Sig-Value that X.509 carries. */
function ecdsaSigValue(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2
  return seq(uint(raw.subarray(0, half)), uint(raw.subarray(half)))
}

/** The CA from its certificate and key (PEM): kube's --cluster-signing-cert-file and -key-file. */
export async function loadCertificateAuthority(
  certPem: string,
  keyPem: string,
): Promise<CertificateAuthority> {
  const block = pemDecode(certPem)
  if (!block || block.type !== 'CERTIFICATE') throw new Error('error reading CA cert file')
  const der = block.bytes
  const [tbsT] = children(der, readTlv(der, 0))
  const fields = children(der, expect(tbsT, 0x30, 'tbsCertificate'))
  const off = fields[0]?.tag === 0xa0 ? 1 : 0
  const validityT = fields[off + 3]!
  const subjectT = fields[off + 4]!
  const [, notAfterT] = children(der, expect(validityT, 0x30, 'validity'))
  const notAfterMs = parseTime(notAfterT!.tag, new TextDecoder().decode(body(der, notAfterT!)))
  let subjectKeyId: Uint8Array | undefined
  const extsT = fields.find((t) => t.tag === 0xa3)
  if (extsT) {
    const [list] = children(der, extsT)
    for (const ext of children(der, expect(list, 0x30, 'extensions'))) {
      const parts = children(der, ext)
      if (oid(der, parts[0]!) !== OID_SUBJECT_KEY_ID) continue
      const value = body(der, parts[parts.length - 1]!)
      subjectKeyId = body(value, readTlv(value, 0)).slice()
    }
  }
  const pk = pkcs8Of(keyPem)
  const subtle = crypto.subtle
  let key: CryptoKey
  let signatureAlgorithm: Uint8Array
  let sign: (data: Uint8Array) => Promise<Uint8Array>
  if (pk.algorithm === OID_RSA) {
    key = await subtle.importKey(
      'pkcs8',
      pk.der.slice(),
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    )
    signatureAlgorithm = seq(objectId(OID_SHA256_RSA), Uint8Array.of(0x05, 0x00))
    sign = async (data) => new Uint8Array(await subtle.sign('RSASSA-PKCS1-v1_5', key, data.slice()))
  } else if (pk.algorithm === OID_EC && pk.curve && CURVES[pk.curve]) {
    const curve = CURVES[pk.curve]!
    key = await subtle.importKey(
      'pkcs8',
      pk.der.slice(),
      { name: 'ECDSA', namedCurve: curve.name },
      false,
      ['sign'],
    )
    signatureAlgorithm = seq(objectId(curve.sig))
    sign = async (data) =>
      ecdsaSigValue(
        new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: curve.hash }, key, data.slice())),
      )
  } else {
    throw new Error('the CA key must be RSA or ECDSA (P-256, P-384)')
  }
  return {
    certPem,
    subject: whole(der, subjectT).slice(),
    subjectKeyId,
    notAfterMs,
    key,
    signatureAlgorithm,
    sign,
  }
}

export interface SigningPolicy {
  /** How long the certificate is valid. */
  ttlMs: number
  usages: string[]
  now: number
}

/** kube's PermissiveSigningPolicy backdates by 5 minutes, except certificates shorter than 8 hours. */
const BACKDATE_MS = 5 * 60 * 1000
const SHORT_MS = 8 * 3600 * 1000

function pemEncode(type: string, der: Uint8Array): string {
  let bin = ''
  for (const b of der) bin += String.fromCharCode(b)
  const b64 = btoa(bin).replace(/.{64}/g, '$&\n')
  return `-----BEGIN ${type}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${type}-----\n`
}

/** CertificateAuthority.Sign: the issued certificate for a parsed CSR, PEM. */
export async function signCertificateRequest(
  ca: CertificateAuthority,
  csr: ParsedCSR,
  policy: SigningPolicy,
): Promise<string> {
  const { bits, ext } = keyUsagesFromStrings(policy.usages)
  const serial = crypto.getRandomValues(new Uint8Array(16))
  serial[0]! &= 0x7f
  const notBefore = policy.ttlMs < SHORT_MS ? policy.now : policy.now - BACKDATE_MS
  // A certificate never outlives its CA.
  const notAfter = Math.min(notBefore + policy.ttlMs, ca.notAfterMs)
  const extensions: Uint8Array[] = []
  if (bits.length) extensions.push(extension('2.5.29.15', true, keyUsageBits(bits)))
  if (ext.length) extensions.push(extension('2.5.29.37', false, seq(...ext.map(objectId))))
  extensions.push(extension('2.5.29.19', true, seq()))
  if (ca.subjectKeyId)
    extensions.push(extension('2.5.29.35', false, seq(tlv(0x80, ca.subjectKeyId))))
  const san = csr.extensions.find((e) => e.oid === OID_SUBJECT_ALT_NAME)
  if (san) extensions.push(san.der)
  const tbs = seq(
    tlv(0xa0, Uint8Array.of(0x02, 0x01, 0x02)),
    uint(serial),
    ca.signatureAlgorithm,
    ca.subject,
    seq(time(notBefore), time(notAfter)),
    csr.subjectDer,
    csr.spki,
    tlv(0xa3, seq(...extensions)),
  )
  const signature = await ca.sign(tbs)
  const cert = seq(tbs, ca.signatureAlgorithm, tlv(0x03, Uint8Array.of(0), signature))
  return pemEncode('CERTIFICATE', cert)
}

const SAN_KINDS: Record<number, string> = { 0x81: 'Email', 0x82: 'DNS', 0x86: 'URI', 0x87: 'IP' }

/** The kinds of subject alternative name the CSR asks for (Go's DNSNames, EmailAddresses, IPAddresses, URIs). */
export function subjectAltNameKinds(csr: ParsedCSR): Set<string> {
  const kinds = new Set<string>()
  for (const san of csr.extensions.filter((e) => e.oid === OID_SUBJECT_ALT_NAME)) {
    const parts = children(san.der, readTlv(san.der, 0))
    const value = body(san.der, parts[parts.length - 1]!)
    for (const name of children(value, readTlv(value, 0))) {
      const kind = SAN_KINDS[name.tag]
      if (kind) kinds.add(kind)
    }
  }
  return kinds
}

/** How long a CA made by createCertificateAuthority is valid: kubeadm's 10 years. */
const NEW_CA_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000

/**
 * A new self-signed CA (ECDSA P-256, kubeadm's layout: CN only, CA:true, keyCertSign | digitalSignature |
 * keyEncipherment, a subject key identifier), as PEM: the certificate and its PKCS#8 key.
 */
export async function createCertificateAuthority(
  commonName: string,
  now = Date.now(),
): Promise<{ certPem: string; keyPem: string }> {
  const subtle = crypto.subtle
  const pair = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const spki = new Uint8Array((await subtle.exportKey('spki', pair.publicKey)) as ArrayBuffer)
  const pkcs8 = new Uint8Array((await subtle.exportKey('pkcs8', pair.privateKey)) as ArrayBuffer)
  // RFC 5280's method 1: the SHA-1 of the subjectPublicKey BIT STRING's bits.
  const spkiParts = children(spki, readTlv(spki, 0))
  const publicKeyBits = body(spki, spkiParts[1]!).subarray(1)
  const keyId = new Uint8Array(await subtle.digest('SHA-1', publicKeyBits.slice()))
  const name = seq(
    tlv(0x31, seq(objectId('2.5.4.3'), tlv(0x0c, new TextEncoder().encode(commonName)))),
  )
  const signatureAlgorithm = seq(objectId(OID_ECDSA_SHA256))
  const serial = crypto.getRandomValues(new Uint8Array(16))
  serial[0]! &= 0x7f
  const tbs = seq(
    tlv(0xa0, Uint8Array.of(0x02, 0x01, 0x02)),
    uint(serial),
    signatureAlgorithm,
    name,
    seq(time(now - BACKDATE_MS), time(now + NEW_CA_VALIDITY_MS)),
    name,
    spki,
    tlv(
      0xa3,
      seq(
        extension('2.5.29.15', true, keyUsageBits([0, 2, 5])),
        extension('2.5.29.19', true, seq(Uint8Array.of(0x01, 0x01, 0xff))),
        extension(OID_SUBJECT_KEY_ID, false, octets(keyId)),
      ),
    ),
  )
  const raw = new Uint8Array(
    await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, tbs.slice()),
  )
  const cert = seq(tbs, signatureAlgorithm, tlv(0x03, Uint8Array.of(0), ecdsaSigValue(raw)))
  return { certPem: pemEncode('CERTIFICATE', cert), keyPem: pemEncode('PRIVATE KEY', pkcs8) }
}

// Certificates for a self-hosted server, as kubeadm lays them out: a serving CA and the apiserver's
// serving certificate, a client CA and the admin's client certificate (O=system:masters). Node 20's
// crypto makes keys but not X.509 certificates, so node-forge signs them (RSA 2048, SHA-256).
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { join } from 'node:path'
import forge from 'node-forge'

export interface KeyPair {
  certPem: string
  keyPem: string
}

export interface Subject {
  commonName: string
  organizations?: string[]
}

const DAY_MS = 24 * 3600 * 1000
const CA_DAYS = 3650
const LEAF_DAYS = 365
/** A certificate this close to expiry is made again at start. */
const RENEW_BEFORE_DAYS = 30

function newKey(): {
  pem: string
  forgeKey: forge.pki.rsa.PrivateKey
  forgePublic: forge.pki.rsa.PublicKey
} {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  return {
    pem,
    forgeKey: forge.pki.privateKeyFromPem(pem),
    forgePublic: forge.pki.publicKeyFromPem(
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ),
  }
}

function serial(): string {
  const b = randomBytes(16)
  b[0]! &= 0x7f // a positive DER INTEGER
  b[0]! |= 0x01 // and no leading zero byte to strip
  return b.toString('hex')
}

function attributes(s: Subject): forge.pki.CertificateField[] {
  return [
    ...(s.organizations ?? []).map((o) => ({ shortName: 'O', value: o })),
    { shortName: 'CN', value: s.commonName },
  ]
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now()
  cert.validity.notBefore = new Date(now - 5 * 60 * 1000) // tolerate a little clock skew
  cert.validity.notAfter = new Date(now + days * DAY_MS)
}

/** A self-signed CA. */
export function createCA(commonName: string): KeyPair {
  const key = newKey()
  const cert = forge.pki.createCertificate()
  cert.publicKey = key.forgePublic
  cert.serialNumber = serial()
  validity(cert, CA_DAYS)
  cert.setSubject(attributes({ commonName }))
  cert.setIssuer(attributes({ commonName }))
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ])
  cert.sign(key.forgeKey, forge.md.sha256.create())
  return { certPem: pem(cert), keyPem: key.pem }
}

/** forge writes PEM with CRLF; Go's pem.Encode (and every file kube tools write) uses LF. */
function pem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n')
}

export interface LeafOptions {
  subject: Subject
  usage: 'server' | 'client'
  /** DNS names and IP addresses (server certificates). */
  hosts?: string[]
}

/** A certificate signed by `ca`. */
export function signCertificate(ca: KeyPair, opts: LeafOptions): KeyPair {
  const key = newKey()
  const caCert = forge.pki.certificateFromPem(ca.certPem)
  const cert = forge.pki.createCertificate()
  cert.publicKey = key.forgePublic
  cert.serialNumber = serial()
  validity(cert, LEAF_DAYS)
  cert.setSubject(attributes(opts.subject))
  cert.setIssuer(caCert.subject.attributes)
  const caKeyId = (caCert.generateSubjectKeyIdentifier() as forge.util.ByteStringBuffer).getBytes()
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    opts.usage === 'server'
      ? { name: 'extKeyUsage', serverAuth: true }
      : { name: 'extKeyUsage', clientAuth: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: caKeyId },
  ]
  if (opts.hosts?.length) {
    extensions.push({
      name: 'subjectAltName',
      altNames: opts.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    })
  }
  cert.setExtensions(extensions)
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create())
  return { certPem: pem(cert), keyPem: key.pem }
}

/** The names the generated serving certificate covers: loopback, this host, and the in-cluster service names. */
export function servingHosts(bindAddress: string, serviceIP: string): string[] {
  const hosts = new Set([
    'localhost',
    '127.0.0.1',
    '::1',
    hostname(),
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    serviceIP,
  ])
  if (bindAddress !== '0.0.0.0' && bindAddress !== '::') hosts.add(bindAddress)
  return [...hosts]
}

function usable(certPath: string, keyPath: string): boolean {
  if (!existsSync(certPath) || !existsSync(keyPath)) return false
  try {
    const cert = new X509Certificate(readFileSync(certPath))
    return Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_DAYS * DAY_MS
  } catch {
    return false
  }
}

function load(certPath: string, keyPath: string): KeyPair {
  return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') }
}

function save(certPath: string, keyPath: string, pair: KeyPair): KeyPair {
  writeFileSync(keyPath, pair.keyPem, { mode: 0o600 })
  writeFileSync(certPath, pair.certPem, { mode: 0o644 })
  return pair
}

/**
 * `<dir>/<name>.crt` and `.key`, made by `make` when absent, near expiry, or `renew` (its issuer was
 * made again); `renewed` says it was made now.
 */
export function ensurePair(
  dir: string,
  name: string,
  make: () => KeyPair,
  renew = false,
): KeyPair & { certPath: string; keyPath: string; renewed: boolean } {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const certPath = join(dir, `${name}.crt`)
  const keyPath = join(dir, `${name}.key`)
  if (!renew && usable(certPath, keyPath))
    return { ...load(certPath, keyPath), certPath, keyPath, renewed: false }
  return { ...save(certPath, keyPath, make()), certPath, keyPath, renewed: true }
}

/**
 * The service account signing key (kubeadm's sa.key): an ECDSA P-256 key in PKCS#8 PEM, made once and
 * kept, so tokens issued before a restart still verify. Servers sharing one etcd must share it.
 */
export function ensureServiceAccountKey(dir: string): { keyPem: string; keyPath: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const keyPath = join(dir, 'sa.key')
  if (!existsSync(keyPath)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    writeFileSync(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), {
      mode: 0o600,
    })
  }
  return { keyPem: readFileSync(keyPath, 'utf8'), keyPath }
}

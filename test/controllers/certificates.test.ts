// csrapproving's recognizers and SubjectAccessReviews, and the certificates csrsigning issues, checked
// against openssl-made requests and CAs and read back with node:crypto's X509Certificate and openssl.
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Attributes, Authorizer } from '../../src/auth/authorizer'
import {
  createCertificateAuthority,
  loadCertificateAuthority,
  signCertificateRequest,
} from '../../src/auth/certificate-authority'
import {
  autoApproval,
  signerValidation,
  signingDuration,
  validateKubeletClientCSR,
} from '../../src/controllers/certificates'
import { parseCSR } from '../../src/registry/validation/csr'

let dir: string
const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString()

let n = 0
/** An openssl-made CSR (P-256 key unless `rsa`), PEM. */
function makeCSR(subject: string, opts: { rsa?: boolean; san?: string } = {}): string {
  const name = `req${n++}`
  if (opts.rsa) openssl('genrsa', '-out', `${name}.key`, '2048')
  else openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`)
  openssl(
    'req',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    subject,
    ...(opts.san ? ['-addext', `subjectAltName=${opts.san}`] : []),
    '-out',
    `${name}.csr`,
  )
  return readFileSync(join(dir, `${name}.csr`), 'utf8')
}

const parsed = (pem: string) => parseCSR(new TextEncoder().encode(pem))

function csrObject(pem: string, spec: Record<string, unknown>, status: object = {}) {
  return {
    metadata: { name: 'x' },
    spec: { request: Buffer.from(pem).toString('base64'), ...spec },
    status,
  }
}

/** An authorizer that allows exactly the (user, subresource) pairs given, recording what it was asked. */
function authorizer(allowed: [string, string][]): Authorizer & { asked: Attributes[] } {
  const asked: Attributes[] = []
  return {
    asked,
    async authorize(a) {
      asked.push(a)
      const ok = allowed.some(([u, s]) => u === a.user.username && s === a.subresource)
      return { decision: ok ? 'Allow' : 'NoOpinion', reason: '' }
    },
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'csr-unit-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("csrapproving's rules", () => {
  const node = () => makeCSR('/O=system:nodes/CN=system:node:worker-1')

  it('recognizes a kubelet client request by kube’s ValidateKubeletClientCSR', () => {
    const ok = parsed(node())
    expect(validateKubeletClientCSR(ok, ['digital signature', 'client auth'])).toBeUndefined()
    expect(
      validateKubeletClientCSR(ok, ['digital signature', 'key encipherment', 'client auth']),
    ).toBeUndefined()
    expect(validateKubeletClientCSR(ok, ['client auth'])).toBe(
      'usages did not match [client auth digital signature key encipherment]',
    )
    expect(
      validateKubeletClientCSR(parsed(makeCSR('/O=devs/CN=system:node:worker-1')), [
        'digital signature',
        'client auth',
      ]),
    ).toBe('subject organization is not system:nodes')
    expect(
      validateKubeletClientCSR(parsed(makeCSR('/O=system:nodes/CN=worker-1')), [
        'digital signature',
        'client auth',
      ]),
    ).toBe('subject common name does not begin with system:node:')
    expect(
      validateKubeletClientCSR(
        parsed(makeCSR('/O=system:nodes/CN=system:node:worker-1', { san: 'DNS:worker-1' })),
        ['digital signature', 'client auth'],
      ),
    ).toBe('DNS subjectAltNames are not allowed')
    expect(
      validateKubeletClientCSR(
        parsed(makeCSR('/O=system:nodes/CN=system:node:worker-1', { san: 'IP:10.0.0.1' })),
        ['digital signature', 'client auth'],
      ),
    ).toBe('IP subjectAltNames are not allowed')
  })

  it('approves a bootstrap token’s request after a nodeclient SubjectAccessReview for the requester', async () => {
    const csr = csrObject(node(), {
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'client auth'],
      username: 'system:bootstrap:abcdef',
      groups: ['system:bootstrappers', 'system:authenticated'],
    })
    const authz = authorizer([['system:bootstrap:abcdef', 'nodeclient']])
    expect(await autoApproval(csr, authz)).toBe(
      'Auto approving kubelet client certificate after SubjectAccessReview.',
    )
    // Not the node itself, so selfnodeclient is never asked.
    expect(authz.asked).toEqual([
      {
        user: {
          username: 'system:bootstrap:abcdef',
          uid: undefined,
          groups: ['system:bootstrappers', 'system:authenticated'],
          extra: undefined,
        },
        verb: 'create',
        isResourceRequest: true,
        path: '',
        apiGroup: 'certificates.k8s.io',
        apiVersion: '',
        namespace: '',
        resource: 'certificatesigningrequests',
        subresource: 'nodeclient',
        name: '',
      },
    ])
    // Without the permission nothing is approved, and the loop retries it later (kube's IgnorableError).
    await expect(autoApproval(csr, authorizer([]))).rejects.toThrow(
      'recognized csr "x" as [nodeclient] but subject access review was not approved',
    )
  })

  it('approves a node renewing its own certificate by selfnodeclient first', async () => {
    const csr = csrObject(node(), {
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'client auth'],
      username: 'system:node:worker-1',
      groups: ['system:nodes'],
    })
    const authz = authorizer([['system:node:worker-1', 'selfnodeclient']])
    expect(await autoApproval(csr, authz)).toBe(
      'Auto approving self kubelet client certificate after SubjectAccessReview.',
    )
    expect(authz.asked.map((a) => a.subresource)).toEqual(['selfnodeclient'])
  })

  it('leaves alone other signers, decided requests and issued ones', async () => {
    const all = authorizer([
      ['system:bootstrap:abcdef', 'nodeclient'],
      ['system:bootstrap:abcdef', 'selfnodeclient'],
    ])
    const spec = {
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'client auth'],
      username: 'system:bootstrap:abcdef',
    }
    const pem = node()
    expect(
      await autoApproval(
        csrObject(pem, { ...spec, signerName: 'kubernetes.io/kube-apiserver-client' }),
        all,
      ),
    ).toBeUndefined()
    expect(
      await autoApproval(
        csrObject(pem, spec, { conditions: [{ type: 'Denied', status: 'True' }] }),
        all,
      ),
    ).toBeUndefined()
    expect(await autoApproval(csrObject(pem, spec, { certificate: 'eA==' }), all)).toBeUndefined()
    expect(all.asked).toEqual([])
  })
})

describe("csrsigning's certificates", () => {
  let rsaCA: { cert: string; key: string }
  let ecCA: { cert: string; key: string }

  beforeAll(() => {
    const ca = (name: string, keyArgs: string[]) => {
      openssl(...keyArgs, '-out', `${name}.key`)
      openssl(
        'req',
        '-x509',
        '-new',
        '-key',
        `${name}.key`,
        '-subj',
        `/CN=${name}`,
        '-days',
        '30',
        '-out',
        `${name}.crt`,
      )
      return {
        cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
        key: readFileSync(join(dir, `${name}.key`), 'utf8'),
      }
    }
    // PKCS#1 as kubeadm writes it, and SEC 1.
    rsaCA = ca('rsa-ca', ['genrsa', '-traditional'])
    ecCA = ca('ec-ca', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'])
  })

  for (const which of ['RSA', 'ECDSA'] as const) {
    it(`issues a client certificate with the request's subject and key under a ${which} CA`, async () => {
      const { cert: caPem, key } = which === 'RSA' ? rsaCA : ecCA
      const ca = await loadCertificateAuthority(caPem, key)
      const request = makeCSR('/O=system:nodes/CN=system:node:worker-1')
      const now = Date.UTC(2026, 0, 1)
      const pem = await signCertificateRequest(ca, parsed(request), {
        ttlMs: 365 * 24 * 3600 * 1000,
        usages: ['digital signature', 'key encipherment', 'client auth'],
        now,
      })
      const cert = new X509Certificate(pem)
      const caCert = new X509Certificate(caPem)
      expect(cert.verify(caCert.publicKey)).toBe(true)
      expect(cert.checkIssued(caCert)).toBe(true)
      expect(cert.subject).toBe('O=system:nodes\nCN=system:node:worker-1')
      expect(cert.issuer).toBe(caCert.subject)
      expect(cert.ca).toBe(false)
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2'])
      // The request's key is the certificate's.
      const csrKey = execFileSync('openssl', ['req', '-pubkey', '-noout'], { input: request })
      expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(csrKey.toString())
      // Backdated by five minutes, valid for the TTL from then, and never past the CA.
      expect(new Date(cert.validFrom).getTime()).toBe(now - 5 * 60 * 1000)
      expect(new Date(cert.validTo).getTime()).toBe(
        Math.min(now - 5 * 60 * 1000 + 365 * 24 * 3600 * 1000, new Date(caCert.validTo).getTime()),
      )
      const file = join(dir, `issued-${which}.crt`)
      writeFileSync(file, pem)
      const text = openssl('x509', '-in', file, '-noout', '-text')
      expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/)
      expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication\n/)
      expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/)
      const ski = /Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(
        openssl('x509', '-in', `${which === 'RSA' ? 'rsa' : 'ec'}-ca.crt`, '-noout', '-text'),
      )![1]
      expect(text).toContain(`X509v3 Authority Key Identifier: \n                ${ski}`)
    })
  }

  it("copies a serving request's subject alternative names and server auth usage", async () => {
    const ca = await loadCertificateAuthority(rsaCA.cert, rsaCA.key)
    const request = makeCSR('/O=system:nodes/CN=system:node:worker-1', {
      san: 'DNS:worker-1,IP:10.0.0.7',
    })
    const usages = ['digital signature', 'server auth']
    expect(signerValidation('kubernetes.io/kubelet-serving', parsed(request), usages)).toBe(
      undefined,
    )
    const cert = new X509Certificate(
      await signCertificateRequest(ca, parsed(request), {
        ttlMs: 3600_000,
        usages,
        now: Date.now(),
      }),
    )
    expect(cert.subjectAltName).toBe('DNS:worker-1, IP Address:10.0.0.7')
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1'])
    // Shorter than eight hours: not backdated.
    expect(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()).toBe(3600_000)
  })

  it("refuses by kube's signer validation and caps the duration", () => {
    const client = parsed(makeCSR('/O=devs/CN=jane', { rsa: true }))
    expect(signerValidation('kubernetes.io/kube-apiserver-client', client, ['client auth'])).toBe(
      undefined,
    )
    expect(
      signerValidation('kubernetes.io/kube-apiserver-client', client, [
        'client auth',
        'server auth',
      ]),
    ).toBe('invalid usage for client certificate: server auth')
    expect(
      signerValidation('kubernetes.io/kube-apiserver-client', client, ['digital signature']),
    ).toBe('missing required usage for client certificate: client auth')
    expect(signerValidation('kubernetes.io/kubelet-serving', client, ['server auth'])).toBe(
      'subject organization is not system:nodes',
    )
    expect(signerValidation('kubernetes.io/legacy-unknown', client, ['server auth'])).toBe(
      undefined,
    )
    const year = 365 * 24 * 3600 * 1000
    expect(signingDuration(undefined, year)).toBe(year)
    expect(signingDuration(2 * 365 * 24 * 3600, year)).toBe(year)
    expect(signingDuration(3600, year)).toBe(3600_000)
    expect(signingDuration(60, year)).toBe(600_000)
  })
})

describe('createCertificateAuthority', () => {
  it('makes a self-signed CA openssl accepts, which then signs certificates that verify against it', async () => {
    const now = Date.now()
    const made = await createCertificateAuthority('tenant-a-ca', now)
    const caCert = new X509Certificate(made.certPem)
    expect(caCert.subject).toBe('CN=tenant-a-ca')
    expect(caCert.issuer).toBe('CN=tenant-a-ca')
    expect(caCert.ca).toBe(true)
    expect(caCert.verify(caCert.publicKey)).toBe(true)
    expect(new Date(caCert.validTo).getTime() - now).toBeGreaterThan(9 * 365 * 24 * 3600 * 1000)
    writeFileSync(join(dir, 'made-ca.crt'), made.certPem)
    const text = openssl('x509', '-in', 'made-ca.crt', '-noout', '-text')
    expect(text).toMatch(/CA:TRUE/)
    expect(text).toMatch(/Digital Signature, Key Encipherment, Certificate Sign/)
    expect(text).toMatch(/Subject Key Identifier/)

    const ca = await loadCertificateAuthority(made.certPem, made.keyPem)
    const issued = await signCertificateRequest(ca, parsed(makeCSR('/O=devs/CN=jane')), {
      ttlMs: 3600_000,
      usages: ['client auth'],
      now,
    })
    writeFileSync(join(dir, 'issued.crt'), issued)
    expect(openssl('verify', '-CAfile', 'made-ca.crt', 'issued.crt')).toBe('issued.crt: OK\n')
  })
})

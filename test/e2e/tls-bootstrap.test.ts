// A kubelet's TLS bootstrap at the edge (npm start): a bootstrap token creates a node client CSR with the real
// kubectl, the ClusterStore's csrapproving approves it after a SubjectAccessReview and csrsigning signs it with
// the CA npm start passes as CLUSTER_SIGNING_KEY; an admin's kube-apiserver-client CSR is signed once approved.
// That the certificate then authenticates as the node is checked in Node mode (test/node/tls-bootstrap.test.ts):
// locally workerd verifies no client certificates (a deployment does through Cloudflare's mTLS).
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BOOTSTRAP_TOKEN as TOKEN, createKubeadmBootstrapToken } from '../helpers/bootstrap-token'
import { KUBECTL, LocalServer, run } from './harness'

describe('kubelet TLS bootstrap at the edge', () => {
  let server: LocalServer
  let ca: X509Certificate

  const openssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: server.stateDir, stdio: ['ignore', 'pipe', 'pipe'] })

  const csrManifest = (name: string, csrFile: string, signerName: string, usages: string[]) =>
    JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: {
        request: readFileSync(join(server.stateDir, csrFile)).toString('base64'),
        signerName,
        usages,
      },
    })

  async function issued(name: string): Promise<X509Certificate> {
    const deadline = Date.now() + 15_000
    for (;;) {
      const r = await server.kubectl(['get', 'csr', name, '-o', 'jsonpath={.status.certificate}'])
      if (r.code === 0 && r.stdout.trim())
        return new X509Certificate(Buffer.from(r.stdout, 'base64'))
      if (Date.now() > deadline) throw new Error(`no certificate for ${name}: ${r.stderr}`)
      await new Promise((res) => setTimeout(res, 250))
    }
  }

  beforeAll(async () => {
    server = await LocalServer.start()
    // The signing CA: the serving CA npm start passes as CLUSTER_SIGNING_KEY, or in Node mode (the mirror,
    // test/node/e2e/tls-bootstrap.test.ts) the client CA it generates, whose certificates authenticate.
    const signing = server.runtime === 'node' ? 'client-ca.crt' : 'ca.crt'
    ca = new X509Certificate(readFileSync(join(server.stateDir, 'pki', signing)))
    await createKubeadmBootstrapToken((...args) => server.k(...args))
  }, 120_000)

  afterAll(async () => {
    await server?.dispose()
  })

  it('approves and signs a bootstrap token’s node client CSR with the cluster CA', async () => {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'worker-1.key')
    openssl(
      'req',
      '-new',
      '-key',
      'worker-1.key',
      '-subj',
      '/O=system:nodes/CN=system:node:worker-1',
      '-out',
      'worker-1.csr',
    )
    const file = server.file(
      'worker-1.json',
      csrManifest(
        'node-csr-worker-1',
        'worker-1.csr',
        'kubernetes.io/kube-apiserver-client-kubelet',
        ['digital signature', 'client auth'],
      ),
    )
    const created = await run(KUBECTL, [
      `--server=https://127.0.0.1:${server.port}`,
      `--certificate-authority=${join(server.stateDir, 'pki', 'ca.crt')}`,
      `--token=${TOKEN}`,
      'create',
      '-f',
      file,
    ])
    expect(created.stderr).toBe('')
    expect(created.stdout).toContain(
      'certificatesigningrequest.certificates.k8s.io/node-csr-worker-1 created',
    )

    const cert = await issued('node-csr-worker-1')
    const csr = JSON.parse(await server.k('get', 'csr', 'node-csr-worker-1', '-o', 'json'))
    expect(csr.spec.username).toBe('system:bootstrap:abcdef')
    expect(csr.status.conditions).toEqual([
      expect.objectContaining({
        type: 'Approved',
        status: 'True',
        reason: 'AutoApproved',
        message: 'Auto approving kubelet client certificate after SubjectAccessReview.',
      }),
    ])
    expect(cert.verify(ca.publicKey)).toBe(true)
    expect(cert.subject).toBe('O=system:nodes\nCN=system:node:worker-1')
    expect(cert.issuer).toBe(ca.subject)
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2'])
    expect(await server.k('get', 'csr', 'node-csr-worker-1')).toMatch(/Approved,Issued/)
  }, 60_000)

  it('signs a kube-apiserver-client CSR once kubectl certificate approve approves it', async () => {
    openssl('genrsa', '-out', 'jane.key', '2048')
    openssl('req', '-new', '-key', 'jane.key', '-subj', '/O=devs/CN=jane', '-out', 'jane.csr')
    const file = server.file(
      'jane.json',
      csrManifest('jane', 'jane.csr', 'kubernetes.io/kube-apiserver-client', ['client auth']),
    )
    await server.k('create', '-f', file)
    await new Promise((res) => setTimeout(res, 1500))
    expect(await server.k('get', 'csr', 'jane', '-o', 'jsonpath={.status}')).toBe('{}')
    expect(await server.k('certificate', 'approve', 'jane')).toContain(
      'certificatesigningrequest.certificates.k8s.io/jane approved',
    )
    const cert = await issued('jane')
    expect(cert.verify(ca.publicKey)).toBe(true)
    expect(cert.subject).toBe('O=devs\nCN=jane')
  }, 60_000)
})

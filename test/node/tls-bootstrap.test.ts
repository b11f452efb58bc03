// A kubelet's TLS bootstrap against Node mode on etcd, as kubeadm sets it up: a bootstrap token Secret in
// kube-system, the bindings kubeadm makes (system:bootstrappers may create CSRs and have node client ones
// approved), and the in-process csrapproving and csrsigning loops. The kubelet's part is played by openssl
// (key and request) and the real kubectl (with the token, then with the issued certificate).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BOOTSTRAP_TOKEN as TOKEN, createKubeadmBootstrapToken } from '../helpers/bootstrap-token'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { KUBECTL, NodeServer, run } from './harness'

const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })

describe('kubelet TLS bootstrap in Node mode', () => {
  let etcd: EtcdCluster
  let server: NodeServer
  let dir: string
  let caFile: string

  /** kubectl against the server as the given credentials (no kubeconfig of the admin). */
  const as = (creds: { token?: string; cert?: string; key?: string }, ...args: string[]) =>
    run(KUBECTL, [
      `--server=${server.url}`,
      `--certificate-authority=${caFile}`,
      ...(creds.token ? [`--token=${creds.token}`] : []),
      ...(creds.cert ? [`--client-certificate=${creds.cert}`, `--client-key=${creds.key}`] : []),
      ...args,
    ])

  const ok = async (p: ReturnType<typeof as>) => {
    const r = await p
    if (r.code !== 0) throw new Error(`kubectl failed (${r.code}): ${r.stderr}`)
    return r.stdout
  }

  /** A CertificateSigningRequest manifest for a request openssl made. */
  const csrManifest = (name: string, csrFile: string, signerName: string, usages: string[]) =>
    JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: {
        request: readFileSync(join(dir, csrFile)).toString('base64'),
        signerName,
        usages,
      },
    })

  const create = async (creds: Parameters<typeof as>[0], manifest: string) => {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.json`)
    writeFileSync(file, manifest)
    return ok(as(creds, 'create', '-f', file))
  }

  /** The issued certificate, once csrsigning wrote it (within a few seconds). */
  async function issued(name: string): Promise<string> {
    const deadline = Date.now() + 15_000
    for (;;) {
      const b64 = await server.kubectl('get', 'csr', name, '-o', 'jsonpath={.status.certificate}')
      if (b64.code === 0 && b64.stdout.trim()) return Buffer.from(b64.stdout, 'base64').toString()
      if (Date.now() > deadline) throw new Error(`no certificate for ${name}: ${b64.stderr}`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tls-bootstrap-'))
    etcd = await startEtcd()
    server = await NodeServer.start(etcd.endpoints, [
      '--authorization-mode=Node,RBAC',
      '--enable-bootstrap-token-auth',
    ])
    caFile = join(dir, 'ca.crt')
    writeFileSync(caFile, server.credentials().ca)
    const admin = (...args: string[]) => ok(server.kubectl(...args))
    await createKubeadmBootstrapToken(admin)
    await admin(
      'create',
      'clusterrolebinding',
      'kubeadm:node-autoapprove-certificate-rotation',
      '--clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
      '--group=system:nodes',
    )
  }, 120_000)

  afterAll(async () => {
    await server?.destroy()
    await etcd?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('approves and signs a bootstrap token’s node client CSR, and the certificate authenticates as the node', async () => {
    // The kubelet's key and request: ECDSA P-256, as kubelet's bootstrap makes them.
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'worker-1.key'], dir)
    openssl(
      [
        'req',
        '-new',
        '-key',
        'worker-1.key',
        '-subj',
        '/O=system:nodes/CN=system:node:worker-1',
        '-out',
        'worker-1.csr',
      ],
      dir,
    )
    const out = await create(
      { token: TOKEN },
      csrManifest(
        'node-csr-worker-1',
        'worker-1.csr',
        'kubernetes.io/kube-apiserver-client-kubelet',
        ['digital signature', 'client auth'],
      ),
    )
    expect(out).toContain('certificatesigningrequest.certificates.k8s.io/node-csr-worker-1 created')

    const pem = await issued('node-csr-worker-1')
    const csr = JSON.parse(
      await ok(server.kubectl('get', 'csr', 'node-csr-worker-1', '-o', 'json')),
    )
    expect(csr.spec.username).toBe('system:bootstrap:abcdef')
    expect(csr.status.conditions).toEqual([
      expect.objectContaining({
        type: 'Approved',
        status: 'True',
        reason: 'AutoApproved',
        message: 'Auto approving kubelet client certificate after SubjectAccessReview.',
      }),
    ])
    const table = await ok(server.kubectl('get', 'csr', 'node-csr-worker-1'))
    expect(table).toMatch(
      /node-csr-worker-1 .*kubernetes\.io\/kube-apiserver-client-kubelet .*system:bootstrap:abcdef .*Approved,Issued/,
    )

    const certFile = join(dir, 'worker-1.crt')
    writeFileSync(certFile, pem)
    const text = openssl(['x509', '-in', 'worker-1.crt', '-noout', '-text'], dir).toString()
    expect(text).toContain('Subject: O = system:nodes, CN = system:node:worker-1')
    expect(text).toContain('TLS Web Client Authentication')
    expect(text).toContain('CA:FALSE')

    const whoami = JSON.parse(
      await ok(
        as({ cert: certFile, key: join(dir, 'worker-1.key') }, 'auth', 'whoami', '-o', 'json'),
      ),
    )
    expect(whoami.status.userInfo).toEqual({
      username: 'system:node:worker-1',
      groups: ['system:nodes', 'system:authenticated'],
    })
  }, 60_000)

  it('leaves a kube-apiserver-client CSR pending until approved, then signs it', async () => {
    openssl(['genrsa', '-out', 'jane.key', '2048'], dir)
    openssl(
      ['req', '-new', '-key', 'jane.key', '-subj', '/O=devs/CN=jane', '-out', 'jane.csr'],
      dir,
    )
    const manifest = csrManifest('jane', 'jane.csr', 'kubernetes.io/kube-apiserver-client', [
      'digital signature',
      'key encipherment',
      'client auth',
    ])
    const file = join(dir, 'jane.json')
    writeFileSync(file, manifest)
    await ok(server.kubectl('create', '-f', file))
    // Not a node's request: csrapproving leaves it alone, so nothing is issued.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await ok(server.kubectl('get', 'csr', 'jane', '-o', 'jsonpath={.status}'))).toBe('{}')

    expect(await ok(server.kubectl('certificate', 'approve', 'jane'))).toContain(
      'certificatesigningrequest.certificates.k8s.io/jane approved',
    )
    const pem = await issued('jane')
    const certFile = join(dir, 'jane.crt')
    writeFileSync(certFile, pem)
    const whoami = JSON.parse(
      await ok(as({ cert: certFile, key: join(dir, 'jane.key') }, 'auth', 'whoami', '-o', 'json')),
    )
    expect(whoami.status.userInfo).toEqual({
      username: 'jane',
      groups: ['devs', 'system:authenticated'],
    })
  }, 60_000)

  it('approves the node renewing its own client certificate by selfnodeclient', async () => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'worker-1b.key'], dir)
    openssl(
      [
        'req',
        '-new',
        '-key',
        'worker-1b.key',
        '-subj',
        '/O=system:nodes/CN=system:node:worker-1',
        '-out',
        'worker-1b.csr',
      ],
      dir,
    )
    const node = { cert: join(dir, 'worker-1.crt'), key: join(dir, 'worker-1.key') }
    await create(
      node,
      csrManifest(
        'node-csr-worker-1-renew',
        'worker-1b.csr',
        'kubernetes.io/kube-apiserver-client-kubelet',
        ['digital signature', 'client auth'],
      ),
    )
    const pem = await issued('node-csr-worker-1-renew')
    const csr = JSON.parse(
      await ok(server.kubectl('get', 'csr', 'node-csr-worker-1-renew', '-o', 'json')),
    )
    expect(csr.spec.username).toBe('system:node:worker-1')
    expect(csr.status.conditions[0].message).toBe(
      'Auto approving self kubelet client certificate after SubjectAccessReview.',
    )
    const certFile = join(dir, 'worker-1b.crt')
    writeFileSync(certFile, pem)
    const whoami = JSON.parse(
      await ok(
        as({ cert: certFile, key: join(dir, 'worker-1b.key') }, 'auth', 'whoami', '-o', 'json'),
      ),
    )
    expect(whoami.status.userInfo.username).toBe('system:node:worker-1')
  }, 60_000)

  it('signs nothing denied, and fails an approved request its signer refuses', async () => {
    openssl(['genrsa', '-out', 'other.key', '2048'], dir)
    openssl(
      [
        'req',
        '-new',
        '-key',
        'other.key',
        '-subj',
        '/O=devs/CN=system:node:x',
        '-out',
        'other.csr',
      ],
      dir,
    )
    const denied = join(dir, 'denied.json')
    writeFileSync(
      denied,
      csrManifest('denied', 'other.csr', 'kubernetes.io/kube-apiserver-client', ['client auth']),
    )
    const refused = join(dir, 'refused.json')
    writeFileSync(
      refused,
      csrManifest('refused', 'other.csr', 'kubernetes.io/kube-apiserver-client-kubelet', [
        'digital signature',
        'client auth',
      ]),
    )
    await ok(server.kubectl('create', '-f', denied, '-f', refused))
    expect(await ok(server.kubectl('certificate', 'deny', 'denied'))).toContain(
      'certificatesigningrequest.certificates.k8s.io/denied denied',
    )
    expect(await ok(server.kubectl('certificate', 'approve', 'refused'))).toContain(
      'certificatesigningrequest.certificates.k8s.io/refused approved',
    )
    const deadline = Date.now() + 15_000
    let csr
    for (;;) {
      csr = JSON.parse(await ok(server.kubectl('get', 'csr', 'refused', '-o', 'json')))
      if (csr.status.conditions.length > 1 || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 250))
    }
    expect(csr.status.conditions[1]).toMatchObject({
      type: 'Failed',
      status: 'True',
      reason: 'SignerValidationFailure',
      message: 'subject organization is not system:nodes',
    })
    expect(csr.status.certificate).toBeUndefined()
    const table = await ok(server.kubectl('get', 'csr', 'denied', 'refused'))
    expect(table).toMatch(/denied .* Denied\n/)
    expect(table).toMatch(/refused .* Approved,Failed\n/)
    expect(
      await ok(server.kubectl('get', 'csr', 'denied', '-o', 'jsonpath={.status.certificate}')),
    ).toBe('')
  }, 60_000)

  it('approves a request once its requester is allowed, retrying as kube requeues it', async () => {
    const admin = (...args: string[]) => ok(server.kubectl(...args))
    await admin(
      'create',
      'secret',
      'generic',
      'bootstrap-token-ghijkl',
      '-n',
      'kube-system',
      '--type=bootstrap.kubernetes.io/token',
      '--from-literal=token-id=ghijkl',
      '--from-literal=token-secret=0123456789abcdef',
      '--from-literal=usage-bootstrap-authentication=true',
      '--from-literal=auth-extra-groups=system:bootstrappers:late',
    )
    await admin(
      'create',
      'clusterrolebinding',
      'late-bootstrap',
      '--clusterrole=system:node-bootstrapper',
      '--group=system:bootstrappers:late',
    )
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'worker-2.key'], dir)
    openssl(
      [
        'req',
        '-new',
        '-key',
        'worker-2.key',
        '-subj',
        '/O=system:nodes/CN=system:node:worker-2',
        '-out',
        'worker-2.csr',
      ],
      dir,
    )
    await create(
      { token: 'ghijkl.0123456789abcdef' },
      csrManifest(
        'node-csr-worker-2',
        'worker-2.csr',
        'kubernetes.io/kube-apiserver-client-kubelet',
        ['digital signature', 'client auth'],
      ),
    )
    await new Promise((r) => setTimeout(r, 1500))
    expect(await ok(server.kubectl('get', 'csr', 'node-csr-worker-2'))).toMatch(/ Pending\n/)
    await admin(
      'create',
      'clusterrolebinding',
      'late-autoapprove',
      '--clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient',
      '--group=system:bootstrappers:late',
    )
    const pem = await issued('node-csr-worker-2')
    expect(pem).toContain('-----BEGIN CERTIFICATE-----')
    expect(await ok(server.kubectl('get', 'csr', 'node-csr-worker-2'))).toMatch(
      / Approved,Issued\n/,
    )
  }, 60_000)
})

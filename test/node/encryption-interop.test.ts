// Node mode's etcd data is kube-apiserver's: a Secret encrypted the way kube-apiserver encrypts it (made here
// with node:crypto, following aes.go's layout) and put into etcd reads through kubectl, and what this server
// writes, fetched with etcdctl, decrypts with node:crypto; the same with a KMS v2 plugin (a fake one on a unix
// socket). A configuration kube-apiserver would refuse stops the start with kube's message.
import { execFileSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { FakeKMSPlugin, protoBytes, protoFields } from '../helpers/kms-plugin'
import { ETCDCTL, NodeServer, ROOT, run } from './harness'

const KEY = randomBytes(32)
const dir = mkdtempSync(join(tmpdir(), 'edge-encryption-interop-'))
const configPath = join(dir, 'encryption.yaml')
writeFileSync(
  configPath,
  `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: ["secrets"]
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: ${KEY.toString('base64')}
`,
)

let etcd: EtcdCluster
let server: NodeServer

beforeAll(async () => {
  etcd = await startEtcd()
  server = await NodeServer.start(etcd.endpoints, [`--encryption-provider-config=${configPath}`])
})
afterAll(async () => {
  await server?.destroy()
  await etcd?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('encrypted Secrets interchangeable with kube-apiserver', () => {
  it('reads a Secret kube-apiserver encrypted with aescbc into etcd', async () => {
    const secret = {
      kind: 'Secret',
      apiVersion: 'v1',
      type: 'Opaque',
      metadata: {
        name: 'from-kube',
        namespace: 'default',
        uid: '7c1b1a0e-2a3b-4c5d-8e9f-0a1b2c3d4e5f',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      data: { token: Buffer.from('kube-wrote-this').toString('base64') },
    }
    const iv = randomBytes(16)
    const cipher = createCipheriv('aes-256-cbc', KEY, iv)
    const value = Buffer.concat([
      Buffer.from('k8s:enc:aescbc:v1:key1:'),
      iv,
      cipher.update(JSON.stringify(secret)),
      cipher.final(),
    ])
    const client = new Etcd3({ hosts: etcd.endpoints })
    try {
      await client.put('/registry/secrets/default/from-kube').value(value)
    } finally {
      client.close()
    }
    const r = await server.kubectl('get', 'secret', 'from-kube', '-o', 'jsonpath={.data.token}')
    expect(r.stderr).toBe('')
    expect(Buffer.from(r.stdout, 'base64').toString()).toBe('kube-wrote-this')
  })

  it('writes what kube-apiserver reads: etcdctl gets the aescbc value, node:crypto decrypts it', async () => {
    const created = await server.kubectl(
      'create',
      'secret',
      'generic',
      'to-kube',
      '--from-literal=password=s3cr3t-for-kube',
    )
    expect(created.stderr).toBe('')
    const stored = execFileSync(ETCDCTL, [
      `--endpoints=${etcd.endpoints.join(',')}`,
      'get',
      '--print-value-only',
      '/registry/secrets/default/to-kube',
    ])
    const prefix = 'k8s:enc:aescbc:v1:key1:'
    expect(stored.subarray(0, prefix.length).toString()).toBe(prefix)
    expect(stored.includes('s3cr3t-for-kube')).toBe(false)
    // etcdctl prints the value and a newline.
    const body = stored.subarray(prefix.length, stored.length - 1)
    const d = createDecipheriv('aes-256-cbc', KEY, body.subarray(0, 16))
    const secret = JSON.parse(
      Buffer.concat([d.update(body.subarray(16)), d.final()]).toString(),
    ) as { data: { password: string } }
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('s3cr3t-for-kube')
  })
})

describe('configurations refused at start', () => {
  async function startFails(config: string): Promise<string> {
    const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(file, config)
    const r = await run(
      process.execPath,
      [
        join(ROOT, 'dist', 'node.js'),
        `--etcd-servers=${etcd.endpoints.join(',')}`,
        '--secure-port=1',
        `--state-dir=${dir}/state`,
        `--encryption-provider-config=${file}`,
      ],
      { cwd: ROOT },
    )
    expect(r.code).not.toBe(0)
    return r.stderr
  }

  it('refuses a key of the wrong length with kube validation message', async () => {
    const stderr = await startFails(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - name: k
              secret: ${Buffer.alloc(10).toString('base64')}
`)
    expect(stderr).toContain(
      'error while parsing file: resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 10, expected one of [16 24 32]',
    )
  })
})

describe('the kms v2 provider, with a plugin on a unix socket', () => {
  let kmsEtcd: EtcdCluster
  let kmsServer: NodeServer
  let plugin: FakeKMSPlugin
  const etcdGet = (key: string) =>
    execFileSync(ETCDCTL, [
      `--endpoints=${kmsEtcd.endpoints.join(',')}`,
      'get',
      '--print-value-only',
      key,
    ])

  /** HKDF-Expand (RFC 5869) to 32 bytes: one HMAC block, the seed as the pseudorandom key. */
  const expand = (seed: Buffer, info: Buffer) =>
    createHmac('sha256', seed)
      .update(Buffer.concat([info, Buffer.from([1])]))
      .digest()

  beforeAll(async () => {
    plugin = await FakeKMSPlugin.start(join(dir, 'kms.sock'))
    const config = join(dir, 'kms.yaml')
    writeFileSync(
      config,
      `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: ["secrets"]
    providers:
      - kms:
          apiVersion: v2
          name: fake
          endpoint: unix://${join(dir, 'kms.sock')}
          timeout: 3s
`,
    )
    kmsEtcd = await startEtcd()
    kmsServer = await NodeServer.start(kmsEtcd.endpoints, [
      `--encryption-provider-config=${config}`,
    ])
  })
  afterAll(async () => {
    await kmsServer?.destroy()
    await kmsEtcd?.stop()
    await plugin?.stop()
  })

  it('stores a Secret as kube-apiserver does: k8s:enc:kms:v2:<name>: and an EncryptedObject sealed with a seed the plugin wrapped', async () => {
    const created = await kmsServer.kubectl(
      'create',
      'secret',
      'generic',
      'via-kms',
      '--from-literal=password=kms-protected-value',
    )
    expect(created.stderr).toBe('')
    expect(plugin.encrypts).toBeGreaterThan(0)
    const stored = etcdGet('/registry/secrets/default/via-kms')
    const prefix = 'k8s:enc:kms:v2:fake:'
    expect(stored.subarray(0, prefix.length).toString()).toBe(prefix)
    expect(stored.includes('kms-protected-value')).toBe(false)

    const o = protoFields(stored.subarray(prefix.length, stored.length - 1))
    expect(o.get(2)?.toString()).toBe('fake-key-1')
    const seed = plugin.unwrap(o.get(3)!)
    const data = o.get(1)!
    const d = createDecipheriv(
      'aes-256-gcm',
      expand(seed, data.subarray(0, 32)),
      data.subarray(32, 44),
    )
    d.setAAD(Buffer.from('/registry/secrets/default/via-kms'))
    d.setAuthTag(data.subarray(data.length - 16))
    const secret = JSON.parse(
      Buffer.concat([d.update(data.subarray(44, data.length - 16)), d.final()]).toString(),
    ) as { data: { password: string } }
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('kms-protected-value')

    const read = await kmsServer.kubectl(
      'get',
      'secret',
      'via-kms',
      '-o',
      'jsonpath={.data.password}',
    )
    expect(Buffer.from(read.stdout, 'base64').toString()).toBe('kms-protected-value')
  })

  it('reports the plugin in the kms-provider-0 health check, as kube-apiserver does', async () => {
    const admin = kmsServer.credentials()
    plugin.healthz = 'sealed'
    const down = await kmsServer.request('/readyz?verbose', admin)
    expect(down.status).toBe(500)
    expect(down.body).toContain('[-]kms-provider-0 failed: reason withheld')
    plugin.healthz = 'ok'
    await new Promise((r) => setTimeout(r, 3_100)) // a failure is remembered for 3 s
    const up = await kmsServer.request('/readyz/kms-provider-0', admin)
    expect(up).toEqual({ status: 200, body: 'ok' })
  })

  it('reads a Secret another kube-apiserver sealed with its own seed, asking the plugin to unwrap it', async () => {
    const secret = {
      kind: 'Secret',
      apiVersion: 'v1',
      type: 'Opaque',
      metadata: {
        name: 'kms-from-kube',
        namespace: 'default',
        uid: '0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      data: { token: Buffer.from('sealed-elsewhere').toString('base64') },
    }
    const seed = randomBytes(32)
    const info = randomBytes(32)
    const nonce = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', expand(seed, info), nonce)
    c.setAAD(Buffer.from('/registry/secrets/default/kms-from-kube'))
    const sealed = Buffer.concat([c.update(JSON.stringify(secret)), c.final(), c.getAuthTag()])
    const encryptedObject = Buffer.concat([
      protoBytes([
        [1, Buffer.concat([info, nonce, sealed])],
        [2, 'fake-key-1'],
        [3, plugin.wrap(seed)],
      ]),
      Buffer.from([5 << 3, 1]), // encryptedDEKSourceType: HKDF_SHA256_XNONCE_AES_GCM_SEED
    ])
    // Counted from before the write: the server's own loops may read the new Secret (and so unwrap its
    // seed, once, into the cache kubectl's read then uses) before kubectl does.
    const decryptsBefore = plugin.decrypts
    const client = new Etcd3({ hosts: kmsEtcd.endpoints })
    try {
      await client
        .put('/registry/secrets/default/kms-from-kube')
        .value(Buffer.concat([Buffer.from('k8s:enc:kms:v2:fake:'), encryptedObject]))
    } finally {
      client.close()
    }
    const r = await kmsServer.kubectl(
      'get',
      'secret',
      'kms-from-kube',
      '-o',
      'jsonpath={.data.token}',
    )
    expect(r.stderr).toBe('')
    expect(Buffer.from(r.stdout, 'base64').toString()).toBe('sealed-elsewhere')
    expect(plugin.decrypts).toBeGreaterThan(decryptsBefore)
  })
})

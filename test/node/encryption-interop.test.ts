// Node mode's etcd data is kube-apiserver's: a Secret encrypted the way kube-apiserver encrypts it (made here
// with node:crypto, following aes.go's layout) and put into etcd reads through kubectl, and what this server
// writes, fetched with etcdctl, decrypts with node:crypto. A configuration kube-apiserver would refuse, or one
// this server cannot honour (a KMS plugin), stops the start with a message naming it.
import { execFileSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { ETCDCTL, NodeServer, ROOT, run } from './harness'

const KEY = randomBytes(32)
const dir = mkdtempSync(join(tmpdir(), 'edge-encryption-interop-'))
const configPath = join(dir, 'encryption.yaml')
writeFileSync(configPath, `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: ["secrets"]
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: ${KEY.toString('base64')}
`)

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
      kind: 'Secret', apiVersion: 'v1', type: 'Opaque',
      metadata: { name: 'from-kube', namespace: 'default', uid: '7c1b1a0e-2a3b-4c5d-8e9f-0a1b2c3d4e5f', creationTimestamp: '2026-01-01T00:00:00Z' },
      data: { token: Buffer.from('kube-wrote-this').toString('base64') },
    }
    const iv = randomBytes(16)
    const cipher = createCipheriv('aes-256-cbc', KEY, iv)
    const value = Buffer.concat([Buffer.from('k8s:enc:aescbc:v1:key1:'), iv, cipher.update(JSON.stringify(secret)), cipher.final()])
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
    const created = await server.kubectl('create', 'secret', 'generic', 'to-kube', '--from-literal=password=s3cr3t-for-kube')
    expect(created.stderr).toBe('')
    const stored = execFileSync(ETCDCTL, [`--endpoints=${etcd.endpoints.join(',')}`, 'get', '--print-value-only', '/registry/secrets/default/to-kube'])
    const prefix = 'k8s:enc:aescbc:v1:key1:'
    expect(stored.subarray(0, prefix.length).toString()).toBe(prefix)
    expect(stored.includes('s3cr3t-for-kube')).toBe(false)
    // etcdctl prints the value and a newline.
    const body = stored.subarray(prefix.length, stored.length - 1)
    const d = createDecipheriv('aes-256-cbc', KEY, body.subarray(0, 16))
    const secret = JSON.parse(Buffer.concat([d.update(body.subarray(16)), d.final()]).toString()) as { data: { password: string } }
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('s3cr3t-for-kube')
  })
})

describe('configurations refused at start', () => {
  async function startFails(config: string): Promise<string> {
    const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(file, config)
    const r = await run(process.execPath, [join(ROOT, 'dist', 'node.js'), `--etcd-servers=${etcd.endpoints.join(',')}`, '--secure-port=1', `--state-dir=${dir}/state`, `--encryption-provider-config=${file}`], { cwd: ROOT })
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
    expect(stderr).toContain('error while parsing file: resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 10, expected one of [16 24 32]')
  })

  it('refuses a KMS v2 provider, naming what is missing', async () => {
    const stderr = await startFails(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - kms:
          apiVersion: v2
          name: vault
          endpoint: unix:///run/kms/vault.sock
`)
    expect(stderr).toContain('could not configure KMSv2 plugin "vault": this server does not implement the KMS v2 gRPC client')
  })
})

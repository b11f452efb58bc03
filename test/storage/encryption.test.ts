// Encryption at rest (src/storage/value): kube's EncryptionConfiguration and its validation words, values in
// kube's byte layout both ways (vectors made here with node:crypto, and one with libsodium, never with our
// encoder), key rotation, and the Store contract with every value encrypted, over etcd.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { etcdClient } from '../../src/storage/etcd/client'
import { EtcdStore } from '../../src/storage/etcd/store'
import type { Store } from '../../src/storage/store'
import {
  loadEncryptionConfiguration,
  TransformingStore,
  withEncryption,
} from '../../src/storage/value'
import {
  fromByteString,
  storageResources,
  toByteString,
} from '../../src/storage/value/transforming-store'
import { Registry } from '../../src/registry/registry'
import { builtinResources } from '../../src/registry/builtin'
import { MemoryStore } from '../helpers/memory-store'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { storeContract } from './contract'

const KEY1 = Buffer.alloc(32, 1).toString('base64')
const KEY2 = Buffer.alloc(32, 2).toString('base64')
const registry = new Registry(builtinResources)
const resourceOf = storageResources(registry.all())

function config(resources: string[], providers: string): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [${resources.map((r) => JSON.stringify(r)).join(', ')}]
    providers:
${providers.replace(/^/gm, '      ').trimEnd()}
`
}
const aescbc = (name: string, secret: string) =>
  `- aescbc:\n    keys:\n      - name: ${name}\n        secret: ${secret}\n`
const aesgcm = (name: string, secret: string) =>
  `- aesgcm:\n    keys:\n      - name: ${name}\n        secret: ${secret}\n`
const secretbox = (name: string, secret: string) =>
  `- secretbox:\n    keys:\n      - name: ${name}\n        secret: ${secret}\n`
const identity = '- identity: {}\n'

function encrypted(text: string, inner: Store = new MemoryStore()): TransformingStore {
  return new TransformingStore(inner, loadEncryptionConfiguration(text, 'config.yaml'), {
    resourceOf,
  })
}

const SECRET_KEY = '/registry/secrets/default/s'
const SECRET = JSON.stringify({
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: { name: 's', namespace: 'default' },
  data: { password: 'aHVudGVyMg==' },
})

/** What the inner store holds for a key, as bytes. */
async function raw(inner: Store, key: string): Promise<Buffer> {
  const v = (await inner.get(key)).kv!.value
  return v.startsWith('k8s:enc:') ? Buffer.from(fromByteString(v)) : Buffer.from(v)
}

describe('EncryptionConfiguration', () => {
  const refusal = (text: string) => {
    try {
      loadEncryptionConfiguration(text, 'config.yaml')
    } catch (e) {
      return (e as Error).message
    }
    throw new Error('accepted')
  }

  it('accepts apiserver.config.k8s.io/v1 and the legacy v1 EncryptionConfig kube still registers', () => {
    expect(() =>
      loadEncryptionConfiguration(config(['secrets'], aescbc('key1', KEY1)), 'f'),
    ).not.toThrow()
    const legacy = config(['secrets'], aescbc('key1', KEY1))
      .replace('apiserver.config.k8s.io/v1', 'v1')
      .replace('EncryptionConfiguration', 'EncryptionConfig')
    expect(() => loadEncryptionConfiguration(legacy, 'f')).not.toThrow()
  })

  it('refuses other kinds, unknown fields and empty files as kube does', () => {
    expect(
      refusal('apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n'),
    ).toMatch(
      /^error while parsing file: no kind "AdmissionConfiguration" is registered for version "apiserver.config.k8s.io\/v1"/,
    )
    expect(refusal(config(['secrets'], '- aescbcx: {}\n'))).toBe(
      'error while parsing file: strict decoding error: unknown field "resources[0].providers[0].aescbcx"',
    )
    expect(refusal('')).toBe(
      'error while parsing file: encryption provider configuration file "config.yaml" is empty',
    )
  })

  it('checks keys with kube validation messages', () => {
    expect(refusal(config(['secrets'], aescbc('key1', Buffer.alloc(8).toString('base64'))))).toBe(
      'error while parsing file: resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 8, expected one of [16 24 32]',
    )
    expect(
      refusal(config(['secrets'], secretbox('key1', Buffer.alloc(16).toString('base64')))),
    ).toBe(
      'error while parsing file: resources[0].providers[0].secretbox.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 16, expected one of [32]',
    )
    expect(refusal(config(['secrets'], aesgcm('key1', 'not base64!')))).toBe(
      'error while parsing file: resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secrets must be base64 encoded',
    )
    expect(refusal(config(['secrets'], '- aescbc:\n    keys: []\n'))).toBe(
      'error while parsing file: resources[0].providers[0].aescbc.keys: Required value: at least one keys is required',
    )
    expect(refusal(config(['secrets'], ''))).toBe(
      'error while parsing file: resources[0].providers: Required value: at least one resources[0].providers is required',
    )
  })

  it('checks resource names and overlaps with kube validation messages, several errors aggregated', () => {
    expect(refusal(config(['*'], identity))).toBe(
      `error while parsing file: resources[0].resources[0]: Invalid value: "*": use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources`,
    )
    expect(refusal(config(['secrets', '*.'], identity))).toBe(
      `error while parsing file: resources[0].resources: Invalid value: []string{"secrets", "*."}: using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked`,
    )
    expect(refusal(config(['Secrets', 'events.events.k8s.io'], identity))).toBe(
      `error while parsing file: [resources[0].resources[0]: Invalid value: "Secrets": resource name should not contain capital letters, resources[0].resources[1]: Invalid value: "events.events.k8s.io": '*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file]`,
    )
  })

  it('refuses a resource masked by an earlier wildcard rule', () => {
    const text =
      config(['*.*'], identity) + '  - resources: [secrets]\n    providers:\n      - identity: {}\n'
    expect(refusal(text)).toBe(
      'error while parsing file: resource "secrets" is masked by earlier rule "*.*"',
    )
  })

  it('refuses a kms provider where no plugin can be reached (the Worker), rather than storing in the clear', () => {
    const kms = '- kms:\n    apiVersion: v2\n    name: vault\n    endpoint: unix:///run/kms.sock\n'
    expect(refusal(config(['secrets'], kms))).toMatch(
      /^error while parsing file: could not configure KMSv2 plugin "vault": a Worker cannot reach the plugin's unix socket/,
    )
    expect(
      refusal(
        config(
          ['secrets'],
          '- kms:\n    apiVersion: v2\n    name: vault\n    endpoint: tcp://kms:1\n',
        ),
      ),
    ).toBe(
      'error while parsing file: resources[0].providers[0].kms.endpoint: Invalid value: "tcp://kms:1": unsupported scheme "tcp" for KMS provider, only unix is supported',
    )
  })

  it('fails every use of the store with a configuration kube would refuse, rather than writing in the clear', () => {
    const bad = config(['secrets'], aescbc('key1', 'c2hvcnQ='))
    const message =
      'error while parsing file: resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 5, expected one of [16 24 32]'
    expect(() =>
      withEncryption(new MemoryStore(), bad, registry, { source: 'ENCRYPTION_PROVIDER_CONFIG' }),
    ).toThrow(message)
    expect(() =>
      withEncryption(new MemoryStore(), bad, registry, { source: 'ENCRYPTION_PROVIDER_CONFIG' }),
    ).toThrow(message)
  })

  it('leaves the store alone without a configuration', () => {
    const inner = new MemoryStore()
    expect(withEncryption(inner, undefined, registry, { source: 'X' })).toBe(inner)
    expect(withEncryption(inner, '  \n', registry, { source: 'X' })).toBe(inner)
  })
})

describe('values in kube-apiserver format', () => {
  const key = Buffer.alloc(32, 7)
  const configs = {
    aescbc: config(['secrets'], aescbc('key1', key.toString('base64'))),
    aesgcm: config(['secrets'], aesgcm('key1', key.toString('base64'))),
    secretbox: config(['secrets'], secretbox('key1', key.toString('base64'))),
  }

  it('reads an aescbc value made with node:crypto: prefix, 16-byte IV, PKCS#7-padded AES-CBC', async () => {
    const iv = randomBytes(16)
    const c = createCipheriv('aes-256-cbc', key, iv)
    const value = Buffer.concat([
      Buffer.from('k8s:enc:aescbc:v1:key1:'),
      iv,
      c.update(SECRET),
      c.final(),
    ])
    const inner = new MemoryStore()
    await inner.create(SECRET_KEY, toByteString(value))
    expect((await encrypted(configs.aescbc, inner).get(SECRET_KEY)).kv?.value).toBe(SECRET)
  })

  it('reads an aesgcm value made with node:crypto: prefix, 12-byte nonce, ciphertext and tag, the etcd key as additional data', async () => {
    const nonce = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', key, nonce)
    c.setAAD(Buffer.from(SECRET_KEY))
    const body = Buffer.concat([c.update(SECRET), c.final(), c.getAuthTag()])
    const inner = new MemoryStore()
    await inner.create(
      SECRET_KEY,
      toByteString(Buffer.concat([Buffer.from('k8s:enc:aesgcm:v1:key1:'), nonce, body])),
    )
    const store = encrypted(configs.aesgcm, inner)
    expect((await store.get(SECRET_KEY)).kv?.value).toBe(SECRET)
    // Moved to another key, the value no longer authenticates (why kube seals with the key).
    await inner.create('/registry/secrets/default/copy', (await inner.get(SECRET_KEY)).kv!.value)
    await expect(store.get('/registry/secrets/default/copy')).rejects.toThrow(
      'cipher: message authentication failed',
    )
  })

  it('reads a secretbox value sealed by libsodium (PyNaCl SecretBox, key 00..1f, nonce 64..7b)', async () => {
    // /usr/bin/python3: nacl.secret.SecretBox(bytes(range(32))).encrypt(msg, bytes(range(100, 124))).hex()
    const sealed = Buffer.from(
      '6465666768696a6b6c6d6e6f707172737475767778797a7b966965ccb8f075e1e35973a4d39e2226799bf2a054d2ecd392ae46f745e1d73a12' +
        '8859d78df02e69d5652dfa28b1ebfe994dd83a2252ef85917763032229a647aff1c37d30bc1b296682276ba990b2462dea2108bb4c29e9dcad' +
        '25d024a68bf221fbf925dad35966f3efe805429dc7add8f3cb1f88e407e57e06',
      'hex',
    )
    const msg =
      '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"vector","namespace":"default"},"data":{"k":"dg=="}}'
    const inner = new MemoryStore()
    await inner.create(
      SECRET_KEY,
      toByteString(Buffer.concat([Buffer.from('k8s:enc:secretbox:v1:key1:'), sealed])),
    )
    const text = config(
      ['secrets'],
      secretbox('key1', 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='),
    )
    expect((await encrypted(text, inner).get(SECRET_KEY)).kv?.value).toBe(msg)
  })

  it('writes values node:crypto decrypts as kube-apiserver would', async () => {
    const cbcInner = new MemoryStore()
    await encrypted(configs.aescbc, cbcInner).create(SECRET_KEY, SECRET)
    const cbc = await raw(cbcInner, SECRET_KEY)
    const prefix = 'k8s:enc:aescbc:v1:key1:'
    expect(cbc.subarray(0, prefix.length).toString()).toBe(prefix)
    const d = createDecipheriv('aes-256-cbc', key, cbc.subarray(prefix.length, prefix.length + 16))
    expect(Buffer.concat([d.update(cbc.subarray(prefix.length + 16)), d.final()]).toString()).toBe(
      SECRET,
    )

    const gcmInner = new MemoryStore()
    await encrypted(configs.aesgcm, gcmInner).create(SECRET_KEY, SECRET)
    const gcm = await raw(gcmInner, SECRET_KEY)
    const body = gcm.subarray('k8s:enc:aesgcm:v1:key1:'.length)
    const g = createDecipheriv('aes-256-gcm', key, body.subarray(0, 12))
    g.setAAD(Buffer.from(SECRET_KEY))
    g.setAuthTag(body.subarray(body.length - 16))
    expect(
      Buffer.concat([g.update(body.subarray(12, body.length - 16)), g.final()]).toString(),
    ).toBe(SECRET)
  })

  it('round-trips secretbox and leaves resources the configuration does not name in the clear', async () => {
    const inner = new MemoryStore()
    const store = encrypted(configs.secretbox, inner)
    await store.create(SECRET_KEY, SECRET)
    await store.create('/registry/configmaps/default/c', '{"kind":"ConfigMap"}')
    expect((await raw(inner, SECRET_KEY)).includes('aHVudGVyMg')).toBe(false)
    expect((await inner.get('/registry/configmaps/default/c')).kv?.value).toBe(
      '{"kind":"ConfigMap"}',
    )
    expect((await store.get(SECRET_KEY)).kv?.value).toBe(SECRET)
  })
})

describe('key rotation', () => {
  it('reads with every key, writes with the first, and marks values of other keys stale', async () => {
    const inner = new MemoryStore()
    const old = encrypted(config(['secrets'], aescbc('key1', KEY1)), inner)
    await old.create(SECRET_KEY, SECRET)
    const rotated = encrypted(
      config(['secrets'], aescbc('key2', KEY2) + aescbc('key1', KEY1)),
      inner,
    )
    const { kv } = await rotated.get(SECRET_KEY)
    expect(kv).toMatchObject({ value: SECRET, stale: true })
    await rotated.update(SECRET_KEY, SECRET, kv!.modRevision)
    expect((await raw(inner, SECRET_KEY)).subarray(0, 23).toString()).toBe(
      'k8s:enc:aescbc:v2:key2:'.replace('v2', 'v1'),
    )
    expect((await rotated.get(SECRET_KEY)).kv?.stale).toBeUndefined()
    // The old key alone can no longer read it.
    await expect(old.get(SECRET_KEY)).rejects.toThrow(
      'no matching key was found for the provided AES transformer',
    )
  })

  it('reads values stored in the clear only while identity is listed, as kube does', async () => {
    const inner = new MemoryStore()
    await inner.create(SECRET_KEY, SECRET)
    expect(
      (await encrypted(config(['secrets'], aescbc('key1', KEY1) + identity), inner).get(SECRET_KEY))
        .kv,
    ).toMatchObject({ value: SECRET, stale: true })
    await expect(
      encrypted(config(['secrets'], aescbc('key1', KEY1)), inner).get(SECRET_KEY),
    ).rejects.toThrow('no matching prefix found')
  })

  it('refuses to hand out an encrypted value of a resource the configuration does not name', async () => {
    const inner = new MemoryStore()
    await encrypted(config(['*.'], aescbc('key1', KEY1)), inner).create(
      '/registry/configmaps/default/c',
      '{}',
    )
    await expect(
      encrypted(config(['secrets'], aescbc('key1', KEY1)), inner).get(
        '/registry/configmaps/default/c',
      ),
    ).rejects.toThrow('identity transformer tried to read encrypted data')
  })

  it('names resources by group: *.apps covers deployments, not configmaps', async () => {
    const inner = new MemoryStore()
    const store = encrypted(config(['*.apps'], aesgcm('key1', KEY1)), inner)
    await store.create('/registry/deployments/default/d', '{"kind":"Deployment"}')
    await store.create('/registry/configmaps/default/c', '{"kind":"ConfigMap"}')
    expect(
      (await inner.get('/registry/deployments/default/d')).kv?.value.startsWith(
        'k8s:enc:aesgcm:v1:key1:',
      ),
    ).toBe(true)
    expect((await inner.get('/registry/configmaps/default/c')).kv?.value).toBe(
      '{"kind":"ConfigMap"}',
    )
  })
})

describe('over etcd', () => {
  let etcd: EtcdCluster
  beforeAll(async () => {
    etcd = await startEtcd()
  })
  afterAll(async () => {
    await etcd?.stop()
  })

  storeContract('TransformingStore (aescbc for *.*) over EtcdStore', async () => {
    const inner = new EtcdStore(etcdClient({ endpoints: etcd.endpoints }), { prefix: '/custom' })
    const store = new TransformingStore(
      inner,
      loadEncryptionConfiguration(
        config(['*.*'], aescbc('key1', KEY1) + aesgcm('key2', KEY2)),
        'f',
      ),
      {
        resourceOf,
        authenticatedData: (k) => inner.etcdKeyOf(k),
      },
    )
    return { store, cleanup: async () => inner.close() }
  })

  it('puts kube-apiserver bytes in etcd, authenticated with the etcd key under --etcd-prefix', async () => {
    const inner = new EtcdStore(etcdClient({ endpoints: etcd.endpoints }), { prefix: '/custom' })
    try {
      const store = new TransformingStore(
        inner,
        loadEncryptionConfiguration(config(['secrets'], aesgcm('key1', KEY1)), 'f'),
        {
          resourceOf,
          authenticatedData: (k) => inner.etcdKeyOf(k),
        },
      )
      await store.create(SECRET_KEY, SECRET)
      const stored = await inner.client.get('/custom/secrets/default/s').buffer()
      const body = stored!.subarray('k8s:enc:aesgcm:v1:key1:'.length)
      const g = createDecipheriv('aes-256-gcm', Buffer.from(KEY1, 'base64'), body.subarray(0, 12))
      g.setAAD(Buffer.from('/custom/secrets/default/s'))
      g.setAuthTag(body.subarray(body.length - 16))
      expect(
        Buffer.concat([g.update(body.subarray(12, body.length - 16)), g.final()]).toString(),
      ).toBe(SECRET)
    } finally {
      inner.close()
    }
  })
})

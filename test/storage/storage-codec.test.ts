// StorageCodecStore: values kube-apiserver stored in protobuf (the k8s\0 envelope, carried as byte strings) read
// as their JSON on every path out of a Store — get, list, readBatch, delete, the pair a conflict carries, watch
// events and their previous values — under encryption at rest too (decrypted first), while JSON values pass
// untouched; and the Store contract holds through it.
import { createCipheriv, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Registry } from '../../src/registry/registry'
import { builtinResources } from '../../src/registry/builtin'
import {
  encodeForStorage,
  StorageCodecStore,
  STORAGE_MEDIA_TYPE_PROTOBUF,
} from '../../src/storage/storage-codec'
import { isByteString, StoreError, toByteString, type StoreEvent } from '../../src/storage/store'
import { loadEncryptionConfiguration, TransformingStore } from '../../src/storage/value'
import { storageResources } from '../../src/storage/value/transforming-store'
import { MemoryStore } from '../helpers/memory-store'
import { storeContract } from './contract'

const POD = toByteString(
  new Uint8Array(
    readFileSync(join(__dirname, '..', 'fixtures', 'etcd-pod-kube-apiserver-1.24.bin')),
  ),
)
const KEY = '/registry/pods/default/nginxpod'
const JSON_POD = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nginxpod"}}'

storeContract('StorageCodecStore over MemoryStore', async () => ({
  store: new StorageCodecStore(new MemoryStore()),
  cleanup: async () => {},
}))

const podOf = (value: string) =>
  JSON.parse(value) as { kind: string; metadata: { name: string; uid: string } }

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p
  } catch (e) {
    return e as StoreError
  }
  throw new Error('expected a rejection')
}

describe('protobuf values through StorageCodecStore', () => {
  it('carries a protobuf value as a byte string', () => {
    expect(isByteString(POD)).toBe(true)
    expect(isByteString(JSON_POD)).toBe(false)
  })

  it('decodes on get, list, readBatch and delete; JSON passes untouched', async () => {
    const inner = new MemoryStore()
    const store = new StorageCodecStore(inner)
    await inner.create(KEY, POD)
    await inner.create('/registry/pods/default/other', JSON_POD.replace('nginxpod', 'other'))

    const got = (await store.get(KEY)).kv!
    expect(podOf(got.value).metadata.uid).toBe('198b1e4e-20ea-4577-a487-07413aa11ec5')
    expect(got.modRevision).toBe((await inner.get(KEY)).kv!.modRevision)

    const list = await store.list('/registry/pods/')
    expect(list.kvs.map((kv) => podOf(kv.value).metadata.name)).toEqual(['nginxpod', 'other'])
    expect(list.kvs[1]!.value).toBe(JSON_POD.replace('nginxpod', 'other'))

    const batch = await store.readBatch([{ key: KEY }, { prefix: '/registry/pods/default/' }])
    expect(podOf(batch.results[0]!.kvs[0]!.value).kind).toBe('Pod')
    expect(batch.results[1]!.kvs.every((kv) => kv.value.startsWith('{'))).toBe(true)

    const deleted = await store.delete(KEY)
    expect(podOf(deleted.value).metadata.name).toBe('nginxpod')
  })

  it('decodes the pair a Conflict or KeyExists carries', async () => {
    const inner = new MemoryStore()
    const store = new StorageCodecStore(inner)
    const kv = await inner.create(KEY, POD)
    const exists = await rejection(store.create(KEY, JSON_POD))
    expect(exists.code).toBe('KeyExists')
    expect(podOf(exists.current!.value).metadata.uid).toBe('198b1e4e-20ea-4577-a487-07413aa11ec5')
    const conflict = await rejection(store.update(KEY, JSON_POD, kv.modRevision + 7))
    expect(conflict.code).toBe('Conflict')
    expect(podOf(conflict.current!.value).metadata.name).toBe('nginxpod')
  })

  it('writes JSON as given, over a protobuf value', async () => {
    const inner = new MemoryStore()
    const store = new StorageCodecStore(inner)
    const kv = await inner.create(KEY, POD)
    const updated = await store.update(KEY, JSON_POD, kv.modRevision)
    expect(updated.value).toBe(JSON_POD)
    expect((await inner.get(KEY)).kv!.value).toBe(JSON_POD)
  })

  it('decodes watch events and their previous values', async () => {
    const inner = new MemoryStore()
    const store = new StorageCodecStore(inner)
    const start = await inner.currentRevision()
    const ac = new AbortController()
    const events: StoreEvent[] = []
    const done = (async () => {
      for await (const e of store.watch('/registry/pods/', start, ac.signal)) {
        events.push(e)
        if (events.length === 3) ac.abort()
      }
    })()
    const kv = await inner.create(KEY, POD)
    await inner.update(KEY, POD, kv.modRevision)
    await inner.delete(KEY)
    await done
    expect(events.map((e) => e.type)).toEqual(['put', 'put', 'delete'])
    for (const e of events) {
      if (e.type === 'progress') continue
      expect(podOf(e.kv.value).metadata.name).toBe('nginxpod')
      if (e.prevKv) expect(podOf(e.prevKv.value).metadata.name).toBe('nginxpod')
    }
    expect(events[1]!.type === 'put' && events[1]!.prevKv).toBeTruthy()
  })
})

describe('protobuf under encryption at rest', () => {
  const resourceOf = storageResources(new Registry(builtinResources).all())
  const secret = randomBytes(32)
  const config = (provider: string) =>
    loadEncryptionConfiguration(
      `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: ["pods"]
    providers:
      - ${provider}
`,
      'config.yaml',
    )

  it('decrypts, then decodes, a protobuf value kube-apiserver encrypted with aescbc', async () => {
    const inner = new MemoryStore()
    const iv = randomBytes(16)
    const cipher = createCipheriv('aes-256-cbc', secret, iv)
    const value = Buffer.concat([
      Buffer.from('k8s:enc:aescbc:v1:key1:'),
      iv,
      cipher.update(Buffer.from(POD, 'latin1')),
      cipher.final(),
    ])
    await inner.create(KEY, value.toString('latin1'))
    const store = new StorageCodecStore(
      new TransformingStore(
        inner,
        config(
          `aescbc:\n          keys:\n            - name: key1\n              secret: ${secret.toString('base64')}`,
        ),
        { resourceOf },
      ),
    )
    const got = (await store.get(KEY)).kv!
    expect(podOf(got.value).metadata.uid).toBe('198b1e4e-20ea-4577-a487-07413aa11ec5')
  })

  it('reads a protobuf value in the clear where identity comes first', async () => {
    const inner = new MemoryStore()
    await inner.create(KEY, POD)
    const store = new StorageCodecStore(
      new TransformingStore(inner, config('identity: {}'), { resourceOf }),
    )
    const got = (await store.get(KEY)).kv!
    expect(podOf(got.value).metadata.uid).toBe('198b1e4e-20ea-4577-a487-07413aa11ec5')
  })
})

describe('writing with --storage-media-type=application/vnd.kubernetes.protobuf', () => {
  const CM = JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    data: { a: 'b' },
  })

  it('stores a built-in kind in the envelope and hands back its JSON', async () => {
    const inner = new MemoryStore()
    const store = new StorageCodecStore(inner, STORAGE_MEDIA_TYPE_PROTOBUF)
    const kv = await store.create('/registry/configmaps/default/c', CM)
    expect(kv.value).toBe(CM)
    const raw = (await inner.get('/registry/configmaps/default/c')).kv!.value
    expect(raw.startsWith('k8s\0')).toBe(true)
    expect(JSON.parse((await store.get('/registry/configmaps/default/c')).kv!.value)).toEqual(
      JSON.parse(CM),
    )
    const updated = await store.update('/registry/configmaps/default/c', CM, kv.modRevision)
    expect(updated.value).toBe(CM)
  })

  it('keeps JSON for custom resources, CRDs, and objects the types would not hold exactly', () => {
    const cr = '{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}'
    expect(encodeForStorage(cr, STORAGE_MEDIA_TYPE_PROTOBUF)).toBe(cr)
    const crd =
      '{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"a.b"}}'
    expect(encodeForStorage(crd, STORAGE_MEDIA_TYPE_PROTOBUF)).toBe(crd)
    const extra = JSON.stringify({ ...JSON.parse(CM), notAField: 1 })
    expect(encodeForStorage(extra, STORAGE_MEDIA_TYPE_PROTOBUF)).toBe(extra)
    expect(encodeForStorage(CM, 'application/json')).toBe(CM)
    expect(encodeForStorage(CM, STORAGE_MEDIA_TYPE_PROTOBUF).startsWith('k8s\0')).toBe(true)
  })
})

// Encryption at rest as an operator meets it (kube-apiserver's --encryption-provider-config; at the edge the
// ENCRYPTION_PROVIDER_CONFIG secret npm start passes): Secrets unreadable in the store's files, readable
// through kubectl (get, list, watch), read by the control loops, and a key rotation finished with
// `kubectl get secrets -A -o json | kubectl replace -f -` as kube's documentation has it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backgroundKubectl, LocalServer } from './harness'

const KEY1 = Buffer.alloc(32, 0x11).toString('base64')
const KEY2 = Buffer.alloc(32, 0x22).toString('base64')
const dir = mkdtempSync(join(tmpdir(), 'edge-encryption-'))

function configFile(name: string, keys: [string, string][], withIdentity = true): string {
  const aescbc = keys.map(([n, s]) => `          - name: ${n}\n            secret: ${s}\n`).join('')
  const file = join(dir, name)
  writeFileSync(
    file,
    `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
${aescbc}${withIdentity ? '      - identity: {}\n' : ''}`,
  )
  return file
}

// Plaintexts no store holds otherwise, so their absence from the files means something.
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-plain`
const MARKER = `cm-${Math.random().toString(36).slice(2)}-plain`
const b64 = (s: string) => Buffer.from(s).toString('base64')

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start(undefined, [
    `--encryption-provider-config=${configFile('key1.yaml', [['key1', KEY1]])}`,
  ])
})
afterAll(async () => {
  await server?.dispose()
  rmSync(dir, { recursive: true, force: true })
})

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn()
  for (let i = 0; i < 300 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100))
    v = await fn()
  }
  return v
}

describe('encryption at rest with aescbc', () => {
  it('stores a Secret encrypted, with kube-apiserver prefix, and serves it decrypted', async () => {
    await server.k('create', 'secret', 'generic', 'db', `--from-literal=password=${PASSWORD}`)
    await server.k('create', 'configmap', 'plain', `--from-literal=marker=${MARKER}`)
    expect(await server.k('get', 'secret', 'db', '-o', 'jsonpath={.data.password}')).toBe(
      b64(PASSWORD),
    )

    const stored = await server.storage()
    // The ConfigMap is not configured for encryption: it is there in the clear, so the files are the right ones.
    expect(stored.includes(MARKER)).toBe(true)
    expect(stored.includes(PASSWORD)).toBe(false)
    expect(stored.includes(b64(PASSWORD))).toBe(false)
    expect(stored.includes('k8s:enc:aescbc:v1:key1:')).toBe(true)
  })

  it('stores a Secret of a megabyte encrypted: ciphertext is kept as bytes, within the size limit of both stores', async () => {
    const file = join(dir, 'blob')
    writeFileSync(file, Buffer.alloc(1_000_000, 'x'))
    await server.k('create', 'secret', 'generic', 'big', `--from-file=blob=${file}`)
    const data = await server.k('get', 'secret', 'big', '-o', 'jsonpath={.data.blob}')
    expect(Buffer.from(data, 'base64').length).toBe(1_000_000)
  })

  it('lists and watches Secrets decrypted', async () => {
    const list = JSON.parse(await server.k('get', 'secrets', '-A', '-o', 'json')) as {
      items: { metadata: { name: string }; data?: Record<string, string> }[]
    }
    expect(list.items.find((s) => s.metadata.name === 'db')?.data?.password).toBe(b64(PASSWORD))

    const watch = backgroundKubectl(server.kubeconfig, [
      'get',
      'secret',
      'db',
      '--watch',
      '--output-watch-events',
      '-o',
      'json',
      '-v=6',
    ])
    try {
      await watch.waitForLog(/watch=true/)
      await server.k(
        'patch',
        'secret',
        'db',
        '-p',
        JSON.stringify({ stringData: { extra: 'watched' } }),
      )
      await watch.waitFor(new RegExp(`"extra": ?"${b64('watched')}"`))
      expect(watch.output()).toMatch(new RegExp(`"password": ?"${b64(PASSWORD)}"`))
    } finally {
      watch.kill()
    }
  })

  it('lets the control loops read encrypted Secrets: garbage collection and namespace deletion', async () => {
    const owner = JSON.parse(await server.k('create', 'configmap', 'owner', '-o', 'json')) as {
      metadata: { uid: string }
    }
    const dependent = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'owned',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid },
        ],
      },
      stringData: { k: 'v' },
    }
    await server.kubectl(['create', '-f', '-'], { input: JSON.stringify(dependent) })
    await server.k('delete', 'configmap', 'owner')
    const left = await eventually(
      () => server.k('get', 'secret', 'owned', '--ignore-not-found', '-o', 'name'),
      (s) => s.trim() === '',
    )
    expect(left.trim()).toBe('')

    await server.k('create', 'namespace', 'enc-doomed')
    await server.k(
      'create',
      'secret',
      'generic',
      'inside',
      '-n',
      'enc-doomed',
      '--from-literal=k=v',
    )
    await server.k('delete', 'namespace', 'enc-doomed', '--wait=false')
    const ns = await eventually(
      () => server.k('get', 'namespace', 'enc-doomed', '--ignore-not-found', '-o', 'name'),
      (s) => s.trim() === '',
    )
    expect(ns.trim()).toBe('')
  })

  it('rotates keys: the new first key writes, the old one still reads, and replace rewrites every Secret', async () => {
    await server.restart([
      `--encryption-provider-config=${configFile('rotate.yaml', [
        ['key2', KEY2],
        ['key1', KEY1],
      ])}`,
    ])
    expect(await server.k('get', 'secret', 'db', '-o', 'jsonpath={.data.password}')).toBe(
      b64(PASSWORD),
    )
    await server.k('create', 'secret', 'generic', 'fresh', '--from-literal=k=v')
    expect((await server.storage()).includes('k8s:enc:aescbc:v1:key2:')).toBe(true)

    // kube's documented way to rewrite every Secret with the current write key (kubectl validates the List
    // client-side against /openapi/v2 in protobuf).
    const secrets = await server.k('get', 'secrets', '-A', '-o', 'json')
    const replaced = await server.kubectl(['replace', '-f', '-'], { input: secrets })
    expect(replaced.stderr).toBe('')
    expect(replaced.code).toBe(0)

    // Without key1 (and without identity), every Secret still reads: each was written again with key2.
    await server.restart([
      `--encryption-provider-config=${configFile('key2.yaml', [['key2', KEY2]], false)}`,
    ])
    const list = JSON.parse(await server.k('get', 'secrets', '-A', '-o', 'json')) as {
      items: { metadata: { name: string }; data?: Record<string, string> }[]
    }
    expect(list.items.find((s) => s.metadata.name === 'db')?.data?.password).toBe(b64(PASSWORD))
    expect(list.items.map((s) => s.metadata.name)).toContain('fresh')
  })
})

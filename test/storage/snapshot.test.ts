// Snapshots of the Durable Object store: the file format on its own, then the real ClusterStore on workerd
// (Miniflare) through the Worker-side code the admin paths use: consistent at one revision under writes,
// restored into a fresh object with every revision kept, and what a point-in-time restore does locally.
import type { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DurableStore } from '../../src/storage/durable/client'
import { concatBytes } from '../../src/util/bytes'
import {
  readSnapshot,
  SnapshotEncoder,
  SnapshotFormatError,
  type SnapshotHeader,
  type SnapshotRecord,
} from '../../src/storage/snapshot/format'
import { isStoreError, type KeyValue, type Store } from '../../src/storage/store'
import { clusterStub, startMiniflare } from './harness'

async function readAll(bytes: Uint8Array, chunk = 7) {
  const chunks = async function* () {
    for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk)
  }
  let header: SnapshotHeader | undefined
  const records: SnapshotRecord[] = []
  for await (const item of readSnapshot(chunks())) {
    if (item.type === 'header') header = item.header
    else if (item.type === 'records') records.push(...item.records)
  }
  return { header: header!, records }
}

function encode(kvs: KeyValue[]): Uint8Array {
  const enc = new SnapshotEncoder()
  const parts = [
    enc.header({
      cluster: 'c',
      source: 'test',
      revision: 9,
      compacted_revision: 0,
      count: kvs.length,
      created: new Date(0).toISOString(),
    }),
    enc.records(kvs.slice(0, 1)),
    enc.records(kvs.slice(1)),
    enc.trailer(),
  ]
  return concatBytes(...parts)
}

const sample: KeyValue[] = [
  {
    key: '/registry/configmaps/a/x',
    value: '{"a":"é\\n"}',
    createRevision: 2,
    modRevision: 5,
    version: 2,
  },
  // kube's protobuf envelope and an encrypted value are bytes: base64 in the file
  {
    key: '/registry/pods/a/p',
    value: 'k8s\0\x0a\x02v1\xff',
    createRevision: 3,
    modRevision: 3,
    version: 1,
  },
  {
    key: '/registry/secrets/a/s',
    value: 'k8s:enc:aescbc:v1:key1:\x80\x00',
    createRevision: 9,
    modRevision: 9,
    version: 1,
  },
]

describe('snapshot file', () => {
  it('reads back every record, text and bytes alike, whatever the chunking', async () => {
    const bytes = encode(sample)
    for (const chunk of [1, 7, 1 << 20]) {
      const { header, records } = await readAll(bytes, chunk)
      expect(header).toMatchObject({ format: 'edge-apiserver-snapshot', version: 1, revision: 9 })
      expect(records.map((r) => r.key)).toEqual(sample.map((kv) => kv.key))
    }
    const { records } = await readAll(bytes)
    expect(records[1]!.value_base64).toBeDefined()
    expect(atob(records[1]!.value_base64!)).toBe(sample[1]!.value)
    expect(atob(records[2]!.value_base64!)).toBe(sample[2]!.value)
    expect(records[0]).toEqual({
      key: '/registry/configmaps/a/x',
      value: '{"a":"é\\n"}',
      create_revision: 2,
      mod_revision: 5,
      version: 2,
    })
  })

  it('refuses a file cut short, altered, or of a later format version', async () => {
    const bytes = encode(sample)
    const text = new TextDecoder().decode(bytes)
    const lines = text.split('\n')
    const cut = new TextEncoder().encode(lines.slice(0, 3).join('\n') + '\n')
    await expect(readAll(cut)).rejects.toThrow(/cut short \(no trailer\)/)
    const altered = new TextEncoder().encode(text.replace('"x"', '"y"').replace('/a/x', '/a/y'))
    await expect(readAll(altered)).rejects.toThrow(/checksum mismatch/)
    const later = new TextEncoder().encode(text.replace('"version":1', '"version":2'))
    await expect(readAll(later)).rejects.toThrow(SnapshotFormatError)
    await expect(readAll(later)).rejects.toThrow(/format version 2 is not supported/)
    const dropped = new TextEncoder().encode(
      [lines[0], lines[2], lines[3], lines[4], ''].join('\n'),
    )
    await expect(readAll(dropped)).rejects.toThrow(/trailer counts 3 records/)
  })
})

let mf: Miniflare
beforeAll(async () => {
  mf = await startMiniflare()
})
afterAll(async () => {
  await mf?.dispose()
})

const fresh = (name = `snap-${crypto.randomUUID()}`) => ({
  name,
  store: new DurableStore(clusterStub(mf, name)) as Store,
})

async function rpc<T>(cluster: string, method: string, ...args: unknown[]): Promise<T> {
  const res = await mf.dispatchFetch(`http://store.test/rpc/${cluster}/${method}`, {
    method: 'POST',
    body: JSON.stringify(args),
  })
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status}: ${await res.text()}`)
  return (await res.json()) as T
}

async function snapshot(cluster: string, pageSize = 3): Promise<Uint8Array> {
  const res = await mf.dispatchFetch(`http://store.test/snapshot/${cluster}?pageSize=${pageSize}`)
  return new Uint8Array(await res.arrayBuffer())
}

async function restore(cluster: string, body: Uint8Array): Promise<Record<string, unknown>> {
  const res = await mf.dispatchFetch(`http://store.test/snapshot/${cluster}`, {
    method: 'POST',
    body,
  })
  return (await res.json()) as Record<string, unknown>
}

const revs = (r: number) => ({ createRevision: r, modRevision: r, version: 1 })

async function allKvs(store: Store): Promise<KeyValue[]> {
  return (await store.list('/registry/')).kvs
}

describe('snapshots of the Durable Object store', () => {
  it('restores into a fresh object with keys, values and revisions kept; older revisions answer Compacted', async () => {
    const src = fresh()
    for (let i = 0; i < 10; i++)
      await src.store.create(`/registry/configmaps/ns/c${i}`, `{"i":${i}}`)
    const c3 = (await src.store.get('/registry/configmaps/ns/c3')).kv!
    await src.store.update(c3.key, '{"i":"three"}', c3.modRevision)
    await src.store.delete('/registry/configmaps/ns/c5')
    await src.store.create('/registry/pods/ns/p', sample[1]!.value)
    const before = await allKvs(src.store)
    const revision = await src.store.currentRevision()

    const file = await snapshot(src.name)
    const { header, records } = await readAll(file, 1 << 16)
    expect(header.revision).toBe(revision)
    expect(records).toHaveLength(before.length)

    const dst = fresh()
    await dst.store.create('/registry/configmaps/ns/leftover', '{}') // replaced by the restore
    expect(await restore(dst.name, file)).toMatchObject({ count: before.length })
    expect(await allKvs(dst.store)).toEqual(before)
    expect(await dst.store.currentRevision()).toBe(revision)
    const c3After = (await dst.store.get(c3.key)).kv!
    expect(c3After).toMatchObject({ version: 2, createRevision: c3.createRevision })

    // A list or a watch from before the snapshot's revision: the history is not in the file.
    const err = await dst.store.list('/registry/', { revision: revision - 1 }).catch((e) => e)
    expect(isStoreError(err, 'Compacted')).toBe(true)
    const watchErr = await (async () => {
      const ctl = new AbortController()
      try {
        for await (const _ of dst.store.watch('/registry/', revision - 1, ctl.signal)) break
      } catch (e) {
        return e
      } finally {
        ctl.abort()
      }
    })()
    expect(isStoreError(watchErr, 'Compacted')).toBe(true)
    // A point-in-time dry run for now answers the restored revision.
    expect(await rpc<{ revision: number }>(dst.name, 'pointInTime', Date.now())).toMatchObject({
      revision,
    })
    // New writes go on from the snapshot's revision.
    const next = await dst.store.create('/registry/configmaps/ns/new', '{}')
    expect(next.modRevision).toBe(revision + 1)
  })

  it("carries kube's keys only: the server's bookkeeping neither leaves nor lands", async () => {
    const src = fresh()
    // The bootstrap marker sorts before /registry/, a key after it sorts past: neither is kube's.
    await src.store.create('/edge-apiserver/bootstrapped', 'v1-source')
    for (let i = 0; i < 4; i++) await src.store.create(`/registry/configmaps/ns/c${i}`, '{}')
    await src.store.create('/zz/bookkeeping', 'x')
    const kube = await allKvs(src.store)
    const { header, records } = await readAll(await snapshot(src.name, 2), 1 << 16)
    expect(records.map((r) => r.key)).toEqual(kube.map((kv) => kv.key))
    expect(header.count).toBe(kube.length)

    // A file written before carries the marker: the restore leaves it out, and the target's own
    // marker goes with the rest of its old state, so it bootstraps again on its next start.
    const older = encode([
      { key: '/edge-apiserver/bootstrapped', value: 'v1-source', ...revs(1) },
      ...kube,
    ])
    const dst = fresh()
    await dst.store.create('/edge-apiserver/bootstrapped', 'v1-target')
    expect(await restore(dst.name, older)).toMatchObject({ count: kube.length, leftOut: 1 })
    expect(await allKvs(dst.store)).toEqual(kube)
    expect((await dst.store.get('/edge-apiserver/bootstrapped')).kv).toBeUndefined()
  })

  it('is consistent at its revision while writes go on between its pages', async () => {
    const src = fresh()
    for (let i = 0; i < 30; i++)
      await src.store.create(`/registry/configmaps/ns/c${String(i).padStart(2, '0')}`, `{"v":0}`)
    const stub = {
      beginSnapshot: () => rpc<{ revision: number; count: number }>(src.name, 'beginSnapshot'),
      snapshotPage: (r: number, after: string, limit: number) =>
        rpc<{ kvs: KeyValue[]; more: boolean }>(src.name, 'snapshotPage', r, after, limit),
    }
    const point = await stub.beginSnapshot()
    const seen: KeyValue[] = []
    let after = ''
    for (let page = 0; ; page++) {
      // Between pages: updates, deletes and creates, ahead of and behind the paging.
      const kv = (
        await src.store.get(`/registry/configmaps/ns/c${String(29 - page).padStart(2, '0')}`)
      ).kv
      if (kv) await src.store.update(kv.key, '{"v":1}', kv.modRevision)
      await src.store
        .delete(`/registry/configmaps/ns/c${String(page).padStart(2, '0')}`)
        .catch(() => {})
      await src.store.create(`/registry/configmaps/ns/d${page}`, '{}')
      const p = await stub.snapshotPage(point.revision, after, 4)
      seen.push(...p.kvs)
      if (!p.more) break
      after = p.kvs[p.kvs.length - 1]!.key
    }
    expect(point.count).toBe(30)
    expect(seen.map((kv) => kv.key)).toEqual(
      Array.from(
        { length: 30 },
        (_, i) => `/registry/configmaps/ns/c${String(i).padStart(2, '0')}`,
      ),
    )
    expect(seen.every((kv) => kv.modRevision <= point.revision && kv.value === '{"v":0}')).toBe(
      true,
    )
  })

  it('cuts a page of large values at 8 MiB, whatever its count', async () => {
    const src = fresh()
    const big = (i: number) => `{"i":${i},"pad":"${'x'.repeat(1_400_000)}"}`
    for (let i = 0; i < 7; i++) await src.store.create(`/registry/configmaps/ns/big${i}`, big(i))
    const point = await rpc<{ revision: number }>(src.name, 'beginSnapshot')
    const first = await rpc<{ kvs: KeyValue[]; more: boolean }>(
      src.name,
      'snapshotPage',
      point.revision,
      '',
      100,
    )
    expect(first.kvs).toHaveLength(6) // 6 x 1.4 MB passes 8 MiB
    expect(first.more).toBe(true)
    const rest = await rpc<{ kvs: KeyValue[]; more: boolean }>(
      src.name,
      'snapshotPage',
      point.revision,
      first.kvs[5]!.key,
      100,
    )
    expect(rest.kvs.map((kv) => kv.value)).toEqual([big(6)])
    expect(rest.more).toBe(false)
  })

  it('refuses other writes while a restore is under way', async () => {
    const { name, store } = fresh()
    await store.create('/registry/configmaps/ns/a', '{}')
    await rpc(name, 'beginRestore')
    const err = await store.create('/registry/configmaps/ns/b', '{}').catch((e) => e)
    expect(isStoreError(err, 'Unreachable')).toBe(true)
  })

  it('a point-in-time restore: the dry run names the revision of a time; what the local runtime does', async () => {
    const { name, store } = fresh()
    await store.create('/registry/configmaps/ns/a', '{"v":1}')
    await new Promise((r) => setTimeout(r, 1100))
    const at = Date.now()
    const revAt = await store.currentRevision()
    await new Promise((r) => setTimeout(r, 1100))
    await store.create('/registry/configmaps/ns/b', '{}')
    const dry = (await (
      await mf.dispatchFetch(`http://store.test/pitr/${name}?time=${at}&dryRun=All`, {
        method: 'POST',
      })
    ).json()) as {
      revision: number
      currentRevision: number
      bookmark?: string
      bookmarkError?: string
    }
    expect(dry.revision).toBe(revAt)
    expect(dry.currentRevision).toBe(revAt + 1)
    // workerd outside Cloudflare keeps no history of an object's storage: there is no bookmark to
    // restore, and both the dry run and the restore say so; the cluster is left as it was.
    expect(dry.bookmark).toBeUndefined()
    expect(dry.bookmarkError).toBe(
      "This Durable Object's storage back-end does not implement point-in-time recovery.",
    )
    const res = await mf.dispatchFetch(`http://store.test/pitr/${name}?time=${at}`, {
      method: 'POST',
    })
    const body = (await res.json()) as { error?: string }
    expect(body.error).toMatch(
      /^no storage bookmark for .*does not implement point-in-time recovery/,
    )
    expect((await store.get('/registry/configmaps/ns/b')).kv).toBeDefined()
    expect(await store.currentRevision()).toBe(revAt + 1)
  })
})

// A write's admission reads answered again from what this isolate read while the ClusterStore's
// admission mark stays the one it last heard (src/storage/durable/client.ts, protocol.ts): the object's
// marks on workerd (Miniflare), and the client's use of them against a counting stub.
import type { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  ADMISSION_READS_MAX_STALENESS_MS,
  DurableStore,
  type ClusterStoreStub,
} from '../../src/storage/durable/client'
import type { AdmissionMark } from '../../src/storage/durable/protocol'
import type { BatchRead } from '../../src/storage/store'
import { clusterStub, startMiniflare } from './harness'

describe('ClusterStore admission marks', () => {
  let mf: Miniflare
  beforeAll(async () => {
    mf = await startMiniflare()
  })
  afterAll(async () => {
    await mf?.dispose()
  })

  it('moves the mark with writes under what admission reads, and only with those', async () => {
    const stub = clusterStub(mf, `marks-${crypto.randomUUID()}`)
    const first = (await stub.get('/registry/namespaces/a')).am!
    expect(first.epoch).not.toBe('')
    const cm = await stub.create('/registry/configmaps/a/x', '{}')
    expect(cm.ok && cm.am).toEqual(first)
    const ns = await stub.create('/registry/namespaces/a', '{}')
    if (!ns.ok) throw new Error('create failed')
    expect(ns.am).toEqual({ epoch: first.epoch, rev: ns.kv.modRevision })
    const quota = await stub.create('/registry/resourcequotas/a/q', '{}')
    if (!quota.ok) throw new Error('create failed')
    expect((await stub.readBatch([{ key: '/registry/namespaces/a' }])).am).toEqual({
      epoch: first.epoch,
      rev: quota.kv.modRevision,
    })
    const del = await stub.delete('/registry/resourcequotas/a/q')
    expect(del.ok && del.am!.rev).toBe(quota.kv.modRevision + 1)
  })
})

/** A stub whose reads answer from a map, counting the readBatch calls; marks as the object gives them. */
function countingStub() {
  const data = new Map<string, string>()
  let rev = 1
  const state = { mark: { epoch: 'e1', rev: 1 } as AdmissionMark, batches: 0 }
  const kv = (key: string) =>
    data.has(key)
      ? [{ key, value: data.get(key)!, createRevision: 1, modRevision: 1, version: 1 }]
      : []
  const unused = () => Promise.reject(new Error('not used here'))
  const stub: ClusterStoreStub = {
    get: async (key) => ({ kv: kv(key)[0], revision: rev, am: state.mark }),
    list: unused,
    lastChange: unused,
    readBatch: async (reads: BatchRead[]) => {
      state.batches++
      return {
        results: reads.map((r) => ({ kvs: 'key' in r ? kv(r.key) : [], more: false })),
        revision: rev,
        am: state.mark,
      }
    },
    create: async (key, value) => {
      data.set(key, value)
      rev++
      if (key.startsWith('/registry/namespaces/')) state.mark = { epoch: state.mark.epoch, rev }
      return {
        ok: true,
        kv: { key, value, createRevision: rev, modRevision: rev, version: 1 },
        am: state.mark,
      }
    },
    update: unused,
    delete: unused,
    compact: unused,
    currentRevision: async () => rev,
    fetch: unused,
  }
  return { stub, state, data }
}

const reads = (ns: string): BatchRead[] => [
  { key: `/registry/namespaces/${ns}` },
  { prefix: `/registry/resourcequotas/${ns}/`, limit: 1000 },
]

describe('DurableStore admission reads', () => {
  it('answers the same admission batch again while the mark it heard last is that batch’s', async () => {
    const { stub, state } = countingStub()
    const store = new DurableStore(stub, `c-${crypto.randomUUID()}`)
    const a = await store.readBatch(reads('a'))
    const b = await store.readBatch(reads('a'))
    expect(state.batches).toBe(1)
    expect(b).toEqual(a)
    // the caller's copy is its own
    b.results[0]!.kvs.push({ key: 'k', value: 'v', createRevision: 1, modRevision: 1, version: 1 })
    expect((await store.readBatch(reads('a'))).results[0]!.kvs).toEqual(a.results[0]!.kvs)
    // another namespace is another batch
    await store.readBatch(reads('b'))
    expect(state.batches).toBe(2)
  })

  it('reads again once any answer of the object carries a newer mark', async () => {
    const { stub, state } = countingStub()
    const cluster = `c-${crypto.randomUUID()}`
    const store = new DurableStore(stub, cluster)
    expect((await store.readBatch(reads('a'))).results[0]!.kvs).toEqual([])
    // a configmap write leaves the mark as it is
    await store.create('/registry/configmaps/a/x', '{}')
    await store.readBatch(reads('a'))
    expect(state.batches).toBe(1)
    // the namespace is made (by this request or another: another store of the same cluster hears it)
    await new DurableStore(stub, cluster).create('/registry/namespaces/a', '{"kind":"Namespace"}')
    const after = await store.readBatch(reads('a'))
    expect(state.batches).toBe(2)
    expect(after.results[0]!.kvs.map((kv) => kv.value)).toEqual(['{"kind":"Namespace"}'])
  })

  it('reads again when the object was last heard from longer ago than the staleness allowed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const { stub, state } = countingStub()
      const store = new DurableStore(stub, `c-${crypto.randomUUID()}`)
      await store.readBatch(reads('a'))
      vi.advanceTimersByTime(ADMISSION_READS_MAX_STALENESS_MS + 1)
      await store.readBatch(reads('a'))
      expect(state.batches).toBe(2)
      // a GET's answer counts as hearing from the object
      vi.advanceTimersByTime(ADMISSION_READS_MAX_STALENESS_MS + 1)
      await store.get('/registry/configmaps/a/x')
      await store.readBatch(reads('a'))
      expect(state.batches).toBe(2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('does not go back to an older mark of the same epoch, and drops every batch on a new epoch', async () => {
    const { stub, state } = countingStub()
    const store = new DurableStore(stub, `c-${crypto.randomUUID()}`)
    state.mark = { epoch: 'e1', rev: 5 }
    await store.readBatch(reads('a'))
    // an answer sent before the newest one arrives after it
    state.mark = { epoch: 'e1', rev: 7 }
    await store.get('/registry/namespaces/a')
    state.mark = { epoch: 'e1', rev: 5 }
    await store.get('/registry/namespaces/a')
    await store.readBatch(reads('a')) // rev 7 is the newest heard: the batch read at 5 is not current
    expect(state.batches).toBe(2)
    // a restore (a new epoch) at the same revision
    state.mark = { epoch: 'e2', rev: 5 }
    await store.readBatch(reads('a'))
    expect(state.batches).toBe(3)
  })

  it('never keeps reads of other kinds, nor any without a cluster name', async () => {
    const { stub, state } = countingStub()
    const store = new DurableStore(stub, `c-${crypto.randomUUID()}`)
    const other: BatchRead[] = [{ prefix: '/registry/flowschemas/' }]
    await store.readBatch(other)
    await store.readBatch(other)
    await store.readBatch([...reads('a'), ...other])
    await store.readBatch([...reads('a'), ...other])
    expect(state.batches).toBe(4)
    const anonymous = new DurableStore(stub)
    await anonymous.readBatch(reads('a'))
    await anonymous.readBatch(reads('a'))
    expect(state.batches).toBe(6)
  })
})

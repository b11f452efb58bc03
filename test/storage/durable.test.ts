// The Store contract and the Durable Object's own behaviour, against the real ClusterStore on workerd
// (Miniflare), driven from Node through the real DurableStore client.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DurableStore } from '../../src/storage/durable/client'
import { StoreError, type Store, type StoreEvent } from '../../src/storage/store'
import { rejection, storeContract } from './contract'
import { clusterStub, startMiniflare } from './harness'

let mf: Miniflare
beforeAll(async () => {
  mf = await startMiniflare()
})
afterAll(async () => {
  await mf?.dispose()
})

/** Each test gets its own ClusterStore object. */
const fresh = (on = mf, cluster = `test-${crypto.randomUUID()}`): Store =>
  new DurableStore(clusterStub(on, cluster))

storeContract('DurableStore over ClusterStore on workerd', async () => ({
  store: fresh(),
  cleanup: async () => {},
}))

async function events(it: AsyncIterator<StoreEvent>, n: number): Promise<StoreEvent[]> {
  const out: StoreEvent[] = []
  while (out.length < n) {
    const r = await it.next()
    if (r.done) break
    if (r.value.type !== 'progress') out.push(r.value)
  }
  return out
}

const MiB = 1024 * 1024

describe('ClusterStore', () => {
  it('starts an empty cluster at revision 1, as etcd does', async () => {
    const store = fresh()
    expect(await store.currentRevision()).toBe(1)
    expect((await store.create('/registry/a', 'x')).modRevision).toBe(2)
  })

  it('accepts values up to 1.5 MiB of UTF-8 and refuses larger ones with TooLarge', async () => {
    const store = fresh()
    const max = 'x'.repeat(1.5 * MiB)
    await store.create('/registry/big/ascii', max)
    expect((await rejection(store.create('/registry/big/over', max + 'x'))).code).toBe('TooLarge')
    // 0.6 Mi characters, 1.2 MiB in UTF-8: not too large; 0.8 Mi of them, 1.6 MiB: too large.
    await store.create('/registry/big/utf8', 'é'.repeat(0.6 * MiB))
    expect(
      (await rejection(store.create('/registry/big/utf8-over', 'é'.repeat(0.8 * MiB)))).code,
    ).toBe('TooLarge')
    const kv = (await store.get('/registry/big/ascii')).kv!
    expect((await rejection(store.update(kv.key, max + 'y', kv.modRevision))).code).toBe('TooLarge')
    expect(await store.currentRevision()).toBe(3)
  })

  it('watches an update of a maximal value, prevKv included', async () => {
    const store = fresh()
    const a = await store.create('/registry/big/a', 'a'.repeat(1.5 * MiB))
    const b = await store.update(a.key, '"'.repeat(1.5 * MiB), a.modRevision) // JSON-escapes to twice its size
    const ctl = new AbortController()
    const it = store.watch('/registry/big/', 1, ctl.signal)[Symbol.asyncIterator]()
    const got = await events(it, 2)
    ctl.abort()
    expect(got[1]).toEqual({ type: 'put', kv: b, prevKv: a })
  })

  it('reports the compacted revision with Compacted, and the current one with FutureRevision', async () => {
    const store = fresh()
    const a = await store.create('/registry/a', '1')
    await store.update(a.key, '2', a.modRevision)
    await store.compact(3)
    expect(await rejection(store.list('/registry/', { revision: 2 }))).toMatchObject({
      code: 'Compacted',
      revision: 3,
    })
    const watched = store
      .watch('/registry/', 1, new AbortController().signal)
      [Symbol.asyncIterator]()
    expect(await rejection(watched.next())).toMatchObject({ code: 'Compacted', revision: 3 })
    expect(await rejection(store.list('/registry/', { revision: 9 }))).toMatchObject({
      code: 'FutureRevision',
      revision: 3,
    })
    const future = store
      .watch('/registry/', 9, new AbortController().signal)
      [Symbol.asyncIterator]()
    expect(await rejection(future.next())).toMatchObject({ code: 'FutureRevision', revision: 3 })
    expect(await rejection(store.compact(9))).toMatchObject({ code: 'FutureRevision' })
  })

  it('tells the newest change under a prefix since a revision, deletes included, and Compacted below the compaction', async () => {
    const store = fresh()
    const start = await store.currentRevision()
    expect(await store.lastChange!('/registry/cm/', start)).toEqual({ revision: start, last: 0 })
    const a = await store.create('/registry/cm/a', '1')
    await store.create('/registry/other/x', '1')
    expect(await store.lastChange!('/registry/cm/', start)).toEqual({
      revision: a.modRevision + 1,
      last: a.modRevision,
    })
    // Only what came after `after` counts: nothing under the prefix since a's write.
    expect((await store.lastChange!('/registry/cm/', a.modRevision)).last).toBe(0)
    const gone = await store.delete('/registry/cm/a')
    expect((await store.lastChange!('/registry/cm/', a.modRevision)).last).toBe(gone.modRevision)
    // A prefix that is not a resource's: keys merely starting with it do not count.
    expect((await store.lastChange!('/registry/cm/b', start)).last).toBe(0)
    await store.compact(gone.modRevision)
    const e = await rejection(store.lastChange!('/registry/cm/', a.modRevision))
    expect([e.code, e.revision]).toEqual(['Compacted', gone.modRevision])
    expect((await store.lastChange!('/registry/cm/', gone.modRevision)).last).toBe(0)
  })

  it('delivers a backlog larger than the watch window completely, paced by the consumer', async () => {
    const store = fresh()
    const written = []
    for (let i = 0; i < 12; i++)
      written.push(
        await store.create(`/registry/backlog/${i}`, String.fromCharCode(97 + i).repeat(MiB)),
      )
    const ctl = new AbortController()
    const it = store.watch('/registry/backlog/', 1, ctl.signal)[Symbol.asyncIterator]()
    const got = await events(it, 12)
    const live = await store.create('/registry/backlog/live', 'live')
    got.push(...(await events(it, 1)))
    ctl.abort()
    expect(got.map((e) => (e.type === 'put' ? e.kv.modRevision : 0))).toEqual(
      [...written, live].map((kv) => kv.modRevision),
    )
  })

  it('sends writes made concurrently to every watcher in revision order, each once', async () => {
    const store = fresh()
    const ctl = new AbortController()
    const watchers = Array.from({ length: 5 }, () =>
      store.watch('/registry/many/', 1, ctl.signal)[Symbol.asyncIterator](),
    )
    const firsts = watchers.map((w) => w.next())
    await store.create('/registry/many/first', 'x')
    await Promise.all(firsts)
    // Many writes in flight at once land while earlier ones are still being sent out.
    const written = await Promise.all(
      Array.from({ length: 60 }, (_, i) => store.create(`/registry/many/${i}`, String(i))),
    )
    const revisions = written.map((kv) => kv.modRevision).sort((a, b) => a - b)
    for (const w of watchers) {
      const got = await events(w, revisions.length)
      expect(got.map((e) => (e.type === 'put' ? e.kv.modRevision : 0))).toEqual(revisions)
    }
    ctl.abort()
  })

  it('closes a live watcher that stops taking events, ending its iteration without an error', async () => {
    const store = fresh()
    const ctl = new AbortController()
    const it = store.watch('/registry/slow/', 1, ctl.signal)[Symbol.asyncIterator]()
    const first = it.next()
    await store.create('/registry/slow/first', 'x')
    expect((await first).done).toBe(false)
    // The consumer takes nothing while 12 MiB of events are written: more than the 8 MiB window.
    for (let i = 0; i < 12; i++) await store.create(`/registry/slow/${i}`, 'y'.repeat(MiB))
    const got = await events(it, 12)
    expect(got.length).toBeGreaterThanOrEqual(8)
    expect(got.length).toBeLessThan(12)
    expect((await it.next()).done).toBe(true)
    // The cluster is unharmed and a new watch from where that one stopped gets the rest.
    const last = got[got.length - 1]!
    const rest = store
      .watch('/registry/slow/', last.type === 'progress' ? 0 : last.kv.modRevision, ctl.signal)
      [Symbol.asyncIterator]()
    expect((await events(rest, 12 - got.length)).length).toBe(12 - got.length)
    ctl.abort()
  })
})

describe('DurableStore inside a Worker on workerd', () => {
  it('watches through clusterStore(env) as the real Worker does', async () => {
    const cluster = `test-${crypto.randomUUID()}`
    const store = fresh(mf, cluster)
    const a = await store.create('/registry/pods/a', '1')
    const watching = mf.dispatchFetch(
      `http://store.test/in-worker/${cluster}/watch?prefix=/registry/pods/&after=1&n=3&progress=50`,
    )
    await new Promise((r) => setTimeout(r, 300)) // a quiet spell: a progress notification comes
    const a2 = await store.update(a.key, '2', a.modRevision)
    const b = await store.create('/registry/pods/b', '3')
    const { items } = (await (await watching).json()) as { items: StoreEvent[] }
    expect(items.filter((e) => e.type !== 'progress')).toEqual([
      { type: 'put', kv: a },
      { type: 'put', kv: a2, prevKv: a },
      { type: 'put', kv: b },
    ])
    const quiet = items.slice(
      1,
      items.findIndex((e) => e.type !== 'progress' && e.kv.modRevision === a2.modRevision),
    )
    expect(quiet.length).toBeGreaterThan(0)
    for (const e of quiet) expect(e).toEqual({ type: 'progress', revision: a.modRevision })
  })

  it('reports Compacted from inside the Worker as a StoreError', async () => {
    const cluster = `test-${crypto.randomUUID()}`
    const store = fresh(mf, cluster)
    const a = await store.create('/registry/a', '1')
    await store.update(a.key, '2', a.modRevision)
    await store.compact(3)
    const res = await mf.dispatchFetch(
      `http://store.test/in-worker/${cluster}/watch?prefix=/registry/&after=1&n=1`,
    )
    expect(await res.json()).toEqual({
      items: [],
      error: expect.objectContaining({ name: 'StoreError', code: 'Compacted', revision: 3 }),
    })
  })
})

describe('ClusterStore compaction alarm', () => {
  let fast: Miniflare
  beforeAll(async () => {
    fast = await startMiniflare({ bindings: { COMPACTION_INTERVAL_MS: '200' } })
  })
  afterAll(async () => {
    await fast?.dispose()
  })

  it('compacts at the first write an interval after the previous tick, to the revision of that tick', async () => {
    const store = fresh(fast)
    const a = await store.create('/registry/a', '1')
    const a2 = await store.update(a.key, '2', a.modRevision)
    const compactedAt = (revision: number) =>
      store.list('/registry/', { revision }).then(
        () => undefined,
        (e: unknown) => (e instanceof StoreError ? e : Promise.reject(e)),
      )
    // Nobody writes: nothing wakes the object to compact.
    await new Promise((r) => setTimeout(r, 600))
    expect(await compactedAt(a.modRevision)).toBeUndefined()
    // The first tick marks the revision of its write; the next compacts to it.
    await new Promise((r) => setTimeout(r, 250))
    const b = await store.create('/registry/b', 'b')
    const deadline = Date.now() + 15_000
    let compacted: StoreError | undefined
    let n = 0
    while (!compacted && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      await store.create(`/registry/c${n++}`, 'c')
      compacted = await compactedAt(a2.modRevision)
    }
    expect(compacted).toMatchObject({ code: 'Compacted' })
    expect(compacted!.revision).toBeGreaterThanOrEqual(b.modRevision)
  })
})

describe('ClusterStore across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-store-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('keeps data, history and the revision', async () => {
    const first = await startMiniflare({ persist: dir })
    const before = fresh(first, 'persisted')
    const a = await before.create('/registry/a', 'a1')
    const b = await before.create('/registry/b', 'b1')
    const a2 = await before.update(a.key, 'a2', a.modRevision)
    await before.delete(b.key) // the newest log row is a tombstone
    await before.compact(a2.modRevision)
    const revision = await before.currentRevision()
    await first.dispose()

    const second = await startMiniflare({ persist: dir })
    try {
      const after = fresh(second, 'persisted')
      expect(await after.currentRevision()).toBe(revision)
      expect((await after.get(a.key)).kv).toEqual(a2)
      expect((await after.list('/registry/', { revision: a2.modRevision })).kvs).toEqual([a2, b])
      expect((await rejection(after.list('/registry/', { revision: a.modRevision }))).code).toBe(
        'Compacted',
      )
      // The ring of recent events is gone: the watch replays from the SQLite log.
      const ctl = new AbortController()
      const it = after.watch('/registry/', a2.modRevision, ctl.signal)[Symbol.asyncIterator]()
      const [deleted] = await events(it, 1)
      expect(deleted).toMatchObject({
        type: 'delete',
        kv: { key: b.key, value: 'b1', modRevision: revision },
        prevKv: b,
      })
      const c = await after.create('/registry/c', 'c1')
      expect(c.modRevision).toBe(revision + 1)
      expect(await events(it, 1)).toEqual([{ type: 'put', kv: c }])
      ctl.abort()
    } finally {
      await second.dispose()
    }
  })
})

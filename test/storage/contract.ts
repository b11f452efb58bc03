// The Store contract: what every implementation (the ClusterStore Durable Object, etcd) must do. It
// uses nothing but the Store interface. Revisions are only compared with each other, never with
// absolute numbers, so it holds for a store shared with other data too; keys are under a fresh prefix.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  isStoreError,
  StoreError,
  type KeyValue,
  type Store,
  type StoreErrorCode,
  type StoreEvent,
} from '../../src/storage/store'

export interface StoreFixture {
  store: Store
  cleanup(): Promise<void>
}

const WAIT_MS = 10_000

/** Pulls from an iterator, failing instead of hanging when nothing comes. */
async function pull<T>(it: AsyncIterator<T>, ms = WAIT_MS): Promise<IteratorResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing from the watch in ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([it.next(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The next n events that are not progress notifications. */
async function take(it: AsyncIterator<StoreEvent>, n: number): Promise<StoreEvent[]> {
  const out: StoreEvent[] = []
  while (out.length < n) {
    const r = await pull(it)
    if (r.done) throw new Error(`watch ended after ${out.length} of ${n} events`)
    if (r.value.type !== 'progress') out.push(r.value)
  }
  return out
}

/** The StoreError p rejects with (a test failure if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p
  } catch (e) {
    if (e instanceof StoreError) return e
    throw e
  }
  throw new Error('expected a StoreError')
}

async function expectCode(p: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  const e = await rejection(p)
  expect(e.code).toBe(code)
  return e
}

const summary = (e: StoreEvent) =>
  e.type === 'progress'
    ? `progress@${e.revision}`
    : `${e.type} ${e.kv.key}=${e.kv.value}@${e.kv.modRevision}`

export function storeContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture
    let store: Store
    let p: string // a fresh key prefix per test, ending in '/'
    const watches: AbortController[] = []

    beforeEach(async () => {
      fixture = await makeStore()
      store = fixture.store
      p = `/registry/contract-${Math.random().toString(36).slice(2, 10)}/`
    })

    afterEach(async () => {
      for (const c of watches.splice(0)) c.abort()
      await fixture.cleanup()
    })

    function watch(prefix: string, after: number, progressIntervalMs?: number) {
      const ctl = new AbortController()
      watches.push(ctl)
      const it = store
        .watch(prefix, after, ctl.signal, progressIntervalMs ? { progressIntervalMs } : {})
        [Symbol.asyncIterator]()
      return { it, ctl }
    }

    describe('create and get', () => {
      it('creates a key at the next revision with version 1', async () => {
        const before = await store.currentRevision()
        const kv = await store.create(`${p}a`, '{"a":1}')
        expect(kv).toEqual({
          key: `${p}a`,
          value: '{"a":1}',
          createRevision: before + 1,
          modRevision: before + 1,
          version: 1,
        })
        expect(await store.get(`${p}a`)).toEqual({ kv, revision: before + 1 })
        expect(await store.currentRevision()).toBe(before + 1)
      })

      it('gets no pair, and the current revision, for a missing key', async () => {
        await store.create(`${p}a`, 'x')
        const r = await store.get(`${p}missing`)
        expect(r.kv).toBeUndefined()
        expect(r.revision).toBe(await store.currentRevision())
      })

      it('refuses to create an existing key with KeyExists and does not move the revision', async () => {
        const kv = await store.create(`${p}a`, 'first')
        const e = await expectCode(store.create(`${p}a`, 'second'), 'KeyExists')
        expect(e.key).toBe(`${p}a`)
        expect(isStoreError(e, 'KeyExists')).toBe(true)
        expect((await store.get(`${p}a`)).kv).toEqual(kv)
        expect(await store.currentRevision()).toBe(kv.modRevision)
      })

      it('stores values byte for byte', async () => {
        const value = JSON.stringify({ s: 'ünïcødé ✓ 🚀 "quotes" \\ \n\t', n: [1, 2.5, null] })
        await store.create(`${p}u`, value)
        expect((await store.get(`${p}u`)).kv?.value).toBe(value)
      })
    })

    describe('update', () => {
      it('replaces the value when the expected modRevision matches', async () => {
        const a = await store.create(`${p}a`, 'v1')
        const b = await store.update(`${p}a`, 'v2', a.modRevision)
        expect(b).toEqual({
          key: `${p}a`,
          value: 'v2',
          createRevision: a.createRevision,
          modRevision: a.modRevision + 1,
          version: 2,
        })
        expect((await store.get(`${p}a`)).kv).toEqual(b)
      })

      it('fails with Conflict carrying the current pair when the modRevision is stale', async () => {
        const a = await store.create(`${p}a`, 'v1')
        const b = await store.update(`${p}a`, 'v2', a.modRevision)
        const e = await expectCode(store.update(`${p}a`, 'v3', a.modRevision), 'Conflict')
        expect(e.current).toEqual(b)
        expect((await store.get(`${p}a`)).kv).toEqual(b)
        expect(await store.currentRevision()).toBe(b.modRevision)
      })

      it('fails with NotFound for a missing key', async () => {
        const rev = await store.currentRevision()
        await expectCode(store.update(`${p}missing`, 'v', rev), 'NotFound')
        expect(await store.currentRevision()).toBe(rev)
      })
    })

    describe('delete', () => {
      it('deletes unconditionally, returning the last value at the deletion revision', async () => {
        const a = await store.create(`${p}a`, 'v1')
        const d = await store.delete(`${p}a`)
        expect(d.key).toBe(`${p}a`)
        expect(d.value).toBe('v1')
        expect(d.createRevision).toBe(a.createRevision)
        expect(d.modRevision).toBe(a.modRevision + 1)
        expect(await store.currentRevision()).toBe(d.modRevision)
        expect((await store.get(`${p}a`)).kv).toBeUndefined()
      })

      it('deletes when the expected modRevision matches, and fails with Conflict when it does not', async () => {
        const a = await store.create(`${p}a`, 'v1')
        const b = await store.update(`${p}a`, 'v2', a.modRevision)
        const e = await expectCode(store.delete(`${p}a`, a.modRevision), 'Conflict')
        expect(e.current).toEqual(b)
        expect((await store.get(`${p}a`)).kv).toEqual(b)
        const d = await store.delete(`${p}a`, b.modRevision)
        expect(d.value).toBe('v2')
        expect((await store.get(`${p}a`)).kv).toBeUndefined()
      })

      it('fails with NotFound for a missing key, with or without an expected revision', async () => {
        const rev = await store.currentRevision()
        await expectCode(store.delete(`${p}missing`), 'NotFound')
        await expectCode(store.delete(`${p}missing`, rev), 'NotFound')
        expect(await store.currentRevision()).toBe(rev)
      })
    })

    describe('revisions', () => {
      it('are one global counter across keys, one step per write, untouched by failed writes', async () => {
        const start = await store.currentRevision()
        const a = await store.create(`${p}a`, '1')
        const b = await store.create(`${p}b`, '1')
        await expectCode(store.create(`${p}a`, 'again'), 'KeyExists')
        const a2 = await store.update(`${p}a`, '2', a.modRevision)
        await expectCode(store.update(`${p}b`, '2', a.modRevision), 'Conflict')
        const bd = await store.delete(`${p}b`)
        expect([a, b, a2, bd].map((kv) => kv.modRevision)).toEqual([
          start + 1,
          start + 2,
          start + 3,
          start + 4,
        ])
        expect(await store.currentRevision()).toBe(start + 4)
      })

      it('keep createRevision and count versions per key; a re-created key starts over', async () => {
        const a1 = await store.create(`${p}a`, '1')
        const a2 = await store.update(`${p}a`, '2', a1.modRevision)
        const a3 = await store.update(`${p}a`, '3', a2.modRevision)
        expect([a1.version, a2.version, a3.version]).toEqual([1, 2, 3])
        expect([a2.createRevision, a3.createRevision]).toEqual([
          a1.createRevision,
          a1.createRevision,
        ])
        await store.delete(`${p}a`)
        const again = await store.create(`${p}a`, 'new')
        expect(again.version).toBe(1)
        expect(again.createRevision).toBe(again.modRevision)
        expect(again.createRevision).toBeGreaterThan(a3.modRevision)
      })
    })

    describe('list', () => {
      it('returns exactly the keys under the prefix, in key order', async () => {
        for (const k of ['pods/a/x', 'pods/ab/y', 'pods/a/z', 'pods/b/w', 'podsx/a/q'])
          await store.create(`${p}${k}`, k)
        const a = await store.list(`${p}pods/a/`)
        expect(a.kvs.map((kv) => kv.value)).toEqual(['pods/a/x', 'pods/a/z'])
        expect(a.count).toBe(2)
        expect(a.more).toBe(false)
        expect(a.revision).toBe(await store.currentRevision())
        const all = await store.list(`${p}pods/`)
        expect(all.kvs.map((kv) => kv.value)).toEqual([
          'pods/a/x',
          'pods/a/z',
          'pods/ab/y',
          'pods/b/w',
        ])
        const none = await store.list(`${p}pods/c/`)
        expect(none).toMatchObject({ kvs: [], count: 0, more: false })
      })

      it('returns full pairs', async () => {
        const a = await store.create(`${p}a`, '1')
        const a2 = await store.update(`${p}a`, '2', a.modRevision)
        expect((await store.list(p)).kvs).toEqual([a2])
      })

      it('pages with limit and after, counting the keys left in the range', async () => {
        const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => `${p}${k}`)
        for (const k of keys) await store.create(k, k)
        const page1 = await store.list(p, { limit: 3 })
        expect(page1.kvs.map((kv) => kv.key)).toEqual(keys.slice(0, 3))
        expect(page1).toMatchObject({ more: true, count: 7 })
        const page2 = await store.list(p, {
          limit: 3,
          after: page1.kvs[2]!.key,
          revision: page1.revision,
        })
        expect(page2.kvs.map((kv) => kv.key)).toEqual(keys.slice(3, 6))
        expect(page2).toMatchObject({ more: true, count: 4, revision: page1.revision })
        const page3 = await store.list(p, {
          limit: 3,
          after: page2.kvs[2]!.key,
          revision: page1.revision,
        })
        expect(page3.kvs.map((kv) => kv.key)).toEqual(keys.slice(6))
        expect(page3).toMatchObject({ more: false, count: 1 })
        const exact = await store.list(p, { limit: 7 })
        expect(exact).toMatchObject({ more: false, count: 7 })
      })

      it('reads as of an older revision after updates, deletes and creates (MVCC)', async () => {
        const a = await store.create(`${p}a`, 'a1')
        const b = await store.create(`${p}b`, 'b1')
        const c = await store.create(`${p}c`, 'c1')
        const old = await store.currentRevision()
        await store.update(`${p}a`, 'a2', a.modRevision)
        await store.delete(`${p}b`)
        await store.create(`${p}d`, 'd1')
        await store.delete(`${p}c`)
        await store.create(`${p}c`, 'c2')

        const then = await store.list(p, { revision: old })
        expect(then.kvs).toEqual([a, b, c])
        expect(then).toMatchObject({ revision: old, count: 3, more: false })
        const now = await store.list(p)
        expect(now.kvs.map((kv) => kv.value)).toEqual(['a2', 'c2', 'd1'])

        const paged = await store.list(p, { revision: old, limit: 2 })
        expect(paged.kvs).toEqual([a, b])
        expect(paged).toMatchObject({ more: true, count: 3 })
        const rest = await store.list(p, { revision: old, limit: 2, after: `${p}b` })
        expect(rest.kvs).toEqual([c])
        expect(rest).toMatchObject({ more: false, count: 1 })
      })

      it('keeps pages pinned to a revision unaffected by later writes', async () => {
        for (const k of ['a', 'b', 'c', 'd']) await store.create(`${p}${k}`, k)
        const first = await store.list(p, { limit: 2 })
        await store.create(`${p}bb`, 'bb')
        await store.delete(`${p}c`)
        const second = await store.list(p, { limit: 2, after: `${p}b`, revision: first.revision })
        expect(second.kvs.map((kv) => kv.value)).toEqual(['c', 'd'])
        expect(second.more).toBe(false)
      })

      it('fails with FutureRevision above the current revision', async () => {
        await store.create(`${p}a`, '1')
        await expectCode(
          store.list(p, { revision: (await store.currentRevision()) + 10 }),
          'FutureRevision',
        )
      })
    })

    describe('readBatch', () => {
      it('answers gets and lists together, at the current revision, in the order asked', async () => {
        const a = await store.create(`${p}ns/a`, 'a')
        for (const k of ['q/1', 'q/2', 'q/3']) await store.create(`${p}${k}`, k)
        const { results, revision } = await store.readBatch([
          { key: `${p}ns/a` },
          { key: `${p}ns/missing` },
          { prefix: `${p}q/` },
          { prefix: `${p}q/`, limit: 2 },
          { prefix: `${p}none/` },
        ])
        expect(revision).toBe(await store.currentRevision())
        expect(results[0]).toEqual({ kvs: [a], more: false })
        expect(results[1]).toEqual({ kvs: [], more: false })
        expect(results[2]!.kvs.map((kv) => kv.value)).toEqual(['q/1', 'q/2', 'q/3'])
        expect(results[2]!.more).toBe(false)
        expect(results[3]!.kvs.map((kv) => kv.value)).toEqual(['q/1', 'q/2'])
        expect(results[3]!.more).toBe(true)
        expect(results[4]).toEqual({ kvs: [], more: false })
      })
    })

    describe('compaction', () => {
      it('fails reads below the compacted revision and keeps reads at and after it right', async () => {
        const a = await store.create(`${p}a`, 'a1')
        const b = await store.create(`${p}b`, 'b1')
        const before = await store.currentRevision()
        const a2 = await store.update(`${p}a`, 'a2', a.modRevision)
        await store.delete(`${p}b`)
        const c = await store.create(`${p}c`, 'c1')
        const at = await store.currentRevision()
        const a3 = await store.update(`${p}a`, 'a3', a2.modRevision)
        const later = await store.currentRevision()

        await store.compact(at)
        await expectCode(store.list(p, { revision: before }), 'Compacted')
        await expectCode(store.list(p, { revision: at - 1 }), 'Compacted')
        expect((await store.list(p, { revision: at })).kvs).toEqual([a2, c])
        expect((await store.list(p, { revision: later })).kvs).toEqual([a3, c])
        expect((await store.list(p)).kvs).toEqual([a3, c])
        expect((await store.get(`${p}b`)).kv).toBeUndefined()
        expect(b.value).toBe('b1')

        await store.compact(at) // again: nothing to do
        const d = await store.create(`${p}d`, 'd1')
        expect(d.modRevision).toBe(later + 1)
      })
    })

    describe('watch', () => {
      it('delivers the events after a revision, in order, with prevKv', async () => {
        await store.create(`${p}before`, 'x')
        const start = await store.currentRevision()
        const a1 = await store.create(`${p}a`, 'a1')
        const a2 = await store.update(`${p}a`, 'a2', a1.modRevision)
        const b1 = await store.create(`${p}b`, 'b1')
        const ad = await store.delete(`${p}a`)
        const { it: w } = watch(p, start)
        const events = await take(w, 4)
        expect(events[0]).toEqual({ type: 'put', kv: a1 })
        expect(events[1]).toEqual({ type: 'put', kv: a2, prevKv: a1 })
        expect(events[2]).toEqual({ type: 'put', kv: b1 })
        expect(events[3]).toMatchObject({
          type: 'delete',
          kv: { key: `${p}a`, value: 'a2', modRevision: ad.modRevision },
          prevKv: a2,
        })

        const b2 = await store.update(`${p}b`, 'b2', b1.modRevision)
        expect(await take(w, 1)).toEqual([{ type: 'put', kv: b2, prevKv: b1 }])
      })

      it('delivers only events under its prefix', async () => {
        const start = await store.currentRevision()
        const { it: w } = watch(`${p}pods/a/`, start)
        await store.create(`${p}pods/ab/x`, 'no')
        await store.create(`${p}pods/a`, 'no')
        const yes = await store.create(`${p}pods/a/y`, 'yes')
        await store.create(`${p}pods/b/z`, 'no')
        const yes2 = await store.update(`${p}pods/a/y`, 'yes2', yes.modRevision)
        expect((await take(w, 2)).map(summary)).toEqual([
          summary({ type: 'put', kv: yes }),
          summary({ type: 'put', kv: yes2 }),
        ])
      })

      it('fails with Compacted when asked for events from before the compacted revision', async () => {
        const a = await store.create(`${p}a`, '1')
        await store.update(`${p}a`, '2', a.modRevision)
        await store.update(`${p}a`, '3', a.modRevision + 1)
        const at = await store.currentRevision()
        await store.compact(at)
        const { it: w } = watch(p, a.modRevision - 1)
        await expectCode(pull(w), 'Compacted')

        const { it: ok } = watch(p, at)
        const b = await store.create(`${p}b`, 'b')
        expect(await take(ok, 1)).toEqual([{ type: 'put', kv: b }])
      })

      it('sends progress notifications when nothing else happens', async () => {
        const a = await store.create(`${p}a`, '1')
        const { it: w } = watch(p, a.modRevision, 50)
        const first = await pull(w)
        expect(first.value).toEqual({ type: 'progress', revision: a.modRevision })
        const b = await store.create(`${p}b`, '2')
        let saw: StoreEvent | undefined
        for (;;) {
          const r = await pull(w)
          if (r.done) throw new Error('watch ended')
          if (r.value.type !== 'progress') {
            saw = r.value
            continue
          }
          if (saw) {
            expect(r.value.revision).toBeGreaterThanOrEqual(b.modRevision)
            break
          }
          expect(r.value.revision).toBeLessThan(b.modRevision) // a progress before the event comes before it
        }
        expect(saw).toEqual({ type: 'put', kv: b })
      })

      it('ends when the signal aborts, whether waiting or between events', async () => {
        const start = await store.currentRevision()
        const { it: w, ctl } = watch(p, start)
        await store.create(`${p}a`, '1')
        await take(w, 1)
        const waiting = pull(w)
        ctl.abort()
        expect((await waiting).done).toBe(true)
        expect((await pull(w)).done).toBe(true)

        const aborted = new AbortController()
        aborted.abort()
        const never = store.watch(p, start, aborted.signal)[Symbol.asyncIterator]()
        expect((await pull(never)).done).toBe(true)
      })

      it('stops when the consumer stops iterating', async () => {
        const start = await store.currentRevision()
        await store.create(`${p}a`, '1')
        await store.create(`${p}b`, '2')
        const seen: string[] = []
        for await (const e of store.watch(p, start, new AbortController().signal)) {
          if (e.type !== 'progress') seen.push(e.kv.value)
          break
        }
        expect(seen).toEqual(['1'])
        const c = await store.create(`${p}c`, '3') // the store goes on without that watcher
        expect(c.value).toBe('3')
      })

      it('gives many concurrent watchers the same events in the same order', async () => {
        const start = await store.currentRevision()
        const kvs: KeyValue[] = []
        for (let i = 0; i < 5; i++) kvs.push(await store.create(`${p}k${i}`, `v${i}`))
        const watchers = Array.from({ length: 20 }, () => watch(p, start).it)
        const writes = (async () => {
          for (let i = 0; i < 15; i++) {
            const key = `${p}k${i % 7}`
            const cur = (await store.get(key)).kv
            if (!cur) await store.create(key, `c${i}`)
            else if (i % 4 === 0) await store.delete(key, cur.modRevision)
            else await store.update(key, `u${i}`, cur.modRevision)
          }
        })()
        const seen = await Promise.all(watchers.map((w) => take(w, 20)))
        await writes
        const expected = seen[0]!.map(summary)
        const revisions = seen[0]!.map((e) => (e.type === 'progress' ? 0 : e.kv.modRevision))
        expect(revisions).toEqual(Array.from({ length: 20 }, (_, i) => start + 1 + i))
        for (const s of seen) expect(s.map(summary)).toEqual(expected)
      })
    })
  })
}

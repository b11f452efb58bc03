// The watch cache's semantics (src/api/watch-cache.ts): one Store watch per resource, the window of
// recent events, the Store beyond it, selector transitions, bookmarks, slow watchers, stopping when idle.
import { AsyncLocalStorage } from 'node:async_hooks'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  DEFAULT_WATCH_CACHE_LIMITS,
  SharedEvents,
  WatchCaches,
  withListsFromCache,
  WORKER_WATCH_CACHE_LIMITS,
  type CacheWatchClient,
  type WatchCacheLimits,
  type WatchEventType,
} from '../../src/api/watch-cache'
import { builtinResources } from '../../src/registry/builtin'
import { apiserverMetrics } from '../../src/metrics/apiserver'
import type { KubeObject, ResourceType } from '../../src/registry/types'
import {
  CACHE_READ_WAIT_MS,
  StoreError,
  type Store,
  type StoreEvent,
  type WatchOptions,
} from '../../src/storage/store'
import { makeApp } from '../helpers/app'
import { MemoryStore } from '../helpers/memory-store'

const configmaps = builtinResources.find((t) => t.resource === 'configmaps' && !t.group)!
const KEY = '/registry/configmaps/default/'

/** A MemoryStore that counts the watches opened on it and the ones still open. */
class CountingStore extends MemoryStore {
  watchesOpened = 0
  watchesOpen = 0
  /** Set: open watches fail with it at their next event (etcd compacted past them, or went away). */
  broken?: unknown
  override async *watch(
    prefix: string,
    after: number,
    signal: AbortSignal,
    opts?: WatchOptions,
  ): AsyncIterable<StoreEvent> {
    this.watchesOpened++
    this.watchesOpen++
    try {
      for await (const ev of super.watch(prefix, after, signal, opts)) {
        if (this.broken) throw this.broken
        yield ev
      }
    } finally {
      this.watchesOpen--
    }
  }
}

const value = (
  name: string,
  labels: Record<string, string> = {},
  data: Record<string, string> = {},
) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default', labels },
    data,
  })

/** A client that records what it is sent, as the watch handler's would write it. */
function client(
  opts: Partial<CacheWatchClient> & { encodes?: { n: number } } = {},
): CacheWatchClient & { got: [string, string, string][]; bookmarks: number[] } {
  const got: [string, string, string][] = []
  const bookmarks: number[] = []
  return {
    got,
    bookmarks,
    allowBookmarks: false,
    deadline: Date.now() + 3_600_000,
    frameKey: (t) => `json|${t}`,
    encode: (t: WatchEventType, o: KubeObject) => {
      if (opts.encodes) opts.encodes.n++
      return new TextEncoder().encode(JSON.stringify({ type: t, object: o }))
    },
    write: (frames) => {
      for (const { bytes } of frames) {
        const e = JSON.parse(new TextDecoder().decode(bytes))
        got.push([e.type, e.object.metadata.name, e.object.metadata.resourceVersion])
      }
      return 0
    },
    bookmark: (rv) => bookmarks.push(rv),
    ...opts,
  }
}

const flush = () => new Promise((r) => setTimeout(r, 20))

/** The first `count` events of a watch response (fewer if it ends), then the stream is let go. */
async function watchEvents(res: Response, count: number) {
  const reader = res.body!.getReader()
  let text = ''
  while (text.split('\n').length <= count) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  await reader.cancel()
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
}
const limits = (l: Partial<WatchCacheLimits>) => ({ ...DEFAULT_WATCH_CACHE_LIMITS, ...l })

describe('watch cache', () => {
  afterEach(() => vi.useRealTimers())

  it('feeds every watcher of a resource from one Store watch, serializing each event once per form', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches()
    const rev = await store.currentRevision()
    const encodes = { n: 0 }
    const clients = Array.from({ length: 50 }, () => client({ encodes }))
    // One request each, as each client watch is.
    const aborts = clients.map(() => new AbortController())
    for (const [i, c] of clients.entries())
      expect(
        await caches.for('default', configmaps)!.join(store, rev, c, aborts[i]!.signal, true),
      ).toBeDefined()
    const a = await store.create(`${KEY}a`, value('a'))
    const b = await store.update(`${KEY}a`, value('a', {}, { x: '1' }), a.modRevision)
    await store.delete(`${KEY}a`)
    await flush()
    expect(store.watchesOpened).toBe(1)
    for (const c of clients)
      expect(c.got).toEqual([
        ['ADDED', 'a', String(a.modRevision)],
        ['MODIFIED', 'a', String(b.modRevision)],
        ['DELETED', 'a', String(b.modRevision + 1)],
      ])
    expect(encodes.n).toBe(3) // once per event, not once per watcher
    for (const a of aborts) a.abort()
  })

  it('serves a watch from a resourceVersion in its window with exactly the events after it', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches()
    const abort = new AbortController()
    const first = client()
    await caches
      .for('default', configmaps)!
      .join(store, await store.currentRevision(), first, abort.signal, true)
    const revs: number[] = []
    for (const n of ['a', 'b', 'c', 'd'])
      revs.push((await store.create(`${KEY}${n}`, value(n))).modRevision)
    await flush()
    const late = client()
    const joined = await caches
      .for('default', configmaps)!
      .join(store, revs[1]!, late, abort.signal, false)
    expect(joined).toBeDefined()
    expect(late.got.map((e) => e[1])).toEqual(['c', 'd'])
    await store.create(`${KEY}e`, value('e'))
    await flush()
    expect(late.got.map((e) => e[1])).toEqual(['c', 'd', 'e'])
    expect(first.got.map((e) => e[1])).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(store.watchesOpened).toBe(1)
    abort.abort()
  })

  it('leaves a watch from before its window to the Store, and a future one too', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches(limits({ ringEvents: 2 }))
    const abort = new AbortController()
    const start = await store.currentRevision()
    await caches.for('default', configmaps)!.join(store, start, client(), abort.signal, true)
    for (const n of ['a', 'b', 'c', 'd']) await store.create(`${KEY}${n}`, value(n))
    await flush()
    const cacher = caches.for('default', configmaps)!
    expect(await cacher.join(store, start, client(), abort.signal, false)).toBeUndefined()
    expect(await cacher.join(store, start + 3, client(), abort.signal, false)).toBeDefined()
    const future = (await store.currentRevision()) + 10
    expect(await cacher.join(store, future, client(), abort.signal, false)).toBeUndefined()
    abort.abort()
  })

  it('through the API: a watch before the window reads the Store; one before the compaction is 410', async () => {
    const caches = new WatchCaches(limits({ ringEvents: 2 }))
    const t = makeApp({ watchCache: caches })
    // Bootstrap first, so that the revisions below are the test's.
    await t.call('GET', '/api/v1/namespaces/default/configmaps')
    const CMS = '/api/v1/namespaces/default/configmaps'
    const created: number[] = []
    for (const n of ['a', 'b', 'c', 'd', 'e']) {
      const r = await t.call('POST', CMS, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: n },
      })
      created.push(Number(r.json.metadata.resourceVersion))
    }
    const read = async (rv: number, count: number) => {
      const res = await t.app.request(`${CMS}?watch=true&resourceVersion=${rv}`, {
        headers: { authorization: 'Bearer admin-token' },
      })
      return watchEvents(res, count)
    }
    // Starts the cacher at the last revision; its window then holds the next two events only.
    const live = t.app.request(`${CMS}?watch=true&resourceVersion=${created[4]}`, {
      headers: { authorization: 'Bearer admin-token' },
    })
    await flush()
    for (const n of ['f', 'g', 'h'])
      await t.call('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n } })
    // From the second object on: before the window, so from the Store, in order and complete.
    const fromStore = await read(created[1]!, 6)
    expect(fromStore.map((e) => e.object.metadata.name)).toEqual(['c', 'd', 'e', 'f', 'g', 'h'])
    await t.store.compact(created[3]!)
    const gone = await read(created[1]!, 1)
    expect(gone).toEqual([
      {
        type: 'ERROR',
        object: expect.objectContaining({
          code: 410,
          reason: 'Expired',
          message: `too old resource version: ${created[1]} (${created[3]})`,
        }),
      },
    ])
    await (await live).body!.cancel()
  })

  it("through the API: a Table watch's first row alone has the columns, events offered at once too", async () => {
    // One watcher woken at a time: the second one's events are all offered before its pump writes.
    const caches = new WatchCaches({ ...WORKER_WATCH_CACHE_LIMITS, wakeSlice: 1 })
    const t = makeApp({ watchCache: caches })
    const CMS = '/api/v1/namespaces/default/configmaps'
    const rv = (await t.call('GET', CMS)).json.metadata.resourceVersion
    const watches = [0, 1].map(async () => {
      const res = await t.app.request(`${CMS}?watch=true&resourceVersion=${rv}`, {
        headers: {
          authorization: 'Bearer admin-token',
          accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
        },
      })
      return (await watchEvents(res, 3)).map((e) => e.object.columnDefinitions.length)
    })
    await flush()
    for (const n of ['a', 'b', 'c']) await t.store.create(`${KEY}${n}`, value(n))
    for (const columns of await Promise.all(watches)) {
      expect(columns).toHaveLength(3)
      expect(columns[0]).toBeGreaterThan(0)
      expect(columns.slice(1)).toEqual([0, 0])
    }
  })

  it('turns selector transitions into ADDED and DELETED, the latter with the previous object', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches()
    const abort = new AbortController()
    const blue = client({ matches: (o) => o.metadata?.labels?.team === 'blue' })
    await caches
      .for('default', configmaps)!
      .join(store, await store.currentRevision(), blue, abort.signal, true)
    const a = await store.create(`${KEY}a`, value('a', { team: 'red' }))
    const b = await store.update(`${KEY}a`, value('a', { team: 'blue' }), a.modRevision)
    const c = await store.update(`${KEY}a`, value('a', { team: 'blue' }, { x: '1' }), b.modRevision)
    const d = await store.update(`${KEY}a`, value('a', { team: 'red' }), c.modRevision)
    await store.update(`${KEY}a`, value('a', { team: 'green' }), d.modRevision)
    await flush()
    expect(blue.got).toEqual([
      ['ADDED', 'a', String(b.modRevision)],
      ['MODIFIED', 'a', String(c.modRevision)],
      ['DELETED', 'a', String(d.modRevision)],
    ])
    abort.abort()
  })

  it('sends bookmarks about every interval to the watchers that asked for them', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches(limits({ bookmarkIntervalMs: 50 }))
    const abort = new AbortController()
    const asked = client({ allowBookmarks: true })
    const not = client()
    const cacher = caches.for('default', configmaps)!
    await cacher.join(store, await store.currentRevision(), asked, abort.signal, true)
    await cacher.join(store, await store.currentRevision(), not, abort.signal, true)
    const a = await store.create(`${KEY}a`, value('a'))
    await new Promise((r) => setTimeout(r, 1_300))
    expect(asked.bookmarks.length).toBeGreaterThan(0)
    expect(asked.bookmarks.every((rv) => rv >= a.modRevision)).toBe(true)
    expect(not.bookmarks).toEqual([])
    abort.abort()
  })

  it('closes a watcher that cannot keep up, and only that one', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches(limits({ watcherQueue: 5 }))
    const abort = new AbortController()
    let backlog = 0
    const slow = client({ write: () => ++backlog })
    const fast = client()
    const metrics = apiserverMetrics()
    const cacher = caches.for('default', configmaps, metrics)!
    const s = await cacher.join(store, await store.currentRevision(), slow, abort.signal, true)
    await cacher.join(store, await store.currentRevision(), fast, abort.signal, true)
    for (let i = 0; i < 10; i++) await store.create(`${KEY}n${i}`, value(`n${i}`))
    await flush()
    expect(await s!.ended).toEqual({ reason: 'slow' })
    // Five chunks waiting for the client, and a sixth event for it: closed, the sixth not written.
    expect(backlog).toBe(5)
    expect(fast.got).toHaveLength(10)
    const count = (c: { samples(): { value?: number }[] }) => c.samples()[0]?.value
    expect(count(metrics.terminatedWatchers)).toBe(1)
    expect(count(metrics.watchCacheEventsReceived)).toBe(10)
    expect(count(metrics.watchCacheInitializations)).toBe(1)
    abort.abort()
  })

  it('closes at once a watch whose window alone is more than it may have waiting', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches(limits({ watcherQueue: 5 }))
    const abort = new AbortController()
    const start = await store.currentRevision()
    const first = client()
    await caches.for('default', configmaps)!.join(store, start, first, abort.signal, true)
    for (let i = 0; i < 8; i++) await store.create(`${KEY}n${i}`, value(`n${i}`))
    await flush()
    const late = await caches
      .for('default', configmaps)!
      .join(store, start, client(), abort.signal, true)
    expect(await late!.ended).toEqual({ reason: 'slow' })
    await store.create(`${KEY}z`, value('z'))
    await flush()
    expect(first.got).toHaveLength(9)
    abort.abort()
  })

  it('stops its Store watch a while after the last watcher left, and starts again for the next', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches(limits({ idleMs: 30 }))
    const abort = new AbortController()
    await caches
      .for('default', configmaps)!
      .join(store, await store.currentRevision(), client(), abort.signal, true)
    await caches
      .for('default', configmaps)!
      .join(store, await store.currentRevision(), client(), abort.signal, true)
    await flush()
    expect(store.watchesOpen).toBe(1)
    abort.abort()
    await new Promise((r) => setTimeout(r, 100))
    expect(caches.size).toBe(0)
    expect(store.watchesOpen).toBe(0)
    const again = client()
    const abort2 = new AbortController()
    await caches
      .for('default', configmaps)!
      .join(store, await store.currentRevision(), again, abort2.signal, true)
    await store.create(`${KEY}z`, value('z'))
    await flush()
    expect(again.got.map((e) => e[1])).toEqual(['z'])
    expect(store.watchesOpened).toBe(2)
    abort2.abort()
  })

  it('keeps one cacher per cluster and resource, bounded, and none for a conversion webhook', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches(limits({ maxCachers: 2 }))
    const abort = new AbortController()
    const one = caches.for('one', configmaps)!
    expect(caches.for('two', configmaps)).not.toBe(one)
    expect(caches.for('one', configmaps)).toBe(one)
    await one.join(store, await store.currentRevision(), client(), abort.signal, true)
    await caches
      .for('two', configmaps)!
      .join(store, await store.currentRevision(), client(), abort.signal, true)
    // Both slots hold watchers: a third cluster's watch is not cached (it watches the Store itself).
    expect(caches.for('three', configmaps)).toBeUndefined()
    const converted: ResourceType = {
      ...configmaps,
      convertBatch: { toStorage: async (o) => o, fromStorage: async (o) => o },
    }
    expect(caches.for('one', converted)).toBeUndefined()
    abort.abort()
    caches.close()
  })

  it('ends its watchers with the Store watch error, as their own Store watches would', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches()
    const abort = new AbortController()
    const w = await caches
      .for('default', configmaps)!
      .join(store, await store.currentRevision(), client(), abort.signal, true)
    store.broken = new StoreError('Compacted', KEY, undefined, 7)
    await store.create(`${KEY}a`, value('a'))
    const end = await w!.ended
    expect(end.reason).toBe('cache-ended')
    expect(end.error).toMatchObject({ code: 'Compacted' })
    expect(caches.size).toBe(0)
  })

  it('starts at the current revision: a first watch from further back reads the Store itself', async () => {
    const store = new CountingStore()
    const caches = new WatchCaches()
    const abort = new AbortController()
    const a = await store.create(`${KEY}a`, value('a'))
    await store.create(`${KEY}b`, value('b'))
    await store.compact(a.modRevision)
    const cacher = caches.for('default', configmaps)!
    // From before the compaction, or from before the cacher's start: not served (no 410 for the others).
    expect(await cacher.join(store, 1, client(), abort.signal, false)).toBeUndefined()
    expect(await cacher.join(store, a.modRevision, client(), abort.signal, true)).toBeUndefined()
    const now = client()
    expect(
      await cacher.join(store, await store.currentRevision(), now, abort.signal, false),
    ).toBeDefined()
    await store.create(`${KEY}c`, value('c'))
    await flush()
    expect(now.got.map((e) => e[1])).toEqual(['c'])
    abort.abort()
  })

  it('shares one decoded event between watches that each read it from their own Store watch', () => {
    const shared = new SharedEvents(2)
    const kv = (rev: number, v: string) => ({
      key: `${KEY}a`,
      value: v,
      createRevision: 2,
      modRevision: rev,
      version: 1,
    })
    const put = (rev: number, v = value('a')) => ({ type: 'put' as const, kv: kv(rev, v) })
    const first = shared.event('default', configmaps, put(5))
    // Another watch's copy of the same event: the same decoded object, the same encoded forms.
    expect(shared.event('default', configmaps, put(5))).toBe(first)
    expect(shared.event('default', configmaps, put(5)).object()).toBe(first.object())
    // Another cluster, another value at that revision (a restored store), another type: decoded anew.
    expect(shared.event('other', configmaps, put(5))).not.toBe(first)
    expect(shared.event('default', configmaps, put(5, value('a', { x: 'y' })))).not.toBe(first)
    expect(shared.event('default', { ...configmaps }, put(5))).not.toBe(first)
    expect(shared.size).toBeLessThanOrEqual(2)
    const big = new SharedEvents(100, 1000)
    for (let i = 0; i < 10; i++) big.event('default', configmaps, put(i, 'x'.repeat(300)))
    expect(big.size).toBeLessThanOrEqual(3)
  })
})

// A Worker binds I/O and timers to the request that made them and runs a promise's continuation in the
// request that awaited it (workerd's cross-request promise resolution). AsyncLocalStorage follows the
// same rule in Node, so each client watch joins inside its own "request" and the test checks where the
// cacher opens its Store watch and where each client's stream is written.
describe('watch cache bound to requests (a Worker)', () => {
  const request = new AsyncLocalStorage<string>()

  /** A CountingStore that records the request each Store watch was opened in. */
  class RequestStore extends CountingStore {
    openedIn: (string | undefined)[] = []
    override watch(prefix: string, after: number, signal: AbortSignal, opts?: WatchOptions) {
      this.openedIn.push(request.getStore())
      return super.watch(prefix, after, signal, opts)
    }
  }

  /** A client whose writes and bookmarks must come from its own request. */
  function requestClient(name: string, opts: Partial<CacheWatchClient> = {}) {
    const wrongRequest: string[] = []
    const c = client({
      ...opts,
      write: (frames) => {
        if (request.getStore() !== name) wrongRequest.push(String(request.getStore()))
        for (const { bytes } of frames) {
          const e = JSON.parse(new TextDecoder().decode(bytes))
          c.got.push([e.type, e.object.metadata.name, e.object.metadata.resourceVersion])
        }
        return 0
      },
      bookmark: (rv) => {
        if (request.getStore() !== name) wrongRequest.push(String(request.getStore()))
        c.bookmarks.push(rv)
      },
    })
    return Object.assign(c, { wrongRequest })
  }

  const bound = (l: Partial<WatchCacheLimits> = {}) =>
    new WatchCaches({ ...WORKER_WATCH_CACHE_LIMITS, ...l })

  /** The Store as request `name` reaches it: like a Durable Object stub, usable in that request only. */
  function storeOf(store: MemoryStore, name: string): Store {
    return new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver)
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          if (request.getStore() !== name)
            throw new Error(`${String(prop)}: the store of ${name} used by ${request.getStore()}`)
          return v.apply(target, args)
        }
      },
    })
  }

  async function join(caches: WatchCaches, store: MemoryStore, name: string, c: CacheWatchClient) {
    const abort = new AbortController()
    const rev = await store.currentRevision()
    const w = await request.run(name, () =>
      caches.for('default', configmaps)!.join(storeOf(store, name), rev, c, abort.signal, true),
    )
    expect(w).toBeDefined()
    return { abort, w: w! }
  }

  it("holds the Store watch in its first watcher's request and hands it on when that one ends", async () => {
    const store = new RequestStore()
    const caches = bound()
    const clients = ['w0', 'w1', 'w2'].map((n) => requestClient(n))
    const joined = []
    for (const [i, c] of clients.entries()) joined.push(await join(caches, store, `w${i}`, c))
    const a = await store.create(`${KEY}a`, value('a'))
    await flush()
    expect(store.openedIn).toEqual(['w0'])
    // The holder leaves; the next write comes at once, before anyone has taken the watch over.
    joined[0]!.abort.abort()
    const b = await store.create(`${KEY}b`, value('b'))
    await flush()
    const c = await store.create(`${KEY}c`, value('c'))
    await flush()
    expect(store.openedIn).toEqual(['w0', 'w1'])
    expect(store.watchesOpen).toBe(1)
    const all = [a, b, c].map((kv, i) => ['ADDED', 'abc'[i], String(kv.modRevision)])
    expect(clients[0]!.got).toEqual(all.slice(0, 1))
    for (const x of clients.slice(1)) expect(x.got).toEqual(all)
    for (const x of clients) expect(x.wrongRequest).toEqual([])
    // The others leave too: the cacher stops with its last watcher, its Store watch closed at once.
    joined[1]!.abort.abort()
    joined[2]!.abort.abort()
    await flush()
    expect(store.watchesOpen).toBe(0)
    expect(caches.size).toBe(0)
  })

  it('moves the Store watch on after its share of fan-out, missing and repeating nothing', async () => {
    const store = new RequestStore()
    const caches = bound({ ownerFanout: 4 })
    const clients = ['w0', 'w1'].map((n) => requestClient(n))
    const joined = []
    for (const [i, c] of clients.entries()) joined.push(await join(caches, store, `w${i}`, c))
    const want: string[][] = []
    for (let i = 0; i < 10; i++) {
      const kv = await store.create(`${KEY}n${i}`, value(`n${i}`))
      want.push(['ADDED', `n${i}`, String(kv.modRevision)])
      if (i % 3 === 0) await flush()
    }
    await flush()
    for (const x of clients) expect(x.got).toEqual(want)
    for (const x of clients) expect(x.wrongRequest).toEqual([])
    // Two watchers, 4 offers each turn: the watch moved every second event, to each request in turn.
    expect(store.openedIn.length).toBeGreaterThanOrEqual(3)
    expect(new Set(store.openedIn)).toEqual(new Set(['w0', 'w1']))
    expect(store.watchesOpen).toBe(1)
    for (const j of joined) j.abort.abort()
  })

  it('wakes its watchers a slice at a time, every one of them, also across a hand-over', async () => {
    const store = new RequestStore()
    const caches = bound({ wakeSlice: 2 })
    const clients = ['w0', 'w1', 'w2', 'w3', 'w4'].map((n) => requestClient(n))
    const joined = []
    for (const [i, c] of clients.entries()) joined.push(await join(caches, store, `w${i}`, c))
    const a = await store.create(`${KEY}a`, value('a'))
    joined[0]!.abort.abort() // the holder leaves while the slices are under way
    const b = await store.create(`${KEY}b`, value('b'))
    await flush()
    const want = [a, b].map((kv, i) => ['ADDED', 'ab'[i], String(kv.modRevision)])
    for (const x of clients.slice(1)) expect(x.got).toEqual(want)
    for (const x of clients) expect(x.wrongRequest).toEqual([])
    for (const j of joined) j.abort.abort()
  })

  it("sends each watcher's bookmarks from its own request", async () => {
    const store = new RequestStore()
    const caches = bound({ bookmarkIntervalMs: 50 })
    const c = requestClient('w0', { allowBookmarks: true })
    const { abort } = await join(caches, store, 'w0', c)
    const other = await join(caches, store, 'w1', requestClient('w1'))
    await new Promise((r) => setTimeout(r, 300))
    expect(c.bookmarks.length).toBeGreaterThan(2)
    expect(c.wrongRequest).toEqual([])
    abort.abort()
    other.abort.abort()
  })

  describe('consistent LISTs from memory', () => {
    afterEach(() => vi.useRealTimers())
    const ALL = '/registry/configmaps/'
    const OTHER = '/registry/configmaps/other/'
    /** A LIST in request `name`, through the store as that request has it. */
    const list = (caches: WatchCaches, store: MemoryStore, name: string, prefix = KEY, opts = {}) =>
      request.run(name, () =>
        withListsFromCache(storeOf(store, name), caches, 'default').list(prefix, opts),
      )
    const names = (r: { kvs: { key: string }[] }) => r.kvs.map((kv) => kv.key.split('/').pop())

    async function seeded() {
      const store = new RequestStore()
      await store.create(`${KEY}a`, value('a'))
      await store.create(`${KEY}b`, value('b'))
      await store.create(`${OTHER}x`, value('x'))
      return store
    }

    it('fills in with a LIST of the whole resource, then answers each from memory as the store has it', async () => {
      const store = await seeded()
      const caches = bound({ listBytes: 1024 * 1024 })
      const { abort } = await join(caches, store, 'w0', requestClient('w0'))
      const reads = store.reads
      // A namespace's LIST reads only the namespace, and fills nothing in.
      expect(names(await list(caches, store, 'l0'))).toEqual(['a', 'b'])
      // Nor does a page of the whole resource that leaves more to read.
      expect((await list(caches, store, 'lp', ALL, { limit: 2 })).more).toBe(true)
      const first = await list(caches, store, 'l1', ALL)
      expect([names(first), first.fromCache]).toEqual([['a', 'b', 'x'], undefined])
      expect(store.reads).toBe(reads + 3)
      // A write the cache has not received yet: the LIST waits for it.
      await store.create(`${KEY}c`, value('c'))
      const second = await list(caches, store, 'l2')
      expect(names(second)).toEqual(['a', 'b', 'c'])
      expect(second).toEqual({ ...(await store.list(KEY)), fromCache: true })
      expect(second.revision).toBe(await store.currentRevision())
      // A write elsewhere moves the revision only.
      await store.create(`${OTHER}y`, value('y'))
      const third = await list(caches, store, 'l3')
      expect([names(third), third.revision]).toEqual([
        ['a', 'b', 'c'],
        await store.currentRevision(),
      ])
      await store.delete(`${KEY}a`)
      expect(names(await list(caches, store, 'l4'))).toEqual(['b', 'c'])
      // A first page from memory; the next ones read the store as of its revision.
      const page = await list(caches, store, 'l5', KEY, { limit: 1 })
      expect([names(page), page.more, page.count]).toEqual([['b'], true, 2])
      expect(store.reads).toBe(reads + 4) // the three above and the test's own `store.list`
      const next = await list(caches, store, 'l6', KEY, {
        revision: page.revision,
        after: page.kvs[0]!.key,
        limit: 1,
      })
      expect(names(next)).toEqual(['c'])
      expect(store.reads).toBe(reads + 5)
      abort.abort()
    })

    it('reads the store without a running cacher, or when the pairs would not fit', async () => {
      const store = await seeded()
      const caches = bound({ listBytes: 100 })
      expect(names(await list(caches, store, 'l0'))).toEqual(['a', 'b'])
      const { abort } = await join(caches, store, 'w0', requestClient('w0'))
      const reads = store.reads
      expect(names(await list(caches, store, 'l1', ALL))).toEqual(['a', 'b', 'x'])
      expect(names(await list(caches, store, 'l2', ALL))).toEqual(['a', 'b', 'x'])
      expect(names(await list(caches, store, 'l3'))).toEqual(['a', 'b'])
      // The fill did not fit: every LIST reads the store.
      expect(store.reads).toBe(reads + 3)
      expect(store.lastChanges).toBe(0)
      abort.abort()
    })

    /** The seeded store with one watch open, its cacher filled in by a LIST of the whole resource. */
    async function filled(listBytes = 1024 * 1024) {
      const store = await seeded()
      const caches = bound({ listBytes })
      const { abort } = await join(caches, store, 'w0', requestClient('w0'))
      await list(caches, store, 'l1', ALL)
      return { store, caches, abort }
    }

    it('reads the store when the history since the cache last heard is compacted', async () => {
      const { store, caches, abort } = await filled()
      await store.create(`${OTHER}y`, value('y'))
      await store.compact(await store.currentRevision())
      const reads = store.reads
      expect(names(await list(caches, store, 'l2'))).toEqual(['a', 'b'])
      expect(store.reads).toBe(reads + 1)
      abort.abort()
    })

    it('reads the store when the change the store names does not reach the cache in time', async () => {
      const { store, caches, abort } = await filled()
      // The store names a change the cache's watch never brings.
      const real = store.lastChange.bind(store)
      store.lastChange = async (prefix, after) => {
        const r = await real(prefix, after)
        return { ...r, last: r.revision + 1 }
      }
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
      const reads = store.reads
      const answer = list(caches, store, 'l2')
      await vi.advanceTimersByTimeAsync(CACHE_READ_WAIT_MS)
      expect(names(await answer)).toEqual(['a', 'b'])
      expect(store.reads).toBe(reads + 1)
      abort.abort()
    })

    it("moves on with the store's word only past what its own Store watch has brought", async () => {
      const store = await seeded()
      const caches = bound({ listBytes: 1024 * 1024 })
      const c = requestClient('w0')
      const { abort } = await join(caches, store, 'w0', c)
      const cacher = caches.for('default', configmaps)!
      const at = await store.currentRevision()
      // Pairs read at a revision the Store watch has not reached: its events up to there are on their way.
      cacher.fill((await store.list(KEY)).kvs, at + 2)
      cacher.confirm(at + 2, 0, at + 5) // asked from the fill's revision: nothing changed since
      cacher.confirm(at, at + 2, at + 5) // asked from its own, the change the fill took in
      const made = await store.create(`${KEY}z`, value('z'))
      await flush()
      expect(c.got).toEqual([['ADDED', 'z', String(made.modRevision)]])
      // Past what the watch brought: the store's word moves the cacher (and its bookmarks) on.
      cacher.confirm(at, made.modRevision, made.modRevision + 3)
      expect(cacher.covered).toBe(made.modRevision + 3)
      abort.abort()
    })

    it('lets the pairs go with the last watcher, and gives their bytes back', async () => {
      // A budget for one copy of the resource (each pair counted as its key, value and 64 bytes).
      const one = (await (await seeded()).list(ALL)).kvs
        .map((kv) => kv.key.length + kv.value.length + 64)
        .reduce((a, b) => a + b)
      const { store, caches, abort } = await filled(one + 32)
      abort.abort()
      await flush()
      const reads = store.reads
      expect(names(await list(caches, store, 'l2'))).toEqual(['a', 'b'])
      expect(store.reads).toBe(reads + 1)
      // A new cacher fills in again: the first one's bytes are free.
      const again = await join(caches, store, 'w1', requestClient('w1'))
      await list(caches, store, 'l3', ALL)
      await list(caches, store, 'l4')
      expect(store.reads).toBe(reads + 2)
      again.abort.abort()
    })
  })
})

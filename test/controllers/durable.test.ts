// The ClusterStore's background-work seam on workerd (Miniflare): writes reach observe(), a coalesced alarm
// runs the work over the object's own tables, and compaction keeps its own schedule in the same alarm.
import type { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DurableStore } from '../../src/storage/durable/client'
import { StoreError } from '../../src/storage/store'
import { clusterStub, startMiniflare } from '../storage/harness'

let mf: Miniflare
beforeAll(async () => {
  mf = await startMiniflare({
    entry: 'test/controllers/background-worker.ts',
    bindings: { COMPACTION_INTERVAL_MS: '1000' },
  })
})
afterAll(async () => {
  await mf?.dispose()
})

let n = 0
const fresh = () => new DurableStore(clusterStub(mf, `background-${++n}-${Date.now()}`))

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn()
  for (let i = 0; i < 150 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100))
    v = await fn()
  }
  return v
}

describe('ClusterStore background work', () => {
  it('runs from the alarm soon after the writes that ask for it, over the tables of the object', async () => {
    const store = fresh()
    for (const k of ['a', 'b', 'c']) await store.create(`/registry/in/${k}`, k)
    const out = await until(
      () => store.list('/registry/out/'),
      (r) => r.kvs.length === 3,
    )
    expect(out.kvs.map((kv) => [kv.key, JSON.parse(kv.value).value])).toEqual([
      ['/registry/out/a', 'a'],
      ['/registry/out/b', 'b'],
      ['/registry/out/c', 'c'],
    ])
    // Its own writes are events like any other: watchers see them.
    const ctl = new AbortController()
    const it = store.watch('/registry/out/', 0, ctl.signal)[Symbol.asyncIterator]()
    const first = await it.next()
    ctl.abort()
    expect(first.value).toMatchObject({ type: 'put', kv: { key: '/registry/out/a' } })
  })

  it('keeps compacting on its own schedule while the alarm also serves the work', async () => {
    const store = fresh()
    const a = await store.create('/registry/in/x', '1')
    await store.update(a.key, '2', a.modRevision)
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 150))
      await store.create(`/registry/in/y${i}`, String(i)) // more alarms for the work, none of them a compaction tick
    }
    // Compaction ticks run at the first write once due: keep writing.
    let z = 0
    const compacted = await until(
      async () => {
        await store.create(`/registry/in/z${z++}`, 'z')
        return store.list('/registry/', { revision: a.modRevision }).then(
          () => undefined,
          (e: unknown) => e,
        )
      },
      (e) => e instanceof StoreError,
    )
    expect(compacted).toMatchObject({ code: 'Compacted' })
    await until(
      () => store.list('/registry/out/'),
      (r) => r.kvs.length === 6 + z,
    )
    expect((await store.list('/registry/out/')).kvs.length).toBe(6 + z)
  })
})

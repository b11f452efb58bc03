// The Store contract and EtcdStore's own behaviour against a real etcd (/usr/bin/etcd on loopback).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCA, signCertificate } from '../../src/node/pki'
import { etcdClient } from '../../src/storage/etcd/client'
import { EtcdStore } from '../../src/storage/etcd/store'
import { WatchHub, type WatchSink, type WatchSource } from '../../src/storage/etcd/watch-hub'
import { StoreError, type StoreEvent } from '../../src/storage/store'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { storeContract } from './contract'

let etcd: EtcdCluster
beforeAll(async () => {
  // A short progress interval, so that an idle watch's progress revision visibly advances.
  etcd = await startEtcd({ progressNotifyInterval: '1s' })
})
afterAll(async () => {
  await etcd?.stop()
})

function newStore(opts: ConstructorParameters<typeof EtcdStore>[1] = {}): EtcdStore {
  return new EtcdStore(etcdClient({ endpoints: etcd.endpoints }), opts)
}

storeContract('EtcdStore on etcd', async () => {
  const store = newStore()
  return { store, cleanup: async () => store.close() }
})

// The same contract with consistent LISTs and batch reads answered from memory (Node mode's default).
storeContract('EtcdStore on etcd, reads from its mirror', async () => {
  const store = newStore({ mirror: true })
  return { store, cleanup: async () => store.close() }
})

const WAIT_MS = 10_000

async function next<T>(it: AsyncIterator<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing from the watch in ${WAIT_MS} ms`)), WAIT_MS)
  })
  try {
    const r = await Promise.race([it.next(), timeout])
    if (r.done) throw new Error('the watch ended')
    return r.value
  } finally {
    clearTimeout(timer)
  }
}

async function events(it: AsyncIterator<StoreEvent>, n: number): Promise<string[]> {
  const out: string[] = []
  while (out.length < n) {
    const ev = await next(it)
    if (ev.type !== 'progress')
      out.push(`${ev.type} ${ev.kv.key}=${ev.kv.value}@${ev.kv.modRevision}`)
  }
  return out
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a failure')
}

const fresh = () => Math.random().toString(36).slice(2, 10)

describe('EtcdStore on etcd', () => {
  it('keeps keys under --etcd-prefix, with the object JSON as the value', async () => {
    const store = newStore({ prefix: `/custom-${fresh()}` })
    try {
      const value = JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', namespace: 'default' },
        data: { a: 'b' },
      })
      const kv = await store.create('/registry/configmaps/default/x', value)
      expect(kv.key).toBe('/registry/configmaps/default/x')
      expect(await store.client.get(`${store.prefix}/configmaps/default/x`).string()).toBe(value)
      expect(await store.client.get('/registry/configmaps/default/x').string()).toBeNull()
      expect((await store.list('/registry/configmaps/')).kvs.map((k) => k.key)).toEqual([
        '/registry/configmaps/default/x',
      ])
    } finally {
      store.close()
    }
  })

  it('feeds every watch of a resource from one etcd watch', async () => {
    const store = newStore()
    const ctl = new AbortController()
    try {
      const res = `/registry/widgets-${fresh()}/`
      const start = await store.currentRevision()
      const all = store.watch(res, start, ctl.signal)[Symbol.asyncIterator]()
      const a = store.watch(`${res}a/`, start, ctl.signal)[Symbol.asyncIterator]()
      const b = store.watch(`${res}b/`, start, ctl.signal)[Symbol.asyncIterator]()
      const a1 = await store.create(`${res}a/1`, 'a1')
      const b1 = await store.create(`${res}b/1`, 'b1')
      const a2 = await store.update(`${res}a/1`, 'a2', a1.modRevision)
      expect(await events(all, 3)).toEqual([
        `put ${res}a/1=a1@${a1.modRevision}`,
        `put ${res}b/1=b1@${b1.modRevision}`,
        `put ${res}a/1=a2@${a2.modRevision}`,
      ])
      expect(await events(a, 2)).toEqual([
        `put ${res}a/1=a1@${a1.modRevision}`,
        `put ${res}a/1=a2@${a2.modRevision}`,
      ])
      expect(await events(b, 1)).toEqual([`put ${res}b/1=b1@${b1.modRevision}`])
      expect(store.watchFeeds).toBe(1)
    } finally {
      ctl.abort()
      store.close()
    }
  })

  it("answers a consistent LIST from memory with every write etcd has, another server's too", async () => {
    const ours = newStore({ mirror: true })
    const other = newStore() // another API server on the same etcd, with a client of its own
    try {
      const res = `/registry/mirrored-${fresh()}/`
      await ours.create(`${res}ns/a`, 'a1')
      const first = await ours.list(`${res}ns/`)
      expect(first.kvs.map((kv) => kv.value)).toEqual(['a1'])
      const before = ours.readsFromMemory
      // Written elsewhere and read here at once: the LIST confirms etcd's revision, then waits for it.
      const b = await other.create(`${res}ns/b`, 'b1')
      const a = await other.update(`${res}ns/a`, 'a2', first.kvs[0]!.modRevision)
      await other.create(`${res}other/c`, 'c1')
      const seen = await ours.list(`${res}ns/`)
      expect(seen.kvs.map((kv) => [kv.key, kv.value, kv.modRevision, kv.version])).toEqual([
        [`${res}ns/a`, 'a2', a.modRevision, 2],
        [`${res}ns/b`, 'b1', b.modRevision, 1],
      ])
      expect(seen.revision).toBeGreaterThanOrEqual(await other.currentRevision())
      expect(seen.count).toBe(2)
      await other.delete(`${res}ns/a`)
      expect((await ours.list(`${res}ns/`)).kvs.map((kv) => kv.key)).toEqual([`${res}ns/b`])
      expect(ours.readsFromMemory).toBe(before + 2)
      // A LIST at a revision, after a key or with a limit reads etcd, as kube's cacher delegates them.
      expect((await ours.list(`${res}ns/`, { revision: a.modRevision })).kvs).toHaveLength(2)
      expect((await ours.list(`${res}ns/`, { limit: 1 })).kvs).toHaveLength(1)
      expect(ours.readsFromMemory).toBe(before + 2)
    } finally {
      ours.close()
      other.close()
    }
  })

  it('answers batch reads from memory with its own writes at once, and a missing key from etcd', async () => {
    const ours = newStore({ mirror: true })
    const other = newStore()
    try {
      const res = `/registry/batched-${fresh()}/`
      await ours.readBatch([{ prefix: res }]) // the mirror of the resource, read once
      const before = ours.readsFromMemory
      const a = await ours.create(`${res}a`, 'a1')
      const r = await ours.readBatch([{ key: `${res}a` }, { prefix: res, limit: 5 }])
      expect(r.results.map((x) => x.kvs.map((kv) => kv.value))).toEqual([['a1'], ['a1']])
      expect(r.revision).toBeGreaterThanOrEqual(a.modRevision)
      expect(ours.readsFromMemory).toBe(before + 1)
      // A key the mirror does not hold (yet) is read from etcd, as a namespace missing from kube's
      // informer is looked up live: here one another server has just written.
      await other.create(`${res}b`, 'b1')
      const b = await ours.readBatch([{ key: `${res}b` }])
      expect(b.results[0]!.kvs.map((kv) => kv.value)).toEqual(['b1'])
      // GuaranteedUpdate's cached object: this store's own update at once, nothing for a missing key.
      const a2 = await ours.update(`${res}a`, 'a2', a.modRevision)
      expect(await ours.cached(`${res}a`)).toEqual({ ...a2, value: 'a2' })
      expect(await ours.cached(`${res}none`)).toBeUndefined()
      const plain = newStore()
      expect(await plain.cached(`${res}a`)).toBeUndefined() // no mirror: no copy
      plain.close()
    } finally {
      ours.close()
      other.close()
    }
  })

  it('serves a watch starting before the recent-events ring from etcd, then from the shared feed', async () => {
    const store = newStore({ hubLimits: { ringEvents: 2, ringBytes: 1 << 20, clientQueue: 1000 } })
    const ctl = new AbortController()
    try {
      const res = `/registry/gadgets-${fresh()}/`
      const start = await store.currentRevision()
      const first = store.watch(res, start, ctl.signal)[Symbol.asyncIterator]()
      const written: string[] = []
      for (let i = 0; i < 6; i++) {
        const kv = await store.create(`${res}k${i}`, `v${i}`)
        written.push(`put ${kv.key}=${kv.value}@${kv.modRevision}`)
      }
      expect(await events(first, 6)).toEqual(written) // the feed is past the ring's reach for `start` now
      const late = store.watch(res, start, ctl.signal)[Symbol.asyncIterator]()
      expect(await events(late, 6)).toEqual(written)
      const more = await store.create(`${res}k6`, 'v6')
      const line = `put ${more.key}=${more.value}@${more.modRevision}`
      expect(await events(late, 1)).toEqual([line])
      expect(await events(first, 1)).toEqual([line])
    } finally {
      ctl.abort()
      store.close()
    }
  })

  it('reports the compacted revision for reads and watches below it', async () => {
    const store = newStore()
    const ctl = new AbortController()
    try {
      const p = `/registry/compact-${fresh()}/`
      const a = await store.create(`${p}a`, '1')
      await store.update(`${p}a`, '2', a.modRevision)
      const at = await store.currentRevision()
      await store.compact(at)
      const listed = await failure(store.list(p, { revision: a.modRevision }))
      expect(listed).toMatchObject({ code: 'Compacted', revision: at })
      const watched = await failure(
        next(store.watch(p, a.modRevision - 1, ctl.signal)[Symbol.asyncIterator]()),
      )
      expect(watched).toBeInstanceOf(StoreError)
      expect(watched).toMatchObject({ code: 'Compacted', revision: at })
    } finally {
      ctl.abort()
      store.close()
    }
  })

  it("refuses a value over etcd's request size limit with TooLarge", async () => {
    const store = newStore()
    try {
      const big = JSON.stringify({ data: 'x'.repeat(2 * 1024 * 1024) })
      const e = await failure(store.create(`/registry/big-${fresh()}/x`, big))
      expect(e).toBeInstanceOf(StoreError)
      expect(e).toMatchObject({ code: 'TooLarge' })
    } finally {
      store.close()
    }
  })

  it("advances an idle watch's progress with etcd's progress notifications", async () => {
    const store = newStore()
    const ctl = new AbortController()
    try {
      const p = `/registry/idle-${fresh()}/`
      const start = await store.currentRevision()
      const w = store
        .watch(p, start, ctl.signal, { progressIntervalMs: 100 })
        [Symbol.asyncIterator]()
      const elsewhere = await store.create(`/registry/busy-${fresh()}/x`, 'x')
      for (;;) {
        const ev = await next(w)
        expect(ev.type).toBe('progress')
        if (ev.type === 'progress' && ev.revision >= elsewhere.modRevision) break
      }
    } finally {
      ctl.abort()
      store.close()
    }
  })

  it('waits for etcd up to the request timeout, then throws Unreachable; serves again once etcd is back, without a new client', async () => {
    const own = await startEtcd()
    const store = new EtcdStore(etcdClient({ endpoints: own.endpoints }), {
      requestTimeoutMs: 1_500,
    })
    const ctl = new AbortController()
    try {
      const p = `/registry/outage-${fresh()}/`
      const a = await store.create(`${p}a`, '1')
      const w = store.watch(p, a.modRevision, ctl.signal)[Symbol.asyncIterator]()
      const b = await store.create(`${p}b`, '2')
      expect(await events(w, 1)).toEqual([`put ${p}b=2@${b.modRevision}`])

      await own.members[0]!.kill()
      const started = Date.now()
      const down = await failure(store.get(`${p}a`))
      expect(down).toBeInstanceOf(StoreError)
      expect(down).toMatchObject({ code: 'Unreachable', key: `${p}a` })
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000)
      expect(await failure(store.update(`${p}a`, 'x', a.modRevision))).toMatchObject({
        code: 'Unreachable',
      })

      // A write made for a request gives up at that request's deadline, however long the store would
      // wait, and is not sent once etcd is back (the request was answered 504 by then): the update of
      // `a` below, at the revision this one would have replaced, succeeds.
      const patient = new EtcdStore(store.client, { requestTimeoutMs: 30_000 })
      const begun = Date.now()
      expect(
        await failure(patient.update(`${p}a`, 'late', a.modRevision, { deadline: begun + 400 })),
      ).toMatchObject({ code: 'Unreachable' })
      expect(Date.now() - begun).toBeLessThan(1_500)

      // A write sent while etcd is down waits for it (clientv3's WaitForReady) and lands once it is back.
      const waiting = patient.update(`${p}a`, '3', a.modRevision)
      await own.members[0]!.start()
      const c = await waiting
      expect(await events(w, 1)).toEqual([`put ${p}a=3@${c.modRevision}`])
      expect((await store.list(p)).kvs.map((kv) => kv.value)).toEqual(['3', '2'])
    } finally {
      ctl.abort()
      store.close()
      await own.stop()
    }
  })
})

describe('EtcdStore on etcd over TLS', () => {
  it('connects with --etcd-cafile, --etcd-certfile and --etcd-keyfile, and not without a client certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-etcd-tls-'))
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    }
    const ca = createCA('etcd-ca')
    const serving = signCertificate(ca, {
      subject: { commonName: 'etcd' },
      usage: 'server',
      hosts: ['127.0.0.1', 'localhost'],
    })
    const client = signCertificate(ca, {
      subject: { commonName: 'kube-apiserver-etcd-client' },
      usage: 'client',
    })
    const caFile = file('ca.crt', ca.certPem)
    const own = await startEtcd({
      tls: {
        certFile: file('etcd.crt', serving.certPem),
        keyFile: file('etcd.key', serving.keyPem),
        clientCAFile: caFile,
      },
    })
    const store = new EtcdStore(
      etcdClient({
        endpoints: own.endpoints,
        caFile,
        certFile: file('client.crt', client.certPem),
        keyFile: file('client.key', client.keyPem),
      }),
    )
    const anonymous = new EtcdStore(etcdClient({ endpoints: own.endpoints, caFile }), {
      requestTimeoutMs: 500,
    })
    try {
      expect(own.endpoints[0]).toMatch(/^https:/)
      const kv = await store.create('/registry/configmaps/default/tls', '{"tls":true}')
      expect((await store.get('/registry/configmaps/default/tls')).kv).toEqual(kv)
      expect(await failure(anonymous.currentRevision())).toMatchObject({ code: 'Unreachable' })
    } finally {
      store.close()
      anonymous.close()
      await own.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the watch hub behind EtcdStore (with a scripted etcd)', () => {
  interface Opened {
    prefix: string
    after: number
    sink: WatchSink
    cancelled: boolean
  }
  function scripted() {
    const opened: Opened[] = []
    const source: WatchSource = {
      open(prefix, after, sink) {
        const o: Opened = { prefix, after, sink, cancelled: false }
        opened.push(o)
        return {
          cancel: () => {
            o.cancelled = true
          },
        }
      },
    }
    return { opened, source }
  }
  const put = (key: string, rev: number): StoreEvent => ({
    type: 'put',
    kv: { key, value: `v${rev}`, createRevision: rev, modRevision: rev, version: 1 },
  })
  const line = (ev: StoreEvent) =>
    ev.type === 'progress' ? `progress@${ev.revision}` : `${ev.kv.key}@${ev.kv.modRevision}`
  async function pullLines(it: AsyncIterator<StoreEvent>, n: number): Promise<string[]> {
    const out: string[] = []
    while (out.length < n) out.push(line(await next(it)))
    return out
  }

  it('hands a catching-up watch over to the shared feed without gaps or repeats', async () => {
    const { opened, source } = scripted()
    const hub = new WatchHub(source, { ringEvents: 1, ringBytes: 1 << 20, clientQueue: 100 })
    const ctl = new AbortController()
    const first = hub.watch('/registry/pods/', 10, ctl.signal)[Symbol.asyncIterator]()
    const firstNext = pullLines(first, 3)
    opened[0]!.sink.events([
      put('/registry/pods/a', 11),
      put('/registry/pods/b', 12),
      put('/registry/pods/c', 13),
    ])
    expect(await firstNext).toEqual([
      '/registry/pods/a@11',
      '/registry/pods/b@12',
      '/registry/pods/c@13',
    ])

    // The ring holds one event (13): a watch from 10 reads 11..13 from etcd on a watch of its own.
    const late = hub.watch('/registry/pods/', 10, ctl.signal)[Symbol.asyncIterator]()
    const lateNext = pullLines(late, 5)
    await new Promise((r) => setTimeout(r, 0))
    expect(opened.map((o) => [o.prefix, o.after])).toEqual([
      ['/registry/pods/', 10],
      ['/registry/pods/', 10],
    ])
    opened[0]!.sink.events([put('/registry/pods/d', 14)]) // the feed moves on while it catches up: held
    opened[1]!.sink.events([put('/registry/pods/a', 11), put('/registry/pods/b', 12)])
    opened[1]!.sink.events([put('/registry/pods/c', 13)]) // reaches the feed's position when it came: joins
    expect(opened[1]!.cancelled).toBe(true)
    opened[0]!.sink.events([put('/registry/pods/e', 15)])
    expect(await lateNext).toEqual([
      '/registry/pods/a@11',
      '/registry/pods/b@12',
      '/registry/pods/c@13',
      '/registry/pods/d@14',
      '/registry/pods/e@15',
    ])
    expect(hub.feedCount).toBe(1)
    ctl.abort()
    hub.close()
  })

  it('sends progress at the feed position only when nothing else went out', async () => {
    const { opened, source } = scripted()
    const hub = new WatchHub(source)
    const ctl = new AbortController()
    const w = hub
      .watch('/registry/pods/ns/', 5, ctl.signal, { progressIntervalMs: 20 })
      [Symbol.asyncIterator]()
    expect(await pullLines(w, 1)).toEqual(['progress@5'])
    opened[0]!.sink.events([put('/registry/pods/other/x', 7)]) // not under this watch, but the feed saw 7
    opened[0]!.sink.progress(9)
    let seen = ''
    while (seen !== 'progress@9') seen = (await pullLines(w, 1))[0]!
    ctl.abort()
    hub.close()
  })

  it("ends every watch of a failed feed with the feed's error, and starts a new feed for the next watch", async () => {
    const { opened, source } = scripted()
    const hub = new WatchHub(source)
    const ctl = new AbortController()
    const a = hub.watch('/registry/pods/', 3, ctl.signal)[Symbol.asyncIterator]()
    const b = hub.watch('/registry/pods/x/', 3, ctl.signal)[Symbol.asyncIterator]()
    const pa = failure(next(a))
    const pb = failure(next(b))
    await new Promise((r) => setTimeout(r, 0))
    const compacted = new StoreError('Compacted', '/registry/pods/', undefined, 8)
    opened[0]!.sink.fail(compacted)
    expect(await pa).toBe(compacted)
    expect(await pb).toBe(compacted)
    const c = hub.watch('/registry/pods/', 8, ctl.signal)[Symbol.asyncIterator]()
    const pc = pullLines(c, 1)
    await new Promise((r) => setTimeout(r, 0))
    expect(opened).toHaveLength(2)
    opened[1]!.sink.events([put('/registry/pods/y', 9)])
    expect(await pc).toEqual(['/registry/pods/y@9'])
    ctl.abort()
    hub.close()
  })

  it('ends a watch whose client falls too far behind, instead of buffering without bound', async () => {
    const { opened, source } = scripted()
    const hub = new WatchHub(source, { ringEvents: 10, ringBytes: 1 << 20, clientQueue: 3 })
    const ctl = new AbortController()
    const w = hub.watch('/registry/pods/', 0, ctl.signal)[Symbol.asyncIterator]()
    const firstPull = w.next()
    await new Promise((r) => setTimeout(r, 0))
    opened[0]!.sink.events([1, 2, 3, 4, 5, 6].map((r) => put(`/registry/pods/p${r}`, r)))
    const got: string[] = []
    for (let r = await firstPull; !r.done; r = await w.next()) got.push(line(r.value))
    expect(got).toEqual(['/registry/pods/p1@1', '/registry/pods/p2@2', '/registry/pods/p3@3']) // then it ended
    ctl.abort()
    hub.close()
  })
})

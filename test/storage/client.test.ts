// DurableStore's side of the watch protocol, against a scripted socket: when it closes, asks for
// progress, acknowledges, and how it turns what the DO says into events, errors and endings.
import { describe, expect, it } from 'vitest'
import {
  DurableStore,
  type ClusterStoreStub,
  type WatchSocket,
} from '../../src/storage/durable/client'
import {
  ACK_STEP,
  CLOSE_RESTARTED,
  CLOSE_SLOW,
  encodeEvent,
} from '../../src/storage/durable/protocol'
import { StoreError, type StoreEvent } from '../../src/storage/store'

class ScriptedSocket implements WatchSocket {
  sent: string[] = []
  closedWith?: number
  private listeners: Record<string, ((e: never) => void)[]> = {}
  accept(): void {}
  send(msg: string): void {
    this.sent.push(msg)
  }
  close(code?: number): void {
    this.closedWith ??= code
  }
  addEventListener(type: string, listener: (e: never) => void): void {
    ;(this.listeners[type] ??= []).push(listener)
  }
  /** The DO sends a message. */
  deliver(msg: unknown): void {
    for (const l of this.listeners.message ?? []) l({ data: JSON.stringify(msg) } as never)
  }
  /** The DO closes the socket. */
  end(code: number, reason = ''): void {
    for (const l of this.listeners.close ?? []) l({ code, reason } as never)
  }
}

function storeWith(socket: ScriptedSocket): { store: DurableStore; urls: string[] } {
  const urls: string[] = []
  const unused = () => Promise.reject(new Error('not used here'))
  const stub: ClusterStoreStub = {
    get: unused,
    list: unused,
    readBatch: unused,
    create: unused,
    update: unused,
    delete: unused,
    compact: unused,
    currentRevision: unused,
    lastChange: unused,
    fetch: async (url) => {
      urls.push(url)
      return { status: 101, webSocket: socket, text: async () => '' }
    },
  }
  return { store: new DurableStore(stub), urls }
}

const put = (rev: number, key: string, value: string) =>
  encodeEvent({ key, value, createRevision: rev, modRevision: rev, version: 1 }, undefined, false)

describe('DurableStore.watch', () => {
  it('opens the watch URL and yields events, then progress, in order', async () => {
    const ws = new ScriptedSocket()
    const { store, urls } = storeWith(ws)
    const it = store
      .watch('/registry/pods/a b/', 7, new AbortController().signal)
      [Symbol.asyncIterator]()
    const first = it.next()
    await new Promise((r) => setTimeout(r, 5))
    ws.deliver({
      t: 'e',
      e: [put(8, '/registry/pods/a b/x', '1'), put(9, '/registry/pods/a b/y', '2')],
    })
    ws.deliver({ t: 'p', r: 12 })
    const got: StoreEvent[] = [
      (await first).value,
      (await it.next()).value,
      (await it.next()).value,
    ]
    expect(urls).toEqual(['https://cluster/watch?prefix=%2Fregistry%2Fpods%2Fa%20b%2F&after=7'])
    expect(got.map((e) => (e.type === 'progress' ? e.revision : e.kv.modRevision))).toEqual([
      8, 9, 12,
    ])
    expect(got[2]).toEqual({ type: 'progress', revision: 12 })
    await it.return?.(undefined)
    expect(ws.closedWith).toBe(1000)
  })

  it('closes the socket when the signal aborts', async () => {
    const ws = new ScriptedSocket()
    const { store } = storeWith(ws)
    const ctl = new AbortController()
    const it = store.watch('/r/', 1, ctl.signal)[Symbol.asyncIterator]()
    const pending = it.next()
    await new Promise((r) => setTimeout(r, 5))
    ctl.abort()
    expect((await pending).done).toBe(true)
    expect(ws.closedWith).toBe(1000)
  })

  it('answers progress itself after a quiet interval, at the revision it has seen, asking the object nothing', async () => {
    // A question would wake an idle cluster's object from hibernation once a minute per watcher.
    const ws = new ScriptedSocket()
    const { store } = storeWith(ws)
    const ctl = new AbortController()
    const it = store.watch('/r/', 1, ctl.signal, { progressIntervalMs: 40 })[Symbol.asyncIterator]()
    const pending = it.next()
    await new Promise((r) => setTimeout(r, 30))
    ws.deliver({ t: 'e', e: [put(2, '/r/a', '1')] }) // activity restarts the wait
    expect((await pending).value).toMatchObject({ type: 'put', kv: { modRevision: 2 } })
    const t0 = Date.now()
    expect((await it.next()).value).toEqual({ type: 'progress', revision: 2 })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(30)
    // Progress the object sends on its own (its compaction tick) moves the revision.
    ws.deliver({ t: 'p', r: 9 })
    expect((await it.next()).value).toEqual({ type: 'progress', revision: 9 })
    expect((await it.next()).value).toEqual({ type: 'progress', revision: 9 })
    expect(ws.sent).toEqual([])
    ctl.abort()
  })

  it('acknowledges what the consumer took, in steps', async () => {
    const ws = new ScriptedSocket()
    const { store } = storeWith(ws)
    const ctl = new AbortController()
    const it = store.watch('/r/', 1, ctl.signal)[Symbol.asyncIterator]()
    const first = it.next()
    await new Promise((r) => setTimeout(r, 5))
    const value = 'x'.repeat(ACK_STEP / 4)
    for (let rev = 2; rev < 7; rev++) ws.deliver({ t: 'e', e: [put(rev, '/r/a', value)] })
    await first
    expect(ws.sent).toEqual([]) // taken, but the message it came in is not acknowledged until the next is asked for
    for (let i = 0; i < 4; i++) await it.next()
    expect(ws.sent).toHaveLength(1)
    const ack = JSON.parse(ws.sent[0]!) as { t: string; n: number }
    expect(ack.t).toBe('a')
    expect(ack.n).toBeGreaterThanOrEqual(ACK_STEP)
    ctl.abort()
  })

  it('throws the StoreError the DO reports, with its revision', async () => {
    const ws = new ScriptedSocket()
    const { store } = storeWith(ws)
    const it = store.watch('/r/', 1, new AbortController().signal)[Symbol.asyncIterator]()
    const pending = it.next()
    await new Promise((r) => setTimeout(r, 5))
    ws.deliver({ t: 'x', c: 'Compacted', r: 42 })
    const e = await pending.then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(e).toBeInstanceOf(StoreError)
    expect(e).toMatchObject({ code: 'Compacted', revision: 42, key: '/r/' })
    expect(ws.closedWith).toBe(1000)
  })

  it('ends quietly when dropped as too slow or cut off by a restart, and throws on any other close', async () => {
    const slow = new ScriptedSocket()
    const a = storeWith(slow)
      .store.watch('/r/', 1, new AbortController().signal)
      [Symbol.asyncIterator]()
    const pa = a.next()
    await new Promise((r) => setTimeout(r, 5))
    slow.deliver({ t: 'e', e: [put(2, '/r/a', '1')] })
    slow.deliver({ t: 'c', c: CLOSE_SLOW, m: 'watcher fell behind' })
    expect((await pa).done).toBe(false)
    expect((await a.next()).done).toBe(true)

    // Cut off by a restart with events perhaps unsent: the consumer watches again from what it took.
    const restarted = new ScriptedSocket()
    const r = storeWith(restarted)
      .store.watch('/r/', 1, new AbortController().signal)
      [Symbol.asyncIterator]()
    const pr = r.next()
    await new Promise((r) => setTimeout(r, 5))
    restarted.deliver({ t: 'c', c: CLOSE_RESTARTED, m: 'watch interrupted by a restart' })
    expect((await pr).done).toBe(true)

    const reset = new ScriptedSocket()
    const b = storeWith(reset)
      .store.watch('/r/', 1, new AbortController().signal)
      [Symbol.asyncIterator]()
    const pb = b.next()
    await new Promise((r) => setTimeout(r, 5))
    reset.end(1006, 'Durable Object reset')
    await expect(pb).rejects.toThrow(/closed by the store \(1006 Durable Object reset\)/)
  })
})

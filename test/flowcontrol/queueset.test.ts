// Shuffle sharding and one priority level's queues: hands are distinct and stable, a request runs when a
// seat is free, waits in the shortest queue of its hand otherwise, and is turned away when that queue is
// full, when it waited too long, or when its client went away; waiting requests are served in turn.
import { describe, expect, it, vi } from 'vitest'
import { deal, hashFlowID } from '../../src/flowcontrol/shuffle-sharding'
import { QueueSet, type RequestDescription } from '../../src/flowcontrol/queueset'
import { requiredEntropyBits } from '../../src/registry/builtin/flowcontrol'

const req = (distinguisher: string, flowSchema = 'fs'): RequestDescription => ({
  flowSchema,
  distinguisher,
  hash: hashFlowID(flowSchema, distinguisher),
  seats: 1,
})

describe('shuffle sharding', () => {
  it('deals handSize distinct queues, the same ones for the same flow', () => {
    for (const d of ['alice', 'bob', 'carol', 'system:serviceaccount:a:b']) {
      const hand = deal(hashFlowID('global-default', d), 128, 6)
      expect(hand).toHaveLength(6)
      expect(new Set(hand).size).toBe(6)
      for (const q of hand) expect(q >= 0 && q < 128).toBe(true)
      expect(deal(hashFlowID('global-default', d), 128, 6)).toEqual(hand)
    }
    expect(deal(hashFlowID('fs', 'a'), 4, 4).sort()).toEqual([0, 1, 2, 3])
  })

  it('spreads flows over the deck', () => {
    const firsts = new Set<number>()
    for (let i = 0; i < 200; i++) firsts.add(deal(hashFlowID('fs', `user-${i}`), 16, 1)[0])
    expect(firsts.size).toBe(16)
  })

  it("computes kube's entropy bound for validation", () => {
    expect(requiredEntropyBits(128, 6)).toBe(42)
    expect(requiredEntropyBits(10000, 10)).toBeGreaterThan(60)
  })
})

describe('QueueSet', () => {
  it('runs requests while seats are free, queues the rest and dispatches them as seats free up', async () => {
    const qs = new QueueSet({ queues: 8, handSize: 2, queueLengthLimit: 5 }, 2, 60_000)
    const a = await qs.enqueue(req('a'))
    const b = await qs.enqueue(req('b'))
    expect(a.executed && b.executed).toBe(true)
    let cStarted = false
    const c = qs.enqueue(req('c')).then((o) => {
      cStarted = true
      return o
    })
    await Promise.resolve()
    expect(cStarted).toBe(false)
    expect(qs.waitingRequests).toBe(1)
    if (a.executed) a.finish()
    const co = await c
    expect(co.executed).toBe(true)
    expect(qs.executingRequests).toBe(2)
    expect(qs.dispatched).toBe(3)
  })

  it('rejects a request whose queue is full with queue-full, and one of a Reject level with concurrency-limit', async () => {
    const qs = new QueueSet({ queues: 1, handSize: 1, queueLengthLimit: 1 }, 1, 60_000)
    expect((await qs.enqueue(req('a'))).executed).toBe(true)
    void qs.enqueue(req('a'))
    expect(await qs.enqueue(req('a'))).toMatchObject({ executed: false, reason: 'queue-full' })
    const reject = new QueueSet(undefined, 1, 60_000)
    expect((await reject.enqueue(req('a'))).executed).toBe(true)
    expect(await reject.enqueue(req('b'))).toMatchObject({
      executed: false,
      reason: 'concurrency-limit',
    })
    expect(reject.rejected).toBe(1)
  })

  it('times out a request that waits longer than the queue wait limit, and drops a cancelled one', async () => {
    vi.useFakeTimers()
    try {
      const qs = new QueueSet({ queues: 4, handSize: 1, queueLengthLimit: 10 }, 1, 1000)
      await qs.enqueue(req('a'))
      const late = qs.enqueue(req('b'))
      const ctl = new AbortController()
      const gone = qs.enqueue(req('c'), () => ctl.signal)
      ctl.abort()
      expect(await gone).toMatchObject({ executed: false, reason: 'cancelled' })
      vi.advanceTimersByTime(1001)
      expect(await late).toMatchObject({ executed: false, reason: 'time-out' })
      expect([qs.timedOut, qs.cancelled, qs.waitingRequests]).toEqual([1, 1, 0])
    } finally {
      vi.useRealTimers()
    }
  })

  it('serves queues in turn, so a heavy flow does not starve a light one', async () => {
    // One seat; flow "heavy" queues five requests before "light" queues one.
    const qs = new QueueSet({ queues: 64, handSize: 1, queueLengthLimit: 50 }, 1, 60_000)
    const first = await qs.enqueue(req('heavy'))
    const order: string[] = []
    const pending = [
      ...Array.from({ length: 5 }, () => ['heavy', qs.enqueue(req('heavy'))] as const),
      ['light', qs.enqueue(req('light'))] as const,
    ].map(([who, p]) =>
      p.then((o) => {
        order.push(who)
        if (o.executed) setTimeout(o.finish, 0)
      }),
    )
    if (first.executed) first.finish()
    await Promise.all(pending)
    // heavy and light hash to different queues (checked), and light is served second, not last.
    expect(deal(req('heavy').hash, 64, 1)).not.toEqual(deal(req('light').hash, 64, 1))
    expect(order.indexOf('light')).toBeLessThanOrEqual(1)
  })

  it('picks the shortest queue of the hand', async () => {
    const qs = new QueueSet({ queues: 8, handSize: 8, queueLengthLimit: 1 }, 0, 60_000)
    // Every flow's hand is the whole deck: eight requests fill the eight queues, one each.
    for (let i = 0; i < 8; i++) void qs.enqueue(req(`u${i % 2}`))
    expect(qs.queues.map((q) => q.waiting.length)).toEqual([1, 1, 1, 1, 1, 1, 1, 1])
    expect(await qs.enqueue(req('u0'))).toMatchObject({ reason: 'queue-full' })
  })
})

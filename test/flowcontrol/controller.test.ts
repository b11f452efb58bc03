// The server's seats divided among priority levels as kube divides them, borrowing between levels, and
// the 429 answer's Retry-After.
import { describe, expect, it } from 'vitest'
import { BORROWING_PERIOD_MS, FlowControl, tabulate } from '../../src/flowcontrol/controller'
import { flowcontrolMetricsIn } from '../../src/metrics/flowcontrol'
import { Registry as MetricsRegistry } from '../../src/metrics/registry'
import { parseRequestInfo } from '../../src/server/filters/request-info'

function setup(serverConcurrencyLimit = 600) {
  let now = 0
  const metrics = flowcontrolMetricsIn(new MetricsRegistry())
  const fc = new FlowControl({
    serverConcurrencyLimit,
    requestWaitLimitMs: 60_000,
    now: () => now,
    metrics,
  })
  const gauge = (name: keyof typeof metrics, level: string) =>
    (metrics[name] as any).samples().find((s: any) => s.labels[0] === level)?.value
  return { fc, metrics, gauge, advance: (ms: number) => (now += ms) }
}
const info = (path: string) => parseRequestInfo('GET', new URL(`https://h${path}`))
const jane = { username: 'jane', groups: ['system:authenticated'] }

describe('concurrency limits', () => {
  it('divides 400 + 200 seats by nominalConcurrencyShares, rounding up', () => {
    const { gauge } = setup()
    // Shares: 0 + 5 + 30 + 40 + 10 + 40 + 100 + 20 = 245.
    const nominal = (l: string) => gauge('nominalLimitSeats', l)
    expect(
      [
        'exempt',
        'catch-all',
        'system',
        'node-high',
        'leader-election',
        'workload-high',
        'workload-low',
        'global-default',
      ].map(nominal),
    ).toEqual([0, 13, 74, 98, 25, 98, 245, 49])
    // Bounds from lendablePercent (global-default lends 50%) and no borrowing limit (the server's).
    // round(49 * 50 / 100) = 25 lendable.
    expect(gauge('lowerLimitSeats', 'global-default')).toBe(24)
    expect(gauge('upperLimitSeats', 'global-default')).toBe(49 + 600)
  })

  it('lets a busy level borrow what idle levels can lend, after a borrowing period', async () => {
    const { fc, gauge, advance } = setup()
    const running: (() => void)[] = []
    // 49 seats of global-default in use, 20 more waiting.
    const waiting: Promise<unknown>[] = []
    for (let i = 0; i < 69; i++) {
      const p = fc.admit({ ...jane, username: `u${i}` }, info('/api/v1/pods'))
      if (i < 49) {
        const a = await p
        if (a.executed) running.push(a.finish)
      } else waiting.push(p)
    }
    expect(gauge('currentLimitSeats', 'global-default')).toBe(49)
    advance(BORROWING_PERIOD_MS)
    // The next request triggers the adjustment: the 20 waiting are dispatched with borrowed seats.
    const next = await fc.admit(jane, info('/api/v1/pods'))
    expect(next.executed).toBe(true)
    expect(gauge('currentLimitSeats', 'global-default')).toBeGreaterThanOrEqual(70)
    // Idle levels keep at least what they may not lend.
    expect(gauge('currentLimitSeats', 'leader-election')).toBe(25)
    expect(gauge('currentLimitSeats', 'workload-low')).toBeGreaterThanOrEqual(
      gauge('lowerLimitSeats', 'workload-low'),
    )
    const admitted = await Promise.all(waiting)
    expect(admitted.every((a: any) => a.executed)).toBe(true)
  })

  it('answers a Reject level at once with concurrency-limit and a Retry-After of at least 1', async () => {
    // With only the mandatory levels, catch-all (Reject) has all the shares: one seat of one.
    const { fc } = setup(1)
    fc.apply(
      [
        {
          metadata: { name: 'catch-all', uid: 'fs-uid' },
          spec: {
            priorityLevelConfiguration: { name: 'catch-all' },
            matchingPrecedence: 10000,
            rules: [
              {
                subjects: [{ kind: 'Group', group: { name: 'system:authenticated' } }],
                nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
              },
            ],
          },
        },
      ],
      [],
    )
    const first = await fc.admit(jane, info('/version'))
    expect(first.executed).toBe(true)
    const second = await fc.admit(jane, info('/version'))
    expect(second).toMatchObject({ executed: false, reason: 'concurrency-limit' })
    if (!second.executed) expect(second.retryAfterSeconds).toBeGreaterThanOrEqual(1)
  })
})

describe('dump tables', () => {
  it("align cells as Go's tabwriter does in kube's dumps", () => {
    expect(
      tabulate([
        ['PriorityLevelName', 'ActiveQueues', 'IsIdle'],
        ['exempt', '0', 'true'],
      ]),
    ).toBe('PriorityLevelName, ActiveQueues, IsIdle\n' + 'exempt,            0,            true\n')
  })
})

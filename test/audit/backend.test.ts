// The webhook backend's batches (plugin/pkg/audit/buffered): a batch leaves at its max size or after its
// max wait, as one EventList; a failed POST is retried with backoff; shutdown sends what is held.
import { describe, expect, it } from 'vitest'
import { BufferedWebhookBackend, DEFAULT_WEBHOOK_BATCH } from '../../src/audit/backend'

function target(statuses: number[] = []) {
  const posts: { body: any; auth: string | null }[] = []
  const fetch = (async (_url: string, init: RequestInit) => {
    posts.push({
      body: JSON.parse(init.body as string),
      auth: new Headers(init.headers).get('authorization'),
    })
    return new Response('{}', { status: statuses.shift() ?? 200 })
  }) as typeof globalThis.fetch
  return { posts, target: { url: 'http://hook/', bearerToken: 't', fetch } }
}
const cfg = { ...DEFAULT_WEBHOOK_BATCH, maxBatchSize: 3, maxBatchWaitMs: 50, initialBackoffMs: 5 }
const ev = (i: number) => JSON.stringify({ kind: 'Event', auditID: String(i) })

describe('batched audit webhook', () => {
  it('sends a full batch at once and the rest after the max wait, as EventLists', async () => {
    const { posts, target: t } = target()
    const b = new BufferedWebhookBackend(t, cfg)
    b.processEvents([ev(1), ev(2), ev(3), ev(4)])
    await new Promise((r) => setTimeout(r, 10))
    expect(posts.map((p) => p.body.items.length)).toEqual([3])
    expect(posts[0]!.body).toMatchObject({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      metadata: {},
    })
    expect(posts[0]!.auth).toBe('Bearer t')
    await b.delivered()
    expect(posts.map((p) => p.body.items.map((e: any) => e.auditID))).toEqual([
      ['1', '2', '3'],
      ['4'],
    ])
  })

  it('retries a batch the webhook fails, and drops it (counted) after the last try', async () => {
    const { posts, target: t } = target([500, 503])
    const errors: number[] = []
    const b = new BufferedWebhookBackend(
      t,
      cfg,
      () => {},
      (n) => errors.push(n),
    )
    b.processEvents([ev(1)])
    await b.flush()
    expect(posts).toHaveLength(3)
    expect(errors).toEqual([])
    const bad = target([400])
    const b2 = new BufferedWebhookBackend(
      bad.target,
      cfg,
      () => {},
      (n) => errors.push(n),
    )
    b2.processEvents([ev(2), ev(3)])
    await b2.flush()
    expect(bad.posts).toHaveLength(1) // a 4xx is not retried
    expect(errors).toEqual([2])
  })

  it('drops events past the buffer size and sends the rest on shutdown', async () => {
    const { posts, target: t } = target()
    const b = new BufferedWebhookBackend(
      t,
      { ...cfg, bufferSize: 2, maxBatchSize: 2, maxBatchWaitMs: 60_000 },
      () => {},
    )
    expect(b.processEvents([ev(1)])).toBe(true)
    await b.shutdown()
    expect(posts.map((p) => p.body.items.length)).toEqual([1])
    expect(b.processEvents([ev(2)])).toBe(false)
  })
})

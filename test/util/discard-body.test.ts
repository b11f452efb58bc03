// discardBody: the rest of a refused request body is read to its end, or for a bounded time.
import { describe, expect, it } from 'vitest'
import { discardBody } from '../../src/util/http'

describe('discardBody', () => {
  it('reads a body to its end', async () => {
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (++pulled > 100) return c.close()
        c.enqueue(new Uint8Array(1024))
      },
    })
    await discardBody(body)
    expect(pulled).toBe(101)
  })

  it('stops at the deadline and cancels what is left', async () => {
    let cancelled = false
    // A client that declares more than it sends, and never sends the rest.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10))
      },
      cancel() {
        cancelled = true
      },
    })
    const t = Date.now()
    await discardBody(body, 50)
    expect(Date.now() - t).toBeGreaterThanOrEqual(45)
    expect(cancelled).toBe(true)
  })

  it('goes on from a reader that already read part of the body', async () => {
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (++pulled > 3) return c.close()
        c.enqueue(new Uint8Array(1))
      },
    })
    const reader = body.getReader()
    await reader.read()
    await discardBody(reader)
    expect(pulled).toBe(4)
  })
})

// The request deadline on its own, in a two-route app: the filter needs only the request info before it.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { parseRequestInfo, type RequestInfo } from '../../src/server/filters/request-info'
import {
  isLongRunning,
  REQUEST_DEADLINE,
  withRequestDeadline,
} from '../../src/server/filters/request-deadline'
import { respondError } from '../../src/api/negotiation'
import { toStatusError } from '../../src/server/errors'

function app(maxMs: number, handlerMs: number) {
  const a = new Hono<{ Variables: { info: RequestInfo } }>()
  a.onError((err) => respondError(toStatusError(err)))
  a.use('*', async (c, next) => {
    c.set('info', parseRequestInfo(c.req.method, new URL(c.req.url)))
    await next()
  })
  a.use('*', withRequestDeadline(maxMs))
  const slow = async () => {
    await new Promise((r) => setTimeout(r, handlerMs))
    return new Response('{"kind":"ConfigMapList"}')
  }
  a.get('/api/v1/configmaps', slow)
  a.post('/api/v1/namespaces/default/configmaps', slow)
  return a
}

describe('withRequestDeadline', () => {
  it('hands the handlers the deadline it answers by (for their store writes), and a watch none', async () => {
    const a = new Hono<{ Variables: { info: RequestInfo; [REQUEST_DEADLINE]?: number } }>()
    a.use('*', async (c, next) => {
      c.set('info', parseRequestInfo(c.req.method, new URL(c.req.url)))
      await next()
    })
    a.use('*', withRequestDeadline(60_000))
    a.get('/api/v1/configmaps', (c) => c.json({ deadline: c.get(REQUEST_DEADLINE) ?? null }))
    const before = Date.now()
    const { deadline } = (await (await a.request('/api/v1/configmaps?timeout=2s')).json()) as {
      deadline: number
    }
    expect(deadline).toBeGreaterThanOrEqual(before + 2_000)
    expect(deadline).toBeLessThanOrEqual(Date.now() + 2_000)
    expect(await (await a.request('/api/v1/configmaps?watch=1')).json()).toEqual({ deadline: null })
  })

  it("answers a read that runs over with the timeout filter's bare 504 Status", async () => {
    const r = await app(50, 2000).request('/api/v1/configmaps')
    expect(r.status).toBe(504)
    expect(await r.json()).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'Timeout: request did not complete within the allotted timeout',
      reason: 'Timeout',
      details: {},
      code: 504,
    })
  })

  it("answers a write that runs over with the finisher's 504 Status", async () => {
    const r = await app(50, 2000).request('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
    })
    expect(r.status).toBe(504)
    expect(await r.json()).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      message:
        'Timeout: request did not complete within requested timeout - context deadline exceeded',
    })
  })

  it('lets a request finish within its deadline, and takes a shorter ?timeout= than the maximum', async () => {
    expect((await app(2000, 10).request('/api/v1/configmaps')).status).toBe(200)
    expect((await app(2000, 500).request('/api/v1/configmaps?timeout=50ms')).status).toBe(504)
    // timeout=0s and one past the maximum leave the maximum in force.
    expect((await app(2000, 10).request('/api/v1/configmaps?timeout=0s')).status).toBe(200)
    expect((await app(50, 500).request('/api/v1/configmaps?timeout=1h')).status).toBe(504)
  })

  it("refuses a timeout Go cannot parse with kube's 400", async () => {
    const r = await app(2000, 10).request('/api/v1/configmaps?timeout=5')
    expect(r.status).toBe(400)
    expect(((await r.json()) as { message: string }).message).toBe(
      'invalid timeout specified in the request URL - time: missing unit in duration "5"',
    )
  })

  it('never cuts a watch, in any spelling of the parameter, nor exec, attach, log, port-forward or proxy', async () => {
    for (const watch of ['true', 'True', '1', '']) {
      expect((await app(50, 200).request(`/api/v1/configmaps?watch=${watch}`)).status).toBe(200)
    }
    const info = (path: string, method = 'GET') =>
      parseRequestInfo(method, new URL(`https://x${path}`))
    for (const sub of ['exec', 'attach', 'log', 'portforward', 'proxy']) {
      expect(isLongRunning(info(`/api/v1/namespaces/d/pods/p/${sub}`, 'POST'))).toBe(true)
    }
    expect(isLongRunning(info('/api/v1/watch/namespaces/d/pods'))).toBe(true)
    expect(isLongRunning(info('/api/v1/namespaces/d/pods/p/status'))).toBe(false)
    expect(isLongRunning(info('/api/v1/namespaces/d/pods?watch=false'))).toBe(false)
  })
})

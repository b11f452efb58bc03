// Answers the Worker gives before it reads a request body (413 from the declared Content-Length, 401),
// through the library's listener and Miniflare: workerd closes a connection with request bytes still
// unread, and the reset took the answer with it. The client must get kube-apiserver's Status, whole,
// over HTTPS and over plain HTTP, and the server must keep serving.
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { start, type EdgeServer } from '../../src/node/testing'

const CM = '/api/v1/namespaces/default/configmaps'
/** kube-apiserver's --max-request-bytes default, and one 64 KiB chunk more. */
const OVER_LIMIT = 3 * 1024 * 1024 + 64 * 1024

interface Answer {
  status: number
  body: string
}

/** A POST whose body goes out in 64 KiB chunks, as a client's upload does, declared or chunked. */
function post(
  s: EdgeServer,
  path: string,
  size: number,
  { declared = true, token = s.token }: { declared?: boolean; token?: string } = {},
): Promise<Answer> {
  return call(s, 'POST', path, { size, declared, token })
}

function call(
  s: EdgeServer,
  method: string,
  path: string,
  { size, declared = true, token = s.token }: { size?: number; declared?: boolean; token?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = s.url.startsWith('https:') ? httpsRequest : httpRequest
    const req = send(
      `${s.url}${path}`,
      {
        method,
        ca: s.caCert,
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${token}`,
          ...(size !== undefined && declared ? { 'Content-Length': String(size) } : {}),
        },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    if (size === undefined) req.end()
    else Readable.from(chunks(size)).pipe(req)
  })
}

function* chunks(size: number): Generator<Buffer> {
  const prefix = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"x":"'
  const suffix = '"}}'
  yield Buffer.from(prefix)
  let left = size - prefix.length - suffix.length
  const chunk = Buffer.alloc(64 * 1024, 'a')
  while (left > 0) {
    const n = Math.min(left, chunk.length)
    yield chunk.subarray(0, n)
    left -= n
  }
  yield Buffer.from(suffix)
}

const tooLarge = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Request entity too large: limit is 3145728',
  reason: 'RequestEntityTooLarge',
  code: 413,
}

describe.each(['https', 'http'] as const)('over %s', (protocol) => {
  let s: EdgeServer
  beforeAll(async () => {
    s = await start({ protocol })
  })
  afterAll(async () => {
    await s?.dispose()
  })

  it('answers a body declared over the request limit with 413, as kube-apiserver does', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await post(s, CM, OVER_LIMIT)
      expect(r.status).toBe(413)
      expect(JSON.parse(r.body)).toEqual(tooLarge)
    }
  })

  it('answers a chunked body that grows over the request limit with 413', async () => {
    const r = await post(s, CM, OVER_LIMIT, { declared: false })
    expect(r.status).toBe(413)
    expect(JSON.parse(r.body)).toEqual(tooLarge)
  })

  it('answers an unauthenticated upload with 401 before reading it', async () => {
    const r = await post(s, CM, OVER_LIMIT, { token: 'not-a-token' })
    expect(r.status).toBe(401)
    expect(JSON.parse(r.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    })
  })

  it('keeps serving, and stored nothing', async () => {
    expect((await call(s, 'GET', `${CM}/big`, {})).status).toBe(404)
    expect((await post(s, CM, 1024)).status).toBe(201)
  })
})

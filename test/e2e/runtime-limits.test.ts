// Where the runtime, not the server, decides: long label selectors and large request headers. kube-apiserver
// (Go's net/http with MaxHeaderBytes 1 MiB) serves a 64 KiB label selector and answers past 1 MiB with 431.
// Node mode does the same; under `npm start` the HTTPS listener in front of workerd does too, and workerd
// behind it refuses a request line past ~64 KiB and headers past 128 KiB itself, before the Worker runs (the
// README's list of differences says so). Both listeners keep an idle connection as kube's does.
// The URL limit is wrangler dev's stack's (its proxy Worker copies the URL into an MF-Original-URL header,
// so the URL counts twice against workerd's 128 KiB of headers): this file runs on `npm start` itself, not
// on the in-process server, which serves the 64 KiB selector.
import { connect } from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NpmStartServer as LocalServer } from './harness'

let server: LocalServer
const NS = 'limits'
const CM = `/api/v1/namespaces/${NS}/configmaps`

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'ns', NS)
  await server.k('create', 'configmap', 'labelled', '-n', NS)
  await server.k('label', 'configmap', 'labelled', '-n', NS, 'k0=v')
})
afterAll(async () => {
  await server?.dispose()
})

/** A label selector of valid terms (k0=v,k1=v,...) at least `bytes` long. */
function selector(bytes: number): string {
  let s = ''
  for (let i = 0; s.length < bytes; i++) s += `${s ? ',' : ''}k${i}=v`
  return s
}

/**
 * The headers past the limit, sent over a raw TLS connection, and what came back before the server closed
 * it. A server that refuses a request while the client still writes it may reset the connection under the
 * client's write (Node's TLS server does now and then, though it reads on for a moment as Go's lingering
 * close does); Go's client returns the answer it already read, and so does this one. The answer comes
 * before authentication, so no credential is sent.
 */
function sendOversizedHeaders(url: string, path: string, headerBytes: number): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    let received = ''
    const socket = connect(
      { host: hostname, port: Number(port), rejectUnauthorized: false },
      () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nX-Padding: ${'a'.repeat(headerBytes)}\r\n\r\n`,
        )
      },
    )
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (received += d))
    socket.on('error', (e) => (received ? resolve(received) : reject(e)))
    socket.on('close', () => resolve(received))
  })
}

describe('limits of the runtime', () => {
  it('serves a 16 KiB label selector in both runtimes, as kube-apiserver does', async () => {
    const r = await server.kubectl(['get', 'configmaps', '-n', NS, '-l', selector(16 * 1024)])
    expect(r).toMatchObject({ code: 0, stderr: `No resources found in ${NS} namespace.\n` })
  })

  it("answers a label selector labels.Parse refuses with kube's 400 Status, however long", async () => {
    const value = 'x'.repeat(30 * 1024)
    const r = await server.kubectl(['get', 'configmaps', '-n', NS, '-l', `k0=${value}`])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      `unable to parse requirement: values[0][k0]: Invalid value: "${value}": must be no more than 63 characters`,
    )
  })

  it('a 64 KiB label selector: served in Node mode; refused by workerd with 431 before the Worker runs', async () => {
    const r = await server.kubectl(['get', 'configmaps', '-n', NS, '-l', selector(64 * 1024)])
    if (server.runtime === 'node') {
      expect(r).toMatchObject({ code: 0, stderr: `No resources found in ${NS} namespace.\n` })
    } else {
      expect(r.code).not.toBe(0)
      expect(r.stderr).toBe(
        'Error from server: the server responded with the status code 431 but did not return more information (get configmaps)\n',
      )
    }
  })

  it("a 200 KiB header: served in Node mode (under kube's 1 MiB); 431 from workerd (over its 128 KiB)", async () => {
    const r = await server.request('GET', CM, undefined, { 'X-Padding': 'a'.repeat(200 * 1024) })
    if (server.runtime === 'node') {
      expect(r.status).toBe(200)
      expect(
        JSON.parse(r.body).items.map((o: { metadata: { name: string } }) => o.metadata.name),
      ).toContain('labelled')
    } else {
      expect({ status: r.status, body: r.body, type: r.headers['content-type'] }).toEqual({
        status: 431,
        body: 'ERROR: header too large.',
        type: 'text/plain',
      })
    }
  })

  it("headers past 1 MiB get Go's 431 text from the listener, in both runtimes", async () => {
    const answer = await sendOversizedHeaders(server.url, CM, 1100 * 1024)
    const [head = '', body] = answer.split('\r\n\r\n')
    const r = {
      status: Number(head.split(' ')[1]),
      body,
      headers: { 'content-type': /^content-type: (.*)$/im.exec(head)?.[1] },
    }
    expect({ status: r.status, body: r.body, type: r.headers['content-type'] }).toEqual({
      status: 431,
      body: '431 Request Header Fields Too Large',
      type: 'text/plain; charset=utf-8',
    })
    // The server keeps serving.
    expect((await server.request('GET', `${CM}/labelled`)).status).toBe(200)
  })

  it("keeps an idle connection open past 5 s (kube's IdleTimeout is 90 s), and answers on it", async () => {
    // kubectl drain sends its next eviction exactly 5 s after a 429, on the same connection; a listener that
    // closed idle connections at 5 s (Node's default, workerd's own) met it with EOF now and then.
    const { hostname, port } = new URL(server.url)
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false })
    socket.setEncoding('utf8')
    let received = ''
    let closed = false
    socket.on('data', (d: string) => (received += d))
    socket.on('close', () => (closed = true))
    const ask = async () => {
      received = ''
      socket.write(`GET /livez HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`)
      for (let i = 0; i < 100 && !received.includes('\r\n\r\n'); i++) await sleep(50)
      return received.split('\r\n')[0]
    }
    try {
      expect(await ask()).toBe('HTTP/1.1 200 OK')
      await sleep(6_000)
      expect(closed).toBe(false)
      expect(await ask()).toBe('HTTP/1.1 200 OK')
    } finally {
      socket.destroy()
    }
  })
})

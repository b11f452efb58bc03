// A small HTTPS client for setup and for the loops autocannon cannot express: keep-alive, the
// server's CA, a bearer token, fixed concurrency.
import { Agent, request as httpsRequest } from 'node:https'
import { request as httpRequest, Agent as HttpAgent } from 'node:http'

export class Client {
  constructor(base, { token, ca, maxSockets = 32, headers = {} } = {}) {
    this.base = new URL(base)
    this.token = token
    this.headers = headers // sent with every request (e.g. those wrangler dev's proxy adds, see directTarget)
    this.https = this.base.protocol === 'https:'
    this.agent = this.https ? new Agent({ keepAlive: true, maxSockets, ca }) : new HttpAgent({ keepAlive: true, maxSockets })
  }

  /** → {status, body (string), json()} ; never throws on an HTTP status. */
  request(method, path, { body, headers = {}, timeoutMs = 120_000 } = {}) {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    const h = { ...this.headers, ...headers }
    if (this.token) h.authorization = `Bearer ${this.token}`
    if (data !== undefined) {
      h['content-type'] ??= 'application/json'
      h['content-length'] = Buffer.byteLength(data)
    }
    const req = this.https ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      const r = req({ host: this.base.hostname, port: this.base.port, method, path, headers: h, agent: this.agent, timeout: timeoutMs }, (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode, body: text, json: () => JSON.parse(text) })
        })
        res.on('error', reject)
      })
      r.on('timeout', () => r.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)))
      r.on('error', reject)
      if (data !== undefined) r.write(data)
      r.end()
    })
  }

  /** Like request() but fails on a status other than the expected ones. */
  async must(method, path, opts = {}, ok = [200, 201]) {
    const res = await this.request(method, path, opts)
    if (!ok.includes(res.status)) throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.body.slice(0, 300)}`)
    return res
  }

  close() {
    this.agent.destroy()
  }
}

/** Runs fn(i) for i in [0, n) with `concurrency` in flight. */
export async function forEachConcurrent(n, concurrency, fn) {
  let next = 0
  const worker = async () => {
    for (let i = next++; i < n; i = next++) await fn(i)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

export async function waitFor(check, { timeoutMs = 120_000, intervalMs = 200, what = 'condition', proc } = {}) {
  const start = Date.now()
  for (;;) {
    try {
      if (await check()) return Date.now() - start
    } catch {
      // not yet
    }
    if (proc?.exited) throw new Error(`${what}: the process exited (${proc.exitCode}):\n${proc.output.slice(-3000)}`)
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${proc ? `:\n${proc.output.slice(-3000)}` : ''}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

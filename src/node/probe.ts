// kube's HTTP prober in Node mode (componentstatuses): a GET that does not verify the serving certificate,
// as kube's probe of the scheduler and controller-manager does not, with Go's wording for its failures.
import { request } from 'node:https'
import type { HTTPProbe } from '../registry/types'

export const nodeHTTPProbe: HTTPProbe = (url, timeoutMs) =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const fail = (why: string) => reject(new Error(`Get "${url}": ${why}`))
    const req = request(
      u,
      { method: 'GET', rejectUnauthorized: false, timeout: timeoutMs },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', (e) => fail(e.message))
      },
    )
    req.on('timeout', () => {
      req.destroy()
      fail('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')
    })
    req.on('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'ECONNREFUSED' ? `dial tcp ${u.host}: connect: connection refused` : e.message,
      ),
    )
    req.end()
  })

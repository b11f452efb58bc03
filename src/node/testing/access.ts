// How the testing library talks to a server it started: plain JSON requests and watches with a bearer
// token over HTTPS (the generated CA) or plain HTTP on loopback, on kept-alive connections (a new TLS
// handshake per request would be most of a new cluster's cost).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

/** A cluster as a client reaches it: its server URL, the CA that verifies it (HTTPS), a token. */
export interface ClusterAccess {
  server: string
  /** PEM; none for plain HTTP. */
  ca?: string
  token: string
}

export interface Answer {
  status: number
  body: string
}

/** A Kubernetes Status or object, as far as the library reads it. */
export type Obj = Record<string, any>

export class Client {
  private readonly url: URL
  private readonly agent: HttpAgent
  private readonly secure: boolean

  constructor(readonly access: ClusterAccess) {
    this.url = new URL(access.server)
    this.secure = this.url.protocol === 'https:'
    this.agent = this.secure
      ? new HttpsAgent({ keepAlive: true, ca: access.ca })
      : new HttpAgent({ keepAlive: true })
  }

  /** One request; the answer whatever its status. */
  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, contentType, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  }

  /** A request that must answer 2xx; its JSON. */
  async json(method: string, path: string, body?: unknown, contentType?: string): Promise<Obj> {
    const a = await this.request(method, path, body, contentType)
    if (a.status < 200 || a.status > 299) throw new KubeError(method, path, a)
    return JSON.parse(a.body) as Obj
  }

  /**
   * A watch (path with ?watch=1...): calls `until` with each event's type and object until it returns a
   * value, which is returned; throws after timeoutMs, or when the watch ends first.
   */
  watch<T>(
    path: string,
    until: (type: string, object: Obj) => T | undefined,
    timeoutMs = 30_000,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      let done = false
      const finish = (e: Error | undefined, v?: T) => {
        if (done) return
        done = true
        clearTimeout(timer)
        req.destroy()
        if (e) reject(e)
        else resolve(v as T)
      }
      const timer = setTimeout(
        () => finish(new Error(`no answer from the watch ${path} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const req = this.open('GET', path, 'application/json', (res) => {
        if (res.statusCode !== 200) {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => (text += d))
          res.on('end', () =>
            finish(new KubeError('GET', path, { status: res.statusCode ?? 0, body: text })),
          )
          return
        }
        let buffered = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          buffered += d
          let nl
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim()
            buffered = buffered.slice(nl + 1)
            if (!line) continue
            const event = JSON.parse(line) as { type: string; object: Obj }
            if (event.type === 'ERROR')
              return finish(new Error(`watch ${path}: ${event.object?.message ?? line}`))
            let v: T | undefined
            try {
              v = until(event.type, event.object)
            } catch (e) {
              return finish(e as Error)
            }
            if (v !== undefined) return finish(undefined, v)
          }
        })
        res.on('end', () => finish(new Error(`the watch ${path} ended`)))
        res.on('error', (e) => finish(e))
      })
      req.on('error', (e) => finish(e))
      req.end()
    })
  }

  close(): void {
    this.agent.destroy()
  }

  private open(
    method: string,
    path: string,
    contentType: string,
    onResponse: (res: IncomingMessage) => void,
  ) {
    const base = this.url.pathname.replace(/\/+$/, '')
    const opts = {
      agent: this.agent,
      host: this.url.hostname,
      port: this.url.port || (this.secure ? 443 : 80),
      method,
      path: base + path,
      headers: {
        Authorization: `Bearer ${this.access.token}`,
        Accept: 'application/json',
        'Content-Type': contentType,
      },
    }
    return this.secure ? httpsRequest(opts, onResponse) : httpRequest(opts, onResponse)
  }
}

/** An answer that was not 2xx: its Status message, as kubectl would print it. */
export class KubeError extends Error {
  readonly status: number
  readonly reason?: string

  constructor(method: string, path: string, answer: Answer) {
    let status: Obj | undefined
    try {
      status = JSON.parse(answer.body) as Obj
    } catch {
      status = undefined
    }
    super(`${method} ${path}: ${answer.status} ${status?.message ?? answer.body}`)
    this.status = answer.status
    this.reason = status?.reason
  }
}

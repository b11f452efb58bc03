// A kubelet stand-in for the tests: NOT a kubelet. It is written from kube's documentation and source
// (pkg/kubelet/server/server.go's routes, the CRI streaming server's WebSocket protocols in
// k8s.io/apimachinery/pkg/util/httpstream/wsstream and k8s.io/client-go/tools/remotecommand) and serves,
// over TLS on loopback, what the server's connect subresources reach:
//   GET  /healthz, /pods                                 plain answers, as the kubelet's
//   GET  /containerLogs/{ns}/{pod}/{container}            follow, previous, tailLines, limitBytes,
//                                                         timestamps, sinceSeconds, sinceTime
//   GET  /exec/{ns}/{pod}/{container}?command=..          WebSocket v5.channel.k8s.io / v4.channel.k8s.io
//   GET  /attach/{ns}/{pod}/{container}                   the same protocols
// A "container" is not isolated: exec runs the command as a process of the test's user on this machine
// (so `kubectl cp`'s tar works on host paths the test chooses), its main process is `cat` kept in memory
// (what attach writes comes back as output and as log lines), and its log is what the test appends.
//   POST /portForward/{ns}/{pod}                         SPDY/3.1 upgrade, portforward.k8s.io: a pair of
//                                                         streams (error, data) per connection, as kubelet's
//                                                         httpstream port-forward serves them (the framing
//                                                         is spdy-transport's); the pod's ports are this
//                                                         machine's, at the stand-in's address
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import spdy from 'spdy-transport'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { WebSocketServer, type WebSocket } from 'ws'
import { createCA, signCertificate, type KeyPair } from '../../src/node/pki'

// spdy-transport insists on HTTP's :method and :path in every SYN_STREAM; the streams of kube's
// httpstream carry only their own headers (streamtype, port, requestid). Give them placeholders.
const spdyParser = Object.getPrototypeOf(spdy.protocol.spdy.parser.create({}))
const parseKVs = spdyParser.parseKVs
spdyParser.parseKVs = function (buffer: unknown, callback: (e: unknown, h?: object) => void) {
  parseKVs.call(this, buffer, (err: unknown, headers?: Record<string, string>) =>
    callback(err, headers && { ':method': 'POST', ':path': '/', ...headers }),
  )
}

/** Channels of k8s.io/client-go/tools/remotecommand's WebSocket protocols. */
const STDIN = 0
const STDOUT = 1
const STDERR = 2
const ERROR = 3
/** v5.channel.k8s.io: the client's "close this stream" message is [255, channel]. */
const CLOSE = 255
const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io']

interface LogLine {
  time: Date
  text: string
}

class Container {
  readonly lines: LogLine[] = []
  readonly previous?: LogLine[]
  private readonly followers = new Set<(l: LogLine) => void>()
  constructor(previous?: string[]) {
    if (previous) this.previous = previous.map((text) => ({ time: new Date(), text }))
  }
  append(text: string): void {
    const line = { time: new Date(), text }
    this.lines.push(line)
    for (const f of this.followers) f(line)
  }
  follow(f: (l: LogLine) => void): () => void {
    this.followers.add(f)
    return () => this.followers.delete(f)
  }
}

export interface StandinRequest {
  method: string
  path: string
  /** The CommonName of the client certificate the server presented, if any. */
  clientCN?: string
  headers: Record<string, string | string[] | undefined>
}

export interface KubeletStandin {
  /** The address it serves on. */
  host: string
  port: number
  /** The CA that signed the stand-in's serving certificate (--kubelet-certificate-authority). */
  caPem: string
  caPath?: string
  /** Every request it was asked, in order. */
  requests: StandinRequest[]
  /** Makes a pod's containers known; `previous` gives a container logs of an earlier instance. */
  addPod(
    namespace: string,
    name: string,
    containers: string[],
    previous?: Record<string, string[]>,
  ): void
  /** Appends a line to a container's log (and to what attach shows). */
  log(namespace: string, pod: string, container: string, text: string): void
  /** Resets every connection (TCP RST), as a kubelet that crashes or a network that drops does. */
  resetConnections(): void
  close(): Promise<void>
}

/** Serves on `host` (an address of this machine), with a certificate naming it and 127.0.0.1. */
export async function startKubeletStandin(
  name = 'standin-node',
  host = '127.0.0.1',
): Promise<KubeletStandin> {
  const ca: KeyPair = createCA(`${name}-kubelet-ca`)
  const serving = signCertificate(ca, {
    subject: { commonName: `${name}@kubelet` },
    usage: 'server',
    hosts: [...new Set([host, '127.0.0.1', 'localhost', name])],
  })
  const pods = new Map<string, Map<string, Container>>()
  const requests: StandinRequest[] = []
  const sockets = new Set<Socket>()

  const container = (ns: string, pod: string, c: string) => pods.get(`${ns}/${pod}`)?.get(c)

  const record = (req: IncomingMessage) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate?.()
    const clientCN = peer && 'subject' in peer ? (peer.subject?.CN as string) : undefined
    requests.push({ method: req.method ?? '', path: req.url ?? '', clientCN, headers: req.headers })
  }

  const server: Server = createServer(
    { key: serving.keyPem, cert: serving.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      record(req)
      serve(req, res)
    },
  )
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://kubelet')
    const parts = url.pathname.split('/').filter(Boolean)
    if (url.pathname === '/healthz') return text(res, 200, 'ok')
    if (url.pathname === '/pods') {
      const items = [...pods.keys()].map((k) => {
        const [namespace, podName] = k.split('/')
        const names = [...pods.get(k)!.keys()]
        return {
          metadata: { namespace, name: podName },
          spec: { nodeName: name, containers: names.map((n) => ({ name: n, image: 'standin' })) },
          status: { phase: 'Running' },
        }
      })
      res.setHeader('Content-Type', 'application/json')
      return void res.end(
        JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items }),
      )
    }
    if (parts[0] === 'containerLogs' && parts.length === 4) return containerLogs(url, parts, res)
    if (parts[0] === 'exec' || parts[0] === 'attach')
      return text(res, 400, 'Upgrade request required')
    text(res, 404, '404 page not found')
  }

  // The kubelet's getContainerLogs: its 400s for what cannot be served, then the log as text.
  function containerLogs(url: URL, parts: string[], res: ServerResponse): void {
    const [, ns, pod, name] = parts
    const c = container(ns, pod, name)
    if (!pods.has(`${ns}/${pod}`))
      return text(res, 404, `pod "${pod}" of namespace "${ns}" not found`)
    if (!c) return text(res, 404, `container "${name}" in pod "${pod}" is not available`)
    const q = url.searchParams
    const previous = q.get('previous') === 'true'
    if (previous && !c.previous)
      return text(res, 400, `previous terminated container "${name}" in pod "${pod}" not found`)
    const timestamps = q.get('timestamps') === 'true'
    let since: number | undefined
    if (q.get('sinceSeconds')) since = Date.now() - Number(q.get('sinceSeconds')) * 1000
    if (q.get('sinceTime')) since = Date.parse(q.get('sinceTime')!)
    let lines = previous ? c.previous! : c.lines
    if (since !== undefined) lines = lines.filter((l) => l.time.getTime() >= since!)
    if (q.get('tailLines') !== null)
      lines = lines.slice(-Number(q.get('tailLines')) || lines.length)
    if (q.get('tailLines') === '0') lines = []
    let budget = q.get('limitBytes') ? Number(q.get('limitBytes')) : Infinity
    const format = (l: LogLine) => (timestamps ? `${l.time.toISOString()} ` : '') + l.text + '\n'
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' })
    const write = (l: LogLine): boolean => {
      const s = format(l)
      if (budget <= 0) return false
      const bytes = Buffer.from(s)
      res.write(bytes.subarray(0, budget))
      budget -= bytes.length
      return budget > 0
    }
    for (const l of lines) if (!write(l)) return void res.end()
    if (q.get('follow') !== 'true' || previous) return void res.end()
    const stop = c.follow((l) => {
      if (!write(l)) {
        stop()
        res.end()
      }
    })
    res.on('close', stop)
  }

  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    record(req)
    const url = new URL(req.url ?? '/', 'https://kubelet')
    const parts = url.pathname.split('/').filter(Boolean)
    const c = parts.length === 4 ? container(parts[1], parts[2], parts[3]) : undefined
    if (parts[0] === 'portForward' && parts.length === 3 && pods.has(`${parts[1]}/${parts[2]}`)) {
      if (!/^spdy\/3\.1$/i.test(req.headers.upgrade ?? '')) {
        // The kubelet's own WebSocket port-forward protocol is not kubectl's: kubectl falls back to SPDY.
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nSPDY/3.1 required')
        return
      }
      return portForward(socket, head, parts[2])
    }
    if ((parts[0] !== 'exec' && parts[0] !== 'attach') || !c) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n404 page not found')
      return
    }
    if (!/websocket/i.test(req.headers.upgrade ?? '')) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nthis stand-in speaks WebSocket only',
      )
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (parts[0] === 'exec') exec(ws, url)
      else attach(ws, url, c)
    })
  })

  const send = (ws: WebSocket, channel: number, data: Buffer | string) =>
    ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]))
  const finish = (ws: WebSocket, status: object) => {
    send(ws, ERROR, JSON.stringify({ metadata: {}, ...status }))
    ws.close(1000)
  }

  // The CRI streaming server's exec: the command's stdout and stderr on their channels, and on exit the
  // Status on the error channel, with the exit code as NonZeroExitCode's cause (remotecommand's v4 rules).
  function exec(ws: WebSocket, url: URL): void {
    const command = url.searchParams.getAll('command')
    const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    const stdin = url.searchParams.get('stdin') === '1'
    if (!stdin) child.stdin.end()
    child.stdout.on('data', (d: Buffer) => send(ws, STDOUT, d))
    child.stderr.on('data', (d: Buffer) =>
      send(ws, url.searchParams.get('tty') === '1' ? STDOUT : STDERR, d),
    )
    child.stdin.on('error', () => {})
    ws.on('message', (m: Buffer) => {
      if (m[0] === STDIN) child.stdin.write(m.subarray(1))
      else if (m[0] === CLOSE && m[1] === STDIN) child.stdin.end()
    })
    ws.on('close', () => child.exitCode === null && child.kill())
    let spawnError: Error | undefined
    child.on('error', (e) => (spawnError = e))
    child.on('close', (code) => {
      if (spawnError)
        return finish(ws, {
          status: 'Failure',
          message: `exec: "${command[0]}": executable file not found in $PATH`,
        })
      if (code === 0) return finish(ws, { status: 'Success' })
      finish(ws, {
        status: 'Failure',
        message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
      })
    })
  }

  // Attach to the container's main process, `cat`: its output is its log from now on, and what comes in
  // on stdin is written out (and logged) again. Closing stdin ends `cat`, and with it the attach.
  function attach(ws: WebSocket, url: URL, c: Container): void {
    const stop = c.follow((l) => {
      if (url.searchParams.get('stdout') === '1') send(ws, STDOUT, l.text + '\n')
    })
    ws.on('message', (m: Buffer) => {
      if (m[0] === STDIN)
        for (const line of m.subarray(1).toString().split(/\n/).filter(Boolean)) c.append(line)
      else if (m[0] === CLOSE && m[1] === STDIN) {
        stop()
        finish(ws, { status: 'Success' })
      }
    })
    ws.on('close', stop)
  }

  // kubelet's httpstream port-forward: every connection the client forwards is a data stream and an error
  // stream with the same requestid; the kubelet dials the pod's port and copies both ways, and writes a
  // failure to dial on the error stream.
  function portForward(socket: Socket, head: Buffer, pod: string): void {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        'X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n',
    )
    if (head.length) socket.unshift(head)
    const conn = spdy.connection.create(socket, { protocol: 'spdy', isServer: true })
    conn.start(3.1)
    conn.on('error', () => socket.destroy())
    const pairs = new Map<string, Record<string, import('node:stream').Duplex>>()
    conn.on('stream', (stream) => {
      stream.respond(200, {})
      const { requestid, streamtype, port } = stream.headers
      const pair = pairs.get(requestid) ?? {}
      pair[streamtype] = stream
      pairs.set(requestid, pair)
      if (!pair.error || !pair.data) return
      pairs.delete(requestid)
      const target = connect(Number(port), host)
      target.on('error', (e) => {
        pair.error.end(`error forwarding port ${port} to pod ${pod}: ${e.message}`)
        pair.data.destroy()
      })
      pair.data.pipe(target).on('close', () => pair.data.end())
      target.pipe(pair.data)
    })
  }

  await new Promise<void>((r) => server.listen(0, host, () => r()))
  return {
    host,
    port: (server.address() as AddressInfo).port,
    caPem: ca.certPem,
    requests,
    addPod(namespace, podName, containers, previous) {
      pods.set(
        `${namespace}/${podName}`,
        new Map(containers.map((n) => [n, new Container(previous?.[n])])),
      )
    },
    log(namespace, pod, c, line) {
      const found = container(namespace, pod, c)
      if (!found) throw new Error(`no container ${namespace}/${pod}/${c}`)
      found.append(line)
    },
    resetConnections() {
      for (const s of sockets) s.resetAndDestroy()
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        wss.close()
        server.close(() => r())
      }),
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
  res.end(body)
}

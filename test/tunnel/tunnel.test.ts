// The agent tunnel end to end inside one process: a TLS "kubelet" on loopback (plain requests, a streamed
// log, a byte-level upgrade, a WebSocket), the server's end of the tunnel (TunnelRegistry over a node:https
// upgrade, as Node mode serves it), and the real agent dialling out to it. The server reaches the kubelet
// only through the tunnel: the transport it is handed never sees the kubelet's address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Readable, Writable } from 'node:stream'
import { WebSocketServer } from 'ws'
import { createCA, signCertificate } from '../../src/node/pki'
import { startAgent, type RunningAgent } from '../../src/node/agent/agent'
import { TunnelRegistry, TUNNEL_PATH } from '../../src/tunnel/registry'
import { upgradeOver } from '../../src/tunnel/session'
import { KubeletDialError, type KubeletNode } from '../../src/kubelet/transport'
import { freePort } from '../helpers/process'

const ca = createCA('tunnel-test-ca')
const serving = signCertificate(ca, {
  subject: { commonName: 'localhost' },
  usage: 'server',
  hosts: ['127.0.0.1', 'localhost'],
})
const BIG = 5 * 1024 * 1024

let kubelet: Server
let apiserver: Server
let registry: TunnelRegistry
let agent: RunningAgent
let kubeletPort: number
const seenClientCerts: boolean[] = []

/** The kubelet this test stands up: only what the tunnel's paths need. */
function startKubelet(): Promise<Server> {
  const kubeletCert = signCertificate(ca, {
    subject: { commonName: 'node-a' },
    usage: 'server',
    hosts: ['127.0.0.1'],
  })
  const srv = createServer(
    {
      key: kubeletCert.keyPem,
      cert: kubeletCert.certPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      seenClientCerts.push(
        !!(req.socket as import('node:tls').TLSSocket).getPeerCertificate()?.subject,
      )
      const url = new URL(req.url ?? '/', 'https://kubelet')
      if (url.pathname === '/healthz') return res.end('ok')
      if (url.pathname === '/echo') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Method': req.method })
        req.pipe(res)
        return
      }
      if (url.pathname.startsWith('/containerLogs/')) {
        // A large log, written as fast as the socket takes it.
        res.writeHead(200, { 'Content-Type': 'text/plain' })
        const chunk = Buffer.alloc(64 * 1024, 'x')
        let sent = 0
        const more = () => {
          while (sent < BIG) {
            sent += chunk.length
            if (!res.write(chunk)) return void res.once('drain', more)
          }
          res.end()
        }
        more()
        return
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' })
      res.end('404 page not found\n')
    },
  )
  // /raw: a byte-level upgrade that echoes upper-cased bytes (any subprotocol passes a 'bytes' tunnel).
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => [...p][0] ?? false })
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) =>
      ws.send(isBinary ? data : `echo:${data}`, { binary: isBinary }),
    )
  })
  srv.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (req.url?.startsWith('/raw')) {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\n',
      )
      socket.on('data', (d) => socket.write(d.toString().toUpperCase()))
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)))
}

/** The server's end as Node mode runs it: the upgrade's bytes handed to the registry. */
function startAPIServer(): Promise<Server> {
  const srv = createServer({ key: serving.keyPem, cert: serving.certPem })
  srv.on('upgrade', async (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const node = decodeURIComponent((req.url ?? '').slice(TUNNEL_PATH.length + 1))
    const headers = new Headers()
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
    const up = await registry.acceptBytes(node, new Request(`https://x${req.url}`, { headers }))
    const lines = ['HTTP/1.1 101 Switching Protocols']
    up.headers.forEach((v, k) => lines.push(`${k}: ${v}`))
    socket.write(lines.join('\r\n') + '\r\n\r\n')
    const toAgent = Readable.fromWeb(up.stream!.readable as never)
    const fromAgent = Writable.fromWeb(up.stream!.writable as never)
    if (head.length) fromAgent.write(head)
    toAgent.pipe(socket)
    socket.pipe(fromAgent)
    socket.on('error', () => socket.destroy())
  })
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)))
}

const node: KubeletNode = { name: 'node-a', host: '10.255.255.1', port: 10250 }
const transport = () => {
  const t = registry.chooser(node, {})
  if (!t || t instanceof Promise) throw new Error('no tunnel for node-a')
  return t
}
const get = (
  path: string,
  init: { method?: string; body?: ReadableStream<Uint8Array> | null } = {},
) =>
  transport().request(node, {
    method: init.method ?? 'GET',
    path,
    headers: new Headers(),
    body: init.body ?? null,
  })

beforeAll(async () => {
  kubelet = await startKubelet()
  kubeletPort = (kubelet.address() as AddressInfo).port
  registry = new TunnelRegistry(() => {})
  apiserver = await startAPIServer()
  const client = signCertificate(ca, {
    subject: { commonName: 'kube-apiserver-kubelet-client' },
    usage: 'client',
  })
  agent = startAgent({
    server: `https://127.0.0.1:${(apiserver.address() as AddressInfo).port}`,
    nodeName: 'node-a',
    token: 'unused-here',
    serverCAPem: ca.certPem,
    kubeletURL: `https://127.0.0.1:${kubeletPort}`,
    kubeletClientCertPem: client.certPem,
    kubeletClientKeyPem: client.keyPem,
    kubeletCAPem: ca.certPem,
    log: () => {},
  })
  await agent.connected
  for (let i = 0; i < 50 && !registry.session('node-a'); i++)
    await new Promise((r) => setTimeout(r, 20))
})
afterAll(async () => {
  await agent?.stop()
  apiserver?.closeAllConnections()
  kubelet?.closeAllConnections()
  await new Promise((r) => apiserver?.close(r))
  await new Promise((r) => kubelet?.close(r))
})

describe('agent tunnel', () => {
  it('offers a transport only for a node whose agent is connected', () => {
    expect(registry.connected).toEqual(['node-a'])
    expect(registry.chooser({ ...node, name: 'node-b' }, {})).toBeUndefined()
  })

  it('carries a request to the kubelet, which sees the agent’s client certificate', async () => {
    const res = await get('/healthz')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    expect(seenClientCerts.at(-1)).toBe(true)
    const missing = await get('/nope')
    expect(missing.status).toBe(404)
    expect(await missing.text()).toBe('404 page not found\n')
  })

  it('streams a request body and a 5 MiB response under flow control, several at once', async () => {
    const body = new Blob([Buffer.alloc(300_000, 'b')]).stream() as ReadableStream<Uint8Array>
    const echo = await get('/echo', { method: 'POST', body })
    expect(echo.headers.get('x-method')).toBe('POST')
    expect((await echo.arrayBuffer()).byteLength).toBe(300_000)
    const logs = await Promise.all([1, 2, 3].map(() => get('/containerLogs/default/p/c')))
    const sizes = await Promise.all(logs.map(async (r) => (await r.arrayBuffer()).byteLength))
    expect(sizes).toEqual([BIG, BIG, BIG])
    expect(registry.session('node-a')!.openStreams).toBe(0)
  })

  it('keeps at most a window of unread bytes in flight for a slow reader', async () => {
    const res = await get('/containerLogs/default/p/c')
    const reader = res.body!.getReader()
    await reader.read()
    await new Promise((r) => setTimeout(r, 300))
    // The reader took one chunk; the kubelet's 5 MiB wait at the agent, not in this process.
    const session = registry.session('node-a') as unknown as {
      streams: Map<number, { queue: Uint8Array[] }>
    }
    const queued = [...session.streams.values()].reduce(
      (n, s) => n + s.queue.reduce((m, c) => m + c.length, 0),
      0,
    )
    expect(queued).toBeLessThanOrEqual(256 * 1024)
    await reader.cancel()
  })

  it('relays a byte-level upgrade both ways after the kubelet’s 101', async () => {
    const up = await transport().upgrade(node, {
      method: 'GET',
      path: '/raw',
      headers: new Headers({ Connection: 'Upgrade', Upgrade: 'shout' }),
      body: null,
    })
    expect(up.status).toBe(101)
    expect(up.headers.get('upgrade')).toBe('shout')
    const writer = up.stream!.writable.getWriter()
    const reader = up.stream!.readable.getReader()
    await writer.write(new TextEncoder().encode('hello'))
    const { value } = await reader.read()
    expect(new TextDecoder().decode(value)).toBe('HELLO')
    await writer.close()
    await reader.cancel()
  })

  it('relays WebSocket messages one for one with the negotiated subprotocol', async () => {
    const up = await upgradeOver(
      registry.session('node-a')!,
      {
        method: 'GET',
        path: '/exec/default/p/c?command=ls',
        headers: new Headers({
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Protocol': 'v5.channel.k8s.io, v4.channel.k8s.io',
        }),
        body: null,
      },
      'messages',
    )
    expect(up.status).toBe(101)
    expect(up.headers.get('sec-websocket-protocol')).toBe('v5.channel.k8s.io')
    const got: (string | Uint8Array)[] = []
    const done = new Promise<void>((r) =>
      up.tunnelStream.onMessage((m) => {
        got.push(m.data)
        if (got.length === 2) r()
      }),
    )
    await up.tunnelStream.sendMessage(new Uint8Array([1, 104, 105]))
    await up.tunnelStream.sendMessage('text')
    await done
    expect(got).toEqual([new Uint8Array([1, 104, 105]), 'echo:text'])
    up.tunnelStream.reset('done')
  })

  it('fails a stream with Go’s dial error when the agent cannot reach its kubelet', async () => {
    const port = await freePort()
    const lonely = new TunnelRegistry(() => {})
    const srv = createServer({ key: serving.keyPem, cert: serving.certPem })
    srv.on('upgrade', async (req: IncomingMessage, socket: Socket) => {
      const headers = new Headers()
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
      const up = await lonely.acceptBytes('node-z', new Request('https://x/', { headers }))
      const lines = ['HTTP/1.1 101 Switching Protocols']
      up.headers.forEach((v, k) => lines.push(`${k}: ${v}`))
      socket.write(lines.join('\r\n') + '\r\n\r\n')
      Readable.fromWeb(up.stream!.readable as never).pipe(socket)
      socket.pipe(Writable.fromWeb(up.stream!.writable as never))
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
    const a = startAgent({
      server: `https://127.0.0.1:${(srv.address() as AddressInfo).port}`,
      nodeName: 'node-z',
      token: 't',
      serverCAPem: ca.certPem,
      kubeletURL: `https://127.0.0.1:${port}`,
      log: () => {},
    })
    await a.connected
    for (let i = 0; i < 50 && !lonely.session('node-z'); i++)
      await new Promise((r) => setTimeout(r, 20))
    const t = lonely.chooser({ name: 'node-z', host: '', port: 10250 }, {})
    const err = await (t as Exclude<typeof t, Promise<unknown> | undefined>)
      .request(
        { name: 'node-z', host: '', port: 10250 },
        { method: 'GET', path: '/healthz', headers: new Headers(), body: null },
      )
      .catch((e) => e)
    expect(err).toBeInstanceOf(KubeletDialError)
    expect(err.message).toBe(`dial tcp 127.0.0.1:${port}: connect: connection refused`)
    await a.stop()
    // Once the agent is gone, its node has no tunnel to offer.
    for (let i = 0; i < 50 && lonely.session('node-z'); i++)
      await new Promise((r) => setTimeout(r, 20))
    expect(lonely.chooser({ name: 'node-z', host: '', port: 10250 }, {})).toBeUndefined()
    srv.closeAllConnections()
    await new Promise((r) => srv.close(r))
  })
})

// The web streams over a kubelet's upgraded socket (src/node/socket-streams.ts), on real loopback sockets.
// The first case is the race that ended Node mode in CI under Node's own Writable.toWeb.
import { createServer, connect, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { socketStreams } from '../../src/node/socket-streams'

let server: Server | undefined
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

/** A loopback server running `peer` on its one connection, and the client's connected socket. */
async function pair(peer: (s: Socket) => void): Promise<Socket> {
  server = createServer((s) => {
    s.on('error', () => {})
    peer(s)
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  const client = connect(port, '127.0.0.1')
  await new Promise((r) => client.once('connect', r))
  return client
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const c of readable as unknown as AsyncIterable<Uint8Array>) chunks.push(c)
  return Buffer.concat(chunks)
}

describe('socketStreams', () => {
  it('closes the writer between the peer’s FIN ending the socket and its finish, without throwing', async () => {
    const socket = await pair((s) => s.end('bye'))
    const { readable, writable } = socketStreams(socket)
    const writer = writable.getWriter()
    const window = new Promise<[boolean, boolean]>((resolve) =>
      // The socket ends its own side right after 'end' (no allowHalfOpen); it finishes a tick later.
      socket.once('end', () =>
        queueMicrotask(() => resolve([socket.writableEnded, socket.writableFinished])),
      ),
    )
    const read = readAll(readable)
    expect(await window).toEqual([true, false])
    await writer.close()
    expect((await read).toString()).toBe('bye')
    await new Promise((r) => socket.once('close', r))
  })

  it('carries bytes both ways, a peer slower than the writer included', async () => {
    // An echo that reads in bursts, so the writer meets backpressure.
    const socket = await pair((s) => {
      s.on('data', (d) => {
        if (!s.write(d)) s.pause()
      })
      s.on('drain', () => s.resume())
      s.on('end', () => s.end())
    })
    const { readable, writable } = socketStreams(socket)
    const payload = Buffer.alloc(8 << 20, 'k8s')
    const read = readAll(readable)
    const writer = writable.getWriter()
    for (let i = 0; i < payload.length; i += 64 << 10)
      await writer.write(payload.subarray(i, i + (64 << 10)))
    await writer.close()
    expect((await read).equals(payload)).toBe(true)
  })

  it('ends both directions with the reset of a peer that goes away', async () => {
    const socket = await pair((s) => setTimeout(() => s.resetAndDestroy(), 20))
    const { readable, writable } = socketStreams(socket)
    const reader = readable.getReader()
    await expect(reader.read()).rejects.toMatchObject({ code: 'ECONNRESET' })
    await expect(writable.getWriter().write(new Uint8Array([1]))).rejects.toBeDefined()
  })

  it('destroys the socket when the reader cancels or the writer aborts', async () => {
    for (const end of ['cancel', 'abort'] as const) {
      const socket = await pair(() => {})
      const { readable, writable } = socketStreams(socket)
      if (end === 'cancel') await readable.cancel()
      else await writable.abort()
      expect(socket.destroyed).toBe(true)
      await new Promise<void>((r) => server!.close(() => r()))
      server = undefined
    }
  })
})

// A socket's two directions as web streams, for a connection upgraded to a kubelet (exec, attach,
// port-forward), which the request path relays as web streams in both modes.
//
// Not Node's Readable.toWeb/Writable.toWeb: Node 20's Writable.toWeb throws from inside the socket's
// 'finish' event when close() is called after the socket ended itself but before it finished (a kubelet's
// FIN ends a socket without allowHalfOpen, and a client's end of stdin closes the writer at that moment),
// and an exception there ends the process. Every event here settles the streams at most once, and a stream
// already settled ignores the socket.
import type { Duplex } from 'node:stream'

export interface SocketStreams {
  readable: ReadableStream<Uint8Array>
  writable: WritableStream<Uint8Array>
}

function prematureClose(): NodeJS.ErrnoException {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}

export function socketStreams(socket: Duplex): SocketStreams {
  let readSettled = false
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let writeController!: WritableStreamDefaultController
  const settleRead = (how: (c: ReadableStreamDefaultController<Uint8Array>) => void) => {
    if (readSettled) return
    readSettled = true
    how(readController)
  }

  const readable = new ReadableStream<Uint8Array>(
    {
      start(c) {
        readController = c
      },
      pull() {
        socket.resume()
      },
      cancel() {
        readSettled = true
        socket.destroy()
      },
    },
    { highWaterMark: socket.readableHighWaterMark, size: (chunk) => chunk.byteLength },
  )
  socket.pause()
  socket.on('data', (chunk: Buffer) => {
    if (readSettled) return
    readController.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    if ((readController.desiredSize ?? 0) <= 0) socket.pause()
  })
  socket.on('end', () => settleRead((c) => c.close()))

  const writable = new WritableStream<Uint8Array>({
    start(c) {
      writeController = c
    },
    write(chunk) {
      if (socket.destroyed) throw prematureClose()
      if (socket.write(chunk)) return
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          socket.off('drain', done).off('close', done)
          if (socket.destroyed) reject(prematureClose())
          else resolve()
        }
        socket.on('drain', done).on('close', done)
      })
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        if (socket.writableFinished) return resolve()
        const done = () => {
          socket.off('finish', done).off('close', done)
          if (socket.writableFinished) resolve()
          else reject(prematureClose())
        }
        socket.on('finish', done).on('close', done)
        if (!socket.writableEnded) socket.end()
      })
    },
    abort() {
      socket.destroy()
    },
  })

  // The socket's error settles both directions (a reset is how a peer usually goes away); without this
  // listener an 'error' event would end the process.
  socket.on('error', (e) => {
    settleRead((c) => c.error(e))
    writeController.error(e)
  })
  socket.on('close', () => {
    settleRead((c) => c.error(prematureClose()))
    writeController.error(prematureClose())
  })
  return { readable, writable }
}

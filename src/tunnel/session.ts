// One end of the agent tunnel: the streams multiplexed over one WebSocket (src/tunnel/frames.ts). The
// server's end opens streams (a kubelet request, or an upgrade) and implements the kubelet transport
// seam with them; the agent's end is handed each stream the server opens and answers it from the local
// kubelet. Runs on workerd and Node alike: it only needs a function that sends a frame.
import type { KubeletRequest, KubeletTransport, KubeletUpgrade } from '../kubelet/transport'
import { KubeletDialError, type KubeletNode } from '../kubelet/transport'
import {
  decodeFrame,
  encodeFrame,
  FrameType,
  headerPairs,
  INITIAL_WINDOW,
  jsonPayload,
  MAX_DATA,
  parsePayload,
  payloadText,
  textPayload,
  windowOf,
  windowPayload,
  type OpenRequest,
  type OpenResponse,
} from './frames'
import { errorText } from '../util/errors'

/** Sends one frame as one binary WebSocket message. */
export type SendFrame = (frame: Uint8Array) => void

/** A WebSocket message carried whole (the 'messages' upgrade). */
export interface TunnelMessage {
  data: Uint8Array | string
}

export class TunnelStream {
  /** What the other end sends: DATA frames, read with flow control. */
  readonly readable: ReadableStream<Uint8Array>
  /** What this end sends: DATA frames within the other end's window; close() sends END, abort() RESET. */
  readonly writable: WritableStream<Uint8Array>
  /** The kubelet's answer (server side): resolves on RESPONSE, rejects on RESET before it. */
  readonly response: Promise<OpenResponse>
  private resolveResponse!: (r: OpenResponse) => void
  private rejectResponse!: (e: Error) => void
  private credit = INITIAL_WINDOW
  private creditWaiters: (() => void)[] = []
  private queue: Uint8Array[] = []
  private pulled?: () => void
  private readController!: ReadableStreamDefaultController<Uint8Array>
  private remoteEnded = false
  private localEnded = false
  private messageHandler?: (m: TunnelMessage) => void
  private pendingMessages: TunnelMessage[] = []
  private closeHandlers: ((reason?: string) => void)[] = []
  private remoteEndHandlers: (() => void)[] = []
  done = false

  constructor(
    readonly id: number,
    private readonly session: TunnelSession,
  ) {
    this.response = new Promise<OpenResponse>((res, rej) => {
      this.resolveResponse = res
      this.rejectResponse = rej
    })
    this.response.catch(() => {})
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.readController = c
        },
        pull: async (c) => {
          while (!this.queue.length && !this.remoteEnded && !this.done)
            await new Promise<void>((r) => (this.pulled = r))
          const chunk = this.queue.shift()
          if (chunk) {
            c.enqueue(chunk)
            // The bytes left this end's buffer: the sender may send as many more.
            this.session.send(FrameType.WINDOW, this.id, windowPayload(chunk.length))
          } else if (this.remoteEnded) {
            c.close()
            this.maybeDone()
          }
        },
        cancel: () => this.reset('the reader went away'),
      },
      { highWaterMark: 0 },
    )
    this.writable = new WritableStream<Uint8Array>({
      // Bytes written after the stream ended go nowhere, as on a socket the peer reset: the writer is
      // not failed for it (a relay piping into it would otherwise have to handle that rejection).
      write: async (chunk) => {
        for (let off = 0; off < chunk.length; off += MAX_DATA) {
          const part = chunk.subarray(off, Math.min(chunk.length, off + MAX_DATA))
          if (!(await this.takeCredit(part.length))) return
          this.session.send(FrameType.DATA, this.id, part)
        }
      },
      close: () => this.end(),
      abort: (e) => this.reset(e instanceof Error ? e.message : String(e ?? 'aborted')),
    })
  }

  /** Waits until the other end has room for n more bytes (a message larger than the window: an empty one). */
  private async takeCredit(n: number): Promise<boolean> {
    while (this.credit < Math.min(n, INITIAL_WINDOW)) {
      if (this.done) return false
      await new Promise<void>((r) => this.creditWaiters.push(r))
    }
    if (this.done) return false
    this.credit -= n
    return true
  }

  private wake(): void {
    for (const w of this.creditWaiters.splice(0)) w()
    this.pulled?.()
    this.pulled = undefined
  }

  /** Sends one WebSocket message ('messages' upgrade). */
  async sendMessage(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? textPayload(data) : data
    const payload = new Uint8Array(bytes.length + 1)
    payload[0] = typeof data === 'string' ? 1 : 0
    payload.set(bytes, 1)
    if (await this.takeCredit(bytes.length)) this.session.send(FrameType.MESSAGE, this.id, payload)
  }

  /** Receives the other end's WebSocket messages; those that came before are handed over first. */
  onMessage(handler: (m: TunnelMessage) => void): void {
    this.messageHandler = handler
    for (const m of this.pendingMessages.splice(0)) this.deliverMessage(m)
    if (this.remoteEnded) {
      for (const h of this.remoteEndHandlers.splice(0)) h()
      this.maybeDone()
    }
  }

  /** Called when the other end has sent everything (its END), after what it sent before. */
  onRemoteEnd(handler: () => void): void {
    if (this.remoteEnded && !this.pendingMessages.length) handler()
    else this.remoteEndHandlers.push(handler)
  }

  /** Called once the stream is over, with the other end's reason if it failed. */
  onClose(handler: (reason?: string) => void): void {
    if (this.done) handler()
    else this.closeHandlers.push(handler)
  }

  private deliverMessage(m: TunnelMessage): void {
    this.messageHandler!(m)
    const n = typeof m.data === 'string' ? textPayload(m.data).length : m.data.length
    this.session.send(FrameType.WINDOW, this.id, windowPayload(n))
  }

  /** The agent's answer: the kubelet's status and headers. */
  respond(r: OpenResponse): void {
    this.session.send(FrameType.RESPONSE, this.id, jsonPayload(r))
  }

  /** Nothing more will be sent from this end. */
  end(): void {
    if (this.localEnded || this.done) return
    this.localEnded = true
    this.session.send(FrameType.END, this.id)
    this.maybeDone()
  }

  /** Ends both halves now and tells the other end why. */
  reset(reason: string): void {
    if (this.done) return
    this.session.send(FrameType.RESET, this.id, textPayload(reason))
    this.finish(reason)
  }

  private maybeDone(): void {
    if (this.localEnded && this.remoteEnded && !this.queue.length) this.finish()
  }

  /** @internal the stream is over: release every waiter and forget it. */
  finish(reason?: string): void {
    if (this.done) return
    this.done = true
    this.session.forget(this.id)
    this.rejectResponse(new KubeletDialError(reason ?? 'tunnel stream closed'))
    // What came is what there is: the body or upgraded connection ends, as a connection to the kubelet
    // that drops ends it, rather than failing a reader that a relay may not be listening to for errors.
    try {
      this.readController.close()
    } catch {
      /* already closed */
    }
    this.wake()
    for (const h of this.closeHandlers.splice(0)) h(reason)
  }

  /** @internal a frame for this stream. */
  receive(type: FrameType, payload: Uint8Array): void {
    switch (type) {
      case FrameType.RESPONSE:
        this.resolveResponse(parsePayload<OpenResponse>(payload))
        return
      case FrameType.DATA:
        // Copied: the frame's buffer belongs to the WebSocket message.
        this.queue.push(payload.slice())
        this.wake()
        return
      case FrameType.MESSAGE: {
        const m = {
          data: payload[0] === 1 ? payloadText(payload.subarray(1)) : payload.slice(1),
        }
        if (this.messageHandler) this.deliverMessage(m)
        else this.pendingMessages.push(m)
        return
      }
      case FrameType.END:
        this.remoteEnded = true
        this.wake()
        if (this.messageHandler || !this.pendingMessages.length) {
          for (const h of this.remoteEndHandlers.splice(0)) h()
          this.maybeDone()
        }
        return
      case FrameType.RESET:
        this.finish(payloadText(payload) || 'reset by the other end')
        return
      case FrameType.WINDOW:
        this.credit += windowOf(payload)
        this.wake()
        return
    }
  }
}

export interface TunnelSessionOptions {
  /** The agent's end: called for each stream the server opens. */
  onOpen?: (stream: TunnelStream, open: OpenRequest) => void
  log?: (msg: string) => void
}

export class TunnelSession {
  private readonly streams = new Map<number, TunnelStream>()
  private nextId = 1
  private closedReason?: string

  constructor(
    private readonly sendFrame: SendFrame,
    private readonly opts: TunnelSessionOptions = {},
  ) {}

  get closed(): boolean {
    return this.closedReason !== undefined
  }

  /** How many streams are open (tests, and whether an idle tunnel may hibernate). */
  get openStreams(): number {
    return this.streams.size
  }

  /** @internal */
  send(type: FrameType, stream: number, payload?: Uint8Array): void {
    if (this.closedReason !== undefined) return
    this.sendFrame(encodeFrame(type, stream, payload))
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id)
  }

  /** A WebSocket message from the other end. */
  receive(data: ArrayBuffer | Uint8Array | string): void {
    if (typeof data === 'string') {
      this.opts.log?.('tunnel: a text message is no frame; ignored')
      return
    }
    let frame
    try {
      frame = decodeFrame(data)
    } catch (e) {
      this.opts.log?.(errorText(e))
      return
    }
    if (frame.type === FrameType.OPEN) {
      if (!this.opts.onOpen || this.streams.has(frame.stream)) {
        this.send(FrameType.RESET, frame.stream, textPayload('streams are opened by the server'))
        return
      }
      const stream = new TunnelStream(frame.stream, this)
      this.streams.set(frame.stream, stream)
      this.opts.onOpen(stream, parsePayload<OpenRequest>(frame.payload))
      return
    }
    const stream = this.streams.get(frame.stream)
    if (stream) stream.receive(frame.type, frame.payload)
    // A stream either end already let go of: tell the other end, unless it is letting go too.
    else if (frame.type !== FrameType.RESET && frame.type !== FrameType.WINDOW)
      this.send(FrameType.RESET, frame.stream, textPayload('no such stream'))
  }

  /** The WebSocket is gone: every stream fails with the reason. */
  close(reason = 'the agent tunnel closed'): void {
    if (this.closedReason !== undefined) return
    this.closedReason = reason
    for (const s of [...this.streams.values()]) s.finish(reason)
  }

  /** Server side: opens a stream for a kubelet request. */
  open(req: OpenRequest): TunnelStream {
    if (this.closedReason !== undefined) throw new KubeletDialError(this.closedReason)
    const id = this.nextId
    this.nextId = (this.nextId % 0x7fffffff) + 1
    const stream = new TunnelStream(id, this)
    this.streams.set(id, stream)
    this.send(FrameType.OPEN, id, jsonPayload(req))
    return stream
  }
}

function openRequest(req: KubeletRequest, upgrade?: OpenRequest['upgrade']): OpenRequest {
  return { method: req.method, path: req.path, headers: headerPairs(req.headers), upgrade }
}

/** Sends a request body into the stream, then END; a failure resets the stream. */
function sendBody(stream: TunnelStream, body: ReadableStream<Uint8Array> | null): void {
  if (!body) {
    stream.end()
    return
  }
  body.pipeTo(stream.writable).catch((e) => stream.reset(`request body: ${errorText(e)}`))
}

/** The client went away: the stream is abandoned. Returns what stops listening. */
function abortOn(stream: TunnelStream, signal?: AbortSignal): () => void {
  if (!signal) return () => {}
  const abort = () => stream.reset('context canceled')
  if (signal.aborted) abort()
  else signal.addEventListener('abort', abort, { once: true })
  return () => signal.removeEventListener('abort', abort)
}

/**
 * The kubelet transport over a tunnel session (the server's end): a request or a byte-level upgrade per
 * stream. In Node mode the session is in this process; at the edge the Durable Object holding the
 * agent's WebSocket uses it (src/tunnel/edge.ts).
 */
export class TunnelKubeletTransport implements KubeletTransport {
  constructor(private readonly session: () => TunnelSession | undefined) {}

  private live(node: KubeletNode): TunnelSession {
    const s = this.session()
    if (!s || s.closed)
      throw new KubeletDialError(`no agent tunnel is connected for node "${node.name}"`)
    return s
  }

  async request(node: KubeletNode, req: KubeletRequest): Promise<Response> {
    const stream = this.live(node).open(openRequest(req))
    abortOn(stream, req.signal)
    sendBody(stream, req.body)
    const head = await stream.response
    const nullBody = [101, 204, 205, 304].includes(head.status) || req.method === 'HEAD'
    return new Response(nullBody ? null : stream.readable, {
      status: head.status,
      headers: head.headers,
    })
  }

  async upgrade(node: KubeletNode, req: KubeletRequest): Promise<KubeletUpgrade> {
    return upgradeOver(this.live(node), req, 'bytes')
  }
}

/** An upgrade through a stream: on 101 the stream's two halves are the upgraded connection. */
export async function upgradeOver(
  session: TunnelSession,
  req: KubeletRequest,
  mode: 'bytes' | 'messages',
): Promise<KubeletUpgrade & { tunnelStream: TunnelStream }> {
  const stream = session.open(openRequest(req, mode))
  // Only until the answer: an upgraded connection lives on after its request (at the edge the
  // request's signal fires once the 101 is handed over), and ends with its WebSocket or bytes.
  const stopListening = abortOn(stream, req.signal)
  const head = await stream.response.finally(stopListening)
  const headers = new Headers(head.headers)
  if (head.status !== 101) {
    stream.end()
    return { status: head.status, headers, body: stream.readable, tunnelStream: stream }
  }
  if (mode === 'messages') return { status: 101, headers, tunnelStream: stream }
  return {
    status: 101,
    headers,
    stream: { readable: stream.readable, writable: stream.writable },
    tunnelStream: stream,
  }
}

// The server's end of a WebSocket over raw bytes (src/tunnel/websocket.ts): a connection that goes away
// ends the socket, whatever its stream says went wrong, and never the process. A Node-mode server died
// once when a killed agent's socket rejected a read with no reason at all (agent-tunnel e2e).
import { describe, expect, it } from 'vitest'
import { ByteWebSocket } from '../../src/tunnel/websocket'
import { errorText } from '../../src/util/errors'

function socketOver(readable: ReadableStream<Uint8Array>) {
  const closes: [number, string][] = []
  new ByteWebSocket(readable, new WritableStream(), {
    onMessage: () => {},
    onClose: (code, reason) => closes.push([code, reason]),
  })
  return closes
}

describe('ByteWebSocket', () => {
  for (const [what, reason, said] of [
    ['no reason', undefined, 'no reason given'],
    ['an Error', new Error('socket hang up'), 'socket hang up'],
    ['a string', 'reset by peer', 'reset by peer'],
  ] as const)
    it(`closes 1006 when its connection errors with ${what}`, async () => {
      let fail!: (e: unknown) => void
      const closes = socketOver(
        new ReadableStream({ start: (c) => void (fail = (e) => c.error(e)) }),
      )
      fail(reason)
      await new Promise((r) => setTimeout(r, 10))
      expect(closes).toEqual([[1006, said]])
    })
})

describe('errorText', () => {
  it('says what was thrown, whatever it was', () => {
    expect([
      errorText(new TypeError('x')),
      errorText(undefined),
      errorText(null),
      errorText(42),
    ]).toEqual(['x', 'no reason given', 'null', '42'])
  })
})

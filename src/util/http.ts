/** RFC 9110 section 7.6.1: the headers of one connection, which a proxy does not forward. */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]

/**
 * How long an answer given before its request body was read waits for the rest of that body. Go's
 * net/http, kube-apiserver's server, answers, half-closes and waits (closeWriteAndWait, 500 ms) so that
 * the client reads the answer before any reset; a Worker cannot read once it has answered (workerd:
 * "Can't read from request stream after response has been sent"), so it reads first, for up to this long.
 */
export const UNREAD_BODY_DRAIN_MS = 5_000

/**
 * Reads and drops the rest of a request body, then its answer can go out and reach the client: a
 * server that closes with request bytes still unread resets the connection (TCP RST), and a client still
 * writing may drop the answer with it: workerd's HTTP server closes so, and the listener in front of it
 * (src/node/dev-front.ts) got a 502 or a reset for the 413 (test/testing/unread-body.test.ts).
 * Stops at the deadline and cancels what is left, as Go gives up after its linger.
 */
export async function discardBody(
  body: ReadableStream<Uint8Array> | ReadableStreamDefaultReader<Uint8Array>,
  withinMs = UNREAD_BODY_DRAIN_MS,
): Promise<void> {
  const reader = 'getReader' in body ? body.getReader() : body
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), withinMs)))
  try {
    for (;;) {
      const read = await Promise.race([reader.read(), expired])
      if (read === 'expired' || read.done) break
    }
  } catch {
    // The client went away: nothing is left to answer.
  } finally {
    if (timer !== undefined) clearTimeout(timer)
    await reader.cancel().catch(() => {})
  }
}

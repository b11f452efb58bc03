// apiserver_response_sizes without reading a response twice: a body made from text is encoded once, here,
// and its size noted beside the response for the metrics middleware (which reads only other bodies).
const sizes = new WeakMap<Response, number>()
const encoder = new TextEncoder()

export function sizedResponse(text: string, init: ResponseInit): Response {
  const bytes = encoder.encode(text)
  const res = new Response(bytes, init)
  sizes.set(res, bytes.byteLength)
  return res
}

export function knownSize(res: Response): number | undefined {
  return sizes.get(res)
}

/** A binary body from chunks, sent one after another, its size noted as for text. */
export function sizedBytesResponse(chunks: Uint8Array[], init: ResponseInit): Response {
  const size = chunks.reduce((n, c) => n + c.byteLength, 0)
  let next = 0
  const body =
    chunks.length === 1
      ? (chunks[0] as Uint8Array<ArrayBuffer>)
      : new ReadableStream<Uint8Array>({
          pull(controller) {
            // A few hundred kilobytes per pull: fewer calls than one per chunk, no whole-body copy.
            let budget = 256 * 1024
            while (next < chunks.length && budget > 0) {
              budget -= chunks[next].byteLength
              controller.enqueue(chunks[next++])
            }
            if (next === chunks.length) controller.close()
          },
        })
  const res = new Response(body, init)
  sizes.set(res, size)
  return res
}

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

// The deprecated `pretty` parameter: kube-apiserver's negotiation picks its pretty JSON serializer
// (json.MarshalIndent with two spaces) when `pretty` parses as true with strconv.ParseBool, or, without
// `pretty`, for a User-Agent that looks like a person's tool (curl, Wget, a browser). Watch streams are
// never indented; nor are the OpenAPI documents, which kube-openapi serves itself.
import { decodePretty } from './query'

export function wantsPrettyJSON(query: URLSearchParams, userAgent: string | undefined): boolean {
  const pretty = decodePretty(query)
  if (pretty !== undefined) return pretty
  const ua = userAgent ?? ''
  return ua.startsWith('curl') || ua.startsWith('Wget') || ua.startsWith('Mozilla/5.0')
}

/** The same response with its JSON body indented, when it is a JSON object kube would indent. */
export async function prettyJSON(res: Response): Promise<Response> {
  if (res.headers.get('content-type') !== 'application/json' || !res.body) return res
  const text = await res.text()
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return new Response(text, res)
  }
  const headers = new Headers(res.headers)
  headers.delete('content-length')
  return new Response(JSON.stringify(value, null, 2), {
    status: res.status,
    statusText: res.statusText,
    headers,
  })
}

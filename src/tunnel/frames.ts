// The agent tunnel's wire format: every WebSocket message between the server and a node's agent is one
// binary frame, [type: u8][stream id: u32 big-endian][payload]. Many kubelet streams (a `kubectl logs
// -f`, an exec, a port-forward) share the one connection the agent dialled out, as Konnectivity's
// DIAL_REQ / DIAL_RSP / DATA / CLOSE_REQ packets share its gRPC stream.
//
//   OPEN      server → agent  JSON {method, path, headers, upgrade?}: make this request to the kubelet.
//                             upgrade 'bytes': relay the raw connection after the kubelet's 101 (Node
//                             mode, any subprotocol, SPDY too); 'messages': the kubelet speaks WebSocket
//                             and each message crosses as one MESSAGE frame (the edge, where a Worker
//                             only has WebSockets).
//   RESPONSE  agent → server  JSON {status, headers}: the kubelet's status line and headers.
//   DATA      both            body bytes (request body, response body, upgraded bytes).
//   MESSAGE   both            one WebSocket message: [0 binary | 1 text][bytes].
//   END       both            the sender has nothing more to send (half close, as a body's end).
//   RESET     both            UTF-8 reason: the stream failed or was abandoned; both halves end.
//   WINDOW    both            u32: the receiver took that many more payload bytes off its buffer.
//
// Flow control: a sender has at most INITIAL_WINDOW payload bytes outstanding per stream and waits for
// WINDOW credit beyond that, so a slow kubectl never makes the agent (or the server) buffer a whole log.

/** The non-resource path an agent dials: GET TUNNEL_PATH/<node name> with a WebSocket upgrade. */
export const TUNNEL_PATH = '/tunnel/v1/nodes'

/**
 * The close code of an agent's WebSocket that a newer connection for the same node replaced: the agent
 * then waits long before it dials again, so that two agents of one node do not take turns.
 */
export const REPLACED_CLOSE_CODE = 4000

export const FrameType = {
  OPEN: 1,
  RESPONSE: 2,
  DATA: 3,
  MESSAGE: 4,
  END: 5,
  RESET: 6,
  WINDOW: 7,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

/** Per-stream credit a sender starts with, in payload bytes. */
export const INITIAL_WINDOW = 256 * 1024
/** Largest DATA payload: bigger writes are split, so that streams take turns on the connection. */
export const MAX_DATA = 32 * 1024

export interface Frame {
  type: FrameType
  stream: number
  payload: Uint8Array
}

export interface OpenRequest {
  method: string
  path: string
  headers: [string, string][]
  upgrade?: 'bytes' | 'messages'
}

export interface OpenResponse {
  status: number
  headers: [string, string][]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeFrame(type: FrameType, stream: number, payload?: Uint8Array): Uint8Array {
  const body = payload ?? new Uint8Array(0)
  const out = new Uint8Array(5 + body.length)
  out[0] = type
  new DataView(out.buffer).setUint32(1, stream >>> 0)
  out.set(body, 5)
  return out
}

export function decodeFrame(data: ArrayBuffer | Uint8Array): Frame {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
  if (bytes.length < 5) throw new Error(`tunnel: frame of ${bytes.length} bytes is too short`)
  const type = bytes[0] as FrameType
  if (type < FrameType.OPEN || type > FrameType.WINDOW)
    throw new Error(`tunnel: unknown frame type ${type}`)
  const stream = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1)
  return { type, stream, payload: bytes.subarray(5) }
}

export const jsonPayload = (v: unknown) => encoder.encode(JSON.stringify(v))
export const parsePayload = <T>(p: Uint8Array): T => JSON.parse(decoder.decode(p)) as T
export const textPayload = (s: string) => encoder.encode(s)
export const payloadText = (p: Uint8Array) => decoder.decode(p)

export function windowPayload(n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n >>> 0)
  return out
}

export function windowOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0)
}

/** Headers as a list of pairs (a Headers object does not survive JSON). */
export function headerPairs(h: Headers): [string, string][] {
  const out: [string, string][] = []
  h.forEach((v, k) => out.push([k, v]))
  return out
}

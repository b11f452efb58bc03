// A KMS v2 plugin for tests: k8s.io/kms/apis/v2's KeyManagementService on a unix socket, over @grpc/grpc-js,
// wrapping what it is given with AES-256-GCM under a key encryption key of its own. Its messages are encoded
// here by hand, apart from the server's client code.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js'

/** proto3 fields: [number, bytes] pairs, length-delimited. */
export function protoBytes(fields: [number, Uint8Array | string][]): Buffer {
  const out: number[] = []
  const varint = (n: number) => {
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80)
      n >>>= 7
    }
    out.push(n)
  }
  for (const [n, v] of fields) {
    const b = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v)
    if (!b.length) continue
    varint((n << 3) | 2)
    varint(b.length)
    out.push(...b)
  }
  return Buffer.from(out)
}

/** Length-delimited fields of a message, by number (the last occurrence). */
export function protoFields(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>()
  let i = 0
  const varint = () => {
    let n = 0
    let shift = 0
    for (;;) {
      const b = buf[i++]!
      n |= (b & 0x7f) << shift
      if (!(b & 0x80)) return n
      shift += 7
    }
  }
  while (i < buf.length) {
    const tag = varint()
    if ((tag & 7) === 0) {
      varint()
      continue
    }
    const len = varint()
    out.set(tag >> 3, buf.subarray(i, i + len))
    i += len
  }
  return out
}

export class FakeKMSPlugin {
  readonly kek = randomBytes(32)
  keyID = 'fake-key-1'
  /** What Status says of the plugin's health ("ok" when healthy). */
  healthz = 'ok'
  encrypts = 0
  decrypts = 0
  private readonly server = new Server()

  private constructor(readonly socket: string) {}

  static async start(socket: string): Promise<FakeKMSPlugin> {
    const plugin = new FakeKMSPlugin(socket)
    const raw = {
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    }
    const unary = (name: string, fn: (req: Buffer) => Buffer) => ({
      [name]: {
        path: `/v2.KeyManagementService/${name}`,
        requestStream: false,
        responseStream: false,
        ...raw,
      },
      impl: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        try {
          cb(null, fn(call.request))
        } catch (e) {
          cb({ code: 13, details: (e as Error).message } as never)
        }
      },
    })
    const methods = {
      Status: unary('Status', () =>
        protoBytes([
          [1, 'v2'],
          [2, plugin.healthz],
          [3, plugin.keyID],
        ]),
      ),
      Encrypt: unary('Encrypt', (req) => {
        plugin.encrypts++
        return protoBytes([
          [1, plugin.wrap(protoFields(req).get(1) ?? Buffer.alloc(0))],
          [2, plugin.keyID],
        ])
      }),
      Decrypt: unary('Decrypt', (req) => {
        plugin.decrypts++
        return protoBytes([[1, plugin.unwrap(protoFields(req).get(1) ?? Buffer.alloc(0))]])
      }),
    }
    plugin.server.addService(
      Object.fromEntries(
        Object.entries(methods).map(([k, m]) => [k, (m as unknown as Record<string, unknown>)[k]]),
      ) as never,
      Object.fromEntries(Object.entries(methods).map(([k, m]) => [k, m.impl])),
    )
    await new Promise<void>((res, rej) =>
      plugin.server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) =>
        err ? rej(err) : res(),
      ),
    )
    return plugin
  }

  /** What Encrypt returns for a plaintext: nonce, ciphertext and tag under the plugin's key. */
  wrap(plaintext: Buffer): Buffer {
    const nonce = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.kek, nonce)
    return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()])
  }

  unwrap(wrapped: Buffer): Buffer {
    const d = createDecipheriv('aes-256-gcm', this.kek, wrapped.subarray(0, 12))
    d.setAuthTag(wrapped.subarray(wrapped.length - 16))
    return Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()])
  }

  stop(): Promise<void> {
    return new Promise((res) => this.server.tryShutdown(() => res()))
  }
}

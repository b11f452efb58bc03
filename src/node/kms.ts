// The kms provider with apiVersion v2, as kube-apiserver runs it (storage/value/encrypt/envelope/kmsv2): a
// plugin on a unix socket speaks k8s.io/kms/apis/v2 (v2.KeyManagementService: Status, Encrypt, Decrypt) over
// gRPC, and encrypts a 32-byte seed that never leaves the process in the clear. Each value gets a key derived
// from the seed with HKDF-SHA256 (expand only) over 32 random bytes, and AES-GCM with the etcd key as
// additional data; etcd holds "k8s:enc:kms:v2:<name>:" and the EncryptedObject protobuf
// { encryptedData: info(32) nonce(12) ciphertext+tag, keyID, encryptedDEKSource, annotations, encryptedDEKSourceType }.
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js'
import type { KMSConfiguration } from '../storage/value/encryption-config'
import type { Transformer } from '../storage/value/transformer'
import { errorText } from '../util/errors'

// ---- the few protobuf messages, by hand: proto3, fields in order, maps as repeated entries ----

type Field = { n: number; bytes?: Uint8Array; varint?: number }

function varint(n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

export function encodeMessage(fields: Field[]): Buffer {
  const parts: Buffer[] = []
  for (const f of fields) {
    if (f.varint !== undefined) {
      if (f.varint !== 0) parts.push(Buffer.from([...varint(f.n << 3), ...varint(f.varint)]))
    } else if (f.bytes && f.bytes.length > 0) {
      parts.push(
        Buffer.from([...varint((f.n << 3) | 2), ...varint(f.bytes.length)]),
        Buffer.from(f.bytes),
      )
    }
  }
  return Buffer.concat(parts)
}

function mapEntries(n: number, map: Record<string, Uint8Array>): Field[] {
  return Object.keys(map)
    .sort()
    .map((k) => ({
      n,
      bytes: encodeMessage([
        { n: 1, bytes: Buffer.from(k) },
        { n: 2, bytes: map[k] },
      ]),
    }))
}

/** Fields by number: length-delimited ones as bytes (every occurrence), varints as numbers. */
export function decodeMessage(buf: Uint8Array): Map<number, (Uint8Array | number)[]> {
  const out = new Map<number, (Uint8Array | number)[]>()
  let i = 0
  const readVarint = () => {
    let n = 0
    let mul = 1
    for (;;) {
      if (i >= buf.length) throw new Error('unexpected EOF')
      const b = buf[i++]!
      n += (b & 0x7f) * mul
      if (!(b & 0x80)) return n
      mul *= 128
    }
  }
  while (i < buf.length) {
    const tag = readVarint()
    const n = Math.floor(tag / 8)
    const wire = tag & 7
    let v: Uint8Array | number
    if (wire === 0) v = readVarint()
    else if (wire === 2) {
      const len = readVarint()
      if (i + len > buf.length) throw new Error('unexpected EOF')
      v = buf.subarray(i, i + len)
      i += len
    } else throw new Error(`proto: cannot parse invalid wire-format data`)
    out.set(n, [...(out.get(n) ?? []), v])
  }
  return out
}

const bytesOf = (m: Map<number, (Uint8Array | number)[]>, n: number) =>
  (m.get(n)?.at(-1) as Uint8Array | undefined) ?? new Uint8Array(0)
const stringOf = (m: Map<number, (Uint8Array | number)[]>, n: number) =>
  Buffer.from(bytesOf(m, n)).toString('utf8')
function mapOf(m: Map<number, (Uint8Array | number)[]>, n: number): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {}
  for (const e of (m.get(n) ?? []) as Uint8Array[]) {
    const entry = decodeMessage(e)
    out[stringOf(entry, 1)] = bytesOf(entry, 2)
  }
  return out
}

// ---- the plugin's service ----

export interface EncryptResponse {
  ciphertext: Uint8Array
  keyID: string
  annotations: Record<string, Uint8Array>
}
export interface StatusResponse {
  version: string
  healthz: string
  keyID: string
}

/** A v2.KeyManagementService client over the plugin's unix socket, each call bounded by the configured timeout. */
export class KMSv2Service {
  private readonly client: Client

  constructor(
    endpoint: string,
    private readonly timeoutMs: number,
  ) {
    // grpc-js takes unix:///absolute/path (and unix:relative); kube's endpoint is unix:///path too.
    this.client = new Client(endpoint, credentials.createInsecure())
  }

  private call(method: string, request: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/v2.KeyManagementService/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        request,
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err: ServiceError | null, res?: Buffer) =>
          err
            ? reject(new Error(`rpc error: code = ${err.code} desc = ${err.details}`))
            : resolve(res!),
      )
    })
  }

  async status(): Promise<StatusResponse> {
    const m = decodeMessage(await this.call('Status', Buffer.alloc(0)))
    return { version: stringOf(m, 1), healthz: stringOf(m, 2), keyID: stringOf(m, 3) }
  }

  async encrypt(uid: string, plaintext: Uint8Array): Promise<EncryptResponse> {
    const m = decodeMessage(
      await this.call(
        'Encrypt',
        encodeMessage([
          { n: 1, bytes: plaintext },
          { n: 2, bytes: Buffer.from(uid) },
        ]),
      ),
    )
    return { ciphertext: bytesOf(m, 1), keyID: stringOf(m, 2), annotations: mapOf(m, 3) }
  }

  async decrypt(
    uid: string,
    req: { ciphertext: Uint8Array; keyID: string; annotations: Record<string, Uint8Array> },
  ): Promise<Uint8Array> {
    const body = encodeMessage([
      { n: 1, bytes: req.ciphertext },
      { n: 2, bytes: Buffer.from(uid) },
      { n: 3, bytes: Buffer.from(req.keyID) },
      ...mapEntries(4, req.annotations),
    ])
    return bytesOf(decodeMessage(await this.call('Decrypt', body)), 1)
  }

  close(): void {
    this.client.close()
  }
}

// ---- the envelope ----

/** EncryptedDEKSourceType: the plugin encrypted the DEK itself (older servers) or a seed for HKDF (kube 1.29+). */
const AES_GCM_KEY = 0
const HKDF_SHA256_XNONCE_AES_GCM_SEED = 1
/** How often the plugin's current key ID is asked for (kube polls Status every minute). */
const STATUS_INTERVAL_MS = 60_000

interface WriteState {
  seed: Buffer
  keyID: string
  encryptedDEKSource: Uint8Array
  annotations: Record<string, Uint8Array>
  checkedAt: number
}

/** aes.go's sha256KDFExpandOnly: HKDF-Expand with the seed as the pseudorandom key; 32 bytes are one HMAC block. */
function derivedKey(seed: Uint8Array, info: Uint8Array): Buffer {
  return createHmac('sha256', seed)
    .update(info)
    .update(Buffer.from([1]))
    .digest()
}

async function gcm(
  op: 'encrypt' | 'decrypt',
  key: Uint8Array,
  nonce: Uint8Array,
  data: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
    op,
  ])
  const params = {
    name: 'AES-GCM',
    iv: nonce as Uint8Array<ArrayBuffer>,
    additionalData: aad as Uint8Array<ArrayBuffer>,
  }
  try {
    return new Uint8Array(await crypto.subtle[op](params, k, data as Uint8Array<ArrayBuffer>))
  } catch {
    throw new Error('cipher: message authentication failed')
  }
}

export class KMSv2Transformer implements Transformer {
  private state?: Promise<WriteState>
  /** Decrypted DEK sources by their encrypted form (kube's cache of DEK/seed transformers). */
  private readonly seeds = new Map<string, Promise<Uint8Array>>()

  constructor(
    private readonly service: KMSv2Service,
    private readonly name: string,
  ) {}

  async toStorage(data: Uint8Array, authenticatedData: Uint8Array): Promise<Uint8Array> {
    const state = await this.writeState()
    const info = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = await gcm(
      'encrypt',
      derivedKey(state.seed, info),
      nonce,
      data,
      authenticatedData,
    )
    return encodeMessage([
      { n: 1, bytes: Buffer.concat([info, nonce, sealed]) },
      { n: 2, bytes: Buffer.from(state.keyID) },
      { n: 3, bytes: state.encryptedDEKSource },
      ...mapEntries(4, state.annotations),
      { n: 5, varint: HKDF_SHA256_XNONCE_AES_GCM_SEED },
    ])
  }

  async fromStorage(
    data: Uint8Array,
    authenticatedData: Uint8Array,
  ): Promise<{ data: Uint8Array; stale: boolean }> {
    const m = decodeMessage(data)
    const o = {
      encryptedData: bytesOf(m, 1),
      keyID: stringOf(m, 2),
      encryptedDEKSource: bytesOf(m, 3),
      annotations: mapOf(m, 4),
      type: (m.get(5)?.at(-1) as number | undefined) ?? AES_GCM_KEY,
    }
    // ValidateEncryptedObject's checks and words.
    if (o.type !== AES_GCM_KEY && o.type !== HKDF_SHA256_XNONCE_AES_GCM_SEED)
      throw new Error(`unknown encryptedDEKSourceType: ${o.type}`)
    if (o.encryptedData.length === 0) throw new Error('encrypted data is empty')
    if (o.encryptedDEKSource.length === 0)
      throw new Error('failed to validate encrypted DEK source: encrypted DEK source is empty')
    if (o.keyID === '') throw new Error('failed to validate key id: keyID is empty')
    const cacheKey = `${o.type}/${Buffer.from(o.encryptedDEKSource).toString('base64')}/${o.keyID}`
    let seed = this.seeds.get(cacheKey)
    if (!seed) {
      seed = this.service
        .decrypt(randomUUID(), {
          ciphertext: o.encryptedDEKSource,
          keyID: o.keyID,
          annotations: o.annotations,
        })
        .catch((e: Error) => {
          this.seeds.delete(cacheKey)
          throw new Error(`failed to decrypt DEK, error: ${e.message}`)
        })
      this.seeds.set(cacheKey, seed)
    }
    const key = await seed
    const d = o.encryptedData
    const plain =
      o.type === HKDF_SHA256_XNONCE_AES_GCM_SEED
        ? await gcm(
            'decrypt',
            derivedKey(key, d.subarray(0, 32)),
            d.subarray(32, 44),
            d.subarray(44),
            authenticatedData,
          )
        : await gcm('decrypt', key, d.subarray(0, 12), d.subarray(12), authenticatedData)
    // Stale unless written with the seed of the plugin's current key: replace then re-encrypts (kube's staleness).
    const current = await this.writeState().catch(() => undefined)
    return {
      data: plain,
      stale: !current || current.keyID !== o.keyID || o.type !== HKDF_SHA256_XNONCE_AES_GCM_SEED,
    }
  }

  /** The seed values are written with: made at the first write, and again when the plugin's key ID changes. */
  private writeState(): Promise<WriteState> {
    const refresh = async (prev?: WriteState): Promise<WriteState> => {
      if (prev) {
        const status = await this.service.status().catch(() => undefined)
        if (!status || status.keyID === prev.keyID) return { ...prev, checkedAt: Date.now() }
      }
      const seed = randomBytes(32)
      let resp: EncryptResponse
      try {
        resp = await this.service.encrypt(randomUUID(), seed)
      } catch (e) {
        throw new Error(`failed to encrypt DEK, error: ${errorText(e)}`)
      }
      if (!resp.keyID) throw new Error('failed to validate key id: keyID is empty')
      this.seeds.set(
        `${HKDF_SHA256_XNONCE_AES_GCM_SEED}/${Buffer.from(resp.ciphertext).toString('base64')}/${resp.keyID}`,
        Promise.resolve(seed),
      )
      return {
        seed,
        keyID: resp.keyID,
        encryptedDEKSource: resp.ciphertext,
        annotations: resp.annotations,
        checkedAt: Date.now(),
      }
    }
    const failed = (p: Promise<WriteState>) =>
      p.catch((e: Error) => {
        if (this.state === p) this.state = undefined // try again on the next write
        throw e
      })
    if (!this.state) {
      this.state = refresh()
      return failed(this.state)
    }
    return this.state.then((s) => {
      if (Date.now() - s.checkedAt < STATUS_INTERVAL_MS) return s
      const next = refresh(s)
      this.state = next
      return failed(next)
    })
  }

  private health?: { err?: Error; at: number; ttl: number }

  /**
   * kube-apiserver's kms-provider-N check (kmsv2PluginProbe): the plugin's Status must say healthz "ok",
   * version v2 and a key ID; an answer is kept 20 s, a failure 3 s.
   */
  async check(): Promise<void> {
    const h = this.health
    if (h && Date.now() - h.at < h.ttl) {
      if (h.err) throw h.err
      return
    }
    let err: Error | undefined
    try {
      const s = await this.service.status()
      const errs: string[] = []
      if (s.healthz !== 'ok') errs.push(`got unexpected healthz status: ${s.healthz}`)
      if (s.version !== 'v2') errs.push(`expected KMSv2 API version v2, got ${s.version}`)
      if (!s.keyID) errs.push(`expected KMSv2 KeyID to be set, got ${s.keyID}`)
      if (errs.length)
        err = new Error(
          `kmsv2 Provider ${this.name} is not healthy, error: ${errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`}`,
        )
    } catch (e) {
      err = new Error(
        `failed to perform status section of the healthz check for KMS Provider ${this.name}, error: ${errorText(e)}`,
      )
    }
    this.health = { err, at: Date.now(), ttl: err ? 3_000 : 20_000 }
    if (err) throw err
  }

  close(): void {
    this.service.close()
  }

  toString(): string {
    return `kms v2 provider ${this.name}`
  }
}

/** The factory ResourceTransformers calls for a kms v2 provider in Node mode. */
export function kmsV2Transformer(c: KMSConfiguration): KMSv2Transformer {
  const timeout = c.timeout === undefined ? 3000 : parseTimeout(c.timeout)
  return new KMSv2Transformer(new KMSv2Service(c.endpoint ?? '', timeout), c.name ?? '')
}

function parseTimeout(s: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  }
  let total = 0
  for (const part of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g))
    total += Number(part[1]) * units[part[2]!]!
  return total > 0 ? total : 3000
}

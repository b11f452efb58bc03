// The snapshot file (docs/snapshot-format.md): one JSON line of header, one line per key, one line of
// trailer with the counts and a SHA-256 of every byte before it. Written and read as a stream, a page
// at a time, so neither end holds a cluster in memory; it runs on workerd and Node alike.
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { isByteString, type KeyValue } from '../store'
import { concatBytes } from '../../util/bytes'

export const SNAPSHOT_FORMAT = 'edge-apiserver-snapshot'
export const SNAPSHOT_FORMAT_VERSION = 1
/** The media type the admin path answers with and takes. */
export const SNAPSHOT_MEDIA_TYPE = 'application/vnd.edge-apiserver.snapshot+jsonl'

export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT
  version: number
  /** The cluster it was taken of (`default`, or the name of a cluster of a multi-cluster deployment). */
  cluster: string
  /** What wrote it: `edge` (a Durable Object), `etcd` (Node mode's etcd, or kube-apiserver's). */
  source: string
  /** Every record is the key as of this revision; the store's revision when the snapshot began. */
  revision: number
  /** The store's compacted revision then (history below it was gone already). */
  compacted_revision: number
  /** How many records follow (counted at `revision`); progress estimates use it. */
  count: number
  /** RFC 3339, when the snapshot began. */
  created: string
}

/**
 * What a snapshot holds: kube's data, the keys under /registry/, as an etcd snapshot of kube-apiserver
 * holds what it wrote under its --etcd-prefix. Keys outside it are the server's own bookkeeping about
 * the store it serves (a cluster's bootstrap marker, /edge-apiserver/bootstrapped): it does not travel,
 * so a restored cluster decides for itself (bootstraps again on its next start, as kube-apiserver
 * reconciles its bootstrap objects on every start), and is left out of older files on restore.
 */
export const SNAPSHOT_KEY_ROOT = '/registry/'

export function isSnapshotKey(key: string): boolean {
  return key.startsWith(SNAPSHOT_KEY_ROOT)
}

/** One key, as etcd's mvccpb.KeyValue names its fields. */
export interface SnapshotRecord {
  key: string
  /** The value as text (JSON); absent when `value_base64` carries bytes. */
  value?: string
  /** A binary value (kube's protobuf envelope "k8s\0", or "k8s:enc:" ciphertext), base64. */
  value_base64?: string
  create_revision: number
  mod_revision: number
  version: number
}

export interface SnapshotTrailer {
  trailer: {
    count: number
    /** Bytes of the file before the trailer line. */
    bytes: number
    /** SHA-256 of those bytes, hex. */
    sha256: string
  }
}

const encoder = new TextEncoder()
const NEWLINE = 10

export function recordOf(kv: KeyValue): SnapshotRecord {
  // Field order as etcd's KeyValue: the file reads the same whichever way the value went.
  const value = isByteString(kv.value) ? { value_base64: btoa(kv.value) } : { value: kv.value }
  return {
    key: kv.key,
    ...value,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
  }
}

export function keyValueOf(r: SnapshotRecord): KeyValue {
  return {
    key: r.key,
    value: r.value_base64 !== undefined ? atob(r.value_base64) : (r.value ?? ''),
    createRevision: r.create_revision,
    modRevision: r.mod_revision,
    version: r.version,
  }
}

/** Encodes a snapshot line by line, keeping the running checksum and counts. */
export class SnapshotEncoder {
  private readonly hash = sha256.create()
  private bytes = 0
  private count = 0

  header(h: Omit<SnapshotHeader, 'format' | 'version'>): Uint8Array {
    return this.line({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_FORMAT_VERSION, ...h })
  }

  /** A page of pairs as one chunk. */
  records(kvs: KeyValue[]): Uint8Array {
    if (kvs.length === 0) return new Uint8Array(0)
    this.count += kvs.length
    return this.line(null, kvs.map((kv) => JSON.stringify(recordOf(kv))).join('\n'))
  }

  trailer(): Uint8Array {
    const t: SnapshotTrailer = {
      trailer: { count: this.count, bytes: this.bytes, sha256: bytesToHex(this.hash.digest()) },
    }
    return encoder.encode(JSON.stringify(t) + '\n')
  }

  get written(): { count: number; bytes: number } {
    return { count: this.count, bytes: this.bytes }
  }

  private line(obj: unknown, text?: string): Uint8Array {
    const data = encoder.encode((text ?? JSON.stringify(obj)) + '\n')
    this.hash.update(data)
    this.bytes += data.length
    return data
  }
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError'
}

export type SnapshotItem =
  | { type: 'header'; header: SnapshotHeader }
  | {
      type: 'records'
      records: SnapshotRecord[]
      bytes: number
      /** Each record's line length with its newline: where each sits in the file. */
      lengths: number[]
    }
  | { type: 'trailer'; trailer: SnapshotTrailer['trailer'] }

/**
 * Reads a snapshot from its bytes: the header, the records in batches as they arrive, then the trailer,
 * once its counts and checksum have been checked. Throws SnapshotFormatError on a file that is not a
 * snapshot of a version this reader knows, that is cut short, or whose checksum does not match.
 */
export async function* readSnapshot(
  chunks: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
): AsyncGenerator<SnapshotItem> {
  const hash = sha256.create()
  const decoder = new TextDecoder()
  let bytes = 0
  let count = 0
  let header: SnapshotHeader | undefined
  let trailer: SnapshotTrailer['trailer'] | undefined
  let pending: Uint8Array[] = []
  let batch: SnapshotRecord[] = []
  let lengths: number[] = []
  let batchBytes = 0

  const takeLine = (line: Uint8Array): SnapshotItem | undefined => {
    if (trailer) throw new SnapshotFormatError('snapshot: data after the trailer')
    let obj: Record<string, unknown>
    try {
      obj = JSON.parse(decoder.decode(line)) as Record<string, unknown>
    } catch {
      throw new SnapshotFormatError(`snapshot: line ${count + 2} is not JSON`)
    }
    if (!header) {
      if (obj.format !== SNAPSHOT_FORMAT)
        throw new SnapshotFormatError('snapshot: not an edge-apiserver snapshot')
      if (obj.version !== SNAPSHOT_FORMAT_VERSION)
        throw new SnapshotFormatError(
          `snapshot: format version ${String(obj.version)} is not supported (this reader knows ${SNAPSHOT_FORMAT_VERSION})`,
        )
      header = obj as unknown as SnapshotHeader
      hash.update(line)
      hash.update(new Uint8Array([NEWLINE]))
      bytes += line.length + 1
      return { type: 'header', header }
    }
    if (obj.trailer) {
      trailer = obj.trailer as SnapshotTrailer['trailer']
      return undefined
    }
    if (typeof obj.key !== 'string' || typeof obj.mod_revision !== 'number')
      throw new SnapshotFormatError(`snapshot: line ${count + 2} is not a record`)
    hash.update(line)
    hash.update(new Uint8Array([NEWLINE]))
    bytes += line.length + 1
    count++
    batch.push(obj as unknown as SnapshotRecord)
    lengths.push(line.length + 1)
    batchBytes += line.length + 1
    return undefined
  }

  const flush = (): SnapshotItem | undefined => {
    if (batch.length === 0) return undefined
    const item: SnapshotItem = { type: 'records', records: batch, bytes: batchBytes, lengths }
    batch = []
    lengths = []
    batchBytes = 0
    return item
  }

  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start)
      if (nl < 0) break
      let line = chunk.subarray(start, nl)
      if (pending.length > 0) {
        line = concatBytes(...pending, line)
        pending = []
      }
      start = nl + 1
      const item = takeLine(line)
      if (item) yield item
    }
    if (start < chunk.length) pending.push(chunk.slice(start))
    const item = flush()
    if (item) yield item
  }
  if (
    pending.length > 0 &&
    concatBytes(...pending).some((b) => b !== NEWLINE && b !== 13 && b !== 32)
  )
    throw new SnapshotFormatError('snapshot: cut short (the last line is incomplete)')
  if (!header) throw new SnapshotFormatError('snapshot: empty')
  if (!trailer) throw new SnapshotFormatError('snapshot: cut short (no trailer)')
  if (trailer.count !== count || trailer.bytes !== bytes)
    throw new SnapshotFormatError(
      `snapshot: the trailer counts ${trailer.count} records in ${trailer.bytes} bytes, the file has ${count} in ${bytes}`,
    )
  const digest = bytesToHex(hash.digest())
  if (trailer.sha256 !== digest)
    throw new SnapshotFormatError(
      `snapshot: checksum mismatch (trailer ${trailer.sha256}, file ${digest})`,
    )
  yield { type: 'trailer', trailer }
}

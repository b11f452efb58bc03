// Taking and restoring snapshots over any store that can read at a fixed revision in pages and write
// pairs with their revisions: the Durable Object (src/storage/durable) and etcd (src/storage/etcd,
// src/node/snapshot). The file streams through: a page is read, encoded and handed on before the next.
import type { KeyValue } from '../store'
import {
  isSnapshotKey,
  keyValueOf,
  readSnapshot,
  SnapshotEncoder,
  type SnapshotHeader,
} from './format'

export interface SnapshotPoint {
  revision: number
  compactedRevision: number
  count: number
}

/** A store a snapshot can be taken of while it serves. */
export interface SnapshotSource {
  /** The revision the snapshot is taken at (the current one), the compacted one and how many keys it has. */
  beginSnapshot(): Promise<SnapshotPoint>
  /**
   * Keys strictly after `after` in key order as each was at `revision`, at most `limit`, and the key the
   * next page follows (the last one returned unless the source left some out). Throws StoreError
   * Compacted when the revision has been compacted away meanwhile.
   */
  snapshotPage(
    revision: number,
    after: string,
    limit: number,
  ): Promise<{ kvs: KeyValue[]; more: boolean; after?: string }>
}

/** A store a snapshot can be restored into, keeping each pair's revisions. */
export interface RestoreTarget {
  /** Empties the store (or checks it is empty) and refuses other writes until endRestore. */
  beginRestore(header: SnapshotHeader): Promise<void>
  /** Pairs in the order of the file (key order). */
  restorePage(kvs: KeyValue[]): Promise<void>
  /** Sets the store's revision to the snapshot's; older revisions answer as compacted. */
  endRestore(header: SnapshotHeader): Promise<void>
}

/**
 * Records per page read from the store (each page is a round trip to the Durable Object or etcd: 2,000
 * halved the time of 500 at the edge); values run up to 1.5 MiB, so the object also cuts a page by size.
 */
export const SNAPSHOT_PAGE_SIZE = 2000
export const RESTORE_PAGE_BYTES = 4 * 1024 * 1024

/** The snapshot of `source` as a byte stream, read a page at a time as the consumer pulls. */
export function snapshotStream(
  source: SnapshotSource,
  opts: { cluster: string; source: string; pageSize?: number },
): ReadableStream<Uint8Array> {
  const enc = new SnapshotEncoder()
  const pageSize = opts.pageSize ?? SNAPSHOT_PAGE_SIZE
  let point: SnapshotPoint | undefined
  let after = ''
  let done = false
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!point) {
          point = await source.beginSnapshot()
          controller.enqueue(
            enc.header({
              cluster: opts.cluster,
              source: opts.source,
              revision: point.revision,
              compacted_revision: point.compactedRevision,
              count: point.count,
              created: new Date().toISOString(),
            }),
          )
          return
        }
        if (done) {
          controller.enqueue(enc.trailer())
          controller.close()
          return
        }
        const page = await source.snapshotPage(point.revision, after, pageSize)
        const kvs = page.kvs.filter((kv) => isSnapshotKey(kv.key))
        if (kvs.length > 0) controller.enqueue(enc.records(kvs))
        const next = page.after ?? page.kvs[page.kvs.length - 1]?.key
        if (!page.more || next === undefined) done = true
        else after = next
      },
    },
    { highWaterMark: 1 },
  )
}

export interface RestoreSummary {
  header: SnapshotHeader
  count: number
  bytes: number
  /** Records of an older file outside /registry/ (the server's bookkeeping), not restored. */
  leftOut: number
}

/**
 * Restores the snapshot in `body` into `target`, in pages of about RESTORE_PAGE_BYTES. The file's
 * checksum is only known at its end: a damaged file fails there, with the target left in restore
 * (refusing writes) until a good restore replaces it. `transform` rewrites a pair on its way in
 * (the edge reads no protobuf: it stores such values as their JSON).
 */
export async function restoreSnapshot(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  target: RestoreTarget,
  opts: {
    transform?: (kv: KeyValue) => KeyValue
    progress?: (count: number, bytes: number) => void
  } = {},
): Promise<RestoreSummary> {
  let header: SnapshotHeader | undefined
  let page: KeyValue[] = []
  let pageBytes = 0
  let count = 0
  let bytes = 0
  let leftOut = 0
  const flush = async () => {
    if (page.length === 0) return
    await target.restorePage(page)
    count += page.length
    bytes += pageBytes
    page = []
    pageBytes = 0
    opts.progress?.(count, bytes)
  }
  for await (const item of readSnapshot(body)) {
    if (item.type === 'header') {
      header = item.header
      await target.beginRestore(header)
    } else if (item.type === 'records') {
      const per = item.bytes / item.records.length
      for (const r of item.records) {
        if (!isSnapshotKey(r.key)) {
          leftOut++
          continue
        }
        const kv = keyValueOf(r)
        page.push(opts.transform ? opts.transform(kv) : kv)
        pageBytes += per
        if (pageBytes >= RESTORE_PAGE_BYTES) await flush()
      }
    } else {
      await flush()
      await target.endRestore(header!)
    }
  }
  return { header: header!, count, bytes: Math.round(bytes), leftOut }
}

// Restoring a snapshot file into etcd (Node mode's, or one kube-apiserver is to serve), while no server
// runs on it, as `etcdctl snapshot restore` is used. etcd gives every write the next revision and lets no
// client choose one, so the revisions of the file are kept only by writing its keys in mod_revision order
// into an etcd whose revision is still below the first of them, with throwaway writes of one key outside
// the prefix filling the gaps (docs/snapshot-format.md). Otherwise (--renumber) the keys get new
// revisions and clients relist. Either way the history before the restore is compacted away, so a watch
// from an older resourceVersion is answered 410 Gone.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs'
import type { Etcd3 } from 'etcd3'
import { isByteString, type KeyValue } from '../../storage/store'
import {
  keyValueOf,
  readSnapshot,
  type SnapshotHeader,
  type SnapshotRecord,
} from '../../storage/snapshot/format'
import type { Progress } from './progress'

export interface EtcdRestoreOptions {
  /** --etcd-prefix of the server that will serve it (default /registry). */
  prefix?: string
  /** Give the keys new revisions instead of refusing an etcd that is past the snapshot's first one. */
  renumber?: boolean
  progress?: Progress
  /** Rewrites or drops (undefined) a pair on its way in. */
  transform?: (kv: KeyValue) => KeyValue | undefined
}

export interface EtcdRestoreResult {
  header: SnapshotHeader
  count: number
  /** The etcd revision after the restore: the snapshot's own (or one past it) unless renumbered. */
  revision: number
  renumbered: boolean
}

/** Throwaway writes in flight at once while a gap of revisions is filled. */
const FILL_CONCURRENCY = 64

function valueBuffer(value: string): Buffer {
  return Buffer.from(value, isByteString(value) ? 'latin1' : 'utf8')
}

/** A growable column of numbers: a 10-million-key snapshot indexes in 240 MB, not in objects. */
class Column {
  data = new Float64Array(1024)
  length = 0
  push(n: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = n
  }
}

export async function restoreIntoEtcd(
  file: string,
  client: Etcd3,
  opts: EtcdRestoreOptions = {},
): Promise<EtcdRestoreResult> {
  const prefix = (opts.prefix ?? '/registry').replace(/\/+$/, '')
  const etcdKey = (key: string) =>
    prefix + (key.startsWith('/registry') ? key.slice('/registry'.length) : key)
  const fillerKey = `${prefix}.restore-filler`

  // Pass 1: check the whole file (its checksum is at its end) and note where each record is and its
  // revision, before anything is written.
  let header: SnapshotHeader | undefined
  const revs = new Column()
  const offsets = new Column()
  const sizes = new Column()
  let offset = 0
  for await (const item of readSnapshot(createReadStream(file, { highWaterMark: 1 << 20 }))) {
    if (item.type === 'header') {
      header = item.header
      offset = Buffer.byteLength(JSON.stringify(header)) + 1
    } else if (item.type === 'records') {
      item.records.forEach((r, i) => {
        revs.push(r.mod_revision)
        offsets.push(offset)
        sizes.push(item.lengths[i])
        offset += item.lengths[i]
      })
    }
  }
  if (!header) throw new Error('snapshot: no header')
  const count = revs.length

  const existing = await client.kv.range({
    key: Buffer.from(prefix + '/'),
    range_end: Buffer.from(prefix + '0'), // '/' + 1
    count_only: true,
  })
  if (Number(existing.count) > 0)
    throw new Error(
      `etcd holds ${existing.count} keys under ${prefix}/: restore into an empty prefix`,
    )
  let revision = Number(existing.header.revision)
  let order: number[]
  const renumber = !!opts.renumber
  if (renumber) {
    order = Array.from({ length: count }, (_, i) => i)
  } else {
    order = Array.from({ length: count }, (_, i) => i).sort((a, b) => revs.data[a] - revs.data[b])
    const first = count > 0 ? revs.data[order[0]] : header.revision
    if (revision >= first)
      throw new Error(
        `etcd is at revision ${revision}, not below the snapshot's first revision ${first}: etcd cannot ` +
          'give keys revisions it has passed. Restore into a fresh etcd, or pass --renumber to give ' +
          'the keys new revisions (clients then relist)',
      )
    for (let i = 1; i < count; i++)
      if (revs.data[order[i]] === revs.data[order[i - 1]])
        throw new Error(
          `two keys at revision ${revs.data[order[i]]}: etcd puts one write at a revision`,
        )
  }

  let fillerExists = false
  const fill = async (n: number) => {
    for (let done = 0; done < n;) {
      const batch = Math.min(FILL_CONCURRENCY, n - done)
      await Promise.all(
        Array.from({ length: batch }, () =>
          client.kv.put({ key: Buffer.from(fillerKey), value: Buffer.alloc(0) }),
        ),
      )
      fillerExists = true
      done += batch
      revision += batch
    }
  }

  // Pass 2: the records in revision order, read back from where pass 1 found them. Renumbered, the
  // order does not matter and writes go FILL_CONCURRENCY at a time.
  const fd = openSync(file, 'r')
  const record = (i: number): KeyValue | undefined => {
    const buf = Buffer.alloc(sizes.data[i])
    readSync(fd, buf, 0, buf.length, offsets.data[i])
    const kv = keyValueOf(JSON.parse(buf.toString('utf8')) as SnapshotRecord)
    opts.progress?.add(1, buf.length)
    return opts.transform ? opts.transform(kv) : kv
  }
  const put = async (kv: KeyValue) => {
    const res = await client.kv.put({
      key: Buffer.from(etcdKey(kv.key)),
      value: valueBuffer(kv.value),
    })
    return Number(res.header.revision)
  }
  try {
    if (renumber) {
      for (let at = 0; at < order.length; at += FILL_CONCURRENCY) {
        const kvs = order.slice(at, at + FILL_CONCURRENCY).map(record)
        const revs = await Promise.all(kvs.map((kv) => (kv ? put(kv) : 0)))
        revision = Math.max(revision, ...revs)
      }
    } else {
      for (const i of order) {
        const kv = record(i)
        if (!kv) continue
        await fill(kv.modRevision - revision - 1)
        revision = await put(kv)
        if (revision !== kv.modRevision)
          throw new Error(
            `etcd gave ${kv.key} revision ${revision}, not ${kv.modRevision}: something else wrote to it during the restore`,
          )
      }
    }
  } finally {
    closeSync(fd)
  }
  // Up to the snapshot's revision (the deletes after its last write), the filler's delete being the
  // last write when there is a gap left.
  if (!renumber && header.revision - revision >= 2) await fill(header.revision - revision - 1)
  if (fillerExists) {
    const res = await client.kv.deleteRange({ key: Buffer.from(fillerKey) })
    revision = Number(res.header.revision)
  }
  // The filler's history and everything before the snapshot is not the cluster's: compacted, as after
  // `etcdutl snapshot restore --mark-compacted`.
  const compactTo = renumber ? revision : Math.min(revision, header.revision)
  if (compactTo > 1) await client.kv.compact({ revision: String(compactTo), physical: false })
  return { header, count, revision, renumbered: renumber }
}

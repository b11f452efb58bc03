// Restoring a snapshot file into etcd (Node mode's, or one kube-apiserver is to serve), while no server
// runs on it, as `etcdctl snapshot restore` is used. etcd gives every write the next revision and lets no
// client choose one, so the revisions of the file are kept by writing into an etcd whose revision is
// still below the first of them one write per revision, in order: each key at its create revision, again
// at free revisions in between as often as its version says, and last at its mod revision with its value;
// throwaway writes of one key outside the prefix take the revisions nothing else needs
// (docs/snapshot-format.md). etcd applies requests in flight together in no order of their own, so the
// writes go in batches whose every request can make any write of its batch, whichever is next (eitherOf),
// and runs of writes whose order does not matter go as plain puts. Otherwise (--renumber) the keys get
// new revisions and clients relist. Either way the history before the restore is compacted away, so a
// watch from an older resourceVersion is answered 410 Gone.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs'
import {
  CompareResult,
  CompareTarget,
  type Etcd3,
  type ICompare,
  type ITxnRequest,
  type ITxnResponse,
} from 'etcd3'
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
  /** Rewrites or drops (undefined) a pair on its way in; called again for the same record. */
  transform?: (kv: KeyValue) => KeyValue | undefined
  /** Writes per batch (default BATCH_WRITES; with renumber, puts in flight at once). */
  batchWrites?: number
}

export interface EtcdRestoreResult {
  header: SnapshotHeader
  count: number
  /** The etcd revision after the restore: the snapshot's own (or one past it) unless renumbered. */
  revision: number
  renumbered: boolean
  /**
   * Keys whose create revision or version could not be given back (not renumbered): created before
   * the etcd's revision, or too few free revisions between their create and mod revisions for their
   * version. Their mod revision, which is their resourceVersion, is kept all the same.
   */
  approximated: number
}

/**
 * Writes per batch, sent at once. etcd commits the requests it has at hand together (one raft append
 * and one fsync for all), where one at a time waits a round trip and an fsync each (52 objects/s on
 * this project's shared bench machine under load). Every request of a batch carries all of its writes
 * (eitherOf), so a batch costs its values times its size in etcd's log. Nesting is bounded too: etcd
 * checks a nested transaction against what its parents left of --max-txn-ops (128; two compares a
 * level), and grpc-js's encoder refuses some 50 levels. 16 restored fastest here (8 and 32 slower).
 */
export const BATCH_WRITES = 16
/** With --renumber, and in a run of writes that only fill revisions: puts in flight at once. */
const RENUMBER_IN_FLIGHT = 128
/** Writes that only fill revisions go unordered from this many in a row, up to RUN_WRITES at once. */
const MIN_RUN = 8
const RUN_WRITES = 4096
/**
 * Values in a batch, which each of its requests carries: at most this much (and one write at least),
 * well under etcd's --max-request-bytes (1.5 MiB). Fillers and the writes before a key's last carry
 * none, so batches of gaps are always full.
 */
const BATCH_BYTES = 64 * 1024

function valueBuffer(value: string): Buffer {
  return Buffer.from(value, isByteString(value) ? 'latin1' : 'utf8')
}

/** A growable column of numbers: a 10-million-key snapshot indexes in 400 MB, not in objects. */
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

/** The records of a snapshot as columns, by their place in the file. */
export interface RecordColumns {
  length: number
  mod: ArrayLike<number>
  create: ArrayLike<number>
  version: ArrayLike<number>
}

/** What one revision's write does to one record's key. */
export interface RestoreOp {
  index: number
  /** `final` puts the record's value; `create` and `update` are the writes before it, compacted away. */
  kind: 'create' | 'update' | 'final'
}

/** One etcd write of the restore; no ops: a throwaway write of the filler key. */
export interface RestoreStep {
  revision: number
  ops: RestoreOp[]
}

/** A min-heap of record indices by their mod revision: the open key whose mod revision comes first. */
class ByDeadline {
  private readonly items: number[] = []
  constructor(private readonly mod: ArrayLike<number>) {}
  get size(): number {
    return this.items.length
  }
  peek(): number | undefined {
    return this.items[0]
  }
  push(i: number): void {
    const a = this.items
    a.push(i)
    for (let c = a.length - 1; c > 0;) {
      const p = (c - 1) >> 1
      if (this.mod[a[p]] <= this.mod[a[c]]) break
      ;[a[p], a[c]] = [a[c], a[p]]
      c = p
    }
  }
  pop(): number | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      for (let p = 0; ;) {
        const l = 2 * p + 1
        const r = l + 1
        let m = p
        if (l < a.length && this.mod[a[l]] < this.mod[a[m]]) m = l
        if (r < a.length && this.mod[a[r]] < this.mod[a[m]]) m = r
        if (m === p) break
        ;[a[p], a[m]] = [a[m], a[p]]
        p = m
      }
    }
    return top
  }
}

/**
 * The writes that give every record of `cols` (each index once in `order`, by mod revision) its mod
 * revision and, where the revisions allow, its create revision and version, one write per revision
 * from `from` to `to`. A record of version v created before its mod revision needs v - 2 writes
 * between the two; the free revisions (no record's create or mod revision) go to the open record whose
 * mod revision comes first, which finds a place for every such write whenever the file's history had
 * one (earliest deadline first). `approximated` counts the records that got less.
 */
export function* restoreSteps(
  cols: RecordColumns,
  order: ArrayLike<number>,
  from: number,
  to: number,
  counts: { approximated: number } = { approximated: 0 },
): Generator<RestoreStep> {
  const need = new Float64Array(cols.length)
  const creates: number[] = []
  for (let i = 0; i < cols.length; i++) {
    const c = cols.create[i]
    const m = cols.mod[i]
    const v = cols.version[i]
    if (c === m) {
      if (v !== 1) counts.approximated++
    } else if (c >= from && c < m && v >= 2) {
      creates.push(i)
      need[i] = v - 2
    } else counts.approximated++
  }
  creates.sort((a, b) => cols.create[a] - cols.create[b])
  const open = new ByDeadline(cols.mod)
  const done = new Uint8Array(cols.length)
  let mi = 0
  let ci = 0
  for (let r = from; r <= to; r++) {
    const ops: RestoreOp[] = []
    while (mi < order.length && cols.mod[order[mi]] === r) {
      const i = order[mi++]
      ops.push({ index: i, kind: 'final' })
      done[i] = 1
      if (need[i] > 0) counts.approximated++
    }
    while (ci < creates.length && cols.create[creates[ci]] === r) {
      const i = creates[ci++]
      ops.push({ index: i, kind: 'create' })
      if (need[i] > 0) open.push(i)
    }
    if (ops.length === 0) {
      while (open.size > 0 && done[open.peek()!]) open.pop()
      const i = open.peek()
      if (i !== undefined) {
        ops.push({ index: i, kind: 'update' })
        if (--need[i] === 0) open.pop()
      }
    }
    yield { revision: r, ops }
  }
}

interface Write {
  revision: number
  /** Each key's put and the revision the key is at before it (0: not there yet). */
  puts: { key: Buffer; value: Buffer; before: number }[]
  /** The write just before, which this one waits for. */
  after?: { key: Buffer; revision: number }
  /** Records this write gives their value: what progress counts. */
  objects: number
  bytes: number
}

function modEquals(key: Buffer, revision: number): ICompare {
  return {
    key,
    target: CompareTarget.Mod,
    result: CompareResult.Equal,
    mod_revision: String(revision),
  }
}

/** Batch positions from `i` outwards: where etcd most likely applies the request sent i-th. */
function nearestFirst(n: number, i: number): number[] {
  const order = [i]
  for (let d = 1; order.length < n; d++) {
    if (i + d < n) order.push(i + d)
    if (i - d >= 0) order.push(i - d)
  }
  return order
}

/**
 * One request that makes whichever write of the batch is next: for each position (in `order`), if the
 * write before it has applied (its key is at that revision) and this one has not (its keys are where
 * they were before it), its puts; else the next position's test, in a transaction nested in the
 * failure branch. Once every write has applied, it falls through all of them and makes none.
 */
function eitherOf(batch: Write[], order: number[]): ITxnRequest {
  let txn: ITxnRequest | undefined
  for (let k = order.length - 1; k >= 0; k--) {
    const w = batch[order[k]]
    txn = {
      compare: [
        ...(w.after ? [modEquals(w.after.key, w.after.revision)] : []),
        ...w.puts.map((p) => modEquals(p.key, p.before)),
      ],
      success: w.puts.map((p) => ({ request_put: { key: p.key, value: p.value } })),
      failure: txn ? [{ request_txn: txn }] : [],
    }
  }
  return txn!
}

/** Whether a request of eitherOf made its write, at whichever level. */
function madeAWrite(r: ITxnResponse): boolean {
  for (let t: ITxnResponse | undefined = r; t; t = t.responses[0]?.response_txn)
    if (t.succeeded) return true
  return false
}

export async function restoreIntoEtcd(
  file: string,
  client: Etcd3,
  opts: EtcdRestoreOptions = {},
): Promise<EtcdRestoreResult> {
  const prefix = (opts.prefix ?? '/registry').replace(/\/+$/, '')
  const etcdKey = (key: string) =>
    prefix + (key.startsWith('/registry') ? key.slice('/registry'.length) : key)
  const fillerKey = Buffer.from(`${prefix}.restore-filler`)

  // Pass 1: check the whole file (its checksum is at its end) and note where each record is and its
  // revisions, before anything is written. A record the transform drops is not noted: its revisions
  // are free ones.
  let header: SnapshotHeader | undefined
  const mods = new Column()
  const creates = new Column()
  const versions = new Column()
  const offsets = new Column()
  const sizes = new Column()
  let offset = 0
  for await (const item of readSnapshot(createReadStream(file, { highWaterMark: 1 << 20 }))) {
    if (item.type === 'header') {
      header = item.header
      offset = Buffer.byteLength(JSON.stringify(header)) + 1
    } else if (item.type === 'records') {
      item.records.forEach((r, i) => {
        if (!opts.transform || opts.transform(keyValueOf(r))) {
          mods.push(r.mod_revision)
          creates.push(r.create_revision ?? r.mod_revision)
          versions.push(r.version ?? 1)
          offsets.push(offset)
          sizes.push(item.lengths[i])
        }
        offset += item.lengths[i]
      })
    }
  }
  if (!header) throw new Error('snapshot: no header')
  const count = mods.length

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
  const renumber = !!opts.renumber
  const batchWrites = Math.max(1, opts.batchWrites ?? BATCH_WRITES)

  const fd = openSync(file, 'r')
  const record = (i: number): KeyValue => {
    const buf = Buffer.alloc(sizes.data[i])
    readSync(fd, buf, 0, buf.length, offsets.data[i])
    const kv = keyValueOf(JSON.parse(buf.toString('utf8')) as SnapshotRecord)
    return opts.transform ? opts.transform(kv)! : kv
  }
  try {
    if (renumber) {
      // No order to keep: puts go RENUMBER_IN_FLIGHT at a time, each at a revision of its own as in
      // the file (the edge takes one key per revision only).
      const inFlight = Math.max(1, opts.batchWrites ?? RENUMBER_IN_FLIGHT)
      const running = new Set<Promise<void>>()
      for (let i = 0; i < count; i++) {
        const kv = record(i)
        const p: Promise<void> = client.kv
          .put({ key: Buffer.from(etcdKey(kv.key)), value: valueBuffer(kv.value) })
          .then((res) => {
            revision = Math.max(revision, Number(res.header.revision))
            opts.progress?.add(1, sizes.data[i])
            running.delete(p)
          })
        running.add(p)
        if (running.size >= inFlight) await Promise.race(running)
      }
      await Promise.all(running)
      // Everything before is not the cluster's: compacted, as after `etcdutl snapshot restore
      // --mark-compacted`.
      if (revision > 1) await client.kv.compact({ revision: String(revision), physical: false })
      return { header, count, revision, renumbered: true, approximated: count }
    }

    const order = Float64Array.from({ length: count }, (_, i) => i).sort(
      (a, b) => mods.data[a] - mods.data[b],
    )
    const first = count > 0 ? mods.data[order[0]] : header.revision
    if (revision >= first)
      throw new Error(
        `etcd is at revision ${revision}, not below the snapshot's first revision ${first}: etcd cannot ` +
          'give keys revisions it has passed. Restore into a fresh etcd, or pass --renumber to give ' +
          'the keys new revisions (clients then relist)',
      )
    for (let i = 1; i < count; i++)
      if (mods.data[order[i]] === mods.data[order[i - 1]])
        throw new Error(
          `two keys at revision ${mods.data[order[i]]}: etcd puts one write at a revision`,
        )
    const last = count > 0 ? mods.data[order[count - 1]] : 0
    if (last > header.revision)
      throw new Error(
        `the snapshot's revision ${header.revision} is older than its records (${last})`,
      )

    // A filler left by a restore that stopped half-way is where it is.
    const stale = await client.kv.range({ key: fillerKey })
    let fillerAt = Number(stale.kvs[0]?.mod_revision ?? 0)
    const counts = { approximated: 0 }
    // Up to the snapshot's revision (the deletes after its last write), the filler's delete being the
    // last write when there is a gap left.
    const steps = restoreSteps(
      { length: count, mod: mods.data, create: creates.data, version: versions.data },
      order,
      revision + 1,
      Math.max(last, header.revision - 1),
      counts,
    )
    // The revision of each key's last write so far.
    const at = new Float64Array(count)
    let previous: Write['after']
    const writeOf = (step: RestoreStep): Write => {
      const w: Write = { revision: step.revision, puts: [], after: previous, objects: 0, bytes: 0 }
      if (step.ops.length === 0) {
        w.puts.push({ key: fillerKey, value: Buffer.alloc(0), before: fillerAt })
        fillerAt = step.revision
      }
      for (const op of step.ops) {
        const kv = record(op.index)
        // The writes before the last are compacted away at the end: they carry no value.
        const value = op.kind === 'final' ? valueBuffer(kv.value) : Buffer.alloc(0)
        w.puts.push({ key: Buffer.from(etcdKey(kv.key)), value, before: at[op.index] })
        at[op.index] = step.revision
        if (op.kind === 'final') {
          w.objects++
          w.bytes += sizes.data[op.index]
        }
      }
      previous = { key: w.puts[0].key, revision: step.revision }
      return w
    }
    // A batch of writes goes as as many requests at once, each able to make any write of the batch:
    // etcd runs requests in flight together in no particular order (the last sent often first), so
    // whichever it applies first makes the first write, the next the second, and so on. The next
    // batch goes once this one has applied. (Requests that could make writes of the next batch too
    // would keep etcd busy between batches, but a request that comes too early then makes none and
    // must be sent again, which cost more than it saved.)
    // Steps read ahead of the batch being made.
    const queue: RestoreStep[] = []
    const peek = (k: number): RestoreStep | undefined => {
      while (queue.length <= k) {
        const next = steps.next()
        if (next.done) return undefined
        queue.push(next.value)
      }
      return queue[k]
    }
    // A run of writes that only fill revisions (fillers, and a key's writes between its first and
    // its last) may land in any order: anchored by the writes before and after, which wait for it.
    const anonymous = (k: number) => {
      const st = peek(k)
      return st !== undefined && st.ops.every((op) => op.kind === 'update')
    }
    const runAhead = () => {
      for (let k = 0; k < MIN_RUN; k++) if (!anonymous(k)) return false
      return true
    }
    const batchOf = (): Write[] => {
      const batch: Write[] = []
      let bytes = 0
      while (batch.length < batchWrites && peek(0)) {
        if (batch.length > 0 && runAhead()) break
        const w = writeOf(queue.shift()!)
        batch.push(w)
        bytes += w.puts.reduce((n, p) => n + p.value.length, 0)
        if (bytes >= BATCH_BYTES) break
      }
      return batch
    }
    const fillRun = async () => {
      const run: { key: Buffer; index: number }[] = []
      while (run.length < RUN_WRITES && anonymous(0)) {
        const st = queue.shift()!
        const op = st.ops[0]
        run.push(
          op
            ? { key: Buffer.from(etcdKey(record(op.index).key)), index: op.index }
            : { key: fillerKey, index: -1 },
        )
      }
      const running = new Set<Promise<void>>()
      const landed: number[] = []
      for (const [n, w] of run.entries()) {
        const p: Promise<void> = client.kv.put({ key: w.key, value: Buffer.alloc(0) }).then((r) => {
          running.delete(p)
          landed[n] = Number(r.header.revision)
        })
        running.add(p)
        p.catch(() => undefined) // Promise.race below throws it
        if (running.size >= RENUMBER_IN_FLIGHT) await Promise.race(running)
      }
      await Promise.all(running)
      const end = revision + run.length
      const seen = new Set(landed)
      if (seen.size !== run.length || Math.min(...landed) !== revision + 1 || !seen.has(end))
        throw new Error(
          `etcd put the writes of revisions ${revision + 1} to ${end} elsewhere: something else ` +
            'wrote to it during the restore',
        )
      // Where each key ended is wherever its last write landed.
      for (const [n, w] of run.entries()) {
        if (w.index < 0) fillerAt = Math.max(fillerAt, landed[n])
        else at[w.index] = Math.max(at[w.index], landed[n])
        if (landed[n] === end) previous = { key: w.key, revision: end }
      }
      revision = end
    }
    for (;;) {
      if (!peek(0)) break
      if (runAhead()) {
        await fillRun()
        continue
      }
      const batch = batchOf()
      if (batch.length === 0) break
      const results = await Promise.all(
        batch.map((_, i) => client.kv.txn(eitherOf(batch, nearestFirst(batch.length, i)))),
      )
      let applied = 0
      let newest = 0
      for (const r of results) {
        if (madeAWrite(r)) applied++
        newest = Math.max(newest, Number(r.header.revision))
      }
      const end = batch[batch.length - 1].revision
      if (applied !== batch.length || newest !== end)
        throw new Error(
          `etcd is at revision ${newest} after the writes up to ${end} (${applied} of ` +
            `${batch.length} made): something else wrote to it during the restore`,
        )
      revision = end
      for (const w of batch) if (w.objects > 0) opts.progress?.add(w.objects, w.bytes)
    }
    if (fillerAt > 0) {
      const res = await client.kv.deleteRange({ key: fillerKey })
      revision = Number(res.header.revision)
    }
    // The filler's history and everything before the snapshot is not the cluster's: compacted, as
    // after `etcdutl snapshot restore --mark-compacted`.
    const compactTo = Math.min(revision, header.revision)
    if (compactTo > 1) await client.kv.compact({ revision: String(compactTo), physical: false })
    return { header, count, revision, renumbered: false, approximated: counts.approximated }
  } finally {
    closeSync(fd)
  }
}

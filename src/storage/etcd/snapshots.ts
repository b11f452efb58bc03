// Snapshots of the keys under an etcd prefix (Node mode's, or kube-apiserver's own --etcd-prefix): a range
// at one fixed revision, a page at a time, as `etcdctl get --rev` would read it, while the cluster serves.
import { isStoreError, type KeyValue, type Store } from '../store'
import type { SnapshotPoint, SnapshotSource } from '../snapshot/stream'

const ROOT = '/registry/'
const SNAPSHOT_HOLD_MS = 10 * 60 * 1000

/** Over an EtcdStore, or a store around it that decrypts (an import with kube's EncryptionConfiguration). */
export class EtcdSnapshots implements SnapshotSource {
  /** Revisions snapshots are reading at, with when each last read a page. */
  private readonly reading = new Map<number, number>()

  constructor(private readonly store: Pick<Store, 'list' | 'currentRevision'>) {}

  /**
   * The lowest revision a snapshot has read at in the last 10 minutes: the compactor of this process
   * stays below it (src/node/compactor.ts), as the Durable Object's does at the edge. Other servers on
   * the same etcd do not know of it.
   */
  compactionFloor(now = Date.now()): number | undefined {
    let floor: number | undefined
    for (const [revision, at] of this.reading) {
      if (now - at > SNAPSHOT_HOLD_MS) this.reading.delete(revision)
      else if (floor === undefined || revision < floor) floor = revision
    }
    return floor
  }

  async beginSnapshot(): Promise<SnapshotPoint> {
    const revision = await this.store.currentRevision()
    this.reading.set(revision, Date.now())
    const { count } = await this.store.list(ROOT, { revision, limit: 1 })
    return { revision, compactedRevision: await this.compactedRevision(revision), count }
  }

  async snapshotPage(
    revision: number,
    after: string,
    limit: number,
  ): Promise<{ kvs: KeyValue[]; more: boolean }> {
    this.reading.set(revision, Date.now())
    const r = await this.store.list(ROOT, { revision, limit, after: after || undefined })
    if (!r.more) this.reading.delete(revision)
    return { kvs: r.kvs, more: r.more }
  }

  /**
   * etcd says what it compacted only in the error of a read below it: the lowest revision still
   * readable, found by bisection (a score of reads of one key at most).
   */
  async compactedRevision(current: number): Promise<number> {
    const readable = async (rev: number) => {
      try {
        await this.store.list(ROOT, { revision: rev, limit: 1 })
        return true
      } catch (e) {
        if (isStoreError(e, 'Compacted')) return false
        throw e
      }
    }
    if (await readable(1)) return 0
    let lo = 1 // not readable
    let hi = current // readable
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2)
      if (await readable(mid)) hi = mid
      else lo = mid
    }
    return hi
  }
}

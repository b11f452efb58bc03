// Snapshots, restores and point-in-time restores of a cluster's Durable Object, from the Worker: the
// object answers a page per call, so a snapshot streams through the Worker and never sits in the object.
import { StoreError, type KeyValue } from '../store'
import type { SnapshotHeader } from '../snapshot/format'
import type { RestoreTarget, SnapshotPoint, SnapshotSource } from '../snapshot/stream'
import type { Failure, PointInTimeAnswer } from './protocol'

/** What the Worker calls on a ClusterStore stub for these; a DurableObjectStub<ClusterStore> is one. */
export interface SnapshotStub {
  beginSnapshot(): Promise<SnapshotPoint>
  snapshotPage(
    revision: number,
    after: string,
    limit: number,
  ): Promise<{ ok: true; kvs: KeyValue[]; more: boolean } | Failure>
  beginRestore(): Promise<void>
  restorePage(kvs: KeyValue[]): Promise<{ ok: true } | { ok: false; message: string }>
  endRestore(
    revision: number,
  ): Promise<{ ok: true; revision: number } | { ok: false; message: string }>
  pointInTime(time: number): Promise<PointInTimeAnswer>
  restoreBookmark(bookmark: string): Promise<{ revision: number; instance: string }>
  bumpRevision(past: number, notInstance: string): Promise<{ revision: number } | null>
}

export class DurableSnapshots implements SnapshotSource, RestoreTarget {
  /** `fresh` gives a new stub: one whose object was reset throws on every later call. */
  constructor(
    private readonly stub: SnapshotStub,
    private readonly fresh: () => SnapshotStub = () => stub,
  ) {}

  async beginSnapshot(): Promise<SnapshotPoint> {
    const p = await this.stub.beginSnapshot()
    return { revision: p.revision, compactedRevision: p.compactedRevision, count: p.count }
  }

  async snapshotPage(
    revision: number,
    after: string,
    limit: number,
  ): Promise<{ kvs: KeyValue[]; more: boolean }> {
    const r = await this.stub.snapshotPage(revision, after, limit)
    if (!r.ok) throw new StoreError(r.code, after, undefined, r.revision)
    return {
      kvs: r.kvs.map((kv) => ({
        key: kv.key,
        value: kv.value,
        createRevision: kv.createRevision,
        modRevision: kv.modRevision,
        version: kv.version,
      })),
      more: r.more,
    }
  }

  async beginRestore(): Promise<void> {
    await this.stub.beginRestore()
  }

  async restorePage(kvs: KeyValue[]): Promise<void> {
    const r = await this.stub.restorePage(kvs)
    if (!r.ok) throw new Error(r.message)
  }

  async endRestore(header: SnapshotHeader): Promise<{ revision: number }> {
    const r = await this.stub.endRestore(header.revision)
    if (!r.ok) throw new Error(r.message)
    return { revision: r.revision }
  }

  /** The dry run of a point-in-time restore: the revision current at `time` and its bookmark. */
  pointInTime(time: number): Promise<PointInTimeAnswer> {
    return this.stub.pointInTime(time)
  }

  /**
   * Restores the object to `time`: arms the bookmark and restarts the object, then (the next call
   * wakes it on the restored storage) moves its revision past every one handed out before.
   */
  async restoreToTime(time: number): Promise<PointInTimeAnswer & { restoredRevision: number }> {
    const answer = await this.stub.pointInTime(time)
    if (!answer.bookmark)
      throw new Error(
        `no storage bookmark for ${new Date(time).toISOString()}: ${answer.bookmarkError}`,
      )
    const { revision: past, instance } = await this.stub.restoreBookmark(answer.bookmark)
    // The abort lands after restoreBookmark answered; the old instance refuses the bump (it is about to
    // go, and its storage with it), so ask until a new instance, on the restored storage, takes it.
    let bumped: { revision: number } | null = null
    for (let i = 0; i < 50 && !bumped; i++) {
      await new Promise((r) => setTimeout(r, 100))
      try {
        bumped = await this.fresh().bumpRevision(past, instance)
      } catch {
        // the old instance going away
      }
    }
    if (!bumped) throw new Error('the object did not come back after the point-in-time restore')
    return { ...answer, restoredRevision: bumped.revision }
  }
}

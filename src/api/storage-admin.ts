// The admin-only storage paths (docs/snapshot-format.md): a snapshot of the cluster as a stream, a restore
// from one, and at the edge a point-in-time restore. They are non-resource URLs, authorized as any other
// (RBAC nonResourceURLs: cluster-admin, which system:masters holds, has them through "*"; a dedicated
// ClusterRole may grant "/storage/*"), and long-running, as a snapshot of a large cluster takes its time.
import type { Context, Hono } from 'hono'
import { badRequest, methodNotAllowed, notFoundPath } from '../server/errors'
import { storedJson } from '../storage/storage-codec'
import { PROTOBUF_VALUE_PREFIX, type KeyValue } from '../storage/store'
import { SNAPSHOT_MEDIA_TYPE, SnapshotFormatError } from '../storage/snapshot/format'
import {
  restoreSnapshot,
  snapshotStream,
  type RestoreTarget,
  type SnapshotSource,
} from '../storage/snapshot/stream'
import type { PointInTimeAnswer } from '../storage/durable/protocol'

export const SNAPSHOT_PATH = '/storage/snapshot'
export const POINT_IN_TIME_RESTORE_PATH = '/storage/point-in-time-restore'

export interface StorageAdmin {
  cluster: string
  /** `edge` or `etcd`: written into the snapshot's header. */
  source: string
  snapshots: SnapshotSource
  /** Where a restore goes; absent where the server cannot restore while it serves (Node mode: etcd). */
  restore?: RestoreTarget
  /** Whether the target stores kube's protobuf values as they are (etcd) or needs them as JSON (edge). */
  readsProtobuf?: boolean
  pointInTime?: {
    dryRun(time: number): Promise<PointInTimeAnswer>
    restore(time: number): Promise<PointInTimeAnswer & { restoredRevision: number }>
  }
}

/** Long-running, as kube-apiserver's watch: no --request-timeout deadline. */
export function isStorageAdminPath(path: string): boolean {
  return path === SNAPSHOT_PATH || path === POINT_IN_TIME_RESTORE_PATH
}

export function mountStorageAdmin(
  app: Hono<any>,
  admin: (c: Context<any>) => StorageAdmin | undefined,
): void {
  // A cluster whose runtime keeps no snapshots serves nothing here.
  const adminOf = (c: Context<any>) => {
    const a = admin(c)
    if (!a) throw notFoundPath()
    return a
  }
  app.get(SNAPSHOT_PATH, (c) => {
    const a = adminOf(c)
    return new Response(snapshotStream(a.snapshots, { cluster: a.cluster, source: a.source }), {
      headers: {
        'Content-Type': SNAPSHOT_MEDIA_TYPE,
        // A compressed stream would be buffered until it ends (DESIGN.md: the edge's watch responses).
        'Content-Encoding': 'identity',
        'Cache-Control': 'no-cache, private',
      },
    })
  })

  app.post(SNAPSHOT_PATH, async (c) => {
    const a = adminOf(c)
    if (!a.restore) throw methodNotAllowed()
    const body = c.req.raw.body
    if (!body) throw badRequest('the request body must be a snapshot')
    const transform = a.readsProtobuf ? undefined : jsonValue
    try {
      const summary = await restoreSnapshot(body, a.restore, { transform })
      return Response.json({
        cluster: a.cluster,
        revision: summary.header.revision,
        count: summary.count,
        bytes: summary.bytes,
        // The server's bookkeeping an older file carries (src/storage/snapshot/format.ts).
        ...(summary.leftOut > 0 ? { leftOut: summary.leftOut } : {}),
      })
    } catch (e) {
      if (e instanceof SnapshotFormatError) throw badRequest(e.message)
      throw e
    }
  })

  app.post(POINT_IN_TIME_RESTORE_PATH, async (c) => {
    const a = adminOf(c)
    if (!a.pointInTime) throw methodNotAllowed()
    const url = new URL(c.req.url)
    const at = url.searchParams.get('time')
    const time = at ? Date.parse(at) : NaN
    if (!at || Number.isNaN(time))
      throw badRequest('time must be an RFC 3339 time, e.g. 2026-12-04T14:05:00Z')
    const dryRun = url.searchParams.getAll('dryRun')
    if (dryRun.some((d) => d !== 'All'))
      throw badRequest(`Invalid dry run value: ${dryRun.join(', ')}`)
    const probe = await a.pointInTime.dryRun(time)
    if (dryRun.length > 0)
      return Response.json({ ...probe, time: new Date(probe.time).toISOString(), dryRun: true })
    // Nothing to restore to (the local runtime keeps no history; a time out of the window): say why.
    if (!probe.bookmark)
      throw badRequest(`point-in-time restore to ${at} is not possible: ${probe.bookmarkError}`)
    const answer = await a.pointInTime.restore(time)
    return Response.json({ ...answer, time: new Date(answer.time).toISOString(), dryRun: false })
  })
}

/** The edge keeps no protobuf: a value kube-apiserver stored in its envelope is restored as its JSON. */
function jsonValue(kv: KeyValue): KeyValue {
  return kv.value.startsWith(PROTOBUF_VALUE_PREFIX)
    ? { ...kv, value: storedJson(kv.key, kv.value) }
    : kv
}

// Test-only Worker around the real ClusterStore. Node reaches the object through it because Miniflare's
// proxy cannot return a DO stub's RPC results as values (they carry a disposer, so the proxy hands back
// a remote reference); here the Worker makes the real RPC call and returns the result as JSON.
//   POST /rpc/<cluster>/<method>   body: JSON array of arguments
//   GET  /fetch/<cluster>/<path>   forwarded to the object's fetch (the watch WebSocket upgrade)
//   GET  /in-worker/<cluster>/watch?prefix=&after=&n=&progress=
//                                  runs DurableStore.watch here on workerd, as the real Worker does,
//                                  and returns its items (with progress) up to the n-th event as JSON
import { clusterStore } from '../../src/storage/durable/client'
import type { ClusterStore } from '../../src/storage/durable/cluster-store'
import type { StoreEvent } from '../../src/storage/store'
import { DurableSnapshots, type SnapshotStub } from '../../src/storage/durable/snapshots'
import { restoreSnapshot, snapshotStream } from '../../src/storage/snapshot/stream'

export { ClusterStore } from '../../src/storage/durable/cluster-store'

interface Env {
  CLUSTER: DurableObjectNamespace<ClusterStore>
}

const METHODS = new Set([
  'get',
  'list',
  'readBatch',
  'create',
  'update',
  'delete',
  'compact',
  'currentRevision',
  'lastChange',
  'recordMetrics',
  'scrapeMetrics',
  'beginSnapshot',
  'snapshotPage',
  'beginRestore',
  'restorePage',
  'endRestore',
  'pointInTime',
])

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    const [, kind, cluster, ...rest] = url.pathname.split('/')
    const stub = env.CLUSTER.getByName(decodeURIComponent(cluster ?? ''))
    if (kind === 'rpc' && METHODS.has(rest[0] ?? '')) {
      const args = (await request.json()) as unknown[]
      // Called as a method: an RPC stub's properties are remote too, so no `.apply`.
      const rpc = stub as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
      return Response.json((await rpc[rest[0]!]!(...args)) ?? null)
    }
    // Snapshots and restores through the Worker-side code the admin paths use (src/api/storage-admin.ts).
    //   GET /snapshot/<cluster>?pageSize=   POST /snapshot/<cluster> (body: a snapshot)
    //   POST /pitr/<cluster>?time=<ms>[&dryRun=All]
    if (kind === 'snapshot') {
      const snapshots = new DurableSnapshots(stub as unknown as SnapshotStub)
      if (request.method === 'GET')
        return new Response(
          snapshotStream(snapshots, {
            cluster: cluster ?? '',
            source: 'edge',
            pageSize: Number(url.searchParams.get('pageSize')) || undefined,
          }),
        )
      try {
        return Response.json(await restoreSnapshot(request.body!, snapshots))
      } catch (e) {
        return Response.json({ error: (e as Error).message }, { status: 400 })
      }
    }
    if (kind === 'pitr') {
      const name = decodeURIComponent(cluster ?? '')
      const fresh = () => env.CLUSTER.getByName(name) as unknown as SnapshotStub
      const snapshots = new DurableSnapshots(fresh(), fresh)
      const time = Number(url.searchParams.get('time'))
      try {
        return Response.json(
          url.searchParams.has('dryRun')
            ? await snapshots.pointInTime(time)
            : await snapshots.restoreToTime(time),
        )
      } catch (e) {
        return Response.json({ error: (e as Error).message }, { status: 500 })
      }
    }
    if (kind === 'in-worker')
      return watchInWorker(env, decodeURIComponent(cluster ?? ''), url.searchParams)
    if (kind === 'fetch')
      return stub.fetch(new Request(`https://cluster/${rest.join('/')}${url.search}`, request))
    return new Response('not found', { status: 404 })
  },
}

async function watchInWorker(env: Env, cluster: string, q: URLSearchParams): Promise<Response> {
  const store = clusterStore(env, cluster)
  const ctl = new AbortController()
  const items: StoreEvent[] = []
  let events = 0
  try {
    const progressIntervalMs = Number(q.get('progress')) || undefined
    for await (const e of store.watch(q.get('prefix') ?? '', Number(q.get('after')), ctl.signal, {
      progressIntervalMs,
    })) {
      items.push(e)
      if (e.type !== 'progress' && ++events >= Number(q.get('n'))) break
    }
  } catch (e) {
    return Response.json({
      items,
      error: e instanceof Error ? { ...e, name: e.name, message: e.message } : String(e),
    })
  } finally {
    ctl.abort()
  }
  return Response.json({ items })
}

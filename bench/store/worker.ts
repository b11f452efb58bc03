// Bench only: the store's own ceiling. BenchStore is the ClusterStore with one extra RPC method that
// runs a loop of creates, updates or gets inside the object (SQLite and the revision bookkeeping, no
// HTTP, no RPC per operation). The fetch handler also runs the same loop from the Worker with one RPC
// per operation, which is what the API server pays per store call.
//
//   GET /loop?where=inside|rpc&op=create|update|get&n=N&size=BYTES&run=ID[&c=CONCURRENCY]  ->  {n, ms, failed}
//   GET /get-one?run=ID  ->  the value of the run's first key: a bare route and one RPC get, the least an
//                            API server's GET at the edge costs (bench/profile-edge.mjs FLOOR=1)
import { ClusterStore } from '../../src/storage/durable/cluster-store'

type Op = 'create' | 'update' | 'get'

interface Env {
  CLUSTER: DurableObjectNamespace<BenchStore>
}

function value(size: number, i: number): string {
  const pad = 'x'.repeat(Math.max(0, size - 120))
  return JSON.stringify({ metadata: { name: `cm-${i}`, namespace: 'bench', uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}` }, data: { k: pad } })
}

function key(run: string, i: number): string {
  return `/registry/configmaps/bench/${run}-${i}`
}

export class BenchStore extends ClusterStore {
  /** n operations in a row inside the object; returns the elapsed time as the object's clock saw it. */
  loop(op: Op, n: number, size: number, run: string): { n: number; ms: number; failed: number } {
    const start = performance.now()
    let failed = 0
    for (let i = 0; i < n; i++) {
      const k = key(run, i)
      if (op === 'create') {
        if (!this.create(k, value(size, i)).ok) failed++
      } else if (op === 'update') {
        const cur = this.get(k).kv
        if (!cur || !this.update(k, value(size, i), cur.modRevision).ok) failed++
      } else if (!this.get(k).kv) failed++
    }
    return { n, ms: performance.now() - start, failed }
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname === '/get-one') {
      const r = await env.CLUSTER.getByName('bench').get(key(url.searchParams.get('run') ?? 'r', 0))
      return r.kv ? new Response(r.kv.value, { headers: { 'content-type': 'application/json' } }) : new Response('{}', { status: 404 })
    }
    if (url.pathname !== '/loop') return Response.json({ ok: true })
    const where = url.searchParams.get('where') ?? 'inside'
    const op = (url.searchParams.get('op') ?? 'create') as Op
    const n = Number(url.searchParams.get('n') ?? '1000')
    const size = Number(url.searchParams.get('size') ?? '256')
    const run = url.searchParams.get('run') ?? 'r'
    const stub = env.CLUSTER.get(env.CLUSTER.idFromName('bench'))
    await stub.currentRevision() // wake the object (migrations) before timing
    const start = performance.now()
    if (where === 'inside') {
      const r = await stub.loop(op, n, size, run)
      return Response.json({ ...r, outerMs: performance.now() - start })
    }
    // `c` loops side by side, each taking the next index, as concurrent requests of the API server would.
    const c = Math.max(1, Number(url.searchParams.get('c') ?? '1'))
    let failed = 0
    let next = 0
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const k = key(run, i)
        if (op === 'create') {
          if (!(await stub.create(k, value(size, i))).ok) failed++
        } else if (op === 'update') {
          const cur = (await stub.get(k)).kv
          if (!cur || !(await stub.update(k, value(size, i), cur.modRevision)).ok) failed++
        } else if (!(await stub.get(k)).kv) failed++
      }
    }
    await Promise.all(Array.from({ length: c }, worker))
    return Response.json({ n, c, ms: performance.now() - start, failed })
  },
}

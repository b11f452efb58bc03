// The DevTools protocol of the API server's Worker isolate under `npm start` (wrangler dev's inspector):
// CPU profiles, heap figures and forced GCs for bench/profile-edge.mjs and the experiments.
import WebSocket from 'ws'
import { execFileSync } from 'node:child_process'
import { treeMembers } from './procs.mjs'

/**
 * A connection to the isolate of the user Worker of `srv` (a startEdge server): `call(method, params)`
 * answers with the method's result, or fails after `timeoutMs`; `close()` ends it.
 */
export async function workerInspector(srv, { timeoutMs = 120_000 } = {}) {
  const pids = treeMembers(srv.proc.pid).filter((m) => m.comm === 'workerd').map((m) => m.pid)
  for (const l of execFileSync('ss', ['-ltnpH']).toString().split('\n')) {
    if (!pids.some((p) => l.includes(`pid=${p},`))) continue
    const m = /127\.0\.0\.1:(\d+)|\[::1?\]:(\d+)|\*:(\d+)/.exec(l)
    const port = m && (m[1] ?? m[2] ?? m[3])
    let targets
    try {
      targets = await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(1000) })).json()
    } catch { continue }
    if (!Array.isArray(targets)) continue
    // the API server's Worker (wrangler's proxy Worker is named after it, with a prefix)
    const t = targets.find((x) => x.webSocketDebuggerUrl && x.description === 'workers' && !/^__|proxy/i.test(x.title ?? ''))
    if (process.env.DEBUG) console.log(targets)
    if (!t) continue
    const ws = new WebSocket(t.webSocketDebuggerUrl, { maxPayload: 1 << 30 })
    await new Promise((r, j) => { ws.on('open', r); ws.on('error', j) })
    let id = 0
    const call = (method, params = {}) => new Promise((r, j) => {
      const my = ++id
      const timer = setTimeout(() => { ws.off('message', on); j(new Error(`inspector: ${method} had no answer in ${timeoutMs} ms`)) }, timeoutMs)
      const on = (data) => {
        const msg = JSON.parse(data)
        if (msg.id !== my) return
        clearTimeout(timer)
        ws.off('message', on)
        r(msg.result)
      }
      ws.on('message', on)
      ws.send(JSON.stringify({ id: my, method, params }))
    })
    return { call, close: () => ws.close() }
  }
  throw new Error('no inspector for the user workerd')
}

// Experiment: what workerd costs to write one chunk to each of N streamed responses, each written from its
// own request's loop woken by another request (the watch cache's pattern), with nothing else in the way.
const enc = new TextEncoder()
const subs = new Set()
const line = enc.encode(JSON.stringify({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'y', resourceVersion: '123' }, data: { a: 'b'.repeat(100) } } }) + '\n')
export default {
  async fetch(req) {
    const url = new URL(req.url)
    const mode = url.searchParams.get('mode')
    if (url.pathname === '/hold') {
      const keep = setTimeout(() => {}, 3600_000)
      const sub = { queue: [], wake: undefined }
      let out
      if (mode === 'native') {
        const { readable, writable } = new IdentityTransformStream()
        const writer = writable.getWriter()
        sub.write = (b) => writer.write(b)
        out = readable
      } else {
        let controller
        out = new ReadableStream({ start(c) { controller = c } })
        sub.write = (b) => controller.enqueue(b)
      }
      subs.add(sub)
      ;(async () => {
        await sub.write(enc.encode('hi\n'))
        for (;;) {
          while (!sub.queue.length) await new Promise((r) => (sub.wake = r))
          const q = sub.queue; sub.queue = []
          for (const b of q) await sub.write(b)
        }
      })()
      return new Response(out, { headers: { 'content-encoding': 'identity' } })
    }
    if (url.pathname === '/broadcast') {
      const n = Number(url.searchParams.get('n') ?? 1)
      for (let i = 0; i < n; i++) for (const s of subs) { s.queue.push(line); const w = s.wake; s.wake = undefined; w?.() }
      return new Response(`sent ${n} to ${subs.size}\n`)
    }
    return new Response('?', { status: 404 })
  },
}

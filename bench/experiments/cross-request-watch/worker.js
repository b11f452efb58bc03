// Experiment: can one WebSocket to a Durable Object, opened by one request, feed other requests' streams?
export class Hub {
  constructor(ctx) { this.ctx = ctx }
  async fetch(req) {
    const url = new URL(req.url)
    if (url.pathname === '/ws') {
      const pair = new WebSocketPair()
      this.ctx.acceptWebSocket(pair[1])
      return new Response(null, { status: 101, webSocket: pair[0] })
    }
    if (url.pathname === '/broadcast') {
      const n = url.searchParams.get('n')
      for (const ws of this.ctx.getWebSockets()) ws.send(`event ${n}`)
      return new Response(`sent to ${this.ctx.getWebSockets().length}\n`)
    }
    return new Response('?', { status: 404 })
  }
  webSocketMessage() {}
  webSocketClose() {}
}

let shared // { ws, subs: Set<controller> }
const enc = new TextEncoder()

export default {
  async fetch(req, env) {
    const url = new URL(req.url)
    const stub = env.HUB.getByName('x')
    if (url.pathname === '/hold') {
      // A watcher: joins the shared socket (opening it if none) and streams what arrives.
      let controller
      const stream = new ReadableStream({ start(c) { controller = c } })
      const id = url.searchParams.get('id')
      if (!shared) {
        const res = await stub.fetch('http://do/ws', { headers: { Upgrade: 'websocket' } })
        const ws = res.webSocket
        ws.accept()
        shared = { ws, subs: new Map(), owner: id }
        ws.addEventListener('message', (e) => {
          for (const [sid, c] of shared.subs) {
            try { c.enqueue(enc.encode(`${sid} got ${e.data} (socket owner ${shared.owner})\n`)) } catch (err) { console.log('enqueue failed', sid, String(err)) }
          }
        })
        ws.addEventListener('close', () => { console.log('shared socket closed'); shared = undefined })
      }
      shared.subs.set(id, controller)
      controller.enqueue(enc.encode(`${id} joined (socket owner ${shared.owner})\n`))
      req.signal.addEventListener('abort', () => { shared?.subs.delete(id); console.log('abort', id) })
      return new Response(stream, { headers: { 'content-encoding': 'identity' } })
    }
    if (url.pathname === '/send') {
      // Another request using the socket another request opened.
      try { shared.ws.send('hi'); return new Response('send ok\n') } catch (e) { return new Response(`send failed: ${e}\n`) }
    }
    if (url.pathname === '/broadcast') return stub.fetch(`http://do/broadcast?n=${url.searchParams.get('n')}`)
    return new Response('?', { status: 404 })
  },
}

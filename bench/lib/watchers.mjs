// A watcher process (forked by bench/run.mjs, scenario "watch"): opens `count` watches, each on its own
// HTTP/1.1 keep-alive connection, and tells the parent when the k-th event after the start revision has
// reached every open watcher, with the monotonic clock (process.hrtime, CLOCK_MONOTONIC, shared by every
// process on the machine) of the last arrival.
//
// parent → {cmd: 'open', url, path, token, ca, headers, count, parallel, k0}  child → {type: 'opened', ok, failed, firstError, ms, alive}
//   (url https: or http:, the latter for the user Worker's own address; headers: sent with each watch)
//   (sent again to add watchers: the new ones start at the path's resourceVersion, after event k0)
// parent → {cmd: 'stop-opening'}                                   open no more; 'opened' follows
// parent → {cmd: 'close'}                                          child exits
// child  → {type: 'event', k, t (ns, string)}  every time event k has reached every watcher still open
// child  → {type: 'ended', watchers, closedByServer}                a watch stream ended before we closed it
//   (watchers: how many are still open)
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent, request as httpsRequest } from 'node:https'

let watchers = [] // {res, req, count}
let expected = 0
const arrivals = [] // arrivals[k]: how many watchers have seen event k
const last = [] // last[k]: monotonic ns of the latest arrival of event k
let reported = 0 // events reported complete
let closedByServer = 0
let closing = false
let stopOpening = false

function onData(w, buf) {
  let n = 0
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++
  if (!n) return
  const now = process.hrtime.bigint()
  for (let j = 0; j < n; j++) {
    const k = ++w.count
    arrivals[k] = (arrivals[k] ?? 0) + 1
    last[k] = now
  }
  flush()
}

function flush() {
  while (expected > 0 && (arrivals[reported + 1] ?? 0) >= expected) {
    reported++
    process.send({ type: 'event', k: reported, t: String(last[reported]) })
  }
}

let agent
function open({ url, path, token, ca, headers = {}, count, parallel = 64, k0 = 0 }) {
  const base = new URL(url)
  const https = base.protocol === 'https:'
  const request = https ? httpsRequest : httpRequest
  // one agent for every round, so that later rounds resume the TLS sessions of the first
  agent ??= https ? new Agent({ keepAlive: true, maxSockets: Infinity, ca, maxCachedSessions: 1000 }) : new HttpAgent({ keepAlive: true, maxSockets: Infinity })
  stopOpening = false
  const t0 = performance.now()
  let next = 0
  let ok = 0
  let failed = 0
  let firstError
  const one = () => new Promise((resolve) => {
    const w = { count: k0, res: undefined, req: undefined }
    const req = request({
      host: base.hostname, port: base.port, path, method: 'GET', agent,
      headers: { ...headers, authorization: `Bearer ${token}`, accept: 'application/json', connection: 'keep-alive' },
    }, (res) => {
      if (res.statusCode !== 200) {
        failed++
        firstError ??= `HTTP ${res.statusCode}`
        res.resume()
        resolve()
        return
      }
      w.res = res
      watchers.push(w)
      ok++
      res.on('data', (buf) => onData(w, buf))
      res.on('end', () => ended(w))
      res.on('error', () => ended(w))
      resolve()
    })
    w.req = req
    req.on('error', (err) => {
      if (w.res) return ended(w)
      failed++
      firstError ??= err.message
      resolve()
    })
    req.end()
  })
  const worker = async () => {
    while (next < count && !stopOpening) {
      next++
      await one()
    }
  }
  Promise.all(Array.from({ length: Math.min(parallel, count) }, worker)).then(() => {
    expected = watchers.filter((x) => !x.ended).length
    process.send({ type: 'opened', ok, failed, firstError, ms: performance.now() - t0, alive: expected })
  })
}

function ended(w) {
  if (w.ended || closing) return
  w.ended = true
  closedByServer++
  expected = watchers.filter((x) => !x.ended).length
  process.send({ type: 'ended', watchers: expected, closedByServer })
  flush()
}

process.on('message', (msg) => {
  if (msg.cmd === 'open') open(msg)
  else if (msg.cmd === 'stop-opening') stopOpening = true // the parent's time is up: report what is open
  else if (msg.cmd === 'close') {
    closing = true
    for (const w of watchers) w.req?.destroy()
    watchers = []
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))

import { Miniflare } from 'miniflare'
import { fileURLToPath } from 'node:url'
import http from 'node:http'
import { readFileSync, readdirSync } from 'node:fs'
const mode = process.argv[2]; const N = Number(process.argv[3] ?? 1000)
const mf = new Miniflare({ modules: true, scriptPath: fileURLToPath(new URL('worker.js', import.meta.url)), compatibilityDate: '2026-04-20', compatibilityFlags: ['enable_request_signal'] })
const url = await mf.ready
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
let got = 0
await Promise.all(Array.from({ length: N }, () => new Promise((res) => {
  const req = http.get(new URL(`/hold?mode=${mode}`, url), { agent }, (r) => { r.on('data', (d) => { got += d.toString().split('\n').length - 1 }); res() })
})))
await new Promise((r) => setTimeout(r, 500))
const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'workerd' } catch { return false } })
const cpu = () => pids.reduce((a, p) => { const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' '); return a + Number(f[11]) + Number(f[12]) }, 0) * 10
const base = got; const c0 = cpu(); const t0 = performance.now()
const EV = Number(process.env.EV ?? 20)
if (process.env.BATCH) await fetch(new URL('/broadcast?n=' + EV, url)).then((r) => r.text()); else for (let i = 0; i < EV; i++) { await fetch(new URL('/broadcast?n=1', url)).then((r) => r.text()) }
while (got - base < EV * N) await new Promise((r) => setTimeout(r, 5))
const ms = performance.now() - t0; const c1 = cpu()
console.log(mode, N, 'watchers:', ((c1 - c0) * 1000 / (EV * N)).toFixed(1), 'µs CPU/delivery;', (ms).toFixed(0), 'ms wall')
await mf.dispose(); process.exit(0)

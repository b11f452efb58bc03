#!/usr/bin/env node
// npm start: the embedded default. Runs the Worker locally on workerd (wrangler dev, offline, no account),
// with the cluster's state and an admin credential in --state-dir, and writes an admin kubeconfig there.
import { spawn } from 'node:child_process'
import { get as httpsGet } from 'node:https'
import { createServer } from 'node:net'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// The state dir's credentials and the Worker's vars (src/node/dev-state.ts, shared with the in-process
// server of edge-apiserver/testing) and the HTTPS listener in front of workerd (src/node/dev-front.ts),
// bundled for this script.
const cacheDir = join(root, 'node_modules', '.cache', 'edge-apiserver')
await build({ entryPoints: [join(root, 'src', 'node', 'dev-state.ts'), join(root, 'src', 'node', 'dev-front.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', outdir: cacheDir, outExtension: { '.js': '.mjs' }, logLevel: 'warning' })
const devState = await import(pathToFileURL(join(cacheDir, 'dev-state.mjs')).href)
const { startDevFront } = await import(pathToFileURL(join(cacheDir, 'dev-front.mjs')).href)

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    'state-dir': { type: 'string', default: '.local' },
    ...devState.SETTINGS_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  console.log(`Usage: npm start -- [--port N] [--state-dir DIR] [--encryption-provider-config FILE]
                 [--enable-admission-plugins LIST] [--disable-admission-plugins LIST]

  --encryption-provider-config FILE  kube-apiserver's EncryptionConfiguration: the Worker gets it as the
                                     ENCRYPTION_PROVIDER_CONFIG secret and encrypts Secrets (or what it names)
                                     before they reach the Durable Object
  --enable-admission-plugins LIST    kube-apiserver's flags, comma-separated (e.g. NodeRestriction): the
  --disable-admission-plugins LIST   Worker vars ENABLE_ADMISSION_PLUGINS and DISABLE_ADMISSION_PLUGINS
  --audit-policy-file FILE           kube-apiserver's audit Policy: the Worker gets it as the AUDIT_POLICY var and
                                     writes each event as a JSON line to Workers Logs (printed here locally)
  --audit-webhook-config-file FILE   a kubeconfig naming an audit webhook (AUDIT_WEBHOOK_CONFIG): batched EventLists
  --audit-webhook-batch-max-size N   events per EventList (AUDIT_WEBHOOK_BATCH_MAX_SIZE, default 400)
  --audit-webhook-batch-max-wait D   how long a batch waits (AUDIT_WEBHOOK_BATCH_MAX_WAIT, default 1s)
  --request-metrics false            record no request or storage metrics (REQUEST_METRICS; npm run bench)
  --watch-cache false                each watch gets a WebSocket to the Durable Object of its own, not one
                                     per resource and isolate (WATCH_CACHE; kube-apiserver's --watch-cache)
  --max-requests-inflight N, --max-mutating-requests-inflight N
                                     API priority and fairness' seats (400 + 200), per isolate
  --authorization-mode LIST          Node,RBAC by default; also AlwaysAllow, AlwaysDeny, Webhook (AUTHORIZATION_MODE)
  --anonymous-auth false             refuse anonymous requests (ANONYMOUS_AUTH)`)
  process.exit(0)
}
const port = Number(values.port)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`--port: invalid port ${values.port}`)
  process.exit(2)
}
if (!(await portFree(port))) {
  console.error(`--port ${port}: 127.0.0.1:${port} is already in use`)
  process.exit(1)
}
const stateDir = resolve(values['state-dir'])
mkdirSync(stateDir, { recursive: true, mode: 0o700 })

const server = `https://127.0.0.1:${port}`
let state
try {
  state = devState.prepareLocalState(stateDir, server, devState.settingsFromFlags(values))
  writeFileSync(join(stateDir, 'dev.env'), devState.toDotenv(state.env), { mode: 0o600 })
} catch (e) {
  if (!(e instanceof devState.FlagError)) throw e
  console.error(e.message)
  process.exit(e.exitCode)
}
const { ca, serving, kubeconfigPath } = state

// wrangler dev serves plain HTTP on an internal loopback port; src/node/dev-front.ts serves HTTPS on --port
// (why: there).
const internalPort = await anyFreePort()
const wrangler = join(root, 'node_modules', '.bin', 'wrangler')
const child = spawn(wrangler, [
  'dev', '--local', '--ip', '127.0.0.1', '--port', String(internalPort), '--local-protocol', 'http',
  '--persist-to', join(stateDir, 'workerd'),
  '--env-file', join(stateDir, 'dev.env'),
  '--inspector-port', '0',
  '--show-interactive-dev-session=false', '--log-level', process.env.EDGE_LOG_LEVEL ?? 'warn',
], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_LOG_PATH: join(stateDir, 'logs'),
    // Keep wrangler and miniflare off the network: no update check, no Request.cf download.
    WRANGLER_UPDATE_CHECK: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    CI: process.env.CI ?? '',
  },
})

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)))
try {
  await startDevFront({ port, key: serving.keyPem, cert: serving.certPem, upstreamPort: internalPort })
} catch (e) {
  console.error(`--port ${port}: cannot listen on 127.0.0.1:${port}: ${e.code ?? e.message}`)
  child.kill('SIGTERM')
  process.exit(1)
}

// Announce once the API answers.
const started = Date.now()
for (;;) {
  try {
    if (await ready(port, ca.certPem)) break
  } catch { /* not listening yet */ }
  if (Date.now() - started > 120_000) {
    console.error('edge-apiserver did not become ready within 120s')
    child.kill('SIGTERM')
    process.exit(1)
  }
  await new Promise((r) => setTimeout(r, 200))
}
console.log(`edge-apiserver is serving at ${server}`)
console.log(`export KUBECONFIG=${kubeconfigPath}`)
console.log(`More clusters (README, "Many clusters"): printf 'apiVersion: tenancy.edge-apiserver.dev/v1alpha1\\nkind: Cluster\\nmetadata:\\n  name: team-a\\n' | kubectl create -f -`)

function ready(port, caPem) {
  return new Promise((resolve) => {
    const req = httpsGet({ host: '127.0.0.1', port, path: '/readyz', ca: caPem, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => { req.destroy(); resolve(false) })
  })
}

function anyFreePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

function portFree(port) {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

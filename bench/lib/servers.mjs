// Starting each mode on loopback with a fresh state dir, and the etcd that Node mode runs on.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { Client, waitFor } from './http.mjs'
import { freePort, startProcess } from './procs.mjs'

export const quietEnv = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_UPDATE_CHECK: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
}

const made = []
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `edge-bench-${prefix}-`))
  made.push(dir)
  return dir
}

/** Removes every temp dir made by this run but those named in keep (call after the servers stopped). */
export function removeTempDirs(keep = []) {
  for (const d of made.splice(0)) if (!keep.includes(d)) rmSync(d, { recursive: true, force: true })
}

/** A file's text once it is complete (a PEM file is written after it is created). */
function pem(path) {
  const text = readFileSync(path, 'utf8')
  return /-----END [A-Z ]+-----\s*$/.test(text) ? text : undefined
}

function readyCheck(client) {
  return async () => (await client.request('GET', '/readyz', { timeoutMs: 3000 })).status === 200
}

/** `npm start` (scripts/start.mjs, run directly), timed from spawn until /readyz answers 200. */
export async function startEdge(root, extraArgs = []) {
  const stateDir = tempDir('edge')
  const port = await freePort()
  const t0 = performance.now()
  const proc = startProcess(process.execPath, [join(root, 'scripts', 'start.mjs'), '--port', String(port), '--state-dir', stateDir, ...extraArgs], {
    cwd: root,
    env: { ...process.env, ...quietEnv },
  })
  // the admin token and the CA appear in the state dir before wrangler starts
  await waitFor(() => pem(join(stateDir, 'pki', 'ca.crt')) && readFileSync(join(stateDir, 'admin-token'), 'utf8').trim(), { what: 'npm start state dir', proc, intervalMs: 50 })
  const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim()
  const ca = pem(join(stateDir, 'pki', 'ca.crt'))
  const url = `https://127.0.0.1:${port}`
  const client = new Client(url, { token, ca })
  await waitFor(readyCheck(client), { what: 'npm start /readyz', proc, intervalMs: 50, timeoutMs: 180_000 })
  return { kind: 'edge', proc, url, port, token, ca, client, stateDir, readyMs: performance.now() - t0 }
}

let pkiModule
/** A CA and a serving certificate for 127.0.0.1 from the project's own PKI code, as npm start makes them. */
async function servingPair(root, dir) {
  if (!pkiModule) {
    // inside the project, so that the bundle's bare imports (node-forge) resolve from node_modules
    const out = join(root, 'node_modules', '.cache', 'edge-apiserver-bench', 'pki.mjs')
    await build({ entryPoints: [join(root, 'src', 'node', 'pki.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: out, logLevel: 'warning', absWorkingDir: root })
    pkiModule = await import(pathToFileURL(out).href)
  }
  const pki = pkiModule
  const ca = pki.ensurePair(join(dir, 'pki'), 'ca', () => pki.createCA('edge-apiserver-bench-ca'))
  const serving = pki.ensurePair(join(dir, 'pki'), 'apiserver', () => pki.signCertificate(ca, {
    subject: { commonName: 'kube-apiserver' }, usage: 'server', hosts: pki.servingHosts('127.0.0.1', '10.96.0.1'),
  }))
  return { caPem: ca.certPem, keyPath: serving.keyPath, certPath: serving.certPath }
}

/**
 * A bench-only Worker (bench/ceiling, bench/store) under `wrangler dev` with scripts/start.mjs's flags:
 * local, loopback, HTTPS, persisted to a fresh dir.
 */
export async function startWranglerWorker(root, config, label) {
  const stateDir = tempDir(label)
  const port = await freePort()
  const tls = await servingPair(root, stateDir)
  const t0 = performance.now()
  const proc = startProcess(join(root, 'node_modules', '.bin', 'wrangler'), [
    'dev', '-c', config, '--local', '--ip', '127.0.0.1', '--port', String(port),
    '--local-protocol', 'https', '--https-key-path', tls.keyPath, '--https-cert-path', tls.certPath,
    '--persist-to', join(stateDir, 'workerd'),
    '--inspector-port', '0',
    '--show-interactive-dev-session=false', '--log-level', 'warn',
  ], {
    cwd: root,
    env: { ...process.env, ...quietEnv, WRANGLER_LOG_PATH: join(stateDir, 'logs'), CI: process.env.CI ?? '' },
  })
  const url = `https://127.0.0.1:${port}`
  const client = new Client(url, { ca: tls.caPem })
  await waitFor(async () => (await client.request('GET', '/readyz', { timeoutMs: 3000 })).status === 200, { what: `${label} worker`, proc, intervalMs: 50, timeoutMs: 180_000 })
  return { kind: label, proc, url, port, token: undefined, ca: tls.caPem, client, stateDir, readyMs: performance.now() - t0 }
}

/** etcd on loopback ports with a temp data dir. */
export async function startEtcd() {
  const dataDir = tempDir('etcd')
  const clientPort = await freePort()
  const peerPort = await freePort()
  const proc = startProcess('/usr/bin/etcd', [
    '--name', 'bench', '--data-dir', join(dataDir, 'data'),
    '--listen-client-urls', `http://127.0.0.1:${clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `bench=http://127.0.0.1:${peerPort}`, '--log-level', 'error', '--logger', 'zap',
  ], {})
  const endpoint = `http://127.0.0.1:${clientPort}`
  const health = new Client(endpoint)
  await waitFor(async () => (await health.request('GET', '/health', { timeoutMs: 2000 })).status === 200, { what: 'etcd', proc })
  health.close()
  return { proc, endpoint, dataDir }
}

export function etcdVersion() {
  try {
    return execFileSync('/usr/bin/etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace('etcd Version: ', '')
  } catch {
    return undefined
  }
}

/** Node mode (`npm run start:node`'s dist/node.js, built once by the caller) on the given etcd. */
export async function startNode(root, etcdEndpoint, extraArgs = [], nodeFlags = []) {
  const stateDir = tempDir('node')
  mkdirSync(stateDir, { recursive: true })
  const port = await freePort()
  const token = randomBytes(24).toString('hex')
  const tokenFile = join(stateDir, 'tokens.csv')
  writeFileSync(tokenFile, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 })
  const t0 = performance.now()
  const proc = startProcess(process.execPath, [...nodeFlags, join(root, 'dist', 'node.js'),
    `--etcd-servers=${etcdEndpoint}`, `--secure-port=${port}`, `--bind-address=127.0.0.1`, `--state-dir=${stateDir}`,
    `--token-auth-file=${tokenFile}`, ...extraArgs,
  ], { cwd: root })
  await waitFor(() => pem(join(stateDir, 'pki', 'ca.crt')), { what: 'node mode pki', proc, intervalMs: 50 })
  const ca = pem(join(stateDir, 'pki', 'ca.crt'))
  const url = `https://127.0.0.1:${port}`
  const client = new Client(url, { token, ca })
  await waitFor(readyCheck(client), { what: 'node mode /readyz', proc, intervalMs: 50, timeoutMs: 60_000 })
  return { kind: 'node', proc, url, port, token, ca, client, stateDir, readyMs: performance.now() - t0 }
}

/**
 * Where wrangler dev's proxy forwards to: the user Worker's own loopback HTTP address and the header it
 * expects, read from the wrangler log in the state dir. Requests sent there skip the proxy Worker (and
 * TLS), which a deployed Worker does not have either.
 */
export function directTarget(stateDir) {
  let found
  try {
    for (const f of readdirSync(join(stateDir, 'logs')).sort()) {
      const text = readFileSync(join(stateDir, 'logs', f), 'utf8')
      for (const m of text.matchAll(/"reloadComplete","proxyData":(\{.*\})\}/g)) {
        try {
          const data = JSON.parse(m[1])
          found = data
        } catch { /* a line cut short */ }
      }
    }
  } catch {
    return undefined
  }
  if (!found?.userWorkerUrl) return undefined
  const u = found.userWorkerUrl
  return { url: `${u.protocol}//${u.hostname}:${u.port}`, headers: found.headers ?? {} }
}

let etcdModule
/** The project's own etcd client builder (src/storage/etcd/client.ts: kube-apiserver's settings). */
export async function projectEtcdClient(root, endpoint) {
  if (!etcdModule) {
    const out = join(root, 'node_modules', '.cache', 'edge-apiserver-bench', 'etcd-client.mjs')
    await build({ entryPoints: [join(root, 'src', 'storage', 'etcd', 'client.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: out, logLevel: 'warning', absWorkingDir: root })
    etcdModule = await import(pathToFileURL(out).href + `?${Date.now()}`)
  }
  return etcdModule.etcdClient({ endpoints: [endpoint] })
}

#!/usr/bin/env node
// npm start: the embedded default. Runs the Worker locally on workerd (wrangler dev, offline, no account),
// with the cluster's state and an admin credential in --state-dir, and writes an admin kubeconfig there.
import { spawn } from 'node:child_process'
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    'state-dir': { type: 'string', default: '.local' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  console.log('Usage: npm start -- [--port N] [--state-dir DIR]')
  process.exit(0)
}
const port = Number(values.port)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`--port: invalid port ${values.port}`)
  process.exit(2)
}
const stateDir = resolve(values['state-dir'])
mkdirSync(stateDir, { recursive: true, mode: 0o700 })

// The admin credential is made once and kept, so a restart on the same state dir keeps working kubeconfigs.
const tokenPath = join(stateDir, 'admin-token')
if (!existsSync(tokenPath)) writeFileSync(tokenPath, randomBytes(32).toString('hex') + '\n', { mode: 0o600 })
const token = readFileSync(tokenPath, 'utf8').trim()
// More users for local testing: lines in <state-dir>/tokens.csv (the --token-auth-file format) are added.
const extraTokensPath = join(stateDir, 'tokens.csv')
const extraTokens = existsSync(extraTokensPath) ? readFileSync(extraTokensPath, 'utf8').split(/\r?\n/).filter((l) => l.trim() && !l.trim().startsWith('#')) : []
const tokenFile = [`${token},admin,admin,"system:masters"`, ...extraTokens].join('\n') + '\n'
writeFileSync(join(stateDir, 'token-auth-file.csv'), tokenFile, { mode: 0o600 })
// The service account signing key (kube-apiserver's --service-account-signing-key-file), made once and kept so
// that tokens issued before a restart still verify. The Worker reads it as a JWK from SERVICE_ACCOUNT_SIGNING_KEY.
const saKeyPath = join(stateDir, 'service-account.key')
if (!existsSync(saKeyPath)) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  writeFileSync(saKeyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
}
const saKeyJwk = JSON.stringify(createPrivateKey(readFileSync(saKeyPath, 'utf8')).export({ format: 'jwk' }))
writeFileSync(join(stateDir, 'dev.env'), [
  // Single-quoted dotenv values are literal and may span lines (one token per line).
  `TOKEN_AUTH_FILE='${tokenFile.trim()}'`,
  `SERVICE_ACCOUNT_SIGNING_KEY='${saKeyJwk}'`,
  '',
].join('\n'), { mode: 0o600 })

const server = `http://127.0.0.1:${port}`
const kubeconfigPath = join(stateDir, 'kubeconfig')
writeFileSync(kubeconfigPath, `apiVersion: v1
kind: Config
clusters:
- name: edge-apiserver
  cluster:
    server: ${server}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: edge-apiserver
  context:
    cluster: edge-apiserver
    user: admin
    namespace: default
current-context: edge-apiserver
`, { mode: 0o600 })

const wrangler = join(root, 'node_modules', '.bin', 'wrangler')
const child = spawn(wrangler, [
  'dev', '--local', '--ip', '127.0.0.1', '--port', String(port),
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
    // Keep wrangler from looking for updates or an account: everything here is local.
    WRANGLER_UPDATE_CHECK: 'false',
    CI: process.env.CI ?? '',
  },
})

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)))

// Announce once the API answers.
const started = Date.now()
for (;;) {
  try {
    const res = await fetch(`${server}/readyz`)
    if (res.ok) break
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

#!/usr/bin/env node
// npm start: the embedded default. Runs the Worker locally on workerd (wrangler dev, offline, no account),
// with the cluster's state and an admin credential in --state-dir, and writes an admin kubeconfig there.
import { spawn } from 'node:child_process'
import { get as httpsGet } from 'node:https'
import { createServer } from 'node:net'
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    'state-dir': { type: 'string', default: '.local' },
    'encryption-provider-config': { type: 'string' },
    'enable-admission-plugins': { type: 'string' },
    'disable-admission-plugins': { type: 'string' },
    'audit-policy-file': { type: 'string' },
    'audit-webhook-config-file': { type: 'string' },
    'audit-webhook-batch-max-size': { type: 'string' },
    'audit-webhook-batch-max-wait': { type: 'string' },
    'request-metrics': { type: 'string' },
    'max-requests-inflight': { type: 'string' },
    'max-mutating-requests-inflight': { type: 'string' },
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
  --max-requests-inflight N, --max-mutating-requests-inflight N
                                     API priority and fairness' seats (400 + 200), per isolate`)
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
  ...(values['enable-admission-plugins'] !== undefined ? [`ENABLE_ADMISSION_PLUGINS='${values['enable-admission-plugins']}'`] : []),
  ...(values['disable-admission-plugins'] !== undefined ? [`DISABLE_ADMISSION_PLUGINS='${values['disable-admission-plugins']}'`] : []),
  '',
].join('\n'), { mode: 0o600 })

// Encryption at rest: the configuration file's text, keys included, as the Worker secret a deployment would set
// (wrangler secret put ENCRYPTION_PROVIDER_CONFIG < file).
if (values['encryption-provider-config'] !== undefined) {
  let config
  try {
    config = readFileSync(resolve(values['encryption-provider-config']), 'utf8')
  } catch (e) {
    console.error(`--encryption-provider-config: cannot read ${values['encryption-provider-config']}: ${e.code ?? e.message}`)
    process.exit(2)
  }
  // A dotenv value may span lines inside quotes that do not occur in it (double quotes would expand \n).
  const quote = ["'", '`', '"'].find((q) => !config.includes(q))
  if (!quote) {
    console.error('--encryption-provider-config: the file uses every quote character (\' ` "); a .env value cannot hold it')
    process.exit(2)
  }
  appendFileSync(join(stateDir, 'dev.env'), `ENCRYPTION_PROVIDER_CONFIG=${quote}${config.trimEnd()}${quote}\n`)
}

// Audit: the policy and the webhook's kubeconfig as the Worker vars a deployment would set.
for (const [flag, name] of [['audit-policy-file', 'AUDIT_POLICY'], ['audit-webhook-config-file', 'AUDIT_WEBHOOK_CONFIG']]) {
  if (values[flag] === undefined) continue
  let text
  try {
    text = readFileSync(resolve(values[flag]), 'utf8')
  } catch (e) {
    console.error(`--${flag}: cannot read ${values[flag]}: ${e.code ?? e.message}`)
    process.exit(2)
  }
  const quote = ["'", '`', '"'].find((q) => !text.includes(q))
  if (!quote) {
    console.error(`--${flag}: the file uses every quote character (' \` "); a .env value cannot hold it`)
    process.exit(2)
  }
  appendFileSync(join(stateDir, 'dev.env'), `${name}=${quote}${text.trimEnd()}${quote}\n`)
}
for (const [flag, name] of [['audit-webhook-batch-max-size', 'AUDIT_WEBHOOK_BATCH_MAX_SIZE'], ['audit-webhook-batch-max-wait', 'AUDIT_WEBHOOK_BATCH_MAX_WAIT'], ['request-metrics', 'REQUEST_METRICS']]) {
  if (values[flag] !== undefined) appendFileSync(join(stateDir, 'dev.env'), `${name}='${values[flag]}'\n`)
}

// kubectl sends credentials only over TLS, as kube-apiserver always serves it: a serving CA and certificate
// are made once into the state dir (the same PKI code Node mode uses, bundled for this script).
// The HTTPS listener in front of workerd (src/node/dev-front.ts) is bundled the same way.
const cacheDir = join(root, 'node_modules', '.cache', 'edge-apiserver')
await build({ entryPoints: [join(root, 'src', 'node', 'pki.ts'), join(root, 'src', 'node', 'dev-front.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', outdir: cacheDir, outExtension: { '.js': '.mjs' }, logLevel: 'warning' })
const pki = await import(pathToFileURL(join(cacheDir, 'pki.mjs')).href)
const { startDevFront } = await import(pathToFileURL(join(cacheDir, 'dev-front.mjs')).href)
const ca = pki.ensurePair(join(stateDir, 'pki'), 'ca', () => pki.createCA('edge-apiserver-ca'))
const serving = pki.ensurePair(join(stateDir, 'pki'), 'apiserver', () => pki.signCertificate(ca, {
  subject: { commonName: 'kube-apiserver' }, usage: 'server', hosts: pki.servingHosts('127.0.0.1', '10.96.0.1'),
}), ca.renewed)
// The cluster CA the control loops publish in every namespace as the kube-root-ca.crt ConfigMap (what pods use
// to verify kubernetes.default.svc); a deployed Worker gets it as the CLUSTER_CA_CERT secret.
for (const flag of ['max-requests-inflight', 'max-mutating-requests-inflight']) {
  const v = values[flag]
  if (v === undefined) continue
  if (!/^\d+$/.test(v)) {
    console.error(`--${flag}: invalid value "${v}"`)
    process.exit(1)
  }
  appendFileSync(join(stateDir, 'dev.env'), `${flag.toUpperCase().replace(/-/g, '_')}=${v}\n`)
}
appendFileSync(join(stateDir, 'dev.env'), `CLUSTER_CA_CERT='${ca.certPem.trim()}'\n`)
// The clusters made through the management API are reached at this address plus /clusters/<name>.
appendFileSync(join(stateDir, 'dev.env'), `EXTERNAL_URL='https://127.0.0.1:${port}'\n`)
// csrsigning's CA key (kube-controller-manager's --cluster-signing-key-file), signing with that CA; a deployed
// Worker gets it as the CLUSTER_SIGNING_KEY secret.
appendFileSync(join(stateDir, 'dev.env'), `CLUSTER_SIGNING_KEY='${ca.keyPem.trim()}'\n`)

const server = `https://127.0.0.1:${port}`
const kubeconfigPath = join(stateDir, 'kubeconfig')
writeFileSync(kubeconfigPath, `apiVersion: v1
kind: Config
clusters:
- name: edge-apiserver
  cluster:
    server: ${server}
    certificate-authority-data: ${Buffer.from(ca.certPem).toString('base64')}
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
  await startDevFront({ port, key: readFileSync(serving.keyPath), cert: readFileSync(serving.certPath), upstreamPort: internalPort })
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

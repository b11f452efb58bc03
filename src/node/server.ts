// Node mode: the same Hono app as the Worker, served over HTTPS by node:https through the Hono node
// adapter, with EtcdStore as the store, x509 client certificates ahead of the shared token and RBAC
// machinery (ServerAuth), admission, the control loops on timers, kube-apiserver's etcd compactor, and a
// graceful shutdown.
import { getRequestListener } from '@hono/node-server'
import { readFileSync, mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join, resolve } from 'node:path'
import { respondError } from '../api/negotiation'
import { bootstrapCluster, KUBERNETES_SERVICE_IP } from '../controllers/bootstrap'
import type { Registry } from '../registry/registry'
import { buildApp } from '../server/app'
import { AdmissionConfigError, buildAdmission, type AdmissionChain } from '../admission/chain'
import { nodeWebhookFetch } from './webhook-fetch'
import { unauthorized } from '../server/errors'
import { authOptionsFromEnv, installAuthResources, ServerAuth, type AuthOptions } from '../auth/server-auth'
import { etcdClient } from '../storage/etcd/client'
import { EtcdStore } from '../storage/etcd/store'
import { startControllers } from '../controllers/run'
import { loadEncryptionConfiguration, TransformingStore } from '../storage/value'
import { storageResources } from '../storage/value/transforming-store'
import type { Store } from '../storage/store'
import { startCompactor } from './compactor'
import type { NodeConfig } from './flags'
import { writeKubeconfig } from './kubeconfig'
import { InProcessMetrics } from '../metrics/cluster'
import { processMetrics } from './process-metrics'
import { createCA, ensurePair, ensureServiceAccountKey, servingHosts, signCertificate } from './pki'
import { ClientCertificateAuthenticator, rejectedClientCertificate, tlsSocket } from './x509'

/**
 * kube-apiserver's http.Server takes MaxHeaderBytes 1 MiB, and Go reads up to 4 KiB past it before it
 * gives up on the request line and headers. Node's default (16 KiB) would refuse, say, a 64 KiB label
 * selector that kube-apiserver serves.
 */
export const MAX_HEADER_BYTES = (1 << 20) + 4096

/**
 * What Go's net/http writes, before any handler, for a request it cannot read: 431 with its fixed text for a
 * request line and headers over the limit, 400 for one that does not parse. Node's own answers carry no body.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  // Go answers only what it could not parse; a reset or a read timeout just closes the connection.
  if (!socket.writable || !err.code?.startsWith('HPE_')) {
    socket.destroy()
    return
  }
  const publicErr = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
  socket.end(`HTTP/1.1 ${publicErr}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${publicErr}`)
}

/** A failure to start that deserves one line, not a stack trace. */
export class StartupError extends Error {}

export interface NodeServer {
  /** https://<host>:<port> */
  url: string
  /** The admin kubeconfig, when the server made the client CA that signs its certificate. */
  kubeconfigPath?: string
  store: EtcdStore
  /** Stop accepting, let requests in flight finish, end watches, close etcd. */
  shutdown(): Promise<void>
}

export interface StartOptions {
  registry: Registry
  log?: (msg: string) => void
}

interface Tls {
  key: string
  cert: string
  /** The serving CA, for kubeconfigs (only when generated). */
  servingCA?: string
  clientCA: string
  admin?: { certPem: string; keyPem: string }
}

/** The serving and client certificates: the files named by flags, or ones generated into <state-dir>/pki. */
function prepareTls(cfg: NodeConfig, stateDir: string): Tls {
  const pki = join(stateDir, 'pki')
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path, 'utf8')
    } catch (e) {
      throw new StartupError(`--${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
  }
  let key: string
  let cert: string
  let servingCA: string | undefined
  if (cfg.tlsCertFile && cfg.tlsPrivateKeyFile) {
    cert = read('tls-cert-file', cfg.tlsCertFile)
    key = read('tls-private-key-file', cfg.tlsPrivateKeyFile)
  } else {
    const ca = ensurePair(pki, 'ca', () => createCA('edge-apiserver-ca'))
    const serving = ensurePair(pki, 'apiserver', () => signCertificate(ca, {
      subject: { commonName: 'kube-apiserver' }, usage: 'server', hosts: servingHosts(cfg.bindAddress, KUBERNETES_SERVICE_IP),
    }), ca.renewed)
    cert = serving.certPem
    key = serving.keyPem
    servingCA = ca.certPem
  }
  let clientCA: string
  let admin: Tls['admin']
  if (cfg.clientCAFile) {
    clientCA = read('client-ca-file', cfg.clientCAFile)
  } else {
    const ca = ensurePair(pki, 'client-ca', () => createCA('edge-apiserver-client-ca'))
    clientCA = ca.certPem
    admin = ensurePair(pki, 'admin', () => signCertificate(ca, {
      subject: { commonName: 'kubernetes-admin', organizations: ['system:masters'] }, usage: 'client',
    }), ca.renewed)
  }
  return { key, cert, servingCA, clientCA, admin }
}

/** The shared auth configuration names settings as environment variables: say the flag instead. */
function flagNames(message: string): string {
  return message.replace(/\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g, (name) => `--${name.toLowerCase().replace(/_/g, '-')}`)
}

/** --encryption-provider-config's transformers; a file kube-apiserver would refuse stops the start with kube's words. */
function loadEncryption(file: string | undefined) {
  if (file === undefined) return undefined
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message
    throw new StartupError(`error while parsing file: error opening encryption provider configuration file ${JSON.stringify(file)}: open ${file}: ${why}`)
  }
  try {
    return loadEncryptionConfiguration(text, file)
  } catch (e) {
    throw new StartupError((e as Error).message)
  }
}

async function waitForEtcd(store: EtcdStore, endpoints: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let reason = ''
  for (;;) {
    try {
      await store.currentRevision()
      return
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.replace(/\s*Resolution note:.*$/, '')
      // The client's circuit breaker hides the cause after a few failures: keep the cause.
      if (!reason || !msg.includes('circuit breaker')) reason = msg
      if (Date.now() > deadline) throw new StartupError(`cannot reach etcd at ${endpoints.join(',')}: ${reason}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

export async function startNodeServer(cfg: NodeConfig, opts: StartOptions): Promise<NodeServer> {
  const log = opts.log ?? ((msg: string) => console.error(msg))
  const stateDir = resolve(cfg.stateDir)
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  // Auth flags go through the shared configuration, file flags as their files' contents; checked before
  // anything is generated, so a bad flag fails at once.
  const authEnv: Record<string, string> = { ...cfg.auth }
  for (const [name, flag] of Object.entries(cfg.authFiles)) {
    try {
      authEnv[name] = readFileSync(cfg.auth[name]!, 'utf8')
    } catch (e) {
      throw new StartupError(`--${flag}: cannot read ${cfg.auth[name]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
  }
  // Without --service-account-signing-key-file, a key is made in the state dir (as kubeadm makes sa.key).
  authEnv.SERVICE_ACCOUNT_SIGNING_KEY ??= ensureServiceAccountKey(join(stateDir, 'pki')).keyPem
  let authOptions: AuthOptions
  try {
    authOptions = authOptionsFromEnv(authEnv)
  } catch (e) {
    throw new StartupError(flagNames((e as Error).message))
  }

  const tls = prepareTls(cfg, stateDir)
  let serverAuth: ServerAuth
  try {
    serverAuth = new ServerAuth({ ...authOptions, rootCA: tls.servingCA ?? tls.cert })
  } catch (e) {
    throw new StartupError(flagNames((e as Error).message)) // a malformed --token-auth-file, say
  }
  const registry = opts.registry
  installAuthResources(registry)
  const encryption = loadEncryption(cfg.encryptionProviderConfig)

  let client
  try {
    client = etcdClient({ endpoints: cfg.etcdServers, caFile: cfg.etcdCAFile, certFile: cfg.etcdCertFile, keyFile: cfg.etcdKeyFile })
  } catch (e) {
    throw new StartupError(`etcd client: ${(e as Error).message}`)
  }
  const store = new EtcdStore(client, { prefix: cfg.etcdPrefix })
  // Everything but the compactor and shutdown goes through encryption at rest, when configured; the
  // authenticated data of a value is its etcd key, as kube-apiserver's.
  const apiStore: Store = encryption
    ? new TransformingStore(store, encryption, { resourceOf: storageResources(registry.all()), authenticatedData: (key) => store.etcdKeyOf(key) })
    : store
  try {
    await waitForEtcd(store, cfg.etcdServers, cfg.etcdStartTimeoutMs)
    // kube-apiserver's post-start hooks, before serving: system namespaces, the kubernetes service, RBAC policy.
    await bootstrapCluster(registry, apiStore, cfg.securePort)
  } catch (e) {
    store.close()
    if (e instanceof StartupError) throw e
    throw new StartupError(`bootstrap: ${e instanceof Error ? e.message : String(e)}`)
  }

  let admission: AdmissionChain
  try {
    admission = buildAdmission({ registry: opts.registry, enable: cfg.enableAdmissionPlugins, disable: cfg.disableAdmissionPlugins, webhook: { fetch: nodeWebhookFetch } })
  } catch (e) {
    store.close()
    if (e instanceof AdmissionConfigError) throw new StartupError(e.message)
    throw e
  }
  const app = buildApp({
    registry,
    store: () => apiStore,
    // kube-apiserver's order: x509 client certificates, then bearer tokens.
    authenticators: (env, s) => [new ClientCertificateAuthenticator(tlsSocket(env)), ...serverAuth.authenticators(s)],
    auth: (_env, s) => serverAuth.context(s),
    anonymous: () => cfg.anonymousAuth,
    admission: () => admission,
    conversion: { fetch: nodeWebhookFetch },
    metrics: new InProcessMetrics(processMetrics()),
  })

  // Requests in flight, so shutdown can wait for them (writes above all) before closing etcd.
  const inFlight = new Set<ServerResponse>()
  let drained: (() => void) | undefined
  let shuttingDown = false
  const listener = getRequestListener(app.fetch)
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res)
    res.on('close', () => {
      inFlight.delete(res)
      if (inFlight.size === 0) drained?.()
    })
    if (shuttingDown) res.setHeader('Connection', 'close')
    // A client certificate that does not verify is a rejected credential: 401, anonymous or not
    // (kube-apiserver's union authenticator fails on error before anonymous is tried).
    if (rejectedClientCertificate(tlsSocket({ incoming: req }))) {
      const r = respondError(unauthorized())
      res.writeHead(r.status, Object.fromEntries(r.headers))
      void r.text().then((body) => res.end(body))
      return
    }
    void listener(req, res)
  }

  const server: Server = createServer({
    key: tls.key,
    cert: tls.cert,
    ca: tls.clientCA,
    requestCert: true,
    rejectUnauthorized: false, // verified per request, so that a bad certificate gets a 401 Status
    maxHeaderSize: MAX_HEADER_BYTES,
  }, handle)
  server.on('clientError', answerClientError)
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      store.close()
      reject(new StartupError(`cannot listen on ${cfg.bindAddress}:${cfg.securePort}: ${e.code ?? e.message}`))
    })
    server.listen(cfg.securePort, cfg.bindAddress, () => resolveListen())
  })

  const compactor = startCompactor(store, cfg.etcdCompactionIntervalMs, log)
  // kube-controller-manager's loops this server owns (namespaces, garbage collection, service accounts,
  // kube-root-ca.crt, quota), fed by a watch of the store; several servers repeat each other harmlessly.
  const controllers = startControllers(apiStore, registry, { rootCA: tls.servingCA, log })

  const host = cfg.bindAddress === '0.0.0.0' || cfg.bindAddress === '::' ? '127.0.0.1' : cfg.bindAddress
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${cfg.securePort}`
  let kubeconfigPath: string | undefined
  if (tls.admin) {
    kubeconfigPath = join(stateDir, 'kubeconfig')
    writeKubeconfig(kubeconfigPath, { server: url, caPem: tls.servingCA, clientCertPem: tls.admin.certPem, clientKeyPem: tls.admin.keyPem })
  }

  let shutdown: Promise<void> | undefined
  return {
    url,
    kubeconfigPath,
    store,
    shutdown: () => (shutdown ??= (async () => {
      shuttingDown = true
      compactor.stop()
      const closed = new Promise<void>((r) => server.close(() => r()))
      server.closeIdleConnections()
      // Before the watches end: the loops would otherwise take the end of their watch for a reason to resync.
      await controllers.stop()
      // Watches end with a clean end of their streams; clients watch again elsewhere.
      store.endWatches()
      if (inFlight.size > 0) {
        await Promise.race([
          new Promise<void>((r) => { drained = r }),
          new Promise<void>((r) => setTimeout(r, cfg.shutdownTimeoutMs).unref()),
        ])
      }
      server.closeAllConnections()
      await closed
      store.close()
    })()),
  }
}

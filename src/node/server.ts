// Node mode: the same Hono app as the Worker, served over HTTPS by node:https through the Hono node
// adapter, with EtcdStore as the store, x509 client certificates ahead of the shared token and RBAC
// machinery (ServerAuth), admission, the control loops on timers, kube-apiserver's etcd compactor, and a
// graceful shutdown.
import { getRequestListener } from '@hono/node-server'
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  X509Certificate,
  type KeyObject,
} from 'node:crypto'
import { readFileSync, mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { KubeletTransports } from '../kubelet/transport'
import { NodeKubeletTransport } from './kubelet-transport'
import { serveUpgrade, type UpgradeEnv } from './upgrade'
import { TunnelRegistry } from '../tunnel/registry'
import { networkInterfaces } from 'node:os'
import { join, resolve } from 'node:path'
import { respondError } from '../api/negotiation'
import { setMinRequestTimeout } from '../api/handlers/watch'
import { RequestHeaderAuthenticator } from '../auth/client-cert'
import { bootstrapCluster } from '../controllers/bootstrap'
import { configureServiceNetwork, kubernetesServiceIP } from '../registry/builtin/allocator'
import { setAllowPrivileged } from '../registry/builtin/podspec'
import { buildApp } from '../server/app'
import { AdmissionConfigError, buildAdmission, type AdmissionChain } from '../admission/chain'
import { nodeWebhookFetch } from './webhook-fetch'
import { unauthorized } from '../server/errors'
import {
  authOptionsFromEnv,
  installAuthResources,
  ServerAuth,
  type AuthOptions,
} from '../auth/server-auth'
import { etcdClient } from '../storage/etcd/client'
import { EtcdStore } from '../storage/etcd/store'
import { NodeTenants } from './tenants'
import { clusterOfPath, DEFAULT_CLUSTER } from '../server/cluster'
import { ensureClusterAPI } from '../tenancy/api'
import { builtinResources } from '../registry/builtin'
import { Registry } from '../registry/registry'
import { EtcdSnapshots } from '../storage/etcd/snapshots'
import { loadCertificateAuthority, type CertificateAuthority } from '../auth/certificate-authority'
import type { ClusterSigner } from '../auth/certificate-authority'
import { startControllers } from '../controllers/run'
import { kmsV2Transformer, type KMSv2Transformer } from './kms'
import { loadEncryptionConfiguration, TransformingStore } from '../storage/value'
import { storageResources } from '../storage/value/transforming-store'
import type { Store } from '../storage/store'
import { StorageCodecStore } from '../storage/storage-codec'
import { startCompactor } from './compactor'
import { nodeAggregatorFetch, startAvailabilityLoop } from './aggregator'
import { nodeHTTPProbe } from './probe'
import { Aggregator } from '../aggregator/aggregator'
import type { NodeConfig } from './flags'
import { writeKubeconfig } from './kubeconfig'
import { InProcessMetrics } from '../metrics/cluster'
import { processMetrics } from './process-metrics'
import { createCA, ensurePair, ensureServiceAccountKey, servingHosts, signCertificate } from './pki'
import { leaseEndpointReconciler, type EndpointReconciler } from './endpoints'
import { applyRuntimeConfig } from './runtime-config'
import { FlagError } from './pflag'
import { loadWebhookKubeconfig, WebhookConfigError } from './webhook-config'
import { AuditLogBackend } from './audit-log'
import { BufferedWebhookBackend, UnionBackend, type AuditBackend } from '../audit/backend'
import { parsePolicy, PolicyError, PolicyRuleEvaluator } from '../audit/policy'
import type { AuditConfig } from '../server/filters/audit'
import { apiserverMetrics, type ApiserverMetrics } from '../metrics/apiserver'
import {
  certificateBundle,
  ClientCertificateAuthenticator,
  NodeRequestHeaderAuthenticator,
  rejectedClientCertificate,
  tlsSocket,
  type FrontProxyConfig,
} from './x509'
import { MAX_HEADER_BYTES, servesAsKubeApiserver } from './listener'
import { WatchCaches } from '../api/watch-cache'
import { errorText } from '../util/errors'

function defaultClusterPath(url: string | undefined): boolean {
  return clusterOfPath(new URL(url ?? '/', 'https://x').pathname).cluster === DEFAULT_CLUSTER
}

/** A failure to start that deserves one line, not a stack trace. */
export class StartupError extends Error {}

export interface NodeServer {
  /** https://<host>:<port> */
  url: string
  /** The admin kubeconfig, when the server made the client CA that signs its certificate. */
  kubeconfigPath?: string
  store: EtcdStore
  /** The IP the `kubernetes` Service's endpoints carry for this server. */
  advertiseAddress: string
  /** --kubelet-client-* and --kubelet-preferred-address-types, read at start, for the node proxy paths. */
  kubelet: {
    clientCertPem?: string
    clientKeyPem?: string
    caPem?: string
    preferredAddressTypes: string[]
  }
  /** How kubelets are reached: the direct transport, and others (a tunnel) added with use(). */
  kubeletTransports: KubeletTransports
  /** --proxy-client-cert-file / --proxy-client-key-file, read at start, for aggregation. */
  proxyClient?: { certPem: string; keyPem: string }
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
  /** The generated client CA's key (no --client-ca-file): csrsigning's default CA. */
  clientCAKey?: string
  /** --requestheader-client-ca-file */
  requestHeaderCA?: string
  admin?: { certPem: string; keyPem: string }
}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new StartupError(
      `--${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`,
    )
  }
}

/** The serving and client certificates: the files named by flags, or ones generated into <state-dir>/pki. */
function prepareTls(cfg: NodeConfig, stateDir: string, advertiseAddress: string): Tls {
  const pki = join(stateDir, 'pki')
  const read = readFlagFile
  let key: string
  let cert: string
  let servingCA: string | undefined
  if (cfg.tlsCertFile && cfg.tlsPrivateKeyFile) {
    cert = read('tls-cert-file', cfg.tlsCertFile)
    key = read('tls-private-key-file', cfg.tlsPrivateKeyFile)
  } else {
    const ca = ensurePair(pki, 'ca', () => createCA('edge-apiserver-ca'))
    const serving = ensurePair(
      pki,
      'apiserver',
      () =>
        signCertificate(ca, {
          subject: { commonName: 'kube-apiserver' },
          usage: 'server',
          hosts: [
            ...new Set([...servingHosts(cfg.bindAddress, kubernetesServiceIP()), advertiseAddress]),
          ],
        }),
      ca.renewed,
    )
    cert = serving.certPem
    key = serving.keyPem
    servingCA = ca.certPem
  }
  let clientCA: string
  let clientCAKey: string | undefined
  let admin: Tls['admin']
  if (cfg.clientCAFile) {
    clientCA = read('client-ca-file', cfg.clientCAFile)
  } else {
    const ca = ensurePair(pki, 'client-ca', () => createCA('edge-apiserver-client-ca'))
    clientCA = ca.certPem
    clientCAKey = ca.keyPem
    admin = ensurePair(
      pki,
      'admin',
      () =>
        signCertificate(ca, {
          subject: { commonName: 'kubernetes-admin', organizations: ['system:masters'] },
          usage: 'client',
        }),
      ca.renewed,
    )
  }
  const requestHeaderCA = cfg.requestHeaderClientCAFile
    ? read('requestheader-client-ca-file', cfg.requestHeaderClientCAFile)
    : undefined
  return { key, cert, servingCA, clientCA, clientCAKey, requestHeaderCA, admin }
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g

/** The JWK kube would publish for a public key, with kube's key id (base64url SHA-256 of the PKIX DER). */
function publicJwk(key: KeyObject): Record<string, unknown> | undefined {
  const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>
  const alg =
    jwk.kty === 'RSA'
      ? 'RS256'
      : ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[
          String(jwk.crv)
        ]
  if (!alg) return undefined
  const kid = createHash('sha256')
    .update(key.export({ format: 'der', type: 'spki' }))
    .digest('base64url')
  return { ...jwk, use: 'sig', kid, alg }
}

/**
 * --service-account-key-file, as kube's keyutil.ParsePublicKeysPEM reads each file: every RSA or ECDSA
 * public key, private key (PKCS#1, SEC 1, PKCS#8) and certificate in it verifies service account tokens.
 */
function serviceAccountPublicKeys(files: string[]): Record<string, unknown>[] {
  const keys: Record<string, unknown>[] = []
  for (const file of files) {
    const text = readFlagFile('service-account-key-file', file)
    const found: Record<string, unknown>[] = []
    for (const m of text.matchAll(PEM_BLOCK)) {
      let key: KeyObject | undefined
      try {
        if (m[1] === 'CERTIFICATE') key = new X509Certificate(m[0]).publicKey
        else if (m[1]!.endsWith('PRIVATE KEY')) key = createPublicKey(createPrivateKey(m[0]))
        else if (m[1]!.endsWith('PUBLIC KEY')) key = createPublicKey(m[0])
      } catch {
        continue // kube skips blocks it cannot parse
      }
      const jwk = key && publicJwk(key)
      if (jwk) found.push(jwk)
    }
    if (!found.length)
      throw new StartupError(
        `failed to parse service-account-key-file: error reading public key file ${file}: data does not contain any valid RSA or ECDSA public keys`,
      )
    keys.push(...found)
  }
  return keys
}

/** --service-account-signing-key-file: kube reads PKCS#1, SEC 1 and PKCS#8 keys; the shared code takes PKCS#8. */
function signingKeyPkcs8(file: string): { pem: string; kid?: string } {
  const text = readFlagFile('service-account-signing-key-file', file)
  if (text.trim().startsWith('{')) return { pem: text } // a JWK
  try {
    const key = createPrivateKey(text)
    return {
      pem: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      kid: publicJwk(createPublicKey(key))?.kid as string | undefined,
    }
  } catch (e) {
    throw new StartupError(
      `failed to parse service-account-issuer-key-file: ${file}: ${errorText(e)}`,
    )
  }
}

/** kube's default advertise address: the bind address, or when that is unspecified this host's first address. */
function defaultAdvertiseAddress(bindAddress: string): string {
  if (bindAddress !== '0.0.0.0' && bindAddress !== '::') return bindAddress
  for (const addrs of Object.values(networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal)
    if (a) return a.address
  }
  return '127.0.0.1'
}

/**
 * csrsigning's CA: --cluster-signing-cert-file and -key-file, or else the client CA generated in the state dir,
 * so that what it issues authenticates here (as kubeadm points both at one CA). None: nothing is signed.
 */
function clusterSigner(tls: Tls, cfg: NodeConfig): ClusterSigner | undefined {
  let certPem: string
  let keyPem: string
  if (cfg.clusterSigningCertFile || cfg.clusterSigningKeyFile) {
    if (!cfg.clusterSigningCertFile || !cfg.clusterSigningKeyFile)
      throw new StartupError(
        '--cluster-signing-cert-file and --cluster-signing-key-file must be given together',
      )
    certPem = readFlagFile('cluster-signing-cert-file', cfg.clusterSigningCertFile)
    keyPem = readFlagFile('cluster-signing-key-file', cfg.clusterSigningKeyFile)
  } else if (tls.clientCAKey) {
    certPem = tls.clientCA
    keyPem = tls.clientCAKey
  } else {
    return undefined
  }
  try {
    keyPem = createPrivateKey(keyPem).export({ format: 'pem', type: 'pkcs8' }).toString()
  } catch (e) {
    throw new StartupError(`--cluster-signing-key-file: ${errorText(e)}`)
  }
  let loaded: Promise<CertificateAuthority> | undefined
  return {
    ca: () => (loaded ??= loadCertificateAuthority(certPem, keyPem)),
    durationMs: cfg.clusterSigningDurationMs,
  }
}

function rootCA(tls: Tls, cfg: NodeConfig): string {
  return tls.servingCA ?? (cfg.clientCAFile ? tls.clientCA : tls.cert)
}

/** The shared auth configuration names settings as environment variables: say the flag instead. */
function flagNames(message: string): string {
  return message.replace(
    /\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g,
    (name) => `--${name.toLowerCase().replace(/_/g, '-')}`,
  )
}

/** --encryption-provider-config's transformers; a file kube-apiserver would refuse stops the start with kube's words. */
function loadEncryption(file: string | undefined, kmsProviders: KMSv2Transformer[]) {
  if (file === undefined) return undefined
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const why =
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorText(e)
    throw new StartupError(
      `error while parsing file: error opening encryption provider configuration file ${JSON.stringify(file)}: open ${file}: ${why}`,
    )
  }
  try {
    return loadEncryptionConfiguration(text, file, {
      kms: (c) => {
        const t = kmsV2Transformer(c)
        kmsProviders.push(t)
        return t
      },
    })
  } catch (e) {
    throw new StartupError(errorText(e))
  }
}

async function waitForEtcd(
  store: EtcdStore,
  endpoints: string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let reason = ''
  for (;;) {
    try {
      await store.probeRevision()
      return
    } catch (e) {
      const msg = errorText(e)
        .split('\n')[0]!
        .replace(/\s*Resolution note:.*$/, '')
      reason = msg
      if (Date.now() > deadline)
        throw new StartupError(`cannot reach etcd at ${endpoints.join(',')}: ${reason}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

/**
 * --audit-policy-file and the backends (--audit-log-path, --audit-webhook-config-file), as kube's
 * AuditOptions.ApplyTo reads them: no policy or no backend, nothing is audited.
 */
function loadAudit(
  cfg: NodeConfig,
  log: (msg: string) => void,
  errors: ApiserverMetrics,
): AuditConfig | undefined {
  const flags = cfg.audit
  if (!flags.policyFile) return undefined
  const text = readFlagFile('audit-policy-file', flags.policyFile)
  let evaluator: PolicyRuleEvaluator
  try {
    evaluator = new PolicyRuleEvaluator(parsePolicy(text))
  } catch (e) {
    if (e instanceof PolicyError)
      throw new StartupError(
        `loading audit policy file: ${e.message}: from file ${flags.policyFile}`,
      )
    throw e
  }
  // The backends serve every cluster: their failures are counted in the default cluster's series.
  const failed = (plugin: string, n: number) => errors.auditErrorTotal.inc([plugin], n)
  const backends: AuditBackend[] = []
  if (flags.log) {
    try {
      backends.push(
        new AuditLogBackend(flags.log.path, flags.log, (m) => {
          log(m)
          failed('log', 1)
        }),
      )
    } catch (e) {
      throw new StartupError(`--audit-log-path: ${errorText(e)}`)
    }
  }
  if (flags.webhook) {
    let target
    try {
      target = loadWebhookKubeconfig('audit-webhook-config-file', flags.webhook.configFile)
    } catch (e) {
      if (e instanceof WebhookConfigError) throw new StartupError(e.message)
      throw e
    }
    backends.push(
      new BufferedWebhookBackend(target, flags.webhook.batch, log, (n) => failed('webhook', n)),
    )
  }
  if (!backends.length) {
    log(
      'audit: --audit-policy-file is set but no backend is (--audit-log-path, --audit-webhook-config-file): nothing is audited',
    )
    return undefined
  }
  return {
    evaluator,
    backend: backends.length === 1 ? backends[0]! : new UnionBackend(backends),
  }
}

export async function startNodeServer(cfg: NodeConfig, opts: StartOptions): Promise<NodeServer> {
  const log = opts.log ?? ((msg: string) => console.error(msg))
  const stateDir = resolve(cfg.stateDir)
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  // Process-wide settings the shared handlers read: kube-apiserver's flags for them.
  configureServiceNetwork(cfg.serviceClusterIPRange, cfg.serviceNodePortRange)
  setAllowPrivileged(cfg.allowPrivileged)
  setMinRequestTimeout(cfg.minRequestTimeoutSeconds)
  const advertiseAddress = cfg.advertiseAddress ?? defaultAdvertiseAddress(cfg.bindAddress)
  // Auth flags go through the shared configuration, file flags as their files' contents; checked before
  // anything is generated, so a bad flag fails at once.
  const authEnv: Record<string, string> = { ...cfg.auth }
  for (const [name, flag] of Object.entries(cfg.authFiles))
    authEnv[name] = readFlagFile(flag, cfg.auth[name]!)
  // Without --service-account-signing-key-file, a key is made in the state dir (as kubeadm makes sa.key).
  const signing = cfg.serviceAccountSigningKeyFile
    ? signingKeyPkcs8(cfg.serviceAccountSigningKeyFile)
    : { pem: ensureServiceAccountKey(join(stateDir, 'pki')).keyPem, kid: undefined }
  authEnv.SERVICE_ACCOUNT_SIGNING_KEY = signing.pem
  // The signing key's own public half is published once, whichever file also holds it.
  const extraKeys = serviceAccountPublicKeys(cfg.serviceAccountKeyFiles).filter(
    (k, i, all) => k.kid !== signing.kid && all.findIndex((o) => o.kid === k.kid) === i,
  )
  if (extraKeys.length) authEnv.SERVICE_ACCOUNT_PUBLIC_KEYS = JSON.stringify({ keys: extraKeys })
  let authzWebhook, tokenWebhook
  try {
    if (cfg.authorizationWebhook) {
      authzWebhook = loadWebhookKubeconfig(
        'authorization-webhook-config-file',
        cfg.authorizationWebhook.configFile,
      )
      authEnv.AUTHORIZATION_WEBHOOK_URL = authzWebhook.url
    }
    if (cfg.authenticationTokenWebhook) {
      tokenWebhook = loadWebhookKubeconfig(
        'authentication-token-webhook-config-file',
        cfg.authenticationTokenWebhook.configFile,
      )
      authEnv.AUTHENTICATION_TOKEN_WEBHOOK_URL = tokenWebhook.url
    }
  } catch (e) {
    if (e instanceof WebhookConfigError) throw new StartupError(e.message)
    throw e
  }
  let authOptions: AuthOptions
  try {
    authOptions = authOptionsFromEnv(authEnv)
  } catch (e) {
    throw new StartupError(flagNames(errorText(e)))
  }
  if (authzWebhook && cfg.authorizationWebhook) {
    authOptions.webhookAuthorizer = {
      url: authzWebhook.url,
      bearerToken: authzWebhook.bearerToken,
      fetch: authzWebhook.fetch,
      version: cfg.authorizationWebhook.version,
      authorizedTTLms: cfg.authorizationWebhook.authorizedTTLms,
      unauthorizedTTLms: cfg.authorizationWebhook.unauthorizedTTLms,
    }
  }
  if (tokenWebhook && cfg.authenticationTokenWebhook) {
    authOptions.webhookToken = {
      url: tokenWebhook.url,
      bearerToken: tokenWebhook.bearerToken,
      fetch: tokenWebhook.fetch,
      version: cfg.authenticationTokenWebhook.version,
      cacheTTLms: cfg.authenticationTokenWebhook.cacheTTLms,
    }
  }
  const kubelet: NodeServer['kubelet'] = {
    clientCertPem: cfg.kubelet.clientCertificate
      ? readFlagFile('kubelet-client-certificate', cfg.kubelet.clientCertificate)
      : undefined,
    clientKeyPem: cfg.kubelet.clientKey
      ? readFlagFile('kubelet-client-key', cfg.kubelet.clientKey)
      : undefined,
    caPem: cfg.kubelet.certificateAuthority
      ? readFlagFile('kubelet-certificate-authority', cfg.kubelet.certificateAuthority)
      : undefined,
    preferredAddressTypes: cfg.kubelet.preferredAddressTypes,
  }
  const kubeletTransports = new KubeletTransports(
    new NodeKubeletTransport({ ...kubelet, timeoutMs: cfg.kubelet.timeoutMs }),
  )
  // Node agents dial out to this process (src/tunnel): a node whose agent is connected is reached
  // through its tunnel. With several processes on one etcd, only the one the agent dialled has it.
  const tunnels = new TunnelRegistry()
  kubeletTransports.use(tunnels.chooser)
  // kube-apiserver's proxy transport for pods and service endpoints: no client certificate, and the
  // endpoint's certificate not verified.
  const endpointsTransport = new NodeKubeletTransport({ timeoutMs: cfg.kubelet.timeoutMs })
  const proxyClient = cfg.proxyClient
    ? {
        certPem: readFlagFile('proxy-client-cert-file', cfg.proxyClient.certFile),
        keyPem: readFlagFile('proxy-client-key-file', cfg.proxyClient.keyFile),
      }
    : undefined
  // Every cluster's aggregation layer calls its extension servers over this process's transport (the
  // APIService's caBundle, --proxy-client-cert-file); kube-aggregator's loop checks availability.
  const newAggregator = (types: Registry) =>
    new Aggregator(types, {
      fetch: nodeAggregatorFetch(proxyClient),
      endpointRouting: cfg.enableAggregatorRouting,
      checkOnRequests: false,
    })

  const tls = prepareTls(cfg, stateDir, advertiseAddress)
  const signer = clusterSigner(tls, cfg)
  let clientCAs, requestHeaderCAs
  try {
    clientCAs = certificateBundle(tls.clientCA)
    requestHeaderCAs = tls.requestHeaderCA ? certificateBundle(tls.requestHeaderCA) : []
  } catch (e) {
    throw new StartupError(`--client-ca-file / --requestheader-client-ca-file: ${errorText(e)}`)
  }
  let serverAuth: ServerAuth
  try {
    // The cluster CA (kubeadm's ca.crt: the client CA, which signed the serving certificate) when the
    // serving certificate is the operator's; kube takes it from kube-controller-manager's --root-ca-file.
    serverAuth = new ServerAuth({ ...authOptions, rootCA: rootCA(tls, cfg) })
  } catch (e) {
    throw new StartupError(flagNames(errorText(e))) // a malformed --token-auth-file, say
  }
  const registry = opts.registry
  installAuthResources(registry)
  try {
    applyRuntimeConfig(registry, cfg.runtimeConfig)
  } catch (e) {
    if (e instanceof FlagError) throw new StartupError(e.message)
    throw e
  }
  const kmsProviders: KMSv2Transformer[] = []
  const encryption = loadEncryption(cfg.encryptionProviderConfig, kmsProviders)
  // Each cluster's /metrics series are its own; the process_* series describe the process serving them all.
  const defaultClusterMetrics = apiserverMetrics()
  const processSeries = processMetrics()
  const audit = loadAudit(cfg, log, defaultClusterMetrics)

  let client
  try {
    client = etcdClient({
      endpoints: cfg.etcdServers,
      caFile: cfg.etcdCAFile,
      certFile: cfg.etcdCertFile,
      keyFile: cfg.etcdKeyFile,
    })
  } catch (e) {
    throw new StartupError(`etcd client: ${errorText(e)}`)
  }
  const store = new EtcdStore(client, {
    prefix: cfg.etcdPrefix,
    requestTimeoutMs: cfg.requestTimeoutMs,
    mirror: cfg.watchCache,
  })
  // Everything but the compactor and shutdown goes through encryption at rest, when configured; the
  // authenticated data of a value is its etcd key, as kube-apiserver's. Above it, values kube-apiserver
  // stored in protobuf are read as their JSON (decrypted first, then decoded, as kube's etcd3 store does).
  const apiStoreOn = (etcd: EtcdStore, types: Registry): Store =>
    new StorageCodecStore(
      encryption
        ? new TransformingStore(etcd, encryption, {
            resourceOf: storageResources(types.all()),
            authenticatedData: (key) => etcd.etcdKeyOf(key),
          })
        : etcd,
      cfg.storageMediaType,
    )
  const apiStore = apiStoreOn(store, registry)
  try {
    await waitForEtcd(store, cfg.etcdServers, cfg.etcdStartTimeoutMs)
    // kube-apiserver's post-start hooks, before serving: system namespaces, the kubernetes service, RBAC policy.
    await bootstrapCluster(registry, apiStore, cfg.securePort, false)
    await ensureClusterAPI(registry, apiStore)
  } catch (e) {
    store.close()
    if (e instanceof StartupError) throw e
    throw new StartupError(`bootstrap: ${errorText(e)}`)
  }

  let admission: AdmissionChain
  try {
    admission = buildAdmission({
      registry: opts.registry,
      enable: cfg.enableAdmissionPlugins,
      disable: cfg.disableAdmissionPlugins,
      webhook: { fetch: nodeWebhookFetch },
    })
  } catch (e) {
    store.close()
    if (e instanceof AdmissionConfigError) throw new StartupError(e.message)
    throw e
  }
  const host =
    cfg.bindAddress === '0.0.0.0' || cfg.bindAddress === '::' ? '127.0.0.1' : cfg.bindAddress
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${cfg.securePort}`
  // The clusters made through the management API, each under an etcd prefix of its own.
  const tenants = new NodeTenants({
    client,
    defaultStore: apiStore,
    newRegistry: () => {
      const r = new Registry(builtinResources)
      installAuthResources(r)
      applyRuntimeConfig(r, cfg.runtimeConfig)
      return r
    },
    apiStore: apiStoreOn,
    authEnv,
    admission: (r) =>
      buildAdmission({
        registry: r,
        enable: cfg.enableAdmissionPlugins,
        disable: cfg.disableAdmissionPlugins,
        webhook: { fetch: nodeWebhookFetch },
      }),
    aggregator: (r) => newAggregator(r),
    availabilityLoop: (s, a) => startAvailabilityLoop(s, a, log),
    anonymous: cfg.anonymousAuth,
    securePort: cfg.securePort,
    requestTimeoutMs: cfg.requestTimeoutMs,
    watchCache: cfg.watchCache,
    clusterSigningDurationMs: cfg.clusterSigningDurationMs,
    rootCA: rootCA(tls, cfg),
    clientCertificates: (env, caPem) =>
      new ClientCertificateAuthenticator(tlsSocket(env), certificateBundle(caPem)),
    log,
  })
  let shutdownInitiated = false
  const requestHeader = authOptions.requestHeader ?? { allowedNames: [] }
  const frontProxy: FrontProxyConfig | undefined = requestHeaderCAs.length
    ? {
        cas: requestHeaderCAs,
        allowedNames: requestHeader.allowedNames,
        usernameHeaders: (requestHeader.usernameHeaders?.length
          ? requestHeader.usernameHeaders
          : ['X-Remote-User']
        ).map((h) => h.toLowerCase()),
        headers: new RequestHeaderAuthenticator(requestHeader),
      }
    : undefined
  const snapshots = new EtcdSnapshots(store)
  const aggregator = newAggregator(registry)
  // kube-apiserver's watch cache: one etcd watch per resource for all of its watchers.
  const watchCache = cfg.watchCache ? new WatchCaches() : undefined
  const app = buildApp({
    aggregator,
    httpProbe: nodeHTTPProbe,
    registry,
    store: () => apiStore,
    clusters: (name, env) => tenants.clusters.resolve(name, env),
    // Restores go straight to etcd while no server runs (npm run snapshot -- restore --etcd-servers):
    // etcd gives a client no say over revisions except on a fresh etcd written in revision order.
    storageAdmin: () => ({ cluster: cfg.etcdPrefix, source: 'etcd', snapshots }),
    // kube-apiserver's order: the front proxy's headers, x509 client certificates, then bearer tokens.
    authenticators: (env, s) => [
      ...(frontProxy
        ? [
            new NodeRequestHeaderAuthenticator(
              (env as { incoming: IncomingMessage }).incoming,
              frontProxy,
            ),
          ]
        : []),
      new ClientCertificateAuthenticator(tlsSocket(env), clientCAs),
      ...serverAuth.authenticators(s),
    ],
    auth: (_env, s) => serverAuth.context(s),
    anonymous: () => cfg.anonymousAuth,
    admission: () => admission,
    conversion: { fetch: nodeWebhookFetch },
    metrics: (name) =>
      new InProcessMetrics(
        processSeries,
        name === DEFAULT_CLUSTER ? defaultClusterMetrics : apiserverMetrics(),
      ),
    // kube-apiserver names a check per KMS plugin when the configuration is not reloaded automatically.
    healthChecks: kmsProviders.map((t, i) => ({
      name: `kms-provider-${i}`,
      check: () => t.check(),
    })),
    // kube's `shutdown` readyz check: not ready from SIGTERM on, while --shutdown-delay-duration still serves.
    readyChecks: [
      {
        name: 'shutdown',
        check: async () => {
          if (shutdownInitiated) throw new Error('shutdown initiated')
        },
      },
    ],
    requestTimeoutMs: cfg.requestTimeoutMs,
    tunnels: (env) => ({
      accept: async (nodeName, request) => {
        // The upgrade listener writes the 101 and relays the bytes, as for a kubelet's upgrade.
        ;(env as UpgradeEnv).upgraded = await tunnels.acceptBytes(nodeName, request)
        return new Response(null, { status: 204 })
      },
    }),
    requestMetrics: () => cfg.requestMetrics,
    watchCache: () => watchCache,
    audit: audit && {
      config: () => audit,
      remoteAddress: (c) =>
        (c.env as { incoming?: IncomingMessage }).incoming?.socket.remoteAddress,
    },
    priorityAndFairness: () => ({
      maxRequestsInflight: cfg.maxRequestsInflight,
      maxMutatingRequestsInflight: cfg.maxMutatingRequestsInflight,
      requestTimeoutMs: cfg.requestTimeoutMs,
    }),
    kubelet: (env) => ({
      transports: kubeletTransports,
      preferredAddressTypes: kubelet.preferredAddressTypes,
      endpoints: endpointsTransport,
      // The upgrade listener below takes over the client's socket once the app has answered.
      respondUpgraded: (up, tunnelAs) => {
        ;(env as UpgradeEnv).upgraded = up
        ;(env as UpgradeEnv).tunnelAs = tunnelAs
        return new Response(null, { status: 204 })
      },
    }),
  })
  const fetchWithFilters = withCORS(cfg.corsAllowedOrigins, app.fetch)

  // Requests in flight, so shutdown can wait for them (writes above all) before closing etcd.
  const inFlight = new Set<ServerResponse>()
  let drained: (() => void) | undefined
  let shuttingDown = false
  const listener = getRequestListener(fetchWithFilters)
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res)
    res.on('close', () => {
      inFlight.delete(res)
      if (inFlight.size === 0) drained?.()
    })
    if (shuttingDown) res.setHeader('Connection', 'close')
    declareNoBody(req)
    // A client certificate that does not verify is a rejected credential: 401, anonymous or not
    // (kube-apiserver's union authenticator fails on error before anonymous is tried).
    const proxy = frontProxy && new NodeRequestHeaderAuthenticator(req, frontProxy)
    // Another cluster's client certificates are its own CA's: its authenticators decide (src/node/tenants.ts).
    if (
      defaultClusterPath(req.url) &&
      rejectedClientCertificate(tlsSocket({ incoming: req }), clientCAs, proxy)
    ) {
      const r = respondError(unauthorized(), req.headers.accept)
      res.writeHead(r.status, Object.fromEntries(r.headers))
      void r.arrayBuffer().then((body) => res.end(Buffer.from(body)))
      return
    }
    void listener(req, res)
  }

  const server: Server = createServer(
    {
      key: tls.key,
      cert: tls.cert,
      // The handshake accepts certificates of either CA; which one issued it is checked per request.
      ca: [tls.clientCA, ...(tls.requestHeaderCA ? [tls.requestHeaderCA] : [])],
      requestCert: true,
      rejectUnauthorized: false, // verified per request, so that a bad certificate gets a 401 Status
      ...(cfg.tlsMinVersion ? { minVersion: cfg.tlsMinVersion } : {}),
      ...(cfg.tlsCiphers ? { ciphers: cfg.tlsCiphers } : {}),
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    handle,
  )
  servesAsKubeApiserver(server)
  // Upgrades (exec, attach, port-forward, proxied WebSockets) go through the same app; what the kubelet
  // answered with 101 is then relayed byte for byte on the client's socket.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const proxy = frontProxy && new NodeRequestHeaderAuthenticator(req, frontProxy)
    const rejected =
      defaultClusterPath(req.url) &&
      rejectedClientCertificate(tlsSocket({ incoming: req }), clientCAs, proxy)
    void serveUpgrade(req, socket, head, rejected ? undefined : fetchWithFilters)
  })
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      store.close()
      reject(
        new StartupError(
          `cannot listen on ${cfg.bindAddress}:${cfg.securePort}: ${e.code ?? e.message}`,
        ),
      )
    })
    server.listen(cfg.securePort, cfg.bindAddress, () => resolveListen())
  })

  // The `kubernetes` Service's endpoints carry this server before it says it serves.
  let reconciler: EndpointReconciler | undefined
  if (cfg.endpointReconcilerType === 'lease') {
    reconciler = leaseEndpointReconciler({
      registry,
      store: apiStore,
      ip: advertiseAddress,
      port: cfg.securePort,
      log,
    })
    try {
      await reconciler.start()
    } catch (e) {
      server.close()
      store.close()
      throw new StartupError(`endpoint reconciler: ${errorText(e)}`)
    }
  }
  const compactor = startCompactor(store, cfg.etcdCompactionIntervalMs, log, () => {
    const floors = [snapshots.compactionFloor(), tenants.compactionFloor()]
    const held = floors.filter((f): f is number => f !== undefined)
    return held.length ? Math.min(...held) : undefined
  })
  // kube-controller-manager's loops this server owns (namespaces, garbage collection, service accounts,
  // kube-root-ca.crt, quota), fed by a watch of the store; several servers repeat each other harmlessly.
  // csrapproving asks the server's own authorizer; csrsigning signs with the cluster signing CA.
  const availability = startAvailabilityLoop(apiStore, aggregator, log)
  const controllers = startControllers(apiStore, registry, {
    rootCA: rootCA(tls, cfg),
    authorizer: serverAuth.authorizer(apiStore),
    signer,
    log,
    // Served at this server's own address, as its kubeconfig is.
    provisioning: { tenants, externalURL: url, servingCA: tls.servingCA },
  })

  let kubeconfigPath: string | undefined
  if (tls.admin) {
    kubeconfigPath = join(stateDir, 'kubeconfig')
    writeKubeconfig(kubeconfigPath, {
      server: url,
      caPem: tls.servingCA,
      clientCertPem: tls.admin.certPem,
      clientKeyPem: tls.admin.keyPem,
    })
  }

  let shutdown: Promise<void> | undefined
  return {
    url,
    kubeconfigPath,
    store,
    advertiseAddress,
    kubelet,
    kubeletTransports,
    proxyClient,
    shutdown: () =>
      (shutdown ??= (async () => {
        // --shutdown-delay-duration: keep serving normally while load balancers notice (/readyz fails),
        // then stop. The endpoints drop this server first, as kube-apiserver's do.
        shutdownInitiated = true
        await reconciler?.stop()
        if (cfg.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, cfg.shutdownDelayMs))
        shuttingDown = true
        compactor.stop()
        const closed = new Promise<void>((r) => server.close(() => r()))
        server.closeIdleConnections()
        // Before the watches end: the loops would otherwise take the end of their watch for a reason to resync.
        await controllers.stop()
        await tenants.close()
        await availability.stop()
        // Watches end with a clean end of their streams; clients watch again elsewhere.
        watchCache?.close()
        store.endWatches()
        if (inFlight.size > 0) {
          await Promise.race([
            new Promise<void>((r) => {
              drained = r
            }),
            new Promise<void>((r) => setTimeout(r, cfg.shutdownTimeoutMs).unref()),
          ])
        }
        server.closeAllConnections()
        await closed
        // The audit backends deliver what they hold (the webhook's batch) before the process ends.
        await audit?.backend.shutdown?.()
        store.close()
        for (const t of kmsProviders) t.close()
      })()),
  }
}

type FetchHandler = (req: Request, env?: unknown) => Response | Promise<Response>

/**
 * kube's long-running requests, which --request-timeout does not end: watches, and the streaming
 * subresources (exec, attach, portforward, proxy, log).
 */
/**
 * --cors-allowed-origins (k8s.io/apiserver/pkg/server/filters.WithCORS): an Origin matching one of the
 * patterns gets kube's Access-Control-* headers, and its preflight OPTIONS a 204; others are served
 * without them.
 */
export function withCORS(origins: string[], next: FetchHandler): FetchHandler {
  if (!origins.length) return next
  const patterns = origins.map((o) => new RegExp(o))
  return async (req, env) => {
    const origin = req.headers.get('origin')
    if (!origin || !patterns.some((p) => p.test(origin))) return next(req, env)
    const cors: Record<string, string> = {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE, PATCH',
      'Access-Control-Allow-Headers':
        'Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, X-Requested-With, If-Modified-Since',
      'Access-Control-Expose-Headers': 'Date',
      'Access-Control-Allow-Credentials': 'true',
    }
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors })
    const res = await next(req, env)
    const out = new Response(res.body, res)
    for (const [k, v] of Object.entries(cors)) out.headers.set(k, v)
    return out
  }
}

/**
 * HTTP/1.1 (RFC 9112 §6.3), which this listener serves: a request with neither Content-Length nor
 * Transfer-Encoding has no body. Saying so with `Content-Length: 0` lets the handlers that read a body
 * (a DELETE's options above all) see it is empty without the web stream over the socket that
 * @hono/node-server builds otherwise (a third of a DELETE's CPU).
 */
function declareNoBody(req: IncomingMessage): void {
  if (req.method === 'GET' || req.method === 'HEAD') return
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)
    return
  req.headers['content-length'] = '0'
  req.rawHeaders.push('Content-Length', '0')
}

// The state of a local edge server, shared by `npm start` (scripts/start.mjs, on wrangler dev) and the
// in-process one of edge-apiserver/testing (src/node/testing, on Miniflare): the admin credential, the token
// file, the service account signing key, the serving CA and certificate, the admin kubeconfig, and the
// Worker's vars and secrets that a deployment would set (wrangler secret put ...) made from kube-apiserver's
// flags. One place, so that both start the same server.
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { stringify } from 'yaml'
import { createCA, ensurePair, servingHosts, signCertificate, type KeyPair } from './pki'
import { errorText } from '../util/errors'

/** kube-apiserver's flags a local edge server takes, as the Worker's vars and secrets. */
export interface ServerSettings {
  /** --enable-admission-plugins: plugins beyond kube-apiserver's default set (e.g. NodeRestriction). */
  enableAdmissionPlugins?: string[]
  /** --disable-admission-plugins: plugins of the default set to turn off. */
  disableAdmissionPlugins?: string[]
  /**
   * --encryption-provider-config: an EncryptionConfiguration file (YAML or JSON, keys included); Secrets, or
   * what it names, are encrypted before they reach the Durable Object.
   */
  encryptionProviderConfigFile?: string
  /** --audit-policy-file: each audit event is written as a JSON line to the Worker's log. */
  auditPolicyFile?: string
  /** --audit-webhook-config-file: a kubeconfig naming a webhook that gets batched EventLists. */
  auditWebhookConfigFile?: string
  /** --audit-webhook-batch-max-size: events per EventList (400). */
  auditWebhookBatchMaxSize?: number
  /** --audit-webhook-batch-max-wait: how long a batch waits, as a Go duration ("1s"). */
  auditWebhookBatchMaxWait?: string
  /** false: the request path records no request or storage metrics (npm run bench measures their cost). */
  requestMetrics?: boolean
  /** --watch-cache=false: each client watch gets a watch of the Durable Object of its own. */
  watchCache?: boolean
  /** --max-requests-inflight and --max-mutating-requests-inflight: API priority and fairness' seats. */
  maxRequestsInflight?: number
  maxMutatingRequestsInflight?: number
  /** --authorization-mode, in order (Node,RBAC by default; also AlwaysAllow, AlwaysDeny, Webhook). */
  authorizationMode?: string[]
  /** --anonymous-auth (true by default, as in kube-apiserver). */
  anonymousAuth?: boolean
}

/** A flag's value that cannot be used: the message names the flag, as npm start prints it. */
export class FlagError extends Error {
  constructor(
    message: string,
    /** npm start's exit code for it. */
    readonly exitCode = 2,
  ) {
    super(message)
  }
}

/** npm start's flags for ServerSettings, in node:util parseArgs' terms (scripts/start.mjs adds its own). */
export const SETTINGS_FLAGS = {
  'encryption-provider-config': { type: 'string' },
  'enable-admission-plugins': { type: 'string' },
  'disable-admission-plugins': { type: 'string' },
  'audit-policy-file': { type: 'string' },
  'audit-webhook-config-file': { type: 'string' },
  'audit-webhook-batch-max-size': { type: 'string' },
  'audit-webhook-batch-max-wait': { type: 'string' },
  'request-metrics': { type: 'string' },
  'watch-cache': { type: 'string' },
  'max-requests-inflight': { type: 'string' },
  'max-mutating-requests-inflight': { type: 'string' },
  'authorization-mode': { type: 'string' },
  'anonymous-auth': { type: 'string' },
} as const satisfies ParseArgsConfig['options']

type FlagValues = { [K in keyof typeof SETTINGS_FLAGS]?: string }

/** ServerSettings from npm start's flag values (parseArgs' `values`); relative files resolve against cwd. */
export function settingsFromFlags(values: FlagValues): ServerSettings {
  const list = (v: string | undefined) => (v === undefined ? undefined : v ? v.split(',') : [])
  const file = (v: string | undefined) => (v === undefined ? undefined : resolve(v))
  const count = (flag: keyof FlagValues, exitCode: number) => {
    const v = values[flag]
    if (v === undefined) return undefined
    if (!/^\d+$/.test(v)) throw new FlagError(`--${flag}: invalid value "${v}"`, exitCode)
    return Number(v)
  }
  const bool = (flag: keyof FlagValues) => {
    const v = values[flag]
    if (v === undefined) return undefined
    if (v !== 'true' && v !== 'false') throw new FlagError(`--${flag}: invalid value "${v}"`)
    return v === 'true'
  }
  return {
    enableAdmissionPlugins: list(values['enable-admission-plugins']),
    disableAdmissionPlugins: list(values['disable-admission-plugins']),
    encryptionProviderConfigFile: file(values['encryption-provider-config']),
    auditPolicyFile: file(values['audit-policy-file']),
    auditWebhookConfigFile: file(values['audit-webhook-config-file']),
    auditWebhookBatchMaxSize: count('audit-webhook-batch-max-size', 2),
    auditWebhookBatchMaxWait: values['audit-webhook-batch-max-wait'],
    requestMetrics: bool('request-metrics'),
    watchCache: bool('watch-cache'),
    maxRequestsInflight: count('max-requests-inflight', 1),
    maxMutatingRequestsInflight: count('max-mutating-requests-inflight', 1),
    authorizationMode: list(values['authorization-mode']),
    anonymousAuth: bool('anonymous-auth'),
  }
}

/** ServerSettings from npm start's flags as a test passes them (["--enable-admission-plugins=X", ...]). */
export function settingsFromArgs(args: string[]): ServerSettings {
  try {
    return settingsFromFlags(parseArgs({ args, options: SETTINGS_FLAGS, strict: true }).values)
  } catch (e) {
    if (e instanceof FlagError) throw e
    throw new FlagError(errorText(e))
  }
}

/** The credentials in a local server's state dir, made on first use and kept across restarts. */
export interface Credentials {
  dir: string
  /** The admin's bearer token (system:masters). */
  token: string
  /** --token-auth-file's contents: the admin, and the lines of <state-dir>/tokens.csv. */
  tokenFile: string
  /** The service account signing key as a JWK (JSON). */
  serviceAccountKeyJwk: string
  /** The serving CA: it signs the serving certificate, and the csrsigning controller signs with it. */
  ca: KeyPair & { certPath: string }
  /** The serving certificate for 127.0.0.1, localhost and the in-cluster names. */
  serving: KeyPair & { certPath: string; keyPath: string }
}

export function ensureCredentials(dir: string): Credentials {
  mkdirSync(dir, { recursive: true, mode: 0o700 })

  // The admin credential is made once and kept, so a restart on the same state dir keeps working kubeconfigs.
  const tokenPath = join(dir, 'admin-token')
  if (!existsSync(tokenPath))
    writeFileSync(tokenPath, randomBytes(32).toString('hex') + '\n', { mode: 0o600 })
  const token = readFileSync(tokenPath, 'utf8').trim()
  // More users for local testing: lines in <state-dir>/tokens.csv (the --token-auth-file format) are added.
  const extraTokensPath = join(dir, 'tokens.csv')
  const extraTokens = existsSync(extraTokensPath)
    ? readFileSync(extraTokensPath, 'utf8')
        .split(/\r?\n/)
        .filter((l) => l.trim() && !l.trim().startsWith('#'))
    : []
  const tokenFile = [`${token},admin,admin,"system:masters"`, ...extraTokens].join('\n') + '\n'
  writeFileSync(join(dir, 'token-auth-file.csv'), tokenFile, { mode: 0o600 })

  // The service account signing key (kube-apiserver's --service-account-signing-key-file), made once and
  // kept so that tokens issued before a restart still verify. The Worker reads it as a JWK.
  const saKeyPath = join(dir, 'service-account.key')
  if (!existsSync(saKeyPath)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    writeFileSync(saKeyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  }
  const serviceAccountKeyJwk = JSON.stringify(
    createPrivateKey(readFileSync(saKeyPath, 'utf8')).export({ format: 'jwk' }),
  )

  // kubectl sends credentials only over TLS, as kube-apiserver always serves it: a serving CA and
  // certificate are made once into the state dir (the same PKI code Node mode uses).
  const ca = ensurePair(join(dir, 'pki'), 'ca', () => createCA('edge-apiserver-ca'))
  const serving = ensurePair(
    join(dir, 'pki'),
    'apiserver',
    () =>
      signCertificate(ca, {
        subject: { commonName: 'kube-apiserver' },
        usage: 'server',
        hosts: servingHosts('127.0.0.1', '10.96.0.1'),
      }),
    ca.renewed,
  )
  return { dir, token, tokenFile, serviceAccountKeyJwk, ca, serving }
}

/**
 * The Worker's vars and secrets, by name (what wrangler dev reads from its --env-file), for a server
 * reached at `externalUrl` (https://127.0.0.1:port, or http:// when served as plain HTTP on loopback).
 */
export function workerEnv(
  c: Credentials,
  externalUrl: string,
  settings: ServerSettings = {},
): Record<string, string> {
  return {
    TOKEN_AUTH_FILE: c.tokenFile.trim(),
    SERVICE_ACCOUNT_SIGNING_KEY: c.serviceAccountKeyJwk,
    // The cluster CA the control loops publish in every namespace as the kube-root-ca.crt ConfigMap (what
    // pods use to verify kubernetes.default.svc); a deployed Worker gets it as the CLUSTER_CA_CERT secret.
    CLUSTER_CA_CERT: c.ca.certPem.trim(),
    // csrsigning's CA key (kube-controller-manager's --cluster-signing-key-file), signing with that CA; a
    // deployed Worker gets it as the CLUSTER_SIGNING_KEY secret.
    CLUSTER_SIGNING_KEY: c.ca.keyPem.trim(),
    // The clusters made through the management API are reached at this address plus /clusters/<name>.
    EXTERNAL_URL: externalUrl,
    ...settingsEnv(settings),
  }
}

/** Writes the admin kubeconfig for `server` into the state dir: <dir>/kubeconfig. */
export function writeAdminKubeconfig(
  c: Credentials,
  server: string,
): { kubeconfigPath: string; kubeconfig: Kubeconfig } {
  const kubeconfigPath = join(c.dir, 'kubeconfig')
  const kubeconfig = adminKubeconfig(server, c.token, c.ca.certPem)
  writeFileSync(kubeconfigPath, stringify(kubeconfig), { mode: 0o600 })
  return { kubeconfigPath, kubeconfig }
}

/** The credentials, the Worker's env and the admin kubeconfig of a server at `externalUrl` (npm start). */
export function prepareLocalState(
  dir: string,
  externalUrl: string,
  settings: ServerSettings = {},
): Credentials & {
  env: Record<string, string>
  kubeconfigPath: string
  kubeconfig: Kubeconfig
} {
  const c = ensureCredentials(dir)
  const env = workerEnv(c, externalUrl, settings)
  return { ...c, env, ...writeAdminKubeconfig(c, externalUrl) }
}

/** The Worker vars ServerSettings stand for (see src/worker.ts's Env). */
function settingsEnv(s: ServerSettings): Record<string, string> {
  const env: Record<string, string> = {}
  const set = (name: string, v: string | number | boolean | undefined) => {
    if (v !== undefined) env[name] = String(v)
  }
  set('ENABLE_ADMISSION_PLUGINS', s.enableAdmissionPlugins?.join(','))
  set('DISABLE_ADMISSION_PLUGINS', s.disableAdmissionPlugins?.join(','))
  // Encryption at rest: the configuration file's text, keys included, as the Worker secret a deployment
  // would set (wrangler secret put ENCRYPTION_PROVIDER_CONFIG < file). Audit: the policy and the webhook's
  // kubeconfig as the Worker vars a deployment would set.
  set(
    'ENCRYPTION_PROVIDER_CONFIG',
    readFlagFile('encryption-provider-config', s.encryptionProviderConfigFile),
  )
  set('AUDIT_POLICY', readFlagFile('audit-policy-file', s.auditPolicyFile))
  set('AUDIT_WEBHOOK_CONFIG', readFlagFile('audit-webhook-config-file', s.auditWebhookConfigFile))
  set('AUDIT_WEBHOOK_BATCH_MAX_SIZE', s.auditWebhookBatchMaxSize)
  set('AUDIT_WEBHOOK_BATCH_MAX_WAIT', s.auditWebhookBatchMaxWait)
  set('REQUEST_METRICS', s.requestMetrics)
  set('WATCH_CACHE', s.watchCache)
  set('MAX_REQUESTS_INFLIGHT', s.maxRequestsInflight)
  set('MAX_MUTATING_REQUESTS_INFLIGHT', s.maxMutatingRequestsInflight)
  set('AUTHORIZATION_MODE', s.authorizationMode?.join(','))
  set('ANONYMOUS_AUTH', s.anonymousAuth)
  return env
}

function readFlagFile(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined
  try {
    return readFileSync(path, 'utf8').trimEnd()
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    throw new FlagError(`--${flag}: cannot read ${path}: ${err.code ?? err.message}`)
  }
}

/** The flag a file-valued Worker var comes from, for npm start's messages. */
const FLAG_OF_VAR: Record<string, string> = {
  ENCRYPTION_PROVIDER_CONFIG: 'encryption-provider-config',
  AUDIT_POLICY: 'audit-policy-file',
  AUDIT_WEBHOOK_CONFIG: 'audit-webhook-config-file',
}

/** The env as a .env file for wrangler dev's --env-file (scripts/start.mjs). */
export function toDotenv(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      // A dotenv value may span lines inside quotes that do not occur in it (double quotes expand \n).
      const quote = ["'", '`', '"'].find((q) => !value.includes(q))
      if (!quote)
        throw new FlagError(
          `--${FLAG_OF_VAR[name] ?? name}: the file uses every quote character (' \` "); a .env value cannot hold it`,
        )
      return `${name}=${quote}${value}${quote}\n`
    })
    .join('')
}

/** A kubeconfig (clientcmd's v1 Config), as far as the admin's says. */
export interface Kubeconfig {
  apiVersion: 'v1'
  kind: 'Config'
  clusters: {
    name: string
    cluster: { server: string; 'certificate-authority-data'?: string }
  }[]
  users: { name: string; user: { token: string } }[]
  contexts: { name: string; context: { cluster: string; user: string; namespace: string } }[]
  'current-context': string
}

/** The admin kubeconfig for a server at `server`; over plain HTTP it names no CA. */
export function adminKubeconfig(server: string, token: string, caPem: string): Kubeconfig {
  const ca = Buffer.from(caPem).toString('base64')
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'edge-apiserver',
        cluster: server.startsWith('https:')
          ? { server, 'certificate-authority-data': ca }
          : { server },
      },
    ],
    users: [{ name: 'admin', user: { token } }],
    contexts: [
      {
        name: 'edge-apiserver',
        context: { cluster: 'edge-apiserver', user: 'admin', namespace: 'default' },
      },
    ],
    'current-context': 'edge-apiserver',
  }
}

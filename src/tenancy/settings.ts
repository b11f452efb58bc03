// A cluster's own settings: the deployment's Worker variables (the names src/worker.ts reads, after
// kube-apiserver's flags) that a cluster other than the default one has of its own, made when it is
// provisioned and kept in its own store. What names an identity (tokens, service account keys, signing CA)
// is the cluster's alone; what names an identity provider of the deployment (OIDC, webhooks, client
// certificates, a front proxy) does not reach other clusters at all, so that no credential of one cluster,
// or of the deployment, means anything in another.
import { encodeBase64 } from '../auth/serviceaccount/tokens'
import { createCertificateAuthority } from '../auth/certificate-authority'

export type ClusterSettings = Record<string, string>

/** What a cluster's own store keeps of it: the uid of the Cluster it was provisioned for, and its settings. */
export interface TenantRecord {
  uid: string
  settings: ClusterSettings
}

/** Provisioned once per cluster; replace the deployment's values of the same names. */
const OWN = [
  'TOKEN_AUTH_FILE',
  'SERVICE_ACCOUNT_SIGNING_KEY',
  'SERVICE_ACCOUNT_ISSUER',
  'API_AUDIENCES',
  'CLUSTER_SIGNING_KEY',
  'CLUSTER_SIGNING_CERT',
]
/** The deployment's identity providers: not inherited. */
const DEPLOYMENT_ONLY = [
  /^SERVICE_ACCOUNT_PUBLIC_KEYS$/,
  /^SERVICE_ACCOUNT_JWKS_URI$/,
  /^OIDC_/,
  /^AUTHENTICATION_TOKEN_WEBHOOK_/,
  /^AUTHORIZATION_WEBHOOK_/,
  /^CLIENT_CERT_/,
  /^REQUESTHEADER_/,
]

/**
 * The variables a cluster is served with: the deployment's, less its identity providers, with the cluster's
 * own settings over them. Webhook authorization goes with the webhook it calls.
 */
export function clusterEnv<E extends object>(deployment: E, own: ClusterSettings): E {
  const env: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(deployment)) {
    if (OWN.includes(k) || DEPLOYMENT_ONLY.some((re) => re.test(k))) continue
    env[k] = v
  }
  const modes = env.AUTHORIZATION_MODE
  if (typeof modes === 'string')
    env.AUTHORIZATION_MODE = modes
      .split(',')
      .filter((m) => m.trim() !== 'Webhook')
      .join(',')
  return Object.assign(env, own) as E
}

export interface NewCluster {
  name: string
  /** Where the deployment is reached (https://host[:port]); the cluster's server is this + /clusters/<name>. */
  externalURL: string
}

/** The server URL of a cluster: its path under the deployment's address. */
export function clusterServer(externalURL: string, name: string): string {
  return `${externalURL.replace(/\/+$/, '')}/clusters/${name}`
}

/**
 * New settings for a cluster: an admin token (system:masters), a service account signing key and the
 * cluster's issuer, and a CA of its own for the certificates its CertificateSigningRequests get.
 */
export async function newClusterSettings(c: NewCluster): Promise<ClusterSettings> {
  const token = hex(crypto.getRandomValues(new Uint8Array(32)))
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
  const ca = await createCertificateAuthority(`${c.name}-ca`)
  const server = clusterServer(c.externalURL, c.name)
  return {
    TOKEN_AUTH_FILE: `${token},admin,admin,"system:masters"`,
    SERVICE_ACCOUNT_SIGNING_KEY: JSON.stringify(jwk),
    SERVICE_ACCOUNT_ISSUER: server,
    API_AUDIENCES: server,
    CLUSTER_SIGNING_KEY: ca.keyPem,
    CLUSTER_SIGNING_CERT: ca.certPem,
  }
}

/** The admin token of a cluster's settings (the first line of its token file). */
export function adminToken(settings: ClusterSettings): string {
  return (settings.TOKEN_AUTH_FILE ?? '').split(',')[0]!
}

/** An admin kubeconfig for a cluster; `servingCA` verifies the deployment's serving certificate. */
export function adminKubeconfig(
  name: string,
  server: string,
  settings: ClusterSettings,
  servingCA: string | undefined,
): string {
  // Over plain HTTP (a loopback server of the testing library) there is no certificate to verify, and
  // kubectl given a CA for an http:// server sends no token.
  const ca =
    servingCA && server.startsWith('https:')
      ? `\n    certificate-authority-data: ${encodeBase64(servingCA.trim() + '\n')}`
      : ''
  return `apiVersion: v1
kind: Config
clusters:
- name: ${name}
  cluster:
    server: ${server}${ca}
users:
- name: ${name}-admin
  user:
    token: ${adminToken(settings)}
contexts:
- name: ${name}
  context:
    cluster: ${name}
    user: ${name}-admin
current-context: ${name}
`
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
}

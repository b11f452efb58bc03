// The command line, with kube-apiserver's flag names where they apply (`--flag=value` or `--flag value`).
import { parseArgs } from 'node:util'

/**
 * kube-apiserver's authentication and authorization flags, handed to the shared auth configuration
 * (src/auth/server-auth.ts, authOptionsFromEnv) under their upper-case names, so that defaults and
 * validation live in one place for both modes.
 */
const AUTH_FLAGS = [
  'authorization-mode', 'api-audiences', 'service-account-jwks-uri', 'enable-bootstrap-token-auth',
  'oidc-issuer-url', 'oidc-client-id', 'oidc-username-claim', 'oidc-username-prefix', 'oidc-groups-claim',
  'oidc-groups-prefix', 'oidc-signing-algs',
]
/** The same, given more than once (or comma separated). */
const AUTH_LIST_FLAGS = ['service-account-issuer', 'oidc-required-claim']
/** Flags naming a file whose contents the auth configuration takes. */
const AUTH_FILE_FLAGS = ['token-auth-file', 'service-account-signing-key-file']

export const authEnvName = (flag: string) => flag.toUpperCase().replace(/-/g, '_')
const AUTH_ENV_NAMES: Record<string, string> = {
  'token-auth-file': 'TOKEN_AUTH_FILE',
  'service-account-signing-key-file': 'SERVICE_ACCOUNT_SIGNING_KEY',
  'service-account-max-token-expiration': 'SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION',
}
/** The auth configuration's name for a flag. */
export function authEnvNameOf(flag: string): string {
  return AUTH_ENV_NAMES[flag] ?? authEnvName(flag)
}

export interface NodeConfig {
  etcdServers: string[]
  etcdPrefix: string
  etcdCAFile?: string
  etcdCertFile?: string
  etcdKeyFile?: string
  /** 0 turns compaction off. */
  etcdCompactionIntervalMs: number
  securePort: number
  bindAddress: string
  tlsCertFile?: string
  tlsPrivateKeyFile?: string
  clientCAFile?: string
  anonymousAuth: boolean
  /** Auth flags by their auth-configuration names (see AUTH_FLAGS); file flags hold the file's path. */
  auth: Record<string, string>
  /** Which entries of `auth` are file paths to read, with the flag that named each. */
  authFiles: Record<string, string>
  stateDir: string
  /** How long start keeps trying to reach etcd before giving up. */
  etcdStartTimeoutMs: number
  /** How long shutdown waits for requests in flight before closing their connections. */
  shutdownTimeoutMs: number
  /** --enable-admission-plugins / --disable-admission-plugins, as given (validated when the chain is built). */
  enableAdmissionPlugins?: string
  disableAdmissionPlugins?: string
  /** --encryption-provider-config: the EncryptionConfiguration file for encryption at rest. */
  encryptionProviderConfig?: string
}

export class FlagError extends Error {}

export const USAGE = `Usage: node dist/node.js [flags]   (or: npm run start:node -- [flags])

Serves the Kubernetes API over HTTPS with etcd as the store.

Flags (kube-apiserver's names):
  --etcd-servers=URLS              etcd endpoints, comma separated (default http://127.0.0.1:2379)
  --etcd-prefix=PREFIX             prefix of every key in etcd (default /registry)
  --etcd-cafile=FILE               CA bundle that verifies etcd's serving certificate
  --etcd-certfile=FILE             client certificate for etcd
  --etcd-keyfile=FILE              key of --etcd-certfile
  --etcd-compaction-interval=DUR   compact etcd history this often, to what it was one interval ago;
                                   0 turns it off (default 5m0s)
  --etcd-start-timeout=DUR         how long start keeps trying to reach etcd (ours; default 15s)
  --secure-port=PORT               HTTPS port (default 6443)
  --enable-admission-plugins=LIST  admission plugins to turn on beyond the default set, comma separated
  --disable-admission-plugins=LIST admission plugins of the default set to turn off, comma separated
  --encryption-provider-config=FILE
                                   EncryptionConfiguration of the providers that encrypt resources (Secrets)
                                   in etcd: aescbc, aesgcm, secretbox, identity
  --bind-address=IP                address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --tls-cert-file=FILE             serving certificate; without it one is generated in the state dir
  --tls-private-key-file=FILE      key of --tls-cert-file
  --client-ca-file=FILE            CA bundle for x509 client certificates (CN is the user, O the groups);
                                   without it a client CA is generated in the state dir
  --token-auth-file=FILE           static bearer tokens: token,user,uid,"group1,group2"
  --anonymous-auth=BOOL            let requests without credentials in as system:anonymous (default true)
  --authorization-mode=MODES       authorizers in order, comma separated (default Node,RBAC);
                                   system:masters may always do everything
  --service-account-signing-key-file=FILE
                                   private key (PKCS#8 PEM or JWK) that signs service account tokens
  --service-account-issuer=URL     issuer of service account tokens (repeatable, the first signs)
  --service-account-jwks-uri=URL   jwks_uri in the issuer discovery document
  --service-account-max-token-expiration=DUR
                                   the longest TokenRequest expiration granted
  --api-audiences=LIST             audiences tokens must be for (default: the issuers)
  --enable-bootstrap-token-auth=BOOL
                                   accept bootstrap tokens from kube-system Secrets (default true)
  --oidc-issuer-url, --oidc-client-id, --oidc-username-claim, --oidc-username-prefix,
  --oidc-groups-claim, --oidc-groups-prefix, --oidc-required-claim (repeatable), --oidc-signing-algs
                                   an OpenID Connect identity provider's ID tokens, as kube-apiserver
  --shutdown-timeout=DUR           how long SIGTERM waits for requests in flight (default 60s)
  --state-dir=DIR                  generated certificates and the admin kubeconfig (default .local/node)
  -h, --help                       this text
`

const BOOLEAN_FLAGS = ['anonymous-auth', 'enable-bootstrap-token-auth']

/** Go's time.ParseDuration for the units kube-apiserver's flags use: "5m0s", "30s", "1h", "250ms", "0". */
export function parseDuration(flag: string, s: string): number {
  if (s === '0') return 0
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let rest = s
  if (!rest) throw new FlagError(`invalid argument "${s}" for "--${flag}" flag: time: invalid duration "${s}"`)
  while (rest) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/.exec(rest)
    if (!m) throw new FlagError(`invalid argument "${s}" for "--${flag}" flag: time: invalid duration "${s}"`)
    total += Number(m[1]) * units[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return Math.round(total)
}

function parseBool(flag: string, s: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(s)) return true
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(s)) return false
  throw new FlagError(`invalid argument "${s}" for "--${flag}" flag: strconv.ParseBool: parsing "${s}": invalid syntax`)
}

function parsePort(flag: string, s: string): number {
  const n = Number(s)
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new FlagError(`invalid argument "${s}" for "--${flag}" flag: must be a port between 1 and 65535`)
  return n
}

export function parseFlags(argv: string[]): NodeConfig | 'help' {
  // pflag lets a boolean stand alone (--anonymous-auth means true); parseArgs wants a value.
  const args = argv.map((a) => (BOOLEAN_FLAGS.includes(a.replace(/^--/, '')) ? `${a}=true` : a))
  let values: Record<string, string | string[] | boolean | undefined>
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        'etcd-servers': { type: 'string' },
        'etcd-prefix': { type: 'string' },
        'etcd-cafile': { type: 'string' },
        'etcd-certfile': { type: 'string' },
        'etcd-keyfile': { type: 'string' },
        'etcd-compaction-interval': { type: 'string' },
        'etcd-start-timeout': { type: 'string' },
        'secure-port': { type: 'string' },
        'bind-address': { type: 'string' },
        'tls-cert-file': { type: 'string' },
        'tls-private-key-file': { type: 'string' },
        'client-ca-file': { type: 'string' },
        'token-auth-file': { type: 'string' },
        'anonymous-auth': { type: 'string' },
        ...Object.fromEntries([...AUTH_FLAGS, ...AUTH_FILE_FLAGS, 'service-account-max-token-expiration'].map((f) => [f, { type: 'string' as const }])),
        ...Object.fromEntries(AUTH_LIST_FLAGS.map((f) => [f, { type: 'string' as const, multiple: true as const }])),
        'enable-admission-plugins': { type: 'string' },
        'disable-admission-plugins': { type: 'string' },
        'encryption-provider-config': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        'state-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (e) {
    throw new FlagError((e as Error).message)
  }
  if (values.help) return 'help'
  const str = (k: string) => values[k] as string | undefined
  const servers = (str('etcd-servers') ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean)
  if (servers.length === 0) throw new FlagError('--etcd-servers must name at least one etcd endpoint')
  if ((str('tls-cert-file') === undefined) !== (str('tls-private-key-file') === undefined)) {
    throw new FlagError('--tls-cert-file and --tls-private-key-file must be given together')
  }
  if (str('etcd-certfile') !== undefined && str('etcd-keyfile') === undefined) throw new FlagError('--etcd-certfile needs --etcd-keyfile')
  if (str('etcd-keyfile') !== undefined && str('etcd-certfile') === undefined) throw new FlagError('--etcd-keyfile needs --etcd-certfile')
  const prefix = str('etcd-prefix') ?? '/registry'
  const auth: Record<string, string> = {}
  const authFiles: Record<string, string> = {}
  for (const f of [...AUTH_FLAGS, ...AUTH_FILE_FLAGS]) if (str(f) !== undefined) auth[authEnvNameOf(f)] = str(f)!
  for (const f of AUTH_FILE_FLAGS) if (str(f) !== undefined) authFiles[authEnvNameOf(f)] = f
  for (const f of AUTH_LIST_FLAGS) {
    const v = values[f] as string[] | undefined
    if (v?.length) auth[authEnvNameOf(f)] = v.join(',')
  }
  if (str('enable-bootstrap-token-auth') !== undefined) {
    auth.ENABLE_BOOTSTRAP_TOKEN_AUTH = String(parseBool('enable-bootstrap-token-auth', str('enable-bootstrap-token-auth')!))
  }
  const maxExp = str('service-account-max-token-expiration')
  if (maxExp !== undefined) auth.SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION = String(Math.floor(parseDuration('service-account-max-token-expiration', maxExp) / 1000))
  return {
    etcdServers: servers,
    etcdPrefix: prefix, // joined to keys as kube-apiserver's path.Join does (the store drops a trailing /)
    etcdCAFile: str('etcd-cafile'),
    etcdCertFile: str('etcd-certfile'),
    etcdKeyFile: str('etcd-keyfile'),
    etcdCompactionIntervalMs: parseDuration('etcd-compaction-interval', str('etcd-compaction-interval') ?? '5m0s'),
    etcdStartTimeoutMs: parseDuration('etcd-start-timeout', str('etcd-start-timeout') ?? '15s'),
    securePort: parsePort('secure-port', str('secure-port') ?? '6443'),
    bindAddress: str('bind-address') ?? '127.0.0.1',
    tlsCertFile: str('tls-cert-file'),
    tlsPrivateKeyFile: str('tls-private-key-file'),
    clientCAFile: str('client-ca-file'),
    anonymousAuth: parseBool('anonymous-auth', str('anonymous-auth') ?? 'true'),
    auth,
    authFiles,
    shutdownTimeoutMs: parseDuration('shutdown-timeout', str('shutdown-timeout') ?? '60s'),
    stateDir: str('state-dir') ?? '.local/node',
    enableAdmissionPlugins: str('enable-admission-plugins'),
    disableAdmissionPlugins: str('disable-admission-plugins'),
    encryptionProviderConfig: str('encryption-provider-config'),
  }
}

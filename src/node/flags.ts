// The command line: kube-apiserver's flags, in its syntax (./pflag.ts) and groups, each honoured or
// refused with a message naming it. A kubeadm control plane's kube-apiserver manifest runs unchanged.
import { isIP } from 'node:net'
import { GoDurationError, parseGoDuration } from '../go/duration'
import { FEATURE_GATES } from './feature-gates'
import type { StorageMediaType } from '../storage/storage-codec'
import type { BatchConfig } from '../audit/backend'
import {
  FlagError,
  FlagSet,
  parseGoBool,
  type FlagDef,
  type FlagKind,
  type ParsedFlags,
} from './pflag'
import { errorText } from '../util/errors'

export { FlagError } from './pflag'

/**
 * kube-apiserver's authentication and authorization flags, handed to the shared auth configuration
 * (src/auth/server-auth.ts, authOptionsFromEnv) under their upper-case names, so that defaults and
 * validation live in one place for both modes.
 */
const AUTH_FLAGS = [
  'authorization-mode',
  'api-audiences',
  'service-account-jwks-uri',
  'oidc-issuer-url',
  'oidc-client-id',
  'oidc-username-claim',
  'oidc-username-prefix',
  'oidc-groups-claim',
  'oidc-groups-prefix',
  'oidc-signing-algs',
  'service-account-issuer',
  'oidc-required-claim',
  'requestheader-allowed-names',
  'requestheader-username-headers',
  'requestheader-uid-headers',
  'requestheader-group-headers',
  'requestheader-extra-headers-prefix',
]
/** Flags naming a file whose contents the auth configuration takes. */
const AUTH_FILE_FLAGS = ['token-auth-file']

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

export interface WebhookFlags {
  configFile: string
  version: 'v1' | 'v1beta1'
}

export interface NodeConfig {
  etcdServers: string[]
  /** --storage-media-type: how objects are written to etcd (both forms are read). */
  storageMediaType: StorageMediaType
  etcdPrefix: string
  etcdCAFile?: string
  etcdCertFile?: string
  etcdKeyFile?: string
  /** 0 turns compaction off. */
  etcdCompactionIntervalMs: number
  /** --encryption-provider-config: the EncryptionConfiguration file for encryption at rest. */
  encryptionProviderConfig?: string
  securePort: number
  bindAddress: string
  /** --advertise-address: the IP the `kubernetes` Service's endpoints carry for this server. */
  advertiseAddress?: string
  tlsCertFile?: string
  tlsPrivateKeyFile?: string
  /** --tls-min-version as node:tls names it. */
  tlsMinVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'
  /** --tls-cipher-suites in OpenSSL's names, colon separated, for node:tls. */
  tlsCiphers?: string
  clientCAFile?: string
  anonymousAuth: boolean
  /** Auth flags by their auth-configuration names (see AUTH_FLAGS); file flags hold the file's path. */
  auth: Record<string, string>
  /** Which entries of `auth` are file paths to read, with the flag that named each. */
  authFiles: Record<string, string>
  serviceAccountSigningKeyFile?: string
  /** --service-account-key-file, each given (PEM public keys, private keys, certificates). */
  serviceAccountKeyFiles: string[]
  /** --requestheader-client-ca-file: the CA whose client certificates may name users in headers. */
  requestHeaderClientCAFile?: string
  authorizationWebhook?: WebhookFlags & { authorizedTTLms: number; unauthorizedTTLms: number }
  authenticationTokenWebhook?: WebhookFlags & { cacheTTLms: number }
  /** --allow-privileged (kube's default false; kubeadm sets true). */
  allowPrivileged: boolean
  /** --service-cluster-ip-range: one CIDR, or two comma separated (dual-stack, the first primary). */
  serviceClusterIPRange: string
  serviceNodePortRange: { min: number; max: number }
  /** --kubelet-*: how the connect subresources reach kubelets (src/node/kubelet-transport.ts). */
  kubelet: {
    clientCertificate?: string
    clientKey?: string
    certificateAuthority?: string
    preferredAddressTypes: string[]
    /** --kubelet-timeout: how long dialling a kubelet may take. */
    timeoutMs: number
  }
  /** --proxy-client-cert-file / --proxy-client-key-file: presented to extension API servers. */
  proxyClient?: { certFile: string; keyFile: string }
  /** --enable-aggregator-routing: extension servers are dialled at an endpoint, not the cluster IP. */
  enableAggregatorRouting: boolean
  featureGates: Record<string, boolean>
  /** --runtime-config: group versions turned on or off ("api/all", "api/ga", "apps/v1", ...). */
  runtimeConfig: Record<string, boolean>
  requestTimeoutMs: number
  minRequestTimeoutSeconds: number
  /** --max-requests-inflight and --max-mutating-requests-inflight: API priority and fairness' seats. */
  maxRequestsInflight: number
  maxMutatingRequestsInflight: number
  /** --cors-allowed-origins, as regular expressions. */
  corsAllowedOrigins: string[]
  shutdownDelayMs: number
  endpointReconcilerType: 'lease' | 'none'
  verbosity: number
  stateDir: string
  /** kube-controller-manager's --cluster-signing-cert-file and -key-file: csrsigning's CA. */
  clusterSigningCertFile?: string
  clusterSigningKeyFile?: string
  /** --cluster-signing-duration: the longest certificate csrsigning issues. */
  clusterSigningDurationMs: number
  /** How long start keeps trying to reach etcd before giving up. */
  etcdStartTimeoutMs: number
  /** How long shutdown waits for requests in flight before closing their connections. */
  shutdownTimeoutMs: number
  /** --enable-admission-plugins / --disable-admission-plugins, as given (validated when the chain is built). */
  enableAdmissionPlugins?: string
  disableAdmissionPlugins?: string
  /** --request-metrics=false: the request path records no metrics (to measure their cost). */
  requestMetrics: boolean
  /** --watch-cache: one etcd watch per resource shared by every watch of it (src/api/watch-cache.ts). */
  watchCache: boolean
  /** --audit-policy-file and the backends' flags; the policy is read at start. */
  audit: AuditFlags
}

export interface AuditFlags {
  policyFile?: string
  log?: { path: string; maxAgeDays: number; maxBackups: number; maxSizeMB: number }
  webhook?: { configFile: string; batch: BatchConfig }
}

interface Def extends FlagDef {
  group: Group
  /** kube-apiserver has it and this server cannot honour it yet: why, for the refusal. */
  refused?: string
  /** Ours, not kube-apiserver's. */
  ours?: boolean
}

const GROUPS = [
  'Generic flags',
  'Etcd flags',
  'Secure serving flags',
  'Auditing flags',
  'Features flags',
  'Authentication flags',
  'Authorization flags',
  'API enablement flags',
  'Egress selector flags',
  'Admission flags',
  'Metrics flags',
  'Logs flags',
  'Traces flags',
  'Misc flags',
  'Global flags',
] as const
type Group = (typeof GROUPS)[number]

const f = (
  group: Group,
  name: string,
  kind: FlagKind,
  usage: string,
  more: Partial<Def> = {},
): Def => ({ group, name, kind, usage, ...more })
/** A kube-apiserver flag this server refuses: parsed with its type, then refused by name when given. */
const no = (group: Group, name: string, kind: FlagKind, why: string, typeName?: string): Def => ({
  group,
  name,
  kind,
  usage: `Not supported by this server (${why}).`,
  refused: why,
  typeName,
})

const NOT_YET = 'not implemented yet'
const LOG_WRITES_EACH_EVENT =
  'the log backend writes each event as it happens (--audit-log-mode=blocking)'

export const FLAGS: Def[] = [
  // Generic flags
  f(
    'Generic flags',
    'advertise-address',
    'string',
    "The IP address on which to advertise the apiserver to members of the cluster. This address must be reachable by the rest of the cluster. If blank, the --bind-address will be used. If --bind-address is unspecified, the host's default interface will be used.",
    { typeName: 'ip' },
  ),
  f(
    'Generic flags',
    'cors-allowed-origins',
    'strings',
    "List of allowed origins for CORS, comma separated. An allowed origin can be a regular expression to support subdomain matching. If this list is empty CORS will not be enabled. Please ensure each expression matches the entire hostname by anchoring to the start with '^' or including the '//' prefix, and by anchoring to the end with '$' or including the ':' port separator suffix. Examples of valid expressions are '//example\\.com(:|$)' and '^https://example\\.com(:|$)'",
  ),
  no('Generic flags', 'external-hostname', 'string', 'the generated OpenAPI has no host'),
  f(
    'Generic flags',
    'feature-gates',
    'map',
    "A set of key=value pairs that describe feature gates for alpha/experimental features (the gates of Kubernetes 1.32). Accepted and validated as kube-apiserver does; this server's behaviour does not depend on them.",
    { typeName: 'mapStringBool' },
  ),
  no('Generic flags', 'goaway-chance', 'string', 'connections are never sent GOAWAY', 'float'),
  no('Generic flags', 'livez-grace-period', 'duration', NOT_YET),
  f(
    'Generic flags',
    'max-mutating-requests-inflight',
    'int',
    "This and --max-requests-inflight are summed to determine the server's total concurrency limit (which must be positive) if --enable-priority-and-fairness is true. Otherwise, this flag limits the maximum number of mutating requests in flight, or a zero value disables the limit completely.",
    { def: '200' },
  ),
  f(
    'Generic flags',
    'max-requests-inflight',
    'int',
    "This and --max-mutating-requests-inflight are summed to determine the server's total concurrency limit (which must be positive) if --enable-priority-and-fairness is true. Otherwise, this flag limits the maximum number of non-mutating requests in flight, or a zero value disables the limit completely.",
    { def: '400' },
  ),
  f(
    'Generic flags',
    'min-request-timeout',
    'int',
    'An optional field indicating the minimum number of seconds a handler must keep a request open before timing it out. Currently only honored by the watch request handler, which picks a randomized value above this number as the connection timeout, to spread out load.',
    { def: '1800' },
  ),
  f(
    'Generic flags',
    'request-timeout',
    'duration',
    'An optional field indicating the duration a handler must keep a request open before timing it out. This is the default request timeout for requests but may be overridden by flags such as --min-request-timeout for specific types of requests.',
    { def: '1m0s' },
  ),
  f(
    'Generic flags',
    'shutdown-delay-duration',
    'duration',
    'Time to delay the termination. During that time the server keeps serving requests normally. This can be used to allow load balancer to stop sending traffic to this server.',
    { def: '0s' },
  ),
  no('Generic flags', 'shutdown-send-retry-after', 'bool', NOT_YET),
  no('Generic flags', 'shutdown-watch-termination-grace-period', 'duration', NOT_YET),
  no('Generic flags', 'storage-backend', 'string', 'etcd3 is the only backend'),
  f(
    'Generic flags',
    'storage-media-type',
    'string',
    'The media type to use to store objects in storage: application/json, or application/vnd.kubernetes.protobuf for built-in kinds (custom resources stay JSON). Values in either are read whatever this is. Unlike kube-apiserver (application/vnd.kubernetes.protobuf), the default is JSON; application/yaml is refused.',
    { def: '"application/json" (ours)' },
  ),
  f('Etcd flags', 'watch-cache', 'bool', 'Enable watch caching in the apiserver', { def: 'true' }),
  no('Generic flags', 'watch-cache-sizes', 'strings', 'the watch cache is not sized per resource'),
  // Etcd flags
  f(
    'Etcd flags',
    'etcd-cafile',
    'string',
    'SSL Certificate Authority file used to secure etcd communication.',
  ),
  f(
    'Etcd flags',
    'etcd-certfile',
    'string',
    'SSL certification file used to secure etcd communication.',
  ),
  f(
    'Etcd flags',
    'etcd-compaction-interval',
    'duration',
    'The interval of compaction requests. If 0, the compaction request from apiserver is disabled.',
    { def: '5m0s' },
  ),
  no('Etcd flags', 'etcd-count-metric-poll-period', 'duration', 'there are no metrics'),
  no('Etcd flags', 'etcd-db-metric-poll-interval', 'duration', 'there are no metrics'),
  f(
    'Etcd flags',
    'encryption-provider-config',
    'string',
    'The file containing configuration for encryption providers to be used for storing secrets in etcd',
  ),
  f(
    'Etcd flags',
    'encryption-provider-config-automatic-reload',
    'bool',
    'Determines if the file set by --encryption-provider-config should be automatically reloaded if the disk contents change. Only false is accepted: the file is read at start.',
  ),
  no('Etcd flags', 'etcd-healthcheck-timeout', 'duration', NOT_YET),
  f('Etcd flags', 'etcd-keyfile', 'string', 'SSL key file used to secure etcd communication.'),
  f('Etcd flags', 'etcd-prefix', 'string', 'The prefix to prepend to all resource paths in etcd.', {
    def: '"/registry"',
  }),
  no('Etcd flags', 'etcd-readycheck-timeout', 'duration', NOT_YET),
  f(
    'Etcd flags',
    'etcd-servers',
    'strings',
    'List of etcd servers to connect with (scheme://ip:port), comma separated.',
    { def: 'http://127.0.0.1:2379 (ours)' },
  ),
  no('Etcd flags', 'etcd-servers-overrides', 'strings', 'one etcd cluster holds every resource'),
  f(
    'Etcd flags',
    'etcd-start-timeout',
    'duration',
    'How long start keeps trying to reach etcd (edge-apiserver).',
    { def: '15s', ours: true },
  ),
  no('Etcd flags', 'lease-reuse-duration-seconds', 'int', NOT_YET),
  // Secure serving flags
  f(
    'Secure serving flags',
    'bind-address',
    'string',
    'The IP address on which to listen for the --secure-port port. Unlike kube-apiserver (0.0.0.0) the default is loopback: a first start makes an admin credential, so it listens on 127.0.0.1 until told otherwise.',
    { def: '127.0.0.1', typeName: 'ip' },
  ),
  no('Secure serving flags', 'cert-dir', 'string', 'generated certificates go to --state-dir/pki'),
  no(
    'Secure serving flags',
    'http2-max-streams-per-connection',
    'int',
    'HTTPS is served over HTTP/1.1',
  ),
  no('Secure serving flags', 'permit-address-sharing', 'bool', NOT_YET),
  no('Secure serving flags', 'permit-port-sharing', 'bool', NOT_YET),
  f(
    'Secure serving flags',
    'secure-port',
    'int',
    'The port on which to serve HTTPS with authentication and authorization.',
    { def: '6443' },
  ),
  f(
    'Secure serving flags',
    'tls-cert-file',
    'string',
    'File containing the default x509 Certificate for HTTPS. (CA cert, if any, concatenated after server cert). If HTTPS serving is enabled, and --tls-cert-file and --tls-private-key-file are not provided, a self-signed certificate and key are generated in --state-dir/pki.',
  ),
  f(
    'Secure serving flags',
    'tls-cipher-suites',
    'strings',
    'Comma-separated list of cipher suites for the server (IANA names, as kube-apiserver). If omitted, the default Node.js cipher suites will be used. TLS 1.3 suites are not configurable.',
  ),
  f(
    'Secure serving flags',
    'tls-min-version',
    'string',
    'Minimum TLS version supported. Possible values: VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13',
  ),
  f(
    'Secure serving flags',
    'tls-private-key-file',
    'string',
    'File containing the default x509 private key matching --tls-cert-file.',
  ),
  no('Secure serving flags', 'tls-sni-cert-key', 'string', 'one serving certificate'),
  // Auditing flags
  // The log's batch mode: refused, each with its type so that its value still parses as kube's does.
  ...(
    [
      ['audit-log-batch-buffer-size', 'int'],
      ['audit-log-batch-max-size', 'int'],
      ['audit-log-batch-max-wait', 'duration'],
      ['audit-log-batch-throttle-burst', 'int'],
      ['audit-log-batch-throttle-enable', 'bool'],
      ['audit-log-batch-throttle-qps', 'string', 'float32'],
    ] as [string, FlagKind, string?][]
  ).map(([name, kind, typeName]) =>
    no('Auditing flags', name, kind, LOG_WRITES_EACH_EVENT, typeName),
  ),
  no('Auditing flags', 'audit-log-compress', 'bool', 'rotated audit logs are not compressed'),
  f(
    'Auditing flags',
    'audit-log-format',
    'string',
    'Format of saved audits. "json" indicates structured json format. Known formats are legacy,json; this server writes json only.',
    { def: '"json"' },
  ),
  f(
    'Auditing flags',
    'audit-log-maxage',
    'int',
    'The maximum number of days to retain old audit log files based on the timestamp encoded in their filename.',
  ),
  f(
    'Auditing flags',
    'audit-log-maxbackup',
    'int',
    "The maximum number of old audit log files to retain. Setting a value of 0 will mean there's no restriction on the number of files.",
  ),
  f(
    'Auditing flags',
    'audit-log-maxsize',
    'int',
    'The maximum size in megabytes of the audit log file before it gets rotated.',
  ),
  f(
    'Auditing flags',
    'audit-log-mode',
    'string',
    'Strategy for sending audit events. Blocking indicates sending events should block server responses. Known modes are batch,blocking,blocking-strict; this server writes the log in blocking modes only.',
    { def: '"blocking"' },
  ),
  f(
    'Auditing flags',
    'audit-log-path',
    'string',
    "If set, all requests coming to the apiserver will be logged to this file.  '-' means standard out.",
  ),
  no('Auditing flags', 'audit-log-truncate-enabled', 'bool', 'audit events are not truncated'),
  no(
    'Auditing flags',
    'audit-log-truncate-max-batch-size',
    'int',
    'audit events are not truncated',
  ),
  no(
    'Auditing flags',
    'audit-log-truncate-max-event-size',
    'int',
    'audit events are not truncated',
  ),
  f(
    'Auditing flags',
    'audit-log-version',
    'string',
    'API group and version used for serializing audit events written to log.',
    { def: '"audit.k8s.io/v1"' },
  ),
  f(
    'Auditing flags',
    'audit-policy-file',
    'string',
    'Path to the file that defines the audit policy configuration.',
  ),
  f(
    'Auditing flags',
    'audit-webhook-batch-buffer-size',
    'int',
    'The size of the buffer to store events before batching and writing. Only used in batch mode.',
    { def: '10000' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-batch-max-size',
    'int',
    'The maximum size of a batch. Only used in batch mode.',
    { def: '400' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-batch-max-wait',
    'duration',
    "The amount of time to wait before force writing the batch that hadn't reached the max size. Only used in batch mode.",
    { def: '30s' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-batch-throttle-burst',
    'int',
    'Maximum number of requests sent at the same moment if ThrottleQPS was not utilized before. Only used in batch mode.',
    { def: '15' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-batch-throttle-enable',
    'bool',
    'Whether batching throttling is enabled. Only used in batch mode.',
    { def: 'true' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-batch-throttle-qps',
    'string',
    'Maximum average number of batches per second. Only used in batch mode.',
    { def: '10', typeName: 'float32' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-config-file',
    'string',
    'Path to a kubeconfig formatted file that defines the audit webhook configuration.',
  ),
  f(
    'Auditing flags',
    'audit-webhook-initial-backoff',
    'duration',
    'The amount of time to wait before retrying the first failed request.',
    { def: '10s' },
  ),
  f(
    'Auditing flags',
    'audit-webhook-mode',
    'string',
    'Strategy for sending audit events. Batch causes the backend to buffer and write events asynchronously. Known modes are batch,blocking,blocking-strict; this server sends webhooks in batch mode only.',
    { def: '"batch"' },
  ),
  no('Auditing flags', 'audit-webhook-truncate-enabled', 'bool', 'audit events are not truncated'),
  no(
    'Auditing flags',
    'audit-webhook-truncate-max-batch-size',
    'int',
    'audit events are not truncated',
  ),
  no(
    'Auditing flags',
    'audit-webhook-truncate-max-event-size',
    'int',
    'audit events are not truncated',
  ),
  f(
    'Auditing flags',
    'audit-webhook-version',
    'string',
    'API group and version used for serializing audit events written to webhook.',
    { def: '"audit.k8s.io/v1"' },
  ),
  // Features flags
  no('Features flags', 'contention-profiling', 'bool', 'there are no profiling endpoints'),
  no('Features flags', 'debug-socket-path', 'string', 'there are no profiling endpoints'),
  f(
    'Features flags',
    'profiling',
    'bool',
    'Enable profiling via web interface host:port/debug/pprof/. This server has none: only --profiling=false is accepted.',
    { def: 'true' },
  ),
  // Authentication flags
  f(
    'Authentication flags',
    'anonymous-auth',
    'bool',
    'Enables anonymous requests to the secure port of the API server. Requests that are not rejected by another authentication method are treated as anonymous requests. Anonymous requests have a username of system:anonymous, and a group name of system:unauthenticated.',
    { def: 'true' },
  ),
  f(
    'Authentication flags',
    'api-audiences',
    'strings',
    'Identifiers of the API. The service account token authenticator will validate that tokens used against the API are bound to at least one of these audiences. If the --service-account-issuer flag is configured and this flag is not, this field defaults to a single element list containing the issuer URL.',
  ),
  no('Authentication flags', 'authentication-config', 'string', NOT_YET),
  f(
    'Authentication flags',
    'authentication-token-webhook-cache-ttl',
    'duration',
    'The duration to cache responses from the webhook token authenticator.',
    { def: '2m0s' },
  ),
  f(
    'Authentication flags',
    'authentication-token-webhook-config-file',
    'string',
    'File with webhook configuration for token authentication in kubeconfig format. The API server will query the remote service to determine authentication for bearer tokens.',
  ),
  f(
    'Authentication flags',
    'authentication-token-webhook-version',
    'string',
    'The API version of the authentication.k8s.io TokenReview to send to and expect from the webhook.',
    { def: '"v1beta1"' },
  ),
  f(
    'Authentication flags',
    'client-ca-file',
    'string',
    'If set, any request presenting a client certificate signed by one of the authorities in the client-ca-file is authenticated with an identity corresponding to the CommonName of the client certificate. Without it a client CA and an admin kubeconfig are generated in --state-dir.',
  ),
  f(
    'Authentication flags',
    'enable-bootstrap-token-auth',
    'bool',
    "Enable to allow secrets of type 'bootstrap.kubernetes.io/token' in the 'kube-system' namespace to be used for TLS bootstrapping authentication.",
    { def: 'true (kube-apiserver: false)' },
  ),
  f(
    'Authentication flags',
    'oidc-client-id',
    'string',
    'The client ID for the OpenID Connect client, must be set if oidc-issuer-url is set.',
  ),
  no('Authentication flags', 'oidc-ca-file', 'string', 'the system roots verify the issuer'),
  f(
    'Authentication flags',
    'oidc-groups-claim',
    'string',
    'If provided, the name of a custom OpenID Connect claim for specifying user groups.',
  ),
  f(
    'Authentication flags',
    'oidc-groups-prefix',
    'string',
    'If provided, all groups will be prefixed with this value to prevent conflicts with other authentication strategies.',
  ),
  f(
    'Authentication flags',
    'oidc-issuer-url',
    'string',
    'The URL of the OpenID issuer, only HTTPS scheme will be accepted.',
  ),
  f(
    'Authentication flags',
    'oidc-required-claim',
    'map',
    'A key=value pair that describes a required claim in the ID Token. If set, the claim is verified to be present in the ID Token with a matching value. Repeat this flag to specify multiple claims.',
    { typeName: 'mapStringString' },
  ),
  f(
    'Authentication flags',
    'oidc-signing-algs',
    'strings',
    'Comma-separated list of allowed JOSE asymmetric signing algorithms.',
    { def: '[RS256]' },
  ),
  f(
    'Authentication flags',
    'oidc-username-claim',
    'string',
    'The OpenID claim to use as the user name.',
    { def: '"sub"' },
  ),
  f(
    'Authentication flags',
    'oidc-username-prefix',
    'string',
    'If provided, all usernames will be prefixed with this value.',
  ),
  f(
    'Authentication flags',
    'requestheader-allowed-names',
    'strings',
    'List of client certificate common names to allow to provide usernames in headers specified by --requestheader-username-headers. If empty, any client certificate validated by the authorities in --requestheader-client-ca-file is allowed.',
  ),
  f(
    'Authentication flags',
    'requestheader-client-ca-file',
    'string',
    'Root certificate bundle to use to verify client certificates on incoming requests before trusting usernames in headers specified by --requestheader-username-headers.',
  ),
  f(
    'Authentication flags',
    'requestheader-extra-headers-prefix',
    'strings',
    'List of request header prefixes to inspect. X-Remote-Extra- is suggested.',
  ),
  f(
    'Authentication flags',
    'requestheader-group-headers',
    'strings',
    'List of request headers to inspect for groups. X-Remote-Group is suggested.',
  ),
  f(
    'Authentication flags',
    'requestheader-uid-headers',
    'strings',
    'List of request headers to inspect for UIDs. X-Remote-Uid is suggested.',
  ),
  f(
    'Authentication flags',
    'requestheader-username-headers',
    'strings',
    'List of request headers to inspect for usernames. X-Remote-User is common.',
  ),
  f(
    'Authentication flags',
    'service-account-extend-token-expiration',
    'bool',
    'Turns on projected service account expiration extension during token generation.',
    { def: 'true' },
  ),
  f(
    'Authentication flags',
    'service-account-issuer',
    'strings',
    'Identifier of the service account token issuer. The issuer will assert this identifier in "iss" claim of issued tokens. When this flag is specified multiple times, the first is used to generate tokens and all are used to determine which issuers are accepted.',
    { typeName: 'stringArray' },
  ),
  f(
    'Authentication flags',
    'service-account-jwks-uri',
    'string',
    'Overrides the URI for the JSON Web Key Set in the discovery doc served at /.well-known/openid-configuration.',
  ),
  f(
    'Authentication flags',
    'service-account-key-file',
    'strings',
    'File containing PEM-encoded x509 RSA or ECDSA private or public keys, used to verify ServiceAccount tokens. The specified file can contain multiple keys, and the flag can be specified multiple times with different files.',
    { typeName: 'stringArray' },
  ),
  f(
    'Authentication flags',
    'service-account-lookup',
    'bool',
    'If true, validate ServiceAccount tokens exist in etcd as part of authentication. Only true is accepted.',
    { def: 'true' },
  ),
  f(
    'Authentication flags',
    'service-account-max-token-expiration',
    'duration',
    'The maximum validity duration of a token created by the service account token issuer.',
  ),
  f(
    'Authentication flags',
    'token-auth-file',
    'string',
    'If set, the file that will be used to secure the secure port of the API server via token authentication.',
  ),
  // Authorization flags
  no('Authorization flags', 'authorization-config', 'string', NOT_YET),
  f(
    'Authorization flags',
    'authorization-mode',
    'strings',
    'Ordered list of plug-ins to do authorization on secure port. Comma-delimited list of: AlwaysAllow,AlwaysDeny,Node,RBAC,Webhook.',
    { def: '[Node,RBAC] (kube-apiserver: [AlwaysAllow])' },
  ),
  no('Authorization flags', 'authorization-policy-file', 'string', 'ABAC is not implemented'),
  f(
    'Authorization flags',
    'authorization-webhook-cache-authorized-ttl',
    'duration',
    "The duration to cache 'authorized' responses from the webhook authorizer.",
    { def: '5m0s' },
  ),
  f(
    'Authorization flags',
    'authorization-webhook-cache-unauthorized-ttl',
    'duration',
    "The duration to cache 'unauthorized' responses from the webhook authorizer.",
    { def: '30s' },
  ),
  f(
    'Authorization flags',
    'authorization-webhook-config-file',
    'string',
    "File with webhook configuration in kubeconfig format, used with --authorization-mode=Webhook. The API server will query the remote service to determine access on the API server's secure port.",
  ),
  f(
    'Authorization flags',
    'authorization-webhook-version',
    'string',
    'The API version of the authorization.k8s.io SubjectAccessReview to send to and expect from the webhook.',
    { def: '"v1beta1"' },
  ),
  // API enablement flags
  f(
    'API enablement flags',
    'runtime-config',
    'map',
    'A set of key=value pairs that enable or disable built-in APIs. Supported options are:\nv1=true|false for the core API group\n<group>/<version>=true|false for a specific API group and version (e.g. apps/v1=true)\napi/all=true|false controls all API versions\napi/ga=true|false controls all API versions of the form v[0-9]+\napi/beta=true|false controls all API versions of the form v[0-9]+beta[0-9]+\napi/alpha=true|false controls all API versions of the form v[0-9]+alpha[0-9]+',
    { typeName: 'mapStringString' },
  ),
  // Egress selector flags
  no(
    'Egress selector flags',
    'egress-selector-config-file',
    'string',
    'there is no egress selector',
  ),
  // Admission flags
  no('Admission flags', 'admission-control-config-file', 'string', NOT_YET),
  f(
    'Admission flags',
    'disable-admission-plugins',
    'strings',
    'admission plugins that should be disabled although they are in the default enabled plugins list. Comma-delimited list of admission plugins.',
  ),
  f(
    'Admission flags',
    'enable-admission-plugins',
    'strings',
    'admission plugins that should be enabled in addition to default enabled ones. Comma-delimited list of admission plugins.',
  ),
  // Metrics flags
  no('Metrics flags', 'allow-metric-labels', 'strings', 'there are no metrics'),
  f(
    'Metrics flags',
    'request-metrics',
    'bool',
    "Record each request's and each storage call's metrics for /metrics (edge-apiserver; false only to measure what they cost, as npm run bench does).",
    { def: 'true', ours: true },
  ),
  no('Metrics flags', 'disabled-metrics', 'strings', 'there are no metrics'),
  no('Metrics flags', 'show-hidden-metrics-for-version', 'string', 'there are no metrics'),
  // Logs flags
  no('Logs flags', 'log-flush-frequency', 'duration', 'logs are written as they come'),
  no('Logs flags', 'log-json-info-buffer-size', 'string', 'logs are text'),
  no('Logs flags', 'log-json-split-stream', 'bool', 'logs are text'),
  no('Logs flags', 'log-text-info-buffer-size', 'string', 'logs are written as they come'),
  no('Logs flags', 'log-text-split-stream', 'bool', 'logs go to stderr'),
  no('Logs flags', 'logging-format', 'string', 'logs are text'),
  f('Logs flags', 'v', 'int', 'number for the log level verbosity', {
    shorthand: 'v',
    typeName: 'Level',
  }),
  no('Logs flags', 'vmodule', 'string', 'verbosity is not set per file', 'pattern=N,...'),
  // Traces flags
  no('Traces flags', 'tracing-config-file', 'string', 'there is no tracing'),
  // Misc flags
  f('Misc flags', 'allow-privileged', 'bool', 'If true, allow privileged containers.', {
    def: 'false',
  }),
  no(
    'Misc flags',
    'apiserver-count',
    'int',
    'the master-count reconciler is not implemented; the lease reconciler needs no count',
  ),
  f(
    'Misc flags',
    'enable-aggregator-routing',
    'bool',
    'Turns on aggregator routing requests to endpoints IP rather than cluster IP.',
  ),
  f(
    'Misc flags',
    'endpoint-reconciler-type',
    'string',
    'Use an endpoint reconciler (lease, none). master-count is not supported.',
    { def: '"lease"' },
  ),
  no('Misc flags', 'event-ttl', 'duration', 'events are kept until deleted'),
  f(
    'Misc flags',
    'kubelet-certificate-authority',
    'string',
    'Path to a cert file for the certificate authority.',
  ),
  f('Misc flags', 'kubelet-client-certificate', 'string', 'Path to a client cert file for TLS.'),
  f('Misc flags', 'kubelet-client-key', 'string', 'Path to a client key file for TLS.'),
  f(
    'Misc flags',
    'kubelet-preferred-address-types',
    'strings',
    'List of the preferred NodeAddressTypes to use for kubelet connections.',
    { def: '[Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP]' },
  ),
  f('Misc flags', 'kubelet-timeout', 'duration', 'Timeout for kubelet operations.', {
    def: '5s',
  }),
  no('Misc flags', 'kubernetes-service-node-port', 'int', 'the kubernetes Service is ClusterIP'),
  no('Misc flags', 'max-connection-bytes-per-sec', 'int', 'connections are not throttled'),
  f(
    'Misc flags',
    'proxy-client-cert-file',
    'string',
    "Client certificate used to prove the identity of the aggregator or kube-apiserver when it must call out during a request. This includes proxying requests to a user api-server and calling out to webhook admission plugins. It is expected that this cert includes a signature from the CA in the --requestheader-client-ca-file flag. That CA is published in the 'extension-apiserver-authentication' configmap in the kube-system namespace. Components receiving calls from kube-aggregator should use that CA to perform their half of the mutual TLS verification.",
  ),
  f(
    'Misc flags',
    'proxy-client-key-file',
    'string',
    'Private key for the client certificate used to prove the identity of the aggregator or kube-apiserver when it must call out during a request. This includes proxying requests to a user api-server and calling out to webhook admission plugins.',
  ),
  f(
    'Misc flags',
    'service-account-signing-key-file',
    'string',
    'Path to the file that contains the current private key of the service account token issuer. The issuer will sign issued ID tokens with this private key. Without it one is generated in --state-dir/pki/sa.key.',
  ),
  f(
    'Misc flags',
    'service-cluster-ip-range',
    'string',
    'A CIDR notation IP range from which to assign service cluster IPs. This must not overlap with any IP ranges assigned to nodes or pods. Max of two dual-stack CIDRs is allowed.',
    { def: '10.96.0.0/12 (kube-apiserver: 10.0.0.0/24)' },
  ),
  f(
    'Misc flags',
    'service-node-port-range',
    'string',
    "A port range to reserve for services with NodePort visibility. This must not overlap with the ephemeral port range on nodes. Example: '30000-32767'. Inclusive at both ends of the range.",
    { def: '30000-32767', typeName: 'portRange' },
  ),
  f(
    'Misc flags',
    'shutdown-timeout',
    'duration',
    'How long SIGTERM waits for requests in flight (edge-apiserver).',
    { def: '60s', ours: true },
  ),
  f(
    'Misc flags',
    'cluster-signing-cert-file',
    'string',
    "Filename containing a PEM-encoded X509 CA certificate used to issue cluster-scoped certificates (kube-controller-manager's flag; the in-process csrsigning controller). Without it and --cluster-signing-key-file, the client CA generated in --state-dir signs, so issued client certificates authenticate.",
    { ours: true },
  ),
  f(
    'Misc flags',
    'cluster-signing-key-file',
    'string',
    'Filename containing a PEM-encoded RSA or ECDSA private key used to sign cluster-scoped certificates.',
    { ours: true },
  ),
  f(
    'Misc flags',
    'cluster-signing-duration',
    'duration',
    'The max length of duration signed certificates will be given. Individual CSRs may request shorter certs by setting spec.expirationSeconds.',
    { def: '8760h0m0s', ours: true },
  ),
  f(
    'Misc flags',
    'state-dir',
    'string',
    'Generated certificates and the admin kubeconfig (edge-apiserver).',
    { def: '".local/node"', ours: true },
  ),
  // Global flags
  f('Global flags', 'help', 'bool', 'help for edge-apiserver', { shorthand: 'h' }),
]

const FLAG_SET = new FlagSet(FLAGS)

/** Go's %v of a []string, as pflag prints a list flag's value. */
function helpLine(d: Def): [string, string] {
  const type =
    d.kind === 'bool' ? '' : ` ${d.typeName ?? (d.kind === 'map' ? 'mapStringString' : d.kind)}`
  const names = d.shorthand ? `-${d.shorthand}, --${d.name}` : `    --${d.name}`
  // pflag prints a bool's default only when it is true.
  const def =
    d.def !== undefined && (d.kind !== 'bool' || d.def.startsWith('true'))
      ? ` (default ${d.def})`
      : ''
  return [`  ${names}${type}`, `${d.usage}${def}`]
}

/** `--help`: kube-apiserver's groups, in its order, with the flags this server has. */
export function usage(): string {
  const out = [
    'Usage: node dist/node.js [flags]   (or: npm run start:node -- [flags])',
    '',
    'The Kubernetes API server (edge-apiserver, Node mode): validates and configures data for the api objects',
    "and serves them over HTTPS, with etcd as the store. Flags are kube-apiserver's; those this server",
    'cannot honour yet are listed and refused by name.',
  ]
  const width = 52
  const wrap = (text: string, cols: number): string[] => {
    const lines: string[] = []
    for (const para of text.split('\n')) {
      let line = ''
      for (const word of para.split(' ')) {
        if (line && line.length + 1 + word.length > cols) {
          lines.push(line)
          line = word
        } else line = line ? `${line} ${word}` : word
      }
      lines.push(line)
    }
    return lines
  }
  for (const group of GROUPS) {
    const defs = FLAGS.filter((d) => d.group === group && !d.refused)
    const refused = FLAGS.filter((d) => d.group === group && d.refused)
    if (!defs.length && !refused.length) continue
    out.push('', `${group}:`, '')
    for (const d of defs) {
      const [left, text] = helpLine(d)
      const lines = wrap(text, 80)
      out.push(
        left.length + 1 < width
          ? `${left.padEnd(width)}${lines[0]}`
          : `${left}\n${' '.repeat(width)}${lines[0]}`,
      )
      for (const l of lines.slice(1)) out.push(`${' '.repeat(width)}${l}`)
    }
    if (refused.length)
      for (const l of wrap(`(refused: ${refused.map((d) => `--${d.name}`).join(', ')})`, 126))
        out.push(`      ${l}`)
  }
  return `${out.join('\n')}\n`
}

export const USAGE = usage()

/** Go's time.ParseDuration in milliseconds, with pflag's message for a bad value. */
export function parseDuration(flag: string, s: string): number {
  try {
    return parseGoDuration(s)
  } catch (e) {
    if (e instanceof GoDurationError)
      throw new FlagError(`invalid argument "${s}" for "--${flag}" flag: ${e.message}`)
    throw e
  }
}

/** crypto/tls names of the TLS 1.0-1.2 suites kube-apiserver accepts, as OpenSSL names them for node:tls. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
}
/** TLS 1.3's suites: Go does not let them be configured and ignores them in the list, as we do. */
const TLS13_SUITES = new Set([
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
])
const TLS_VERSIONS: Record<string, NonNullable<NodeConfig['tlsMinVersion']>> = {
  VersionTLS10: 'TLSv1',
  VersionTLS11: 'TLSv1.1',
  VersionTLS12: 'TLSv1.2',
  VersionTLS13: 'TLSv1.3',
}
const NODE_ADDRESS_TYPES = ['Hostname', 'InternalDNS', 'InternalIP', 'ExternalDNS', 'ExternalIP']

/** utilnet.ParsePortRange: "30000-32767", "30000+2767" or a single port. */
function parsePortRange(s: string): { min: number; max: number } {
  const bad = (why: string) =>
    new FlagError(`invalid argument "${s}" for "--service-node-port-range" flag: ${why}`)
  const m = /^\s*(\d+)\s*(?:([-+])\s*(\d+)\s*)?$/.exec(s)
  if (!m) throw bad(`unable to parse port range: ${s}`)
  const min = Number(m[1])
  const max = m[2] === undefined ? min : m[2] === '-' ? Number(m[3]) : min + Number(m[3])
  if (min > 65535 || max > 65535 || max < min) throw bad(`range ${s} is not valid`)
  return { min, max }
}

/**
 * --service-cluster-ip-range: one CIDR, or two of different families (dual-stack, the first primary),
 * with kube's checks (ValidateServiceClusterIPRanges).
 */
function serviceRange(s: string): string {
  const ranges = s.split(',').map((r) => r.trim())
  if (ranges.length > 2)
    throw new FlagError(
      '--service-cluster-ip-range and --secondary-service-cluster-ip-range can not be used together, and --service-cluster-ip-range can take at most two CIDRs',
    )
  ranges.forEach((r, i) => {
    const m = /^(.+)\/(\d+)$/.exec(r)
    const family = m ? isIP(m[1]!) : 0
    if (!m || !family || Number(m[2]) > (family === 4 ? 32 : 128))
      throw new FlagError(`service-cluster-ip-range[${i}]: invalid CIDR address: ${r}`)
    const bits = Number(m[2])
    // kube: at least 8 addresses, and the allocator's bitmap holds at most 2^20 (IPv4) or 2^16 (IPv6).
    if ((family === 4 ? 32 : 128) - bits < 3)
      throw new FlagError(
        `specified --service-cluster-ip-range[${i}] is too small; it must contain at least 8 IP addresses`,
      )
    if (family === 4 && bits < 12)
      throw new FlagError(
        `specified --service-cluster-ip-range[${i}] is too large; for 32-bit addresses, the mask must be >= 12`,
      )
    if (family === 6 && bits < 108)
      throw new FlagError(
        `specified --service-cluster-ip-range[${i}] is too large; for 128-bit addresses, the mask must be >= 108`,
      )
  })
  if (ranges.length === 2 && isIP(ranges[0]!.split('/')[0]!) === isIP(ranges[1]!.split('/')[0]!)) {
    throw new FlagError(
      '--service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family',
    )
  }
  return ranges.join(',')
}

/** A webhook's --*-version: v1 or v1beta1, as kube-apiserver accepts. */
function webhookVersion(flag: string, v: string | undefined): 'v1' | 'v1beta1' {
  const version = v ?? 'v1beta1'
  if (version !== 'v1' && version !== 'v1beta1')
    throw new FlagError(`--${flag}: unsupported version "${version}" (v1 or v1beta1)`)
  return version
}

/** kube's storage media types (etcd options' storageMediaTypes); this server writes JSON or protobuf. */
const STORAGE_MEDIA_TYPES = [
  'application/json',
  'application/vnd.kubernetes.protobuf',
  'application/yaml',
]

function storageMediaType(v: string | undefined): StorageMediaType {
  if (v === undefined || v === 'application/json') return 'application/json'
  if (v === 'application/vnd.kubernetes.protobuf') return v
  if (!STORAGE_MEDIA_TYPES.includes(v))
    throw new FlagError(
      `--storage-media-type ${JSON.stringify(v)} invalid, allowed values: ${STORAGE_MEDIA_TYPES.join(', ')}`,
    )
  // Never taken silently: objects would be written as something else.
  throw new FlagError(
    `--storage-media-type=${v} is not supported by this server: objects are written as application/json or application/vnd.kubernetes.protobuf`,
  )
}

export function parseFlags(argv: string[]): NodeConfig | 'help' {
  const { flags, args } = FLAG_SET.parse(argv)
  if (flags.get('help')) return 'help'
  // cobra's Args check in kube-apiserver's command.
  const nonEmpty = args.filter((a) => a.length > 0)
  if (nonEmpty.length)
    throw new FlagError(
      `"edge-apiserver" does not take any arguments, got ${JSON.stringify(args).replace(/","/g, '" "')}`,
    )
  return toConfig(flags)
}

function toConfig(flags: ParsedFlags): NodeConfig {
  for (const d of FLAGS) {
    if (d.refused && flags.has(d.name))
      throw new FlagError(`--${d.name} is not supported by this server: ${d.refused}`)
  }
  const str = (k: string) => flags.get(k) as string | undefined
  const list = (k: string) => flags.get(k) as string[] | undefined
  const bool = (k: string, d: boolean) => (flags.has(k) ? (flags.get(k) as boolean) : d)
  const int = (k: string, d: number) => (flags.has(k) ? (flags.get(k) as number) : d)
  const duration = (k: string, d: string) => parseDuration(k, str(k) ?? d)

  const servers = (list('etcd-servers') ?? ['http://127.0.0.1:2379'])
    .map((s) => s.trim())
    .filter(Boolean)
  if (servers.length === 0) throw new FlagError('--etcd-servers must be specified')
  if ((str('tls-cert-file') === undefined) !== (str('tls-private-key-file') === undefined)) {
    throw new FlagError('--tls-cert-file and --tls-private-key-file must be given together')
  }
  if (str('etcd-certfile') !== undefined && str('etcd-keyfile') === undefined)
    throw new FlagError('--etcd-certfile needs --etcd-keyfile')
  if (str('etcd-keyfile') !== undefined && str('etcd-certfile') === undefined)
    throw new FlagError('--etcd-keyfile needs --etcd-certfile')
  const mediaType = storageMediaType(str('storage-media-type'))
  const securePort = int('secure-port', 6443)
  if (securePort < 1 || securePort > 65535) {
    throw new FlagError(
      `--secure-port ${securePort} must be between 1 and 65535, inclusive. It cannot be turned off with 0`,
    )
  }
  for (const k of ['bind-address', 'advertise-address']) {
    const v = str(k)
    if (v !== undefined && !isIP(v))
      throw new FlagError(`invalid argument "${v}" for "--${k}" flag: failed to parse IP: "${v}"`)
  }
  if (str('advertise-address') === '0.0.0.0' || str('advertise-address') === '::') {
    throw new FlagError(
      `--advertise-address ${str('advertise-address')} is not a valid address to advertise: it must be a unicast IP`,
    )
  }

  const auth: Record<string, string> = {}
  const authFiles: Record<string, string> = {}
  for (const k of [...AUTH_FLAGS, ...AUTH_FILE_FLAGS]) {
    const v = flags.get(k)
    if (v === undefined) continue
    auth[authEnvNameOf(k)] = Array.isArray(v) ? v.join(',') : String(v)
  }
  for (const k of AUTH_FILE_FLAGS) if (str(k) !== undefined) authFiles[authEnvNameOf(k)] = k
  auth.ENABLE_BOOTSTRAP_TOKEN_AUTH = String(bool('enable-bootstrap-token-auth', true))
  if (flags.has('service-account-max-token-expiration')) {
    auth.SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION = String(
      Math.floor(duration('service-account-max-token-expiration', '0') / 1000),
    )
  }
  if (!bool('service-account-lookup', true))
    throw new FlagError(
      '--service-account-lookup=false is not supported by this server: service account tokens are always looked up',
    )
  if (!bool('service-account-extend-token-expiration', true))
    throw new FlagError(
      '--service-account-extend-token-expiration=false is not supported by this server yet',
    )
  if (bool('encryption-provider-config-automatic-reload', false)) {
    throw new FlagError(
      '--encryption-provider-config-automatic-reload is not supported by this server yet: the file is read at start',
    )
  }
  if (bool('profiling', true) && flags.has('profiling'))
    throw new FlagError(
      '--profiling is not supported by this server: it has no /debug/pprof endpoints (--profiling=false is accepted)',
    )

  const modes = list('authorization-mode') ?? ['Node', 'RBAC']
  const authzWebhookFile = str('authorization-webhook-config-file')
  if (modes.includes('Webhook') && !authzWebhookFile)
    throw new FlagError("authorization-mode Webhook's authorization config file not passed")
  if (authzWebhookFile && !modes.includes('Webhook')) {
    throw new FlagError('cannot specify --authorization-webhook-config-file without mode Webhook')
  }
  const tokenWebhookFile = str('authentication-token-webhook-config-file')

  const requestHeaderCA = str('requestheader-client-ca-file')
  const kubeletTypes = list('kubelet-preferred-address-types') ?? [
    'Hostname',
    'InternalDNS',
    'InternalIP',
    'ExternalDNS',
    'ExternalIP',
  ]
  for (const t of kubeletTypes) {
    if (!NODE_ADDRESS_TYPES.includes(t))
      throw new FlagError(
        `--kubelet-preferred-address-types: unsupported value "${t}": supported values: ${NODE_ADDRESS_TYPES.join(', ')}`,
      )
  }
  if (
    (str('proxy-client-cert-file') === undefined) !==
    (str('proxy-client-key-file') === undefined)
  ) {
    throw new FlagError(
      '--proxy-client-cert-file and --proxy-client-key-file must be given together',
    )
  }

  const featureGates: Record<string, boolean> = {}
  for (const kv of list('feature-gates') ?? []) {
    const eq = kv.indexOf('=')
    const k = (eq < 0 ? kv : kv.slice(0, eq)).trim()
    const raw = eq < 0 ? '' : kv.slice(eq + 1).trim()
    if (eq < 0)
      throw new FlagError(
        `invalid argument "${(list('feature-gates') ?? []).join(',')}" for "--feature-gates" flag: missing bool value for ${k}`,
      )
    const v = parseGoBool(raw)
    if (v === undefined)
      throw new FlagError(
        `invalid argument "${(list('feature-gates') ?? []).join(',')}" for "--feature-gates" flag: invalid value of ${k}=${raw}, err: strconv.ParseBool: parsing "${raw}": invalid syntax`,
      )
    const gate = FEATURE_GATES.get(k)
    if (!gate)
      throw new FlagError(
        `invalid argument "${(list('feature-gates') ?? []).join(',')}" for "--feature-gates" flag: unrecognized feature gate: ${k}`,
      )
    if (gate.locked !== undefined && gate.locked !== v) {
      throw new FlagError(
        `invalid argument "${(list('feature-gates') ?? []).join(',')}" for "--feature-gates" flag: cannot set feature gate ${k} to ${v}, feature is locked to ${gate.locked}`,
      )
    }
    featureGates[k] = v
  }

  const runtimeConfig: Record<string, boolean> = {}
  for (const kv of list('runtime-config') ?? []) {
    const eq = kv.indexOf('=')
    const k = (eq < 0 ? kv : kv.slice(0, eq)).trim()
    const raw = eq < 0 ? 'true' : kv.slice(eq + 1).trim() || 'true'
    const v = parseGoBool(raw)
    if (v === undefined)
      throw new FlagError(
        `invalid value of ${k}: ${raw}, err: strconv.ParseBool: parsing "${raw}": invalid syntax`,
      )
    runtimeConfig[k] = v
  }

  const tlsMin = str('tls-min-version')
  if (tlsMin !== undefined && !TLS_VERSIONS[tlsMin])
    throw new FlagError(`unknown tls version "${tlsMin}"`)
  let tlsCiphers: string | undefined
  const suites = list('tls-cipher-suites')
  if (suites?.length) {
    const names: string[] = []
    for (const s of suites) {
      if (TLS13_SUITES.has(s)) continue
      const openssl = CIPHER_SUITES[s]
      if (!openssl) throw new FlagError(`Cipher suite ${s} not supported or doesn't exist`)
      names.push(openssl)
    }
    tlsCiphers = names.join(':')
  }
  for (const re of list('cors-allowed-origins') ?? []) {
    try {
      new RegExp(re)
    } catch (e) {
      throw new FlagError(
        `--cors-allowed-origins has an invalid regular expression: ${re}: ${errorText(e)}`,
      )
    }
  }
  const reconciler = str('endpoint-reconciler-type') ?? 'lease'
  if (reconciler === 'master-count')
    throw new FlagError(
      '--endpoint-reconciler-type=master-count is not supported by this server: use lease (the default) or none',
    )
  if (reconciler !== 'lease' && reconciler !== 'none')
    throw new FlagError(`--endpoint-reconciler-type: invalid value "${reconciler}" (lease, none)`)
  const minRequestTimeout = int('min-request-timeout', 1800)
  if (minRequestTimeout < 0) throw new FlagError('--min-request-timeout can not be negative value')
  const requestTimeoutMs = duration('request-timeout', '1m0s')
  if (requestTimeoutMs < 0) throw new FlagError('--request-timeout can not be negative value')
  const maxRequestsInflight = int('max-requests-inflight', 400)
  const maxMutatingRequestsInflight = int('max-mutating-requests-inflight', 200)
  // ServerRunOptions.Validate, with priority and fairness on (the only mode here).
  if (maxRequestsInflight < 0)
    throw new FlagError('--max-requests-inflight can not be negative value')
  if (maxMutatingRequestsInflight < 0)
    throw new FlagError('--max-mutating-requests-inflight can not be negative value')
  if (maxRequestsInflight + maxMutatingRequestsInflight <= 0)
    throw new FlagError(
      '--max-requests-inflight plus --max-mutating-requests-inflight must be positive if --enable-priority-and-fairness is true',
    )

  return {
    etcdServers: servers,
    storageMediaType: mediaType,
    etcdPrefix: str('etcd-prefix') ?? '/registry', // joined to keys as kube-apiserver's path.Join does
    etcdCAFile: str('etcd-cafile'),
    etcdCertFile: str('etcd-certfile'),
    etcdKeyFile: str('etcd-keyfile'),
    etcdCompactionIntervalMs: duration('etcd-compaction-interval', '5m0s'),
    encryptionProviderConfig: str('encryption-provider-config'),
    etcdStartTimeoutMs: duration('etcd-start-timeout', '15s'),
    securePort,
    bindAddress: str('bind-address') ?? '127.0.0.1',
    advertiseAddress: str('advertise-address'),
    tlsCertFile: str('tls-cert-file'),
    tlsPrivateKeyFile: str('tls-private-key-file'),
    tlsMinVersion: tlsMin ? TLS_VERSIONS[tlsMin] : undefined,
    tlsCiphers,
    clientCAFile: str('client-ca-file'),
    anonymousAuth: bool('anonymous-auth', true),
    auth,
    authFiles,
    serviceAccountSigningKeyFile: str('service-account-signing-key-file'),
    serviceAccountKeyFiles: list('service-account-key-file') ?? [],
    requestHeaderClientCAFile: requestHeaderCA,
    authorizationWebhook: authzWebhookFile
      ? {
          configFile: authzWebhookFile,
          version: webhookVersion(
            'authorization-webhook-version',
            str('authorization-webhook-version'),
          ),
          authorizedTTLms: duration('authorization-webhook-cache-authorized-ttl', '5m0s'),
          unauthorizedTTLms: duration('authorization-webhook-cache-unauthorized-ttl', '30s'),
        }
      : undefined,
    authenticationTokenWebhook: tokenWebhookFile
      ? {
          configFile: tokenWebhookFile,
          version: webhookVersion(
            'authentication-token-webhook-version',
            str('authentication-token-webhook-version'),
          ),
          cacheTTLms: duration('authentication-token-webhook-cache-ttl', '2m0s'),
        }
      : undefined,
    allowPrivileged: bool('allow-privileged', false),
    enableAggregatorRouting: bool('enable-aggregator-routing', false),
    serviceClusterIPRange: serviceRange(str('service-cluster-ip-range') ?? '10.96.0.0/12'),
    serviceNodePortRange: parsePortRange(str('service-node-port-range') ?? '30000-32767'),
    kubelet: {
      clientCertificate: str('kubelet-client-certificate'),
      clientKey: str('kubelet-client-key'),
      certificateAuthority: str('kubelet-certificate-authority'),
      preferredAddressTypes: kubeletTypes,
      timeoutMs: duration('kubelet-timeout', '5s'),
    },
    proxyClient: str('proxy-client-cert-file')
      ? { certFile: str('proxy-client-cert-file')!, keyFile: str('proxy-client-key-file')! }
      : undefined,
    featureGates,
    runtimeConfig,
    requestTimeoutMs,
    minRequestTimeoutSeconds: minRequestTimeout,
    maxRequestsInflight,
    maxMutatingRequestsInflight,
    corsAllowedOrigins: list('cors-allowed-origins') ?? [],
    shutdownDelayMs: duration('shutdown-delay-duration', '0s'),
    endpointReconcilerType: reconciler,
    verbosity: int('v', 0),
    shutdownTimeoutMs: duration('shutdown-timeout', '60s'),
    stateDir: str('state-dir') ?? '.local/node',
    clusterSigningCertFile: str('cluster-signing-cert-file'),
    clusterSigningKeyFile: str('cluster-signing-key-file'),
    clusterSigningDurationMs: duration('cluster-signing-duration', '8760h0m0s'),
    enableAdmissionPlugins: list('enable-admission-plugins')?.join(','),
    disableAdmissionPlugins: list('disable-admission-plugins')?.join(','),
    audit: auditFlags(str, int, bool, duration),
    requestMetrics: bool('request-metrics', true),
    watchCache: bool('watch-cache', true),
  }
}

const AUDIT_VERSION = 'audit.k8s.io/v1'
const AUDIT_MODES = ['batch', 'blocking', 'blocking-strict']

/** options.AuditOptions' flags, validated with its words. */
function auditFlags(
  str: (k: string) => string | undefined,
  int: (k: string, d: number) => number,
  bool: (k: string, d: boolean) => boolean,
  duration: (k: string, d: string) => number,
): AuditFlags {
  const out: AuditFlags = { policyFile: str('audit-policy-file') }
  const mode = (backend: 'log' | 'webhook', def: string) => {
    const m = str(`audit-${backend}-mode`) ?? def
    if (!AUDIT_MODES.includes(m))
      throw new FlagError(
        `invalid audit ${backend} mode ${m}, allowed modes are "${AUDIT_MODES.join(',')}"`,
      )
    return m
  }
  const version = (backend: 'log' | 'webhook') => {
    const v = str(`audit-${backend}-version`) ?? AUDIT_VERSION
    if (v !== AUDIT_VERSION)
      throw new FlagError(
        `--audit-${backend}-version=${v} is not supported by this server: events are written as ${AUDIT_VERSION}`,
      )
  }
  const path = str('audit-log-path')
  if (path) {
    const format = str('audit-log-format') ?? 'json'
    if (format !== 'json' && format !== 'legacy')
      throw new FlagError(`invalid audit log format ${format}, allowed formats are "legacy,json"`)
    if (format === 'legacy')
      throw new FlagError(
        '--audit-log-format=legacy is not supported by this server: the audit log is written as json',
      )
    if (mode('log', 'blocking') === 'batch')
      throw new FlagError(
        '--audit-log-mode=batch is not supported by this server: the log backend writes each event as it happens (blocking)',
      )
    version('log')
    const log = {
      path,
      maxAgeDays: int('audit-log-maxage', 0),
      maxBackups: int('audit-log-maxbackup', 0),
      maxSizeMB: int('audit-log-maxsize', 0),
    }
    if (log.maxAgeDays < 0)
      throw new FlagError(`--audit-log-maxage ${log.maxAgeDays} can't be a negative number`)
    if (log.maxBackups < 0)
      throw new FlagError(`--audit-log-maxbackup ${log.maxBackups} can't be a negative number`)
    if (log.maxSizeMB < 0)
      throw new FlagError(`--audit-log-maxsize ${log.maxSizeMB} can't be a negative number`)
    out.log = log
  }
  const configFile = str('audit-webhook-config-file')
  if (configFile) {
    const m = mode('webhook', 'batch')
    if (m !== 'batch')
      throw new FlagError(
        `--audit-webhook-mode=${m} is not supported by this server: webhook events are sent in batches`,
      )
    version('webhook')
    const qpsText = str('audit-webhook-batch-throttle-qps') ?? '10'
    const qps = Number(qpsText)
    if (!Number.isFinite(qps) || qpsText.trim() === '')
      throw new FlagError(
        `invalid argument "${qpsText}" for "--audit-webhook-batch-throttle-qps" flag: strconv.ParseFloat: parsing "${qpsText}": invalid syntax`,
      )
    const throttle = bool('audit-webhook-batch-throttle-enable', true)
    const batch: BatchConfig = {
      bufferSize: int('audit-webhook-batch-buffer-size', 10000),
      maxBatchSize: int('audit-webhook-batch-max-size', 400),
      maxBatchWaitMs: duration('audit-webhook-batch-max-wait', '30s'),
      throttleQPS: throttle ? qps : 0,
      throttleBurst: int('audit-webhook-batch-throttle-burst', 15),
      initialBackoffMs: duration('audit-webhook-initial-backoff', '10s'),
    }
    // validateBatchOptions
    if (batch.bufferSize <= 0)
      throw new FlagError(
        `invalid audit batch webhook buffer size ${batch.bufferSize}, must be a positive number`,
      )
    if (batch.maxBatchSize <= 0)
      throw new FlagError(
        `invalid audit batch webhook max batch size ${batch.maxBatchSize}, must be a positive number`,
      )
    if (batch.maxBatchSize > batch.bufferSize)
      throw new FlagError(
        `invalid audit batch webhook max batch size ${batch.maxBatchSize}, must be less than or equal to buffer size ${batch.bufferSize}`,
      )
    if (throttle && qps <= 0)
      throw new FlagError(
        `invalid audit batch webhook throttle QPS ${qps}, should be greater than 0`,
      )
    if (throttle && batch.throttleBurst <= 0)
      throw new FlagError(
        `invalid audit batch webhook throttle burst ${batch.throttleBurst}, must be a positive number`,
      )
    out.webhook = { configFile, batch }
  }
  return out
}

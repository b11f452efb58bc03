import { describe, expect, it } from 'vitest'
import { FlagError, parseDuration, parseFlags, USAGE, type NodeConfig } from '../../src/node/flags'

const parse = (...argv: string[]) => parseFlags(argv) as NodeConfig

describe('Node mode flags', () => {
  it("uses kube-apiserver's defaults, with loopback as the bind address", () => {
    expect(parse()).toMatchObject({
      etcdServers: ['http://127.0.0.1:2379'],
      etcdPrefix: '/registry',
      securePort: 6443,
      bindAddress: '127.0.0.1',
      anonymousAuth: true,
      etcdCompactionIntervalMs: 300_000,
      stateDir: '.local/node',
      authFiles: {},
      allowPrivileged: false,
      serviceClusterIPRange: '10.96.0.0/12',
      serviceNodePortRange: { min: 30000, max: 32767 },
      requestTimeoutMs: 60_000,
      minRequestTimeoutSeconds: 1800,
      endpointReconcilerType: 'lease',
      verbosity: 0,
    })
  })

  it('accepts --flag=value and --flag value, a bare boolean, --bool=false, and _ for -', () => {
    const cfg = parse(
      '--etcd-servers=https://10.0.0.1:2379,https://10.0.0.2:2379',
      '--secure-port',
      '8443',
      '--etcd-prefix',
      'kube',
      '--anonymous-auth',
      '--tls-cert-file=a.crt',
      '--tls-private-key-file=a.key',
      '--service-account-issuer=https://a',
      '--service-account-issuer',
      'https://b',
      '--authorization-mode=AlwaysAllow',
      '--token-auth-file=/t.csv',
      '--allow-privileged',
      '--secure_port=9443',
    )
    expect(cfg).toMatchObject({
      etcdServers: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
      securePort: 9443,
      etcdPrefix: 'kube',
      anonymousAuth: true,
      tlsCertFile: 'a.crt',
      tlsPrivateKeyFile: 'a.key',
      allowPrivileged: true,
    })
    expect(parse('--anonymous-auth=false')).toMatchObject({ anonymousAuth: false })
    expect(parse('-v', '4')).toMatchObject({ verbosity: 4 })
    expect(parse('-v=2')).toMatchObject({ verbosity: 2 })
    expect(parse('--v=3')).toMatchObject({ verbosity: 3 })
  })

  it('repeats list flags and splits their values at commas, as pflag StringSlice', () => {
    expect(
      parse('--service-account-key-file=/a.pub', '--service-account-key-file', '/b.pub,/c.crt')
        .serviceAccountKeyFiles,
    ).toEqual(['/a.pub', '/b.pub', '/c.crt'])
    expect(
      parse('--enable-admission-plugins=NodeRestriction', '--enable-admission-plugins=PodSecurity')
        .enableAdmissionPlugins,
    ).toBe('NodeRestriction,PodSecurity')
  })

  it("hands kube-apiserver's auth flags to the shared auth configuration by their upper-case names", () => {
    expect(
      parse(
        '--authorization-mode=Node,RBAC',
        '--token-auth-file=/t.csv',
        '--service-account-issuer=https://a',
        '--service-account-issuer',
        'https://b',
        '--oidc-issuer-url=https://idp',
        '--oidc-client-id=kube',
        '--oidc-required-claim=a=b',
        '--enable-bootstrap-token-auth=false',
        '--service-account-max-token-expiration=48h',
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      ),
    ).toMatchObject({
      auth: {
        AUTHORIZATION_MODE: 'Node,RBAC',
        TOKEN_AUTH_FILE: '/t.csv',
        SERVICE_ACCOUNT_ISSUER: 'https://a,https://b',
        OIDC_ISSUER_URL: 'https://idp',
        OIDC_CLIENT_ID: 'kube',
        OIDC_REQUIRED_CLAIM: 'a=b',
        ENABLE_BOOTSTRAP_TOKEN_AUTH: 'false',
        SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION: '172800',
        REQUESTHEADER_ALLOWED_NAMES: 'front-proxy-client',
        REQUESTHEADER_USERNAME_HEADERS: 'X-Remote-User',
        REQUESTHEADER_EXTRA_HEADERS_PREFIX: 'X-Remote-Extra-',
      },
      authFiles: { TOKEN_AUTH_FILE: 'token-auth-file' },
    })
  })

  it('takes the webhook flags with their versions and cache TTLs', () => {
    expect(
      parse(
        '--authorization-mode=Node,Webhook',
        '--authorization-webhook-config-file=/w.yaml',
        '--authorization-webhook-version=v1',
        '--authorization-webhook-cache-authorized-ttl=10s',
        '--authorization-webhook-cache-unauthorized-ttl=0s',
        '--authentication-token-webhook-config-file=/t.yaml',
        '--authentication-token-webhook-cache-ttl=1m',
      ),
    ).toMatchObject({
      authorizationWebhook: {
        configFile: '/w.yaml',
        version: 'v1',
        authorizedTTLms: 10_000,
        unauthorizedTTLms: 0,
      },
      authenticationTokenWebhook: { configFile: '/t.yaml', version: 'v1beta1', cacheTTLms: 60_000 },
    })
    expect(() => parse('--authorization-mode=Node,Webhook')).toThrow(
      "authorization-mode Webhook's authorization config file not passed",
    )
    expect(() => parse('--authorization-webhook-config-file=/w.yaml')).toThrow(
      'cannot specify --authorization-webhook-config-file without mode Webhook',
    )
  })

  it("accepts kube 1.32's feature gates and refuses unknown ones and locked values as kube does", () => {
    expect(
      parse(
        '--feature-gates=WatchList=false,AuthorizeNodeWithSelectors=true',
        '--feature-gates',
        'AllAlpha=false',
      ).featureGates,
    ).toEqual({ WatchList: false, AuthorizeNodeWithSelectors: true, AllAlpha: false })
    expect(() => parse('--feature-gates=NoSuchGate=true')).toThrow(
      'invalid argument "NoSuchGate=true" for "--feature-gates" flag: unrecognized feature gate: NoSuchGate',
    )
    expect(() => parse('--feature-gates=AppArmor=false')).toThrow(
      'cannot set feature gate AppArmor to false, feature is locked to true',
    )
    expect(() => parse('--feature-gates=WatchList=maybe')).toThrow(
      'invalid value of WatchList=maybe',
    )
  })

  it("reads the service ranges, TLS settings, timeouts and reconciler type with kube's checks", () => {
    expect(
      parse(
        '--service-cluster-ip-range=10.100.0.0/16',
        '--service-node-port-range=20000-20999',
        '--tls-min-version=VersionTLS12',
        '--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256',
        '--request-timeout=30s',
        '--min-request-timeout=300',
        '--shutdown-delay-duration=2s',
        '--endpoint-reconciler-type=none',
        '--cors-allowed-origins=//localhost(:|$)',
        '--profiling=false',
        '--runtime-config=api/all=false,v1=true,apps/v1',
      ),
    ).toMatchObject({
      serviceClusterIPRange: '10.100.0.0/16',
      serviceNodePortRange: { min: 20000, max: 20999 },
      tlsMinVersion: 'TLSv1.2',
      tlsCiphers: 'ECDHE-RSA-AES128-GCM-SHA256',
      requestTimeoutMs: 30_000,
      minRequestTimeoutSeconds: 300,
      shutdownDelayMs: 2000,
      endpointReconcilerType: 'none',
      corsAllowedOrigins: ['//localhost(:|$)'],
      runtimeConfig: { 'api/all': false, v1: true, 'apps/v1': true },
    })
    expect(parse('--service-node-port-range=30000+10').serviceNodePortRange).toEqual({
      min: 30000,
      max: 30010,
    })
    expect(() => parse('--tls-min-version=TLS1.2')).toThrow('unknown tls version "TLS1.2"')
    expect(() => parse('--tls-cipher-suites=NOPE')).toThrow(
      "Cipher suite NOPE not supported or doesn't exist",
    )
    expect(() => parse('--service-cluster-ip-range=10.0.0.0/8')).toThrow(
      'is too large; for 32-bit addresses, the mask must be >= 12',
    )
    expect(() => parse('--service-cluster-ip-range=bogus')).toThrow('invalid CIDR address: bogus')
    expect(
      parse('--service-cluster-ip-range=10.96.0.0/12,fd00:10:96::/112').serviceClusterIPRange,
    ).toBe('10.96.0.0/12,fd00:10:96::/112')
    expect(parse('--service-cluster-ip-range=fd00::/108').serviceClusterIPRange).toBe('fd00::/108')
    expect(() => parse('--service-cluster-ip-range=fd00::/64')).toThrow(
      'is too large; for 128-bit addresses, the mask must be >= 108',
    )
    expect(() => parse('--service-cluster-ip-range=10.96.0.0/12,10.100.0.0/16')).toThrow(
      'must be of different IP family',
    )
    expect(() => parse('--endpoint-reconciler-type=master-count')).toThrow(
      '--endpoint-reconciler-type=master-count is not supported',
    )
    expect(() => parse('--profiling')).toThrow('--profiling is not supported by this server')
    expect(() => parse('--kubelet-preferred-address-types=InternalIP,Bogus')).toThrow(
      'unsupported value "Bogus"',
    )
    expect(() => parse('--advertise-address=not-an-ip')).toThrow(
      'invalid argument "not-an-ip" for "--advertise-address" flag',
    )
  })

  it("parses Go durations as kube-apiserver's flags do", () => {
    expect(parseDuration('x', '5m0s')).toBe(300_000)
    expect(parseDuration('x', '1h30m')).toBe(5_400_000)
    expect(parseDuration('x', '250ms')).toBe(250)
    expect(parseDuration('x', '1.5s')).toBe(1500)
    expect(parseDuration('x', '0')).toBe(0)
    expect(() => parseDuration('etcd-compaction-interval', '5 minutes')).toThrow(
      'invalid argument "5 minutes" for "--etcd-compaction-interval" flag',
    )
  })

  it('refuses unknown flags, bad values, missing values and stray arguments in pflag and cobra words', () => {
    expect(() => parse('--etcd-server=x')).toThrow(new FlagError('unknown flag: --etcd-server'))
    expect(() => parse('--foo')).toThrow(new FlagError('unknown flag: --foo'))
    expect(() => parse('-x')).toThrow(new FlagError("unknown shorthand flag: 'x' in -x"))
    expect(() => parse('--secure-port=http')).toThrow(
      'invalid argument "http" for "--secure-port" flag: strconv.ParseInt: parsing "http": invalid syntax',
    )
    expect(() => parse('--anonymous-auth=maybe')).toThrow(
      'strconv.ParseBool: parsing "maybe": invalid syntax',
    )
    expect(() => parse('--secure-port')).toThrow(
      new FlagError('flag needs an argument: --secure-port'),
    )
    expect(() => parse('--anonymous-auth', 'false')).toThrow(
      '"edge-apiserver" does not take any arguments, got ["false"]',
    )
    expect(() => parse('--tls-cert-file=a.crt')).toThrow(
      '--tls-cert-file and --tls-private-key-file must be given together',
    )
    expect(parseFlags(['-h'])).toBe('help')
    expect(parseFlags(['--help'])).toBe('help')
  })

  it("refuses kube-apiserver's flags this server cannot honour yet, naming them", () => {
    expect(() => parse('--audit-log-compress')).toThrow(
      '--audit-log-compress is not supported by this server: rotated audit logs are not compressed',
    )
    expect(() => parse('--authentication-config=/a.yaml')).toThrow(
      '--authentication-config is not supported by this server: not implemented yet',
    )
    expect(() => parse('--goaway-chance', '0.1')).toThrow(
      '--goaway-chance is not supported by this server',
    )
  })

  it("takes API priority and fairness' seats from the two max-inflight flags, with kube's checks", () => {
    expect(parse()).toMatchObject({ maxRequestsInflight: 400, maxMutatingRequestsInflight: 200 })
    expect(
      parse('--max-requests-inflight=4', '--max-mutating-requests-inflight', '0'),
    ).toMatchObject({ maxRequestsInflight: 4, maxMutatingRequestsInflight: 0 })
    expect(() => parse('--max-requests-inflight=-1')).toThrow(
      '--max-requests-inflight can not be negative value',
    )
    expect(() => parse('--max-requests-inflight=0', '--max-mutating-requests-inflight=0')).toThrow(
      '--max-requests-inflight plus --max-mutating-requests-inflight must be positive if --enable-priority-and-fairness is true',
    )
  })

  it("takes kube-apiserver's audit flags, validated with its words", () => {
    const cfg = parse(
      '--audit-policy-file=/p.yaml',
      '--audit-log-path=/var/log/audit.log',
      '--audit-log-maxage=30',
      '--audit-log-maxbackup=3',
      '--audit-log-maxsize=100',
      '--audit-webhook-config-file=/w.kubeconfig',
      '--audit-webhook-batch-max-size=10',
      '--audit-webhook-batch-max-wait=5s',
      '--audit-webhook-batch-throttle-qps=2.5',
    )
    expect(cfg.audit).toEqual({
      policyFile: '/p.yaml',
      log: { path: '/var/log/audit.log', maxAgeDays: 30, maxBackups: 3, maxSizeMB: 100 },
      webhook: {
        configFile: '/w.kubeconfig',
        batch: {
          bufferSize: 10000,
          maxBatchSize: 10,
          maxBatchWaitMs: 5000,
          throttleQPS: 2.5,
          throttleBurst: 15,
          initialBackoffMs: 10000,
        },
      },
    })
    expect(parse().audit).toEqual({ policyFile: undefined })
    const refused: [string[], string][] = [
      [
        ['--audit-log-path=-', '--audit-log-maxage=-1'],
        "--audit-log-maxage -1 can't be a negative number",
      ],
      [
        ['--audit-log-path=-', '--audit-log-maxsize=-2'],
        "--audit-log-maxsize -2 can't be a negative number",
      ],
      [
        ['--audit-log-path=-', '--audit-log-format=text'],
        'invalid audit log format text, allowed formats are "legacy,json"',
      ],
      [
        ['--audit-log-path=-', '--audit-log-format=legacy'],
        '--audit-log-format=legacy is not supported by this server: the audit log is written as json',
      ],
      [
        ['--audit-log-path=-', '--audit-log-mode=fast'],
        'invalid audit log mode fast, allowed modes are "batch,blocking,blocking-strict"',
      ],
      [
        ['--audit-webhook-config-file=/w', '--audit-webhook-batch-max-size=0'],
        'invalid audit batch webhook max batch size 0, must be a positive number',
      ],
      [
        ['--audit-webhook-config-file=/w', '--audit-webhook-version=audit.k8s.io/v1beta1'],
        '--audit-webhook-version=audit.k8s.io/v1beta1 is not supported by this server',
      ],
    ]
    for (const [args, message] of refused) expect(() => parse(...args)).toThrow(message)
  })

  it("lists the flags in kube-apiserver's groups in --help", () => {
    const groups = [...USAGE.matchAll(/^([A-Z][A-Za-z]+(?: [a-z]+)*) flags:$/gm)].map(
      (m) => `${m[1]} flags`,
    )
    expect(groups).toEqual([
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
    ])
    expect(USAGE).toMatch(
      /^ {6}--advertise-address ip +The IP address on which to advertise the apiserver/m,
    )
    expect(USAGE).toMatch(/^ {2}-v, --v Level +number for the log level verbosity/m)
    expect(USAGE).toContain('(refused: --audit-log-batch-buffer-size')
    expect(USAGE).toMatch(
      /^ {6}--audit-policy-file string +Path to the file that defines the audit/m,
    )
  })
})

import { describe, expect, it } from 'vitest'
import { FlagError, parseDuration, parseFlags } from '../../src/node/flags'

describe('Node mode flags', () => {
  it("uses kube-apiserver's defaults, with loopback as the bind address", () => {
    expect(parseFlags([])).toMatchObject({
      etcdServers: ['http://127.0.0.1:2379'], etcdPrefix: '/registry', securePort: 6443, bindAddress: '127.0.0.1',
      anonymousAuth: true, etcdCompactionIntervalMs: 300_000, stateDir: '.local/node', auth: {}, authFiles: {},
    })
  })

  it('accepts --flag=value and --flag value, and a bare boolean', () => {
    const cfg = parseFlags([
      '--etcd-servers=https://10.0.0.1:2379,https://10.0.0.2:2379', '--secure-port', '8443', '--etcd-prefix', 'kube',
      '--anonymous-auth', '--tls-cert-file=a.crt', '--tls-private-key-file=a.key', '--service-account-issuer=https://a',
      '--service-account-issuer', 'https://b', '--authorization-mode=AlwaysAllow', '--token-auth-file=/t.csv',
    ])
    expect(cfg).toMatchObject({
      etcdServers: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], securePort: 8443, etcdPrefix: 'kube', anonymousAuth: true,
      tlsCertFile: 'a.crt', tlsPrivateKeyFile: 'a.key',
    })
    expect(parseFlags(['--anonymous-auth=false'])).toMatchObject({ anonymousAuth: false })
  })

  it("hands kube-apiserver's auth flags to the shared auth configuration by their upper-case names", () => {
    expect(parseFlags([
      '--authorization-mode=Node,RBAC', '--token-auth-file=/t.csv', '--service-account-issuer=https://a', '--service-account-issuer', 'https://b',
      '--oidc-issuer-url=https://idp', '--oidc-client-id=kube', '--oidc-required-claim=a=b', '--enable-bootstrap-token-auth=false',
      '--service-account-max-token-expiration=48h',
    ])).toMatchObject({
      auth: {
        AUTHORIZATION_MODE: 'Node,RBAC', TOKEN_AUTH_FILE: '/t.csv', SERVICE_ACCOUNT_ISSUER: 'https://a,https://b',
        OIDC_ISSUER_URL: 'https://idp', OIDC_CLIENT_ID: 'kube', OIDC_REQUIRED_CLAIM: 'a=b', ENABLE_BOOTSTRAP_TOKEN_AUTH: 'false',
        SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION: '172800',
      },
      authFiles: { TOKEN_AUTH_FILE: 'token-auth-file' },
    })
  })

  it("parses Go durations as kube-apiserver's flags do", () => {
    expect(parseDuration('x', '5m0s')).toBe(300_000)
    expect(parseDuration('x', '1h30m')).toBe(5_400_000)
    expect(parseDuration('x', '250ms')).toBe(250)
    expect(parseDuration('x', '1.5s')).toBe(1500)
    expect(parseDuration('x', '0')).toBe(0)
    expect(() => parseDuration('etcd-compaction-interval', '5 minutes')).toThrow('invalid argument "5 minutes" for "--etcd-compaction-interval" flag')
  })

  it('refuses unknown flags, bad values and half-given pairs with a message', () => {
    expect(() => parseFlags(['--etcd-server=x'])).toThrow(FlagError)
    expect(() => parseFlags(['--secure-port=http'])).toThrow('invalid argument "http" for "--secure-port" flag')
    expect(() => parseFlags(['--anonymous-auth=maybe'])).toThrow('strconv.ParseBool: parsing "maybe": invalid syntax')
    expect(() => parseFlags(['--tls-cert-file=a.crt'])).toThrow('--tls-cert-file and --tls-private-key-file must be given together')
    expect(parseFlags(['-h'])).toBe('help')
  })
})

import { describe, expect, it } from 'vitest'
import { FlagError, parseDuration, parseFlags } from '../../src/node/flags'

describe('Node mode flags', () => {
  it("uses kube-apiserver's defaults, with loopback as the bind address", () => {
    expect(parseFlags([])).toMatchObject({
      etcdServers: ['http://127.0.0.1:2379'], etcdPrefix: '/registry', securePort: 6443, bindAddress: '127.0.0.1',
      anonymousAuth: true, etcdCompactionIntervalMs: 300_000, authorizationModes: ['RBAC'], stateDir: '.local/node',
    })
  })

  it('accepts --flag=value and --flag value, and a bare boolean', () => {
    const cfg = parseFlags([
      '--etcd-servers=https://10.0.0.1:2379,https://10.0.0.2:2379', '--secure-port', '8443', '--etcd-prefix', 'kube',
      '--anonymous-auth', '--tls-cert-file=a.crt', '--tls-private-key-file=a.key', '--service-account-issuer=https://a',
      '--service-account-issuer', 'https://b', '--authorization-mode=AlwaysAllow',
    ])
    expect(cfg).toMatchObject({
      etcdServers: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], securePort: 8443, etcdPrefix: '/kube', anonymousAuth: true,
      tlsCertFile: 'a.crt', tlsPrivateKeyFile: 'a.key', serviceAccountIssuers: ['https://a', 'https://b'], authorizationModes: ['AlwaysAllow'],
    })
    expect(parseFlags(['--anonymous-auth=false'])).toMatchObject({ anonymousAuth: false })
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
    expect(() => parseFlags(['--authorization-mode=Node'])).toThrow('unsupported authorization mode "Node"')
    expect(parseFlags(['-h'])).toBe('help')
  })
})

// Node mode as a drop-in for kube-apiserver on a kubeadm control plane: a kubeadm-style PKI made with
// openssl, etcd serving clients over TLS with client certificates, and Node mode started with exactly
// the flags of kubeadm 1.32's kube-apiserver manifest (cmd/kubeadm/app/phases/controlplane/manifests.go,
// getAPIServerCommand). Then each credential kubeadm's cluster uses behaves as on kube-apiserver, driven
// by the real kubectl where it reaches and raw HTTPS for the front proxy's headers.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { freePort, httpsRequest } from '../helpers/process'
import { KUBECTL, NodeServer, run } from './harness'

const ADVERTISE = '192.0.2.10'
const SERVICE_RANGE = '10.97.0.0/16'
const SERVICE_IP = '10.97.0.1'

const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })

/** kubeadm's layout under <dir>/pki, RSA 2048 keys in PKCS#1 as kubeadm writes them. */
function kubeadmPKI(dir: string): string {
  const pki = join(dir, 'pki')
  mkdirSync(join(pki, 'etcd'), { recursive: true })
  const key = (name: string) =>
    openssl(['genrsa', '-traditional', '-out', `${name}.key`, '2048'], pki)
  const ca = (name: string, cn: string) => {
    key(name)
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        `${name}.key`,
        '-subj',
        `/CN=${cn}`,
        '-days',
        '2',
        '-sha256',
        '-out',
        `${name}.crt`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign',
      ],
      pki,
    )
  }
  const leaf = (name: string, issuer: string, subject: string, usage: string, sans?: string) => {
    key(name)
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], pki)
    const ext = [
      `basicConstraints=CA:FALSE`,
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usage}`,
    ]
    if (sans) ext.push(`subjectAltName=${sans}`)
    writeFileSync(join(pki, `${name}.ext`), `${ext.join('\n')}\n`)
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${issuer}.crt`,
        '-CAkey',
        `${issuer}.key`,
        '-CAcreateserial',
        '-days',
        '2',
        '-sha256',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ],
      pki,
    )
  }
  ca('ca', 'kubernetes')
  leaf(
    'apiserver',
    'ca',
    '/CN=kube-apiserver',
    'serverAuth',
    `DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:${SERVICE_IP},IP:127.0.0.1,IP:127.0.0.2,IP:${ADVERTISE}`,
  )
  leaf(
    'apiserver-kubelet-client',
    'ca',
    '/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client',
    'clientAuth',
  )
  ca('front-proxy-ca', 'front-proxy-ca')
  leaf('front-proxy-client', 'front-proxy-ca', '/CN=front-proxy-client', 'clientAuth')
  ca('etcd/ca', 'etcd-ca')
  leaf(
    'etcd/server',
    'etcd/ca',
    '/CN=localhost',
    'serverAuth,clientAuth',
    'DNS:localhost,IP:127.0.0.1',
  )
  leaf('apiserver-etcd-client', 'etcd/ca', '/CN=kube-apiserver-etcd-client', 'clientAuth')
  key('sa')
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki)
  // Credentials of the cluster's users, from the cluster CA as kubeadm makes them.
  leaf('super-admin', 'ca', '/O=system:masters/CN=kubernetes-super-admin', 'clientAuth')
  leaf('node-a', 'ca', '/O=system:nodes/CN=system:node:node-a', 'clientAuth')
  // A front proxy CA's certificate with a name not in --requestheader-allowed-names.
  leaf('other-proxy', 'front-proxy-ca', '/CN=not-the-front-proxy', 'clientAuth')
  return pki
}

/** kubeadm 1.32's getAPIServerCommand, for this PKI, etcd and port. */
function kubeadmFlags(pki: string, etcdServers: string, port: number): string[] {
  return [
    `--advertise-address=${ADVERTISE}`,
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    `--client-ca-file=${pki}/ca.crt`,
    '--enable-admission-plugins=NodeRestriction',
    '--enable-bootstrap-token-auth=true',
    `--etcd-cafile=${pki}/etcd/ca.crt`,
    `--etcd-certfile=${pki}/apiserver-etcd-client.crt`,
    `--etcd-keyfile=${pki}/apiserver-etcd-client.key`,
    `--etcd-servers=${etcdServers}`,
    `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`,
    `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    `--proxy-client-cert-file=${pki}/front-proxy-client.crt`,
    `--proxy-client-key-file=${pki}/front-proxy-client.key`,
    '--requestheader-allowed-names=front-proxy-client',
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--secure-port=${port}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki}/sa.pub`,
    `--service-account-signing-key-file=${pki}/sa.key`,
    `--service-cluster-ip-range=${SERVICE_RANGE}`,
    `--tls-cert-file=${pki}/apiserver.crt`,
    `--tls-private-key-file=${pki}/apiserver.key`,
  ]
}

async function eventually<T>(
  what: string,
  f: () => Promise<T | undefined>,
  tries = 150,
): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await f()
    if (v !== undefined) return v
    if (i >= tries) throw new Error(`${what}: not reached`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe("Node mode with the flags of kubeadm 1.32's kube-apiserver manifest", () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-kubeadm-'))
  let pki: string
  let etcd: EtcdCluster
  let server: NodeServer
  let port: number
  const file = (name: string) => readFileSync(join(pki, name), 'utf8')

  /** kubectl as a client certificate of the cluster CA, or a bearer token. */
  const kubectl = (who: { cert: string } | { token: string }, ...args: string[]) =>
    run(KUBECTL, [
      '--kubeconfig=/dev/null',
      `--server=https://127.0.0.1:${port}`,
      `--certificate-authority=${pki}/ca.crt`,
      ...('cert' in who
        ? [`--client-certificate=${pki}/${who.cert}.crt`, `--client-key=${pki}/${who.cert}.key`]
        : [`--token=${who.token}`]),
      ...args,
    ])
  const admin = { cert: 'super-admin' }
  const ok = async (who: { cert: string } | { token: string }, ...args: string[]) => {
    const r = await kubectl(who, ...args)
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  const raw = (
    path: string,
    opts: { cert?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) =>
    httpsRequest({
      port,
      method: opts.method ?? 'GET',
      path,
      ca: file('ca.crt'),
      ...(opts.cert ? { cert: file(`${opts.cert}.crt`), key: file(`${opts.cert}.key`) } : {}),
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      headers: opts.headers,
    })

  beforeAll(async () => {
    pki = kubeadmPKI(dir)
    etcd = await startEtcd({
      tls: {
        certFile: join(pki, 'etcd/server.crt'),
        keyFile: join(pki, 'etcd/server.key'),
        clientCAFile: join(pki, 'etcd/ca.crt'),
      },
    })
    port = await freePort()
    server = await NodeServer.startExactly(
      kubeadmFlags(pki, etcd.endpoints.join(','), port),
      port,
      dir,
    )
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
    await etcd?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves kubectl over the kubeadm serving certificate to an admin client certificate', async () => {
    expect(server.args.every((a) => a.startsWith('--'))).toBe(true)
    expect((await ok(admin, 'get', 'namespaces', '-o', 'name')).split('\n')).toEqual(
      expect.arrayContaining(['namespace/default', 'namespace/kube-system']),
    )
    const whoami = JSON.parse(await ok(admin, 'auth', 'whoami', '-o', 'json'))
    expect(whoami.status.userInfo).toEqual({
      username: 'kubernetes-super-admin',
      groups: ['system:masters', 'system:authenticated'],
    })
  })

  it('gives the kubernetes Service the first IP of --service-cluster-ip-range and its endpoints the --advertise-address', async () => {
    expect(
      await ok(
        admin,
        'get',
        'service',
        'kubernetes',
        '-o',
        'jsonpath={.spec.clusterIP} {.spec.ports[0].port} {.spec.ports[0].targetPort}',
      ),
    ).toBe(`${SERVICE_IP} 443 ${port}`)
    expect(
      await ok(
        admin,
        'get',
        'endpoints',
        'kubernetes',
        '-o',
        'jsonpath={.subsets[*].addresses[*].ip} {.subsets[0].ports[0].port}',
      ),
    ).toBe(`${ADVERTISE} ${port}`)
    const slice = JSON.parse(await ok(admin, 'get', 'endpointslice', 'kubernetes', '-o', 'json'))
    expect(slice).toMatchObject({
      addressType: 'IPv4',
      endpoints: [{ addresses: [ADVERTISE], conditions: { ready: true } }],
      ports: [{ name: 'https', port, protocol: 'TCP' }],
      metadata: { labels: { 'kubernetes.io/service-name': 'kubernetes' } },
    })
    // New Services get their IPs from the configured range, and one outside it is refused in kube's words.
    await ok(admin, 'create', 'service', 'clusterip', 'in-range', '--tcp=80:80')
    expect(
      await ok(admin, 'get', 'service', 'in-range', '-o', 'jsonpath={.spec.clusterIP}'),
    ).toMatch(/^10\.97\.\d+\.\d+$/)
    const outside = await kubectl(
      admin,
      'create',
      'service',
      'clusterip',
      'outside',
      '--tcp=80:80',
      '--clusterip=10.96.0.50',
    )
    expect(outside.stderr).toContain(
      'Service "outside" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.50"}: failed to allocate IP 10.96.0.50: the provided IP (10.96.0.50) is not in the valid range. The range of valid IPs is 10.97.0.0/16',
    )
  })

  it('authenticates service account tokens signed with sa.key and publishes sa.pub once in the JWKS', async () => {
    await eventually('the default service account', async () =>
      (await kubectl(admin, 'get', 'serviceaccount', 'default')).code === 0 ? true : undefined,
    )
    const token = (await ok(admin, 'create', 'token', 'default')).trim()
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    expect(payload.iss).toBe('https://kubernetes.default.svc.cluster.local')
    const whoami = JSON.parse(await ok({ token }, 'auth', 'whoami', '-o', 'json'))
    expect(whoami.status.userInfo.username).toBe('system:serviceaccount:default:default')
    const denied = await kubectl({ token }, 'get', 'secrets')
    expect(denied.stderr.trim()).toBe(
      'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:default:default" cannot list resource "secrets" in API group "" in the namespace "default"',
    )
    const jwks = JSON.parse(await ok(admin, 'get', '--raw', '/openid/v1/jwks'))
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]).toMatchObject({
      kty: 'RSA',
      alg: 'RS256',
      use: 'sig',
      kid: JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid,
    })
  })

  it("lets the front proxy's certificate name the user in X-Remote-* headers, and nobody else", async () => {
    const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }
    const headers = {
      'X-Remote-User': 'alice',
      'X-Remote-Group': 'devs',
      'X-Remote-Extra-Scopes': 'read',
    }
    const asProxy = await raw('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      cert: 'front-proxy-client',
      method: 'POST',
      body: review,
      headers,
    })
    expect(asProxy.status).toBe(201)
    expect(JSON.parse(asProxy.body).status.userInfo).toEqual({
      username: 'alice',
      groups: ['devs', 'system:authenticated'],
      extra: { scopes: ['read'] },
    })
    // A certificate of the front proxy CA with another name, and the front proxy without a user: 401.
    const otherName = await raw('/api/v1/namespaces', { cert: 'other-proxy', headers })
    expect(otherName.status).toBe(401)
    expect(JSON.parse(otherName.body)).toMatchObject({
      kind: 'Status',
      reason: 'Unauthorized',
      code: 401,
    })
    expect((await raw('/api/v1/namespaces', { cert: 'front-proxy-client' })).status).toBe(401)
    // A client of the cluster CA sending the headers is itself, not the user it names.
    const adminWithHeaders = await raw('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      cert: 'super-admin',
      method: 'POST',
      body: review,
      headers,
    })
    expect(JSON.parse(adminWithHeaders.body).status.userInfo.username).toBe(
      'kubernetes-super-admin',
    )
  })

  it('authenticates a bootstrap token from a kube-system Secret', async () => {
    await ok(
      admin,
      'create',
      'secret',
      'generic',
      'bootstrap-token-abcdef',
      '-n',
      'kube-system',
      '--type=bootstrap.kubernetes.io/token',
      '--from-literal=token-id=abcdef',
      '--from-literal=token-secret=0123456789abcdef',
      '--from-literal=usage-bootstrap-authentication=true',
      '--from-literal=auth-extra-groups=system:bootstrappers:kubeadm:default-node-token',
    )
    const whoami = JSON.parse(
      await ok({ token: 'abcdef.0123456789abcdef' }, 'auth', 'whoami', '-o', 'json'),
    )
    expect(whoami.status.userInfo).toEqual({
      username: 'system:bootstrap:abcdef',
      groups: [
        'system:bootstrappers',
        'system:bootstrappers:kubeadm:default-node-token',
        'system:authenticated',
      ],
    })
    const wrong = await kubectl({ token: 'abcdef.0000000000000000' }, 'get', 'namespaces')
    expect(wrong.stderr).toContain('error: You must be logged in to the server (Unauthorized)')
  })

  it('lets a kubelet register its own Node and refuses it another node, by Node authorization and NodeRestriction', async () => {
    const nodeA = { cert: 'node-a' }
    const node = (name: string) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } })
    const created = await run(
      KUBECTL,
      [
        '--kubeconfig=/dev/null',
        `--server=https://127.0.0.1:${port}`,
        `--certificate-authority=${pki}/ca.crt`,
        `--client-certificate=${pki}/node-a.crt`,
        `--client-key=${pki}/node-a.key`,
        'create',
        '-f',
        '-',
      ],
      { input: node('node-a') },
    )
    expect(created.stdout.trim()).toBe('node/node-a created')
    await run(
      KUBECTL,
      [
        '--kubeconfig=/dev/null',
        `--server=https://127.0.0.1:${port}`,
        `--certificate-authority=${pki}/ca.crt`,
        `--client-certificate=${pki}/super-admin.crt`,
        `--client-key=${pki}/super-admin.key`,
        'create',
        '-f',
        '-',
      ],
      { input: node('node-b') },
    )
    const other = await kubectl(nodeA, 'label', 'node', 'node-b', 'x=y')
    expect(other.stderr.trim()).toBe(
      'Error from server (Forbidden): nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"',
    )
    expect((await kubectl(nodeA, 'label', 'node', 'node-a', 'x=y')).stdout.trim()).toBe(
      'node/node-a labeled',
    )
    const restricted = await kubectl(
      nodeA,
      'label',
      'node',
      'node-a',
      'node-restriction.kubernetes.io/pool=a',
    )
    expect(restricted.stderr.trim()).toBe(
      'Error from server (Forbidden): nodes "node-a" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool',
    )
    const secrets = await kubectl(nodeA, 'get', 'secrets', '-n', 'kube-system')
    expect(secrets.stderr.trim()).toBe(
      'Error from server (Forbidden): secrets is forbidden: User "system:node:node-a" cannot list resource "secrets" in API group "" in the namespace "kube-system": No Object name found',
    )
  })

  it('admits privileged containers with --allow-privileged=true', async () => {
    const pod = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'priv' },
      spec: {
        containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }],
      },
    })
    const r = await run(
      KUBECTL,
      [
        '--kubeconfig=/dev/null',
        `--server=https://127.0.0.1:${port}`,
        `--certificate-authority=${pki}/ca.crt`,
        `--client-certificate=${pki}/super-admin.crt`,
        `--client-key=${pki}/super-admin.key`,
        'create',
        '-f',
        '-',
      ],
      { input: pod },
    )
    expect(r.stdout.trim()).toBe('pod/priv created')
  })

  it("keeps a lease per server: a second server's address joins the endpoints, and on SIGTERM leaves them before --shutdown-delay-duration", async () => {
    // Same port on another loopback address, as control-plane nodes share the port.
    const second = await NodeServer.startExactly(
      [
        ...kubeadmFlags(pki, etcd.endpoints.join(','), port).map((a) =>
          a.startsWith('--advertise-address=') ? '--advertise-address=192.0.2.11' : a,
        ),
        '--bind-address=127.0.0.2',
        '--shutdown-delay-duration=3s',
      ],
      port,
      mkdtempSync(join(dir, 'second-')),
    )
    let stopped: Promise<number | null> | undefined
    try {
      expect(
        await ok(
          admin,
          'get',
          'endpoints',
          'kubernetes',
          '-o',
          'jsonpath={.subsets[*].addresses[*].ip}',
        ),
      ).toBe(`${ADVERTISE} 192.0.2.11`)
      expect(
        await ok(
          admin,
          'get',
          'endpointslice',
          'kubernetes',
          '-o',
          'jsonpath={.endpoints[*].addresses[0]}',
        ),
      ).toBe(`${ADVERTISE} 192.0.2.11`)
      const sigterm = Date.now()
      stopped = second.stop()
      await eventually('the second address leaving the endpoints', async () =>
        (await ok(
          admin,
          'get',
          'endpoints',
          'kubernetes',
          '-o',
          'jsonpath={.subsets[*].addresses[*].ip}',
        )) === ADVERTISE
          ? true
          : undefined,
      )
      expect(
        await ok(
          admin,
          'get',
          'endpointslice',
          'kubernetes',
          '-o',
          'jsonpath={.endpoints[*].addresses[0]}',
        ),
      ).toBe(ADVERTISE)
      // Still serving during the delay, with /readyz failing on kube's shutdown check.
      const curl = (path: string) =>
        run('curl', [
          '-s',
          '--cacert',
          `${pki}/ca.crt`,
          '--cert',
          `${pki}/super-admin.crt`,
          '--key',
          `${pki}/super-admin.key`,
          `https://127.0.0.2:${port}${path}`,
        ])
      expect(JSON.parse((await curl('/api/v1/namespaces/default')).stdout).metadata.name).toBe(
        'default',
      )
      expect((await curl('/readyz?verbose')).stdout).toContain(
        '[-]shutdown failed: reason withheld',
      )
      expect(await stopped).toBe(0)
      expect(Date.now() - sigterm).toBeGreaterThanOrEqual(3000)
    } finally {
      await (stopped ?? second.stop())
    }
  })
})

// Node mode with --authorization-mode=Node,Webhook and --authentication-token-webhook-config-file in
// kube's kubeconfig format: a webhook stand-in on loopback (HTTPS with its own CA, a bearer token the
// server must send) decides SubjectAccessReviews and TokenReviews. The same server checks the other
// kube-apiserver flags it is started with: --request-timeout, --cors-allowed-origins, --tls-min-version,
// --runtime-config, --feature-gates, --min-request-timeout, a dual-stack --service-cluster-ip-range,
// --service-node-port-range and the default --allow-privileged=false.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCA, signCertificate } from '../../src/node/pki'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { KUBECTL, NodeServer, run } from './harness'

interface Review {
  path: string
  authorization?: string
  body: { apiVersion: string; kind: string; spec: Record<string, unknown> }
}

describe('Node mode with webhook authorization and token authentication from kubeconfig files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-webhook-'))
  const reviews: Review[] = []
  let webhook: Server
  let etcd: EtcdCluster
  let server: NodeServer

  const asToken = (token: string, ...args: string[]) =>
    run(KUBECTL, [
      '--kubeconfig=/dev/null',
      `--server=${server.url}`,
      `--certificate-authority=${join(server.stateDir, 'pki', 'ca.crt')}`,
      `--token=${token}`,
      ...args,
    ])

  beforeAll(async () => {
    const ca = createCA('webhook-ca')
    const serving = signCertificate(ca, {
      subject: { commonName: 'webhook' },
      usage: 'server',
      hosts: ['127.0.0.1'],
    })
    writeFileSync(join(dir, 'webhook-ca.crt'), ca.certPem)
    webhook = createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
      let data = ''
      req.on('data', (d) => (data += d))
      req.on('end', async () => {
        const body = JSON.parse(data) as Review['body']
        reviews.push({ path: req.url ?? '', authorization: req.headers.authorization, body })
        if (req.headers.authorization !== 'Bearer webhook-secret') {
          res.writeHead(401).end()
          return
        }
        let status: Record<string, unknown>
        if (req.url === '/authorize') {
          const user = body.spec.user
          if (user === 'slow') await new Promise((r) => setTimeout(r, 3000))
          status =
            user === 'eve' ? { allowed: false, reason: 'eve is never allowed' } : { allowed: true }
        } else {
          status =
            body.spec.token === 'webhook-token'
              ? {
                  authenticated: true,
                  user: { username: 'carol', uid: 'c-1', groups: ['webhook-users'] },
                }
              : { authenticated: false }
        }
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ apiVersion: body.apiVersion, kind: body.kind, status }))
      })
    })
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', () => r()))
    const port = (webhook.address() as AddressInfo).port
    // kube's webhook kubeconfig: the cluster is the webhook, the user is how the API server calls it.
    const kubeconfig = (path: string) =>
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: webhook',
        '  cluster:',
        `    server: https://127.0.0.1:${port}${path}`,
        '    certificate-authority: webhook-ca.crt',
        'users:',
        '- name: kube-apiserver',
        '  user:',
        '    token: webhook-secret',
        'contexts:',
        '- name: webhook',
        '  context:',
        '    cluster: webhook',
        '    user: kube-apiserver',
        'current-context: webhook',
        '',
      ].join('\n')
    writeFileSync(join(dir, 'authz.yaml'), kubeconfig('/authorize'))
    writeFileSync(join(dir, 'authn.yaml'), kubeconfig('/authenticate'))
    writeFileSync(
      join(dir, 'tokens.csv'),
      'bob-token,bob,1001,"developers"\neve-token,eve,1002\nslow-token,slow,1003\n',
    )
    etcd = await startEtcd()
    server = await NodeServer.start(etcd.endpoints, [
      '--authorization-mode=Node,Webhook',
      `--authorization-webhook-config-file=${join(dir, 'authz.yaml')}`,
      `--authentication-token-webhook-config-file=${join(dir, 'authn.yaml')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--request-timeout=2s',
      '--cors-allowed-origins=^https://console\\.example\\.com$',
      '--tls-min-version=VersionTLS13',
      '--runtime-config=batch/v1=false',
      '--feature-gates=WatchList=true,AllAlpha=false',
      '--min-request-timeout=1',
      '--service-cluster-ip-range=10.98.0.0/16,fd00:10:98::/112',
      '--service-node-port-range=31000-31099',
    ])
  }, 120_000)
  afterAll(async () => {
    await server?.destroy()
    await etcd?.stop()
    await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('asks the allow-all webhook, which authorizes a token-file user, in the v1beta1 SubjectAccessReview kube sends by default', async () => {
    const r = await asToken('bob-token', 'get', 'pods')
    expect(r.code).toBe(0)
    expect(r.stderr.trim()).toBe('No resources found in default namespace.')
    const sar = reviews.find(
      (x) =>
        x.path === '/authorize' && x.body.spec.user === 'bob' && x.body.spec.resourceAttributes,
    )
    expect(sar).toEqual({
      path: '/authorize',
      authorization: 'Bearer webhook-secret',
      body: {
        apiVersion: 'authorization.k8s.io/v1beta1',
        kind: 'SubjectAccessReview',
        spec: {
          resourceAttributes: {
            namespace: 'default',
            verb: 'list',
            version: 'v1',
            resource: 'pods',
          },
          user: 'bob',
          group: ['developers', 'system:authenticated'],
          uid: '1001',
        },
      },
    })
  })

  it("passes the webhook's denial on in kube's Forbidden message", async () => {
    const r = await asToken('eve-token', 'get', 'pods')
    expect(r.stderr.trim()).toBe(
      'Error from server (Forbidden): pods is forbidden: User "eve" cannot list resource "pods" in API group "" in the namespace "default": eve is never allowed',
    )
  })

  it('authenticates a bearer token through the TokenReview webhook', async () => {
    const whoami = JSON.parse(
      (await asToken('webhook-token', 'auth', 'whoami', '-o', 'json')).stdout,
    )
    expect(whoami.status.userInfo).toEqual({
      username: 'carol',
      uid: 'c-1',
      groups: ['webhook-users', 'system:authenticated'],
    })
    expect(reviews.find((x) => x.path === '/authenticate')?.body).toMatchObject({
      apiVersion: 'authentication.k8s.io/v1beta1',
      kind: 'TokenReview',
      spec: { token: 'webhook-token' },
    })
    expect((await asToken('not-a-token', 'get', 'pods')).stderr).toContain(
      'error: You must be logged in to the server (Unauthorized)',
    )
  })

  it('answers a request that runs over --request-timeout with 504 Timeout', async () => {
    const started = Date.now()
    const r = await run('curl', [
      '-sk',
      '-H',
      'Authorization: Bearer slow-token',
      `${server.url}/api/v1/namespaces/default/configmaps`,
    ])
    expect(Date.now() - started).toBeLessThan(2900)
    // A read: kube's timeout filter answers, with the bare Status (no kind or apiVersion).
    expect(JSON.parse(r.stdout)).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'Timeout: request did not complete within the allotted timeout',
      reason: 'Timeout',
      details: {},
      code: 504,
    })
  })

  it("refuses privileged containers by default (--allow-privileged=false) in kube's words", async () => {
    const pod = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'priv' },
      spec: {
        containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }],
      },
    })
    const r = await run(KUBECTL, ['--kubeconfig', server.kubeconfig, 'create', '-f', '-'], {
      input: pod,
    })
    expect(r.stderr.trim()).toBe(
      'The Pod "priv" is invalid: spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy',
    )
  })

  it('sends CORS headers to an allowed origin only, and answers its preflight with 204', async () => {
    const headers = (args: string[]) =>
      run('curl', ['-sk', '-o', '/dev/null', '-D', '-', ...args]).then((r) =>
        r.stdout.toLowerCase(),
      )
    const allowed = await headers([
      '-H',
      'Origin: https://console.example.com',
      `${server.url}/version`,
    ])
    expect(allowed).toContain('access-control-allow-origin: https://console.example.com')
    expect(allowed).toContain('access-control-allow-credentials: true')
    const preflight = await headers([
      '-X',
      'OPTIONS',
      '-H',
      'Origin: https://console.example.com',
      `${server.url}/api/v1/namespaces`,
    ])
    expect(preflight).toMatch(/^http\/1\.1 204/)
    expect(preflight).toContain(
      'access-control-allow-methods: post, get, options, put, delete, patch',
    )
    const other = await headers(['-H', 'Origin: https://evil.example.com', `${server.url}/version`])
    expect(other).not.toContain('access-control-allow-origin')
  })

  it('serves TLS 1.3 only with --tls-min-version=VersionTLS13', async () => {
    const ok = await run('curl', [
      '-sk',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${server.url}/livez`,
    ])
    expect(ok.stdout).toBe('200')
    const old = await run('curl', ['-sk', '--tls-max', '1.2', `${server.url}/livez`])
    expect(old.code).toBe(35) // CURLE_SSL_CONNECT_ERROR: the handshake is refused
  })

  it('turns off a group version with --runtime-config', async () => {
    const jobs = await run(KUBECTL, ['--kubeconfig', server.kubeconfig, 'get', 'jobs'])
    expect(jobs.stderr.trim()).toBe('error: the server doesn\'t have a resource type "jobs"')
    const cronjobs = await run(KUBECTL, ['--kubeconfig', server.kubeconfig, 'get', 'cronjobs'])
    expect(cronjobs.code).toBe(1)
    const apps = await run(KUBECTL, ['--kubeconfig', server.kubeconfig, 'get', 'deployments'])
    expect(apps.stderr.trim()).toBe('No resources found in default namespace.')
  })

  it('allocates from a dual-stack --service-cluster-ip-range and --service-node-port-range', async () => {
    const k = (...args: string[]) => run(KUBECTL, ['--kubeconfig', server.kubeconfig, ...args])
    expect(
      (
        await k(
          'get',
          'service',
          'kubernetes',
          '-o',
          'jsonpath={.spec.clusterIPs} {.spec.ipFamilies}',
        )
      ).stdout,
    ).toBe('["10.98.0.1"] ["IPv4"]')
    const svc = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dual' },
      spec: {
        type: 'NodePort',
        ipFamilyPolicy: 'PreferDualStack',
        selector: { app: 'x' },
        ports: [{ port: 80 }],
      },
    })
    expect(
      (
        await run(KUBECTL, ['--kubeconfig', server.kubeconfig, 'create', '-f', '-'], { input: svc })
      ).stdout.trim(),
    ).toBe('service/dual created')
    const got = JSON.parse((await k('get', 'service', 'dual', '-o', 'json')).stdout)
    expect(got.spec.ipFamilies).toEqual(['IPv4', 'IPv6'])
    expect(got.spec.clusterIPs[0]).toMatch(/^10\.98\./)
    expect(got.spec.clusterIPs[1]).toMatch(/^fd00:10:98::[0-9a-f]+$/)
    expect(got.spec.ports[0].nodePort).toBeGreaterThanOrEqual(31000)
    expect(got.spec.ports[0].nodePort).toBeLessThanOrEqual(31099)
    const outside = await k(
      'create',
      'service',
      'nodeport',
      'np',
      '--tcp=80:80',
      '--node-port=30080',
    )
    expect(outside.stderr).toContain(
      'spec.ports[0].nodePort: Invalid value: 30080: provided port is not in the valid range. The range of valid ports is 31000-31099',
    )
  })

  it('ends a watch without timeoutSeconds between --min-request-timeout and twice it', async () => {
    const started = Date.now()
    const w = server.watch('/api/v1/namespaces/default/configmaps?watch=1', server.credentials())
    expect(await w.ended).toBe('end')
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(1000)
    expect(took).toBeLessThan(2500)
  })
})

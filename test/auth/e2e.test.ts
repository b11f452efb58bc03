// Authentication and authorization through the real kubectl against `npm start` (the Worker on workerd).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KUBECTL, LocalServer, run as runCommand, type RunResult } from '../e2e/harness'

const BOB = 'bob-e2e-token-0123456789'
const CAROL = 'carol-e2e-token-0123456789'

let server: LocalServer

const kubectl = (args: string[], input?: string): Promise<RunResult> =>
  server.kubectl(args, { input })
const as = (token: string, ...args: string[]) => kubectl(['--token', token, ...args])

function expectForbidden(r: RunResult, message: string) {
  expect(r.code).toBe(1)
  expect(r.stderr.trim()).toBe(`Error from server (Forbidden): ${message}`)
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-apiserver-auth-e2e-'))
  writeFileSync(join(dir, 'tokens.csv'), `${BOB},bob,bob-uid\n${CAROL},carol,carol-uid,"devs"\n`)
  server = await LocalServer.start(dir)
}, 180_000)

afterAll(async () => {
  await server?.dispose()
})

describe('kubectl against RBAC', () => {
  it("a token-file user with no bindings gets kube-apiserver's Forbidden message", async () => {
    expectForbidden(
      await as(BOB, 'get', 'cm'),
      'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"',
    )
    expectForbidden(
      await as(BOB, 'get', 'nodes'),
      'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope',
    )
  })

  it('after a RoleBinding to view the user can list but not delete', async () => {
    const binding = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
`
    const created = await kubectl(['create', '-f', '-'], binding)
    expect(created.stderr).toBe('')
    expect(created.stdout.trim()).toBe('rolebinding.rbac.authorization.k8s.io/bob-view created')
    const list = await as(BOB, 'get', 'cm')
    expect(list.code).toBe(0)
    expect(list.stderr).not.toContain('Forbidden')
    expectForbidden(
      await as(BOB, 'delete', 'cm', 'anything'),
      'configmaps "anything" is forbidden: User "bob" cannot delete resource "configmaps" in API group "" in the namespace "default"',
    )
    expectForbidden(
      await as(BOB, 'get', 'cm', '-n', 'kube-system'),
      'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "kube-system"',
    )
  })

  it("--as impersonates when allowed and is refused with kube's message otherwise", async () => {
    expectForbidden(
      await kubectl(['--as', 'bob', 'get', 'secrets']),
      'secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "default"',
    )
    expect((await kubectl(['--as', 'bob', 'get', 'cm'])).code).toBe(0)
    expectForbidden(
      await kubectl(['--as', 'carol', '--as-group', 'devs', 'get', 'pods']),
      'pods is forbidden: User "carol" cannot list resource "pods" in API group "" in the namespace "default"',
    )
    expectForbidden(
      await as(BOB, '--as', 'alice', 'get', 'cm'),
      'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
    )
  })

  it("a group binding applies to the group's members", async () => {
    const binding = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
`
    expect((await kubectl(['create', '-f', '-'], binding)).code).toBe(0)
    expect((await as(CAROL, 'get', 'pods', '-A')).code).toBe(0)
    expectForbidden(
      await as(CAROL, 'get', 'secrets', '-A'),
      'secrets is forbidden: User "carol" cannot list resource "secrets" in API group "" at the cluster scope',
    )
  })
})

describe('authentication failures and anonymous requests', () => {
  it('a bad token is 401 Unauthorized, never anonymous', async () => {
    const r = await as('not-a-real-token', 'get', 'cm')
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe('error: You must be logged in to the server (Unauthorized)')
  })

  it('anonymous requests reach the public health and version endpoints and nothing else', async () => {
    // kubectl without credentials asks for a username, so this one goes without kubectl.
    for (const p of ['/healthz', '/livez', '/readyz', '/version'])
      expect((await anonymousGet(p)).status).toBe(200)
    expect((await anonymousGet('/healthz')).body).toBe('ok')
    const ns = await anonymousGet('/api/v1/namespaces')
    expect(ns.status).toBe(403)
    expect(JSON.parse(ns.body).message).toBe(
      'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope',
    )
    expect(JSON.parse((await anonymousGet('/apis')).body).message).toBe(
      'forbidden: User "system:anonymous" cannot get path "/apis"',
    )
  })
})

describe('service account tokens', () => {
  let token = ''

  it('a TokenRequest for a service account gives a token that authenticates as it', async () => {
    expect(
      (
        await kubectl(
          ['create', '-f', '-'],
          'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot, namespace: default}\n',
        )
      ).code,
    ).toBe(0)
    const body = join(server.stateDir, 'tokenrequest.json')
    writeFileSync(
      body,
      JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      }),
    )
    const r = await kubectl([
      'create',
      '--raw',
      '/api/v1/namespaces/default/serviceaccounts/bot/token',
      '-f',
      body,
    ])
    expect(r.stderr).toBe('')
    token = JSON.parse(r.stdout).status.token
    expect(decodeJwt(token).sub).toBe('system:serviceaccount:default:bot')
    expectForbidden(
      await as(token, 'get', 'cm'),
      'configmaps is forbidden: User "system:serviceaccount:default:bot" cannot list resource "configmaps" in API group "" in the namespace "default"',
    )
    const binding = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: bot, namespace: default}]
`
    expect((await kubectl(['create', '-f', '-'], binding)).code).toBe(0)
    expect((await as(token, 'get', 'cm')).code).toBe(0)
    expectForbidden(
      await as(token, 'delete', 'sa', 'bot'),
      'serviceaccounts "bot" is forbidden: User "system:serviceaccount:default:bot" cannot delete resource "serviceaccounts" in API group "" in the namespace "default"',
    )
  })

  it('a tampered token is 401', async () => {
    const [h, p, s] = token.split('.')
    const tampered = [h, p, s.slice(0, -4) + (s.endsWith('AAAA') ? 'BBBB' : 'AAAA')].join('.')
    expect((await as(tampered, 'get', 'cm')).stderr.trim()).toBe(
      'error: You must be logged in to the server (Unauthorized)',
    )
  })

  it("the issuer's discovery documents verify the token with an independent JWT check", async () => {
    const conf = JSON.parse(
      (await as(token, 'get', '--raw', '/.well-known/openid-configuration')).stdout,
    )
    expect(conf).toMatchObject({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
    })
    expect(conf.jwks_uri).toMatch(/\/openid\/v1\/jwks$/)
    const jwks = JSON.parse((await as(token, 'get', '--raw', '/openid/v1/jwks')).stdout)
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: conf.issuer,
      audience: conf.issuer,
    })
    expect(payload['kubernetes.io']).toMatchObject({
      namespace: 'default',
      serviceaccount: { name: 'bot' },
    })
  })

  it('a token stops working once its service account is deleted', async () => {
    expect((await kubectl(['delete', 'sa', 'bot'])).code).toBe(0)
    // kube-apiserver, like this server, keeps successful token authentications for 10s.
    await new Promise((r) => setTimeout(r, 11_000))
    expect((await as(token, 'get', 'cm')).stderr.trim()).toBe(
      'error: You must be logged in to the server (Unauthorized)',
    )
  })
})

// kubectl 1.32 sends these typed-client bodies (create token, auth can-i/whoami, create rolebinding) as protobuf.
describe('kubectl commands that send protobuf bodies', () => {
  it('kubectl auth can-i answers yes and no', async () => {
    const yes = await as(BOB, 'auth', 'can-i', 'list', 'configmaps')
    expect([yes.code, yes.stdout.trim()]).toEqual([0, 'yes'])
    const no = await as(BOB, 'auth', 'can-i', 'delete', 'configmaps')
    expect([no.code, no.stdout.trim()]).toEqual([1, 'no'])
    const list = await as(BOB, 'auth', 'can-i', '--list')
    expect(list.stdout).toMatch(/^configmaps\s+\[\]\s+\[\]\s+\[get list watch\]$/m)
  })

  it('kubectl auth whoami shows the user and groups', async () => {
    const r = await as(CAROL, 'auth', 'whoami')
    expect(r.stdout).toMatch(/^Username\s+carol$/m)
    expect(r.stdout).toMatch(/^Groups\s+\[devs system:authenticated\]$/m)
  })

  it('kubectl create sa, create token, and a kubeconfig with that token: 403, then list but not delete after create rolebinding', async () => {
    expect((await kubectl(['create', 'namespace', 'demo'])).code).toBe(0)
    expect((await kubectl(['-n', 'demo', 'create', 'sa', 'builder'])).stdout.trim()).toBe(
      'serviceaccount/builder created',
    )
    const created = await kubectl(['-n', 'demo', 'create', 'token', 'builder', '--duration', '20m'])
    expect(created.code).toBe(0)
    const token = created.stdout.trim()
    const claims = decodeJwt(token)
    expect(claims.sub).toBe('system:serviceaccount:demo:builder')
    expect(claims.exp! - claims.iat!).toBe(1200)
    const kubeconfig = join(server.stateDir, 'builder.kubeconfig')
    writeFileSync(
      kubeconfig,
      readFileSync(server.kubeconfig, 'utf8').replace(/^(\s+token: ).*$/m, `$1${token}`),
    )
    const asBuilder = (...args: string[]) =>
      run(['--kubeconfig', kubeconfig, '-n', 'demo', ...args])
    expectForbidden(
      await asBuilder('get', 'cm'),
      'configmaps is forbidden: User "system:serviceaccount:demo:builder" cannot list resource "configmaps" in API group "" in the namespace "demo"',
    )
    const who = await asBuilder('auth', 'whoami')
    expect(who.stdout).toMatch(/^Username\s+system:serviceaccount:demo:builder$/m)
    expect(
      (
        await kubectl([
          '-n',
          'demo',
          'create',
          'rolebinding',
          'builder-view',
          '--clusterrole=view',
          '--serviceaccount=demo:builder',
        ])
      ).code,
    ).toBe(0)
    expect((await asBuilder('get', 'cm')).code).toBe(0)
    expectForbidden(
      await asBuilder('delete', 'sa', 'builder'),
      'serviceaccounts "builder" is forbidden: User "system:serviceaccount:demo:builder" cannot delete resource "serviceaccounts" in API group "" in the namespace "demo"',
    )
  })

  it('keeps a namespace admin from granting cluster-admin, and an edit user from binding it cluster-wide', async () => {
    expect((await kubectl(['create', 'namespace', 'team'])).code).toBe(0)
    expect(
      (
        await kubectl([
          '-n',
          'team',
          'create',
          'rolebinding',
          'bob-admin',
          '--clusterrole=admin',
          '--user=bob',
        ])
      ).code,
    ).toBe(0)
    expect(
      (
        await as(
          BOB,
          '-n',
          'team',
          'create',
          'rolebinding',
          'carol-view',
          '--clusterrole=view',
          '--user=carol',
        )
      ).code,
    ).toBe(0)
    const escalate = await as(
      BOB,
      '-n',
      'team',
      'create',
      'rolebinding',
      'carol-root',
      '--clusterrole=cluster-admin',
      '--user=carol',
    )
    expect(escalate.code).toBe(1)
    expect(escalate.stderr.trim()).toBe(
      'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "carol-root" is forbidden: ' +
        'user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n' +
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    )
    expect(
      (
        await kubectl([
          'create',
          'clusterrolebinding',
          'carol-edit',
          '--clusterrole=edit',
          '--user=carol',
        ])
      ).code,
    ).toBe(0)
    const crb = await as(
      CAROL,
      'create',
      'clusterrolebinding',
      'carol-root',
      '--clusterrole=cluster-admin',
      '--user=carol',
    )
    expect(crb.stderr.trim()).toBe(
      'error: failed to create clusterrolebinding: clusterrolebindings.rbac.authorization.k8s.io is forbidden: ' +
        'User "carol" cannot create resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope',
    )
  })
})

function run(args: string[]): Promise<RunResult> {
  return runCommand(KUBECTL, args)
}

/** A GET without credentials, trusting the CA of the admin kubeconfig. */
function anonymousGet(path: string): Promise<{ status: number; body: string }> {
  const kubeconfig = readFileSync(server.kubeconfig, 'utf8')
  const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(kubeconfig)![1], 'base64')
  const url = new URL(path, /server: (\S+)/.exec(kubeconfig)![1])
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

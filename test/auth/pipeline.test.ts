// The request path with authentication, impersonation and authorization in place: the Hono app over an in-memory
// store, driven with the requests kubectl sends.
import { generateKeyPairSync } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { installAuthResources, ServerAuth } from '../../src/auth/server-auth'
import { bootstrapCluster } from '../../src/controllers/bootstrap'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { buildApp } from '../../src/server/app'
import { MemoryStore } from '../helpers/memory-store'

const ADMIN = 'admin-token'
const BOB = 'bob-token'
const TOKENS = `${ADMIN},admin,admin-uid,"system:masters"\n${BOB},bob,bob-uid\n`
const ISSUER = 'https://kubernetes.default.svc.cluster.local'

function makeApp(opts: { anonymous?: boolean } = {}) {
  const registry = new Registry(builtinResources)
  installAuthResources(registry)
  const store = new MemoryStore()
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const auth = new ServerAuth({
    tokenAuthFile: TOKENS,
    serviceAccountSigningKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  })
  const app = buildApp({
    registry,
    store: () => store,
    authenticators: (_env, s) => auth.authenticators(s),
    auth: (_env, s) => auth.context(s),
    anonymous: () => opts.anonymous ?? true,
    ready: (s) => bootstrapCluster(registry, s),
  })
  const call = async (
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const h: Record<string, string> = { ...headers }
    if (token) h.authorization = `Bearer ${token}`
    if (body !== undefined) h['content-type'] ??= 'application/json'
    const res = await app.request(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let json: Record<string, any> = {}
    try {
      json = JSON.parse(text)
    } catch {
      /* not JSON */
    }
    return { status: res.status, json, text, headers: res.headers }
  }
  return { app, store, auth, call }
}

const rolebinding = (name: string, role: string, subject: Record<string, string>) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [subject],
})

describe('authorization in the request path', () => {
  let t: ReturnType<typeof makeApp>
  beforeAll(() => {
    t = makeApp()
  })

  it("answers a user without bindings with kube-apiserver's Forbidden Status", async () => {
    const r = await t.call('GET', '/api/v1/namespaces/default/configmaps', BOB)
    expect(r.status).toBe(403)
    expect(r.json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      message:
        'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"',
      details: { kind: 'configmaps' },
    })
    const one = await t.call('GET', '/api/v1/namespaces/default/configmaps/x', BOB)
    expect(one.json.message).toBe(
      'configmaps "x" is forbidden: User "bob" cannot get resource "configmaps" in API group "" in the namespace "default"',
    )
  })

  it('lets the user list but not delete once bound to view', async () => {
    const created = await t.call(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
      ADMIN,
      rolebinding('bob-view', 'view', {
        kind: 'User',
        apiGroup: 'rbac.authorization.k8s.io',
        name: 'bob',
      }),
    )
    expect(created.status).toBe(201)
    expect((await t.call('GET', '/api/v1/namespaces/default/configmaps', BOB)).status).toBe(200)
    expect((await t.call('GET', '/api/v1/namespaces/kube-system/configmaps', BOB)).status).toBe(403)
    const del = await t.call('DELETE', '/api/v1/namespaces/default/configmaps/x', BOB)
    expect(del.json.message).toBe(
      'configmaps "x" is forbidden: User "bob" cannot delete resource "configmaps" in API group "" in the namespace "default"',
    )
  })

  it('answers kubectl auth can-i through SelfSubjectAccessReview', async () => {
    const ssar = (verb: string, resource: string, namespace = 'default') =>
      t.call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', BOB, {
        kind: 'SelfSubjectAccessReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: { resourceAttributes: { namespace, verb, resource } },
        status: { allowed: false },
      })
    const yes = await ssar('list', 'configmaps')
    expect(yes.status).toBe(201)
    expect(yes.json.status).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "bob-view/default" of ClusterRole "view" to User "bob"',
    })
    expect((await ssar('delete', 'configmaps')).json.status).toEqual({ allowed: false })
    const bad = await t.call(
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      BOB,
      { spec: {} },
    )
    expect(bad.status).toBe(422)
    expect(bad.json.message).toBe(
      'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
    )
  })

  it('lists rules for can-i --list and says who the user is for whoami', async () => {
    const rules = await t.call(
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
      BOB,
      { spec: { namespace: 'default' } },
    )
    expect(rules.status).toBe(201)
    expect(rules.json.status.incomplete).toBe(false)
    expect(rules.json.status.resourceRules).toContainEqual({
      verbs: ['create'],
      apiGroups: ['authorization.k8s.io'],
      resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
    })
    expect(
      rules.json.status.resourceRules.some((r: { resources: string[] }) =>
        r.resources.includes('configmaps'),
      ),
    ).toBe(true)
    expect(
      (
        await t.call('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', BOB, {
          spec: {},
        })
      ).json.message,
    ).toBe('no namespace on request')

    const who = await t.call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', BOB, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    })
    expect(who.status).toBe(201)
    expect(who.json).toEqual({
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      status: { userInfo: { username: 'bob', uid: 'bob-uid', groups: ['system:authenticated'] } },
    })
    // Authorization comes before routing: a verb nobody may use is Forbidden, one the route lacks is 405.
    expect(
      (await t.call('GET', '/apis/authentication.k8s.io/v1/selfsubjectreviews', BOB)).status,
    ).toBe(403)
    expect(
      (await t.call('GET', '/apis/authentication.k8s.io/v1/selfsubjectreviews', ADMIN)).status,
    ).toBe(405)
  })

  it('checks SubjectAccessReview for another user and requires a subject', async () => {
    const sar = await t.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', ADMIN, {
      spec: {
        user: 'bob',
        resourceAttributes: { namespace: 'default', verb: 'get', resource: 'pods' },
      },
    })
    expect(sar.json.status.allowed).toBe(true)
    const none = await t.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', ADMIN, {
      spec: { nonResourceAttributes: { path: '/api', verb: 'get' } },
    })
    expect(none.json.message).toBe(
      'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
    )
    expect(
      (
        await t.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', BOB, {
          spec: { user: 'x' },
        })
      ).json.message,
    ).toBe(
      'subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope',
    )
  })
})

describe('authentication failures and anonymous requests', () => {
  it('answers an unknown or malformed token with 401 Unauthorized, never as anonymous', async () => {
    const t = makeApp()
    for (const h of ['Bearer nope', 'Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer a.b.c']) {
      const r = await t.call('GET', '/api/v1/namespaces', undefined, undefined, {
        authorization: h,
      })
      expect(r.status).toBe(401)
      expect(r.json).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      })
    }
  })

  it('lets anonymous requests read public info only, and refuses them all when anonymous auth is off', async () => {
    const t = makeApp()
    for (const p of ['/healthz', '/livez', '/readyz', '/version'])
      expect((await t.call('GET', p)).status).toBe(200)
    const r = await t.call('GET', '/api/v1/namespaces')
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope',
    )
    expect((await t.call('GET', '/metrics')).json.message).toBe(
      'forbidden: User "system:anonymous" cannot get path "/metrics"',
    )
    const closed = makeApp({ anonymous: false })
    expect((await closed.call('GET', '/version')).status).toBe(401)
  })

  it('refuses X-Remote-User from a client that is not a verified front proxy with 401', async () => {
    const t = makeApp()
    const r = await t.call('GET', '/api/v1/namespaces', undefined, undefined, {
      'x-remote-user': 'admin',
      'x-remote-group': 'system:masters',
    })
    expect(r.status).toBe(401)
    const withToken = await t.call('GET', '/api/v1/namespaces', BOB, undefined, {
      'x-remote-user': 'admin',
      'x-remote-group': 'system:masters',
    })
    expect(withToken.status).toBe(403)
    expect(withToken.json.message).toContain('User "bob"')
  })
})

describe('impersonation', () => {
  it('acts as the impersonated user when allowed, and says what was not allowed', async () => {
    const t = makeApp()
    const asBob = await t.call('GET', '/api/v1/namespaces/default/secrets', ADMIN, undefined, {
      'impersonate-user': 'bob',
    })
    expect(asBob.json.message).toBe(
      'secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "default"',
    )
    const who = await t.call(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      ADMIN,
      {},
      {
        'impersonate-user': 'bob',
        'impersonate-group': 'devs',
        'impersonate-extra-scopes': 'view',
      },
    )
    expect(who.json.status.userInfo).toEqual({
      username: 'bob',
      groups: ['devs', 'system:authenticated'],
      extra: { scopes: ['view'] },
    })
    const sa = await t.call(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      ADMIN,
      {},
      { 'impersonate-user': 'system:serviceaccount:demo:bot' },
    )
    expect(sa.json.status.userInfo).toEqual({
      username: 'system:serviceaccount:demo:bot',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:demo', 'system:authenticated'],
    })

    const denied = await t.call('GET', '/api/v1/namespaces', BOB, undefined, {
      'impersonate-user': 'alice',
    })
    expect(denied.status).toBe(403)
    expect(denied.json.message).toBe(
      'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
    )
    // Every part is checked, the user named even when it is the requester.
    const deniedSelf = await t.call('GET', '/api/v1/namespaces', BOB, undefined, {
      'impersonate-user': 'bob',
      'impersonate-group': 'system:masters',
    })
    expect(deniedSelf.json.message).toBe(
      'users "bob" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
    )
    const saDenied = await t.call('GET', '/api/v1/namespaces', BOB, undefined, {
      'impersonate-user': 'system:serviceaccount:demo:bot',
    })
    expect(saDenied.json.message).toBe(
      'serviceaccounts "bot" is forbidden: User "bob" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "demo"',
    )
  })
})

describe('service account tokens end to end in the app', () => {
  it('issues a token for a service account that authenticates as it, and publishes keys that verify it', async () => {
    const t = makeApp()
    await t.call('POST', '/api/v1/namespaces', ADMIN, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'demo' },
    })
    expect(
      (
        await t.call('POST', '/api/v1/namespaces/demo/serviceaccounts', ADMIN, {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name: 'bot' },
        })
      ).status,
    ).toBe(201)
    const tr = await t.call('POST', '/api/v1/namespaces/demo/serviceaccounts/bot/token', ADMIN, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {},
    })
    expect(tr.status).toBe(201)
    const token = tr.json.status.token as string
    const r = await t.call('GET', '/api/v1/namespaces/demo/configmaps', token)
    expect(r.json.message).toBe(
      'configmaps is forbidden: User "system:serviceaccount:demo:bot" cannot list resource "configmaps" in API group "" in the namespace "demo"',
    )

    const conf = await t.call('GET', '/.well-known/openid-configuration', token)
    expect(conf.status).toBe(200)
    expect(conf.json).toMatchObject({
      issuer: ISSUER,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    })
    const keys = await t.call('GET', '/openid/v1/jwks', token)
    expect(keys.headers.get('content-type')).toBe('application/jwk-set+json')
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys.json as { keys: [] }), {
      issuer: conf.json.issuer,
      audience: ISSUER,
    })
    expect(payload.sub).toBe('system:serviceaccount:demo:bot')
    expect((await t.call('GET', '/.well-known/openid-configuration', BOB)).status).toBe(403)

    const review = await t.call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', ADMIN, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    })
    expect(review.json.status).toMatchObject({
      authenticated: true,
      user: {
        username: 'system:serviceaccount:demo:bot',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:demo', 'system:authenticated'],
      },
      audiences: [ISSUER],
    })
    const bogus = await t.call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', ADMIN, {
      spec: { token: 'nope' },
    })
    expect(bogus.json.status).toEqual({ authenticated: false, user: {} })

    // Deleting the service account ends its tokens (after the 10s success cache kube-apiserver also keeps).
    expect(
      (await t.call('DELETE', '/api/v1/namespaces/demo/serviceaccounts/bot', ADMIN)).status,
    ).toBe(200)
    const tr2 = await t.call('POST', '/api/v1/namespaces/demo/serviceaccounts/bot/token', ADMIN, {
      spec: {},
    })
    expect(tr2.json.message).toBe('serviceaccounts "bot" not found')
  })

  it('fills in the token of a kubernetes.io/service-account-token Secret', async () => {
    const t = makeApp()
    await t.call('POST', '/api/v1/namespaces/default/serviceaccounts', ADMIN, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'ci' },
    })
    const created = await t.call('POST', '/api/v1/namespaces/default/secrets', ADMIN, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name: 'ci-token', annotations: { 'kubernetes.io/service-account.name': 'ci' } },
    })
    expect(created.status).toBe(201)
    const token = Buffer.from(created.json.data.token, 'base64').toString()
    const who = await t.call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', token, {})
    expect(who.json.status.userInfo.username).toBe('system:serviceaccount:default:ci')
  })
})

describe('RBAC escalation prevention', () => {
  it('lets a namespace admin grant what they hold, and nothing more without bind or escalate', async () => {
    const t = makeApp()
    await t.call('POST', '/api/v1/namespaces', ADMIN, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team' },
    })
    expect(
      (
        await t.call(
          'POST',
          '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings',
          ADMIN,
          rolebinding('bob-admin', 'admin', {
            kind: 'User',
            apiGroup: 'rbac.authorization.k8s.io',
            name: 'bob',
          }),
        )
      ).status,
    ).toBe(201)

    const rbPath = '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings'
    expect(
      (
        await t.call(
          'POST',
          rbPath,
          BOB,
          rolebinding('carol-view', 'view', {
            kind: 'User',
            apiGroup: 'rbac.authorization.k8s.io',
            name: 'carol',
          }),
        )
      ).status,
    ).toBe(201)
    const escalate = await t.call(
      'POST',
      rbPath,
      BOB,
      rolebinding('carol-root', 'cluster-admin', {
        kind: 'User',
        apiGroup: 'rbac.authorization.k8s.io',
        name: 'carol',
      }),
    )
    expect(escalate.status).toBe(403)
    expect(escalate.json.message).toBe(
      'rolebindings.rbac.authorization.k8s.io "carol-root" is forbidden: user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n' +
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    )
    const missing = await t.call(
      'POST',
      rbPath,
      BOB,
      rolebinding('x', 'no-such-role', {
        kind: 'User',
        apiGroup: 'rbac.authorization.k8s.io',
        name: 'carol',
      }),
    )
    expect([missing.status, missing.json.message]).toEqual([
      404,
      'clusterroles.rbac.authorization.k8s.io "no-such-role" not found',
    ])

    const rolePath = '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles'
    const role = (name: string, rules: unknown[]) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name },
      rules,
    })
    expect(
      (
        await t.call(
          'POST',
          rolePath,
          BOB,
          role('secret-reader', [
            { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] },
          ]),
        )
      ).status,
    ).toBe(201)
    const tooMuch = await t.call(
      'POST',
      rolePath,
      BOB,
      role('node-lister', [
        { apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['list', 'get'] },
      ]),
    )
    expect(tooMuch.json.message).toBe(
      'roles.rbac.authorization.k8s.io "node-lister" is forbidden: user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n' +
        '{APIGroups:[""], Resources:["nodes"], Verbs:["list" "get"]}',
    )
    const dry = await t.call(
      'POST',
      `${rolePath}?dryRun=All`,
      BOB,
      role('node-lister', [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }]),
    )
    expect(dry.status).toBe(403)
    // Updates are checked too: widening an existing role is an escalation; touching only finalizers is not.
    const widen = await t.call(
      'PATCH',
      `${rolePath}/secret-reader`,
      BOB,
      { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] },
      { 'content-type': 'application/merge-patch+json' },
    )
    expect(widen.status).toBe(403)
    expect(widen.json.message).toMatch(
      /^roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "bob" .* is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\["\*"\], Resources:\["\*"\], Verbs:\["\*"\]\}$/,
    )
    const gcOnly = await t.call(
      'PATCH',
      `${rolePath}/secret-reader`,
      BOB,
      { metadata: { finalizers: ['example.com/keep'] } },
      { 'content-type': 'application/merge-patch+json' },
    )
    expect(gcOnly.status).toBe(200)

    // The bind verb on a role lets its holder bind it without holding its permissions.
    await t.call('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', ADMIN, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'binder' },
      rules: [
        {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['clusterroles'],
          verbs: ['bind'],
          resourceNames: ['cluster-admin'],
        },
      ],
    })
    await t.call(
      'POST',
      rbPath,
      ADMIN,
      rolebinding('bob-binder', 'binder', {
        kind: 'User',
        apiGroup: 'rbac.authorization.k8s.io',
        name: 'bob',
      }),
    )
    expect(
      (
        await t.call(
          'POST',
          rbPath,
          BOB,
          rolebinding('carol-root', 'cluster-admin', {
            kind: 'User',
            apiGroup: 'rbac.authorization.k8s.io',
            name: 'carol',
          }),
        )
      ).status,
    ).toBe(201)
  })

  it('keeps an edit user from binding cluster-admin cluster-wide', async () => {
    const t = makeApp()
    await t.call('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', ADMIN, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'bob-edit' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' }],
    })
    const r = await t.call('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', BOB, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'bob-root' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'cluster-admin',
      },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' }],
    })
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'clusterrolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope',
    )
  })
})

describe('authorizing by name', () => {
  it('treats a metadata.name field selector on a list or watch as the name RBAC resourceNames match', async () => {
    const t = makeApp()
    await t.call('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', ADMIN, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'one-cm' },
      rules: [
        {
          apiGroups: [''],
          resources: ['configmaps'],
          verbs: ['get', 'list', 'watch'],
          resourceNames: ['a'],
        },
      ],
    })
    await t.call(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
      ADMIN,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'bob-one-cm' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'one-cm' },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' }],
      },
    )
    expect(
      (
        await t.call(
          'GET',
          '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Da',
          BOB,
        )
      ).status,
    ).toBe(200)
    const other = await t.call(
      'GET',
      '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Db',
      BOB,
    )
    expect(other.json.message).toBe(
      'configmaps "b" is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"',
    )
    expect((await t.call('GET', '/api/v1/namespaces/default/configmaps', BOB)).status).toBe(403)
    // The handlers still see a collection: an all-namespaces list with the selector is a list, not a 404.
    expect(
      (await t.call('GET', '/api/v1/configmaps?fieldSelector=metadata.name%3Da', ADMIN)).status,
    ).toBe(200)
  })
})

describe('discovery', () => {
  it('lists serviceaccounts/token and the review kinds as kube-apiserver does', async () => {
    const t = makeApp()
    const core = await t.call('GET', '/api/v1', ADMIN)
    expect(core.json.resources).toContainEqual({
      name: 'serviceaccounts/token',
      singularName: '',
      namespaced: true,
      group: 'authentication.k8s.io',
      version: 'v1',
      kind: 'TokenRequest',
      verbs: ['create'],
    })
    const authz = await t.call('GET', '/apis/authorization.k8s.io/v1', ADMIN)
    expect(authz.json.resources.map((r: { name: string }) => r.name).sort()).toEqual([
      'localsubjectaccessreviews',
      'selfsubjectaccessreviews',
      'selfsubjectrulesreviews',
      'subjectaccessreviews',
    ])
    expect(
      (await t.call('GET', '/apis/authentication.k8s.io/v1', ADMIN)).json.resources,
    ).toContainEqual(
      expect.objectContaining({
        name: 'selfsubjectreviews',
        kind: 'SelfSubjectReview',
        namespaced: false,
        verbs: ['create'],
      }),
    )
  })
})

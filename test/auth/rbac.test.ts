import { beforeEach, describe, expect, it } from 'vitest'
import {
  forbiddenError,
  forbiddenMessage,
  privilegedGroups,
  union,
  type Attributes,
} from '../../src/auth/authorizer'
import { RBACAuthorizer } from '../../src/auth/rbac/authorizer'
import { aggregateClusterRoles, ensureBootstrapPolicy } from '../../src/auth/rbac/bootstrap-policy'
import { nonResourceURLMatches, resourceMatches, ruleAllows } from '../../src/auth/rbac/rules'
import type { UserInfo } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'

const bob: UserInfo = { username: 'bob', groups: ['system:authenticated'] }
const RBAC = 'rbac.authorization.k8s.io/v1'

function attrs(user: UserInfo, over: Partial<Attributes>): Attributes {
  return {
    user,
    verb: 'get',
    isResourceRequest: true,
    path: '',
    apiGroup: '',
    apiVersion: 'v1',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    ...over,
  }
}

async function clusterRole(
  store: MemoryStore,
  name: string,
  rules: unknown[],
  labels?: Record<string, string>,
) {
  await store.put(`/registry/clusterroles/${name}`, {
    apiVersion: RBAC,
    kind: 'ClusterRole',
    metadata: { name, labels },
    rules,
  })
}
async function role(store: MemoryStore, ns: string, name: string, rules: unknown[]) {
  await store.put(`/registry/roles/${ns}/${name}`, {
    apiVersion: RBAC,
    kind: 'Role',
    metadata: { name, namespace: ns },
    rules,
  })
}
async function roleBinding(
  store: MemoryStore,
  ns: string,
  name: string,
  roleRef: { kind: string; name: string },
  subjects: unknown[],
) {
  await store.put(`/registry/rolebindings/${ns}/${name}`, {
    apiVersion: RBAC,
    kind: 'RoleBinding',
    metadata: { name, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
    subjects,
  })
}
async function clusterRoleBinding(
  store: MemoryStore,
  name: string,
  roleName: string,
  subjects: unknown[],
) {
  await store.put(`/registry/clusterrolebindings/${name}`, {
    apiVersion: RBAC,
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
    subjects,
  })
}

describe('RBAC rule matching', () => {
  it('matches verbs, groups, resources and names the way kube-apiserver does', () => {
    const rule = {
      verbs: ['get', 'list'],
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['a'],
    }
    expect(ruleAllows(attrs(bob, { resource: 'configmaps', name: 'a' }), rule)).toBe(true)
    expect(ruleAllows(attrs(bob, { resource: 'configmaps', name: 'b' }), rule)).toBe(false)
    // A list names nothing, so a rule restricted to names never allows it.
    expect(ruleAllows(attrs(bob, { verb: 'list', resource: 'configmaps' }), rule)).toBe(false)
    expect(
      ruleAllows(attrs(bob, { resource: 'configmaps', name: 'a', apiGroup: 'apps' }), rule),
    ).toBe(false)
    expect(
      ruleAllows(attrs(bob, { verb: 'delete', resource: 'configmaps', name: 'a' }), rule),
    ).toBe(false)
    expect(
      ruleAllows(attrs(bob, { verb: 'anything', apiGroup: 'x', resource: 'y' }), {
        verbs: ['*'],
        apiGroups: ['*'],
        resources: ['*'],
      }),
    ).toBe(true)
  })

  it('matches subresources only as resource/subresource or */subresource', () => {
    expect(resourceMatches({ verbs: [], resources: ['pods'] }, 'pods/log', 'log')).toBe(false)
    expect(resourceMatches({ verbs: [], resources: ['pods/log'] }, 'pods/log', 'log')).toBe(true)
    expect(resourceMatches({ verbs: [], resources: ['*/log'] }, 'pods/log', 'log')).toBe(true)
    expect(resourceMatches({ verbs: [], resources: ['*/log'] }, 'pods', '')).toBe(false)
    expect(resourceMatches({ verbs: [], resources: ['*/status'] }, 'pods/log', 'log')).toBe(false)
  })

  it('matches non-resource URLs exactly or by a trailing *', () => {
    const r = { verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] }
    expect(nonResourceURLMatches(r, '/healthz')).toBe(true)
    expect(nonResourceURLMatches(r, '/healthz/etcd')).toBe(false)
    expect(nonResourceURLMatches(r, '/apis/apps/v1')).toBe(true)
    expect(nonResourceURLMatches(r, '/apis')).toBe(false)
    expect(
      ruleAllows(attrs(bob, { isResourceRequest: false, path: '/apis/apps', verb: 'post' }), r),
    ).toBe(false)
  })
})

describe('Forbidden messages', () => {
  it("are kube-apiserver's, word for word", () => {
    expect(
      forbiddenError(attrs(bob, { verb: 'list', resource: 'configmaps', namespace: 'default' }), '')
        .message,
    ).toBe(
      'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"',
    )
    expect(
      forbiddenError(
        attrs(bob, { verb: 'get', resource: 'configmaps', namespace: 'default', name: 'x' }),
        '',
      ).message,
    ).toBe(
      'configmaps "x" is forbidden: User "bob" cannot get resource "configmaps" in API group "" in the namespace "default"',
    )
    expect(
      forbiddenError(
        attrs(bob, {
          verb: 'get',
          apiGroup: 'apps',
          resource: 'deployments',
          subresource: 'scale',
          namespace: 'd',
          name: 'w',
        }),
        '',
      ).message,
    ).toBe(
      'deployments.apps "w" is forbidden: User "bob" cannot get resource "deployments/scale" in API group "apps" in the namespace "d"',
    )
    expect(forbiddenError(attrs(bob, { verb: 'list', resource: 'nodes' }), '').message).toBe(
      'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope',
    )
    const nonResource = forbiddenError(
      attrs(bob, { isResourceRequest: false, path: '/metrics' }),
      '',
    )
    expect(nonResource.message).toBe('forbidden: User "bob" cannot get path "/metrics"')
    expect(nonResource.toStatus().details).toEqual({})
    expect(
      forbiddenMessage(
        attrs(bob, {
          verb: 'create',
          resource: 'serviceaccounts',
          subresource: 'token',
          namespace: 'n',
          name: 'sa',
        }),
      ),
    ).toBe(
      'User "bob" cannot create resource "serviceaccounts/token" in API group "" in the namespace "n"',
    )
  })

  it('carry the details kube-apiserver sends', () => {
    const st = forbiddenError(
      attrs(bob, { apiGroup: 'apps', resource: 'deployments', namespace: 'd', name: 'w' }),
      '',
    ).toStatus()
    expect(st).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      details: { name: 'w', group: 'apps', kind: 'deployments' },
    })
  })
})

describe('RBACAuthorizer', () => {
  let store: MemoryStore
  let rbac: RBACAuthorizer
  beforeEach(() => {
    store = new MemoryStore()
    rbac = new RBACAuthorizer({ ttlMs: 0 })
  })

  it('allows through a RoleBinding only in its namespace and says which binding allowed it', async () => {
    await role(store, 'team', 'reader', [
      { verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'] },
    ])
    await roleBinding(store, 'team', 'read', { kind: 'Role', name: 'reader' }, [
      { kind: 'User', name: 'bob' },
    ])
    const z = rbac.forStore(store)
    expect(
      await z.authorize(attrs(bob, { verb: 'list', resource: 'configmaps', namespace: 'team' })),
    ).toEqual({
      decision: 'Allow',
      reason: 'RBAC: allowed by RoleBinding "read/team" of Role "reader" to User "bob"',
    })
    expect(
      (await z.authorize(attrs(bob, { verb: 'list', resource: 'configmaps', namespace: 'other' })))
        .decision,
    ).toBe('NoOpinion')
    expect((await z.authorize(attrs(bob, { verb: 'list', resource: 'configmaps' }))).decision).toBe(
      'NoOpinion',
    )
  })

  it("binds groups and service accounts, defaulting a subject namespace to the binding's", async () => {
    await clusterRole(store, 'cm-reader', [
      { verbs: ['get'], apiGroups: [''], resources: ['configmaps'] },
    ])
    await roleBinding(store, 'demo', 'sa', { kind: 'ClusterRole', name: 'cm-reader' }, [
      { kind: 'ServiceAccount', name: 'bot' },
    ])
    await clusterRoleBinding(store, 'devs', 'cm-reader', [
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'devs' },
    ])
    const z = rbac.forStore(store)
    const bot = {
      username: 'system:serviceaccount:demo:bot',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:demo'],
    }
    expect(
      (await z.authorize(attrs(bot, { resource: 'configmaps', namespace: 'demo', name: 'x' })))
        .reason,
    ).toBe(
      'RBAC: allowed by RoleBinding "sa/demo" of ClusterRole "cm-reader" to ServiceAccount "bot/demo"',
    )
    expect(
      (await z.authorize(attrs(bot, { resource: 'configmaps', namespace: 'other', name: 'x' })))
        .decision,
    ).toBe('NoOpinion')
    const dev = { username: 'carol', groups: ['devs'] }
    expect(
      (await z.authorize(attrs(dev, { resource: 'configmaps', namespace: 'any', name: 'x' })))
        .reason,
    ).toBe('RBAC: allowed by ClusterRoleBinding "devs" of ClusterRole "cm-reader" to Group "devs"')
  })

  it('gives the resolution errors as the reason when a binding names a missing role', async () => {
    await roleBinding(store, 'team', 'dangling', { kind: 'Role', name: 'gone' }, [
      { kind: 'User', name: 'bob' },
    ])
    await clusterRoleBinding(store, 'dangling', 'nothing', [{ kind: 'User', name: 'bob' }])
    const r = await rbac
      .forStore(store)
      .authorize(attrs(bob, { verb: 'list', resource: 'configmaps', namespace: 'team' }))
    expect(r).toEqual({
      decision: 'NoOpinion',
      reason:
        'RBAC: [clusterrole.rbac.authorization.k8s.io "nothing" not found, role.rbac.authorization.k8s.io "gone" not found]',
    })
  })

  it('sees a new binding on the next request after an RBAC write, even within the ttl', async () => {
    const cached = new RBACAuthorizer({ ttlMs: 60_000 })
    await clusterRole(store, 'cm-reader', [
      { verbs: ['list'], apiGroups: [''], resources: ['configmaps'] },
    ])
    const a = attrs(bob, { verb: 'list', resource: 'configmaps', namespace: 'default' })
    expect((await cached.forStore(store).authorize(a)).decision).toBe('NoOpinion')
    await roleBinding(store, 'default', 'b', { kind: 'ClusterRole', name: 'cm-reader' }, [
      { kind: 'User', name: 'bob' },
    ])
    expect((await cached.forStore(store).authorize(a)).decision).toBe('NoOpinion') // within the ttl, not yet re-read
    cached.noteWrite()
    expect((await cached.forStore(store).authorize(a)).decision).toBe('Allow')
  })

  it('reads the store once per revision, not once per request', async () => {
    await ensureBootstrapPolicy(store)
    const z = new RBACAuthorizer({ ttlMs: 0 }).forStore(store)
    await z.authorize(attrs(bob, { isResourceRequest: false, path: '/version' }))
    const before = store.reads
    for (let i = 0; i < 20; i++)
      await z.authorize(attrs(bob, { isResourceRequest: false, path: '/api' }))
    expect(store.reads).toBe(before)
  })

  it('lists the rules of a user in a namespace, for SelfSubjectRulesReview', async () => {
    await role(store, 'team', 'reader', [
      { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] },
    ])
    await roleBinding(store, 'team', 'read', { kind: 'Role', name: 'reader' }, [
      { kind: 'User', name: 'bob' },
    ])
    await clusterRole(store, 'disc', [{ verbs: ['get'], nonResourceURLs: ['/api'] }])
    await clusterRoleBinding(store, 'disc', 'disc', [
      { kind: 'Group', name: 'system:authenticated' },
    ])
    const rules = await rbac.forStore(store).rulesFor!(bob, 'team')
    expect(rules).toEqual({
      resourceRules: [
        { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] },
      ],
      nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/api'] }],
      incomplete: false,
    })
  })
})

describe('bootstrap policy', () => {
  it("creates kube-apiserver's default roles and bindings, with aggregated admin/edit/view", async () => {
    const store = new MemoryStore()
    await ensureBootstrapPolicy(store)
    const view = JSON.parse((await store.get('/registry/clusterroles/view')).kv!.value)
    expect(view.aggregationRule).toEqual({
      clusterRoleSelectors: [
        { matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
      ],
    })
    expect(view.metadata.labels).toEqual({
      'kubernetes.io/bootstrapping': 'rbac-defaults',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
    })
    expect(view.metadata.annotations).toEqual({
      'rbac.authorization.kubernetes.io/autoupdate': 'true',
    })
    expect(view.rules.length).toBeGreaterThan(5)
    const admin = JSON.parse((await store.get('/registry/clusterroles/admin')).kv!.value)
    // admin ⊇ edit ⊇ view once aggregation settles.
    for (const r of view.rules) expect(admin.rules).toContainEqual(r)
    const crb = JSON.parse(
      (await store.get('/registry/clusterrolebindings/system:public-info-viewer')).kv!.value,
    )
    expect(crb.subjects.map((s: { name: string }) => s.name)).toEqual([
      'system:authenticated',
      'system:unauthenticated',
    ])
    // A second start changes nothing.
    const rev = await store.currentRevision()
    await ensureBootstrapPolicy(store)
    expect(await store.currentRevision()).toBe(rev)
  })

  it('puts back what was removed from an autoupdate role, and leaves autoupdate=false alone', async () => {
    const store = new MemoryStore()
    await ensureBootstrapPolicy(store)
    const kv = (await store.get('/registry/clusterroles/system:basic-user')).kv!
    const basic = JSON.parse(kv.value)
    await store.update(kv.key, JSON.stringify({ ...basic, rules: [] }), kv.modRevision)
    await ensureBootstrapPolicy(store)
    expect(JSON.parse((await store.get(kv.key)).kv!.value).rules).toEqual(basic.rules)
    const kv2 = (await store.get(kv.key)).kv!
    const frozen = {
      ...basic,
      rules: [],
      metadata: {
        ...basic.metadata,
        annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'false' },
      },
    }
    await store.update(kv2.key, JSON.stringify(frozen), kv2.modRevision)
    await ensureBootstrapPolicy(store)
    expect(JSON.parse((await store.get(kv.key)).kv!.value).rules).toEqual([])
  })

  it('lets anonymous users read only public info, authenticated users discover and review themselves', async () => {
    const store = new MemoryStore()
    await ensureBootstrapPolicy(store)
    const z = union(privilegedGroups('system:masters'), new RBACAuthorizer().forStore(store))
    const anon = { username: 'system:anonymous', groups: ['system:unauthenticated'] }
    const nonResource = (user: UserInfo, path: string) =>
      attrs(user, { isResourceRequest: false, path })
    for (const p of ['/healthz', '/livez', '/readyz', '/version'])
      expect((await z.authorize(nonResource(anon, p))).decision).toBe('Allow')
    expect((await z.authorize(nonResource(anon, '/api'))).decision).toBe('NoOpinion')
    expect((await z.authorize(nonResource(bob, '/apis/apps/v1'))).decision).toBe('Allow')
    expect(
      (
        await z.authorize(
          attrs(bob, {
            verb: 'create',
            apiGroup: 'authorization.k8s.io',
            resource: 'selfsubjectaccessreviews',
          }),
        )
      ).decision,
    ).toBe('Allow')
    expect(
      (
        await z.authorize(
          attrs(bob, { verb: 'list', resource: 'configmaps', namespace: 'default' }),
        )
      ).decision,
    ).toBe('NoOpinion')
    const admin = { username: 'admin', groups: ['system:masters', 'system:authenticated'] }
    expect(
      (await z.authorize(attrs(admin, { verb: 'delete', resource: 'nodes', name: 'n' }))).decision,
    ).toBe('Allow')
  })

  it('keeps a custom role aggregated into view, both in the authorizer and in storage', async () => {
    const store = new MemoryStore()
    await ensureBootstrapPolicy(store)
    await clusterRole(
      store,
      'widgets-view',
      [{ verbs: ['get'], apiGroups: ['example.com'], resources: ['widgets'] }],
      { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
    )
    await roleBinding(store, 'default', 'bob-view', { kind: 'ClusterRole', name: 'view' }, [
      { kind: 'User', name: 'bob' },
    ])
    const z = new RBACAuthorizer({ ttlMs: 0 }).forStore(store)
    const a = attrs(bob, {
      apiGroup: 'example.com',
      resource: 'widgets',
      namespace: 'default',
      name: 'w',
    })
    expect((await z.authorize(a)).decision).toBe('Allow')
    // admin aggregates edit, which aggregates view.
    await roleBinding(store, 'default', 'bob-view', { kind: 'ClusterRole', name: 'admin' }, [
      { kind: 'User', name: 'bob' },
    ])
    expect((await z.authorize(a)).decision).toBe('Allow')
    await aggregateClusterRoles(store)
    expect(
      JSON.parse((await store.get('/registry/clusterroles/admin')).kv!.value).rules,
    ).toContainEqual({ verbs: ['get'], apiGroups: ['example.com'], resources: ['widgets'] })
  })
})

describe('escalation coverage (validation.Covers)', async () => {
  const { covers } = await import('../../src/auth/rbac/escalation')
  it('breaks rules down and finds what the owner does not hold', () => {
    const owner = [
      { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', '*/status'] },
      { verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['web'] },
      { verbs: ['get'], nonResourceURLs: ['/healthz/*'] },
    ]
    expect(
      covers(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'services/status'] }]),
    ).toEqual([])
    expect(
      covers(owner, [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods'] }]),
    ).toEqual([{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }])
    expect(
      covers(owner, [
        { verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['web'] },
      ]),
    ).toEqual([])
    // A rule for every name is more than a rule for one.
    expect(
      covers(owner, [{ verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'] }]),
    ).toHaveLength(1)
    expect(
      covers(owner, [{ verbs: ['get'], nonResourceURLs: ['/healthz/etcd', '/metrics'] }]),
    ).toEqual([{ verbs: ['get'], nonResourceURLs: ['/metrics'] }])
  })
})

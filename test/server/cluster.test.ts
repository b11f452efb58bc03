// Clusters by path: /clusters/<name>/... serves that cluster's bare paths, with nothing shared between two
// clusters (objects, CRDs, credentials), and the bare paths stay the default cluster's.
import { describe, expect, it } from 'vitest'
import { installAuthResources, ServerAuth } from '../../src/auth/server-auth'
import { bootstrapCluster } from '../../src/controllers/bootstrap'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { buildApp, type ClusterConfig } from '../../src/server/app'
import { clusterOfPath, DEFAULT_CLUSTER } from '../../src/server/cluster'
import { LruMap } from '../../src/util/lru'
import { clusterOfHost } from '../../src/tenancy/serving'
import { MemoryStore } from '../helpers/memory-store'

function cluster(adminToken: string): ClusterConfig & { store(): MemoryStore } {
  const registry = new Registry(builtinResources)
  installAuthResources(registry)
  const store = new MemoryStore()
  const auth = new ServerAuth({ tokenAuthFile: `${adminToken},admin,admin,"system:masters"\n` })
  return {
    registry,
    store: () => store,
    authenticators: (_env, s) => auth.authenticators(s),
    auth: (_env, s) => auth.context(s),
    ready: (s) => bootstrapCluster(registry, s),
  }
}

function serve() {
  const defaults = cluster('default-admin')
  const tenant = cluster('tenant-admin')
  let resolved = 0
  const app = buildApp({
    ...defaults,
    clusters: (name) => {
      resolved++
      return name === 'tenant' ? tenant : undefined
    },
    clusterOfHost: (hostname) => clusterOfHost(hostname, '.clusters.test'),
  })
  const call = async (
    path: string,
    token: string,
    init: { method?: string; body?: unknown } = {},
  ) => {
    const res = await app.request(path, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body ? JSON.stringify(init.body) : undefined,
    })
    const text = await res.text()
    return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : undefined }
  }
  return { app, call, defaults, tenant, resolutions: () => resolved }
}

const configMap = (name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { k: 'v' },
})

describe('clusterOfPath', () => {
  it('takes the cluster off /clusters/<name>/ and leaves bare paths to the default cluster', () => {
    expect(clusterOfPath('/api/v1/namespaces')).toEqual({
      cluster: DEFAULT_CLUSTER,
      path: '/api/v1/namespaces',
    })
    expect(clusterOfPath('/clusters/a-1/api/v1/pods')).toEqual({
      cluster: 'a-1',
      path: '/api/v1/pods',
    })
    expect(clusterOfPath('/clusters/a-1')).toEqual({ cluster: 'a-1', path: '/' })
    expect(clusterOfPath('/clusters/Not_A_Label/api')).toEqual({ cluster: undefined, path: '/api' })
    expect(clusterOfPath(`/clusters/${'a'.repeat(64)}/api`).cluster).toBeUndefined()
  })
})

describe('LruMap', () => {
  it('keeps the most recently used entries, at most its bound', () => {
    const contexts = new LruMap<string, { name: string }>(2)
    const ctx = (n: string) => ({ name: n })
    contexts.set('a', ctx('a'))
    contexts.set('b', ctx('b'))
    expect(contexts.get('a')).toEqual({ name: 'a' }) // a is now the most recent
    contexts.set('c', ctx('c'))
    expect(contexts.get('b')).toBeUndefined()
    expect(contexts.get('a')).toEqual({ name: 'a' })
    expect(contexts.get('c')).toEqual({ name: 'c' })
  })

  it('tells of each entry it drops for the bound, and of no other', () => {
    const dropped: string[] = []
    const m = new LruMap<string, number>(2, (k) => dropped.push(k))
    m.set('a', 1)
    m.set('b', 2)
    m.set('b', 3) // replaced, not dropped
    m.delete('a') // deleted, not dropped
    m.set('c', 4)
    m.set('d', 5)
    expect(dropped).toEqual(['b'])
  })
})

describe('a request path for a cluster', () => {
  it('serves the default cluster at the bare paths and under /clusters/default/', async () => {
    const { call } = serve()
    const created = await call('/api/v1/namespaces/default/configmaps', 'default-admin', {
      method: 'POST',
      body: configMap('shared-name'),
    })
    expect(created.status).toBe(201)
    const viaPrefix = await call(
      '/clusters/default/api/v1/namespaces/default/configmaps/shared-name',
      'default-admin',
    )
    expect(viaPrefix.status).toBe(200)
    expect(viaPrefix.json.metadata.uid).toBe(created.json.metadata.uid)
  })

  it('keeps objects, credentials and CRDs of one cluster out of another', async () => {
    const { call } = serve()
    expect(
      (
        await call('/clusters/tenant/api/v1/namespaces/default/configmaps', 'tenant-admin', {
          method: 'POST',
          body: configMap('only-in-tenant'),
        })
      ).status,
    ).toBe(201)
    const other = await call(
      '/api/v1/namespaces/default/configmaps/only-in-tenant',
      'default-admin',
    )
    expect(other.status).toBe(404)
    expect(other.json.message).toBe('configmaps "only-in-tenant" not found')

    // A credential of one cluster means nothing in the other: 401 as for any unknown token.
    expect((await call('/clusters/tenant/api/v1/namespaces', 'default-admin')).status).toBe(401)
    expect((await call('/api/v1/namespaces', 'tenant-admin')).status).toBe(401)

    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        ],
      },
    }
    expect(
      (
        await call(
          '/clusters/tenant/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
          'tenant-admin',
          {
            method: 'POST',
            body: crd,
          },
        )
      ).status,
    ).toBe(201)
    await expect
      .poll(async () => (await call('/clusters/tenant/apis/example.com/v1', 'tenant-admin')).status)
      .toBe(200)
    expect((await call('/apis/example.com/v1', 'default-admin')).status).toBe(404)
    const groups = await call('/apis', 'default-admin')
    expect(groups.json.groups.map((g: { name: string }) => g.name)).not.toContain('example.com')
  })

  it('answers 404 for a cluster there is none of, before anything else runs', async () => {
    const { call, resolutions } = serve()
    for (const path of ['/clusters/nope/api', '/clusters/Bad_Name/api/v1/namespaces']) {
      const r = await call(path, 'default-admin')
      expect(r).toEqual({
        status: 404,
        json: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'the server could not find the requested resource',
          reason: 'NotFound',
          details: {},
          code: 404,
        },
      })
    }
    // Only the well-formed name was looked up.
    expect(resolutions()).toBe(1)
  })

  it('bootstraps each cluster in its own store, once', async () => {
    const { call, tenant } = serve()
    expect(
      (await call('/clusters/tenant/api/v1/namespaces/kube-system', 'tenant-admin')).status,
    ).toBe(200)
    expect((await call('/clusters/tenant/readyz', 'tenant-admin')).status).toBe(200)
    expect((await tenant.store().get('/registry/namespaces/kube-system')).kv).toBeDefined()
  })

  it("serves a cluster's bare paths at its own host name, and the default cluster's elsewhere", async () => {
    const { call } = serve()
    await call('/clusters/tenant/api/v1/namespaces/default/configmaps', 'tenant-admin', {
      method: 'POST',
      body: configMap('by-host'),
    })
    const byHost = await call(
      'https://tenant.clusters.test/api/v1/namespaces/default/configmaps/by-host',
      'tenant-admin',
    )
    expect(byHost.status).toBe(200)
    expect(
      (
        await call(
          'https://other.example/api/v1/namespaces/default/configmaps/by-host',
          'default-admin',
        )
      ).status,
    ).toBe(404)
    expect(clusterOfHost('a.b.clusters.test', '.clusters.test')).toBeUndefined()
    expect(clusterOfHost('clusters.test', 'clusters.test')).toBeUndefined()
    expect(clusterOfHost('team-1.clusters.test', 'clusters.test')).toBe('team-1')
  })
})

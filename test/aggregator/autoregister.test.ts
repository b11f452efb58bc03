// The autoregister and local availability loop against an in-memory Store (src/controllers/apiservices.ts),
// and the discovery order of local and remote groups (src/aggregator/apiservices.ts).
import { describe, expect, it } from 'vitest'
import { orderedGroups, type APIService } from '../../src/aggregator/apiservices'
import { compareKubeAwareVersions } from '../../src/aggregator/priorities'
import { ControllerManager } from '../../src/controllers/manager'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'

const PREFIX = '/registry/apiregistration.k8s.io/apiservices/'
const ctx = () => ({ dryRun: false, warnings: [] })

function cluster() {
  const store = new MemoryStore()
  const registry = new Registry(builtinResources)
  const managers: ControllerManager[] = []
  const newManager = () => {
    const m = new ControllerManager(store, registry, { log: () => {} })
    managers.push(m)
    return m
  }
  store.onWrite = (e) => {
    for (const m of managers) m.observe(e)
  }
  const settle = async (m: ControllerManager) => {
    for (let i = 0; i < 100; i++) {
      const next = await m.run()
      if (next === undefined || next > 0) return
    }
    throw new Error('the loops did not settle')
  }
  const apiservices = new RegistryStore(
    registry.lookup('apiregistration.k8s.io', 'v1', 'apiservices')!,
    store,
  )
  const names = async () => (await store.list(PREFIX)).kvs.map((kv) => kv.key.slice(PREFIX.length))
  const get = async (name: string) => {
    const { kv } = await store.get(PREFIX + name)
    return kv ? (JSON.parse(kv.value) as Record<string, any>) : undefined
  }
  return { store, registry, newManager, settle, apiservices, names, get }
}

const crd = (versions: { name: string; served: boolean }[]): KubeObject => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: versions.map((v, i) => ({
      ...v,
      storage: i === 0,
      schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    })),
  },
})

describe('autoregister', () => {
  it("registers every served built-in group version under kube's key, with kube's priorities", async () => {
    const c = cluster()
    await c.settle(c.newManager())
    const names = await c.names()
    for (const n of ['v1.', 'v1.apps', 'v2.autoscaling', 'v1.rbac.authorization.k8s.io'])
      expect(names).toContain(n)
    // Exactly what we serve, but for the aggregator's own group, which has none.
    const served = c.registry
      .groupVersions()
      .filter((g) => g.group !== 'apiregistration.k8s.io')
      .flatMap((g) => g.versions.map((v) => `${v}.${g.group}`))
    expect([...names].sort()).toEqual(served.sort())
    expect((await c.get('v1.flowcontrol.apiserver.k8s.io'))!.spec).toMatchObject({
      groupPriorityMinimum: 16100,
      versionPriority: 21,
    })
    // A local APIService's service is null (a nil pointer without omitempty, as kube writes it).
    expect((await c.get('v2.autoscaling'))!.spec).toEqual({
      service: null,
      group: 'autoscaling',
      version: 'v2',
      groupPriorityMinimum: 17500,
      versionPriority: 30,
    })
    // The legacy group's has no group at all (omitempty).
    expect((await c.get('v1.'))!.spec).toEqual({
      service: null,
      version: 'v1',
      groupPriorityMinimum: 18000,
      versionPriority: 1,
    })
    expect((await c.get('v1.apps'))!.status.conditions).toEqual([
      expect.objectContaining({
        type: 'Available',
        status: 'True',
        reason: 'Local',
        message: 'Local APIServices are always available',
      }),
    ])
  })

  it('recreates a deleted built-in APIService only on the next start, as onstart ones are', async () => {
    const c = cluster()
    const first = c.newManager()
    await c.settle(first)
    await c.apiservices.delete(undefined, 'v1.apps', {}, ctx())
    await c.settle(first)
    expect(await c.get('v1.apps')).toBeUndefined()
    await c.settle(c.newManager())
    expect(await c.get('v1.apps')).toBeDefined()
  })

  it("follows a CRD's served versions and leaves the user's own APIServices alone", async () => {
    const c = cluster()
    const m = c.newManager()
    await c.settle(m)
    await c.apiservices.create(
      undefined,
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1.mine.example.com' },
        spec: {
          group: 'mine.example.com',
          version: 'v1',
          groupPriorityMinimum: 10,
          versionPriority: 10,
        },
      },
      ctx(),
    )
    const crds = new RegistryStore(
      c.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!,
      c.store,
    )
    await crds.create(
      undefined,
      crd([
        { name: 'v1', served: true },
        { name: 'v2', served: false },
      ]),
      ctx(),
    )
    await c.settle(m)
    expect((await c.get('v1.example.com'))!.metadata.labels).toEqual({
      'kube-aggregator.kubernetes.io/automanaged': 'true',
    })
    expect(await c.get('v2.example.com')).toBeUndefined()
    await crds.update(
      undefined,
      'widgets.example.com',
      (cur) => {
        const o = structuredClone(cur!) as Record<string, any>
        o.spec.versions[1].served = true
        return o as KubeObject
      },
      ctx(),
    )
    await c.settle(m)
    expect(await c.get('v2.example.com')).toBeDefined()
    // Gone from the store (its cleanup finalizer is another loop's business; until then it still serves).
    await c.store.delete(
      '/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com',
    )
    await c.settle(m)
    expect(await c.get('v1.example.com')).toBeUndefined()
    expect(await c.get('v2.example.com')).toBeUndefined()
    // Unlabelled: its user's, kept and marked available as a local one.
    expect((await c.get('v1.mine.example.com'))!.status.conditions[0].reason).toBe('Local')
  })
})

describe('discovery order', () => {
  const remote = (group: string, version: string, gpm: number, vp: number): APIService => ({
    metadata: { name: `${version}.${group}` },
    spec: {
      group,
      version,
      service: { namespace: 'x', name: 'y' },
      groupPriorityMinimum: gpm,
      versionPriority: vp,
    },
  })

  it("sorts groups by priority then name, versions by priority then as Kubernetes versions, as kube's aggregator", () => {
    const groups = orderedGroups(
      [
        { group: '', versions: ['v1'] },
        { group: 'batch', versions: ['v1'] },
        { group: 'apps', versions: ['v1'] },
        { group: 'apiregistration.k8s.io', versions: ['v1'] },
        { group: 'example.com', versions: ['v1beta1', 'v1'] },
      ],
      [
        remote('metrics.k8s.io', 'v1beta1', 100, 100),
        remote('aaa.example.com', 'v1alpha1', 100, 10),
        remote('aaa.example.com', 'v2', 100, 10),
        remote('aaa.example.com', 'v1', 100, 20),
      ],
    )
    expect(groups.map((g) => [g.group, g.versions])).toEqual([
      ['apiregistration.k8s.io', ['v1']],
      ['', ['v1']],
      ['apps', ['v1']],
      ['batch', ['v1']],
      ['example.com', ['v1', 'v1beta1']],
      ['aaa.example.com', ['v1', 'v2', 'v1alpha1']],
      ['metrics.k8s.io', ['v1beta1']],
    ])
  })

  it('orders versions GA, beta, alpha, then the rest by name', () => {
    const vs = ['v1alpha1', 'foo10', 'v11beta2', 'v10', 'v2', 'v12alpha1', 'v1', 'v3beta1', 'foo1']
    expect(vs.sort(compareKubeAwareVersions)).toEqual([
      'v10',
      'v2',
      'v1',
      'v11beta2',
      'v3beta1',
      'v12alpha1',
      'v1alpha1',
      'foo1',
      'foo10',
    ])
  })
})

// The disruption controller against an in-memory Store that hands each write to the manager, as the
// ClusterStore Durable Object does; the clock is the test's, to step past DeletionTimeout.
import { describe, expect, it } from 'vitest'
import { ControllerManager } from '../../src/controllers/manager'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject, RequestContext } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'

const ctx = (): RequestContext => ({ dryRun: false, warnings: [] })
const NS = 'default'

function cluster() {
  const store = new MemoryStore()
  const registry = new Registry(builtinResources)
  const logs: string[] = []
  let clock = Date.parse('2026-12-04T10:00:00Z')
  const manager = new ControllerManager(store, registry, {
    log: (msg) => logs.push(msg),
    now: () => clock,
  })
  store.onWrite = (e) => manager.observe(e)
  const api = (group: string, resource: string) => {
    const t = registry.all().find((x) => x.group === group && x.resource === resource && !x.convert)
    if (!t) throw new Error(`no ${resource}.${group}`)
    return new RegistryStore(t, store)
  }
  const settle = async () => {
    for (let i = 0; i < 100; i++) {
      const next = await manager.run()
      if (next === undefined || next > 0) return next
    }
    throw new Error('the loops did not settle')
  }
  const create = (group: string, resource: string, obj: KubeObject) =>
    api(group, resource).create(NS, structuredClone(obj), ctx())
  const pdb = async (name: string) =>
    (await api('policy', 'poddisruptionbudgets').get(NS, name)) as any
  const setReady = (name: string, ready: boolean) =>
    api('', 'pods').update(
      NS,
      name,
      (cur) => ({
        ...cur!,
        status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
      }),
      ctx(),
      'status',
    )
  return {
    store,
    api,
    settle,
    create,
    pdb,
    setReady,
    logs,
    advance: (ms: number) => (clock += ms),
    now: () => clock,
  }
}

type Cluster = ReturnType<typeof cluster>

const podOf = (name: string, labels: Record<string, string>, owner?: KubeObject): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: NS,
    labels,
    ownerReferences: owner
      ? [
          {
            apiVersion: owner.apiVersion!,
            kind: owner.kind!,
            name: owner.metadata!.name!,
            uid: owner.metadata!.uid!,
            controller: true,
          },
        ]
      : undefined,
  },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
})

async function replicaSet(c: Cluster, name: string, replicas: number): Promise<KubeObject> {
  return c.create('apps', 'replicasets', {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  })
}

const budget = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name, namespace: NS },
  spec,
})

describe('disruption controller', () => {
  it('counts healthy pods against minAvailable and allows the difference', async () => {
    const c = cluster()
    for (const n of ['a', 'b', 'c']) await c.create('', 'pods', podOf(n, { app: 'db' }))
    await c.setReady('a', true)
    await c.setReady('b', true)
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('db', { minAvailable: 1, selector: { matchLabels: { app: 'db' } } }),
    )
    await c.settle()
    const s = (await c.pdb('db')).status
    expect(s).toMatchObject({
      observedGeneration: 1,
      expectedPods: 3,
      desiredHealthy: 1,
      currentHealthy: 2,
      disruptionsAllowed: 1,
    })
    expect(s.conditions).toEqual([
      {
        type: 'DisruptionAllowed',
        status: 'True',
        reason: 'SufficientPods',
        message: '',
        observedGeneration: 1,
        lastTransitionTime: '2026-12-04T10:00:00Z',
      },
    ])
    // A pod turning unready is seen at once: no disruption left.
    await c.setReady('a', false)
    c.advance(5000)
    await c.settle()
    const after = (await c.pdb('db')).status
    expect(after).toMatchObject({ currentHealthy: 1, disruptionsAllowed: 0 })
    expect(after.conditions[0]).toMatchObject({
      status: 'False',
      reason: 'InsufficientPods',
      lastTransitionTime: '2026-12-04T10:00:05Z',
    })
  })

  it('takes expectedPods from the workloads for maxUnavailable and percentages', async () => {
    const c = cluster()
    const rs = await replicaSet(c, 'web', 4)
    for (const n of ['web-1', 'web-2', 'web-3']) {
      await c.create('', 'pods', podOf(n, { app: 'web' }, rs))
      await c.setReady(n, true)
    }
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('web-max', { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } }),
    )
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('web-pct', { minAvailable: '50%', selector: { matchLabels: { app: 'web' } } }),
    )
    await c.settle()
    // Four replicas wanted, three ready: one may be unavailable, and it already is.
    expect((await c.pdb('web-max')).status).toMatchObject({
      expectedPods: 4,
      desiredHealthy: 3,
      currentHealthy: 3,
      disruptionsAllowed: 0,
    })
    expect((await c.pdb('web-pct')).status).toMatchObject({
      expectedPods: 4,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    })
    // Scaling the ReplicaSet down changes what the budgets expect.
    await c
      .api('apps', 'replicasets')
      .update(
        NS,
        'web',
        (cur) => ({ ...cur!, spec: { ...(cur!.spec as object), replicas: 3 } }),
        ctx(),
      )
    await c.settle()
    expect((await c.pdb('web-max')).status).toMatchObject({
      expectedPods: 3,
      disruptionsAllowed: 1,
    })
  })

  it('counts a Deployment’s replicas for the pods of its ReplicaSet', async () => {
    const c = cluster()
    const d = await c.create('apps', 'deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: NS },
      spec: {
        replicas: 5,
        selector: { matchLabels: { app: 'api' } },
        template: {
          metadata: { labels: { app: 'api' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    })
    const rs = await c.create('apps', 'replicasets', {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: 'api-1',
        namespace: NS,
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: 'api',
            uid: d.metadata!.uid!,
            controller: true,
          },
        ],
      },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'api' } },
        template: {
          metadata: { labels: { app: 'api' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    })
    await c.create('', 'pods', podOf('api-x', { app: 'api' }, rs))
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('api', { maxUnavailable: '20%', selector: { matchLabels: { app: 'api' } } }),
    )
    await c.settle()
    expect((await c.pdb('api')).status).toMatchObject({ expectedPods: 5, desiredHealthy: 4 })
  })

  it('fails safe with SyncFailed when a pod’s controller has no scale', async () => {
    const c = cluster()
    // A controller that exists (so the garbage collector keeps the pod) but has no scale subresource.
    const owner = await c.create('', 'configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'owner', namespace: NS },
    })
    await c.create('', 'pods', podOf('orphan', { app: 'o' }, owner))
    await c.setReady('orphan', true)
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('o', { maxUnavailable: 1, selector: { matchLabels: { app: 'o' } } }),
    )
    await c.settle()
    const s = (await c.pdb('o')).status
    expect(s.disruptionsAllowed).toBe(0)
    expect(s.conditions).toEqual([
      expect.objectContaining({
        type: 'DisruptionAllowed',
        status: 'False',
        reason: 'SyncFailed',
        message: 'configmaps does not implement the scale subresource',
      }),
    ])
  })

  it('selects nothing with no selector and every pod of the namespace with an empty one', async () => {
    const c = cluster()
    await c.create('', 'pods', podOf('x', { app: 'x' }))
    await c.setReady('x', true)
    await c.create('policy', 'poddisruptionbudgets', budget('none', { minAvailable: 0 }))
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('all', { minAvailable: 0, selector: {} }),
    )
    await c.settle()
    expect((await c.pdb('none')).status).toMatchObject({ expectedPods: 0, disruptionsAllowed: 0 })
    expect((await c.pdb('all')).status).toMatchObject({ expectedPods: 1, disruptionsAllowed: 1 })
  })

  it('keeps an eviction in disruptedPods until its pod goes, or until DeletionTimeout passes', async () => {
    const c = cluster()
    for (const n of ['a', 'b']) {
      await c.create('', 'pods', podOf(n, { app: 'q' }))
      await c.setReady(n, true)
    }
    await c.create(
      'policy',
      'poddisruptionbudgets',
      budget('q', { minAvailable: 1, selector: { matchLabels: { app: 'q' } } }),
    )
    await c.settle()
    expect((await c.pdb('q')).status.disruptionsAllowed).toBe(1)
    // What pods/eviction writes when it gives a disruption to pod a, which then is not deleted.
    const at = new Date(c.now()).toISOString().replace(/\.\d+Z$/, 'Z')
    await c.api('policy', 'poddisruptionbudgets').update(
      NS,
      'q',
      (cur) => ({
        ...cur!,
        status: { ...(cur!.status as object), disruptionsAllowed: 0, disruptedPods: { a: at } },
      }),
      ctx(),
      'status',
    )
    const next = await c.settle()
    expect((await c.pdb('q')).status).toMatchObject({
      currentHealthy: 1,
      disruptionsAllowed: 0,
      disruptedPods: { a: at },
    })
    // The controller asked to look again once the two minutes are up.
    expect(next).toBeGreaterThan(0)
    expect(next).toBeLessThanOrEqual(120_001)
    c.advance(121_000)
    await c.settle()
    const s = (await c.pdb('q')).status
    expect(s.disruptedPods).toBeUndefined()
    expect(s).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 1 })
  })

  it('turns a stale DisruptionTarget condition False after two minutes', async () => {
    const c = cluster()
    await c.create('', 'pods', podOf('marked', { app: 'm' }))
    await c.api('', 'pods').update(
      NS,
      'marked',
      (cur) => ({
        ...cur!,
        status: {
          conditions: [
            {
              type: 'DisruptionTarget',
              status: 'True',
              reason: 'EvictionByEvictionAPI',
              message: 'Eviction API: evicting',
              lastTransitionTime: new Date(c.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          ],
        },
      }),
      ctx(),
      'status',
    )
    expect(await c.settle()).toBeGreaterThan(100_000)
    c.advance(120_000)
    await c.settle()
    const pod = (await c.api('', 'pods').get(NS, 'marked')) as any
    expect(pod.status.conditions).toEqual([
      {
        type: 'DisruptionTarget',
        status: 'False',
        lastProbeTime: null,
        lastTransitionTime: '2026-12-04T10:02:00Z',
      },
    ])
    expect(c.logs).toEqual([])
  })
})

// The control loops against an in-memory Store that hands each write to the manager, as the ClusterStore
// Durable Object does, and against its watch, as Node mode does.
import { describe, expect, it } from 'vitest'
import { customResourceTypes } from '../../src/apiextensions/custom-resource'
import type { CRD } from '../../src/apiextensions/types'
import { ControllerManager } from '../../src/controllers/manager'
import { startControllers } from '../../src/controllers/run'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject, OwnerReference, RequestContext } from '../../src/registry/types'
import type { StoreEvent } from '../../src/storage/store'
import { MemoryStore } from '../helpers/memory-store'

const CA = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n'
const ctx = (): RequestContext => ({ dryRun: false, warnings: [] })

function cluster(opts: { rootCA?: string } = { rootCA: CA }) {
  const store = new MemoryStore()
  const registry = new Registry(builtinResources)
  const logs: string[] = []
  const writes: StoreEvent[] = []
  const managers: ControllerManager[] = []
  const newManager = () => {
    const m = new ControllerManager(store, registry, {
      rootCA: opts.rootCA,
      log: (msg) => logs.push(msg),
    })
    managers.push(m)
    return m
  }
  const manager = newManager()
  store.onWrite = (e) => {
    writes.push(e)
    for (const m of managers) m.observe(e)
  }
  const api = (group: string, resource: string) => {
    const t = registry.all().find((x) => x.group === group && x.resource === resource && !x.convert)
    if (!t) throw new Error(`no ${resource}.${group}`)
    return new RegistryStore(t, store)
  }
  /** Runs the loops until nothing is due now; returns in how many ms more is due (undefined: nothing queued). */
  const settle = async (m = manager) => {
    for (let i = 0; i < 100; i++) {
      const next = await m.run()
      if (next === undefined || next > 0) return next
    }
    throw new Error('the loops did not settle')
  }
  const create = (group: string, resource: string, obj: KubeObject) =>
    api(group, resource).create(obj.metadata?.namespace, structuredClone(obj), ctx())
  const namespace = (name: string) =>
    create('', 'namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
  const deletedKeys = () =>
    writes.filter((w) => w.type === 'delete').map((w) => (w as { kv: { key: string } }).kv.key)
  return {
    store,
    registry,
    manager,
    newManager,
    api,
    settle,
    create,
    namespace,
    logs,
    writes,
    deletedKeys,
  }
}

const ref = (owner: KubeObject, block = true): OwnerReference => ({
  apiVersion: owner.apiVersion!,
  kind: owner.kind!,
  name: owner.metadata!.name!,
  uid: owner.metadata!.uid!,
  controller: true,
  blockOwnerDeletion: block,
})

function pod(
  namespace: string,
  name: string,
  owners: OwnerReference[] = [],
  resources?: Record<string, unknown>,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ownerReferences: owners.length ? owners : undefined },
    spec: { containers: [{ name: 'c', image: 'nginx', ...(resources ? { resources } : {}) }] },
  }
}

function deployment(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  }
}

function replicaSet(namespace: string, name: string, owner: KubeObject): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace, ownerReferences: [ref(owner)] },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  }
}

describe('namespace lifecycle', () => {
  it('moves a deleted namespace to Terminating and answers with it', async () => {
    const c = cluster()
    await c.namespace('doomed')
    const { object, deleted } = await c.api('', 'namespaces').delete(undefined, 'doomed', {}, ctx())
    expect(deleted).toBe(false)
    expect(object.metadata?.deletionTimestamp).toBeTruthy()
    expect(object.status).toEqual({ phase: 'Terminating' })
    expect(object.spec).toEqual({ finalizers: ['kubernetes'] })
  })

  it('deletes every object in the namespace, custom resources included, then the namespace', async () => {
    const c = cluster()
    await c.namespace('doomed')
    await c.namespace('kept')
    await c.create('', 'configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm', namespace: 'doomed' },
    })
    await c.create('', 'configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm', namespace: 'kept' },
    })
    await c.create('apps', 'deployments', deployment('doomed', 'web'))
    // A CRD and one of its custom resources, stored as the CRD code stores them.
    await c.store.create(
      '/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com',
      JSON.stringify({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'widgets.example.com', uid: 'crd-uid' },
        spec: {
          group: 'example.com',
          scope: 'Namespaced',
          names: { plural: 'widgets', kind: 'Widget' },
          versions: [{ name: 'v1', served: true, storage: true }],
        },
      }),
    )
    await c.store.create(
      '/registry/example.com/widgets/doomed/w1',
      JSON.stringify({
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w1', namespace: 'doomed', uid: 'w1-uid' },
      }),
    )
    await c.settle()
    expect(c.store.keys('/registry/serviceaccounts/doomed/')).toEqual([
      '/registry/serviceaccounts/doomed/default',
    ])

    await c.api('', 'namespaces').delete(undefined, 'doomed', {}, ctx())
    await c.settle()
    expect(c.store.keys('/registry/namespaces/doomed')).toEqual([])
    for (const prefix of [
      '/registry/configmaps/doomed/',
      '/registry/deployments/doomed/',
      '/registry/serviceaccounts/doomed/',
      '/registry/example.com/widgets/doomed/',
    ]) {
      expect(c.store.keys(prefix)).toEqual([])
    }
    expect(c.store.keys('/registry/configmaps/kept/')).toEqual([
      '/registry/configmaps/kept/cm',
      '/registry/configmaps/kept/kube-root-ca.crt',
    ])
    expect(c.logs).toEqual([])
  })

  it('deletes custom resources of a CRD with a conversion webhook in their stored version, without calling the webhook', async () => {
    const c = cluster()
    await c.namespace('doomed')
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com', uid: 'crd-uid' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        conversion: {
          strategy: 'Webhook',
          webhook: {
            conversionReviewVersions: ['v1'],
            clientConfig: { url: 'https://127.0.0.1:9/convert' },
          },
        },
        versions: [
          { name: 'v1', served: true, storage: true },
          { name: 'v2', served: true, storage: false },
        ],
      },
      status: { conditions: [{ type: 'Established', status: 'True' }] },
    } as CRD
    await c.store.create(
      '/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com',
      JSON.stringify(crd),
    )
    // The served types, as the API's CRD table registers them (v2 first: kube's version priority).
    const calls: string[] = []
    for (const t of customResourceTypes(crd, {
      fetch: async (call) => {
        calls.push(call.url)
        throw new Error('unreachable')
      },
    }).reverse())
      c.registry.add(t)
    await c.store.create(
      '/registry/example.com/widgets/doomed/w1',
      JSON.stringify({
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: {
          name: 'w1',
          namespace: 'doomed',
          uid: 'w1-uid',
          finalizers: ['example.com/hold'],
        },
      }),
    )
    await c.settle()

    await c.api('', 'namespaces').delete(undefined, 'doomed', {}, ctx())
    await c.settle()
    const held = JSON.parse(c.store.data.get('/registry/example.com/widgets/doomed/w1')!.value)
    expect(held.apiVersion).toBe('example.com/v1')
    expect(held.metadata.deletionTimestamp).toBeDefined()
    expect(calls).toEqual([])
    expect(c.logs).toEqual([])
  })

  it('waits for content with finalizers and says so in its conditions, as kube-controller-manager does', async () => {
    const c = cluster()
    await c.namespace('slow')
    await c.create('', 'configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'held', namespace: 'slow', finalizers: ['example.com/hold'] },
    })
    await c.settle()
    await c.api('', 'namespaces').delete(undefined, 'slow', {}, ctx())
    const next = await c.settle()
    expect(next).toBeGreaterThan(0) // looks again later (finalizerEstimateSeconds), or when the content changes
    const ns = c.store.object('/registry/namespaces/slow')!
    expect(ns.status.phase).toBe('Terminating')
    const byType = Object.fromEntries(
      (ns.status.conditions as { type: string }[]).map((x) => [x.type, x]),
    )
    expect(Object.keys(byType)).toEqual([
      'NamespaceDeletionDiscoveryFailure',
      'NamespaceDeletionGroupVersionParsingFailure',
      'NamespaceDeletionContentFailure',
      'NamespaceContentRemaining',
      'NamespaceFinalizersRemaining',
    ])
    expect(byType.NamespaceDeletionDiscoveryFailure).toMatchObject({
      status: 'False',
      reason: 'ResourcesDiscovered',
      message: 'All resources successfully discovered',
    })
    expect(byType.NamespaceDeletionContentFailure).toMatchObject({
      status: 'False',
      reason: 'ContentDeleted',
      message: 'All content successfully deleted, may be waiting on finalization',
    })
    expect(byType.NamespaceContentRemaining).toMatchObject({
      status: 'True',
      reason: 'SomeResourcesRemain',
      message: 'Some resources are remaining: configmaps. has 1 resource instances',
    })
    expect(byType.NamespaceFinalizersRemaining).toMatchObject({
      status: 'True',
      reason: 'SomeFinalizersRemain',
      message:
        'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances',
    })
    expect(
      c.store.object('/registry/configmaps/slow/held')!.metadata.deletionTimestamp,
    ).toBeTruthy()

    // The finalizer's owner lets go: the configmap goes, and with it the namespace.
    await c
      .api('', 'configmaps')
      .update(
        'slow',
        'held',
        (cur) => ({ ...cur!, metadata: { ...cur!.metadata, finalizers: [] } }),
        ctx(),
      )
    await c.settle()
    expect(c.store.keys('/registry/configmaps/slow/')).toEqual([])
    expect(c.store.keys('/registry/namespaces/slow')).toEqual([])
  })

  it('finishes a deletion a previous manager started (a restart halfway)', async () => {
    const c = cluster()
    await c.namespace('halfway')
    for (let i = 0; i < 3; i++)
      await c.create('', 'secrets', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `s${i}`, namespace: 'halfway' },
      })
    await c.settle()
    await c.api('', 'namespaces').delete(undefined, 'halfway', {}, ctx())
    // The first manager never runs again; a new one starts from a resync.
    const fresh = c.newManager()
    await c.settle(fresh)
    expect(c.store.keys('/registry/namespaces/halfway')).toEqual([])
    expect(c.store.keys('/registry/secrets/halfway/')).toEqual([])
  })

  it('finishes when two managers race over the same namespace', async () => {
    const c = cluster()
    await c.namespace('raced')
    for (let i = 0; i < 5; i++)
      await c.create('', 'configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm${i}`, namespace: 'raced' },
      })
    const other = c.newManager()
    await Promise.all([c.settle(), c.settle(other)])
    await c.api('', 'namespaces').delete(undefined, 'raced', {}, ctx())
    await Promise.all([c.settle(), c.settle(other)])
    await Promise.all([c.settle(), c.settle(other)])
    expect(c.store.keys('/registry/namespaces/raced')).toEqual([])
    expect(c.store.keys('/registry/configmaps/raced/')).toEqual([])
    expect(c.logs).toEqual([])
  })
})

describe('garbage collection', () => {
  it('deletes the dependents of a deleted owner (background)', async () => {
    const c = cluster()
    await c.namespace('gc')
    const d = await c.create('apps', 'deployments', deployment('gc', 'web'))
    const rs = await c.create('apps', 'replicasets', replicaSet('gc', 'web-1', d))
    await c.create('', 'pods', pod('gc', 'web-1-a', [ref(rs)]))
    await c.settle()
    await c
      .api('apps', 'deployments')
      .delete('gc', 'web', { propagationPolicy: 'Background' }, ctx())
    await c.settle()
    expect(c.store.keys('/registry/replicasets/gc/')).toEqual([])
    expect(c.store.keys('/registry/pods/gc/')).toEqual([])
  })

  it('deletes an object created with an owner that does not exist, and drops a gone owner when another remains', async () => {
    const c = cluster()
    await c.namespace('gc')
    const alive = await c.create('', 'configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'alive', namespace: 'gc' },
    })
    const ghost: OwnerReference = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'ghost',
      uid: 'no-such-uid',
    }
    await c.create('', 'secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'orphaned', namespace: 'gc', ownerReferences: [ghost] },
    })
    await c.create('', 'secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'shared', namespace: 'gc', ownerReferences: [ghost, ref(alive, false)] },
    })
    await c.settle()
    expect(c.store.keys('/registry/secrets/gc/orphaned')).toEqual([])
    expect(c.store.object('/registry/secrets/gc/shared')!.metadata.ownerReferences).toEqual([
      ref(alive, false),
    ])
  })

  it('deletes children before their owners in the foreground', async () => {
    const c = cluster()
    await c.namespace('fg')
    const d = await c.create('apps', 'deployments', deployment('fg', 'web'))
    const rs = await c.create('apps', 'replicasets', replicaSet('fg', 'web-1', d))
    await c.create('', 'pods', pod('fg', 'web-1-a', [ref(rs)]))
    await c.create('', 'pods', pod('fg', 'web-1-b', [ref(rs)]))
    await c.settle()
    const { object, deleted } = await c
      .api('apps', 'deployments')
      .delete('fg', 'web', { propagationPolicy: 'Foreground' }, ctx())
    expect(deleted).toBe(false)
    expect(object.metadata?.finalizers).toEqual(['foregroundDeletion'])
    await c.settle()
    const order = c.deletedKeys().filter((k) => k.includes('/fg/'))
    expect(order).toHaveLength(4)
    expect(order.slice(0, 2).sort()).toEqual([
      '/registry/pods/fg/web-1-a',
      '/registry/pods/fg/web-1-b',
    ])
    expect(order.slice(2)).toEqual([
      '/registry/replicasets/fg/web-1',
      '/registry/deployments/fg/web',
    ])
  })

  it('orphans the dependents of an owner deleted with the orphan finalizer', async () => {
    const c = cluster()
    await c.namespace('or')
    const d = await c.create('apps', 'deployments', deployment('or', 'web'))
    const rs = await c.create('apps', 'replicasets', replicaSet('or', 'web-1', d))
    await c.create('', 'pods', pod('or', 'web-1-a', [ref(rs)]))
    await c.settle()
    await c.api('apps', 'replicasets').delete('or', 'web-1', { propagationPolicy: 'Orphan' }, ctx())
    await c.settle()
    expect(c.store.keys('/registry/replicasets/or/')).toEqual([])
    expect(c.store.object('/registry/pods/or/web-1-a')!.metadata.ownerReferences).toBeUndefined()
    // The deployment still owns nothing that is gone: it stays.
    expect(c.store.keys('/registry/deployments/or/')).toEqual(['/registry/deployments/or/web'])
  })

  it('rebuilds its view of owners on resync and collects what a restart missed', async () => {
    const c = cluster()
    await c.namespace('rs')
    const cm = await c.create('', 'configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'owner', namespace: 'rs' },
    })
    await c.create('', 'secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'dep', namespace: 'rs', ownerReferences: [ref(cm)] },
    })
    await c.settle()
    // The owner goes while no manager is watching (the store is written past the managers).
    c.store.onWrite = undefined
    await c.api('', 'configmaps').delete('rs', 'owner', {}, ctx())
    const fresh = new ControllerManager(c.store, c.registry, { log: (m) => c.logs.push(m) })
    await c.settle(fresh)
    expect(c.store.keys('/registry/secrets/rs/')).toEqual([])
  })
})

describe('service accounts and the root CA', () => {
  it('publishes the default ServiceAccount and kube-root-ca.crt in a new namespace, and restores them', async () => {
    const c = cluster()
    await c.namespace('fresh')
    await c.settle()
    expect(c.store.object('/registry/serviceaccounts/fresh/default')).toMatchObject({
      kind: 'ServiceAccount',
      metadata: { name: 'default', namespace: 'fresh' },
    })
    const cm = c.store.object('/registry/configmaps/fresh/kube-root-ca.crt')!
    expect(cm.data).toEqual({ 'ca.crt': CA })
    expect(cm.metadata.annotations['kubernetes.io/description']).toBe(
      'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
    )

    await c.api('', 'serviceaccounts').delete('fresh', 'default', {}, ctx())
    await c
      .api('', 'configmaps')
      .update(
        'fresh',
        'kube-root-ca.crt',
        (cur) => ({ ...cur!, data: { 'ca.crt': 'tampered' } }),
        ctx(),
      )
    await c.settle()
    expect(c.store.keys('/registry/serviceaccounts/fresh/')).toEqual([
      '/registry/serviceaccounts/fresh/default',
    ])
    expect(c.store.object('/registry/configmaps/fresh/kube-root-ca.crt')!.data).toEqual({
      'ca.crt': CA,
    })
  })

  it('publishes no ConfigMap without a CA', async () => {
    const c = cluster({})
    await c.namespace('noca')
    await c.settle()
    expect(c.store.keys('/registry/serviceaccounts/noca/')).toEqual([
      '/registry/serviceaccounts/noca/default',
    ])
    expect(c.store.keys('/registry/configmaps/noca/')).toEqual([])
  })
})

describe('ClusterRole aggregation', () => {
  it('keeps an aggregated role the union of the rules of the roles it selects', async () => {
    const c = cluster()
    const label = 'example.com/aggregate-to-monitoring'
    await c.create('rbac.authorization.k8s.io', 'clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'monitoring' },
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [label]: 'true' } }] },
    })
    await c.create('rbac.authorization.k8s.io', 'clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'b-pods', labels: { [label]: 'true' } },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    })
    await c.create('rbac.authorization.k8s.io', 'clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'a-services', labels: { [label]: 'true' } },
      rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get'] }],
    })
    await c.settle()
    expect(c.store.object('/registry/clusterroles/monitoring')!.rules).toEqual([
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    ])
    // A role that stops matching takes its rules with it.
    await c
      .api('rbac.authorization.k8s.io', 'clusterroles')
      .update(
        undefined,
        'b-pods',
        (cur) => ({ ...cur!, metadata: { ...cur!.metadata, labels: {} } }),
        ctx(),
      )
    await c.settle()
    expect(c.store.object('/registry/clusterroles/monitoring')!.rules).toEqual([
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
    ])
  })
})

describe('resource quota status', () => {
  it('keeps status.hard and status.used current with kube quantities', async () => {
    const c = cluster()
    await c.namespace('q')
    await c.create('', 'resourcequotas', {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'quota', namespace: 'q' },
      spec: {
        hard: {
          pods: '10',
          'requests.cpu': '2',
          'requests.memory': '1Gi',
          'limits.memory': '2Gi',
          configmaps: '5',
          services: '3',
          'services.nodeports': '4',
          'count/deployments.apps': '2',
          'example.com/unknown': '1',
        },
      },
    })
    await c.settle()
    expect(c.store.object('/registry/resourcequotas/q/quota')!.status).toEqual({
      hard: {
        configmaps: '5',
        'count/deployments.apps': '2',
        'example.com/unknown': '1',
        'limits.memory': '2Gi',
        pods: '10',
        'requests.cpu': '2',
        'requests.memory': '1Gi',
        services: '3',
        'services.nodeports': '4',
      },
      // kube-root-ca.crt is a configmap too.
      used: {
        configmaps: '1',
        'count/deployments.apps': '0',
        'limits.memory': '0',
        pods: '0',
        'requests.cpu': '0',
        'requests.memory': '0',
        services: '0',
        'services.nodeports': '0',
      },
    })
    await c.create(
      '',
      'pods',
      pod('q', 'a', [], { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } }),
    )
    await c.create('', 'pods', pod('q', 'b', [], { requests: { cpu: '250m', memory: '128Mi' } }))
    await c.create('', 'pods', { ...pod('q', 'done', [], { requests: { cpu: '1' } }) })
    await c
      .api('', 'pods')
      .update('q', 'done', (cur) => ({ ...cur!, status: { phase: 'Succeeded' } }), ctx(), 'status')
    await c.create('', 'services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'np', namespace: 'q' },
      spec: {
        type: 'NodePort',
        ports: [
          { name: 'http', port: 80 },
          { name: 'https', port: 443 },
        ],
      },
    })
    await c.create('apps', 'deployments', deployment('q', 'web'))
    // Creations are charged by admission (not run here); the controller counts them at its periodic resync.
    await c.manager.run({ resync: true })
    await c.settle()
    expect(c.store.object('/registry/resourcequotas/q/quota')!.status.used).toEqual({
      configmaps: '1',
      'count/deployments.apps': '1',
      'limits.memory': '128Mi',
      pods: '2',
      'requests.cpu': '350m',
      'requests.memory': '192Mi',
      services: '1',
      'services.nodeports': '2',
    })
  })

  it('leaves the usage admission charged for a creation, and recounts when usage is given back', async () => {
    const c = cluster()
    await c.namespace('q')
    await c.create('', 'resourcequotas', {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'quota', namespace: 'q' },
      spec: { hard: { pods: '10' } },
    })
    await c.settle()
    // As admission leaves it while two more pods it admitted are still on their way to the store.
    await c
      .api('', 'resourcequotas')
      .update(
        'q',
        'quota',
        (cur) => ({ ...cur!, status: { hard: { pods: '10' }, used: { pods: '3' } } }),
        ctx(),
        'status',
      )
    await c.create('', 'pods', pod('q', 'a'))
    await c.settle()
    expect(c.store.object('/registry/resourcequotas/q/quota')!.status.used).toEqual({ pods: '3' })
    await c.api('', 'pods').delete('q', 'a', {}, ctx())
    await c.settle()
    expect(c.store.object('/registry/resourcequotas/q/quota')!.status.used).toEqual({ pods: '0' })
  })

  it('counts only the pods a scoped quota selects', async () => {
    const c = cluster()
    await c.namespace('q')
    await c.create('', 'resourcequotas', {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'best-effort', namespace: 'q' },
      spec: { hard: { pods: '5' }, scopes: ['BestEffort'] },
    })
    await c.create('', 'pods', pod('q', 'free'))
    await c.create('', 'pods', pod('q', 'paid', [], { requests: { cpu: '1' } }))
    await c.manager.run({ resync: true })
    await c.settle()
    expect(c.store.object('/registry/resourcequotas/q/best-effort')!.status).toEqual({
      hard: { pods: '5' },
      used: { pods: '1' },
    })
  })
})

describe('startControllers (Node mode)', () => {
  it('follows the store through its watch', async () => {
    const c = cluster()
    c.store.onWrite = undefined // no in-process hand-off: the watch is the only feed
    await c.namespace('before')
    const running = startControllers(c.store, c.registry, {
      rootCA: CA,
      log: (m) => c.logs.push(m),
    })
    try {
      await c.namespace('after')
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && c.store.keys('/registry/serviceaccounts/after/').length === 0)
        await new Promise((r) => setTimeout(r, 20))
      expect(c.store.keys('/registry/serviceaccounts/')).toEqual([
        '/registry/serviceaccounts/after/default',
        '/registry/serviceaccounts/before/default',
      ])
      await c.api('', 'namespaces').delete(undefined, 'after', {}, ctx())
      while (Date.now() < deadline && c.store.keys('/registry/namespaces/after').length)
        await new Promise((r) => setTimeout(r, 20))
      expect(c.store.keys('/registry/namespaces/after')).toEqual([])
    } finally {
      await running.stop()
    }
    expect(c.logs).toEqual([])
  })
})

// The control loops as kubectl sees them: namespace deletion, cascading deletes, default service accounts and
// the root CA, ClusterRole aggregation, and a namespace deletion that survives a restart.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start()
})
afterAll(async () => {
  await server?.dispose()
})

const apply = (obj: unknown) =>
  server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) }).then((r) => {
    if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`)
    return r.stdout
  })
const json = async (...args: string[]) => JSON.parse(await server.k(...args, '-o', 'json'))

/** Polls until ok(value) or about 30 s have passed; returns the last value (assertions follow, no timing). */
async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn()
  for (let i = 0; i < 300 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100))
    v = await fn()
  }
  return v
}

const names = async (...args: string[]) =>
  (await server.k('get', ...args, '-o', 'name', '--ignore-not-found')).split('\n').filter(Boolean)

function namespace(name: string) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }
}

function template(app: string) {
  return { metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }
}

/** A Deployment, a ReplicaSet it owns and two Pods the ReplicaSet owns, as the controllers would make them. */
async function workload(ns: string, name: string): Promise<void> {
  await apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: { selector: { matchLabels: { app: name } }, template: template(name) },
  })
  const d = await json('get', 'deployment', name, '-n', ns)
  await apply({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${name}-1`,
      namespace: ns,
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name,
          uid: d.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: { selector: { matchLabels: { app: name } }, template: template(name) },
  })
  const rs = await json('get', 'replicaset', `${name}-1`, '-n', ns)
  for (const p of ['a', 'b']) {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${name}-1-${p}`,
        namespace: ns,
        labels: { app: name },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: `${name}-1`,
            uid: rs.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: template(name).spec,
    })
  }
}

/** The DELETED events of a collection since a revision, replayed by a watch from it: [name, deletion revision]. */
async function deletions(path: string, since: string): Promise<[string, number][]> {
  const out = await server.k(
    'get',
    '--raw',
    `${path}?watch=1&resourceVersion=${since}&timeoutSeconds=1`,
  )
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'DELETED')
    .map((e) => [e.object.metadata.name, Number(e.object.metadata.resourceVersion)])
}

describe('namespaces', () => {
  it('kubectl delete ns returns once the namespace and everything in it are gone', async () => {
    await apply(namespace('doomed'))
    await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'doomed' },
      data: { a: 'b' },
    })
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds', namespace: 'doomed' },
      stringData: { p: 'q' },
    })
    await workload('doomed', 'web')
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'doomed' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    })

    const r = await server.kubectl(['delete', 'namespace', 'doomed'])
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('namespace "doomed" deleted\n')
    expect(await names('namespace', 'doomed')).toEqual([])
    for (const kind of [
      'configmaps',
      'secrets',
      'deployments',
      'replicasets',
      'pods',
      'services',
      'serviceaccounts',
    ]) {
      expect(await names(kind, '-n', 'doomed')).toEqual([])
    }
  })

  it('stays Terminating, with kube conditions, while content has finalizers', async () => {
    await apply(namespace('held'))
    await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'held', namespace: 'held', finalizers: ['example.com/hold'] },
    })
    await server.k('delete', 'namespace', 'held', '--wait=false')
    const ns = await eventually(
      () => json('get', 'namespace', 'held'),
      (n) =>
        (n.status?.conditions ?? []).some(
          (c: { type: string; status: string }) =>
            c.type === 'NamespaceFinalizersRemaining' && c.status === 'True',
        ),
    )
    expect(ns.status.phase).toBe('Terminating')
    expect(ns.spec.finalizers).toEqual(['kubernetes'])
    expect(
      ns.status.conditions.find((c: { type: string }) => c.type === 'NamespaceFinalizersRemaining'),
    ).toMatchObject({
      status: 'True',
      reason: 'SomeFinalizersRemain',
      message:
        'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances',
    })
    expect(await server.k('get', 'namespace', 'held', '--no-headers')).toMatch(
      /^held\s+Terminating\s/,
    )
    const refused = await server.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'late', namespace: 'held' },
      }),
    })
    expect(refused.code).not.toBe(0)

    await server.k(
      'patch',
      'configmap',
      'held',
      '-n',
      'held',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    )
    await server.k('wait', '--for=delete', 'namespace/held', '--timeout=30s')
    expect(await names('namespace', 'held')).toEqual([])
  })

  it('kubectl replace --raw .../finalize with no finalizers ends a Terminating namespace at once', async () => {
    await apply(namespace('stuck'))
    await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'held', namespace: 'stuck', finalizers: ['example.com/hold'] },
    })
    await server.k('delete', 'namespace', 'stuck', '--wait=false')
    const ns = await eventually(
      () => json('get', 'namespace', 'stuck'),
      (n) => (n.status?.conditions ?? []).length > 0,
    )
    const r = await server.kubectl(
      ['replace', '--raw', '/api/v1/namespaces/stuck/finalize', '-f', '-'],
      { input: JSON.stringify({ ...ns, spec: { finalizers: [] } }) },
    )
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toMatchObject({
      kind: 'Namespace',
      metadata: { name: 'stuck' },
      spec: { finalizers: [] },
      status: { phase: 'Terminating' },
    })
    expect(await names('namespace', 'stuck')).toEqual([])
    // As with kube-apiserver, content left behind is not deleted by this: the held ConfigMap is still stored.
    expect(await names('configmap', 'held', '-n', 'stuck')).toEqual(['configmap/held'])
    const get = await server.kubectl(['get', '--raw', '/api/v1/namespaces/stuck/finalize'])
    expect(get.code).not.toBe(0)
  })

  it('has the default ServiceAccount and kube-root-ca.crt, with the cluster CA, soon after it is created', async () => {
    await apply(namespace('fresh'))
    const sa = await eventually(
      () => names('serviceaccount', 'default', '-n', 'fresh'),
      (n) => n.length > 0,
    )
    expect(sa).toEqual(['serviceaccount/default'])
    const cm = await eventually(
      () => names('configmap', 'kube-root-ca.crt', '-n', 'fresh'),
      (n) => n.length > 0,
    )
    expect(cm).toEqual(['configmap/kube-root-ca.crt'])
    const data = (await json('get', 'configmap', 'kube-root-ca.crt', '-n', 'fresh')).data
    // The same certificate; the env file it travels in turns the PEM's CRLF line ends into LF.
    expect(data['ca.crt']).toBe(
      readFileSync(join(server.stateDir, 'pki', 'ca.crt'), 'utf8').replace(/\r\n/g, '\n'),
    )
  })
})

describe('cascading deletion', () => {
  beforeAll(async () => {
    await apply(namespace('gc'))
  })

  it('--cascade=foreground deletes the pods, then the ReplicaSet, then the Deployment', async () => {
    await workload('gc', 'fg')
    // kubectl's -o json of a list drops the list's resourceVersion; the raw list has it.
    const since = JSON.parse(await server.k('get', '--raw', '/api/v1/namespaces/gc/pods')).metadata
      .resourceVersion
    const r = await server.kubectl([
      'delete',
      'deployment',
      'fg',
      '-n',
      'gc',
      '--cascade=foreground',
    ])
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('deployment.apps "fg" deleted\n')
    expect(await names('deployment,replicaset,pod', '-n', 'gc', '-l', 'app=fg')).toEqual([])
    const pods = await deletions('/api/v1/namespaces/gc/pods', since)
    const [[, rsGone]] = await deletions('/apis/apps/v1/namespaces/gc/replicasets', since)
    const [[, deploymentGone]] = await deletions('/apis/apps/v1/namespaces/gc/deployments', since)
    expect(pods.map(([n]) => n).sort()).toEqual(['fg-1-a', 'fg-1-b'])
    for (const [, podGone] of pods) expect(podGone).toBeLessThan(rsGone!)
    expect(rsGone).toBeLessThan(deploymentGone!)
  })

  it('--cascade=orphan leaves the dependents without ownerReferences', async () => {
    await workload('gc', 'or')
    const r = await server.kubectl(['delete', 'replicaset', 'or-1', '-n', 'gc', '--cascade=orphan'])
    expect(r.stderr).toBe('')
    expect(await names('replicaset', 'or-1', '-n', 'gc')).toEqual([])
    const pods = await json('get', 'pods', '-n', 'gc', '-l', 'app=or')
    expect(pods.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual([
      'or-1-a',
      'or-1-b',
    ])
    for (const p of pods.items) expect(p.metadata.ownerReferences).toBeUndefined()
    expect(await names('deployment', 'or', '-n', 'gc')).toEqual(['deployment.apps/or'])
  })

  it('the default (background) cascade deletes the dependents after their owner', async () => {
    await workload('gc', 'bg')
    await server.k('delete', 'deployment', 'bg', '-n', 'gc')
    const left = await eventually(
      () => names('replicaset,pod', '-n', 'gc', '-l', 'app=bg'),
      (n) => n.length === 0,
    )
    expect(left).toEqual([])
  })
})

describe('ClusterRole aggregation', () => {
  it('kubectl get clusterrole view shows the aggregated rules', async () => {
    const view = await json('get', 'clusterrole', 'view')
    expect(view.aggregationRule.clusterRoleSelectors).toEqual([
      { matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
    ])
    expect(view.rules.length).toBeGreaterThan(0)
    expect(
      view.rules.some((r: { resources?: string[] }) => r.resources?.includes('configmaps')),
    ).toBe(true)
  })

  it('keeps an aggregated role current as labelled roles come and go', async () => {
    const label = 'example.com/aggregate-to-widgets'
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'widgets' },
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [label]: 'true' } }] },
      rules: [],
    })
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'widgets-read', labels: { [label]: 'true' } },
      rules: [
        { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] },
      ],
    })
    const rules = await eventually(
      async () => (await json('get', 'clusterrole', 'widgets')).rules ?? [],
      (r) => r.length === 1,
    )
    expect(rules).toEqual([
      { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] },
    ])
    // A new labelled role also joins the view role through the bootstrap selectors.
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {
        name: 'widgets-view',
        labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
      },
      rules: [{ apiGroups: ['example.com'], resources: ['gadgets'], verbs: ['get'] }],
    })
    const view = await eventually(
      async () => (await json('get', 'clusterrole', 'view')).rules,
      (r: { resources?: string[] }[]) => r.some((x) => x.resources?.includes('gadgets')),
    )
    expect(view).toContainEqual({
      apiGroups: ['example.com'],
      resources: ['gadgets'],
      verbs: ['get'],
    })
    await server.k('delete', 'clusterrole', 'widgets-read')
    const after = await eventually(
      async () => (await json('get', 'clusterrole', 'widgets')).rules ?? [],
      (r) => r.length === 0,
    )
    expect(after).toEqual([])
  })
})

describe('across a restart', () => {
  it('finishes a namespace deletion that was under way when the server stopped', async () => {
    await apply(namespace('interrupted'))
    for (let i = 0; i < 5; i++)
      await apply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm${i}`, namespace: 'interrupted' },
      })
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'held', namespace: 'interrupted', finalizers: ['example.com/hold'] },
    })
    await server.k('delete', 'namespace', 'interrupted', '--wait=false')
    await eventually(
      () => names('configmap', '-n', 'interrupted'),
      (n) => n.length === 0,
    )

    await server.stop()
    await server.boot()
    expect((await json('get', 'namespace', 'interrupted')).status.phase).toBe('Terminating')
    await server.k(
      'patch',
      'secret',
      'held',
      '-n',
      'interrupted',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    )
    await server.k('wait', '--for=delete', 'namespace/interrupted', '--timeout=30s')
    expect(await names('namespace', 'interrupted')).toEqual([])
  })

  it('finishes a namespace deletion whose content was still there when the server stopped', async () => {
    await apply(namespace('cut'))
    for (let i = 0; i < 20; i++)
      await apply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm${i}`, namespace: 'cut' },
      })
    // Stop as soon as the DELETE is answered: the loops may or may not have started on it.
    await server.k('delete', 'namespace', 'cut', '--wait=false')
    await server.stop()
    await server.boot()
    await server.k('wait', '--for=delete', 'namespace/cut', '--timeout=30s')
    expect(await names('namespace', 'cut')).toEqual([])
    expect(await names('configmap', '-n', 'cut')).toEqual([])
  })
})

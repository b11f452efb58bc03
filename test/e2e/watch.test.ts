// list+watch through real clients: kubectl get -w, kubectl wait, and @kubernetes/client-node's informer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { backgroundKubectl, LocalServer } from './harness'

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'ns', 'w')
})
afterAll(async () => {
  await server?.dispose()
})

async function eventually<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn()
  for (let i = 0; i < 300 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100))
    v = await fn()
  }
  return v
}

describe('watch', () => {
  it('kubectl get -w sees ADDED, MODIFIED and DELETED made by a second kubectl', async () => {
    // Start from a settled namespace, and write only once the watch is open (-v=6 logs its request).
    await eventually(
      () => server.kubectl(['get', 'cm', 'kube-root-ca.crt', '-n', 'w']),
      (r) => r.code === 0,
    )
    const w = backgroundKubectl(server.kubeconfig, [
      'get',
      'cm',
      '-n',
      'w',
      '-w',
      '--output-watch-events',
      '--watch-only',
      '-v=6',
    ])
    await w.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    await server.k('create', 'configmap', 'seen', '-n', 'w')
    await w.waitFor(/ADDED\s+seen/)
    await server.k('label', 'cm', 'seen', '-n', 'w', 'x=1')
    await w.waitFor(/MODIFIED\s+seen/)
    await server.k('delete', 'cm', 'seen', '-n', 'w')
    await w.waitFor(/DELETED\s+seen\s+0\s+\d+s\n/) // the whole line: output may arrive mid-line
    w.kill()
    expect(w.output()).toMatch(
      /^EVENT\s+NAME\s+DATA\s+AGE\nADDED\s+seen\s+0\s+\d+s\nMODIFIED\s+seen\s+0\s+\d+s\nDELETED\s+seen\s+0\s+\d+s\n/,
    )
  })

  it("kubectl get -w first prints the current state in the kind's columns", async () => {
    await server.k('create', 'configmap', 'existing', '-n', 'w', '--from-literal=a=b')
    const w = backgroundKubectl(server.kubeconfig, ['get', 'cm', '-n', 'w', '-w'])
    await w.waitFor(/existing/)
    await server.k('create', 'configmap', 'later', '-n', 'w')
    await w.waitFor(/later\s+0\s+\d+s\n/)
    w.kill()
    expect(w.output()).toMatch(
      /^NAME\s+DATA\s+AGE\nexisting\s+1\s+\d+s\nkube-root-ca\.crt\s+1\s+\d+s\nlater\s+0\s+\d+s\n/,
    )
  })

  it('kubectl wait --for=delete returns once the last finalizer is removed', async () => {
    await server.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'held', namespace: 'w', finalizers: ['example.com/hold'] },
      }),
    })
    expect(await server.k('delete', 'cm', 'held', '-n', 'w', '--wait=false')).toBe(
      'configmap "held" deleted\n',
    )
    expect(
      await server.k(
        'get',
        'cm',
        'held',
        '-n',
        'w',
        '-o',
        'jsonpath={.metadata.deletionTimestamp}',
      ),
    ).toMatch(/^\d{4}-\d\d-\d\dT/)
    const wait = backgroundKubectl(server.kubeconfig, [
      'wait',
      '--for=delete',
      'cm/held',
      '-n',
      'w',
      '--timeout=60s',
      '-v=6',
    ])
    await wait.waitForLog(/watch=true.* 200 OK/)
    await server.k(
      'patch',
      'cm',
      'held',
      '-n',
      'w',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    )
    expect(await wait.exited).toBe(0)
    expect(wait.output()).toBe('configmap/held condition met\n')
  })

  it('kubectl wait --for=condition returns when the status condition appears', async () => {
    await server.k('create', 'deployment', 'waiter', '-n', 'w', '--image=nginx')
    const wait = backgroundKubectl(server.kubeconfig, [
      'wait',
      '--for=condition=Available',
      'deploy/waiter',
      '-n',
      'w',
      '--timeout=60s',
      '-v=6',
    ])
    await wait.waitForLog(/watch=true.* 200 OK/)
    await server.k(
      'patch',
      'deploy',
      'waiter',
      '-n',
      'w',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          conditions: [
            {
              type: 'Available',
              status: 'True',
              reason: 'MinimumReplicasAvailable',
              message: 'ok',
              lastUpdateTime: '2026-01-01T00:00:00Z',
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      }),
    )
    expect(await wait.exited).toBe(0)
    expect(wait.output()).toBe('deployment.apps/waiter condition met\n')
  })

  it('an informer from @kubernetes/client-node sees every change in order and recovers after a restart', async () => {
    const kc = new KubeConfig()
    kc.loadFromFile(server.kubeconfig)
    const api = kc.makeApiClient(CoreV1Api)
    await server.k('create', 'ns', 'inf')
    const seen: string[] = []
    const informer = makeInformer<V1ConfigMap>(kc, '/api/v1/namespaces/inf/configmaps', () =>
      api.listNamespacedConfigMap({ namespace: 'inf' }),
    )
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`))
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${o.data?.v ?? ''}`))
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`))
    informer.on('error', () => setTimeout(() => informer.start().catch(() => {}), 500))
    await informer.start()
    await api.createNamespacedConfigMap({
      namespace: 'inf',
      body: { metadata: { name: 'one' }, data: { v: '1' } },
    })
    await api.patchNamespacedConfigMap({
      namespace: 'inf',
      name: 'one',
      body: [{ op: 'replace', path: '/data/v', value: '2' }],
    })
    await api.deleteNamespacedConfigMap({ namespace: 'inf', name: 'one' })
    // kube-root-ca.crt, which the control loops publish in the new namespace, may come at any point.
    const ours = () => seen.filter((s) => !s.startsWith('add kube-root-ca'))
    await eventually(ours, (s) => s.length >= 3)
    expect(ours()).toEqual(['add one', 'update one 2', 'delete one'])

    await server.stop()
    await server.boot()
    await api.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'two' } } })
    const after = await eventually(
      () => seen.slice(),
      (s) => s.includes('add two'),
    )
    expect(after).toContain('add two')
    await informer.stop()
    expect(informer.list('inf').map((o) => o.metadata?.name)).toContain('two')
  })
})

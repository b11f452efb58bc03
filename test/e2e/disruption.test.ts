// pods/eviction under PodDisruptionBudgets whose status the in-process disruption controller keeps, through
// the real kubectl: `kubectl get pdb` shows what the controller counted, and `kubectl drain` evicts a
// node's pods one at a time as the budget allows, retrying on kube's 429 while the test plays the
// ReplicaSet controller and starts replacements elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backgroundKubectl, LocalServer } from './harness'

let server: LocalServer

beforeAll(async () => {
  // NodeRestriction is off by default, as in kube-apiserver; on, it admits a kubelet's evictions.
  server = await LocalServer.start(undefined, ['--enable-admission-plugins=NodeRestriction'])
}, 180_000)
afterAll(async () => {
  await server?.dispose()
})

const json = { 'Content-Type': 'application/json' }
const jsonOf = async (...args: string[]) => JSON.parse(await server.k(...args, '-o', 'json'))
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))

async function eventually<T>(
  what: string,
  f: () => Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await f()
      if (v !== undefined) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last ?? ''}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const pdbStatus = async (name: string) => (await jsonOf('get', 'pdb', name)).status

/** The controller has seen the budget's current pods when its status says so. */
const statusIs = (name: string, want: Record<string, number>) =>
  eventually(`${name} status ${JSON.stringify(want)}`, async () => {
    const s = await pdbStatus(name)
    return Object.entries(want).every(([k, v]) => s[k] === v) ? s : undefined
  })

const POD = (name: string, labels = '{app: db}', node = '', owner = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
  labels: ${labels}
${owner}
spec:
  ${node ? `nodeName: ${node}` : ''}
  containers: [{name: main, image: busybox}]
`

/** What a kubelet reports for a running pod that passes its readiness probe. */
const ready = (pod: string) =>
  server.k(
    'patch',
    'pod',
    pod,
    '--subresource=status',
    '--type=merge',
    '-p',
    '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}',
  )

describe('PodDisruptionBudget status and kubectl drain', () => {
  let rsOwner = ''

  it('shows with kubectl get pdb what the disruption controller counted', async () => {
    await server.k(
      'apply',
      '-f',
      server.file(
        'web.yaml',
        `apiVersion: v1
kind: Node
metadata: {name: drain-a}
---
apiVersion: v1
kind: Node
metadata: {name: drain-b}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: main, image: busybox}]}
`,
      ),
    )
    const rs = await jsonOf('get', 'rs', 'web')
    rsOwner = `  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: ${rs.metadata.uid}, controller: true}]`
    await server.k(
      'apply',
      '-f',
      server.file(
        'web-pods.yaml',
        ['web-0', 'web-1', 'web-2']
          .map((n) => POD(n, '{app: web}', 'drain-a', rsOwner))
          .join('---\n'),
      ),
    )
    for (const n of ['web-0', 'web-1', 'web-2']) await ready(n)
    await server.k(
      'apply',
      '-f',
      server.file(
        'web-pdb.yaml',
        `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
`,
      ),
    )
    const status = await statusIs('web', { disruptionsAllowed: 1, currentHealthy: 3 })
    expect(status).toMatchObject({
      observedGeneration: 1,
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    })
    expect(status.conditions).toEqual([
      expect.objectContaining({
        type: 'DisruptionAllowed',
        status: 'True',
        reason: 'SufficientPods',
        observedGeneration: 1,
      }),
    ])
    const [head, row] = rows(await server.k('get', 'pdb', 'web'))
    expect(head).toEqual(['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE'])
    expect(row.slice(0, 4)).toEqual(['web', 'N/A', '1', '1'])
  })

  it('drains a node one pod at a time as the budget allows, with 429s in between', async () => {
    const drain = backgroundKubectl(server.kubeconfig, ['drain', 'drain-a', '--timeout=90s'])
    // One pod goes; the budget then allows nothing, and the other evictions are refused and retried.
    await drain.waitForLog(
      /error when evicting pods\/"web-\d" -n "default" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\./,
    )
    const left = async () =>
      (await jsonOf('get', 'pods', '-l', 'app=web', '--field-selector=spec.nodeName=drain-a')).items
        .length
    await eventually('the first eviction', async () => ((await left()) === 2 ? true : undefined))
    expect(await server.k('get', 'node', 'drain-a')).toContain('SchedulingDisabled')
    await statusIs('web', { currentHealthy: 2, disruptionsAllowed: 0 })

    // The refusal, as a client sees it: kube's 429 with the budget's counts as its cause.
    const victim = (
      await jsonOf('get', 'pods', '-l', 'app=web', '--field-selector=spec.nodeName=drain-a')
    ).items[0].metadata.name
    const refused = await server.request(
      'POST',
      `/api/v1/namespaces/default/pods/${victim}/eviction`,
      JSON.stringify({
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: victim, namespace: 'default' },
      }),
      json,
    )
    expect(refused.status).toBe(429)
    expect(JSON.parse(refused.body)).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'TooManyRequests',
      code: 429,
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      details: {
        causes: [
          {
            reason: 'DisruptionBudget',
            message: 'The disruption budget web needs 2 healthy pods and has 2 currently',
          },
        ],
      },
    })

    // The ReplicaSet controller's part: a replacement on the other node, ready, frees one disruption.
    for (const [i, n] of ['web-3', 'web-4'].entries()) {
      await server.k(
        'apply',
        '-f',
        server.file(`${n}.yaml`, POD(n, '{app: web}', 'drain-b', rsOwner)),
      )
      await ready(n)
      // drain retries every 5 s; a loaded machine may take a few rounds.
      await eventually(
        `eviction ${i + 2}`,
        async () => ((await left()) === 1 - i ? true : undefined),
        45_000,
      ).catch(async (e) => {
        const pdb = JSON.stringify(await pdbStatus('web'))
        throw new Error(
          `${(e as Error).message}\nPDB status: ${pdb}\ndrain: ${drain.output()}\n${drain.log()}`,
        )
      })
    }
    expect(await drain.exited).toBe(0)
    const out = drain.output()
    for (const n of ['web-0', 'web-1', 'web-2']) expect(out).toContain(`pod/${n} evicted`)
    expect(out).toContain('node/drain-a drained')
    await statusIs('web', { currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0 })
    const [, row] = rows(await server.k('get', 'pdb', 'web'))
    expect(row.slice(0, 4)).toEqual(['web', 'N/A', '1', '0'])
  }, 120_000)

  it('lets an unready pod go while its budget is met, and refuses a pod under two budgets', async () => {
    await server.k(
      'apply',
      '-f',
      server.file(
        'unready.yaml',
        `${POD('cache-0', '{app: cache, tier: a}')}---
${POD('cache-r', '{app: cache}')}---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: cache-pdb, namespace: default}
spec: {minAvailable: 1, selector: {matchLabels: {app: cache}}}
`,
      ),
    )
    await ready('cache-r')
    await statusIs('cache-pdb', { expectedPods: 2, currentHealthy: 1, disruptionsAllowed: 0 })
    const evict = (name: string) =>
      server.request(
        'POST',
        `/api/v1/namespaces/default/pods/${name}/eviction`,
        JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name } }),
        json,
      )
    // cache-r is the one healthy pod the budget needs.
    expect((await evict('cache-r')).status).toBe(429)
    // Not ready, so not one of the healthy pods the budget counts: it goes, and the budget keeps its room.
    expect((await evict('cache-0')).status).toBe(201)
    expect((await pdbStatus('cache-pdb')).disruptedPods).toBeUndefined()

    await server.k(
      'apply',
      '-f',
      server.file(
        'two.yaml',
        `${POD('cache-1', '{app: cache, tier: a}')}---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: tier-pdb, namespace: default}
spec: {maxUnavailable: 1, selector: {matchLabels: {tier: a}}}
`,
      ),
    )
    const two = await evict('cache-1')
    expect(two.status).toBe(500)
    expect(JSON.parse(two.body).message).toBe(
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    )
  })

  it('fails safe when the pods’ workload has no scale, and says why in the condition', async () => {
    await server.k(
      'apply',
      '-f',
      server.file(
        'owner.yaml',
        `apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-workload, namespace: default}
`,
      ),
    )
    const cm = await jsonOf('get', 'configmap', 'not-a-workload')
    await server.k(
      'apply',
      '-f',
      server.file(
        'odd.yaml',
        `${POD(
          'odd-0',
          '{app: odd}',
          '',
          `  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: not-a-workload, uid: ${cm.metadata.uid}, controller: true}]`,
        )}---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: odd, namespace: default}
spec: {maxUnavailable: 0, selector: {matchLabels: {app: odd}}}
`,
      ),
    )
    const status = await eventually('SyncFailed', async () => {
      const s = await pdbStatus('odd')
      return s.conditions?.[0]?.reason === 'SyncFailed' ? s : undefined
    })
    expect(status.disruptionsAllowed).toBe(0)
    expect(status.conditions[0]).toMatchObject({
      type: 'DisruptionAllowed',
      status: 'False',
      message: 'configmaps does not implement the scale subresource',
    })
  })

  it('evicts a pod no budget covers, and NodeRestriction lets a kubelet evict only its own pods', async () => {
    await server.k('apply', '-f', server.file('free.yaml', POD('free', '{app: free}', 'node-x')))
    const eviction = JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'free' },
    })
    const asNode = (node: string) => ({
      ...json,
      'Impersonate-User': `system:node:${node}`,
      'Impersonate-Group': 'system:nodes',
    })
    const other = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/free/eviction',
      eviction,
      asNode('node-y'),
    )
    expect(other.status).toBe(403)
    expect(JSON.parse(other.body).message).toBe(
      'pods "free" is forbidden: node node-y can only evict pods with spec.nodeName set to itself',
    )
    // admitPodEviction reads the pod through a lister, whose NotFound names the resource singular.
    const missing = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/nope/eviction',
      JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'nope' } }),
      asNode('node-x'),
    )
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body).message).toBe('pod "nope" not found')
    const r = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/free/eviction',
      eviction,
      asNode('node-x'),
    )
    expect(r.status).toBe(201)
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', status: 'Success' })
    expect((await server.kubectl(['get', 'pod', 'free'])).code).not.toBe(0)
  })
})

// Classification against kube's bootstrap configuration: who lands in which FlowSchema and priority
// level, and which flow (distinguisher) they belong to.
import { describe, expect, it } from 'vitest'
import { FlowControl } from '../../src/flowcontrol/controller'
import { matchesSubject, sortFlowSchemas } from '../../src/flowcontrol/classify'
import { parseRequestInfo } from '../../src/server/filters/request-info'
import { Registry as MetricsRegistry } from '../../src/metrics/registry'
import { flowcontrolMetricsIn } from '../../src/metrics/flowcontrol'

const fc = () =>
  new FlowControl({
    serverConcurrencyLimit: 600,
    requestWaitLimitMs: 15_000,
    metrics: flowcontrolMetricsIn(new MetricsRegistry()),
  })
const info = (method: string, path: string) => parseRequestInfo(method, new URL(`https://h${path}`))
const user = (username: string, ...groups: string[]) => ({
  username,
  groups: [...groups, 'system:authenticated'],
})

function classify(u: ReturnType<typeof user>, method: string, path: string) {
  const c = fc().classify(u, info(method, path))
  return [c.flowSchema.metadata.name, c.priorityLevel.metadata.name, c.distinguisher]
}

describe('classification with the bootstrap configuration', () => {
  it('exempts system:masters and probes, whatever they ask for', () => {
    expect(classify(user('admin', 'system:masters'), 'DELETE', '/api/v1/nodes/n1')).toEqual([
      'exempt',
      'exempt',
      '',
    ])
    expect(classify(user('jane'), 'GET', '/readyz')).toEqual(['probes', 'exempt', ''])
    expect(
      classify(
        { username: 'system:anonymous', groups: ['system:unauthenticated'] },
        'GET',
        '/livez',
      ),
    ).toEqual(['probes', 'exempt', ''])
    // A probe path asked for with another verb is not a probe.
    expect(classify(user('jane'), 'POST', '/healthz')[0]).toBe('global-default')
  })

  it("sends the controllers' lease traffic to leader-election and the rest to workload-high", () => {
    const kcm = user('system:kube-controller-manager')
    const lease =
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager'
    expect(classify(kcm, 'PUT', lease)).toEqual([
      'system-leader-election',
      'leader-election',
      'system:kube-controller-manager',
    ])
    expect(classify(kcm, 'GET', lease)[0]).toBe('system-leader-election')
    // patch is not among the leader-election verbs.
    expect(classify(kcm, 'PATCH', lease)[0]).toBe('kube-controller-manager')
    // Endpoints writes of the controller manager are the endpoint controller's.
    expect(classify(kcm, 'PUT', '/api/v1/namespaces/default/endpoints/kubernetes')).toEqual([
      'endpoint-controller',
      'workload-high',
      'system:kube-controller-manager',
    ])
    // ByNamespace: the flow is the namespace.
    expect(classify(kcm, 'GET', '/api/v1/namespaces/apps/pods')).toEqual([
      'kube-controller-manager',
      'workload-high',
      'apps',
    ])
    expect(classify(kcm, 'GET', '/api/v1/nodes')).toEqual([
      'kube-controller-manager',
      'workload-high',
      '',
    ])
  })

  it('matches service accounts by namespace and name, and groups them by their group', () => {
    const sa = (ns: string, name: string) =>
      user(
        `system:serviceaccount:${ns}:${name}`,
        'system:serviceaccounts',
        `system:serviceaccounts:${ns}`,
      )
    expect(classify(sa('kube-system', 'generic-garbage-collector'), 'GET', '/api/v1/pods')).toEqual(
      ['kube-system-service-accounts', 'workload-high', ''],
    )
    expect(
      classify(sa('kube-system', 'x'), 'PUT', '/api/v1/namespaces/ns1/configmaps/lock')[0],
    ).toBe('workload-leader-election')
    expect(classify(sa('team', 'builder'), 'GET', '/api/v1/pods')).toEqual([
      'service-accounts',
      'workload-low',
      'system:serviceaccount:team:builder',
    ])
  })

  it('gives nodes their heartbeats at node-high and everything else at system', () => {
    const node = user('system:node:n1', 'system:nodes')
    expect(classify(node, 'PATCH', '/api/v1/nodes/n1/status')[1]).toBe('node-high')
    expect(
      classify(node, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1')[1],
    ).toBe('node-high')
    expect(classify(node, 'GET', '/api/v1/namespaces/ns/secrets/s')[1]).toBe('system')
  })

  it('puts everyone else in global-default, one flow per user', () => {
    expect(classify(user('jane'), 'GET', '/api/v1/namespaces/default/configmaps')).toEqual([
      'global-default',
      'global-default',
      'jane',
    ])
    expect(
      classify(
        { username: 'system:anonymous', groups: ['system:unauthenticated'] },
        'GET',
        '/version',
      ),
    ).toEqual(['global-default', 'global-default', 'system:anonymous'])
  })
})

describe('a configuration from the API', () => {
  it('uses schemas in precedence order, skips dangling ones, and falls back to catch-all', () => {
    const f = fc()
    const fs = (name: string, pl: string, matchingPrecedence: number, subjects: object[]) => ({
      metadata: { name, uid: `uid-${name}` },
      spec: {
        priorityLevelConfiguration: { name: pl },
        matchingPrecedence,
        distinguisherMethod: { type: 'ByUser' },
        rules: [{ subjects, nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['/apis/*'] }] }],
      },
    })
    const pl = (name: string) => ({
      metadata: { name, uid: `uid-${name}` },
      spec: {
        type: 'Limited',
        limited: {
          nominalConcurrencyShares: 1,
          limitResponse: { type: 'Reject' },
        },
      },
    })
    f.apply(
      [
        fs('b-second', 'mine', 20, [{ kind: 'User', user: { name: 'jane' } }]),
        fs('a-first', 'mine', 20, [{ kind: 'Group', group: { name: '*' } }]),
        fs('dangling', 'nowhere', 10, [{ kind: 'User', user: { name: '*' } }]),
      ],
      [pl('mine')],
    )
    const c = f.classify(user('jane'), info('GET', '/apis/apps'))
    expect(c.flowSchema.metadata.name).toBe('a-first')
    // The mandatory objects stand in for the ones the API lacks.
    const other = f.classify(user('jane'), info('GET', '/api'))
    expect([other.flowSchema.metadata.name, other.priorityLevel.metadata.name]).toEqual([
      'catch-all',
      'catch-all',
    ])
  })

  it('orders by matchingPrecedence, then name', () => {
    const s = (name: string, p: number) => ({ metadata: { name }, spec: { matchingPrecedence: p } })
    expect(sortFlowSchemas([s('b', 5), s('a', 5), s('c', 1)]).map((x) => x.metadata.name)).toEqual([
      'c',
      'a',
      'b',
    ])
  })

  it("matches a ServiceAccount subject only for that namespace's accounts", () => {
    const subject = { kind: 'ServiceAccount', serviceAccount: { namespace: 'ns', name: '*' } }
    expect(matchesSubject(subject, user('system:serviceaccount:ns:a'))).toBe(true)
    expect(matchesSubject(subject, user('system:serviceaccount:other:a'))).toBe(false)
    expect(matchesSubject(subject, user('system:serviceaccount:ns'))).toBe(false)
    expect(
      matchesSubject(
        { kind: 'ServiceAccount', serviceAccount: { namespace: 'ns', name: 'b' } },
        user('system:serviceaccount:ns:a'),
      ),
    ).toBe(false)
  })
})

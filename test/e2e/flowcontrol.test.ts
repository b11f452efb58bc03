// API priority and fairness as an operator and its clients see it: kubectl lists kube's bootstrap
// FlowSchemas and PriorityLevelConfigurations, every response names its schema and level by UID, one
// user flooding a small priority level gets 429 with Retry-After while system:masters and a
// leader-election client (system:kube-controller-manager renewing its Lease) keep being served, the
// debug dumps answer as kube's do, and the configuration is kept up to date across a restart as kube's
// `apf.kubernetes.io/autoupdate-spec` annotation says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backgroundKubectl, LocalServer } from './harness'

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start()
}, 180_000)
afterAll(async () => {
  await server?.dispose()
})

const FS_HEADER = 'x-kubernetes-pf-flowschema-uid'
const PL_HEADER = 'x-kubernetes-pf-prioritylevel-uid'

async function uid(resource: string, name: string): Promise<string> {
  return (await server.k('get', resource, name, '-o', 'jsonpath={.metadata.uid}')).trim()
}

/** Polls until check passes (what another process writes is read within 5 s). */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}

/** Sample lines of a Prometheus text exposition by their series (name and labels). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

const table = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))

describe('kubectl get flowschemas,prioritylevelconfigurations', () => {
  it("lists kube's mandatory and suggested objects with kube's columns", async () => {
    await eventually(async () => {
      const rows = table(await server.k('get', 'flowschemas'))
      expect(rows[0]).toEqual([
        'NAME',
        'PRIORITYLEVEL',
        'MATCHINGPRECEDENCE',
        'DISTINGUISHERMETHOD',
        'AGE',
        'MISSINGPL',
      ])
      const byName = new Map(rows.slice(1).map((r) => [r[0], r]))
      // Listed by name, as the store keeps them.
      expect([...byName.keys()]).toEqual([
        'catch-all',
        'endpoint-controller',
        'exempt',
        'global-default',
        'kube-controller-manager',
        'kube-scheduler',
        'kube-system-service-accounts',
        'probes',
        'service-accounts',
        'system-leader-election',
        'system-node-high',
        'system-nodes',
        'workload-leader-election',
      ])
      const cells = (n: string) => {
        const r = byName.get(n)!
        return [r[1], r[2], r[3], r[5]]
      }
      expect(cells('exempt')).toEqual(['exempt', '1', '<none>', 'False'])
      expect(cells('system-leader-election')).toEqual(['leader-election', '100', 'ByUser', 'False'])
      expect(cells('kube-scheduler')).toEqual(['workload-high', '800', 'ByNamespace', 'False'])
      expect(cells('catch-all')).toEqual(['catch-all', '10000', 'ByUser', 'False'])
    })
    const levels = table(await server.k('get', 'prioritylevelconfigurations'))
    expect(levels).toEqual([
      ['NAME', 'TYPE', 'NOMINALCONCURRENCYSHARES', 'QUEUES', 'HANDSIZE', 'QUEUELENGTHLIMIT', 'AGE'],
      ['catch-all', 'Limited', '5', '<none>', '<none>', '<none>', expect.any(String)],
      ['exempt', 'Exempt', '<none>', '<none>', '<none>', '<none>', expect.any(String)],
      ['global-default', 'Limited', '20', '128', '6', '50', expect.any(String)],
      ['leader-election', 'Limited', '10', '16', '4', '50', expect.any(String)],
      ['node-high', 'Limited', '40', '64', '6', '50', expect.any(String)],
      ['system', 'Limited', '30', '64', '6', '50', expect.any(String)],
      ['workload-high', 'Limited', '40', '128', '6', '50', expect.any(String)],
      ['workload-low', 'Limited', '100', '128', '6', '50', expect.any(String)],
    ])
    const both = await server.k('get', 'flowschemas,prioritylevelconfigurations', '-o', 'name')
    expect(both).toContain('flowschema.flowcontrol.apiserver.k8s.io/global-default')
    expect(both).toContain('prioritylevelconfiguration.flowcontrol.apiserver.k8s.io/workload-low')
    const wl = JSON.parse(
      await server.k('get', 'prioritylevelconfiguration', 'workload-low', '-o', 'json'),
    )
    expect(wl.metadata.annotations).toEqual({ 'apf.kubernetes.io/autoupdate-spec': 'true' })
    expect(wl.spec).toEqual({
      type: 'Limited',
      limited: {
        nominalConcurrencyShares: 100,
        lendablePercent: 90,
        limitResponse: {
          type: 'Queue',
          queuing: { queues: 128, handSize: 6, queueLengthLimit: 50 },
        },
      },
    })
  })

  it("refuses an invalid FlowSchema with kube's field errors", async () => {
    const manifest = server.file(
      'bad-fs.yaml',
      [
        'apiVersion: flowcontrol.apiserver.k8s.io/v1',
        'kind: FlowSchema',
        'metadata: {name: bad}',
        'spec:',
        '  matchingPrecedence: 1',
        '  priorityLevelConfiguration: {name: global-default}',
        '  rules:',
        '  - subjects: [{kind: User, user: {name: someone}}]',
        '',
      ].join('\n'),
    )
    const r = await server.kubectl(['create', '-f', manifest])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'The FlowSchema "bad" is invalid: \n* spec.matchingPrecedence: Invalid value: 1: ' +
        "only the schema named 'exempt' may have matchingPrecedence 1\n" +
        '* spec.rules[0]: Required value: at least one of resourceRules and nonResourceRules has to be non-empty',
    )
  })
})

describe('classification', () => {
  it('names the FlowSchema and priority level of every response by UID', async () => {
    const admin = await server.request('GET', '/api/v1/namespaces/default/configmaps')
    expect(admin.status).toBe(200)
    expect(admin.headers[FS_HEADER]).toBe(await uid('flowschema', 'exempt'))
    expect(admin.headers[PL_HEADER]).toBe(await uid('prioritylevelconfiguration', 'exempt'))

    // Impersonation comes first: the impersonated user is classified, and a denial still carries them.
    const jane = await server.request('GET', '/api/v1/namespaces/default/configmaps', undefined, {
      'Impersonate-User': 'jane',
    })
    expect(jane.status).toBe(403)
    expect(jane.headers[FS_HEADER]).toBe(await uid('flowschema', 'global-default'))
    expect(jane.headers[PL_HEADER]).toBe(await uid('prioritylevelconfiguration', 'global-default'))

    const kcm = await server.request(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager',
      undefined,
      { 'Impersonate-User': 'system:kube-controller-manager' },
    )
    expect(kcm.headers[FS_HEADER]).toBe(await uid('flowschema', 'system-leader-election'))
    expect(kcm.headers[PL_HEADER]).toBe(await uid('prioritylevelconfiguration', 'leader-election'))

    const probe = await server.request('GET', '/readyz', undefined, { 'Impersonate-User': 'jane' })
    expect(probe.headers[FS_HEADER]).toBe(await uid('flowschema', 'probes'))
  })

  it('classifies the request after a FlowSchema is created, changed or deleted by it at once', async () => {
    const asChanger = { 'Impersonate-User': 'pf-changer' }
    const path = '/api/v1/namespaces/default/configmaps'
    const classified = async () => {
      const r = await server.request('GET', path, undefined, asChanger)
      return [r.headers[FS_HEADER], r.headers[PL_HEADER]]
    }
    const schema = (level: string) =>
      JSON.stringify({
        apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
        kind: 'FlowSchema',
        metadata: { name: 'pf-changer' },
        spec: {
          matchingPrecedence: 400,
          priorityLevelConfiguration: { name: level },
          distinguisherMethod: { type: 'ByUser' },
          rules: [
            {
              subjects: [{ kind: 'User', user: { name: 'pf-changer' } }],
              resourceRules: [
                { verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'] },
              ],
            },
          ],
        },
      })
    const apply = async (level: string) => {
      const r = await server.kubectl(['apply', '-f', '-'], { input: schema(level) })
      expect(r.code, r.stderr).toBe(0)
    }
    // No polling: a write through this server is read again before the next request is classified.
    await apply('workload-low')
    const fsUID = await uid('flowschema', 'pf-changer')
    expect(await classified()).toEqual([
      fsUID,
      await uid('prioritylevelconfiguration', 'workload-low'),
    ])
    await apply('workload-high')
    expect(await classified()).toEqual([
      fsUID,
      await uid('prioritylevelconfiguration', 'workload-high'),
    ])
    await server.k('delete', 'flowschema', 'pf-changer')
    expect(await classified()).toEqual([
      await uid('flowschema', 'global-default'),
      await uid('prioritylevelconfiguration', 'global-default'),
    ])
  })

  it('reads no configuration while idle, and at most every 5 s while requests come', async () => {
    const reads = async () =>
      samples((await server.request('GET', '/metrics')).body).get(
        'etcd_requests_total{group="flowcontrol.apiserver.k8s.io",operation="listWithCount",resource="flowschemas"}',
      ) ?? 0
    // A scrape reads too where it counts apiserver_storage_objects itself (Node mode): what one scrape
    // right after another reads (no configuration check is due yet) is that part.
    const first = await reads()
    expect(first).toBeGreaterThan(0)
    const idleFrom = await reads()
    const perScrape = idleFrom - first
    await new Promise((r) => setTimeout(r, 7000))
    // Seven idle seconds: only the scrape that ends them may look (the last look is older than 5 s).
    const busyFrom = await reads()
    expect(busyFrom - idleFrom - perScrape).toBeLessThanOrEqual(1)

    const started = Date.now()
    let requests = 0
    while (Date.now() - started < 7000) {
      const r = await server.request('GET', '/api/v1/namespaces/default/configmaps')
      expect(r.status).toBe(200)
      requests++
    }
    // Seven seconds of requests: a look per 5 s (two at most), and the ensurer's LIST if its minute
    // came round; a look every second would be seven.
    expect(requests).toBeGreaterThan(10)
    expect((await reads()) - busyFrom - perScrape).toBeLessThanOrEqual(3)
  }, 60_000)

  it('serves the debug dumps to system:masters only, as kube authorizes nonResourceURLs', async () => {
    const levels = await server.request(
      'GET',
      '/debug/api_priority_and_fairness/dump_priority_levels',
    )
    expect(levels.status).toBe(200)
    const lines = levels.body.trim().split('\n')
    expect(lines[0].split(/,\s+/)).toEqual([
      'PriorityLevelName',
      'ActiveQueues',
      'IsIdle',
      'IsQuiescing',
      'WaitingRequests',
      'ExecutingRequests',
      'DispatchedRequests',
      'RejectedRequests',
      'TimedoutRequests',
      'CancelledRequests',
    ])
    expect(lines.map((l) => l.split(',')[0].trim())).toContain('workload-low')
    // The dump request itself is executing in the exempt level.
    const exempt = lines.find((l) => l.startsWith('exempt,'))!.split(/,\s*/)
    expect(Number(exempt[5])).toBeGreaterThanOrEqual(1)
    const queues = await server.request('GET', '/debug/api_priority_and_fairness/dump_queues')
    expect(queues.body.split('\n')[0]).toMatch(/^PriorityLevelName,\s+Index,\s+PendingRequests,/)
    expect(queues.body.match(/^leader-election,/gm)).toHaveLength(16)
    const requests = await server.request(
      'GET',
      '/debug/api_priority_and_fairness/dump_requests?includeRequestDetails=1',
    )
    expect(requests.body.split('\n')[0]).toMatch(/FlowDistingsher,.*UserName,\s+Verb,/)
    // The dump request itself, executing in the exempt level (which has no queues: index -1).
    const own = requests.body
      .split('\n')
      .find((l) => l.includes('/debug/api_priority_and_fairness/dump_requests'))!
      .split(/,\s+/)
    expect([own[0], own[1], own[2], own[3], own[6], own[7], own[8], own[11]]).toEqual([
      'exempt',
      'exempt',
      '-1',
      '-1',
      '1',
      '0',
      '0s',
      'get',
    ])
    expect(own[5]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    const denied = await server.request(
      'GET',
      '/debug/api_priority_and_fairness/dump_priority_levels',
      undefined,
      { 'Impersonate-User': 'jane' },
    )
    expect(denied.status).toBe(403)
    expect(JSON.parse(denied.body).message).toBe(
      'forbidden: User "jane" cannot get path "/debug/api_priority_and_fairness/dump_priority_levels"',
    )
  })
})

describe('a flood from one low-priority user', () => {
  it('gets 429 with Retry-After while system:masters and leader election keep working', async () => {
    // A level of one share with no borrowing: ceil(600 * 1 / 246) = 3 seats, one queue of one.
    await server.k(
      'create',
      'clusterrolebinding',
      'flooder-view',
      '--clusterrole=view',
      '--user=flooder',
    )
    const manifest = server.file(
      'flood.yaml',
      [
        'apiVersion: flowcontrol.apiserver.k8s.io/v1',
        'kind: PriorityLevelConfiguration',
        'metadata: {name: flood}',
        'spec:',
        '  type: Limited',
        '  limited:',
        '    nominalConcurrencyShares: 1',
        '    lendablePercent: 0',
        '    borrowingLimitPercent: 0',
        '    limitResponse: {type: Queue, queuing: {queues: 1, handSize: 1, queueLengthLimit: 1}}',
        '---',
        'apiVersion: flowcontrol.apiserver.k8s.io/v1',
        'kind: FlowSchema',
        'metadata: {name: flood}',
        'spec:',
        '  matchingPrecedence: 500',
        '  priorityLevelConfiguration: {name: flood}',
        '  distinguisherMethod: {type: ByUser}',
        '  rules:',
        '  - subjects: [{kind: User, user: {name: flooder}}]',
        "    resourceRules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true}]",
        '',
      ].join('\n'),
    )
    await server.k('create', '-f', manifest)
    const floodUID = await uid('flowschema', 'flood')
    const asFlooder = { 'Impersonate-User': 'flooder' }
    const path = '/api/v1/namespaces/kube-system/configmaps'
    await eventually(async () => {
      const r = await server.request('GET', path, undefined, asFlooder)
      expect(r.headers[FS_HEADER]).toBe(floodUID)
    })

    const lease = server.file(
      'lease.yaml',
      [
        'apiVersion: coordination.k8s.io/v1',
        'kind: Lease',
        'metadata: {name: kube-controller-manager, namespace: kube-system}',
        'spec: {holderIdentity: kcm-1, leaseDurationSeconds: 15}',
        '',
      ].join('\n'),
    )
    const asKCM = ['--as=system:kube-controller-manager']
    await server.k(...asKCM, 'create', '-f', lease)

    const before = samples((await server.request('GET', '/metrics')).body)
    const FLOOD_MS = 4000
    const floodUntil = Date.now() + FLOOD_MS
    const statuses = new Map<number, number>()
    const retryAfters = new Set<string>()
    const bodies = new Set<string>()
    const flooder = async () => {
      while (Date.now() < floodUntil) {
        const r = await server.request('GET', path, undefined, asFlooder)
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        if (r.status === 429) {
          retryAfters.add(String(r.headers['retry-after']))
          bodies.add(r.body)
          expect(r.headers[FS_HEADER]).toBe(floodUID)
        }
      }
    }
    const timed = async (args: string[]) => {
      const started = Date.now()
      const out = await server.k(...args)
      return { out, ms: Date.now() - started }
    }
    const others = async () => {
      const latencies: number[] = []
      let renewals = 0
      while (Date.now() < floodUntil) {
        const admin = await timed(['get', 'configmaps', '-n', 'kube-system', '-o', 'name'])
        latencies.push(admin.ms)
        const got = await timed([
          ...asKCM,
          'get',
          'lease',
          'kube-controller-manager',
          '-n',
          'kube-system',
          '-o',
          'json',
        ])
        latencies.push(got.ms)
        const l = JSON.parse(got.out)
        l.spec.renewTime = new Date().toISOString().replace('Z', '000Z')
        const renewed = server.file('lease-renewed.json', JSON.stringify(l))
        latencies.push((await timed([...asKCM, 'replace', '-f', renewed])).ms)
        renewals++
      }
      return { latencies, renewals }
    }
    const [{ latencies, renewals }] = await Promise.all([
      others(),
      ...Array.from({ length: 24 }, flooder),
    ])

    expect(statuses.get(429) ?? 0).toBeGreaterThan(0)
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0)
    expect([...statuses.keys()].sort()).toEqual([200, 429])
    expect(bodies).toEqual(new Set(['Too many requests, please try again later.\n']))
    for (const v of retryAfters) expect(Number(v)).toBeGreaterThanOrEqual(1)
    // Every kubectl call of system:masters and of the leader-election client succeeded (k() throws
    // otherwise), each within a bound far below the flood's own queueing and retrying.
    expect(renewals).toBeGreaterThan(0)
    expect(Math.max(...latencies)).toBeLessThan(5000)

    // The flood's counters moved by exactly what the flooder saw (at the edge, once every isolate's
    // counts have reached the cluster's object).
    const series = (name: string, extra = '') =>
      `${name}{flow_schema="flood",priority_level="flood"${extra}}`
    await eventually(async () => {
      const text = (await server.request('GET', '/metrics')).body
      const after = samples(text)
      const moved = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0)
      const rejected = ['queue-full', 'concurrency-limit', 'time-out', 'cancelled']
        .map((r) =>
          moved(series('apiserver_flowcontrol_rejected_requests_total', `,reason="${r}"`)),
        )
        .reduce((a, b) => a + b)
      expect(rejected).toBe(statuses.get(429))
      expect(moved(series('apiserver_flowcontrol_dispatched_requests_total'))).toBe(
        statuses.get(200),
      )
      expect(text).toContain(
        '# HELP apiserver_flowcontrol_rejected_requests_total [BETA] Number of requests rejected by API Priority and Fairness subsystem',
      )
      expect(after.get('apiserver_flowcontrol_nominal_limit_seats{priority_level="flood"}')).toBe(3)
      // kube counts a dropped request in apiserver_request_total with code 429.
      const dropped =
        'apiserver_request_total{code="429",component="apiserver",dry_run="",group="",' +
        'resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"}'
      expect(moved(dropped)).toBe(statuses.get(429))
      expect(
        moved(
          'apiserver_request_terminations_total{code="429",component="apiserver",group="",' +
            'resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"}',
        ),
      ).toBe(statuses.get(429))
    })

    const dump = await server.request(
      'GET',
      '/debug/api_priority_and_fairness/dump_priority_levels',
    )
    const flood = dump.body
      .split('\n')
      .find((l) => l.startsWith('flood,'))!
      .split(/,\s*/)
    expect(Number(flood[7])).toBeGreaterThan(0) // RejectedRequests
  }, 120_000)

  it("holds a watch's seat only while the watch starts, as kube counts watches", async () => {
    // A Reject level of 3 seats: were each watch holding a seat, the fourth request would get 429.
    await server.k(
      'create',
      'clusterrolebinding',
      'watcher-view',
      '--clusterrole=view',
      '--user=watcher',
    )
    const manifest = server.file(
      'watchers.yaml',
      [
        'apiVersion: flowcontrol.apiserver.k8s.io/v1',
        'kind: PriorityLevelConfiguration',
        'metadata: {name: watchers}',
        'spec:',
        '  type: Limited',
        '  limited:',
        '    nominalConcurrencyShares: 1',
        '    borrowingLimitPercent: 0',
        '    limitResponse: {type: Reject}',
        '---',
        'apiVersion: flowcontrol.apiserver.k8s.io/v1',
        'kind: FlowSchema',
        'metadata: {name: watchers}',
        'spec:',
        '  matchingPrecedence: 500',
        '  priorityLevelConfiguration: {name: watchers}',
        '  rules:',
        '  - subjects: [{kind: User, user: {name: watcher}}]',
        "    resourceRules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true}]",
        '',
      ].join('\n'),
    )
    await server.k('create', '-f', manifest)
    await server.k('create', 'configmap', 'apf-watched', '-n', 'default', '--from-literal=a=1')
    const fsUID = await uid('flowschema', 'watchers')
    const path = '/api/v1/namespaces/default/configmaps'
    await eventually(async () => {
      const r = await server.request('GET', path, undefined, { 'Impersonate-User': 'watcher' })
      expect(r.headers[FS_HEADER]).toBe(fsUID)
    })
    const watches = Array.from({ length: 6 }, () =>
      backgroundKubectl(server.kubeconfig, [
        '--as=watcher',
        'get',
        'configmaps',
        '-n',
        'default',
        '-w',
      ]),
    )
    try {
      for (const w of watches) await w.waitFor(/apf-watched/)
      for (let i = 0; i < 3; i++) {
        const r = await server.request('GET', path, undefined, { 'Impersonate-User': 'watcher' })
        expect(r.status).toBe(200)
      }
      const dump = await server.request(
        'GET',
        '/debug/api_priority_and_fairness/dump_priority_levels',
      )
      const row = dump.body
        .split('\n')
        .find((l) => l.startsWith('watchers,'))!
        .split(/,\s*/)
      expect(row[5]).toBe('0') // ExecutingRequests, with six watches open
    } finally {
      for (const w of watches) w.kill()
    }
  })
})

describe('a restart', () => {
  it('re-applies the bootstrap configuration as autoupdate-spec says, and takes the seats it is given', async () => {
    await server.k(
      'patch',
      'prioritylevelconfiguration',
      'workload-high',
      '--type=merge',
      '-p',
      '{"spec":{"limited":{"nominalConcurrencyShares":7}}}',
    )
    await server.k(
      'patch',
      'prioritylevelconfiguration',
      'workload-low',
      '--type=merge',
      '-p',
      '{"metadata":{"annotations":{"apf.kubernetes.io/autoupdate-spec":"false"}},"spec":{"limited":{"nominalConcurrencyShares":9}}}',
    )
    await server.k('delete', 'flowschema', 'catch-all')
    await server.restart(['--max-requests-inflight=10', '--max-mutating-requests-inflight=5'])
    const shares = async (name: string) =>
      (
        await server.k(
          'get',
          'prioritylevelconfiguration',
          name,
          '-o',
          'jsonpath={.spec.limited.nominalConcurrencyShares}',
        )
      ).trim()
    expect(await shares('workload-high')).toBe('40')
    expect(await shares('workload-low')).toBe('9')
    await server.k('get', 'flowschema', 'catch-all')
    // 15 seats over the shares left (245 - 100 + 9 for workload-low, plus the test's levels):
    // each level's nominal limit is ceil(15 * shares / sum).
    const levels = JSON.parse(await server.k('get', 'prioritylevelconfigurations', '-o', 'json'))
    const sum = levels.items.reduce(
      (t: number, l: any) =>
        t +
        (l.spec.limited?.nominalConcurrencyShares ?? l.spec.exempt?.nominalConcurrencyShares ?? 0),
      0,
    )
    await eventually(async () => {
      const after = samples((await server.request('GET', '/metrics')).body)
      expect(
        after.get('apiserver_flowcontrol_nominal_limit_seats{priority_level="workload-high"}'),
      ).toBe(Math.ceil((15 * 40) / sum))
      expect(
        after.get('apiserver_flowcontrol_nominal_limit_seats{priority_level="global-default"}'),
      ).toBe(Math.ceil((15 * 20) / sum))
    })
  }, 180_000)
})

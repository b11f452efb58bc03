import { describe, expect, it } from 'vitest'
import { humanDuration } from '../../src/registry/printers/duration'
import { formatLabelSelector, formatLabels } from '../../src/registry/printers/format'
import { podSummary } from '../../src/registry/printers/pod'
import { defaultPrinter } from '../../src/registry/printers/default'
import { create, kind } from './helpers'

const ago = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d+Z$/, 'Z')
const S = 1000
const M = 60 * S
const H = 60 * M
const D = 24 * H

describe('humanDuration', () => {
  it.each([
    [5 * S, '5s'],
    [119 * S, '119s'],
    [3 * M + 2 * S, '3m2s'],
    [5 * M, '5m'],
    [10 * M, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [7 * H + 59 * M, '7h59m'],
    [47 * H, '47h'],
    [2 * D + 3 * H, '2d3h'],
    [7 * D, '7d'],
    [8 * D, '8d'],
    [800 * D, '2y70d'],
    [9 * 365 * D, '9y'],
    [-1 * S, '0s'],
    [-5 * S, '<invalid>'],
  ])('%d ms reads as %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text)
  })
})

describe('label formatting', () => {
  it('sorts and joins like labels.FormatLabels and metav1.FormatLabelSelector', () => {
    expect(formatLabels({ b: '2', a: '1' })).toBe('a=1,b=2')
    expect(formatLabels({})).toBe('<none>')
    expect(
      formatLabelSelector({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['b', 'a'] },
          { key: 'x', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier in (a,b),!x')
    expect(formatLabelSelector(undefined)).toBe('<none>')
  })
})

describe('pod STATUS', () => {
  const base = { spec: { containers: [{ name: 'a' }, { name: 'b' }] } }
  it('shows Pending for a new pod', () => {
    expect(podSummary({ ...base, status: { phase: 'Pending' } })).toEqual({
      ready: '0/2',
      status: 'Pending',
      restarts: '0',
    })
  })
  it('shows the waiting reason of a container', () => {
    const status = {
      phase: 'Pending',
      containerStatuses: [
        { name: 'a', state: { waiting: { reason: 'ImagePullBackOff' } } },
        { name: 'b', ready: true, state: { running: {} } },
      ],
    }
    expect(podSummary({ ...base, status })).toMatchObject({
      ready: '1/2',
      status: 'ImagePullBackOff',
    })
  })
  it('counts restarts with the last restart age', () => {
    const status = {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'a',
          ready: true,
          restartCount: 3,
          state: { running: {} },
          lastState: { terminated: { finishedAt: ago(5 * M) } },
        },
      ],
    }
    expect(podSummary({ spec: { containers: [{ name: 'a' }] }, status })).toEqual({
      ready: '1/1',
      status: 'Running',
      restarts: '3 (5m ago)',
    })
  })
  it('shows init progress and Terminating', () => {
    const init = {
      spec: { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'a' }] },
      status: {
        phase: 'Pending',
        initContainerStatuses: [
          { name: 'i1', state: { terminated: { exitCode: 0 } } },
          { name: 'i2', state: { running: {} } },
        ],
      },
    }
    expect(podSummary(init).status).toBe('Init:1/2')
    expect(
      podSummary({ ...base, metadata: { deletionTimestamp: ago(0) }, status: { phase: 'Running' } })
        .status,
    ).toBe('Terminating')
  })
  it('shows Completed and exit codes', () => {
    expect(
      podSummary({
        spec: { containers: [{ name: 'a' }] },
        status: {
          phase: 'Succeeded',
          containerStatuses: [
            { name: 'a', state: { terminated: { reason: 'Completed', exitCode: 0 } } },
          ],
        },
      }).status,
    ).toBe('Completed')
    expect(
      podSummary({
        spec: { containers: [{ name: 'a' }] },
        status: {
          phase: 'Failed',
          containerStatuses: [{ name: 'a', state: { terminated: { exitCode: 2 } } }],
        },
      }).status,
    ).toBe('ExitCode:2')
  })
})

describe('table rows', () => {
  const names = (t: ReturnType<typeof kind>) =>
    t.strategy.printer!.columns.map((c) => (c.priority ? `(${c.name})` : c.name))

  it('prints pods with the wide columns last', () => {
    const pods = kind('', 'pods')
    expect(names(pods)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
      '(IP)',
      '(Node)',
      '(Nominated Node)',
      '(Readiness Gates)',
    ])
    const { obj } = create(pods, {
      metadata: { name: 'p', namespace: 'd', creationTimestamp: ago(10 * S) },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    })
    expect(pods.strategy.printer!.row(obj)).toEqual([
      'p',
      '0/1',
      'Pending',
      '0',
      '10s',
      '<none>',
      '<none>',
      '<none>',
      '<none>',
    ])
  })

  it('prints deployments as kubectl shows them', () => {
    const d = kind('apps', 'deployments')
    expect(names(d)).toEqual([
      'Name',
      'Ready',
      'Up-to-date',
      'Available',
      'Age',
      '(Containers)',
      '(Images)',
      '(Selector)',
    ])
    const { obj } = create(d, {
      metadata: { name: 'web', namespace: 'd', creationTimestamp: ago(3 * M) },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] },
        },
      },
    })
    obj.status = { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 }
    expect(d.strategy.printer!.row(obj)).toEqual([
      'web',
      '2/3',
      3,
      2,
      '3m',
      'nginx',
      'nginx:1.25',
      'app=web',
    ])
  })

  it('prints services with type, IPs and ports', () => {
    const s = kind('', 'services')
    const svc = {
      metadata: { name: 'web', creationTimestamp: ago(2 * H) },
      spec: {
        type: 'NodePort',
        clusterIPs: ['10.96.0.12'],
        ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }],
        selector: { app: 'web' },
      },
    }
    expect(s.strategy.printer!.row(svc)).toEqual([
      'web',
      'NodePort',
      '10.96.0.12',
      '<none>',
      '80:30080/TCP',
      '120m',
      'app=web',
    ])
    expect(
      s.strategy.printer!.row({
        metadata: { name: 'lb' },
        spec: { type: 'LoadBalancer', clusterIPs: ['10.96.0.2'], ports: [] },
      })[3],
    ).toBe('<pending>')
  })

  it('prints jobs with status, completions and duration', () => {
    const j = kind('batch', 'jobs')
    expect(names(j)).toEqual([
      'Name',
      'Status',
      'Completions',
      'Duration',
      'Age',
      '(Containers)',
      '(Images)',
      '(Selector)',
    ])
    const job = {
      metadata: { name: 'pi', creationTimestamp: ago(90 * S) },
      spec: {
        completions: 1,
        parallelism: 1,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u' } },
        template: { spec: { containers: [{ name: 'pi', image: 'perl' }] } },
      },
      status: {
        succeeded: 1,
        startTime: '2024-01-01T00:00:00Z',
        completionTime: '2024-01-01T00:00:07Z',
        conditions: [{ type: 'Complete', status: 'True' }],
      },
    }
    expect(j.strategy.printer!.row(job)).toEqual([
      'pi',
      'Complete',
      '1/1',
      '7s',
      '90s',
      'pi',
      'perl',
      'batch.kubernetes.io/controller-uid=u',
    ])
  })

  it('prints configmaps, secrets and namespaces', () => {
    expect(
      kind('', 'configmaps').strategy.printer!.row({
        metadata: { name: 'c', creationTimestamp: ago(S) },
        data: { a: '1' },
        binaryData: { b: 'AA==' },
      }),
    ).toEqual(['c', 2, '1s'])
    expect(
      kind('', 'secrets').strategy.printer!.row({
        metadata: { name: 's', creationTimestamp: ago(S) },
        type: 'Opaque',
        data: { a: 'YQ==' },
      }),
    ).toEqual(['s', 'Opaque', 1, '1s'])
    expect(
      kind('', 'namespaces').strategy.printer!.row({
        metadata: { name: 'n', creationTimestamp: ago(S) },
        status: { phase: 'Active' },
      }),
    ).toEqual(['n', 'Active', '1s'])
  })

  it('prints events with the object they are about', () => {
    const e = kind('', 'events')
    const ev = {
      metadata: { name: 'p.1' },
      type: 'Normal',
      reason: 'Scheduled',
      involvedObject: { kind: 'Pod', name: 'p' },
      message: 'ok ',
      lastTimestamp: ago(5 * S),
      firstTimestamp: ago(5 * S),
      source: { component: 'scheduler' },
    }
    expect(e.strategy.printer!.row(ev)).toEqual([
      '5s',
      'Normal',
      'Scheduled',
      'pod/p',
      '',
      'scheduler',
      'ok',
      '5s',
      1,
      'p.1',
    ])
  })

  it('falls back to NAME and CREATED AT for kinds without a printer', () => {
    expect(kind('rbac.authorization.k8s.io', 'roles').strategy.printer).toBeUndefined()
    expect(defaultPrinter.columns.map((c) => c.name)).toEqual(['Name', 'Created At'])
    expect(
      defaultPrinter.row({ metadata: { name: 'r', creationTimestamp: '2024-01-01T00:00:00Z' } }),
    ).toEqual(['r', '2024-01-01T00:00:00Z'])
  })
})

// HorizontalPodAutoscaler in autoscaling/v1 and autoscaling/v2 over one storage, as kube-apiserver 1.32
// serves it (v2 preferred): the real kubectl writes in one version and reads in the other, autoscales a
// Deployment, lists with kube's columns, watches, applies server-side and explains v1; v1 answers in
// protobuf too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'
import { decodeObject } from '../helpers/kube-proto'

let server: LocalServer
const NS = 'hpa'

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'namespace', NS)
  await server.k('create', 'deployment', 'web', '--image=nginx', '-n', NS)
}, 120_000)
afterAll(async () => {
  await server?.dispose()
})

const create = (manifest: object) =>
  server.kubectl(['create', '-n', NS, '-f', '-'], { input: JSON.stringify(manifest) })
const getJSON = async (resource: string, name: string) =>
  JSON.parse(await server.k('get', resource, name, '-n', NS, '-o', 'json'))

const ref = { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' }
// The versioned resource is named in full: client-go's shortcut expander (restmapper/shortcut.go) drops the
// version of a short name, so kubectl maps `hpa.v1.autoscaling` to the preferred v2, against kube as here.

describe('written in v2, read in v1', () => {
  it('maps the cpu target to targetCPUUtilizationPercentage and carries the rest in annotations', async () => {
    const r = await create({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'two', annotations: { team: 'a' } },
      spec: {
        scaleTargetRef: ref,
        maxReplicas: 8,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
          },
          {
            type: 'Pods',
            pods: {
              metric: { name: 'qps' },
              target: { type: 'AverageValue', averageValue: '10' },
            },
          },
        ],
        behavior: { scaleDown: { stabilizationWindowSeconds: 60 } },
      },
    })
    expect(r.stderr).toBe('')
    const v1 = await getJSON('horizontalpodautoscalers.v1.autoscaling', 'two')
    expect(v1.apiVersion).toBe('autoscaling/v1')
    expect(v1.spec).toEqual({
      scaleTargetRef: ref,
      minReplicas: 1,
      maxReplicas: 8,
      targetCPUUtilizationPercentage: 60,
    })
    expect(v1.status).toEqual({ currentReplicas: 0, desiredReplicas: 0 })
    expect(v1.metadata.annotations).toEqual({
      team: 'a',
      'autoscaling.alpha.kubernetes.io/metrics':
        '[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]',
      'autoscaling.alpha.kubernetes.io/behavior':
        '{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[' +
        '{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}]},' +
        '"ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":"Max","Policies":[' +
        '{"Type":"Percent","Value":100,"PeriodSeconds":15}]}}',
    })
    // The v2 view is untouched by the annotations v1 shows.
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'two')
    expect(v2.metadata.annotations).toEqual({ team: 'a' })
    expect(v2.spec.metrics).toHaveLength(2)
  })

  it('keeps the v2-only fields when v1 changes what it can see', async () => {
    await server.k(
      'patch',
      'horizontalpodautoscalers.v1.autoscaling',
      'two',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"spec":{"targetCPUUtilizationPercentage":75}}',
    )
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'two')
    expect(v2.metadata.generation).toBe(2)
    expect(v2.metadata.annotations).toEqual({ team: 'a' })
    // kube's conversion puts the annotation's metrics first, then the cpu one.
    expect(v2.spec.metrics.map((m: { type: string }) => m.type)).toEqual(['Pods', 'Resource'])
    expect(v2.spec.metrics[1].resource.target.averageUtilization).toBe(75)
    expect(v2.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(60)
  })

  it('drops the round-trip annotations a v2 client sends', async () => {
    await create({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: {
        name: 'sneaky',
        annotations: { 'autoscaling.alpha.kubernetes.io/metrics': '[]' },
      },
      spec: { scaleTargetRef: ref, maxReplicas: 2 },
    })
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'sneaky')
    expect(v2.metadata.annotations).toBeUndefined()
  })
})

describe('written in v1, read in v2', () => {
  it("defaults minReplicas and v1's implicit 80% cpu target", async () => {
    const r = await create({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'one' },
      spec: { scaleTargetRef: ref, maxReplicas: 4 },
    })
    expect(r.stdout).toBe('horizontalpodautoscaler.autoscaling/one created\n')
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'one')
    expect(v2.spec).toEqual({
      scaleTargetRef: ref,
      minReplicas: 1,
      maxReplicas: 4,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
        },
      ],
    })
    const v1 = await getJSON('horizontalpodautoscalers.v1.autoscaling', 'one')
    expect(v1.spec.targetCPUUtilizationPercentage).toBe(80)
    expect(v1.metadata.annotations).toBeUndefined()
  })

  it('takes the other metrics from the annotation', async () => {
    await create({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: {
        name: 'annotated',
        annotations: {
          'autoscaling.alpha.kubernetes.io/metrics':
            '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}]',
        },
      },
      spec: { scaleTargetRef: ref, maxReplicas: 4, targetCPUUtilizationPercentage: 50 },
    })
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'annotated')
    expect(v2.metadata.annotations).toBeUndefined()
    expect(v2.spec.metrics).toEqual([
      {
        type: 'Resource',
        resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '500Mi' } },
      },
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
      },
    ])
  })

  it("rejects with kube's messages, which name v2's fields", async () => {
    const r = await create({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'bad' },
      spec: { scaleTargetRef: ref, maxReplicas: 0, targetCPUUtilizationPercentage: 0 },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'The HorizontalPodAutoscaler "bad" is invalid: \n' +
        '* spec.maxReplicas: Invalid value: 0: must be greater than 0\n' +
        '* spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0\n',
    )
  })

  it('status written through v1 keeps the v2 conditions it sends in the annotation', async () => {
    const v1 = await getJSON('horizontalpodautoscalers.v1.autoscaling', 'one')
    v1.status = { currentReplicas: 2, desiredReplicas: 3, currentCPUUtilizationPercentage: 91 }
    v1.metadata.annotations = {
      'autoscaling.alpha.kubernetes.io/conditions':
        '[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z",' +
        '"reason":"SucceededRescale"}]',
    }
    const r = await server.kubectl(['replace', '--subresource=status', '-n', NS, '-f', '-'], {
      input: JSON.stringify(v1),
    })
    expect(r.stderr).toBe('')
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'one')
    expect(v2.metadata.annotations).toBeUndefined()
    expect(v2.status).toEqual({
      currentReplicas: 2,
      desiredReplicas: 3,
      currentMetrics: [
        { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 91 } } },
      ],
      conditions: [
        {
          type: 'AbleToScale',
          status: 'True',
          lastTransitionTime: '2024-01-01T00:00:00Z',
          reason: 'SucceededRescale',
        },
      ],
    })
    // A write of the main resource through v1 that leaves the status annotations out keeps the status.
    const again = await getJSON('horizontalpodautoscalers.v1.autoscaling', 'one')
    delete again.metadata.annotations
    again.spec.maxReplicas = 6
    const u = await server.kubectl(['replace', '-n', NS, '-f', '-'], {
      input: JSON.stringify(again),
    })
    expect(u.stderr).toBe('')
    const after = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'one')
    expect(after.spec.maxReplicas).toBe(6)
    expect(after.status.conditions).toEqual(v2.status.conditions)
  })
})

describe('kubectl autoscale and get', () => {
  it('autoscales a Deployment and lists it with REFERENCE, TARGETS, MINPODS, MAXPODS, REPLICAS', async () => {
    const r = await server.kubectl(
      [
        'autoscale',
        'deployment',
        'web',
        '-n',
        NS,
        '--min=2',
        '--max=5',
        '--cpu-percent=70',
        '-v=6',
      ],
      {},
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('horizontalpodautoscaler.autoscaling/web autoscaled\n')
    // kubectl 1.32's autoscale creates an autoscaling/v1 HPA (its generator builds v1).
    expect(r.stderr).toMatch(
      /POST https:\/\/[^ ]+\/apis\/autoscaling\/v1\/namespaces\/hpa\/horizontalpodautoscalers\?fieldManager=kubectl-autoscale 201/,
    )
    for (const resource of ['hpa', 'horizontalpodautoscalers.v1.autoscaling']) {
      const lines = (await server.k('get', resource, 'web', '-n', NS)).trim().split('\n')
      expect(lines[0]).toMatch(/^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE$/)
      expect(lines[1]).toMatch(/^web\s+Deployment\/web\s+cpu: <unknown>\/70%\s+2\s+5\s+0\s+\d+s$/)
    }
  })
})

describe('served as kube serves it', () => {
  it('is in legacy discovery with v2 preferred, and v1 has the status subresource', async () => {
    const group = JSON.parse(await server.k('get', '--raw', '/apis/autoscaling'))
    expect(group.versions).toEqual([
      { groupVersion: 'autoscaling/v2', version: 'v2' },
      { groupVersion: 'autoscaling/v1', version: 'v1' },
    ])
    expect(group.preferredVersion).toEqual({ groupVersion: 'autoscaling/v2', version: 'v2' })
    const list = JSON.parse(await server.k('get', '--raw', '/apis/autoscaling/v1'))
    expect(list.resources.map((r: { name: string }) => r.name)).toEqual([
      'horizontalpodautoscalers',
      'horizontalpodautoscalers/status',
    ])
    const v2 = JSON.parse(await server.k('get', '--raw', '/apis/autoscaling/v2'))
    // One storage: both versions publish the same storage version hash.
    expect(list.resources[0].storageVersionHash).toBe(v2.resources[0].storageVersionHash)
    expect(list.resources[0].shortNames).toEqual(['hpa'])
  })

  it('is in aggregated discovery', async () => {
    const r = await server.request('GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    })
    const groups = JSON.parse(r.body).items as {
      metadata: { name: string }
      versions: { version: string; resources: { resource: string }[] }[]
    }[]
    const autoscaling = groups.find((g) => g.metadata.name === 'autoscaling')!
    expect(autoscaling.versions.map((v) => v.version)).toEqual(['v2', 'v1'])
    expect(autoscaling.versions[1]!.resources.map((x) => x.resource)).toEqual([
      'horizontalpodautoscalers',
    ])
  })

  it('kubectl explain reads v1 from OpenAPI', async () => {
    const out = await server.k(
      'explain',
      'horizontalpodautoscalers.spec.targetCPUUtilizationPercentage',
      '--api-version=autoscaling/v1',
    )
    expect(out).toContain('GROUP:      autoscaling')
    expect(out).toContain('VERSION:    v1')
    expect(out).toContain('FIELD: targetCPUUtilizationPercentage <integer>')
    const v2 = JSON.parse(await server.k('get', '--raw', '/openapi/v2'))
    expect(
      v2.paths['/apis/autoscaling/v1/namespaces/{namespace}/horizontalpodautoscalers'],
    ).toBeDefined()
  })

  it('watches in v1', async () => {
    const out = await server.k(
      'get',
      '--raw',
      `/apis/autoscaling/v1/namespaces/${NS}/horizontalpodautoscalers?watch=1&timeoutSeconds=1&fieldSelector=metadata.name=two`,
    )
    const event = JSON.parse(out.trim().split('\n')[0]!)
    expect(event.type).toBe('ADDED')
    expect(event.object.apiVersion).toBe('autoscaling/v1')
    expect(event.object.spec.targetCPUUtilizationPercentage).toBe(75)
  })

  it('applies server-side in v1, with v1 fields in managedFields', async () => {
    const manifest = {
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'applied', namespace: NS },
      spec: { scaleTargetRef: ref, maxReplicas: 3, targetCPUUtilizationPercentage: 65 },
    }
    const r = await server.kubectl(['apply', '--server-side', '-f', '-'], {
      input: JSON.stringify(manifest),
    })
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('horizontalpodautoscaler.autoscaling/applied serverside-applied\n')
    const v1 = JSON.parse(
      await server.k(
        'get',
        'horizontalpodautoscalers.v1.autoscaling',
        'applied',
        '-n',
        NS,
        '-o',
        'json',
        '--show-managed-fields',
      ),
    )
    const entry = v1.metadata.managedFields.find(
      (f: { manager: string }) => f.manager === 'kubectl',
    )
    expect(entry.apiVersion).toBe('autoscaling/v1')
    expect(entry.operation).toBe('Apply')
    expect(entry.fieldsV1['f:spec']).toHaveProperty('f:targetCPUUtilizationPercentage')
    const v2 = await getJSON('horizontalpodautoscalers.v2.autoscaling', 'applied')
    expect(v2.spec.metrics[0].resource.target.averageUtilization).toBe(65)
  })

  it('answers v1 in protobuf', async () => {
    const r = await server.request(
      'GET',
      `/apis/autoscaling/v1/namespaces/${NS}/horizontalpodautoscalers/one`,
      undefined,
      { Accept: 'application/vnd.kubernetes.protobuf' },
    )
    expect(r.status).toBe(200)
    const obj = decodeObject(r.raw) as { apiVersion: string; spec: Record<string, unknown> }
    expect(obj.apiVersion).toBe('autoscaling/v1')
    expect(obj.spec.targetCPUUtilizationPercentage).toBe(80)
  })
})

// autoscaling/v1 ⇄ autoscaling/v2 HorizontalPodAutoscaler conversion, as kube's
// pkg/apis/autoscaling/v1/conversion.go does it: the cpu target maps to targetCPUUtilizationPercentage,
// everything else v1 cannot say rides in the autoscaling.alpha.kubernetes.io annotations, with Go's JSON.
import { describe, expect, it } from 'vitest'
import {
  hpaFromV1 as fromV1,
  hpaToV1 as toV1,
  BEHAVIOR_SPECS_ANNOTATION,
  CONDITIONS_ANNOTATION,
  METRIC_SPECS_ANNOTATION,
  METRIC_STATUSES_ANNOTATION,
} from '../../src/registry/builtin/autoscaling-v1'
import {
  horizontalpodautoscalers,
  horizontalpodautoscalersV1,
} from '../../src/registry/builtin/autoscaling'
import type { Obj } from '../../src/registry/builtin/define'

const hpaFromV1 = (o: Obj): Obj => fromV1(o)
const hpaToV1 = (o: Obj): Obj => toV1(o)

const ref = { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' }
const meta = { name: 'web', namespace: 'default' }
const cpu = (u: number) => ({
  type: 'Resource',
  resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: u } },
})
const memory = {
  type: 'Resource',
  resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '500Mi' } },
}
const behavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  },
}
const condition = {
  type: 'AbleToScale',
  status: 'True',
  lastTransitionTime: '2024-01-01T00:00:00Z',
  reason: 'SucceededGetScale',
  message: "the HPA controller was able to get the target's current scale",
}

describe('autoscaling/v1 → v2', () => {
  it('turns targetCPUUtilizationPercentage into a Resource cpu Utilization metric', () => {
    const v2 = hpaFromV1({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta,
      spec: {
        scaleTargetRef: ref,
        minReplicas: 2,
        maxReplicas: 5,
        targetCPUUtilizationPercentage: 50,
      },
      status: { currentReplicas: 3, desiredReplicas: 4, currentCPUUtilizationPercentage: 61 },
    })
    expect(v2).toEqual({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta,
      spec: { scaleTargetRef: ref, minReplicas: 2, maxReplicas: 5, metrics: [cpu(50)] },
      status: {
        currentReplicas: 3,
        desiredReplicas: 4,
        currentMetrics: [
          { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 61 } } },
        ],
      },
    })
  })

  it("makes v1's implicit 80% cpu target explicit when no metric is given", () => {
    const v2 = hpaFromV1({ metadata: meta, spec: { scaleTargetRef: ref, maxReplicas: 3 } })
    expect(v2.spec.metrics).toEqual([cpu(80)])
    expect(v2.status).toEqual({ desiredReplicas: 0 })
  })

  it('puts the annotated metrics first, then the cpu one, and drops the annotations', () => {
    const v2 = hpaFromV1({
      metadata: {
        ...meta,
        annotations: {
          keep: 'me',
          [METRIC_SPECS_ANNOTATION]:
            '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}},' +
            '{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}},' +
            '{"type":"External","external":{"metricName":"queue","targetValue":"30"}},' +
            '{"type":"Object","object":{"target":{"kind":"Service","name":"front"},' +
            '"metricName":"hits","targetValue":"2k"}}]',
          [BEHAVIOR_SPECS_ANNOTATION]: '{"ScaleUp":{"SelectPolicy":"Min"},"ScaleDown":null}',
          [CONDITIONS_ANNOTATION]: JSON.stringify([condition]),
          [METRIC_STATUSES_ANNOTATION]:
            '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,' +
            '"currentAverageValue":"120m"}}]',
        },
      },
      spec: { scaleTargetRef: ref, maxReplicas: 3, targetCPUUtilizationPercentage: 70 },
      status: { currentReplicas: 1, desiredReplicas: 1, currentCPUUtilizationPercentage: 40 },
    })
    expect(v2.metadata).toEqual({ ...meta, annotations: { keep: 'me' } })
    expect(v2.spec.metrics).toEqual([
      memory,
      {
        type: 'Pods',
        pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '10' } },
      },
      {
        type: 'External',
        external: { metric: { name: 'queue' }, target: { type: 'Value', value: '30' } },
      },
      {
        type: 'Object',
        object: {
          describedObject: { kind: 'Service', name: 'front' },
          target: { type: 'Value', value: '2k' },
          metric: { name: 'hits' },
        },
      },
      cpu(70),
    ])
    expect(v2.spec.behavior).toEqual({ scaleUp: { selectPolicy: 'Min' } })
    expect(v2.status.conditions).toEqual([condition])
    expect(v2.status.currentMetrics).toEqual([
      {
        type: 'Resource',
        resource: { name: 'cpu', current: { averageValue: '120m', averageUtilization: 40 } },
      },
    ])
  })

  it('ignores an annotation that does not decode, as kube does', () => {
    const v2 = hpaFromV1({
      metadata: {
        ...meta,
        annotations: { [METRIC_SPECS_ANNOTATION]: 'abc', [BEHAVIOR_SPECS_ANNOTATION]: '{}' },
      },
      spec: { scaleTargetRef: ref, maxReplicas: 3 },
    })
    expect(v2.metadata).toEqual(meta)
    expect(v2.spec.metrics).toEqual([cpu(80)])
    expect(v2.spec.behavior).toBeUndefined()
  })
})

describe('autoscaling/v2 → v1', () => {
  const stored = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { ...meta, annotations: { keep: 'me' } },
    spec: {
      scaleTargetRef: ref,
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [cpu(70), memory],
      behavior,
    },
    status: {
      observedGeneration: 2,
      desiredReplicas: 2,
      currentReplicas: 2,
      currentMetrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', current: { averageValue: '120m', averageUtilization: 40 } },
        },
      ],
      conditions: [condition, { type: 'ScalingActive', status: 'False' }],
    },
  }

  it("carries what v1 cannot say in annotations, in Go's JSON", () => {
    const v1 = hpaToV1(stored)
    expect(v1).toEqual({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: {
        ...meta,
        annotations: {
          keep: 'me',
          [METRIC_SPECS_ANNOTATION]:
            '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}]',
          [METRIC_STATUSES_ANNOTATION]:
            '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,' +
            '"currentAverageValue":"120m"}}]',
          [BEHAVIOR_SPECS_ANNOTATION]:
            '{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[' +
            '{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}]},' +
            '"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max","Policies":[' +
            '{"Type":"Percent","Value":100,"PeriodSeconds":15}]}}',
          [CONDITIONS_ANNOTATION]:
            '[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z",' +
            '"reason":"SucceededGetScale","message":"the HPA controller was able to get the target\'s current scale"},' +
            '{"type":"ScalingActive","status":"False","lastTransitionTime":null}]',
        },
      },
      spec: {
        scaleTargetRef: ref,
        minReplicas: 1,
        maxReplicas: 10,
        targetCPUUtilizationPercentage: 70,
      },
      status: {
        observedGeneration: 2,
        currentReplicas: 2,
        desiredReplicas: 2,
        currentCPUUtilizationPercentage: 40,
      },
    })
  })

  it('round-trips back to v2 with the other metrics before the cpu one, as kube orders them', () => {
    const back = hpaFromV1(hpaToV1(stored))
    expect(back.metadata).toEqual(stored.metadata)
    expect(back.spec).toEqual({ ...stored.spec, metrics: [memory, cpu(70)] })
    // A condition without a time comes back without one; everything else as it was.
    expect(back.status).toEqual(stored.status)
  })

  it('writes no annotation for a cpu-only HPA, and an empty status as zeros', () => {
    const v1 = hpaToV1({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta,
      spec: { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 3, metrics: [cpu(80)] },
      status: { desiredReplicas: 0 },
    })
    expect(v1.metadata).toEqual(meta)
    expect(v1.spec).toEqual({
      scaleTargetRef: ref,
      minReplicas: 1,
      maxReplicas: 3,
      targetCPUUtilizationPercentage: 80,
    })
    expect(v1.status).toEqual({ currentReplicas: 0, desiredReplicas: 0 })
    expect(hpaFromV1(v1).spec.metrics).toEqual([cpu(80)])
  })

  it('keeps the Object, Pods, External and ContainerResource metrics through v1 unchanged', () => {
    const metrics = [
      {
        type: 'Object',
        object: {
          describedObject: { kind: 'Ingress', name: 'main', apiVersion: 'networking.k8s.io/v1' },
          target: { type: 'AverageValue', value: '0', averageValue: '2k' },
          metric: { name: 'rps', selector: { matchLabels: { a: 'b' } } },
        },
      },
      {
        type: 'Pods',
        pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '1k' } },
      },
      {
        type: 'External',
        external: {
          metric: { name: 'queue', selector: { matchLabels: { q: 'jobs' } } },
          target: { type: 'AverageValue', averageValue: '30' },
        },
      },
      {
        type: 'ContainerResource',
        containerResource: {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: 60 },
          container: 'app',
        },
      },
    ]
    const v2 = { ...stored, spec: { ...stored.spec, metrics, behavior: undefined } }
    delete (v2.spec as Record<string, unknown>).behavior
    const back = hpaFromV1(hpaToV1(v2))
    expect(back.spec.metrics).toEqual(metrics)
    // No cpu Utilization metric among them: v1 has no target, and v2 gets none back.
    expect(hpaToV1(v2).spec.targetCPUUtilizationPercentage).toBeUndefined()
  })
})

describe('the autoscaling/v1 kind', () => {
  it('stores v2, defaulted as kube decodes it, and reads v1 back', () => {
    const v1 = {
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta,
      spec: { scaleTargetRef: ref, maxReplicas: 3 },
    }
    horizontalpodautoscalersV1.strategy.defaults!(v1)
    expect(v1.spec).toEqual({ scaleTargetRef: ref, minReplicas: 1, maxReplicas: 3 })
    const stored = horizontalpodautoscalersV1.convert!.toStorage(v1) as Obj
    expect(stored.spec).toEqual({
      scaleTargetRef: ref,
      minReplicas: 1,
      maxReplicas: 3,
      metrics: [cpu(80)],
    })
  })

  it("validates as v2, naming v2's fields", () => {
    const errs = horizontalpodautoscalersV1.strategy.validate!(
      {
        apiVersion: 'autoscaling/v1',
        kind: 'HorizontalPodAutoscaler',
        metadata: meta,
        spec: {
          scaleTargetRef: ref,
          minReplicas: 1,
          maxReplicas: 3,
          targetCPUUtilizationPercentage: 0,
        },
      },
      {} as never,
    )
    expect(errs.map((e) => `${e.field}: ${e.detail}`)).toEqual([
      'spec.metrics[0].resource.target.averageUtilization: must be greater than 0',
    ])
  })

  it('prints the same row as v2 (the row of the object it is in v2)', () => {
    const rowV1 = horizontalpodautoscalersV1.strategy.printer!.row(hpaToV1(storedForPrint))
    const rowV2 = horizontalpodautoscalers.strategy.printer!.row(storedForPrint)
    expect(rowV1).toEqual(rowV2)
    expect(rowV1.slice(1, 6)).toEqual(['Deployment/web', 'cpu: 40%/70%', '1', 10, 2])
  })
})

const storedForPrint = {
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { ...meta, creationTimestamp: '2024-01-01T00:00:00Z' },
  spec: { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 10, metrics: [cpu(70)] },
  status: {
    desiredReplicas: 2,
    currentReplicas: 2,
    currentMetrics: [
      { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 40 } } },
    ],
  },
}

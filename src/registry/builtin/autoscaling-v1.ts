// autoscaling/v1 HorizontalPodAutoscaler: a view of the autoscaling/v2 storage, converted as kube's
// pkg/apis/autoscaling/v1/conversion.go does. v1 has one metric, targetCPUUtilizationPercentage (a Resource
// cpu Utilization metric in v2); what v1 cannot say travels in annotations: the other metrics, the current
// metrics, the conditions and the behavior, each as JSON.
import type { KubeObject } from '../types'
import type { Obj } from './define'

export const METRIC_SPECS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/metrics'
export const METRIC_STATUSES_ANNOTATION = 'autoscaling.alpha.kubernetes.io/current-metrics'
export const CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions'
export const BEHAVIOR_SPECS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/behavior'

const ROUND_TRIP_ANNOTATIONS = [
  METRIC_SPECS_ANNOTATION,
  BEHAVIOR_SPECS_ANNOTATION,
  METRIC_STATUSES_ANNOTATION,
  CONDITIONS_ANNOTATION,
]
/** The annotations that carry status, which a write of the main resource may not change. */
export const STATUS_ANNOTATIONS = [METRIC_STATUSES_ANNOTATION, CONDITIONS_ANNOTATION]

// autoscaling.DefaultCPUUtilization: v1's implicit target, made explicit by the conversion.
const DEFAULT_CPU_UTILIZATION = 80

/**
 * DropRoundTripHorizontalPodAutoscalerAnnotations: a copy of metadata without the four annotations, which only
 * the conversion may produce. An emptied map goes (annotations is omitempty).
 */
export function dropRoundTripAnnotations(metadata: Obj | undefined): Obj | undefined {
  const annotations = metadata?.annotations as Record<string, string> | undefined
  if (!annotations || !ROUND_TRIP_ANNOTATIONS.some((k) => k in annotations)) return metadata
  const rest = { ...annotations }
  for (const k of ROUND_TRIP_ANNOTATIONS) delete rest[k]
  const out = { ...metadata }
  if (Object.keys(rest).length) out.annotations = rest
  else delete out.annotations
  return out
}

// Optional fields are left out when unset (Go's omitempty on pointers); a zero Quantity writes "0".
function compact(o: Obj): Obj {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]
  return o
}

const ZERO = '0'

const refToV1 = (r: Obj | undefined) =>
  compact({ kind: r?.kind ?? '', name: r?.name ?? '', apiVersion: r?.apiVersion || undefined })
const refToV2 = refToV1

// ---- autoscaling/v2 (kube's internal version) → v1, metric by metric.

function metricSpecToV1(m: Obj): Obj {
  const out: Obj = { type: m.type ?? '' }
  if (m.object)
    out.object = compact({
      target: refToV1(m.object.describedObject),
      metricName: m.object.metric?.name ?? '',
      targetValue: m.object.target?.value ?? ZERO,
      selector: m.object.metric?.selector,
      averageValue: m.object.target?.averageValue,
    })
  if (m.pods)
    out.pods = compact({
      metricName: m.pods.metric?.name ?? '',
      targetAverageValue: m.pods.target?.averageValue ?? ZERO,
      selector: m.pods.metric?.selector,
    })
  if (m.resource)
    out.resource = compact({
      name: m.resource.name ?? '',
      targetAverageUtilization: m.resource.target?.averageUtilization,
      targetAverageValue: m.resource.target?.averageValue,
    })
  if (m.containerResource)
    out.containerResource = compact({
      name: m.containerResource.name ?? '',
      targetAverageUtilization: m.containerResource.target?.averageUtilization,
      targetAverageValue: m.containerResource.target?.averageValue,
      container: m.containerResource.container ?? '',
    })
  if (m.external)
    out.external = compact({
      metricName: m.external.metric?.name ?? '',
      metricSelector: m.external.metric?.selector,
      targetValue: m.external.target?.value,
      targetAverageValue: m.external.target?.averageValue,
    })
  return out
}

function metricStatusToV1(m: Obj): Obj {
  const out: Obj = { type: m.type ?? '' }
  if (m.object)
    out.object = compact({
      target: refToV1(m.object.describedObject),
      metricName: m.object.metric?.name ?? '',
      currentValue: m.object.current?.value ?? ZERO,
      selector: m.object.metric?.selector,
      averageValue: m.object.current?.averageValue,
    })
  if (m.pods)
    out.pods = compact({
      metricName: m.pods.metric?.name ?? '',
      currentAverageValue: m.pods.current?.averageValue ?? ZERO,
      selector: m.pods.metric?.selector,
    })
  if (m.resource)
    out.resource = compact({
      name: m.resource.name ?? '',
      currentAverageUtilization: m.resource.current?.averageUtilization,
      currentAverageValue: m.resource.current?.averageValue ?? ZERO,
    })
  if (m.containerResource)
    out.containerResource = compact({
      name: m.containerResource.name ?? '',
      currentAverageUtilization: m.containerResource.current?.averageUtilization,
      currentAverageValue: m.containerResource.current?.averageValue ?? ZERO,
      container: m.containerResource.container ?? '',
    })
  if (m.external)
    out.external = compact({
      metricName: m.external.metric?.name ?? '',
      metricSelector: m.external.metric?.selector,
      currentValue: m.external.current?.value ?? ZERO,
      currentAverageValue: m.external.current?.averageValue,
    })
  return out
}

// metav1.Time's zero value marshals as null, and v1's condition has no omitempty on it.
const conditionToV1 = (c: Obj) =>
  compact({
    type: c.type ?? '',
    status: c.status ?? '',
    lastTransitionTime: c.lastTransitionTime ?? null,
    reason: c.reason || undefined,
    message: c.message || undefined,
  })

// The behavior annotation holds kube's internal type marshalled as it is: Go field names, nil pointers as null
// (pkg/apis/autoscaling's HorizontalPodAutoscalerBehavior has no json tags).
function behaviorToInternalJSON(b: Obj): Obj {
  const rules = (r: Obj | undefined) =>
    r == null
      ? null
      : {
          StabilizationWindowSeconds: r.stabilizationWindowSeconds ?? null,
          SelectPolicy: r.selectPolicy ?? null,
          Policies: Array.isArray(r.policies)
            ? r.policies.map((p: Obj) => ({
                Type: p.type ?? '',
                Value: p.value ?? 0,
                PeriodSeconds: p.periodSeconds ?? 0,
              }))
            : null,
        }
  return { ScaleUp: rules(b.scaleUp), ScaleDown: rules(b.scaleDown) }
}

const isCPUResource = (m: Obj) => m.type === 'Resource' && m.resource && m.resource.name === 'cpu'

/** Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler, from the stored v2 object. */
export function hpaToV1(hpa: KubeObject): KubeObject {
  const spec: Obj = hpa.spec ?? {}
  const status: Obj = hpa.status ?? {}
  const metrics = (spec.metrics ?? []) as Obj[]
  const currentMetrics = (status.currentMetrics ?? []) as Obj[]
  const conditions = (status.conditions ?? []) as Obj[]

  const v1Spec: Obj = compact({
    scaleTargetRef: refToV1(spec.scaleTargetRef),
    minReplicas: spec.minReplicas ?? undefined,
    maxReplicas: spec.maxReplicas ?? 0,
  })
  // The first cpu Resource metric decides, whether or not it has a utilization target.
  const cpu = metrics.find(isCPUResource)
  if (cpu?.resource.target?.averageUtilization != null)
    v1Spec.targetCPUUtilizationPercentage = cpu.resource.target.averageUtilization

  const v1Status: Obj = compact({
    observedGeneration: status.observedGeneration ?? undefined,
    lastScaleTime: status.lastScaleTime ?? undefined,
    currentReplicas: status.currentReplicas ?? 0,
    desiredReplicas: status.desiredReplicas ?? 0,
  })
  // Every cpu Resource status with a utilization sets it: the last one wins, as in kube.
  for (const m of currentMetrics)
    if (isCPUResource(m) && m.resource.current?.averageUtilization != null)
      v1Status.currentCPUUtilizationPercentage = m.resource.current.averageUtilization

  const metadata: Obj = { ...(dropRoundTripAnnotations(hpa.metadata) ?? {}) }
  const annotations: Record<string, string> = { ...(metadata.annotations ?? {}) }
  const otherMetrics = metrics
    .filter((m) => !(isCPUResource(m) && m.resource.target?.averageUtilization != null))
    .map(metricSpecToV1)
  if (otherMetrics.length) annotations[METRIC_SPECS_ANNOTATION] = JSON.stringify(otherMetrics)
  // The current metrics go whole, the cpu utilization included, to keep its raw value too.
  if (currentMetrics.length)
    annotations[METRIC_STATUSES_ANNOTATION] = JSON.stringify(currentMetrics.map(metricStatusToV1))
  if (spec.behavior != null)
    annotations[BEHAVIOR_SPECS_ANNOTATION] = JSON.stringify(behaviorToInternalJSON(spec.behavior))
  if (conditions.length)
    annotations[CONDITIONS_ANNOTATION] = JSON.stringify(conditions.map(conditionToV1))
  if (Object.keys(annotations).length) metadata.annotations = annotations

  const { apiVersion: _a, kind, metadata: _m, spec: _s, status: _st, ...rest } = hpa
  return {
    ...rest,
    apiVersion: 'autoscaling/v1',
    kind: kind ?? 'HorizontalPodAutoscaler',
    metadata,
    spec: v1Spec,
    status: v1Status,
  }
}

// ---- v1 → autoscaling/v2.

const target = (t: Obj) => compact(t)

function metricSpecToV2(m: Obj): Obj {
  const out: Obj = { type: m.type ?? '' }
  if (m.object)
    out.object = {
      describedObject: refToV2(m.object.target),
      target: target({
        type: m.object.averageValue == null ? 'Value' : 'AverageValue',
        value: m.object.targetValue ?? ZERO,
        averageValue: m.object.averageValue ?? undefined,
      }),
      metric: compact({
        name: m.object.metricName ?? '',
        selector: m.object.selector ?? undefined,
      }),
    }
  if (m.pods)
    out.pods = {
      metric: compact({ name: m.pods.metricName ?? '', selector: m.pods.selector ?? undefined }),
      target: { type: 'AverageValue', averageValue: m.pods.targetAverageValue ?? ZERO },
    }
  if (m.resource) out.resource = { name: m.resource.name ?? '', target: resourceTarget(m.resource) }
  if (m.containerResource)
    out.containerResource = {
      name: m.containerResource.name ?? '',
      target: resourceTarget(m.containerResource),
      container: m.containerResource.container ?? '',
    }
  if (m.external)
    out.external = {
      metric: compact({
        name: m.external.metricName ?? '',
        selector: m.external.metricSelector ?? undefined,
      }),
      target: target({
        type: m.external.targetValue == null ? 'AverageValue' : 'Value',
        value: m.external.targetValue ?? undefined,
        averageValue: m.external.targetAverageValue ?? undefined,
      }),
    }
  return out
}

const resourceTarget = (r: Obj) =>
  target({
    type: r.targetAverageUtilization == null ? 'AverageValue' : 'Utilization',
    averageValue: r.targetAverageValue ?? undefined,
    averageUtilization: r.targetAverageUtilization ?? undefined,
  })

function metricStatusToV2(m: Obj): Obj {
  const out: Obj = { type: m.type ?? '' }
  if (m.object)
    out.object = {
      metric: compact({
        name: m.object.metricName ?? '',
        selector: m.object.selector ?? undefined,
      }),
      current: compact({
        value: m.object.currentValue ?? ZERO,
        averageValue: m.object.averageValue ?? undefined,
      }),
      describedObject: refToV2(m.object.target),
    }
  if (m.pods)
    out.pods = {
      metric: compact({ name: m.pods.metricName ?? '', selector: m.pods.selector ?? undefined }),
      current: { averageValue: m.pods.currentAverageValue ?? ZERO },
    }
  if (m.resource)
    out.resource = { name: m.resource.name ?? '', current: resourceCurrent(m.resource) }
  if (m.containerResource)
    out.containerResource = {
      name: m.containerResource.name ?? '',
      current: resourceCurrent(m.containerResource),
      container: m.containerResource.container ?? '',
    }
  if (m.external)
    out.external = {
      metric: compact({
        name: m.external.metricName ?? '',
        selector: m.external.metricSelector ?? undefined,
      }),
      current: compact({
        value: m.external.currentValue ?? ZERO,
        averageValue: m.external.currentAverageValue ?? undefined,
      }),
    }
  return out
}

const resourceCurrent = (r: Obj) =>
  compact({
    averageValue: r.currentAverageValue ?? ZERO,
    averageUtilization: r.currentAverageUtilization ?? undefined,
  })

const conditionToV2 = (c: Obj) =>
  compact({
    type: c.type ?? '',
    status: c.status ?? '',
    lastTransitionTime: c.lastTransitionTime ?? undefined,
    reason: c.reason || undefined,
    message: c.message || undefined,
  })

// encoding/json matches field names case-insensitively: the behavior annotation's Go names ("ScaleUp") and
// the versioned ones ("scaleUp") both decode.
function field(o: Obj, name: string): unknown {
  if (o == null || typeof o !== 'object') return undefined
  if (name in o) return o[name]
  const lower = name.toLowerCase()
  const key = Object.keys(o).find((k) => k.toLowerCase() === lower)
  return key === undefined ? undefined : o[key]
}

function behaviorFromJSON(b: Obj): Obj | undefined {
  const rules = (r: any): Obj | undefined => {
    if (r == null || typeof r !== 'object') return undefined
    const policies = field(r, 'policies')
    return compact({
      stabilizationWindowSeconds: field(r, 'stabilizationWindowSeconds') ?? undefined,
      selectPolicy: field(r, 'selectPolicy') ?? undefined,
      policies: Array.isArray(policies)
        ? policies.map((p: Obj) => ({
            type: field(p, 'type') ?? '',
            value: field(p, 'value') ?? 0,
            periodSeconds: field(p, 'periodSeconds') ?? 0,
          }))
        : undefined,
    })
  }
  const scaleUp = rules(field(b, 'scaleUp'))
  const scaleDown = rules(field(b, 'scaleDown'))
  // An annotation that decodes to the empty behavior sets none.
  if (!scaleUp && !scaleDown) return undefined
  return compact({ scaleUp, scaleDown })
}

// An annotation that does not decode is ignored, as kube's conversion ignores it (json.Unmarshal's error).
function parsed(text: string | undefined): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const objects = (v: unknown): Obj[] | undefined =>
  v === null
    ? []
    : Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object')
      ? (v as Obj[])
      : undefined

/** Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler, to the v2 form stored. */
export function hpaFromV1(hpa: KubeObject): KubeObject {
  const spec: Obj = hpa.spec ?? {}
  const status: Obj = hpa.status ?? {}
  const annotations: Record<string, string> = hpa.metadata?.annotations ?? {}

  const v2Spec: Obj = compact({
    scaleTargetRef: refToV2(spec.scaleTargetRef),
    minReplicas: spec.minReplicas ?? undefined,
    maxReplicas: spec.maxReplicas ?? 0,
  })
  let metrics: Obj[] =
    spec.targetCPUUtilizationPercentage != null
      ? [cpuUtilizationMetric(spec.targetCPUUtilizationPercentage)]
      : []
  const others = objects(parsed(annotations[METRIC_SPECS_ANNOTATION]))
  // The other metrics come first, then the cpu one.
  if (others) metrics = [...others.map(metricSpecToV2), ...metrics]
  const behavior = parsed(annotations[BEHAVIOR_SPECS_ANNOTATION])
  if (behavior !== null && typeof behavior === 'object' && !Array.isArray(behavior)) {
    const b = behaviorFromJSON(behavior as Obj)
    if (b) v2Spec.behavior = b
  }
  // v1's implicit default, made explicit once the annotation's metrics are known.
  if (!metrics.length) metrics = [cpuUtilizationMetric(DEFAULT_CPU_UTILIZATION)]
  v2Spec.metrics = metrics

  const v2Status: Obj = compact({
    observedGeneration: status.observedGeneration ?? undefined,
    lastScaleTime: status.lastScaleTime ?? undefined,
    currentReplicas: status.currentReplicas || undefined,
    desiredReplicas: status.desiredReplicas ?? 0,
  })
  if (status.currentCPUUtilizationPercentage != null)
    v2Status.currentMetrics = [
      {
        type: 'Resource',
        resource: {
          name: 'cpu',
          current: { averageUtilization: status.currentCPUUtilizationPercentage },
        },
      },
    ]
  // The annotation's current metrics have more than the cpu utilization: they replace it.
  const current = objects(parsed(annotations[METRIC_STATUSES_ANNOTATION]))
  if (current) {
    if (current.length) v2Status.currentMetrics = current.map(metricStatusToV2)
    else delete v2Status.currentMetrics
  }
  const conditions = objects(parsed(annotations[CONDITIONS_ANNOTATION]))
  if (conditions?.length) v2Status.conditions = conditions.map(conditionToV2)

  const { apiVersion: _a, kind, metadata, spec: _s, status: _st, ...rest } = hpa
  const out: KubeObject = {
    ...rest,
    apiVersion: 'autoscaling/v2',
    kind: kind ?? 'HorizontalPodAutoscaler',
    metadata: dropRoundTripAnnotations(metadata) ?? {},
    spec: v2Spec,
    status: v2Status,
  }
  if (hpa.metadata === undefined) delete out.metadata
  return out
}

function cpuUtilizationMetric(utilization: unknown): Obj {
  return {
    type: 'Resource',
    resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: utilization } },
  }
}

/** Metadata with the status annotations of `from` (those it lacks removed): status goes with status. */
export function withStatusAnnotations(obj: KubeObject, from: KubeObject | undefined): void {
  const have: Record<string, string> = { ...(obj.metadata?.annotations ?? {}) }
  const src: Record<string, string> = from?.metadata?.annotations ?? {}
  for (const k of STATUS_ANNOTATIONS) {
    if (k in src) have[k] = src[k]!
    else delete have[k]
  }
  const meta = (obj.metadata ??= {})
  if (Object.keys(have).length) meta.annotations = have
  else delete meta.annotations
}

// autoscaling/v2 HorizontalPodAutoscaler, and autoscaling/v1 as a view of the same storage (kube serves
// both, v2 preferred, and stores v2).
import { fieldInvalid, fieldRequired, type FieldError } from '../../server/errors'
import type { KubeObject } from '../types'
import { semanticEqual } from '../validation/equality'
import { col } from '../printers/format'
import {
  dropRoundTripAnnotations,
  hpaFromV1,
  hpaToV1,
  withStatusAnnotations,
} from './autoscaling-v1'
import { defineKind, printer, type Obj } from './define'

function defaultRules(rules: Obj | undefined, up: boolean): Obj {
  const r = rules ?? {}
  r.stabilizationWindowSeconds ??= up ? 0 : 300
  r.selectPolicy ||= 'Max'
  r.policies ??= up
    ? [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ]
    : [{ type: 'Percent', value: 100, periodSeconds: 15 }]
  return r
}

/** SetDefaults_HorizontalPodAutoscaler of autoscaling/v2. */
function defaultHPA(obj: KubeObject): void {
  const spec = ((obj.spec as Obj) ??= {})
  spec.minReplicas ??= 1
  if (!(spec.metrics ?? []).length)
    spec.metrics = [
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
      },
    ]
  if (spec.behavior) {
    spec.behavior.scaleUp = defaultRules(spec.behavior.scaleUp, true)
    spec.behavior.scaleDown = defaultRules(spec.behavior.scaleDown, false)
  }
}

/** The stored (v2) form of a v1 object, defaulted as kube's decoding of it from storage defaults it. */
function v1AsStored(obj: KubeObject): KubeObject {
  const v2 = hpaFromV1(obj)
  defaultHPA(v2)
  return v2
}

function validateHPA(hpa: Obj): FieldError[] {
  const spec = hpa.spec ?? {}
  const errs: FieldError[] = []
  if (!spec.scaleTargetRef?.kind) errs.push(fieldRequired('spec.scaleTargetRef.kind'))
  if (!spec.scaleTargetRef?.name) errs.push(fieldRequired('spec.scaleTargetRef.name'))
  if (spec.minReplicas != null && spec.minReplicas < 1)
    errs.push(
      fieldInvalid('spec.minReplicas', spec.minReplicas, 'must be greater than or equal to 1'),
    )
  if ((spec.maxReplicas ?? 0) < 1)
    errs.push(fieldInvalid('spec.maxReplicas', spec.maxReplicas ?? 0, 'must be greater than 0'))
  else if (spec.minReplicas != null && spec.maxReplicas < spec.minReplicas)
    errs.push(
      fieldInvalid(
        'spec.maxReplicas',
        spec.maxReplicas,
        'must be greater than or equal to `minReplicas`',
      ),
    )
  // validateMetricTarget's utilization rule (v1's targetCPUUtilizationPercentage is such a target).
  ;((spec.metrics ?? []) as Obj[]).forEach((m, i) => {
    for (const source of ['resource', 'containerResource']) {
      const u = m?.[source]?.target?.averageUtilization
      if (typeof u === 'number' && u < 1)
        errs.push(
          fieldInvalid(
            `spec.metrics[${i}].${source}.target.averageUtilization`,
            u,
            'must be greater than 0',
          ),
        )
    }
  })
  return errs
}

// formatHPAMetrics, with current values from status.currentMetrics.
function formatMetrics(hpa: Obj): string {
  const specs = (hpa.spec?.metrics ?? []) as Obj[]
  if (specs.length === 0) return '<none>'
  const statuses = (hpa.status?.currentMetrics ?? []) as Obj[]
  const list = specs.map((m, i) => {
    const st = statuses[i]
    const target = (t: Obj | undefined) => t ?? {}
    switch (m.type) {
      case 'External':
      case 'Object': {
        const key = m.type === 'External' ? 'external' : 'object'
        const t = target(m[key]?.target)
        if (t.averageValue != null)
          return `${st?.[key]?.current?.averageValue ?? '<unknown>'}/${t.averageValue} (avg)`
        return `${st?.[key]?.current?.value ?? '<unknown>'}/${t.value}`
      }
      case 'Pods':
        return `${st?.pods?.current?.averageValue ?? '<unknown>'}/${m.pods?.target?.averageValue}`
      case 'Resource':
      case 'ContainerResource': {
        const key = m.type === 'Resource' ? 'resource' : 'containerResource'
        const t = target(m[key]?.target)
        if (t.averageValue != null)
          return `${m[key]?.name}: ${st?.[key]?.current?.averageValue ?? '<unknown>'}/${t.averageValue}`
        const current =
          st?.[key]?.current?.averageUtilization != null
            ? `${st[key].current.averageUtilization}%`
            : '<unknown>'
        return `${m[key]?.name}: ${current}/${t.averageUtilization != null ? `${t.averageUtilization}%` : '<auto>'}`
      }
    }
    return '<unknown type>'
  })
  return list.length > 2
    ? `${list.slice(0, 2).join(', ')} + ${list.length - 2} more...`
    : list.join(', ')
}

const hpaPrinter = printer(
  [
    col(
      'Reference',
      'string',
      'scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.',
    ),
    col(
      'Targets',
      'string',
      'metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond.',
    ),
    col(
      'MinPods',
      'string',
      'minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.',
    ),
    col(
      'MaxPods',
      'string',
      'maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.',
    ),
    col(
      'Replicas',
      'string',
      'currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.',
    ),
  ],
  (o) => [
    `${o.spec?.scaleTargetRef?.kind ?? ''}/${o.spec?.scaleTargetRef?.name ?? ''}`,
    formatMetrics(o),
    o.spec?.minReplicas != null ? String(o.spec.minReplicas) : '<unset>',
    o.spec?.maxReplicas ?? 0,
    o.status?.currentReplicas ?? 0,
  ],
)

// Everything the server decides about a v1 object it decides about the v2 object it is (kube's strategy,
// validation and printer all work on the internal version): validation messages name v2's fields.
export const horizontalpodautoscalers = defineKind({
  group: 'autoscaling',
  version: 'v2',
  resource: 'horizontalpodautoscalers',
  kind: 'HorizontalPodAutoscaler',
  namespaced: true,
  shortNames: ['hpa'],
  categories: ['all'],
  subresources: { status: true },
  schema: 'AutoscalingV2HorizontalPodAutoscaler',
  goPackage: 'v2',
  generation: true,
  initialStatus: () => ({ desiredReplicas: 0 }),
  strategy: {
    defaults(obj) {
      // v2 round-trips without the v1 annotations: kube's v2 conversion drops any a client sends.
      const metadata = dropRoundTripAnnotations(obj.metadata)
      if (metadata) obj.metadata = metadata
      defaultHPA(obj)
    },
    validate: validateHPA,
    printer: hpaPrinter,
  },
})

export const horizontalpodautoscalersV1 = defineKind({
  group: 'autoscaling',
  version: 'v1',
  resource: 'horizontalpodautoscalers',
  kind: 'HorizontalPodAutoscaler',
  namespaced: true,
  shortNames: ['hpa'],
  categories: ['all'],
  subresources: { status: true },
  schema: 'AutoscalingV1HorizontalPodAutoscaler',
  goPackage: 'v1',
  generation: true,
  storageVersion: 'autoscaling/v2',
  convert: { toStorage: v1AsStored, fromStorage: hpaToV1 },
  initialStatus: () => ({ currentReplicas: 0, desiredReplicas: 0 }),
  strategy: {
    defaults(obj) {
      // SetDefaults_HorizontalPodAutoscaler of v1; the cpu target's default is the conversion's.
      const spec = ((obj.spec as Obj) ??= {})
      spec.minReplicas ??= 1
    },
    // A create starts with no status, and the annotations that hold status are status.
    prepareForCreate(obj) {
      withStatusAnnotations(obj, undefined)
    },
    prepareForUpdate(obj, old) {
      withStatusAnnotations(obj, old)
    },
    prepareForStatusUpdate(obj, old, sent) {
      withStatusAnnotations(obj, sent ?? old)
    },
    // The generation follows the spec kube compares: v2's, the annotations' metrics and behavior included.
    specChanged: (obj, old) => !semanticEqual(v1AsStored(obj).spec, v1AsStored(old).spec),
    validate: (obj) => validateHPA(v1AsStored(obj)),
    printer: { columns: hpaPrinter.columns, row: (obj) => hpaPrinter.row(v1AsStored(obj)) },
  },
})

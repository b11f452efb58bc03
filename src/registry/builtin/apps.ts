// apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision
// (pkg/apis/apps/v1/defaults.go, pkg/apis/apps/validation, pkg/registry/apps/*).
import {
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  type FieldError,
} from '../../server/errors'
import { semanticEqual } from '../validation/equality'
import { isValidPercent } from '../validation/names'
import { validateImmutableField, validateNonnegativeField } from '../validation/objectmeta'
import { col, formatLabels, selectorString } from '../printers/format'
import type { ResourceType, ScaleSpec } from '../types'
import { defineKind, fieldsAt, printer, type Obj } from './define'
import { defaultPodTemplate } from './podspec'
import { validateAppsSpec, wideTemplateCells, wideTemplateColumns } from './workload'

const scale: ScaleSpec = {
  specReplicasPath: 'spec.replicas',
  statusReplicasPath: 'status.replicas',
  labelSelectorPath: 'spec.selector',
}
const selectorImmutable = (obj: Obj, old: Obj) =>
  validateImmutableField(obj.spec?.selector, old.spec?.selector, 'spec.selector')

// ValidatePositiveIntOrPercent and IsNotMoreThan100Percent.
function validateIntOrPercent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string') return isValidPercent(v).map((m) => fieldInvalid(path, v, m))
  if (typeof v === 'number') return validateNonnegativeField(v, path)
  return []
}
const percentValue = (v: unknown): number | undefined =>
  typeof v === 'string' && /^[0-9]+%$/.test(v) ? Number(v.slice(0, -1)) : undefined
const intOrPercentValue = (v: unknown): number =>
  typeof v === 'number' ? v : (percentValue(v) ?? -1)
const notOver100 = (v: unknown, path: string): FieldError[] =>
  (percentValue(v) ?? 0) > 100 ? [fieldInvalid(path, v, 'must not be greater than 100%')] : []

function validateDeploymentStrategy(strategy: Obj | undefined): FieldError[] {
  const errs: FieldError[] = []
  const s = strategy ?? {}
  const types = ['Recreate', 'RollingUpdate']
  if (!s.type) errs.push({ type: 'FieldValueRequired', field: 'spec.strategy.type', detail: '' })
  else if (!types.includes(s.type))
    errs.push(fieldNotSupported('spec.strategy.type', s.type, types))
  if (s.type === 'Recreate' && s.rollingUpdate)
    errs.push(
      fieldForbidden(
        'spec.strategy.rollingUpdate',
        "may not be specified when strategy `type` is 'Recreate'",
      ),
    )
  if (s.type === 'RollingUpdate' && s.rollingUpdate) {
    const p = 'spec.strategy.rollingUpdate'
    const { maxUnavailable, maxSurge } = s.rollingUpdate
    errs.push(
      ...validateIntOrPercent(maxUnavailable, `${p}.maxUnavailable`),
      ...validateIntOrPercent(maxSurge, `${p}.maxSurge`),
    )
    if (intOrPercentValue(maxUnavailable) === 0 && intOrPercentValue(maxSurge) === 0) {
      errs.push(
        fieldInvalid(`${p}.maxUnavailable`, maxUnavailable, 'may not be 0 when `maxSurge` is 0'),
      )
    }
    errs.push(...notOver100(maxUnavailable, `${p}.maxUnavailable`))
  }
  return errs
}

function validateDeployment(d: Obj): FieldError[] {
  const spec = d.spec ?? {}
  const errs = validateAppsSpec(spec, { selectorNoun: 'deployment', deadlineNoun: 'ReplicaSet' })
  errs.push(...validateDeploymentStrategy(spec.strategy))
  if (spec.progressDeadlineSeconds != null) {
    errs.push(
      ...validateNonnegativeField(spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds'),
    )
    if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
      errs.push(
        fieldInvalid(
          'spec.progressDeadlineSeconds',
          spec.progressDeadlineSeconds,
          'must be greater than minReadySeconds',
        ),
      )
    }
  }
  return errs
}

const DEPLOYMENT_DOCS = {
  ready: 'Number of the pod with ready state',
  upToDate:
    'Total number of non-terminating pods targeted by this deployment that have the desired template spec.',
  available:
    'Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.',
  selector:
    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
}

export const deployments = defineKind({
  group: 'apps',
  version: 'v1',
  resource: 'deployments',
  kind: 'Deployment',
  namespaced: true,
  shortNames: ['deploy'],
  categories: ['all'],
  subresources: { status: true, scale },
  schema: 'AppsV1Deployment',
  generation: true,
  initialStatus: () => ({}),
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.replicas ??= 1
      spec.strategy ??= {}
      spec.strategy.type ||= 'RollingUpdate'
      if (spec.strategy.type === 'RollingUpdate') {
        spec.strategy.rollingUpdate ??= {}
        spec.strategy.rollingUpdate.maxUnavailable ??= '25%'
        spec.strategy.rollingUpdate.maxSurge ??= '25%'
      }
      spec.revisionHistoryLimit ??= 10
      spec.progressDeadlineSeconds ??= 600
      defaultPodTemplate(spec.template)
    },
    validate: validateDeployment,
    validateUpdate: (obj, old) => [...validateDeployment(obj), ...selectorImmutable(obj, old)],
    // A rollback or restart annotation is a new generation too (deployment strategy's PrepareForUpdate).
    specChanged: (obj, old) =>
      !semanticEqual(obj.spec, old.spec) ||
      !semanticEqual(obj.metadata?.annotations, old.metadata?.annotations),
    printer: printer(
      [
        col('Ready', 'string', DEPLOYMENT_DOCS.ready),
        col('Up-to-date', 'string', DEPLOYMENT_DOCS.upToDate),
        col('Available', 'string', DEPLOYMENT_DOCS.available),
      ],
      (o) => [
        `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
        o.status?.updatedReplicas ?? 0,
        o.status?.availableReplicas ?? 0,
      ],
      {
        wide: wideTemplateColumns(DEPLOYMENT_DOCS.selector),
        wideCells: (o) => [
          ...wideTemplateCells(o.spec?.template, undefined, false),
          selectorString(o.spec?.selector),
        ],
      },
    ),
  },
})

export const replicasets = defineKind({
  group: 'apps',
  version: 'v1',
  resource: 'replicasets',
  kind: 'ReplicaSet',
  namespaced: true,
  shortNames: ['rs'],
  categories: ['all'],
  subresources: { status: true, scale },
  schema: 'AppsV1ReplicaSet',
  generation: true,
  initialStatus: () => ({ replicas: 0 }),
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.replicas ??= 1
      defaultPodTemplate(spec.template)
    },
    // kube's ReplicaSet validation reuses the Deployment wording for an empty selector.
    validate: (obj) =>
      validateAppsSpec(obj.spec as Obj, { selectorNoun: 'deployment', deadlineNoun: 'ReplicaSet' }),
    validateUpdate: (obj, old) => [
      ...validateAppsSpec(obj.spec as Obj, {
        selectorNoun: 'deployment',
        deadlineNoun: 'ReplicaSet',
      }),
      ...selectorImmutable(obj, old),
    ],
    fieldSelectors: fieldsAt({ 'status.replicas': 'status.replicas' }),
    printer: printer(
      [
        col(
          'Desired',
          'integer',
          'Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works',
        ),
        col(
          'Current',
          'integer',
          'Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works',
        ),
        col(
          'Ready',
          'integer',
          'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.',
        ),
      ],
      (o) => [o.spec?.replicas ?? 0, o.status?.replicas ?? 0, o.status?.readyReplicas ?? 0],
      {
        wide: wideTemplateColumns(
          "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        ),
        wideCells: (o) => wideTemplateCells(o.spec?.template, o.spec?.selector),
      },
    ),
  },
})

const STS_MUTABLE = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
]

function validateStatefulSet(s: Obj): FieldError[] {
  const spec = s.spec ?? {}
  const errs = validateAppsSpec(spec, { selectorNoun: 'statefulset', deadlineNoun: 'StatefulSet' })
  const policies = ['OrderedReady', 'Parallel']
  if (spec.podManagementPolicy && !policies.includes(spec.podManagementPolicy))
    errs.push(fieldNotSupported('spec.podManagementPolicy', spec.podManagementPolicy, policies))
  const types = ['OnDelete', 'RollingUpdate']
  const t = spec.updateStrategy?.type
  if (t && !types.includes(t)) errs.push(fieldNotSupported('spec.updateStrategy.type', t, types))
  if (t === 'OnDelete' && spec.updateStrategy?.rollingUpdate)
    errs.push(
      fieldInvalid(
        'spec.updateStrategy.rollingUpdate',
        spec.updateStrategy.rollingUpdate,
        "only allowed for updateStrategy 'RollingUpdate'",
      ),
    )
  if (spec.updateStrategy?.rollingUpdate)
    errs.push(
      ...validateNonnegativeField(
        spec.updateStrategy.rollingUpdate.partition,
        'spec.updateStrategy.rollingUpdate.partition',
      ),
    )
  return errs
}

function validateStatefulSetUpdate(s: Obj, old: Obj): FieldError[] {
  const rest = (spec: Obj | undefined) =>
    Object.fromEntries(Object.entries(spec ?? {}).filter(([k]) => !STS_MUTABLE.includes(k)))
  const errs = validateStatefulSet(s)
  if (!semanticEqual(rest(s.spec), rest(old.spec))) {
    errs.push(
      fieldForbidden(
        'spec',
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    )
  }
  return errs
}

export const statefulsets = defineKind({
  group: 'apps',
  version: 'v1',
  resource: 'statefulsets',
  kind: 'StatefulSet',
  namespaced: true,
  shortNames: ['sts'],
  categories: ['all'],
  subresources: { status: true, scale },
  schema: 'AppsV1StatefulSet',
  generation: true,
  initialStatus: () => ({ availableReplicas: 0, replicas: 0 }),
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.podManagementPolicy ||= 'OrderedReady'
      spec.updateStrategy ??= {}
      spec.updateStrategy.type ||= 'RollingUpdate'
      if (spec.updateStrategy.type === 'RollingUpdate') {
        spec.updateStrategy.rollingUpdate ??= {}
        spec.updateStrategy.rollingUpdate.partition ??= 0
      }
      spec.replicas ??= 1
      spec.revisionHistoryLimit ??= 10
      spec.persistentVolumeClaimRetentionPolicy ??= {}
      spec.persistentVolumeClaimRetentionPolicy.whenDeleted ||= 'Retain'
      spec.persistentVolumeClaimRetentionPolicy.whenScaled ||= 'Retain'
      for (const pvc of (spec.volumeClaimTemplates ?? []) as Obj[]) {
        // Embedded claims are full objects in kube's encoding: type meta, a null creation time, a Pending status.
        pvc.apiVersion ||= 'v1'
        pvc.kind ||= 'PersistentVolumeClaim'
        pvc.metadata ??= {}
        if (!('creationTimestamp' in pvc.metadata)) pvc.metadata.creationTimestamp = null
        pvc.spec ??= {}
        pvc.spec.volumeMode ||= 'Filesystem'
        pvc.status ??= { phase: 'Pending' }
      }
      defaultPodTemplate(spec.template)
    },
    validate: validateStatefulSet,
    validateUpdate: validateStatefulSetUpdate,
    printer: printer(
      [col('Ready', 'string', 'Number of the pod with ready state')],
      (o) => [`${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`],
      {
        wide: wideTemplateColumns(),
        wideCells: (o) => wideTemplateCells(o.spec?.template, undefined, false),
      },
    ),
  },
})

function validateDaemonSet(ds: Obj): FieldError[] {
  const spec = ds.spec ?? {}
  const errs = validateAppsSpec(spec, {
    selectorNoun: 'daemonset',
    deadlineNoun: 'DaemonSet',
    replicas: false,
  })
  const types = ['OnDelete', 'RollingUpdate']
  const t = spec.updateStrategy?.type
  if (t && !types.includes(t)) errs.push(fieldNotSupported('spec.updateStrategy.type', t, types))
  const ru = spec.updateStrategy?.rollingUpdate
  if (t === 'RollingUpdate' && ru) {
    const p = 'spec.updateStrategy.rollingUpdate'
    errs.push(
      ...validateIntOrPercent(ru.maxUnavailable, `${p}.maxUnavailable`),
      ...validateIntOrPercent(ru.maxSurge, `${p}.maxSurge`),
    )
    if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
      errs.push(
        fieldInvalid(`${p}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'),
      )
    }
    errs.push(...notOver100(ru.maxUnavailable, `${p}.maxUnavailable`))
  }
  return errs
}

const DS_DOCS = {
  desired:
    'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/',
  current:
    'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/',
  ready:
    'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.',
  upToDate: 'The total number of nodes that are running updated daemon pod',
  available:
    'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)',
  nodeSelector:
    "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
  selector:
    "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
}

export const daemonsets = defineKind({
  group: 'apps',
  version: 'v1',
  resource: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
  shortNames: ['ds'],
  categories: ['all'],
  subresources: { status: true },
  schema: 'AppsV1DaemonSet',
  generation: true,
  initialStatus: () => ({
    currentNumberScheduled: 0,
    desiredNumberScheduled: 0,
    numberMisscheduled: 0,
    numberReady: 0,
  }),
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.updateStrategy ??= {}
      spec.updateStrategy.type ||= 'RollingUpdate'
      if (spec.updateStrategy.type === 'RollingUpdate') {
        spec.updateStrategy.rollingUpdate ??= {}
        spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1
        spec.updateStrategy.rollingUpdate.maxSurge ??= 0
      }
      spec.revisionHistoryLimit ??= 10
      defaultPodTemplate(spec.template)
    },
    validate: validateDaemonSet,
    validateUpdate: (obj, old) => [...validateDaemonSet(obj), ...selectorImmutable(obj, old)],
    printer: printer(
      [
        col('Desired', 'integer', DS_DOCS.desired),
        col('Current', 'integer', DS_DOCS.current),
        col('Ready', 'integer', DS_DOCS.ready),
        col('Up-to-date', 'integer', DS_DOCS.upToDate),
        col('Available', 'integer', DS_DOCS.available),
        col('Node Selector', 'string', DS_DOCS.nodeSelector),
      ],
      (o) => {
        const s = o.status ?? {}
        return [
          s.desiredNumberScheduled ?? 0,
          s.currentNumberScheduled ?? 0,
          s.numberReady ?? 0,
          s.updatedNumberScheduled ?? 0,
          s.numberAvailable ?? 0,
          formatLabels(o.spec?.template?.spec?.nodeSelector),
        ]
      },
      {
        wide: wideTemplateColumns(DS_DOCS.selector),
        wideCells: (o) => wideTemplateCells(o.spec?.template, o.spec?.selector),
      },
    ),
  },
})

/** The CONTROLLER cell: "<kind>.<group>/<name>" lowercased, from the controller owner reference. */
function controllerOf(obj: Obj): string {
  const ref = ((obj.metadata?.ownerReferences ?? []) as Obj[]).find((r) => r.controller)
  if (!ref) return '<none>'
  const apiVersion = String(ref.apiVersion ?? '')
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : ''
  const kind = group ? `${ref.kind}.${group}` : ref.kind
  return kind ? `${String(kind).toLowerCase()}/${ref.name}` : ref.name
}

export const controllerrevisions = defineKind({
  group: 'apps',
  version: 'v1',
  resource: 'controllerrevisions',
  kind: 'ControllerRevision',
  namespaced: true,
  schema: 'AppsV1ControllerRevision',
  strategy: {
    validate: (obj) => validateNonnegativeField(obj.revision, 'revision'),
    validateUpdate: (obj, old) => [
      ...validateNonnegativeField(obj.revision, 'revision'),
      ...validateImmutableField(obj.data, old.data, 'data'),
    ],
    printer: printer(
      [
        col('Controller', 'string', 'Controller of the object'),
        col(
          'Revision',
          'string',
          'Revision indicates the revision of the state represented by Data.',
        ),
      ],
      (o) => [controllerOf(o), o.revision ?? 0],
    ),
  },
})

export const appsResources: ResourceType[] = [
  deployments,
  replicasets,
  statefulsets,
  daemonsets,
  controllerrevisions,
]

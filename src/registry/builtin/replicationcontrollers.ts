// core/v1 ReplicationController (etcd key: controllers).
import { col, formatLabels } from '../printers/format'
import { defineKind, fieldsAt, printer, type Obj } from './define'
import { defaultPodTemplate } from './podspec'
import { validateMapSelectorSpec, wideTemplateCells, wideTemplateColumns } from './workload'

export const replicationcontrollers = defineKind({
  group: '',
  version: 'v1',
  resource: 'replicationcontrollers',
  kind: 'ReplicationController',
  namespaced: true,
  shortNames: ['rc'],
  categories: ['all'],
  storagePrefix: 'controllers',
  subresources: {
    status: true,
    scale: {
      specReplicasPath: 'spec.replicas',
      statusReplicasPath: 'status.replicas',
      labelSelectorPath: 'spec.selector',
    },
  },
  schema: 'CoreV1ReplicationController',
  generation: true,
  initialStatus: () => ({ replicas: 0 }),
  strategy: {
    defaults(obj) {
      // SetDefaults_ReplicationController: selector and labels come from the template's labels when absent.
      const spec = ((obj.spec as Obj) ??= {})
      const labels = spec.template?.metadata?.labels
      if (labels && Object.keys(labels).length) {
        if (!spec.selector || !Object.keys(spec.selector).length) spec.selector = { ...labels }
        const meta = (obj.metadata ??= {})
        if (!meta.labels || !Object.keys(meta.labels).length) meta.labels = { ...labels }
      }
      spec.replicas ??= 1
      defaultPodTemplate(spec.template)
    },
    validate: (obj) => validateMapSelectorSpec(obj.spec as Obj),
    fieldSelectors: fieldsAt({ 'status.replicas': 'status.replicas' }),
    printer: printer(
      [
        col(
          'Desired',
          'integer',
          'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller',
        ),
        col(
          'Current',
          'integer',
          'Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller',
        ),
        col('Ready', 'integer', 'The number of ready replicas for this replication controller.'),
      ],
      (o) => [o.spec?.replicas ?? 0, o.status?.replicas ?? 0, o.status?.readyReplicas ?? 0],
      {
        wide: wideTemplateColumns(
          'Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors',
        ),
        wideCells: (o) => [
          ...wideTemplateCells(o.spec?.template, undefined, false),
          formatLabels(o.spec?.selector),
        ],
      },
    ),
  },
})

// core/v1 PodTemplate.
import { col, containerCells, formatLabels } from '../printers/format'
import { defineKind, printer, type Obj } from './define'
import { defaultPodTemplate, validatePodTemplate } from './podspec'

export const podtemplates = defineKind({
  group: '',
  version: 'v1',
  resource: 'podtemplates',
  kind: 'PodTemplate',
  namespaced: true,
  returnDeletedObject: true,
  schema: 'CoreV1PodTemplate',
  strategy: {
    defaults: (obj) => defaultPodTemplate(obj.template as Obj),
    validate: (obj) => validatePodTemplate(obj.template as Obj, 'template'),
    printer: printer(
      [
        col('Containers', 'string', 'Names of each container in the template.'),
        col('Images', 'string', 'Images referenced by each container in the template.'),
        col('Pod Labels', 'string', 'The labels for the pod template.'),
      ],
      (o) => [
        ...containerCells(o.template?.spec?.containers),
        formatLabels(o.template?.metadata?.labels),
      ],
      { age: 'none' },
    ),
  },
})

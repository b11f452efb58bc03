// scheduling.k8s.io/v1 PriorityClass.
import {
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  type FieldError,
} from '../../server/errors'
import { nameIsDNSSubdomain } from '../validation/names'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

// The system classes kube-apiserver creates itself, and the ceiling of user-defined priorities.
const SYSTEM_CLASSES: Record<string, number> = {
  'system-node-critical': 2000001000,
  'system-cluster-critical': 2000000000,
}
const HIGHEST_USER_DEFINABLE_PRIORITY = 1000000000
const PREEMPTION = ['Never', 'PreemptLowerPriority']

function validatePriorityClass(pc: Obj): FieldError[] {
  const errs: FieldError[] = []
  const name = pc.metadata?.name ?? ''
  if (name in SYSTEM_CLASSES) {
    if (pc.value !== SYSTEM_CLASSES[name])
      errs.push(
        fieldForbidden(
          'value',
          `value of system priority class ${name} must be ${SYSTEM_CLASSES[name]}`,
        ),
      )
  } else {
    if (name.startsWith('system-'))
      errs.push(
        fieldInvalid(
          'metadata.name',
          name,
          "priority class names with 'system-' prefix are reserved",
        ),
      )
    if ((pc.value ?? 0) > HIGHEST_USER_DEFINABLE_PRIORITY)
      errs.push(
        fieldForbidden(
          'value',
          `maximum allowed value of a user defined priority is ${HIGHEST_USER_DEFINABLE_PRIORITY}`,
        ),
      )
  }
  if (pc.preemptionPolicy && !PREEMPTION.includes(pc.preemptionPolicy))
    errs.push(fieldNotSupported('preemptionPolicy', pc.preemptionPolicy, PREEMPTION))
  return errs
}

export const priorityclasses = defineKind({
  group: 'scheduling.k8s.io',
  version: 'v1',
  resource: 'priorityclasses',
  kind: 'PriorityClass',
  namespaced: false,
  shortNames: ['pc'],
  schema: 'SchedulingV1PriorityClass',
  strategy: {
    validateName: nameIsDNSSubdomain,
    defaults(obj) {
      obj.preemptionPolicy ||= 'PreemptLowerPriority'
    },
    validate: validatePriorityClass,
    validateUpdate(obj, old) {
      const errs = validatePriorityClass(obj)
      if (obj.value !== old.value)
        errs.push(fieldForbidden('value', 'may not be changed in an update.'))
      if (obj.preemptionPolicy !== old.preemptionPolicy)
        errs.push(fieldInvalid('preemptionPolicy', obj.preemptionPolicy, 'field is immutable'))
      return errs
    },
    printer: printer(
      [
        col(
          'Value',
          'integer',
          'value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.',
        ),
        col(
          'Global-Default',
          'boolean',
          'globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.',
        ),
      ],
      (o) => [o.value ?? 0, o.globalDefault === true],
      {
        wide: [
          col(
            'PreemptionPolicy',
            'string',
            'preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.',
          ),
        ],
        wideCells: (o) => [o.preemptionPolicy ?? ''],
      },
    ),
  },
})

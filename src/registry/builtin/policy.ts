// policy/v1 PodDisruptionBudget.
import { fieldInvalid, type FieldError } from '../../server/errors'
import { isValidPercent } from '../validation/names'
import { validateLabelSelector, validateNonnegativeField } from '../validation/objectmeta'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

function validateIntOrPercent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string') {
    const errs = isValidPercent(v).map((m) => fieldInvalid(path, v, m))
    if (!errs.length && Number(v.slice(0, -1)) > 100)
      errs.push(fieldInvalid(path, v, 'must not be greater than 100%'))
    return errs
  }
  return validateNonnegativeField(v, path)
}

function validatePDB(pdb: Obj): FieldError[] {
  const spec = pdb.spec ?? {}
  const errs: FieldError[] = []
  if (spec.minAvailable != null && spec.maxUnavailable != null)
    errs.push(fieldInvalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set'))
  if (spec.minAvailable != null)
    errs.push(...validateIntOrPercent(spec.minAvailable, 'spec.minAvailable'))
  if (spec.maxUnavailable != null)
    errs.push(...validateIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable'))
  errs.push(...validateLabelSelector(spec.selector, 'spec.selector'))
  return errs
}

export const poddisruptionbudgets = defineKind({
  group: 'policy',
  version: 'v1',
  resource: 'poddisruptionbudgets',
  kind: 'PodDisruptionBudget',
  namespaced: true,
  shortNames: ['pdb'],
  subresources: { status: true },
  schema: 'PolicyV1PodDisruptionBudget',
  generation: true,
  initialStatus: () => ({
    currentHealthy: 0,
    desiredHealthy: 0,
    disruptionsAllowed: 0,
    expectedPods: 0,
  }),
  strategy: {
    validate: validatePDB,
    printer: printer(
      [
        col('Min Available', 'string', 'The minimum number of pods that must be available.'),
        col('Max Unavailable', 'string', 'The maximum number of pods that may be unavailable.'),
        col(
          'Allowed Disruptions',
          'integer',
          'Calculated number of pods that may be disrupted at this time.',
        ),
      ],
      (o) => [
        o.spec?.minAvailable != null ? String(o.spec.minAvailable) : 'N/A',
        o.spec?.maxUnavailable != null ? String(o.spec.maxUnavailable) : 'N/A',
        o.status?.disruptionsAllowed ?? 0,
      ],
    ),
  },
})

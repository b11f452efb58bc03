// apiregistration.k8s.io/v1 APIService: kube-aggregator's registry/apiservice (strategy, validation and the
// NAME/SERVICE/AVAILABLE/AGE table of its etcd.go). What the aggregator does with them is in src/aggregator/.
import {
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { isDNS1035Label, isDNS1123Subdomain, validatePathSegmentName } from '../validation/names'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const CONDITION_STATUSES = ['True', 'False', 'Unknown']

/** validation.ValidateAPIService, in its order. */
function validateAPIService(a: Obj): FieldError[] {
  const errs: FieldError[] = []
  const spec = (a.spec ?? {}) as Obj
  const group: string = spec.group ?? ''
  const version: string = spec.version ?? ''
  // The name *must* be <version>.<group> (its own name validator, after the path segment rules).
  const required = `${version}.${group}`
  const name: string = a.metadata?.name ?? ''
  if (name && name !== required)
    errs.push(
      fieldInvalid('metadata.name', name, `must be \`spec.version+"."+spec.group\`: "${required}"`),
    )
  if (!group && version !== 'v1')
    errs.push(
      fieldRequired('spec.group', 'only v1 may have an empty group and it better be legacy kube'),
    )
  if (group)
    for (const m of isDNS1123Subdomain(group)) errs.push(fieldInvalid('spec.group', group, m))
  for (const m of isDNS1035Label(version)) errs.push(fieldInvalid('spec.version', version, m))
  const gpm = spec.groupPriorityMinimum ?? 0
  if (gpm <= 0 || gpm > 20000)
    errs.push(
      fieldInvalid('spec.groupPriorityMinimum', gpm, 'must be positive and less than 20000'),
    )
  const vp = spec.versionPriority ?? 0
  if (vp <= 0 || vp > 1000)
    errs.push(fieldInvalid('spec.versionPriority', vp, 'must be positive and less than 1000'))
  const caBundle: string = spec.caBundle ?? ''
  if (!spec.service) {
    if (caBundle)
      errs.push(
        fieldInvalid(
          'spec.caBundle',
          `${base64Length(caBundle)} bytes`,
          'local APIServices may not have a caBundle',
        ),
      )
    if (spec.insecureSkipTLSVerify)
      errs.push(
        fieldInvalid(
          'spec.insecureSkipTLSVerify',
          true,
          'local APIServices may not have insecureSkipTLSVerify',
        ),
      )
    return errs
  }
  if (!spec.service.namespace) errs.push(fieldRequired('spec.service.namespace'))
  if (!spec.service.name) errs.push(fieldRequired('spec.service.name'))
  if (spec.insecureSkipTLSVerify && caBundle)
    errs.push(
      fieldInvalid('spec.insecureSkipTLSVerify', true, 'may not be true if caBundle is present'),
    )
  return errs
}

function validateAPIServiceStatus(a: Obj): FieldError[] {
  const errs: FieldError[] = []
  ;((a.status?.conditions ?? []) as Obj[]).forEach((c, i) => {
    if (!CONDITION_STATUSES.includes(c.status))
      errs.push(fieldNotSupported(`status.conditions[${i}].status`, c.status, CONDITION_STATUSES))
  })
  return errs
}

/** The decoded length of a base64 value ([]byte's len in kube's message). */
function base64Length(b64: string): number {
  const clean = b64.replace(/=+$/, '')
  return Math.floor((clean.length * 3) / 4)
}

/** The AVAILABLE cell: True, or the status with its reason ("False (MissingEndpoints)"). */
export function availableCell(a: Obj): string {
  const c = ((a.status?.conditions ?? []) as Obj[]).find((x) => x.type === 'Available')
  if (!c) return 'Unknown'
  if (c.status === 'True') return c.status
  return c.reason ? `${c.status} (${c.reason})` : String(c.status)
}

export const apiservices = defineKind({
  group: 'apiregistration.k8s.io',
  version: 'v1',
  resource: 'apiservices',
  kind: 'APIService',
  namespaced: false,
  categories: ['api-extensions'],
  storagePrefix: 'apiregistration.k8s.io/apiservices',
  subresources: { status: true },
  schema: 'ApiregistrationV1APIService',
  // PrepareForCreate resets the status to the empty APIServiceStatus, a struct encoding/json always writes.
  initialStatus: () => ({}),
  strategy: {
    validateName: validatePathSegmentName,
    defaults(obj) {
      const spec = (obj.spec ??= {}) as Obj
      // APIServiceSpec.Service is a pointer without omitempty: encoding/json writes a local APIService's as
      // null, as kube-apiserver answers and stores it (and as its protobuf form reads back).
      if (spec.service === undefined) spec.service = null
      // SetDefaults_ServiceReference: port 443.
      else if (spec.service && spec.service.port === undefined) spec.service.port = 443
    },
    prepareForStatusUpdate(obj) {
      obj.status ??= {}
    },
    validate: validateAPIService,
    validateUpdate: (obj) => validateAPIService(obj),
    validateStatusUpdate: (obj) => validateAPIServiceStatus(obj),
    printer: printer(
      [
        col('Service', 'string', 'The reference to the service that hosts this API endpoint.'),
        col('Available', 'string', 'Whether this service is available.'),
      ],
      (o) => [
        o.spec?.service ? `${o.spec.service.namespace}/${o.spec.service.name}` : 'Local',
        availableCell(o),
      ],
    ),
  },
})

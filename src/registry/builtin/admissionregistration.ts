// admissionregistration.k8s.io/v1: webhook configurations and validating admission policies.
import {
  fieldDuplicate,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { isDNS1123Subdomain } from '../validation/names'
import { child, index } from '../validation/path'
import { col } from '../printers/format'
import type { ResourceType } from '../types'
import { defineKind, printer, type Obj } from './define'
import { CelCompileError, compile } from '../../admission/cel'

/** A CEL expression that does not compile is invalid at create time, with the compiler's message (kube's CEL validation). */
function celErrors(expression: unknown, path: string): FieldError[] {
  if (typeof expression !== 'string' || !expression.trim()) return []
  try {
    compile(expression)
    return []
  } catch (e) {
    if (e instanceof CelCompileError)
      return [fieldInvalid(path, expression, `compilation failed: ${e.message}`)]
    throw e
  }
}

function matchConditionErrors(conds: Obj[] | undefined, path: string): FieldError[] {
  return (conds ?? []).flatMap((c, i) =>
    celErrors(c.expression, child(index(path, i), 'expression')),
  )
}

const GROUP = 'admissionregistration.k8s.io'
const CATEGORIES = ['api-extensions']
const SIDE_EFFECTS = ['None', 'NoneOnDryRun']
const REVIEW_VERSIONS = ['v1', 'v1beta1']

function defaultRules(rules: Obj[] | undefined) {
  for (const r of rules ?? []) r.scope ||= '*'
}

function defaultMatchResources(m: Obj | undefined) {
  if (!m) return
  m.matchPolicy ||= 'Equivalent'
  m.namespaceSelector ??= {}
  m.objectSelector ??= {}
  defaultRules(m.resourceRules)
  defaultRules(m.excludeResourceRules)
}

function defaultWebhooks(obj: Obj, mutating: boolean) {
  for (const w of (obj.webhooks ?? []) as Obj[]) {
    w.failurePolicy ||= 'Fail'
    w.matchPolicy ||= 'Equivalent'
    w.namespaceSelector ??= {}
    w.objectSelector ??= {}
    w.timeoutSeconds ??= 10
    if (mutating) w.reinvocationPolicy ||= 'Never'
    if (w.clientConfig?.service) w.clientConfig.service.port ??= 443
    defaultRules(w.rules)
  }
}

// IsFullyQualifiedName: a DNS subdomain of at least three segments.
function fullyQualified(name: string, path: string): FieldError[] {
  if (!name) return [fieldRequired(path)]
  const msgs = isDNS1123Subdomain(name)
  if (msgs.length) return [fieldInvalid(path, name, msgs.join(','))]
  if (name.split('.').length < 3)
    return [
      fieldInvalid(path, name, 'should be a domain with at least three segments separated by dots'),
    ]
  return []
}

function validateWebhooks(obj: Obj): FieldError[] {
  const errs: FieldError[] = []
  const names = new Set<string>()
  ;((obj.webhooks ?? []) as Obj[]).forEach((w, i) => {
    const p = index('webhooks', i)
    errs.push(...fullyQualified(w.name ?? '', child(p, 'name')))
    if (w.name && names.has(w.name)) errs.push(fieldDuplicate(child(p, 'name'), w.name))
    names.add(w.name)
    if (!w.sideEffects)
      errs.push(fieldRequired(child(p, 'sideEffects'), 'must specify one of None, NoneOnDryRun'))
    else if (!SIDE_EFFECTS.includes(w.sideEffects))
      errs.push(fieldNotSupported(child(p, 'sideEffects'), w.sideEffects, SIDE_EFFECTS))
    const versions = (w.admissionReviewVersions ?? []) as string[]
    if (!versions.length)
      errs.push(
        fieldRequired(child(p, 'admissionReviewVersions'), 'must specify one of v1, v1beta1'),
      )
    else if (!versions.some((v) => REVIEW_VERSIONS.includes(v))) {
      errs.push(
        fieldInvalid(
          child(p, 'admissionReviewVersions'),
          versions,
          'must include at least one of v1, v1beta1',
        ),
      )
    }
    const cc = w.clientConfig ?? {}
    if (!cc.url === !cc.service)
      errs.push(
        fieldRequired(child(p, 'clientConfig'), 'exactly one of url or service is required'),
      )
    if (cc.url && !/^https:\/\//.test(cc.url))
      errs.push(
        fieldInvalid(
          child(p, 'clientConfig', 'url'),
          cc.url,
          "'https' is the only allowed URL scheme",
        ),
      )
    errs.push(...matchConditionErrors(w.matchConditions, child(p, 'matchConditions')))
    if (w.timeoutSeconds != null && (w.timeoutSeconds < 1 || w.timeoutSeconds > 30)) {
      errs.push(
        fieldInvalid(
          child(p, 'timeoutSeconds'),
          w.timeoutSeconds,
          'the timeout value must be between 1 and 30 seconds',
        ),
      )
    }
  })
  return errs
}

const webhookPrinter = printer(
  [
    col(
      'Webhooks',
      'integer',
      'Webhooks indicates the number of webhooks registered in this configuration',
    ),
  ],
  (o) => [(o.webhooks ?? []).length],
)

export const mutatingwebhookconfigurations = defineKind({
  group: GROUP,
  version: 'v1',
  resource: 'mutatingwebhookconfigurations',
  kind: 'MutatingWebhookConfiguration',
  namespaced: false,
  categories: CATEGORIES,
  schema: 'AdmissionregistrationV1MutatingWebhookConfiguration',
  generation: true,
  // AllowUnconditionalUpdate is false for admission configuration: an update must name the version it read.
  strategy: {
    defaults: (obj) => defaultWebhooks(obj, true),
    validate: validateWebhooks,
    printer: webhookPrinter,
    allowUnconditionalUpdate: false,
  },
})

export const validatingwebhookconfigurations = defineKind({
  group: GROUP,
  version: 'v1',
  resource: 'validatingwebhookconfigurations',
  kind: 'ValidatingWebhookConfiguration',
  namespaced: false,
  categories: CATEGORIES,
  schema: 'AdmissionregistrationV1ValidatingWebhookConfiguration',
  generation: true,
  strategy: {
    defaults: (obj) => defaultWebhooks(obj, false),
    validate: validateWebhooks,
    printer: webhookPrinter,
    allowUnconditionalUpdate: false,
  },
})

function validatePolicy(vap: Obj): FieldError[] {
  const spec = vap.spec ?? {}
  const errs: FieldError[] = []
  if (!spec.matchConstraints) errs.push(fieldRequired('spec.matchConstraints'))
  if (!(spec.validations ?? []).length && !(spec.auditAnnotations ?? []).length) {
    errs.push(
      fieldRequired(
        'spec.validations',
        'validations or auditAnnotations must contain at least one item',
      ),
    )
  }
  ;((spec.validations ?? []) as Obj[]).forEach((v, i) => {
    if (!String(v.expression ?? '').trim())
      errs.push(fieldRequired(child(index('spec.validations', i), 'expression')))
    errs.push(...celErrors(v.expression, child(index('spec.validations', i), 'expression')))
    errs.push(
      ...celErrors(v.messageExpression, child(index('spec.validations', i), 'messageExpression')),
    )
  })
  ;((spec.variables ?? []) as Obj[]).forEach((v, i) =>
    errs.push(...celErrors(v.expression, child(index('spec.variables', i), 'expression'))),
  )
  ;((spec.auditAnnotations ?? []) as Obj[]).forEach((v, i) =>
    errs.push(
      ...celErrors(v.valueExpression, child(index('spec.auditAnnotations', i), 'valueExpression')),
    ),
  )
  errs.push(...matchConditionErrors(spec.matchConditions, 'spec.matchConditions'))
  if (spec.failurePolicy && !['Fail', 'Ignore'].includes(spec.failurePolicy))
    errs.push(fieldNotSupported('spec.failurePolicy', spec.failurePolicy, ['Fail', 'Ignore']))
  return errs
}

const VALIDATION_ACTIONS = ['Audit', 'Deny', 'Warn']

function validateBinding(b: Obj): FieldError[] {
  const spec = b.spec ?? {}
  const errs: FieldError[] = []
  if (!spec.policyName) errs.push(fieldRequired('spec.policyName'))
  const actions = (spec.validationActions ?? []) as string[]
  if (!actions.length)
    errs.push(fieldRequired('spec.validationActions', 'at least one validation action is required'))
  actions.forEach((a, i) => {
    if (!VALIDATION_ACTIONS.includes(a))
      errs.push(fieldNotSupported(index('spec.validationActions', i), a, VALIDATION_ACTIONS))
  })
  return errs
}

export const validatingadmissionpolicies = defineKind({
  group: GROUP,
  version: 'v1',
  resource: 'validatingadmissionpolicies',
  kind: 'ValidatingAdmissionPolicy',
  namespaced: false,
  categories: CATEGORIES,
  subresources: { status: true },
  schema: 'AdmissionregistrationV1ValidatingAdmissionPolicy',
  generation: true,
  initialStatus: () => ({}),
  strategy: {
    allowUnconditionalUpdate: false,
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.failurePolicy ||= 'Fail'
      defaultMatchResources(spec.matchConstraints)
    },
    validate: validatePolicy,
    printer: printer(
      [
        col(
          'Validations',
          'integer',
          'Validations indicates the number of validation rules defined in this configuration',
        ),
        col(
          'ParamKind',
          'string',
          'ParamKind specifies the kind of resources used to parameterize this policy',
        ),
      ],
      (o) => [
        (o.spec?.validations ?? []).length,
        o.spec?.paramKind ? `${o.spec.paramKind.apiVersion}/${o.spec.paramKind.kind}` : '<unset>',
      ],
    ),
  },
})

function paramRefText(o: Obj): string {
  const pr = o.spec?.paramRef
  if (!pr) return '<unset>'
  if (pr.name) return pr.namespace ? `${pr.namespace}/${pr.name}` : `*/${pr.name}`
  if (pr.selector) {
    const ml = Object.entries((pr.selector.matchLabels ?? {}) as Record<string, string>)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
    return ml.join(',')
  }
  return '<unset>'
}

export const validatingadmissionpolicybindings = defineKind({
  group: GROUP,
  version: 'v1',
  resource: 'validatingadmissionpolicybindings',
  kind: 'ValidatingAdmissionPolicyBinding',
  namespaced: false,
  categories: CATEGORIES,
  schema: 'AdmissionregistrationV1ValidatingAdmissionPolicyBinding',
  generation: true,
  strategy: {
    allowUnconditionalUpdate: false,
    defaults(obj) {
      defaultMatchResources((obj.spec as Obj)?.matchResources)
    },
    validate: validateBinding,
    printer: printer(
      [
        col(
          'PolicyName',
          'string',
          'PolicyName indicates the policy definition which the policy binding binded to',
        ),
        col(
          'ParamRef',
          'string',
          'ParamRef indicates the param resource which sets the configration param',
        ),
      ],
      (o) => [o.spec?.policyName ?? '', paramRefText(o)],
    ),
  },
})

export const admissionregistrationResources: ResourceType[] = [
  mutatingwebhookconfigurations,
  validatingwebhookconfigurations,
  validatingadmissionpolicies,
  validatingadmissionpolicybindings,
]

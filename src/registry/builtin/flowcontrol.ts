// flowcontrol.apiserver.k8s.io/v1 FlowSchema and PriorityLevelConfiguration: kube's defaults
// (pkg/apis/flowcontrol/v1/defaults.go), validation (pkg/apis/flowcontrol/validation) and printers
// (printFlowSchema, printPriorityLevelConfiguration).
import {
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { builtinDescription } from '../schema/builtin'
import { ALL_VERBS } from '../types'
import { nameIsDNSSubdomain, validateNamespaceName } from '../validation/names'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const FS_MAX_MATCHING_PRECEDENCE = 10000
const DISTINGUISHER_METHODS = ['ByNamespace', 'ByUser']
const SUBJECT_KINDS = ['Group', 'ServiceAccount', 'User']
const RESOURCE_VERBS = ['*', ...ALL_VERBS]
const ENABLEMENTS = ['Exempt', 'Limited']
const LIMIT_RESPONSE_TYPES = ['Queue', 'Reject']
const NS_ERR_INTRO = "each member of this list must be '*' or a DNS-1123 label; "
/** shufflesharding.MaxHashBits: a hand is dealt from 60 bits of the flow's hash. */
const MAX_HASH_BITS = 60

const describe = (key: string) => builtinDescription(`io.k8s.api.flowcontrol.v1.${key}`) ?? ''
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v)

function defaultFlowSchema(fs: Obj): void {
  const spec = (fs.spec ??= {})
  if (spec.matchingPrecedence === undefined || spec.matchingPrecedence === 0)
    spec.matchingPrecedence = 1000
}

function defaultPriorityLevel(pl: Obj): void {
  const spec = pl.spec
  if (!spec) return
  if (spec.exempt) {
    spec.exempt.nominalConcurrencyShares ??= 0
    spec.exempt.lendablePercent ??= 0
  }
  const limited = spec.limited
  if (limited) {
    // v1 keeps an explicit zero: only an absent value becomes the default 30.
    limited.nominalConcurrencyShares ??= 30
    limited.lendablePercent ??= 0
    const q = limited.limitResponse?.queuing
    if (q) {
      q.handSize ||= 8
      q.queues ||= 64
      q.queueLengthLimit ||= 50
    }
  }
}

function hasWildcard(list: string[]): boolean {
  return list.includes('*')
}

function validateSubject(s: Obj, path: string): FieldError[] {
  const errs: FieldError[] = []
  switch (s?.kind) {
    case 'ServiceAccount':
      if (!s.serviceAccount)
        errs.push(
          fieldRequired(
            `${path}.serviceAccount`,
            "serviceAccount is required when subject kind is 'ServiceAccount'",
          ),
        )
      else {
        if (!s.serviceAccount.name)
          errs.push(fieldRequired(`${path}.serviceAccount.name`, 'must specify a name'))
        if (!s.serviceAccount.namespace)
          errs.push(fieldRequired(`${path}.serviceAccount.namespace`, 'must specify a namespace'))
        else
          for (const m of validateNamespaceName(s.serviceAccount.namespace, false))
            errs.push(
              fieldInvalid(
                `${path}.serviceAccount.namespace`,
                s.serviceAccount.namespace,
                `must be a valid namespace name: ${m}`,
              ),
            )
      }
      if (s.user)
        errs.push(
          fieldForbidden(`${path}.user`, "user is forbidden when subject kind is not 'User'"),
        )
      if (s.group)
        errs.push(
          fieldForbidden(`${path}.group`, "group is forbidden when subject kind is not 'Group'"),
        )
      break
    case 'User':
      if (!s.user)
        errs.push(fieldRequired(`${path}.user`, "user is required when subject kind is 'User'"))
      else if (!s.user.name) errs.push(fieldRequired(`${path}.user.name`, 'username is required'))
      if (s.serviceAccount)
        errs.push(
          fieldForbidden(
            `${path}.serviceAccount`,
            "serviceAccount is forbidden when subject kind is not 'ServiceAccount'",
          ),
        )
      if (s.group)
        errs.push(
          fieldForbidden(`${path}.group`, "group is forbidden when subject kind is not 'Group'"),
        )
      break
    case 'Group':
      if (!s.group)
        errs.push(fieldRequired(`${path}.group`, "group is required when subject kind is 'Group'"))
      else if (!s.group.name)
        errs.push(fieldRequired(`${path}.group.name`, 'group name is required'))
      if (s.serviceAccount)
        errs.push(
          fieldForbidden(
            `${path}.serviceAccount`,
            "serviceAccount is forbidden when subject kind is not 'ServiceAccount'",
          ),
        )
      if (s.user)
        errs.push(
          fieldForbidden(`${path}.user`, "user is forbidden when subject kind is not 'User'"),
        )
      break
    default:
      errs.push(fieldNotSupported(`${path}.kind`, s?.kind ?? '', SUBJECT_KINDS))
  }
  return errs
}

function validateVerbs(
  verbs: string[] | undefined,
  path: string,
  supported?: string[],
): FieldError[] {
  if (!verbs?.length) return [fieldRequired(path, 'verbs must contain at least one value')]
  if (hasWildcard(verbs)) {
    return verbs.length > 1
      ? [fieldInvalid(path, verbs, "if '*' is present, must not specify other verbs")]
      : []
  }
  if (supported && verbs.some((v) => !supported.includes(v)))
    return [fieldNotSupported(path, verbs, supported)]
  return []
}

function validateResourceRule(r: Obj, path: string): FieldError[] {
  const errs = validateVerbs(r.verbs, `${path}.verbs`, RESOURCE_VERBS)
  const apiGroups: string[] = r.apiGroups ?? []
  if (!apiGroups.length)
    errs.push(
      fieldRequired(`${path}.apiGroups`, 'resource rules must supply at least one api group'),
    )
  else if (hasWildcard(apiGroups) && apiGroups.length > 1)
    errs.push(
      fieldInvalid(
        `${path}.apiGroups`,
        apiGroups,
        "if '*' is present, must not specify other api groups",
      ),
    )
  const resources: string[] = r.resources ?? []
  if (!resources.length)
    errs.push(
      fieldRequired(`${path}.resources`, 'resource rules must supply at least one resource'),
    )
  else if (hasWildcard(resources) && resources.length > 1)
    errs.push(
      fieldInvalid(
        `${path}.resources`,
        resources,
        "if '*' is present, must not specify other resources",
      ),
    )
  const namespaces: string[] = r.namespaces ?? []
  if (!namespaces.length) {
    if (!r.clusterScope)
      errs.push(
        fieldRequired(
          `${path}.namespaces`,
          'resource rules that are not cluster scoped must supply at least one namespace',
        ),
      )
  } else if (hasWildcard(namespaces)) {
    if (namespaces.length > 1)
      errs.push(
        fieldInvalid(
          `${path}.namespaces`,
          namespaces,
          "if '*' is present, must not specify other namespaces",
        ),
      )
  } else {
    namespaces.forEach((ns, i) => {
      for (const m of validateNamespaceName(ns, false))
        errs.push(fieldInvalid(`${path}.namespaces[${i}]`, ns, NS_ERR_INTRO + m))
    })
  }
  return errs
}

function validateNonResourceRule(r: Obj, path: string): FieldError[] {
  const errs = validateVerbs(r.verbs, `${path}.verbs`)
  const urls: string[] = r.nonResourceURLs ?? []
  if (!urls.length)
    errs.push(
      fieldRequired(`${path}.nonResourceURLs`, 'nonResourceURLs must contain at least one value'),
    )
  else if (hasWildcard(urls)) {
    if (urls.length > 1)
      errs.push(
        fieldInvalid(
          `${path}.nonResourceURLs`,
          urls,
          "if '*' is present, must not specify other non-resource URLs",
        ),
      )
  } else {
    urls.forEach((u, i) => {
      const p = `${path}.nonResourceURLs[${i}]`
      if (!u) errs.push(fieldInvalid(p, u, 'must not be empty'))
      else if (u !== '/' && !u.startsWith('/'))
        errs.push(fieldInvalid(p, u, 'must start with slash'))
      else if (u.length > 1 && u.endsWith('/'))
        errs.push(fieldInvalid(p, u, 'must not end with slash'))
      else if (u.includes('*') && !u.endsWith('/*'))
        errs.push(fieldInvalid(p, u, 'wildcard can only do suffix glob matching'))
      else if (u.includes('//')) errs.push(fieldInvalid(p, u, 'must not contain double slash'))
    })
  }
  return errs
}

export function validateFlowSchema(fs: Obj): FieldError[] {
  const errs: FieldError[] = []
  const spec = fs.spec ?? {}
  const name = fs.metadata?.name ?? ''
  const mp = spec.matchingPrecedence ?? 0
  if (mp <= 0) errs.push(fieldInvalid('spec.matchingPrecedence', mp, 'must be a positive value'))
  if (mp > FS_MAX_MATCHING_PRECEDENCE)
    errs.push(
      fieldInvalid(
        'spec.matchingPrecedence',
        mp,
        `must not be greater than ${FS_MAX_MATCHING_PRECEDENCE}`,
      ),
    )
  if (mp === 1 && name !== 'exempt')
    errs.push(
      fieldInvalid(
        'spec.matchingPrecedence',
        mp,
        "only the schema named 'exempt' may have matchingPrecedence 1",
      ),
    )
  if (spec.distinguisherMethod && !DISTINGUISHER_METHODS.includes(spec.distinguisherMethod.type))
    errs.push(
      fieldNotSupported(
        'spec.distinguisherMethod.type',
        spec.distinguisherMethod.type ?? '',
        DISTINGUISHER_METHODS,
      ),
    )
  const plName = spec.priorityLevelConfiguration?.name
  if (plName) {
    for (const m of nameIsDNSSubdomain(plName, false))
      errs.push(fieldInvalid('spec.priorityLevelConfiguration.name', plName, m))
  } else {
    errs.push(
      fieldRequired('spec.priorityLevelConfiguration.name', 'must reference a priority level'),
    )
  }
  ;(spec.rules ?? []).forEach((rule: Obj, i: number) => {
    const path = `spec.rules[${i}]`
    const subjects: Obj[] = rule.subjects ?? []
    if (!subjects.length)
      errs.push(fieldRequired(`${path}.subjects`, 'subjects must contain at least one value'))
    subjects.forEach((s, j) => errs.push(...validateSubject(s, `${path}.subjects[${j}]`)))
    const rr: Obj[] = rule.resourceRules ?? []
    const nr: Obj[] = rule.nonResourceRules ?? []
    if (!rr.length && !nr.length)
      errs.push(
        fieldRequired(
          path,
          'at least one of resourceRules and nonResourceRules has to be non-empty',
        ),
      )
    rr.forEach((r, j) => errs.push(...validateResourceRule(r, `${path}.resourceRules[${j}]`)))
    nr.forEach((r, j) => errs.push(...validateNonResourceRule(r, `${path}.nonResourceRules[${j}]`)))
  })
  // The mandatory "exempt" schema is fixed (ValidateIfMandatoryFlowSchema's spirit): it must point at exempt.
  if (name === 'exempt' && plName && plName !== 'exempt')
    errs.push(fieldInvalid('spec.priorityLevelConfiguration.name', plName, "must be 'exempt'"))
  return errs
}

/** shufflesharding.RequiredEntropyBits: the bits needed to deal a hand of handSize from deckSize. */
export function requiredEntropyBits(deckSize: number, handSize: number): number {
  return Math.ceil(Math.log2(deckSize) * handSize)
}

function validateLimited(l: Obj, path: string): FieldError[] {
  const errs: FieldError[] = []
  const ncs = l.nominalConcurrencyShares
  if (isInt(ncs) && ncs < 0)
    errs.push(
      fieldInvalid(`${path}.nominalConcurrencyShares`, ncs, 'must be a non-negative integer'),
    )
  const lr = l.limitResponse ?? {}
  const lrPath = `${path}.limitResponse`
  switch (lr.type) {
    case 'Reject':
      if (lr.queuing)
        errs.push(
          fieldForbidden(
            `${lrPath}.queuing`,
            'must be nil if limited.limitResponse.type is not Limited',
          ),
        )
      break
    case 'Queue':
      if (!lr.queuing)
        errs.push(
          fieldRequired(
            `${lrPath}.queuing`,
            'must not be empty if limited.limitResponse.type is Limited',
          ),
        )
      else errs.push(...validateQueuing(lr.queuing, `${lrPath}.queuing`))
      break
    default:
      errs.push(fieldNotSupported(`${lrPath}.type`, lr.type ?? '', LIMIT_RESPONSE_TYPES))
  }
  const lp = l.lendablePercent
  if (isInt(lp) && (lp < 0 || lp > 100))
    errs.push(fieldInvalid(`${path}.lendablePercent`, lp, 'must be between 0 and 100, inclusive'))
  const blp = l.borrowingLimitPercent
  if (isInt(blp) && blp < 0)
    errs.push(
      fieldInvalid(
        `${path}.borrowingLimitPercent`,
        blp,
        'if specified, must be a non-negative integer',
      ),
    )
  return errs
}

function validateQueuing(q: Obj, path: string): FieldError[] {
  const errs: FieldError[] = []
  if (!(q.queueLengthLimit > 0))
    errs.push(fieldInvalid(`${path}.queueLengthLimit`, q.queueLengthLimit ?? 0, 'must be positive'))
  if (!(q.queues > 0)) errs.push(fieldInvalid(`${path}.queues`, q.queues ?? 0, 'must be positive'))
  else if (q.queues > 1) {
    if (q.handSize > q.queues)
      errs.push(
        fieldInvalid(
          `${path}.handSize`,
          q.handSize,
          `should not be greater than queues (${q.queues})`,
        ),
      )
    else if (requiredEntropyBits(q.queues, q.handSize) > MAX_HASH_BITS)
      errs.push(
        fieldInvalid(
          `${path}.handSize`,
          q.handSize,
          `required entropy bits of deckSize ${q.queues} and handSize ${q.handSize} should not be greater than ${MAX_HASH_BITS}`,
        ),
      )
  }
  if (!(q.handSize > 0))
    errs.push(fieldInvalid(`${path}.handSize`, q.handSize ?? 0, 'must be positive'))
  return errs
}

export function validatePriorityLevel(pl: Obj): FieldError[] {
  const errs: FieldError[] = []
  const spec = pl.spec ?? {}
  const name = pl.metadata?.name ?? ''
  switch (spec.type) {
    case 'Exempt': {
      if (spec.limited)
        errs.push(fieldForbidden('spec.limited', 'must be nil if the type is not Limited'))
      const ex = spec.exempt
      if (ex) {
        if (isInt(ex.nominalConcurrencyShares) && ex.nominalConcurrencyShares < 0)
          errs.push(
            fieldInvalid(
              'spec.exempt.nominalConcurrencyShares',
              ex.nominalConcurrencyShares,
              'must be a non-negative integer',
            ),
          )
        if (isInt(ex.lendablePercent) && (ex.lendablePercent < 0 || ex.lendablePercent > 100))
          errs.push(
            fieldInvalid(
              'spec.exempt.lendablePercent',
              ex.lendablePercent,
              'must be between 0 and 100, inclusive',
            ),
          )
      }
      break
    }
    case 'Limited':
      if (spec.exempt)
        errs.push(fieldForbidden('spec.exempt', 'must be nil if the type is Limited'))
      if (!spec.limited)
        errs.push(fieldRequired('spec.limited', 'must not be empty when type is Limited'))
      else errs.push(...validateLimited(spec.limited, 'spec.limited'))
      break
    default:
      errs.push(fieldNotSupported('spec.type', spec.type ?? '', ENABLEMENTS))
  }
  if ((name === 'exempt') !== (spec.type === 'Exempt') && ENABLEMENTS.includes(spec.type))
    errs.push(
      fieldInvalid('spec.type', spec.type, "type must be 'Exempt' if and only if name is 'exempt'"),
    )
  return errs
}

// printFlowSchema: the columns, AGE, then whether the referenced priority level is missing (the
// Dangling condition's status, "?" before the configuration controller has set it).
function flowSchemaPrinter() {
  const p = printer(
    [
      col('PriorityLevel', 'string', describe('PriorityLevelConfigurationReference.name')),
      col('MatchingPrecedence', 'string', describe('FlowSchemaSpec.matchingPrecedence')),
      col('DistinguisherMethod', 'string', describe('FlowSchemaSpec.distinguisherMethod')),
    ],
    (o) => [
      o.spec?.priorityLevelConfiguration?.name ?? '',
      o.spec?.matchingPrecedence ?? 0,
      o.spec?.distinguisherMethod?.type ?? '<none>',
    ],
  )
  return {
    columns: [
      ...p.columns,
      col('MissingPL', 'string', 'indicates if the referenced priority level exists'),
    ],
    row(obj: Obj) {
      const dangling = (obj.status?.conditions ?? []).find((c: Obj) => c.type === 'Dangling')
      return [...p.row(obj), dangling ? String(dangling.status) : '?']
    },
  }
}

export const flowschemas = defineKind({
  group: 'flowcontrol.apiserver.k8s.io',
  version: 'v1',
  resource: 'flowschemas',
  kind: 'FlowSchema',
  namespaced: false,
  schema: 'FlowcontrolV1FlowSchema',
  generation: true,
  subresources: { status: true },
  initialStatus: () => ({}),
  strategy: {
    validateName: nameIsDNSSubdomain,
    defaults: defaultFlowSchema,
    validate: validateFlowSchema,
    printer: flowSchemaPrinter(),
  },
})

export const prioritylevelconfigurations = defineKind({
  group: 'flowcontrol.apiserver.k8s.io',
  version: 'v1',
  resource: 'prioritylevelconfigurations',
  kind: 'PriorityLevelConfiguration',
  namespaced: false,
  schema: 'FlowcontrolV1PriorityLevelConfiguration',
  generation: true,
  subresources: { status: true },
  initialStatus: () => ({}),
  strategy: {
    validateName: nameIsDNSSubdomain,
    defaults: defaultPriorityLevel,
    validate: validatePriorityLevel,
    printer: printer(
      [
        col('Type', 'string', describe('PriorityLevelConfigurationSpec.type')),
        col(
          'NominalConcurrencyShares',
          'string',
          describe('LimitedPriorityLevelConfiguration.nominalConcurrencyShares'),
        ),
        col('Queues', 'string', describe('QueuingConfiguration.queues')),
        col('HandSize', 'string', describe('QueuingConfiguration.handSize')),
        col('QueueLengthLimit', 'string', describe('QueuingConfiguration.queueLengthLimit')),
      ],
      (o) => {
        const l = o.spec?.limited
        const q = l?.limitResponse?.queuing
        return [
          o.spec?.type ?? '',
          l ? (l.nominalConcurrencyShares ?? 0) : '<none>',
          q ? q.queues : '<none>',
          q ? q.handSize : '<none>',
          q ? q.queueLengthLimit : '<none>',
        ]
      },
    ),
  },
})

export const flowcontrolResources = [flowschemas, prioritylevelconfigurations]

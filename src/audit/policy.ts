// The audit policy (audit.k8s.io Policy): read and validated as k8s.io/apiserver's policy/reader.go and
// apis/audit/validation do, and evaluated per request as policy/checker.go's EvaluatePolicyRule does: the
// first rule that matches decides the level, its omitStages joined with the policy's.
import type { Attributes } from '../auth/authorizer'
import { yamlToJson } from '../api/yaml'
import {
  fieldErrorString,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../server/errors'
import { isDNS1123Subdomain } from '../registry/validation/names'
import { errorText } from '../util/errors'

export type Level = 'None' | 'Metadata' | 'Request' | 'RequestResponse'
export type Stage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic'

export const LEVELS: Level[] = ['None', 'Metadata', 'Request', 'RequestResponse']
export const STAGES: Stage[] = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic']

/** Level.Less / GreaterOrEqual: the levels are ordered as listed. */
export function levelAtLeast(level: Level, min: Level): boolean {
  return LEVELS.indexOf(level) >= LEVELS.indexOf(min)
}

export interface GroupResources {
  group?: string
  resources?: string[]
  resourceNames?: string[]
}

export interface PolicyRule {
  level: Level
  users?: string[]
  userGroups?: string[]
  verbs?: string[]
  resources?: GroupResources[]
  namespaces?: string[]
  nonResourceURLs?: string[]
  omitStages?: Stage[]
  omitManagedFields?: boolean
}

export interface Policy {
  rules: PolicyRule[]
  omitStages?: Stage[]
  omitManagedFields?: boolean
}

/** What the policy decides for one request (auditinternal.RequestAuditConfig). */
export interface RequestAuditConfig {
  level: Level
  omitStages: Stage[]
  omitManagedFields: boolean
}

export class PolicyError extends Error {}

/** The group versions kube's policy reader decodes; v1alpha1 and v1beta1 are deprecated there. */
const GROUP_VERSIONS = ['audit.k8s.io/v1', 'audit.k8s.io/v1beta1', 'audit.k8s.io/v1alpha1']

/**
 * LoadPolicyFromBytes: a Policy in YAML or JSON, its apiVersion one of kube's, validated, with at least one
 * rule. Errors carry kube's words; the caller adds where the text came from.
 */
export function parsePolicy(text: string): Policy {
  let doc: unknown
  try {
    doc = yamlToJson(text)
  } catch (e) {
    throw new PolicyError(`failed decoding: ${errorText(e)}`)
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new PolicyError(`failed decoding: Object 'Kind' is missing in '${text.trim()}'`)
  const obj = doc as Record<string, unknown>
  if (typeof obj.kind !== 'string' || !obj.kind)
    throw new PolicyError(`failed decoding: Object 'Kind' is missing in '${text.trim()}'`)
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : ''
  // The universal decoder's words for a kind its scheme lacks (the scheme's name is where it was made).
  if (!GROUP_VERSIONS.includes(apiVersion) || obj.kind !== 'Policy')
    throw new PolicyError(
      `failed decoding: no kind "${obj.kind}" is registered for version "${apiVersion}" in scheme "k8s.io/apiserver/pkg/audit/scheme.go:30"`,
    )
  const policy = decodePolicy(obj)
  const errs = validatePolicy(policy)
  if (errs.length) {
    const list = errs.map(fieldErrorString)
    throw new PolicyError(list.length === 1 ? list[0]! : `[${list.join(', ')}]`)
  }
  if (policy.rules.length === 0) throw new PolicyError('loaded illegal policy with 0 rules')
  return policy
}

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
    throw new PolicyError(
      `failed decoding: json: cannot unmarshal ${typeName(v)} into Go struct field ${field} of type []string`,
    )
  return v as string[]
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'array'
  if (v === null) return 'null'
  return typeof v === 'object' ? 'object' : typeof v
}

/** The typed Policy from its JSON; unknown fields are dropped, as kube's (non-strict) decoder does. */
function decodePolicy(obj: Record<string, unknown>): Policy {
  const rules = obj.rules ?? []
  if (!Array.isArray(rules))
    throw new PolicyError(
      `failed decoding: json: cannot unmarshal ${typeName(rules)} into Go struct field Policy.rules of type []v1.PolicyRule`,
    )
  return {
    rules: rules.map((r) => {
      const rule = (r ?? {}) as Record<string, unknown>
      const resources = rule.resources
      if (resources !== undefined && resources !== null && !Array.isArray(resources))
        throw new PolicyError(
          `failed decoding: json: cannot unmarshal ${typeName(resources)} into Go struct field PolicyRule.rules.resources of type []v1.GroupResources`,
        )
      return {
        level: (typeof rule.level === 'string' ? rule.level : '') as Level,
        users: strings(rule.users, 'PolicyRule.rules.users'),
        userGroups: strings(rule.userGroups, 'PolicyRule.rules.userGroups'),
        verbs: strings(rule.verbs, 'PolicyRule.rules.verbs'),
        resources: (resources as Record<string, unknown>[] | undefined)?.map((g) => ({
          group: typeof g?.group === 'string' ? g.group : '',
          resources: strings(g?.resources, 'GroupResources.rules.resources.resources'),
          resourceNames: strings(g?.resourceNames, 'GroupResources.rules.resources.resourceNames'),
        })),
        namespaces: strings(rule.namespaces, 'PolicyRule.rules.namespaces'),
        nonResourceURLs: strings(rule.nonResourceURLs, 'PolicyRule.rules.nonResourceURLs'),
        omitStages: strings(rule.omitStages, 'PolicyRule.rules.omitStages') as Stage[] | undefined,
        omitManagedFields:
          typeof rule.omitManagedFields === 'boolean' ? rule.omitManagedFields : undefined,
      }
    }),
    omitStages: strings(obj.omitStages, 'Policy.omitStages') as Stage[] | undefined,
    omitManagedFields: obj.omitManagedFields === true,
  }
}

/** validation.ValidatePolicy: each rule's level, URLs, resources and stages. */
export function validatePolicy(policy: Policy): FieldError[] {
  const errs: FieldError[] = []
  policy.rules.forEach((rule, i) => {
    const path = `rules[${i}]`
    if (!rule.level) errs.push(fieldRequired(`${path}.level`))
    else if (!LEVELS.includes(rule.level))
      errs.push(fieldNotSupported(`${path}.level`, rule.level, LEVELS))
    ;(rule.nonResourceURLs ?? []).forEach((url, j) => {
      if (url === '*') return
      const at = `${path}.nonResourceURLs[${j}]`
      if (!url.startsWith('/'))
        errs.push(fieldInvalid(at, url, "non-resource URL rules must begin with a '/' character"))
      if (url !== '' && url.slice(0, -1).includes('*'))
        errs.push(
          fieldInvalid(
            at,
            url,
            "non-resource URL wildcards '*' must be the final character of the rule",
          ),
        )
    })
    for (const gr of rule.resources ?? []) {
      if (gr.group) {
        const msgs = isDNS1123Subdomain(gr.group)
        if (msgs.length)
          errs.push(fieldInvalid(`${path}.resources.group`, gr.group, msgs.join(',')))
      }
      if (gr.resourceNames?.length && !gr.resources?.length)
        errs.push(
          fieldInvalid(
            `${path}.resources.resourceNames`,
            gr.resourceNames,
            'using resourceNames requires at least one resource',
          ),
        )
    }
    ;(rule.omitStages ?? []).forEach((stage, j) => {
      if (!STAGES.includes(stage))
        errs.push(
          fieldInvalid(`${path}.omitStages[${j}]`, stage, `allowed stages are ${STAGES.join(',')}`),
        )
    })
    if (rule.nonResourceURLs?.length && (rule.resources?.length || rule.namespaces?.length))
      errs.push(
        fieldInvalid(
          `${path}.nonResourceURLs`,
          rule.nonResourceURLs,
          'rules cannot apply to both regular resources and non-resource URLs',
        ),
      )
  })
  return errs
}

/** policy.NewPolicyRuleEvaluator: each rule's omitStages joined with the policy's, once. */
export class PolicyRuleEvaluator {
  private readonly rules: { rule: PolicyRule; config: RequestAuditConfig }[]
  private readonly fallback: RequestAuditConfig

  constructor(readonly policy: Policy) {
    const policyStages = policy.omitStages ?? []
    this.rules = policy.rules.map((rule) => ({
      rule,
      config: {
        level: rule.level,
        omitStages: [...new Set([...policyStages, ...(rule.omitStages ?? [])])],
        omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields ?? false,
      },
    }))
    this.fallback = {
      level: 'None',
      omitStages: policyStages,
      omitManagedFields: policy.omitManagedFields ?? false,
    }
  }

  evaluate(attrs: Attributes): RequestAuditConfig {
    for (const { rule, config } of this.rules) if (ruleMatches(rule, attrs)) return config
    return this.fallback
  }
}

export function ruleMatches(r: PolicyRule, attrs: Attributes): boolean {
  if (r.users?.length && !r.users.includes(attrs.user.username)) return false
  if (r.userGroups?.length && !attrs.user.groups.some((g) => r.userGroups!.includes(g)))
    return false
  if (r.verbs?.length && !r.verbs.includes(attrs.verb)) return false
  if (r.namespaces?.length || r.resources?.length) return ruleMatchesResource(r, attrs)
  if (r.nonResourceURLs?.length) {
    if (attrs.isResourceRequest) return false
    return r.nonResourceURLs.some((spec) => pathMatches(attrs.path, spec))
  }
  return true
}

/** "*", the path itself, or a prefix ending in "*". */
function pathMatches(path: string, spec: string): boolean {
  if (spec === '*' || spec === path) return true
  // strings.TrimRight(spec, "*"): every trailing star goes.
  return spec.endsWith('*') && path.startsWith(spec.replace(/\*+$/, ''))
}

function ruleMatchesResource(r: PolicyRule, attrs: Attributes): boolean {
  if (!attrs.isResourceRequest) return false
  // Cluster-scoped resources have the empty namespace, which a rule may list.
  if (r.namespaces?.length && !r.namespaces.includes(attrs.namespace)) return false
  if (!r.resources?.length) return true
  const { apiGroup, resource, subresource, name } = attrs
  const combined = subresource ? `${resource}/${subresource}` : resource
  for (const gr of r.resources) {
    if ((gr.group ?? '') !== apiGroup) continue
    if (!gr.resources?.length) return true
    if (gr.resourceNames?.length && !gr.resourceNames.includes(name)) continue
    for (const res of gr.resources) {
      if (res === combined || res === '*') return true
      if (subresource && res.startsWith('*/') && res.slice(2) === subresource) return true
      if (res.endsWith('/*') && res.slice(0, -2) === resource) return true
    }
  }
  return false
}

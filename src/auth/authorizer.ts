// Authorizers and the attributes they decide on (k8s.io/apiserver/pkg/authorization/authorizer), the union
// that asks each in --authorization-mode order, and the Forbidden message kube-apiserver writes on a denial.
import type { UserInfo } from '../registry/types'
import { StatusError } from '../server/errors'

export interface Attributes {
  user: UserInfo
  verb: string
  isResourceRequest: boolean
  /** The URL path of a non-resource request. */
  path: string
  apiGroup: string
  apiVersion: string
  namespace: string
  resource: string
  subresource: string
  name: string
}

export type Decision = 'Allow' | 'Deny' | 'NoOpinion'

export interface AuthorizationResult {
  decision: Decision
  /** Why, in the authorizer's words: "RBAC: allowed by ..." or the resolution errors behind a denial. */
  reason: string
  /** An evaluation error that did not stop a decision (SubjectAccessReview status.evaluationError). */
  error?: string
}

/** A rule as authorization.k8s.io's rules reviews list it. */
export interface ResourceRule {
  verbs: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
}
export interface NonResourceRule {
  verbs: string[]
  nonResourceURLs?: string[]
}

export interface RulesResult {
  resourceRules: ResourceRule[]
  nonResourceRules: NonResourceRule[]
  /** Some authorizer in the chain cannot list its rules (Webhook, AlwaysDeny), so the list may be short. */
  incomplete: boolean
  evaluationError?: string
}

export interface Authorizer {
  authorize(a: Attributes): Promise<AuthorizationResult>
  /** What the user may do in a namespace (SelfSubjectRulesReview); authorizers that cannot say leave it out. */
  rulesFor?(user: UserInfo, namespace: string): Promise<RulesResult>
}

const NO_OPINION: AuthorizationResult = { decision: 'NoOpinion', reason: '' }

export const alwaysAllow: Authorizer = {
  async authorize() {
    return { decision: 'Allow', reason: '' }
  },
  async rulesFor() {
    return {
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    }
  },
}

export const alwaysDeny: Authorizer = {
  async authorize() {
    return { decision: 'NoOpinion', reason: 'Everything is forbidden.' }
  },
  async rulesFor() {
    return { resourceRules: [], nonResourceRules: [], incomplete: true }
  },
}

/** kube-apiserver puts this in front of every chain: members of these groups may do anything (system:masters). */
export function privilegedGroups(...groups: string[]): Authorizer {
  return {
    async authorize(a) {
      return a.user.groups.some((g) => groups.includes(g))
        ? { decision: 'Allow', reason: '' }
        : NO_OPINION
    },
  }
}

/** The union authorizer: the first Allow or Deny decides; the reasons of those with no opinion are joined. */
export function union(...authorizers: Authorizer[]): Authorizer {
  return {
    async authorize(a) {
      const reasons: string[] = []
      const errors: string[] = []
      for (const z of authorizers) {
        const r = await z.authorize(a)
        if (r.decision !== 'NoOpinion') return r
        if (r.reason) reasons.push(r.reason)
        if (r.error) errors.push(r.error)
      }
      const result: AuthorizationResult = { decision: 'NoOpinion', reason: reasons.join('\n') }
      if (errors.length) result.error = aggregateMessage(errors)
      return result
    },
    async rulesFor(user, namespace) {
      const out: RulesResult = { resourceRules: [], nonResourceRules: [], incomplete: false }
      const errors: string[] = []
      for (const z of authorizers) {
        if (!z.rulesFor) continue
        const r = await z.rulesFor(user, namespace)
        out.resourceRules.push(...r.resourceRules)
        out.nonResourceRules.push(...r.nonResourceRules)
        if (r.incomplete) out.incomplete = true
        if (r.evaluationError) errors.push(r.evaluationError)
      }
      if (errors.length) out.evaluationError = aggregateMessage(errors)
      return out
    },
  }
}

/** utilerrors.NewAggregate(errs).Error(): one message alone, several deduplicated in brackets. */
export function aggregateMessage(messages: string[]): string {
  const unique = [...new Set(messages)]
  return unique.length === 1 ? unique[0] : `[${unique.join(', ')}]`
}

/** responsewriters.forbiddenMessage: what the user may not do, in kube-apiserver's words. */
export function forbiddenMessage(a: Attributes): string {
  const user = a.user.username
  if (!a.isResourceRequest) return `User "${user}" cannot ${a.verb} path "${a.path}"`
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope'
  return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`
}

/** responsewriters.Forbidden: apierrors.NewForbidden on the request's group/resource and name, reason appended. */
export function forbiddenError(a: Attributes, reason: string): StatusError {
  const why = reason ? `${forbiddenMessage(a)}: ${reason}` : forbiddenMessage(a)
  const resource = a.isResourceRequest ? a.resource : ''
  const details: { name?: string; group?: string; kind?: string } = {}
  if (a.name) details.name = a.name
  if (a.apiGroup) details.group = a.apiGroup
  if (resource) details.kind = resource
  if (!resource && !a.apiGroup)
    return new StatusError(403, 'Forbidden', `forbidden: ${why}`, details)
  const qualified = a.apiGroup ? `${resource}.${a.apiGroup}` : resource
  const target = a.name ? `${qualified} "${a.name}"` : qualified
  return new StatusError(403, 'Forbidden', `${target} is forbidden: ${why}`, details)
}

// Rule and subject matching exactly as kube-apiserver's RBAC authorizer evaluates them
// (pkg/apis/rbac/v1/evaluation_helpers.go, pkg/registry/rbac/validation/rule.go).
import type { Attributes } from '../authorizer'
import type { UserInfo } from '../../registry/types'
import type { LabelSelector, PolicyRule, Subject } from './types'

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb)
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === '*' || g === group)
}

/** `*`, the exact resource or resource/subresource, or `*\/subresource` for a request on that subresource. */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true
    if (
      subresource &&
      r.length === subresource.length + 2 &&
      r.startsWith('*/') &&
      r.endsWith(subresource)
    )
      return true
  }
  return false
}

/** No resourceNames: every name; otherwise the request must name one of them (a list or create names none). */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? []
  return names.length === 0 || names.includes(name)
}

/** `*`, an exact path, or a prefix ending in `*`. */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true
  }
  return false
}

export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.isResourceRequest) {
    const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    return (
      verbMatches(rule, a.verb) &&
      apiGroupMatches(rule, a.apiGroup) &&
      resourceMatches(rule, combined, a.subresource) &&
      resourceNameMatches(rule, a.name)
    )
  }
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path)
}

export const SERVICE_ACCOUNT_USERNAME_PREFIX = 'system:serviceaccount:'

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USERNAME_PREFIX}${namespace}:${name}`
}

/** serviceaccount.SplitUsername: system:serviceaccount:<namespace>:<name>, both parts non-empty and without ':'. */
export function splitServiceAccountUsername(
  username: string,
): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USERNAME_PREFIX)) return undefined
  const parts = username.slice(SERVICE_ACCOUNT_USERNAME_PREFIX.length).split(':')
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined
  return { namespace: parts[0], name: parts[1] }
}

/** serviceaccount.MakeGroupNames: every service account is in these two groups. */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`]
}

/** appliesToUser: a ServiceAccount subject without a namespace means the binding's namespace. */
export function subjectAppliesTo(
  user: UserInfo,
  subject: Subject,
  bindingNamespace: string,
): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name
    case 'Group':
      return user.groups.includes(subject.name)
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace
      return !!ns && user.username === serviceAccountUsername(ns, subject.name)
    }
    default:
      return false
  }
}

/** A label selector (metav1.LabelSelector) against an object's labels; an empty selector matches everything. */
export function labelSelectorMatches(
  sel: LabelSelector,
  labels: Record<string, string> = {},
): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key)
    const values = req.values ?? []
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(labels[req.key])) return false
        break
      case 'NotIn':
        if (has && values.includes(labels[req.key])) return false
        break
      case 'Exists':
        if (!has) return false
        break
      case 'DoesNotExist':
        if (has) return false
        break
      default:
        return false
    }
  }
  return true
}

/** The compact form kube uses in escalation messages: {APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}. */
export function compactRuleString(r: PolicyRule): string {
  const q = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`
  const parts: string[] = []
  if (r.apiGroups?.length) parts.push(`APIGroups:${q(r.apiGroups)}`)
  if (r.resources?.length) parts.push(`Resources:${q(r.resources)}`)
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${q(r.nonResourceURLs)}`)
  if (r.resourceNames?.length) parts.push(`ResourceNames:${q(r.resourceNames)}`)
  if (r.verbs?.length) parts.push(`Verbs:${q(r.verbs)}`)
  return `{${parts.join(', ')}}`
}

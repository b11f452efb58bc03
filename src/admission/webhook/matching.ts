// Which requests a webhook or policy sees (k8s.io/apiserver/pkg/admission/plugin/webhook/predicates): rules on
// operations, groups, versions, resources (with subresources) and scope, then namespaceSelector and objectSelector.
import { labelSelectorFromObjectOrError } from '../../api/selectors/labels'
import type { Attributes } from '../types'

type Obj = Record<string, any>

function matchList(list: string[] | undefined, value: string): boolean {
  return (list ?? []).some((x) => x === '*' || x === value)
}

/** RuleWithOperations: operations, apiGroups, apiVersions, resources ("pods", "pods/status", "*\/*", "*\/scale") and scope. */
export function ruleMatches(rule: Obj, a: Attributes): boolean {
  const ops = (rule.operations ?? []) as string[]
  if (!ops.includes('*') && !ops.includes(a.operation)) return false
  if (!matchList(rule.apiGroups, a.type.group)) return false
  if (!matchList(rule.apiVersions, a.type.version)) return false
  const resources = (rule.resources ?? []) as string[]
  const ok = resources.some((r) => {
    const [res, sub] = r.split('/', 2) as [string, string | undefined]
    if (sub === undefined) return a.subresource === '' && (res === '*' || res === a.type.resource)
    return (res === '*' || res === a.type.resource) && (sub === '*' || sub === a.subresource)
  })
  if (!ok) return false
  const scope = rule.scope ?? '*'
  if (scope === 'Cluster' && a.namespace) return false
  if (scope === 'Namespaced' && (!a.type.namespaced || a.type.resource === 'namespaces'))
    return false
  return true
}

export function rulesMatch(rules: Obj[] | undefined, a: Attributes): boolean {
  return (rules ?? []).some((r) => ruleMatches(r, a))
}

/**
 * namespaceSelector: cluster-scoped objects other than namespaces always match; a namespace is matched by its
 * own labels; everything else by its namespace's labels.
 */
export async function namespaceSelectorMatches(
  selector: Obj | undefined,
  a: Attributes,
): Promise<boolean> {
  const sel = labelSelectorFromObjectOrError(selector ?? {})
  if (sel.empty) return true
  const isNamespace = a.type.group === '' && a.type.resource === 'namespaces'
  if (!a.namespace && !isNamespace) return true
  if (isNamespace) {
    const obj = (a.object ?? a.oldObject) as Obj | undefined
    return sel.matches(obj?.metadata?.labels ?? {})
  }
  const ns = await a.reader.get('namespaces', '', a.namespace)
  return sel.matches(ns?.metadata?.labels ?? {})
}

/** objectSelector: the new or the old object's labels match. */
export function objectSelectorMatches(selector: Obj | undefined, a: Attributes): boolean {
  const sel = labelSelectorFromObjectOrError(selector ?? {})
  if (sel.empty) return true
  const labelsOf = (o: Obj | undefined) => o?.metadata?.labels ?? {}
  return (
    (!!a.object && sel.matches(labelsOf(a.object as Obj))) ||
    (!!a.oldObject && sel.matches(labelsOf(a.oldObject as Obj)))
  )
}

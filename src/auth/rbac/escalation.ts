// RBAC escalation prevention (pkg/registry/rbac/*/policybased and rbac/validation): a Role or ClusterRole may be
// written only by someone who holds every permission it grants or may "escalate" it, and a binding only by
// someone who holds the bound role's permissions or may "bind" it. system:masters is exempt.
import type { KubeObject, RequestContext, Strategy, UserInfo } from '../../registry/types'
import { forbidden } from '../../server/errors'
import { aggregateMessage, type Authorizer } from '../authorizer'
import type { RuleResolver } from './authorizer'
import { compactRuleString, nonResourceURLMatches } from './rules'
import { RBAC_GROUP, type Binding, type PolicyRule, type Role } from './types'

const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
]

/** BreakdownRule: one verb, one group, one resource and at most one name per rule; URLs pair with verbs. */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = []
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs ?? []) {
        if (rule.resourceNames?.length) {
          for (const name of rule.resourceNames)
            out.push({
              apiGroups: [group],
              resources: [resource],
              verbs: [verb],
              resourceNames: [name],
            })
        } else {
          out.push({ apiGroups: [group], resources: [resource], verbs: [verb] })
        }
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? [])
    for (const verb of rule.verbs ?? []) out.push({ nonResourceURLs: [url], verbs: [verb] })
  return out
}

const hasAll = (set: string[] = [], wanted: string[] = []) => wanted.every((w) => set.includes(w))

function resourcesCover(owner: string[] = [], wanted: string[] = []): boolean {
  if (owner.includes('*') || hasAll(owner, wanted)) return true
  return wanted.every((path) => {
    if (owner.includes(path)) return true
    const slash = path.indexOf('/')
    return slash >= 0 && owner.includes(`*/${path.slice(slash + 1)}`)
  })
}

/** ruleCovers: the owner rule allows everything the (broken down) sub-rule does. */
export function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = owner.verbs.includes('*') || hasAll(owner.verbs, sub.verbs)
  const groups = (owner.apiGroups ?? []).includes('*') || hasAll(owner.apiGroups, sub.apiGroups)
  const resources = resourcesCover(owner.resources, sub.resources)
  const urls = (sub.nonResourceURLs ?? []).every(
    (u) =>
      nonResourceURLMatches({ verbs: [], nonResourceURLs: owner.nonResourceURLs }, u) &&
      (owner.nonResourceURLs ?? []).length > 0,
  )
  const ownerNames = owner.resourceNames ?? []
  const names =
    (sub.resourceNames ?? []).length === 0
      ? ownerNames.length === 0
      : ownerNames.length === 0 || hasAll(ownerNames, sub.resourceNames)
  return verbs && groups && resources && names && urls
}

/** Covers: whether owner rules cover the servant rules, and the broken-down rules they miss. */
export function covers(owner: PolicyRule[], servant: PolicyRule[]): PolicyRule[] {
  const missing: PolicyRule[] = []
  for (const sub of servant.flatMap(breakdownRule))
    if (!owner.some((o) => ruleCovers(o, sub))) missing.push(sub)
  return missing
}

/** CompactRules: single group/resource rules that differ only by verb become one rule. */
function compactRules(rules: PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = []
  const simple = new Map<string, PolicyRule>()
  for (const r of rules) {
    const isSimple =
      (r.resourceNames ?? []).length <= 1 &&
      !(r.nonResourceURLs ?? []).length &&
      (r.apiGroups ?? []).length === 1 &&
      (r.resources ?? []).length === 1
    if (!isSimple) {
      out.push(r)
      continue
    }
    const key = JSON.stringify([r.apiGroups![0], r.resources![0], r.resourceNames?.[0] ?? null])
    const existing = simple.get(key)
    if (existing) existing.verbs = [...existing.verbs, ...r.verbs]
    else simple.set(key, { ...r, verbs: [...r.verbs] })
  }
  return [...out, ...simple.values()]
}

const goQuoteList = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`

/** ConfirmNoEscalation: the requester's rules in the namespace must cover what is granted. */
async function confirmNoEscalation(
  resolver: RuleResolver,
  user: UserInfo,
  namespace: string,
  rules: PolicyRule[],
): Promise<string | undefined> {
  const owner = await resolver.rulesFor(user, namespace)
  const missing = covers(owner.rules, rules)
  if (!missing.length) return undefined
  const descriptions = [...new Set(compactRules(missing).map(compactRuleString))].sort()
  let msg = `user ${JSON.stringify(user.username)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join('\n')}`
  if (owner.errors.length) msg += `; resolution errors: [${aggregateMessage(owner.errors)}]`
  return msg
}

/** EscalationAllowed: system:masters may write any role or binding (the API server's own loopback identity is one). */
function escalationAllowed(user: UserInfo | undefined): boolean {
  return !user || user.groups.includes('system:masters')
}

async function allowed(
  authorizer: Authorizer,
  user: UserInfo,
  verb: string,
  resource: string,
  namespace: string,
  name: string,
): Promise<boolean> {
  const r = await authorizer.authorize({
    user,
    verb,
    isResourceRequest: true,
    path: '',
    apiGroup: RBAC_GROUP,
    apiVersion: '*',
    namespace,
    resource,
    subresource: '',
    name,
  })
  return r.decision === 'Allow'
}

/** IsOnlyMutatingGCFields: an update touching only ownerReferences, finalizers or managedFields is always let through. */
function onlyGCFields(obj: KubeObject, old: KubeObject | undefined): boolean {
  if (!old) return false
  const strip = (o: KubeObject) => {
    const {
      ownerReferences: _o,
      finalizers: _f,
      managedFields: _m,
      resourceVersion: _r,
      ...meta
    } = o.metadata ?? {}
    return JSON.stringify({ ...o, metadata: meta })
  }
  return strip(obj) === strip(old)
}

/** The strategy of roles/clusterroles/rolebindings/clusterrolebindings with the escalation check added. */
export function withEscalationPrevention(resource: string, strategy: Strategy): Strategy {
  const before = strategy.beforeWrite
  const isRole = resource === 'roles' || resource === 'clusterroles'
  return {
    ...strategy,
    async beforeWrite(obj, old, store, ctx) {
      await before?.call(strategy, obj, old, store, ctx)
      await checkEscalation(resource, isRole, obj, old, ctx)
    },
  }
}

async function checkEscalation(
  resource: string,
  isRole: boolean,
  obj: KubeObject,
  old: KubeObject | undefined,
  ctx: RequestContext,
): Promise<void> {
  const resolver = ctx.auth?.rbac
  const authorizer = ctx.auth?.authorizer
  // Without RBAC among the authorization modes there is nothing to escalate.
  if (!resolver || !authorizer) return
  const user = ctx.user
  if (escalationAllowed(user) || onlyGCFields(obj, old)) return
  const namespace = ctx.namespace ?? ''
  const name = obj.metadata?.name ?? ''
  const gr = { group: RBAC_GROUP, resource }
  let rules: PolicyRule[]
  if (isRole) {
    if (await allowed(authorizer, user!, 'escalate', resource, namespace, name)) return
    const role = obj as Role
    rules =
      resource === 'clusterroles' && role.aggregationRule ? FULL_AUTHORITY : (role.rules ?? [])
  } else {
    const ref = (obj as Binding).roleRef
    const refResource =
      ref?.kind === 'Role' ? 'roles' : ref?.kind === 'ClusterRole' ? 'clusterroles' : ''
    if (refResource && (await allowed(authorizer, user!, 'bind', refResource, namespace, ref.name)))
      return
    const resolved = await resolver.roleRefRules(ref, namespace)
    if (resolved.error) throw resolved.error
    rules = resolved.rules!
  }
  const why = await confirmNoEscalation(resolver, user!, namespace, rules)
  if (why) throw forbidden(gr, name, why)
}

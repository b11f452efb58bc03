// A snapshot of every Role, ClusterRole, RoleBinding and ClusterRoleBinding, indexed by subject so that
// finding the rules for a user costs a few map lookups however many bindings the cluster holds.
import type { UserInfo } from '../../registry/types'
import type { KeyValue, Store } from '../../storage/store'
import { labelSelectorMatches, subjectAppliesTo } from './rules'
import type { Binding, PolicyRule, Role, Subject } from './types'

export const RBAC_PREFIXES = {
  roles: '/registry/roles/',
  roleBindings: '/registry/rolebindings/',
  clusterRoles: '/registry/clusterroles/',
  clusterRoleBindings: '/registry/clusterrolebindings/',
} as const

/** Called per rule that applies to the user (source describes where it came from) and per resolution error; false stops. */
export type RuleVisitor = (
  source: (() => string) | undefined,
  rule: PolicyRule | undefined,
  error: string | undefined,
) => boolean

interface Indexed {
  binding: Binding
  order: number
}

/** Bindings by the user name or group name a subject names; ServiceAccount subjects go under their username. */
class SubjectIndex {
  private byUser = new Map<string, Indexed[]>()
  private byGroup = new Map<string, Indexed[]>()
  private count = 0

  add(binding: Binding, bindingNamespace: string): void {
    const entry = { binding, order: this.count++ }
    const seen = new Set<string>()
    for (const s of binding.subjects ?? []) {
      let map: Map<string, Indexed[]> | undefined
      let key = s.name
      if (s.kind === 'User') map = this.byUser
      else if (s.kind === 'Group') map = this.byGroup
      else if (s.kind === 'ServiceAccount') {
        const ns = s.namespace || bindingNamespace
        if (!ns) continue
        map = this.byUser
        key = `system:serviceaccount:${ns}:${s.name}`
      }
      if (!map) continue
      const dedupe = `${map === this.byUser ? 'u' : 'g'}/${key}`
      if (seen.has(dedupe)) continue
      seen.add(dedupe)
      const list = map.get(key)
      if (list) list.push(entry)
      else map.set(key, [entry])
    }
  }

  /** The bindings with a subject that may apply to the user, in storage (name) order. */
  candidates(user: UserInfo): Binding[] {
    const found: Indexed[] = [...(this.byUser.get(user.username) ?? [])]
    for (const g of user.groups) found.push(...(this.byGroup.get(g) ?? []))
    if (found.length <= 1) return found.map((e) => e.binding)
    const unique = new Map<number, Indexed>()
    for (const e of found) unique.set(e.order, e)
    return [...unique.values()].sort((a, b) => a.order - b.order).map((e) => e.binding)
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} "${s.name}/${s.namespace || bindingNamespace}"`
  return `${s.kind} "${s.name}"`
}

export class PolicySnapshot {
  readonly clusterRoles = new Map<string, Role>()
  readonly roles = new Map<string, Role>()
  private clusterBindings = new SubjectIndex()
  private roleBindings = new Map<string, SubjectIndex>()
  private aggregated = new Map<string, PolicyRule[]>()

  constructor(
    readonly revision: number,
    objects: {
      roles: Role[]
      roleBindings: Binding[]
      clusterRoles: Role[]
      clusterRoleBindings: Binding[]
    },
  ) {
    for (const r of objects.clusterRoles) this.clusterRoles.set(r.metadata?.name ?? '', r)
    for (const r of objects.roles) this.roles.set(`${r.metadata?.namespace}/${r.metadata?.name}`, r)
    for (const b of objects.clusterRoleBindings) this.clusterBindings.add(b, '')
    for (const b of objects.roleBindings) {
      const ns = b.metadata?.namespace ?? ''
      let idx = this.roleBindings.get(ns)
      if (!idx) this.roleBindings.set(ns, (idx = new SubjectIndex()))
      idx.add(b, ns)
    }
  }

  /**
   * A ClusterRole's rules. One with an aggregationRule gets the union of the rules of the roles its selectors
   * match, which is what kube-controller-manager's clusterrole-aggregation controller writes into it; working it out
   * here means a new aggregated role takes effect on the next request rather than after the controller runs.
   */
  clusterRoleRules(name: string, visiting = new Set<string>()): PolicyRule[] | undefined {
    const role = this.clusterRoles.get(name)
    if (!role) return undefined
    const selectors = role.aggregationRule?.clusterRoleSelectors
    if (!selectors) return role.rules ?? []
    const cached = this.aggregated.get(name)
    if (cached) return cached
    if (visiting.has(name)) return role.rules ?? []
    visiting.add(name)
    const rules: PolicyRule[] = []
    const seen = new Set<string>()
    const names = [...this.clusterRoles.keys()].sort()
    for (const sel of selectors) {
      for (const other of names) {
        if (other === name) continue
        const o = this.clusterRoles.get(other)!
        if (!labelSelectorMatches(sel, o.metadata?.labels)) continue
        for (const r of this.clusterRoleRules(other, visiting) ?? []) {
          const k = JSON.stringify(r)
          if (seen.has(k)) continue
          seen.add(k)
          rules.push(r)
        }
      }
    }
    visiting.delete(name)
    this.aggregated.set(name, rules)
    return rules
  }

  /** GetRoleReferenceRules: the rules a binding's roleRef names, or the error kube's listers give. */
  roleRefRules(
    ref: Binding['roleRef'],
    bindingNamespace: string,
  ): { rules?: PolicyRule[]; error?: string } {
    if (ref?.kind === 'ClusterRole') {
      const rules = this.clusterRoleRules(ref.name)
      return rules
        ? { rules }
        : { error: `clusterrole.rbac.authorization.k8s.io "${ref.name}" not found` }
    }
    if (ref?.kind === 'Role') {
      const role = this.roles.get(`${bindingNamespace}/${ref.name}`)
      return role
        ? { rules: role.rules ?? [] }
        : { error: `role.rbac.authorization.k8s.io "${ref.name}" not found` }
    }
    return { error: `unsupported role reference kind: "${ref?.kind ?? ''}"` }
  }

  /** VisitRulesFor: cluster role bindings first, then the namespace's role bindings. */
  visitRulesFor(user: UserInfo, namespace: string, visit: RuleVisitor): void {
    for (const b of this.clusterBindings.candidates(user)) {
      if (!this.visitBinding(user, b, '', 'ClusterRoleBinding', visit)) return
    }
    if (!namespace) return
    const idx = this.roleBindings.get(namespace)
    if (!idx) return
    for (const b of idx.candidates(user)) {
      if (!this.visitBinding(user, b, namespace, 'RoleBinding', visit)) return
    }
  }

  private visitBinding(
    user: UserInfo,
    b: Binding,
    namespace: string,
    kind: string,
    visit: RuleVisitor,
  ): boolean {
    const subject = (b.subjects ?? []).find((s) => subjectAppliesTo(user, s, namespace))
    if (!subject) return true
    const { rules, error } = this.roleRefRules(b.roleRef, namespace)
    if (error) return visit(undefined, undefined, error)
    const name = namespace ? `${b.metadata?.name}/${namespace}` : b.metadata?.name
    const describe = () =>
      `${kind} "${name}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject, namespace)}`
    for (const r of rules!) if (!visit(describe, r, undefined)) return false
    return true
  }
}

async function listAll(
  store: Store,
  prefix: string,
): Promise<{ kvs: KeyValue[]; revision: number }> {
  const kvs: KeyValue[] = []
  let after: string | undefined
  let revision: number | undefined
  for (;;) {
    const page = await store.list(prefix, { revision, limit: 1000, after })
    revision ??= page.revision
    kvs.push(...page.kvs)
    if (!page.more || page.kvs.length === 0) return { kvs, revision }
    after = page.kvs[page.kvs.length - 1].key
  }
}

function decodeAll<T>(kvs: KeyValue[]): T[] {
  const out: T[] = []
  for (const kv of kvs) {
    try {
      out.push(JSON.parse(kv.value) as T)
    } catch {
      /* a corrupt object grants nothing */
    }
  }
  return out
}

/**
 * Reads every RBAC object. The four lists need not share a revision (kube-apiserver's informers do not either);
 * the snapshot keeps the oldest, so a later revision check never takes it for fresher than it is.
 */
export async function loadPolicy(store: Store): Promise<PolicySnapshot> {
  const [crb, cr, rb, r] = await Promise.all([
    listAll(store, RBAC_PREFIXES.clusterRoleBindings),
    listAll(store, RBAC_PREFIXES.clusterRoles),
    listAll(store, RBAC_PREFIXES.roleBindings),
    listAll(store, RBAC_PREFIXES.roles),
  ])
  return new PolicySnapshot(Math.min(crb.revision, cr.revision, rb.revision, r.revision), {
    clusterRoleBindings: decodeAll<Binding>(crb.kvs),
    clusterRoles: decodeAll<Role>(cr.kvs),
    roleBindings: decodeAll<Binding>(rb.kvs),
    roles: decodeAll<Role>(r.kvs),
  })
}

// The RBAC authorizer (plugin/pkg/auth/authorizer/rbac) over a cached policy snapshot. Authorization runs on
// every request, so the snapshot is reused while the store's revision has not moved, and the revision itself is
// checked at most once per ttl, except right after an RBAC write, when every request checks it.
import type { UserInfo } from '../../registry/types'
import { notFound, type StatusError } from '../../server/errors'
import type { Store } from '../../storage/store'
import {
  aggregateMessage,
  type Attributes,
  type AuthorizationResult,
  type Authorizer,
  type RulesResult,
} from '../authorizer'
import { loadPolicy, type PolicySnapshot } from './policy'
import { ruleAllows } from './rules'
import { RBAC_GROUP, type Binding, type PolicyRule } from './types'

/** The RBAC rule resolver the RBAC registry uses for escalation checks (rbacregistryvalidation.AuthorizationRuleResolver). */
export interface RuleResolver {
  /** Every rule that applies to the user in the namespace, and the errors met resolving them. */
  rulesFor(user: UserInfo, namespace: string): Promise<{ rules: PolicyRule[]; errors: string[] }>
  /** The rules a roleRef names, or the NotFound the registry would answer for a missing role. */
  roleRefRules(
    ref: Binding['roleRef'],
    namespace: string,
  ): Promise<{ rules?: PolicyRule[]; error?: StatusError }>
}

export interface RBACOptions {
  /** How long a snapshot is used without asking the store for its revision. */
  ttlMs?: number
  /** After an RBAC write, check the revision on every request for this long. */
  strictAfterWriteMs?: number
  now?: () => number
}

export class RBACAuthorizer {
  private snapshot?: PolicySnapshot
  private checkedAt = -Infinity
  private strictUntil = -Infinity
  private loading?: Promise<PolicySnapshot>
  private readonly ttlMs: number
  private readonly strictMs: number
  private readonly now: () => number

  constructor(opts: RBACOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 1000
    this.strictMs = opts.strictAfterWriteMs ?? 10_000
    this.now = opts.now ?? (() => Date.now())
  }

  /** An RBAC object is being written: the next requests must see it. */
  noteWrite(): void {
    this.strictUntil = this.now() + this.strictMs
    this.checkedAt = -Infinity
  }

  async policy(store: Store): Promise<PolicySnapshot> {
    const now = this.now()
    const strict = now < this.strictUntil
    if (this.snapshot && !strict && now - this.checkedAt < this.ttlMs) return this.snapshot
    // A load that began before an RBAC write committed may miss it: right after a write, never join one.
    if (this.loading && !strict) return this.loading
    const loading = this.refresh(store)
    this.loading = loading
    try {
      return await loading
    } finally {
      if (this.loading === loading) this.loading = undefined
    }
  }

  private async refresh(store: Store): Promise<PolicySnapshot> {
    const current = this.snapshot
    if (current && (await store.currentRevision()) === current.revision) {
      this.checkedAt = this.now()
      return current
    }
    const snap = await loadPolicy(store)
    if (!this.snapshot || snap.revision >= this.snapshot.revision) this.snapshot = snap
    this.checkedAt = this.now()
    return snap
  }

  /** The rule resolver for one request's store. */
  resolverFor(store: Store): RuleResolver {
    return {
      rulesFor: async (user, namespace) => {
        const rules: PolicyRule[] = []
        const errors: string[] = []
        ;(await this.policy(store)).visitRulesFor(user, namespace, (_s, rule, error) => {
          if (rule) rules.push(rule)
          if (error) errors.push(error)
          return true
        })
        return { rules, errors }
      },
      roleRefRules: async (ref, namespace) => {
        const { rules, error } = (await this.policy(store)).roleRefRules(ref, namespace)
        if (!error) return { rules }
        const resource = ref?.kind === 'Role' ? 'roles' : 'clusterroles'
        return { error: notFound({ group: RBAC_GROUP, resource }, ref?.name ?? '') }
      },
    }
  }

  /** The Authorizer for one request's store. */
  forStore(store: Store): Authorizer {
    return {
      authorize: async (a) => authorizeWith(await this.policy(store), a),
      rulesFor: async (user, namespace) => rulesWith(await this.policy(store), user, namespace),
    }
  }
}

export function authorizeWith(policy: PolicySnapshot, a: Attributes): AuthorizationResult {
  let allowedBy: string | undefined
  const errors: string[] = []
  policy.visitRulesFor(a.user, a.namespace, (source, rule, error) => {
    if (rule && ruleAllows(a, rule)) {
      allowedBy = `RBAC: allowed by ${source!()}`
      return false
    }
    if (error) errors.push(error)
    return true
  })
  if (allowedBy) return { decision: 'Allow', reason: allowedBy }
  return { decision: 'NoOpinion', reason: errors.length ? `RBAC: ${aggregateMessage(errors)}` : '' }
}

export function rulesWith(policy: PolicySnapshot, user: UserInfo, namespace: string): RulesResult {
  const rules: PolicyRule[] = []
  const errors: string[] = []
  policy.visitRulesFor(user, namespace, (_s, rule, error) => {
    if (rule) rules.push(rule)
    if (error) errors.push(error)
    return true
  })
  const out: RulesResult = { resourceRules: [], nonResourceRules: [], incomplete: false }
  for (const r of rules) {
    if (r.resources?.length) {
      const rr: RulesResult['resourceRules'][number] = {
        verbs: r.verbs,
        apiGroups: r.apiGroups ?? [],
        resources: r.resources,
      }
      if (r.resourceNames?.length) rr.resourceNames = r.resourceNames
      out.resourceRules.push(rr)
    }
    if (r.nonResourceURLs?.length)
      out.nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })
  }
  if (errors.length) out.evaluationError = aggregateMessage(errors)
  return out
}

// ValidatingAdmissionPolicy (k8s.io/apiserver/pkg/admission/plugin/policy/validating): in-process CEL
// validations, bound to requests by ValidatingAdmissionPolicyBindings, with params, variables,
// matchConditions, validationActions Deny/Warn/Audit and messageExpression.
import { StatusError, type StatusReason } from '../../server/errors'
import type { PluginContext } from '../chain'
import { CelCompileError, CelEvalError, evaluate, evaluateBool, toCel } from '../cel'
import { admissionForbidden, type AdmissionPlugin, type Attributes } from '../types'
import { namespaceSelectorMatches, objectSelectorMatches, ruleMatches } from '../webhook/matching'
import { admissionRequest } from '../webhook/review'
import { labelSelectorFromObjectOrError } from '../../api/selectors/labels'
import { errorText } from '../../util/errors'

type Obj = Record<string, any>

const REASON_CODES: Record<string, number> = {
  Forbidden: 403,
  Invalid: 422,
  RequestEntityTooLarge: 413,
  Unauthorized: 401,
}

/** MatchResources: resourceRules minus excludeResourceRules, then namespaceSelector and objectSelector. */
export async function matchResources(m: Obj | undefined, a: Attributes): Promise<boolean> {
  if (!m) return true
  const rules = (m.resourceRules ?? []) as Obj[]
  // A rule here has resourceNames too; an empty list matches every name.
  const named = (r: Obj) =>
    !(r.resourceNames ?? []).length ||
    (r.resourceNames as string[]).includes(a.name || (a.object?.metadata?.name ?? ''))
  if (rules.length && !rules.some((r) => ruleMatches(r, a) && named(r))) return false
  if (((m.excludeResourceRules ?? []) as Obj[]).some((r) => ruleMatches(r, a) && named(r)))
    return false
  try {
    if (!(await namespaceSelectorMatches(m.namespaceSelector, a))) return false
    if (!objectSelectorMatches(m.objectSelector, a)) return false
  } catch {
    return false
  }
  return true
}

interface Decision {
  action: 'admit' | 'deny'
  message: string
  reason?: string
  evalError?: boolean
}

function stripMeta(o: unknown): unknown {
  return o ?? null
}

async function resolveParams(
  ctx: PluginContext,
  policy: Obj,
  binding: Obj,
  a: Attributes,
): Promise<{ params: Obj[] | undefined; denied?: string }> {
  const paramKind = policy.spec?.paramKind
  if (!paramKind) return { params: [null as unknown as Obj] }
  const ref = binding.spec?.paramRef
  if (!ref)
    return {
      params: undefined,
      denied: `policy ${policy.metadata?.name} is configured with paramKind but binding ${binding.metadata?.name} has no paramRef`,
    }
  const type = ctx.registry.byKind(paramKind.apiVersion, paramKind.kind)
  if (!type)
    return {
      params: undefined,
      denied: `failed to configure binding: paramKind ${paramKind.apiVersion}, Kind=${paramKind.kind} is not served`,
    }
  const ns = type.namespaced ? ref.namespace || a.namespace : ''
  let found: Obj[] = []
  if (ref.name) {
    const p = await a.reader.get(type.storagePrefix, ns, ref.name)
    if (p) found = [p as Obj]
  } else {
    const sel = labelSelectorFromObjectOrError(ref.selector ?? {})
    found = ((await a.reader.list(type.storagePrefix, ns)) as Obj[]).filter((p) =>
      sel.matches(p.metadata?.labels ?? {}),
    )
  }
  if (!found.length) {
    if ((ref.parameterNotFoundAction ?? 'Deny') === 'Allow') return { params: [] }
    return {
      params: undefined,
      denied:
        'failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction',
    }
  }
  return { params: found }
}

function evaluateValidations(
  policy: Obj,
  vars: Record<string, unknown>,
  failurePolicy: string,
): Decision[] {
  const spec = policy.spec ?? {}
  const decisions: Decision[] = []
  // Variables, in order; a later one may use an earlier one. An erroring variable errors the expressions using it.
  const variables: Record<string, unknown> = {}
  const varErrors: Record<string, string> = {}
  for (const v of (spec.variables ?? []) as Obj[]) {
    try {
      variables[v.name] = evaluate(v.expression, { ...vars, variables })
    } catch (e) {
      varErrors[v.name] = errorText(e)
    }
  }
  const all = { ...vars, variables }
  for (const v of (spec.validations ?? []) as Obj[]) {
    let ok: boolean
    try {
      const usesBroken = Object.keys(varErrors).find((n) =>
        new RegExp(`variables\\.${n}\\b`).test(v.expression),
      )
      if (usesBroken) throw new CelEvalError(varErrors[usesBroken])
      ok = evaluateBool(v.expression, all)
    } catch (e) {
      if (!(e instanceof CelEvalError || e instanceof CelCompileError)) throw e
      if (failurePolicy === 'Ignore') continue
      decisions.push({
        action: 'deny',
        message: `expression '${v.expression}' resulted in error: ${e.message}`,
        evalError: true,
      })
      continue
    }
    if (ok) continue
    let message: string | undefined
    if (v.messageExpression) {
      try {
        const m = evaluate(v.messageExpression, all)
        if (typeof m === 'string' && m.trim() && !m.includes('\n')) message = m
      } catch {
        /* kube falls back to message, then the expression */
      }
    }
    const text: string = message ?? (v.message || `failed expression: ${v.expression}`)
    decisions.push({ action: 'deny', message: text, reason: v.reason })
  }
  return decisions
}

function auditAnnotations(policy: Obj, vars: Record<string, unknown>, a: Attributes): void {
  for (const aa of (policy.spec?.auditAnnotations ?? []) as Obj[]) {
    try {
      const v = evaluate(aa.valueExpression, vars)
      if (typeof v === 'string' && v) a.annotations[`${policy.metadata?.name}/${aa.key}`] = v
    } catch {
      /* an erroring audit annotation is dropped */
    }
  }
}

export function validatingAdmissionPolicy(ctx: PluginContext): AdmissionPlugin {
  return {
    name: 'ValidatingAdmissionPolicy',
    async validate(a) {
      if (a.operation === 'CONNECT') return
      if (
        a.type.group === 'admissionregistration.k8s.io' &&
        /^validatingadmissionpolic/.test(a.type.resource)
      )
        return
      const [bindings, policies] = (await Promise.all([
        a.reader.list('validatingadmissionpolicybindings', ''),
        a.reader.list('validatingadmissionpolicies', ''),
      ])) as [Obj[], Obj[]]
      if (!bindings.length || !policies.length) return
      bindings.sort((x, y) => (x.metadata?.name < y.metadata?.name ? -1 : 1))
      const byName = new Map(policies.map((p) => [p.metadata?.name as string, p]))
      let request: Obj | undefined
      let namespaceObject: unknown
      const denied: { policy: Obj; binding: Obj; decision: Decision }[] = []
      const auditFailures: Obj[] = []
      for (const binding of bindings) {
        const policy = byName.get(binding.spec?.policyName)
        if (!policy) continue
        if (!(await matchResources(policy.spec?.matchConstraints, a))) continue
        if (binding.spec?.matchResources && !(await matchResources(binding.spec.matchResources, a)))
          continue
        const failurePolicy = policy.spec?.failurePolicy ?? 'Fail'
        request ??= admissionRequest(a, crypto.randomUUID())
        if (namespaceObject === undefined) {
          const ns = a.namespace ? await a.reader.get('namespaces', '', a.namespace) : undefined
          namespaceObject = ns
            ? toCel({
                apiVersion: 'v1',
                kind: 'Namespace',
                metadata: ns.metadata,
                spec: ns.spec,
                status: ns.status,
              })
            : null
        }
        const base = {
          object: toCel(stripMeta(a.object)),
          oldObject: toCel(stripMeta(a.oldObject)),
          request: toCel(request),
          namespaceObject,
        }
        const actions = (binding.spec?.validationActions ?? []) as string[]
        const record = (decision: Decision) => {
          for (const action of actions) {
            if (action === 'Deny') denied.push({ policy, binding, decision })
            if (action === 'Warn')
              a.warnings.push(
                `Validation failed for ValidatingAdmissionPolicy '${policy.metadata?.name}' with binding '${binding.metadata?.name}': ${decision.message}`,
              )
            if (action === 'Audit')
              auditFailures.push({
                message: decision.message,
                policy: policy.metadata?.name,
                binding: binding.metadata?.name,
                expressionIndex: 0,
                validationActions: actions,
              })
          }
        }
        // matchConditions: any false skips the policy; errors follow failurePolicy.
        let skip = false
        for (const mc of (policy.spec?.matchConditions ?? []) as Obj[]) {
          try {
            if (!evaluateBool(mc.expression, base)) {
              skip = true
              break
            }
          } catch (e) {
            if (failurePolicy === 'Fail')
              record({
                action: 'deny',
                message: `failed to evaluate match conditions: expression '${mc.expression}' resulted in error: ${errorText(e)}`,
                evalError: true,
              })
            skip = true
            break
          }
        }
        if (skip) continue
        const { params, denied: paramDenied } = await resolveParams(ctx, policy, binding, a)
        if (paramDenied) {
          if (failurePolicy === 'Fail') record({ action: 'deny', message: paramDenied })
          continue
        }
        for (const p of params ?? []) {
          const vars = { ...base, params: toCel(p ?? null) }
          auditAnnotations(policy, vars, a)
          for (const d of evaluateValidations(policy, vars, failurePolicy)) record(d)
        }
      }
      if (auditFailures.length)
        a.annotations['validation.policy.admission.k8s.io/validation_failure'] =
          JSON.stringify(auditFailures)
      if (!denied.length) return
      const { policy, binding, decision } = denied[0]
      const message = `ValidatingAdmissionPolicy '${policy.metadata?.name}' with binding '${binding.metadata?.name}' denied request: ${decision.message}`
      const base = admissionForbidden(a, message)
      const reason = (decision.reason || 'Invalid') as StatusReason
      throw new StatusError(REASON_CODES[reason] ?? 500, reason, base.message, {
        ...base.details,
        causes: [{ message }],
      })
    },
  }
}

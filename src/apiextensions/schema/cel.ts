// x-kubernetes-validations: CEL rules on a structural schema, evaluated as apiextensions-apiserver's
// schema/cel validator does, with @marcbachmann/cel-js (an interpreter: no eval, no new Function).
// `self` is the value at the rule's schema node; transition rules (those naming `oldSelf`) run only on
// update where the old value correlates (object fields by name, listType=map items by their keys), or
// always with optionalOldSelf, where oldSelf is an optional.
import { Environment, Optional } from '@marcbachmann/cel-js'
import {
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { childPath, isObject, type JSONSchemaProps, type ValidationRule } from './types'
import { compilePattern, NIL_PATH } from './validate'
import {
  COST_LIMIT_ERROR,
  CostLimitExceeded,
  estimateCost,
  instrument,
  metered,
  PER_CALL_LIMIT,
  RUNTIME_CEL_COST_BUDGET,
  visitNodes,
} from './cel-cost'

const env = new Environment({
  unlistedVariablesAreDyn: true,
  homogeneousAggregateLiterals: false,
  enableOptionalTypes: true,
})

// cel-js's matches() is a JS RegExp, which backtracks (one request could freeze the isolate) and accepts
// syntax RE2 rejects. cel-js will not let its overload be replaced, so compiled programs call this one instead.
const RE2_MATCHES = 'k8sRe2Matches'
function re2Matches(s: string, pattern: string): boolean {
  const c = compilePattern(pattern)
  if (!c.ok) throw new Error(c.error)
  return c.re.matcher(s).find()
}
env.registerFunction(`string.${RE2_MATCHES}(string): bool`, re2Matches)
env.registerFunction(`${RE2_MATCHES}(string, string): bool`, re2Matches)

type Program = ReturnType<Environment['parse']>
const programs = new Map<string, Program | Error>()

function compile(expr: string): Program | Error {
  let p = programs.get(expr)
  if (!p) {
    try {
      const parsed = env.parse(expr)
      visitNodes(parsed.ast, (n) => {
        if (
          (n.op === 'rcall' || n.op === 'call') &&
          Array.isArray(n.args) &&
          n.args[0] === 'matches'
        )
          n.args[0] = RE2_MATCHES
      })
      instrument(parsed.ast)
      p = parsed
    } catch (e) {
      p = e instanceof Error ? e : new Error(String(e))
    }
    if (programs.size > 5000) programs.clear()
    programs.set(expr, p)
  }
  return p
}

/** The compile error of a rule, in the form kube-apiserver puts after "compilation failed: ". */
export function compileError(expr: string): string | undefined {
  const p = compile(expr)
  return p instanceof Error ? p.message.split('\n')[0] : undefined
}

/** The estimated worst cost of one evaluation of expr at schema node s; undefined when it does not compile. */
export function estimateExpressionCost(expr: string, s: JSONSchemaProps): number | undefined {
  const p = compile(expr)
  return p instanceof Error ? undefined : estimateCost(p.ast, s)
}

export const isTransitionRule = (r: ValidationRule) => /\boldSelf\b/.test(r.rule)

/** The schema type kube-apiserver reports as the bad value of a failed rule (the node's type). */
function schemaType(s: JSONSchemaProps): string {
  if (s['x-kubernetes-int-or-string']) return 'string'
  return s.type ?? 'object'
}

/** A JSON value as CEL sees it under schema s: integers are CEL ints (bigint), numbers doubles. */
export function toCel(v: unknown, s: JSONSchemaProps | undefined): unknown {
  if (typeof v === 'number') {
    if (s?.type === 'number') return v
    return Number.isInteger(v) ? BigInt(v) : v
  }
  if (Array.isArray(v)) return v.map((x) => toCel(x, s?.items))
  if (isObject(v)) {
    const out: Record<string, unknown> = {}
    const props = s?.properties ?? {}
    const additional = isObject(s?.additionalProperties)
      ? (s!.additionalProperties as JSONSchemaProps)
      : undefined
    for (const [k, x] of Object.entries(v))
      out[k] = toCel(x, Object.prototype.hasOwnProperty.call(props, k) ? props[k] : additional)
    return out
  }
  return v
}

function hasRules(s: JSONSchemaProps | undefined, depth = 0): boolean {
  if (!s || depth > 64) return false
  if (s['x-kubernetes-validations']?.length) return true
  if (s.items && hasRules(s.items, depth + 1)) return true
  if (
    isObject(s.additionalProperties) &&
    hasRules(s.additionalProperties as JSONSchemaProps, depth + 1)
  )
    return true
  return Object.values(s.properties ?? {}).some((p) => hasRules(p, depth + 1))
}

const rulesCache = new WeakMap<JSONSchemaProps, boolean>()
/** Whether any node of the schema carries x-kubernetes-validations (computed once per schema object). */
export function schemaHasRules(s: JSONSchemaProps): boolean {
  let has = rulesCache.get(s)
  if (has === undefined) {
    has = hasRules(s)
    rulesCache.set(s, has)
  }
  return has
}

const NO_OLD = Symbol('no old value')

/** What is left of the request's runtime cost budget; stopped once kube would run no further rules. */
interface Budget {
  remaining: number
  stopped: boolean
}

/** Runs every x-kubernetes-validations rule of the schema over value (old: the stored object on update). */
export function validateRules(
  s: JSONSchemaProps,
  value: unknown,
  old: unknown | typeof NO_OLD = NO_OLD,
  path = '',
): FieldError[] {
  const errs: FieldError[] = []
  if (schemaHasRules(s))
    walk(s, value, old, path, errs, { remaining: RUNTIME_CEL_COST_BUDGET, stopped: false })
  return errs
}
validateRules.NO_OLD = NO_OLD

const OUT_OF_BUDGET =
  'validation failed due to running out of cost budget, no further validation rules will be run'

function walk(
  s: JSONSchemaProps,
  value: unknown,
  old: unknown,
  path: string,
  errs: FieldError[],
  budget: Budget,
): void {
  if (value === undefined || value === null || budget.stopped) return
  const rules = s['x-kubernetes-validations']
  if (rules?.length) {
    if (budget.remaining <= 0) {
      errs.push(fieldInvalid(path || NIL_PATH, schemaType(s), OUT_OF_BUDGET))
      budget.stopped = true
      return
    }
    const self = toCel(value, s)
    const oldSelf = old === NO_OLD || old === undefined || old === null ? NO_OLD : toCel(old, s)
    for (const rule of rules) {
      evaluateRule(rule, s, self, oldSelf, path, errs, budget)
      if (budget.stopped) return
    }
  }
  if (Array.isArray(value)) {
    if (!s.items) return
    const keys =
      s['x-kubernetes-list-type'] === 'map' ? (s['x-kubernetes-list-map-keys'] ?? []) : undefined
    const oldList = Array.isArray(old) ? old : []
    for (let i = 0; i < value.length && !budget.stopped; i++) {
      const item = value[i]
      let oldItem: unknown = NO_OLD
      if (keys && isObject(item)) {
        oldItem = oldList.find((o) => isObject(o) && keys.every((k) => o[k] === item[k])) ?? NO_OLD
      }
      walk(s.items, item, oldItem, `${path}[${i}]`, errs, budget)
    }
    return
  }
  if (!isObject(value)) return
  const props = s.properties ?? {}
  const additional = isObject(s.additionalProperties)
    ? (s.additionalProperties as JSONSchemaProps)
    : undefined
  const oldObj = isObject(old) ? old : undefined
  for (const [k, v] of Object.entries(value)) {
    if (budget.stopped) return
    const sub = Object.prototype.hasOwnProperty.call(props, k) ? props[k] : additional
    if (!sub || !schemaHasRules(sub)) continue
    walk(
      sub,
      v,
      oldObj && Object.prototype.hasOwnProperty.call(oldObj, k) ? oldObj[k] : NO_OLD,
      childPath(path, k),
      errs,
      budget,
    )
  }
}

/** ruleErrorString: how kube names a rule in an error, its message if it has one. */
const ruleErrorString = (rule: ValidationRule) =>
  rule.message?.trim() ? rule.message.trim() : rule.rule.trim()

function evaluateRule(
  rule: ValidationRule,
  s: JSONSchemaProps,
  self: unknown,
  oldSelf: unknown,
  path: string,
  errs: FieldError[],
  budget: Budget,
): void {
  const transition = isTransitionRule(rule)
  if (transition && oldSelf === NO_OLD && !rule.optionalOldSelf) return
  const program = compile(rule.rule)
  const nodeField = path.startsWith('.') ? path.slice(1) || NIL_PATH : path || NIL_PATH
  let fieldPath = path
  if (rule.fieldPath)
    fieldPath =
      path +
      (rule.fieldPath.startsWith('.') || rule.fieldPath.startsWith('[')
        ? rule.fieldPath
        : `.${rule.fieldPath}`)
  if (fieldPath.startsWith('.')) fieldPath = fieldPath.slice(1)
  const field = fieldPath || NIL_PATH
  const type = schemaType(s)
  if (program instanceof Error) {
    errs.push(fieldInvalid(field, type, `compilation failed: ${program.message.split('\n')[0]}`))
    return
  }
  const vars: Record<string, unknown> = { self }
  if (transition)
    vars.oldSelf = rule.optionalOldSelf
      ? oldSelf === NO_OLD
        ? Optional.none()
        : Optional.of(oldSelf)
      : oldSelf
  const run = metered(PER_CALL_LIMIT, () => program(vars))
  if (!run.ok && run.error instanceof CostLimitExceeded) {
    errs.push(
      fieldInvalid(
        nodeField,
        type,
        `'${COST_LIMIT_ERROR}': no further validation rules will be run due to call cost exceeds limit for rule: ${ruleErrorString(rule)}`,
      ),
    )
    budget.stopped = true
    return
  }
  if (run.cost > budget.remaining) {
    errs.push(fieldInvalid(nodeField, type, OUT_OF_BUDGET))
    budget.stopped = true
    return
  }
  budget.remaining -= run.cost
  if (!run.ok) {
    const e = run.error
    errs.push(
      fieldInvalid(
        nodeField,
        type,
        `${e instanceof Error ? e.message.split('\n')[0] : String(e)} evaluating rule: ${ruleErrorString(rule)}`,
      ),
    )
    return
  }
  if (run.result === true) return
  let message = rule.message?.trim() || `failed rule: ${rule.rule.trim()}`
  if (rule.messageExpression) {
    const mp = compile(rule.messageExpression)
    if (!(mp instanceof Error)) {
      const m = metered(PER_CALL_LIMIT, () => mp(vars))
      if (!m.ok && m.error instanceof CostLimitExceeded) {
        errs.push(
          fieldInvalid(
            nodeField,
            type,
            `no further validation rules will be run due to call cost exceeds limit for messageExpression: ${JSON.stringify(rule.messageExpression)}`,
          ),
        )
        budget.stopped = true
        return
      }
      if (m.cost > budget.remaining) {
        errs.push(
          fieldInvalid(
            nodeField,
            type,
            'messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run',
          ),
        )
        budget.stopped = true
        return
      }
      budget.remaining -= m.cost
      // On any other failure kube falls back to message or the rule.
      if (m.ok && typeof m.result === 'string' && m.result.trim() && !m.result.includes('\n'))
        message = m.result.trim()
    }
  }
  switch (rule.reason) {
    case 'FieldValueForbidden':
      errs.push(fieldForbidden(field, message))
      break
    case 'FieldValueRequired':
      errs.push(fieldRequired(field, message))
      break
    case 'FieldValueDuplicate':
      errs.push({ ...fieldDuplicate(field, type), detail: message })
      break
    default:
      errs.push(fieldInvalid(field, type, message))
  }
}

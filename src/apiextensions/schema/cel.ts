// x-kubernetes-validations: CEL rules on a structural schema, evaluated as apiextensions-apiserver's
// schema/cel validator does, with @marcbachmann/cel-js (an interpreter: no eval, no new Function).
// `self` is the value at the rule's schema node; transition rules (those naming `oldSelf`) run only on
// update where the old value correlates (object fields by name, listType=map items by their keys), or
// always with optionalOldSelf, where oldSelf is an optional.
import { Environment, Optional } from '@marcbachmann/cel-js'
import { fieldDuplicate, fieldForbidden, fieldInvalid, fieldRequired, type FieldError } from '../../server/errors'
import { childPath, isObject, type JSONSchemaProps, type ValidationRule } from './types'
import { NIL_PATH } from './validate'

const env = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false, enableOptionalTypes: true })

type Program = ReturnType<Environment['parse']>
const programs = new Map<string, Program | Error>()

function compile(expr: string): Program | Error {
  let p = programs.get(expr)
  if (!p) {
    try {
      p = env.parse(expr)
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
    const additional = isObject(s?.additionalProperties) ? (s!.additionalProperties as JSONSchemaProps) : undefined
    for (const [k, x] of Object.entries(v)) out[k] = toCel(x, Object.prototype.hasOwnProperty.call(props, k) ? props[k] : additional)
    return out
  }
  return v
}

function hasRules(s: JSONSchemaProps | undefined, depth = 0): boolean {
  if (!s || depth > 64) return false
  if (s['x-kubernetes-validations']?.length) return true
  if (s.items && hasRules(s.items, depth + 1)) return true
  if (isObject(s.additionalProperties) && hasRules(s.additionalProperties as JSONSchemaProps, depth + 1)) return true
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

/** Runs every x-kubernetes-validations rule of the schema over value (old: the stored object on update). */
export function validateRules(s: JSONSchemaProps, value: unknown, old: unknown | typeof NO_OLD = NO_OLD, path = ''): FieldError[] {
  const errs: FieldError[] = []
  if (schemaHasRules(s)) walk(s, value, old, path, errs)
  return errs
}
validateRules.NO_OLD = NO_OLD

function walk(s: JSONSchemaProps, value: unknown, old: unknown, path: string, errs: FieldError[]): void {
  if (value === undefined || value === null) return
  const rules = s['x-kubernetes-validations']
  if (rules?.length) {
    const self = toCel(value, s)
    const oldSelf = old === NO_OLD || old === undefined || old === null ? NO_OLD : toCel(old, s)
    for (const rule of rules) evaluateRule(rule, s, self, oldSelf, path, errs)
  }
  if (Array.isArray(value)) {
    if (!s.items) return
    const keys = s['x-kubernetes-list-type'] === 'map' ? s['x-kubernetes-list-map-keys'] ?? [] : undefined
    const oldList = Array.isArray(old) ? old : []
    value.forEach((item, i) => {
      let oldItem: unknown = NO_OLD
      if (keys && isObject(item)) {
        oldItem = oldList.find((o) => isObject(o) && keys.every((k) => o[k] === item[k])) ?? NO_OLD
      }
      walk(s.items!, item, oldItem, `${path}[${i}]`, errs)
    })
    return
  }
  if (!isObject(value)) return
  const props = s.properties ?? {}
  const additional = isObject(s.additionalProperties) ? (s.additionalProperties as JSONSchemaProps) : undefined
  const oldObj = isObject(old) ? old : undefined
  for (const [k, v] of Object.entries(value)) {
    const sub = Object.prototype.hasOwnProperty.call(props, k) ? props[k] : additional
    if (!sub || !schemaHasRules(sub)) continue
    walk(sub, v, oldObj && Object.prototype.hasOwnProperty.call(oldObj, k) ? oldObj[k] : NO_OLD, childPath(path, k), errs)
  }
}

function evaluateRule(rule: ValidationRule, s: JSONSchemaProps, self: unknown, oldSelf: unknown, path: string, errs: FieldError[]): void {
  const transition = isTransitionRule(rule)
  if (transition && oldSelf === NO_OLD && !rule.optionalOldSelf) return
  const program = compile(rule.rule)
  let fieldPath = path
  if (rule.fieldPath) fieldPath = path + (rule.fieldPath.startsWith('.') || rule.fieldPath.startsWith('[') ? rule.fieldPath : `.${rule.fieldPath}`)
  if (fieldPath.startsWith('.')) fieldPath = fieldPath.slice(1)
  const field = fieldPath || NIL_PATH
  const type = schemaType(s)
  if (program instanceof Error) {
    errs.push(fieldInvalid(field, type, `compilation failed: ${program.message.split('\n')[0]}`))
    return
  }
  const vars: Record<string, unknown> = { self }
  if (transition) vars.oldSelf = rule.optionalOldSelf ? (oldSelf === NO_OLD ? Optional.none() : Optional.of(oldSelf)) : oldSelf
  let result: unknown
  try {
    result = program(vars)
  } catch (e) {
    errs.push(fieldInvalid(field, type, e instanceof Error ? e.message.split('\n')[0] : String(e)))
    return
  }
  if (result === true) return
  let message = rule.message?.trim() || `failed rule: ${rule.rule.trim()}`
  if (rule.messageExpression) {
    const mp = compile(rule.messageExpression)
    if (!(mp instanceof Error)) {
      try {
        const m = mp(vars)
        if (typeof m === 'string' && m.trim() && !m.includes('\n')) message = m.trim()
      } catch { /* kube-apiserver falls back to message or the rule */ }
    }
  }
  switch (rule.reason) {
    case 'FieldValueForbidden': errs.push(fieldForbidden(field, message)); break
    case 'FieldValueRequired': errs.push(fieldRequired(field, message)); break
    case 'FieldValueDuplicate': errs.push({ ...fieldDuplicate(field, type), detail: message }); break
    default: errs.push(fieldInvalid(field, type, message))
  }
}

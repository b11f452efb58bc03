// CEL for matchConditions and ValidatingAdmissionPolicy, on @marcbachmann/cel-js: a tree-walking interpreter
// without eval or new Function, so it runs on workerd. JSON numbers that are integers become CEL ints (BigInt),
// as kube's unstructured conversion makes int64s of them.
import { Environment } from '@marcbachmann/cel-js'
import { errorText } from '../util/errors'

export const ADMISSION_VARIABLES = [
  'object',
  'oldObject',
  'request',
  'params',
  'namespaceObject',
  'authorizer',
  'variables',
] as const

let env: Environment | undefined
function environment(): Environment {
  if (!env) {
    env = new Environment({
      unlistedVariablesAreDyn: true,
      enableOptionalTypes: true,
      homogeneousAggregateLiterals: false,
    })
    for (const v of ADMISSION_VARIABLES) env.registerVariable(v, 'dyn')
  }
  return env
}

export class CelCompileError extends Error {}
export class CelEvalError extends Error {}

type Program = ReturnType<Environment['parse']>
const cache = new Map<string, Program>()
const MAX_CACHE = 1000

function firstLine(e: unknown): string {
  return errorText(e).split('\n')[0].trim()
}

/** Parses and type-checks an expression; throws CelCompileError with the compiler's message. */
export function compile(expression: string): Program {
  const hit = cache.get(expression)
  if (hit) return hit
  let program: Program
  try {
    program = environment().parse(expression)
  } catch (e) {
    throw new CelCompileError(`ERROR: <input>: Syntax error: ${firstLine(e)}`)
  }
  const checked = environment().check(expression) as { valid: boolean; error?: unknown }
  if (!checked.valid) throw new CelCompileError(`ERROR: <input>: ${firstLine(checked.error)}`)
  if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value as string)
  cache.set(expression, program)
  return program
}

/** JSON → CEL values: integral numbers become ints. */
export function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v
  if (Array.isArray(v)) return v.map(toCel)
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = toCel(x)
    return out
  }
  return v
}

/** CEL → JSON values. */
export function fromCel(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(fromCel)
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), fromCel(x)]))
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = fromCel(x)
    return out
  }
  return v
}

export function evaluate(expression: string, vars: Record<string, unknown>): unknown {
  const program = compile(expression)
  try {
    return program(vars)
  } catch (e) {
    throw new CelEvalError(firstLine(e))
  }
}

export function evaluateBool(expression: string, vars: Record<string, unknown>): boolean {
  const v = evaluate(expression, vars)
  if (typeof v !== 'boolean')
    throw new CelEvalError(`expression '${expression}' resulted in error: no such overload`)
  return v
}

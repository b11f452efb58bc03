// The cost bounds kube-apiserver puts on x-kubernetes-validations (k8s.io/apiserver/pkg/apis/cel/config.go,
// apiextensions validation.go): a static estimate of each rule at CRD create/update, from the maxItems,
// maxProperties and maxLength of the schema, and a runtime meter that stops an evaluation past its limit.
//
// cel-go's estimator (checker/cost.go) works on the type-checked AST with per-function cost traits; cel-js has
// neither a checker that knows our schema nor cost tracking, so the estimate below walks cel-js's AST with the
// same shape of model: 1 per variable, select, index and call, 10/30 per list/map literal, string traversals at
// 0.1 per character, and a comprehension costs its range's largest size times its step. The figures are close
// to kube's for the rules that matter (a rule over an unbounded list, or nested loops, are off by orders of
// magnitude either way), not equal to them digit for digit.
import type { JSONSchemaProps } from './types'
import { isObject } from './types'

/** PerCallLimit: the runtime cost one rule evaluation may use. */
export const PER_CALL_LIMIT = 1_000_000
/** RuntimeCELCostBudget: the runtime cost all rules of one custom resource may use together. */
export const RUNTIME_CEL_COST_BUDGET = 10_000_000
/** StaticEstimatedCostLimit: the largest estimated cost of one rule, times how often it may run. */
export const STATIC_ESTIMATED_COST_LIMIT = 10_000_000
/** StaticEstimatedCRDCostLimit: the largest estimated cost of all rules of one schema together. */
export const STATIC_ESTIMATED_CRD_COST_LIMIT = 100_000_000
const MAX_REQUEST_SIZE_BYTES = 3 * 1024 * 1024
// Go's math.MaxUint64, where kube's multiplications saturate.
const MAX_UINT64 = 18446744073709551615
const STRING_TRAVERSAL_COST_FACTOR = 0.1

/** getCostErrorMessage of apiextensions validation.go. */
export function costErrorMessage(costName: string, cost: number, limit: number): string {
  const factor = cost / limit
  let f: string
  if (factor > 100) f = 'more than 100x'
  else if (factor < 1.5)
    f = `${factor.toFixed(6)}x` // Go's %f
  else f = `${factor.toFixed(1)}x`
  return `${costName} exceeds budget by factor of ${f} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`
}

const mul = (a: number, b: number) => (a === 0 ? 0 : Math.min(a * b, MAX_UINT64))

/** estimateMinSizeJSON: the fewest bytes a value of the schema takes in JSON. */
export function minSizeJSON(s: JSONSchemaProps | undefined): number {
  if (!s) return 1
  switch (s.type) {
    case 'boolean':
      return 4
    case 'number':
    case 'integer':
      return 1
    case 'string':
      return 2
    case 'array':
      return 2
    case 'object':
      return 2
    default:
      return 1
  }
}

/** MaxCardinality: how often a value of this schema can occur in a request when nothing bounds it. */
export function unboundedCardinality(s: JSONSchemaProps | undefined): number {
  return Math.floor(MAX_REQUEST_SIZE_BYTES / (minSizeJSON(s) + 1))
}

function maxStringLength(s: JSONSchemaProps): number {
  if (s.maxLength !== undefined) return s.maxLength
  if (s.enum?.length)
    return Math.max(0, ...s.enum.map((e) => (typeof e === 'string' ? e.length : 0)))
  if (!s['x-kubernetes-int-or-string']) {
    if (s.format === 'duration' || s.format === 'date-time') return 32
    if (s.format === 'date') return 10
  }
  return MAX_REQUEST_SIZE_BYTES - 2
}

/** The most items (arrays), properties (maps) or characters (strings) a value of the schema may hold. */
export function maxSize(s: JSONSchemaProps): number {
  if (s.type === 'string' || s['x-kubernetes-int-or-string']) return maxStringLength(s)
  if (s.type === 'array')
    return s.maxItems ?? Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSizeJSON(s.items) + 1))
  if (isObject(s.additionalProperties)) {
    return (
      s.maxProperties ??
      Math.floor(
        (MAX_REQUEST_SIZE_BYTES - 2) / (minSizeJSON(s.additionalProperties as JSONSchemaProps) + 6),
      )
    )
  }
  if (s.properties) return Object.keys(s.properties).length
  return s.maxProperties ?? Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / 7)
}

/** The estimated value of a sub-expression: its worst cost, its largest size, and its schema where known. */
interface Est {
  cost: number
  size: number
  schema?: JSONSchemaProps
  elem?: Est
}

export interface Node {
  op: string
  args: unknown
  meta: { alternate?: Node; macro?: Record<string, unknown> }
}
const isNode = (x: unknown): x is Node =>
  typeof x === 'object' && x !== null && typeof (x as Node).op === 'string'

const fromSchema = (s: JSONSchemaProps | undefined, cost: number): Est => {
  if (!s) return { cost, size: 0 }
  return { cost, size: maxSize(s), schema: s }
}

function elementOf(e: Est): Est {
  const s = e.schema
  if (s?.type === 'array') return fromSchema(s.items, 0)
  // Iterating a map yields its keys: strings nothing bounds.
  if (s) return { cost: 0, size: MAX_REQUEST_SIZE_BYTES - 2, schema: { type: 'string' } }
  return e.elem ? { ...e.elem, cost: 0 } : { cost: 0, size: 0 }
}

function fieldOf(e: Est, name: string, cost: number): Est {
  const s = e.schema
  if (!s) return { cost, size: 0 }
  if (s.properties && Object.prototype.hasOwnProperty.call(s.properties, name))
    return fromSchema(s.properties[name], cost)
  if (isObject(s.additionalProperties))
    return fromSchema(s.additionalProperties as JSONSchemaProps, cost)
  if (s.type === 'array') return fromSchema(s.items, cost)
  return { cost, size: 0 }
}

const traversal = (size: number) => Math.ceil(size * STRING_TRAVERSAL_COST_FACTOR)
const STRING_FUNCTIONS = new Set([
  'lowerAscii',
  'upperAscii',
  'trim',
  'replace',
  'split',
  'join',
  'substring',
  'indexOf',
  'lastIndexOf',
  'charAt',
  'format',
  'quote',
  'reverse',
])

function estimate(n: unknown, vars: Map<string, Est>): Est {
  if (!isNode(n)) return { cost: 0, size: 0 }
  if (n.meta.alternate) return estimate(n.meta.alternate, vars)
  const args = n.args as unknown[]
  switch (n.op) {
    case 'value': {
      const v = n.args
      return { cost: 0, size: typeof v === 'string' ? v.length : 0 }
    }
    case 'id': {
      const v = vars.get(n.args as string)
      return v ? { ...v, cost: 1 } : { cost: 1, size: 0 }
    }
    case '.':
    case '.?': {
      const o = estimate(args[0], vars)
      return fieldOf(o, args[1] as string, o.cost + 1)
    }
    case '[]':
    case '[?]': {
      const o = estimate(args[0], vars)
      const k = estimate(args[1], vars)
      const key =
        isNode(args[1]) && args[1].op === 'value' && typeof args[1].args === 'string'
          ? args[1].args
          : ''
      return fieldOf(o, key, o.cost + k.cost + 1)
    }
    case 'list': {
      const items = args.map((a) => estimate(a, vars))
      return {
        cost: 10 + items.reduce((t, i) => t + i.cost, 0),
        size: items.length,
        elem: items[0],
      }
    }
    case 'map': {
      const cost = (args as unknown[][]).reduce(
        (t, [k, v]) => t + estimate(k, vars).cost + estimate(v, vars).cost,
        30,
      )
      return { cost, size: args.length }
    }
    case '?:': {
      const [c, a, b] = args.map((x) => estimate(x, vars))
      return a.cost >= b.cost
        ? { ...a, cost: c.cost + a.cost, size: Math.max(a.size, b.size) }
        : { ...b, cost: c.cost + b.cost, size: Math.max(a.size, b.size) }
    }
    case '&&':
    case '||': {
      const [a, b] = args.map((x) => estimate(x, vars))
      return { cost: a.cost + b.cost, size: 0 }
    }
    case '!_':
    case '-_':
      return { cost: estimate(n.args, vars).cost + 1, size: 0 }
    case 'comprehension':
      return comprehension(n.args as Record<string, unknown>, vars)
    case 'accuPush': {
      const a = estimate(n.args, vars)
      return { cost: a.cost + 1, size: 0 }
    }
    case 'accuValue':
    case 'accuInc':
      return { cost: 0, size: 0 }
    case 'call':
    case 'rcall':
      return call(n, vars)
    default: {
      // Binary operators.
      if (!Array.isArray(args) || args.length !== 2) return { cost: 1, size: 0 }
      const [l, r] = args.map((x) => estimate(x, vars))
      const base = l.cost + r.cost + 1
      const stringish =
        l.schema?.type === 'string' || r.schema?.type === 'string' || l.size > 0 || r.size > 0
      if (n.op === '+' && stringish)
        return {
          cost: base + traversal(l.size + r.size),
          size: l.size + r.size,
          elem: l.elem ?? r.elem,
          schema: l.schema?.type === 'array' ? l.schema : undefined,
        }
      if (n.op === 'in')
        return { cost: base + (r.schema?.type === 'array' || r.elem ? r.size : 0), size: 0 }
      if (['==', '!=', '<', '<=', '>', '>='].includes(n.op)) {
        const sz = Math.min(l.size, r.size)
        const listy = l.schema?.type === 'array' || r.schema?.type === 'array'
        return { cost: base + (listy ? sz : traversal(sz)), size: 0 }
      }
      return { cost: base, size: 0 }
    }
  }
}

function comprehension(c: Record<string, unknown>, vars: Map<string, Est>): Est {
  const range = estimate(c.iterable, vars)
  const init = estimate(c.init, vars)
  const inner = new Map(vars)
  const el = elementOf(range)
  inner.set(c.iterVarName as string, el)
  const step = estimate(c.step, inner)
  const loop = step.cost + (c.condition ? 1 : 0)
  const cost = range.cost + init.cost + mul(range.size, loop)
  return { cost, size: range.size, elem: el }
}

function call(n: Node, vars: Map<string, Est>): Est {
  const args = n.args as unknown[]
  const name = args[0] as string
  if (n.meta.macro) {
    const m = n.meta.macro
    if (name === 'bind' && isNode(m.val) && isNode(m.exp) && typeof m.var === 'string') {
      const v = estimate(m.val, vars)
      const inner = new Map(vars)
      inner.set(m.var, { ...v, cost: 0 })
      const e = estimate(m.exp, inner)
      return { ...e, cost: v.cost + e.cost }
    }
    // has(): the select it tests.
    const a = Array.isArray(m.args) ? (m.args as unknown[]).map((x) => estimate(x, vars)) : []
    return { cost: 1 + a.reduce((t, x) => t + x.cost, 0), size: 0 }
  }
  const recv = n.op === 'rcall' ? estimate(args[1], vars) : undefined
  const params = ((n.op === 'rcall' ? args[2] : args[1]) as unknown[]).map((x) => estimate(x, vars))
  const base = 1 + (recv?.cost ?? 0) + params.reduce((t, x) => t + x.cost, 0)
  const target = recv ?? params[0]
  switch (name) {
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return {
        cost:
          base +
          mul(
            traversal(target?.size ?? 0),
            Math.max(1, traversal(params[params.length - 1]?.size ?? 0)),
          ),
        size: 0,
      }
    case 'matches':
      return {
        cost:
          base +
          mul(
            traversal(target?.size ?? 0),
            Math.max(1, traversal(params[params.length - 1]?.size ?? 0)),
          ),
        size: 0,
      }
    case 'size':
      return { cost: base, size: 0 }
    default:
      if (STRING_FUNCTIONS.has(name))
        return {
          cost: base + traversal(target?.size ?? 0),
          size: target?.size ?? 0,
          schema: target?.schema?.type === 'string' ? target.schema : undefined,
        }
      return { cost: base, size: target?.size ?? 0 }
  }
}

/**
 * The estimated worst cost of one evaluation of an expression at a schema node (cel-go's CostEstimate.Max):
 * self, and oldSelf where the rule names it, have the node's schema.
 */
export function estimateCost(ast: unknown, s: JSONSchemaProps): number {
  const vars = new Map<string, Est>([
    ['self', fromSchema(s, 1)],
    ['oldSelf', fromSchema(s, 1)],
  ])
  return Math.min(estimate(ast, vars).cost, MAX_UINT64)
}

/** multiplyWithOverflowGuard. */
export const costTimes = mul

/** TotalCost of apiextensions validation: the sum, and the (up to 4) rules that add the most to it. */
export class TotalCost {
  total = 0
  mostExpensive: { path: string; cost: number }[] = []
  observe(path: string, cost: number): void {
    this.total = Math.min(this.total + cost, MAX_UINT64)
    // Rules under 1% of the limit are not named when the total is over it.
    if (cost < STATIC_ESTIMATED_CRD_COST_LIMIT / 100) return
    this.mostExpensive.push({ path, cost })
    this.mostExpensive.sort((a, b) => b.cost - a.cost)
    if (this.mostExpensive.length > 4) this.mostExpensive.length = 4
  }
}

// The runtime meter. cel-js evaluates every AST node through node.evaluate(ev, node, ctx); wrapping that
// property on each node of a program counts evaluated nodes, loop bodies included, and can throw out of a
// runaway evaluation. cel-go's actual cost counts the same things (1 per variable, select, call) with
// heavier weights for string and list functions, which this meter does not weigh.

/** cel-go's error when a program passes its cost limit, which kube quotes in its message. */
export const COST_LIMIT_ERROR = 'operation cancelled: actual cost limit exceeded'

export class CostLimitExceeded extends Error {
  constructor() {
    super(COST_LIMIT_ERROR)
  }
}

interface Meter {
  used: number
  limit: number
}
let meter: Meter | undefined
const instrumented = new WeakSet<object>()

type EvaluateFn = (this: unknown, ev: unknown, ast: unknown, ctx: unknown) => unknown

function instrumentNode(node: Node & { evaluate?: EvaluateFn }): void {
  let inner = node.evaluate as EvaluateFn
  const metered: EvaluateFn = function (this: unknown, ev, ast, ctx) {
    const m = meter
    if (m && ++m.used > m.limit) throw new CostLimitExceeded()
    return inner.call(this, ev, ast, ctx)
  }
  // cel-js replaces node.evaluate with the specialised function on first use; the setter keeps the meter
  // in front of whatever it installs.
  Object.defineProperty(node, 'evaluate', {
    configurable: true,
    get: () => metered,
    set: (fn: EvaluateFn) => {
      inner = fn
    },
  })
}

/** Calls fn on every node of a parsed program's AST: macro expansions (comprehensions, has, bind) included. */
export function visitNodes(
  x: unknown,
  fn: (n: Node) => void,
  seen = new WeakSet<object>(),
  depth = 0,
): void {
  if (typeof x !== 'object' || x === null || seen.has(x) || depth > 2000) return
  seen.add(x)
  if (Array.isArray(x)) {
    for (const v of x) visitNodes(v, fn, seen, depth + 1)
    return
  }
  if (isNode(x)) {
    fn(x)
    visitNodes(x.args, fn, seen, depth + 1)
    visitNodes(x.meta.alternate, fn, seen, depth + 1)
    visitNodes(x.meta.macro, fn, seen, depth + 1)
    return
  }
  // Comprehension arguments and macro records are plain objects holding nodes.
  if (Object.getPrototypeOf(x) === Object.prototype)
    for (const v of Object.values(x)) visitNodes(v, fn, seen, depth + 1)
}

/** Puts the meter on every node of a parsed program's AST (once per node). */
export function instrument(ast: unknown): void {
  visitNodes(ast, (n) => {
    if (instrumented.has(n)) return
    instrumented.add(n)
    instrumentNode(n)
  })
}

/** The outcome of a metered evaluation and the cost it used, whether it returned or threw. */
export type Metered<T> =
  { ok: true; result: T; cost: number } | { ok: false; error: unknown; cost: number }

/** Runs fn under a cost limit. A run past the limit fails with CostLimitExceeded. */
export function metered<T>(limit: number, fn: () => T): Metered<T> {
  const outer = meter
  const m: Meter = { used: 0, limit }
  meter = m
  try {
    const result = fn()
    // cel-js's all()/exists() keep going past an error in one step, and || and && swallow one side's
    // error; a limit passed anywhere still fails the whole call.
    if (m.used > m.limit) return { ok: false, error: new CostLimitExceeded(), cost: m.used }
    return { ok: true, result, cost: m.used }
  } catch (error) {
    return { ok: false, error: m.used > m.limit ? new CostLimitExceeded() : error, cost: m.used }
  } finally {
    meter = outer
  }
}

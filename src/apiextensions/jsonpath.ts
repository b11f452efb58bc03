// The part of client-go's util/jsonpath that printer columns use, evaluated without eval: fields
// (".a.b", "['a.b']"), recursive descent (".."), wildcards ("*", "[*]"), indexes and slices ("[0]", "[-1]",
// "[1:3]") and filters ("[?(@.type == 'Ready')]" with ==, !=, <, <=, >, >= or a bare existence test).
// Missing keys give no result, as the table convertor's AllowMissingKeys(true).

type Step =
  | { kind: 'field'; name: string }
  | { kind: 'recursive'; name: string | '*' }
  | { kind: 'wildcard' }
  | { kind: 'index'; index: number }
  | { kind: 'slice'; start?: number; end?: number }
  | { kind: 'filter'; path: Step[]; op?: string; value?: unknown }

export type JSONPath = Step[]

const cache = new Map<string, JSONPath>()

export function parseJSONPath(expr: string): JSONPath {
  const hit = cache.get(expr)
  if (hit) return hit
  let s = expr.trim()
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1).trim()
  if (s.startsWith('$')) s = s.slice(1)
  const steps = parseSteps(s, 0, s.length)
  if (cache.size > 1000) cache.clear()
  cache.set(expr, steps)
  return steps
}

function parseSteps(s: string, from: number, to: number): Step[] {
  const steps: Step[] = []
  let i = from
  while (i < to) {
    const c = s[i]
    if (c === '.') {
      if (s[i + 1] === '.') {
        i += 2
        const m = /^(\*|[\w\-/\\]+)/.exec(s.slice(i, to))
        if (!m)
          throw new Error(`unrecognized character in action: ${JSON.stringify(s.slice(i, i + 1))}`)
        steps.push({ kind: 'recursive', name: m[1] })
        i += m[1].length
        continue
      }
      i++
      if (s[i] === '*') {
        steps.push({ kind: 'wildcard' })
        i++
        continue
      }
      let name = ''
      while (i < to && /[\w\-/\\]/.test(s[i])) {
        if (s[i] === '\\' && i + 1 < to) {
          name += s[i + 1]
          i += 2
          continue
        }
        name += s[i++]
      }
      if (!name) {
        if (i >= to) break
        throw new Error(`unrecognized character in action: ${JSON.stringify(s[i])}`)
      }
      steps.push({ kind: 'field', name })
      continue
    }
    if (c === '[') {
      const close = findClose(s, i, to)
      const inner = s.slice(i + 1, close).trim()
      steps.push(parseBracket(inner))
      i = close + 1
      continue
    }
    if (/\s/.test(c)) {
      i++
      continue
    }
    // A leading bare name ("spec.replicas") reads as a field, as kube's parser accepts it.
    const m = /^[\w\-/]+/.exec(s.slice(i, to))
    if (m && steps.length === 0) {
      steps.push({ kind: 'field', name: m[0] })
      i += m[0].length
      continue
    }
    throw new Error(`unrecognized character in action: ${JSON.stringify(c)}`)
  }
  return steps
}

function findClose(s: string, open: number, to: number): number {
  let depth = 0
  let quote = ''
  for (let i = open; i < to; i++) {
    const c = s[i]
    if (quote) {
      if (c === quote) quote = ''
      continue
    }
    if (c === '"' || c === "'") quote = c
    else if (c === '[') depth++
    else if (c === ']' && --depth === 0) return i
  }
  throw new Error('unclosed array expect ]')
}

function parseLiteral(v: string): unknown {
  v = v.trim()
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))
    return v.slice(1, -1)
  if (v === 'true') return true
  if (v === 'false') return false
  if (v === 'nil' || v === 'null') return null
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return Number(v)
  throw new Error(`unrecognized literal ${v}`)
}

function parseBracket(inner: string): Step {
  if (inner === '*') return { kind: 'wildcard' }
  if (/^-?\d+$/.test(inner)) return { kind: 'index', index: Number(inner) }
  const slice = /^(-?\d*)\s*:\s*(-?\d*)$/.exec(inner)
  if (slice)
    return {
      kind: 'slice',
      start: slice[1] ? Number(slice[1]) : undefined,
      end: slice[2] ? Number(slice[2]) : undefined,
    }
  if (
    (inner.startsWith("'") && inner.endsWith("'")) ||
    (inner.startsWith('"') && inner.endsWith('"'))
  )
    return { kind: 'field', name: inner.slice(1, -1) }
  if (inner.startsWith('?(') && inner.endsWith(')')) {
    const body = inner.slice(2, -1).trim()
    const m = /^@((?:\.[\w\-/]+|\[[^\]]*\])*)\s*(==|!=|<=|>=|<|>)?\s*(.*)$/.exec(body)
    if (!m) throw new Error(`unrecognized filter ${body}`)
    const path = m[1] ? parseSteps(m[1], 0, m[1].length) : []
    if (!m[2]) return { kind: 'filter', path }
    return { kind: 'filter', path, op: m[2], value: parseLiteral(m[3]) }
  }
  throw new Error(`invalid array index ${inner}`)
}

function children(v: unknown): unknown[] {
  if (Array.isArray(v)) return v
  if (v && typeof v === 'object') return Object.values(v)
  return []
}

function compare(a: unknown, op: string, b: unknown): boolean {
  switch (op) {
    case '==':
      return a === b
    case '!=':
      return a !== b
  }
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false
  switch (op) {
    case '<':
      return (a as number) < (b as number)
    case '<=':
      return (a as number) <= (b as number)
    case '>':
      return (a as number) > (b as number)
    default:
      return (a as number) >= (b as number)
  }
}

function recurse(v: unknown, name: string, out: unknown[]): void {
  if (v && typeof v === 'object') {
    if (name === '*') out.push(...children(v))
    else if (!Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, name))
      out.push((v as Record<string, unknown>)[name])
    for (const c of children(v)) recurse(c, name, out)
  }
}

/** Every value the path reaches in obj, in document order. */
export function evalJSONPath(path: JSONPath, obj: unknown): unknown[] {
  let cur: unknown[] = [obj]
  for (const step of path) {
    const next: unknown[] = []
    for (const v of cur) {
      switch (step.kind) {
        case 'field':
          if (
            v &&
            typeof v === 'object' &&
            !Array.isArray(v) &&
            Object.prototype.hasOwnProperty.call(v, step.name)
          )
            next.push((v as Record<string, unknown>)[step.name])
          break
        case 'recursive':
          recurse(v, step.name, next)
          break
        case 'wildcard':
          next.push(...children(v))
          break
        case 'index':
          if (Array.isArray(v)) {
            const i = step.index < 0 ? v.length + step.index : step.index
            if (i >= 0 && i < v.length) next.push(v[i])
          }
          break
        case 'slice':
          if (Array.isArray(v)) next.push(...v.slice(step.start, step.end))
          break
        case 'filter':
          for (const item of children(v)) {
            const found = evalJSONPath(step.path, item)
            if (!step.op) {
              if (found.length) next.push(item)
              continue
            }
            if (found.some((x) => compare(x, step.op!, step.value))) next.push(item)
          }
          break
      }
    }
    cur = next
  }
  return cur
}

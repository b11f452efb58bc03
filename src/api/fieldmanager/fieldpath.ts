// Field paths and sets of them, as structured-merge-diff's fieldpath package has them: a path element is a
// field name, the key of an associative list item, the value of a set item, or a list index; a set is a
// tree whose nodes list the paths ending there (members) and the paths going deeper (children). The wire
// form is metadata.managedFields[].fieldsV1: {"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}}}}}.

export type PathElement =
  { field: string } | { key: [string, unknown][] } | { value: unknown } | { index: number }

export type Path = PathElement[]

/** Go's encoding/json with sorted object keys, which is what structured-merge-diff writes inside keys and values. */
export function canonicalJSON(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null'
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJSON(o[k])}`)
    .join(',')}}`
}

// The key is kept on the element itself, under a symbol (JSON and `in` checks do not see it).
const KEY = Symbol('elementKey')
type Keyed = PathElement & { [KEY]?: string }
const fields = new Map<string, PathElement>()
const parsed = new Map<string, PathElement>()

/** The element of a field name, one object per name, so that its key is computed once. */
export function fieldElement(name: string): PathElement {
  let pe = fields.get(name)
  if (!pe) {
    pe = { field: name }
    if (fields.size < 10_000) fields.set(name, pe)
  }
  return pe
}

/** The fieldsV1 key of an element: "f:name", "k:{...}", "v:...", "i:0" (memoized: sets compare elements by it). */
export function elementKey(pe: PathElement): string {
  let k = (pe as Keyed)[KEY]
  if (k !== undefined) return k
  if ('field' in pe) k = `f:${pe.field}`
  else if ('key' in pe) k = `k:${canonicalJSON(Object.fromEntries(pe.key))}`
  else if ('value' in pe) k = `v:${canonicalJSON(pe.value)}`
  else k = `i:${pe.index}`
  Object.defineProperty(pe, KEY, { value: k })
  return k
}

export function parseElementKey(k: string): PathElement {
  let pe = parsed.get(k)
  if (!pe) {
    pe = parseElementKeyUncached(k)
    if (parsed.size < 10_000) parsed.set(k, pe)
  }
  return pe
}

function parseElementKeyUncached(k: string): PathElement {
  const kind = k.slice(0, 2)
  const rest = k.slice(2)
  switch (kind) {
    case 'f:':
      return fieldElement(rest)
    case 'k:': {
      const o = JSON.parse(rest) as Record<string, unknown>
      return {
        key: Object.keys(o)
          .sort()
          .map((f) => [f, o[f]]),
      }
    }
    case 'v:':
      return { value: JSON.parse(rest) }
    case 'i:':
      return { index: Number(rest) }
  }
  throw new Error(`invalid path element ${JSON.stringify(k)}`)
}

/** fieldpath.PathElement.String: ".name", "[name=\"a\",port=80]", "[=\"x\"]", "[0]". */
export function elementString(pe: PathElement): string {
  if ('field' in pe) return `.${pe.field}`
  if ('key' in pe) return `[${pe.key.map(([f, v]) => `${f}=${canonicalJSON(v)}`).join(',')}]`
  if ('value' in pe) return `[=${canonicalJSON(pe.value)}]`
  return `[${pe.index}]`
}

export function pathString(p: Path): string {
  return p.map(elementString).join('')
}

// structured-merge-diff orders elements by kind (field names, keys, values, indices), then by value.
function kindRank(k: string): number {
  return ({ f: 0, k: 1, v: 2, i: 3 } as Record<string, number>)[k[0]] ?? 4
}
function compareKeys(a: string, b: string): number {
  const r = kindRank(a) - kindRank(b)
  if (r) return r
  if (a[0] === 'i') return Number(a.slice(2)) - Number(b.slice(2))
  return a < b ? -1 : a > b ? 1 : 0
}

/** The order structured-merge-diff iterates paths in. */
export function comparePaths(a: Path, b: Path): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareKeys(elementKey(a[i]), elementKey(b[i]))
    if (c) return c
  }
  return a.length - b.length
}

export class FieldSet {
  readonly members = new Map<string, PathElement>()
  readonly children = new Map<string, { pe: PathElement; set: FieldSet }>()

  static fromPaths(paths: Path[]): FieldSet {
    const s = new FieldSet()
    for (const p of paths) s.insert(p)
    return s
  }

  insert(path: Path): void {
    if (!path.length) return
    let node: FieldSet = this
    for (let i = 0; i < path.length - 1; i++) node = node.child(path[i], true)!
    const last = path[path.length - 1]
    node.members.set(elementKey(last), last)
  }

  child(pe: PathElement, create = false): FieldSet | undefined {
    const k = elementKey(pe)
    let c = this.children.get(k)
    if (!c && create) this.children.set(k, (c = { pe, set: new FieldSet() }))
    return c?.set
  }

  has(path: Path): boolean {
    let node: FieldSet | undefined = this
    for (let i = 0; node && i < path.length - 1; i++)
      node = node.children.get(elementKey(path[i]))?.set
    return !!node && path.length > 0 && node.members.has(elementKey(path[path.length - 1]))
  }

  /** Whether path is a member or leads to members (a prefix of some member). */
  hasPrefix(path: Path): boolean {
    if (this.has(path)) return true
    let node: FieldSet | undefined = this
    for (const pe of path) node = node?.children.get(elementKey(pe))?.set
    return !!node && !node.empty()
  }

  empty(): boolean {
    if (this.members.size) return false
    for (const c of this.children.values()) if (!c.set.empty()) return false
    return true
  }

  /** Every member path, parents before children. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = []
    for (const pe of this.members.values()) out.push([...prefix, pe])
    for (const { pe, set } of this.children.values()) out.push(...set.paths([...prefix, pe]))
    return out
  }

  union(other: FieldSet): FieldSet {
    const out = this.clone()
    out.addAll(other)
    return out
  }

  private addAll(other: FieldSet): void {
    for (const [k, pe] of other.members) this.members.set(k, pe)
    for (const [k, c] of other.children) {
      let mine = this.children.get(k)
      if (!mine) this.children.set(k, (mine = { pe: c.pe, set: new FieldSet() }))
      mine.set.addAll(c.set)
    }
  }

  difference(other: FieldSet): FieldSet {
    const out = new FieldSet()
    for (const [k, pe] of this.members) if (!other.members.has(k)) out.members.set(k, pe)
    for (const [k, c] of this.children) {
      const o = other.children.get(k)
      const sub = o ? c.set.difference(o.set) : c.set.clone()
      if (!sub.empty()) out.children.set(k, { pe: c.pe, set: sub })
    }
    return out
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet()
    for (const [k, pe] of this.members) if (other.members.has(k)) out.members.set(k, pe)
    for (const [k, c] of this.children) {
      const o = other.children.get(k)
      if (!o) continue
      const sub = c.set.intersection(o.set)
      if (!sub.empty()) out.children.set(k, { pe: c.pe, set: sub })
    }
    return out
  }

  /** The members whose path keep accepts. */
  filter(keep: (p: Path) => boolean): FieldSet {
    const out = new FieldSet()
    const walk = (node: FieldSet, into: FieldSet, prefix: Path) => {
      for (const [k, pe] of node.members) if (keep([...prefix, pe])) into.members.set(k, pe)
      for (const [k, c] of node.children) {
        const sub = new FieldSet()
        walk(c.set, sub, [...prefix, c.pe])
        if (!sub.empty()) into.children.set(k, { pe: c.pe, set: sub })
      }
    }
    walk(this, out, [])
    return out
  }

  clone(): FieldSet {
    const out = new FieldSet()
    for (const [k, pe] of this.members) out.members.set(k, pe)
    for (const [k, c] of this.children) out.children.set(k, { pe: c.pe, set: c.set.clone() })
    return out
  }

  equals(other: FieldSet): boolean {
    if (this.members.size !== other.members.size) return false
    for (const k of this.members.keys()) if (!other.members.has(k)) return false
    const mine = [...this.children].filter(([, c]) => !c.set.empty())
    const theirs = [...other.children].filter(([, c]) => !c.set.empty())
    if (mine.length !== theirs.length) return false
    for (const [k, c] of mine) {
      const o = other.children.get(k)
      if (!o || !c.set.equals(o.set)) return false
    }
    return true
  }

  /** The fieldsV1 object; "." marks a node that is a member and has children. */
  toFieldsV1(): Record<string, unknown> {
    const keys = new Set([
      ...this.members.keys(),
      ...[...this.children].filter(([, c]) => !c.set.empty()).map(([k]) => k),
    ])
    const out: Record<string, unknown> = {}
    for (const k of [...keys].sort(compareKeys)) {
      const c = this.children.get(k)
      if (c && !c.set.empty()) {
        const inner = c.set.toFieldsV1()
        out[k] = this.members.has(k) ? { '.': {}, ...inner } : inner
      } else {
        out[k] = {}
      }
    }
    return out
  }

  static fromFieldsV1(v: unknown): FieldSet {
    const s = new FieldSet()
    const read = (node: FieldSet, obj: Record<string, unknown>) => {
      for (const [k, inner] of Object.entries(obj)) {
        if (k === '.') continue
        const pe = parseElementKey(k)
        const innerObj = (inner && typeof inner === 'object' ? inner : {}) as Record<
          string,
          unknown
        >
        const keys = Object.keys(innerObj)
        if (keys.length === 0 || '.' in innerObj) node.members.set(elementKey(pe), pe)
        if (keys.some((x) => x !== '.')) read(node.child(pe, true)!, innerObj)
      }
    }
    if (v && typeof v === 'object') read(s, v as Record<string, unknown>)
    return s
  }
}

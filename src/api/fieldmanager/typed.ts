// Objects walked with their schema, as structured-merge-diff's typed package walks them: the field set an
// object sets (ToFieldSet), what changed between two objects (Compare), an applied configuration merged
// into a live object (Merge), and removing owned items (RemoveItems). Lists are atomic unless the schema
// says x-kubernetes-list-type map (items keyed by x-kubernetes-list-map-keys) or set; structs and maps are
// granular unless x-kubernetes-map-type is atomic. A part without schema is "deduced": objects are granular
// maps, lists atomic.
import { deref, type JSONSchema, type TypeSchema } from '../../registry/schema/types'
import {
  canonicalJSON,
  elementKey,
  fieldElement,
  FieldSet,
  pathString,
  type Path,
  type PathElement,
} from './fieldpath'

type Defs = TypeSchema['definitions']
type Obj = Record<string, unknown>

export type Shape =
  | { kind: 'scalar' }
  | { kind: 'atomic' }
  | { kind: 'struct'; fields: Record<string, JSONSchema>; extra?: JSONSchema }
  | { kind: 'map'; elem?: JSONSchema }
  | { kind: 'list'; elem?: JSONSchema; listType: 'set' | 'map'; keys: string[] }

export class TypedError extends Error {}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

export function shapeOf(s: JSONSchema | undefined, defs: Defs, value: unknown): Shape {
  const schema = deref(s, defs)
  if (
    !schema ||
    schema['x-kubernetes-preserve-unknown-fields'] ||
    (schema.type === 'object' &&
      !schema.properties &&
      typeof schema.additionalProperties !== 'object')
  ) {
    // Deduced from the value.
    if (isObj(value)) return { kind: 'map' }
    if (Array.isArray(value)) return { kind: 'atomic' }
    return { kind: 'scalar' }
  }
  if (schema.type === 'array') {
    const lt = schema['x-kubernetes-list-type']
    if (lt === 'map')
      return {
        kind: 'list',
        elem: schema.items,
        listType: 'map',
        keys: schema['x-kubernetes-list-map-keys'] ?? [],
      }
    if (lt === 'set') return { kind: 'list', elem: schema.items, listType: 'set', keys: [] }
    return { kind: 'atomic' }
  }
  if (schema.properties || typeof schema.additionalProperties === 'object') {
    if (schema['x-kubernetes-map-type'] === 'atomic') return { kind: 'atomic' }
    if (schema.properties)
      return {
        kind: 'struct',
        fields: schema.properties,
        extra:
          typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined,
      }
    return { kind: 'map', elem: schema.additionalProperties as JSONSchema }
  }
  return { kind: 'scalar' }
}

// The element of an associative list item, remembered per item object (walks meet the same items often).
const itemElements = new WeakMap<object, { keys: string[]; pe: PathElement }>()

/** The path element of a list item (listItemToPathElement), with defaulted key fields filled in. */
function itemElement(
  shape: Extract<Shape, { kind: 'list' }>,
  item: unknown,
  defs: Defs,
  path: Path,
): PathElement {
  if (shape.listType === 'set') return { value: item }
  if (isObj(item)) {
    const hit = itemElements.get(item)
    if (hit && hit.keys === shape.keys) return hit.pe
    const pe = mapItemElement(shape, item, defs, path)
    itemElements.set(item, { keys: shape.keys, pe })
    return pe
  }
  return mapItemElement(shape, item, defs, path)
}

function mapItemElement(
  shape: Extract<Shape, { kind: 'list' }>,
  item: unknown,
  defs: Defs,
  path: Path,
): PathElement {
  if (!isObj(item))
    throw new TypedError(
      `${pathString(path)}: associative list with keys has an element that is not a map`,
    )
  const elem = deref(shape.elem, defs)
  const key: [string, unknown][] = []
  for (const k of shape.keys) {
    let v = item[k]
    if (v === undefined) v = deref(elem?.properties?.[k], defs)?.default
    if (v === undefined)
      throw new TypedError(
        `${pathString(path)}: associative list with keys has an element that omits key field ${JSON.stringify(k)} (and doesn't have default value)`,
      )
    key.push([k, v])
  }
  return { key: key.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) }
}

interface Child {
  pe: PathElement
  value: unknown
  schema?: JSONSchema
  entry: boolean
}

/** The children of a granular value; entry marks map entries and list items (which structured-merge-diff tracks themselves). */
function childrenOf(value: unknown, shape: Shape, defs: Defs, path: Path): Child[] {
  if (shape.kind === 'struct' && isObj(value)) {
    return Object.keys(value).map((k) => {
      const declared = shape.fields[k]
      return {
        pe: fieldElement(k),
        value: value[k],
        schema: declared ?? shape.extra,
        entry: !declared,
      }
    })
  }
  if (shape.kind === 'map' && isObj(value)) {
    return Object.keys(value).map((k) => ({
      pe: fieldElement(k),
      value: value[k],
      schema: shape.elem,
      entry: true,
    }))
  }
  if (shape.kind === 'list' && Array.isArray(value)) {
    const out: Child[] = []
    const seen = new Set<string>()
    for (const item of value) {
      const pe = itemElement(shape, item, defs, path)
      const k = elementKey(pe)
      if (seen.has(k))
        throw new TypedError(`${pathString(path)}: duplicate entries for key ${pathString([pe])}`)
      seen.add(k)
      out.push({ pe, value: item, schema: shape.elem, entry: true })
    }
    return out
  }
  return []
}

const granular = (s: Shape) => s.kind === 'struct' || s.kind === 'map' || s.kind === 'list'

/**
 * typed.ToFieldSet: the leaves the object sets, list items and map entries included. Strict (an apply
 * configuration) fails on fields the schema does not declare, as the typed conversion of a patch does.
 */
export function toFieldSet(
  obj: unknown,
  schema: TypeSchema,
  opts: { strict?: boolean } = {},
): FieldSet {
  const set = new FieldSet()
  const errors: string[] = []
  const walk = (v: unknown, s: JSONSchema | undefined, path: Path) => {
    const shape = shapeOf(s, schema.definitions, v)
    if (!granular(shape)) {
      set.insert(path)
      return
    }
    for (const c of childrenOf(v, shape, schema.definitions, path)) {
      const p = [...path, c.pe]
      if (opts.strict && c.schema === undefined && shape.kind === 'struct') {
        const root =
          path.length === 0 &&
          'field' in c.pe &&
          (c.pe.field === 'apiVersion' || c.pe.field === 'kind')
        if (!root) errors.push(`${pathString(p)}: field not declared in schema`)
        continue
      }
      walk(c.value, c.schema, p)
      if (c.entry || c.value === null || (isObj(c.value) && !Object.keys(c.value).length))
        set.insert(p)
    }
  }
  walk(obj, schema.definitions[schema.name], [])
  if (errors.length === 1) throw new TypedError(errors[0])
  if (errors.length) throw new TypedError(['errors:', ...errors.map((e) => `  ${e}`)].join('\n'))
  return set
}

export interface Comparison {
  added: FieldSet
  modified: FieldSet
  removed: FieldSet
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  v === null ||
  (Array.isArray(v) ? v.length === 0 : isObj(v) && Object.keys(v).length === 0)

/** typed.Compare: what is added, modified and removed going from lhs to rhs. */
export function compare(lhs: unknown, rhs: unknown, schema: TypeSchema): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() }
  const leaf = (l: unknown, r: unknown, path: Path) => {
    if (!path.length) return
    if (l === undefined) c.added.insert(path)
    else if (r === undefined) c.removed.insert(path)
    else if (canonicalJSON(l) !== canonicalJSON(r)) c.modified.insert(path)
  }
  const walk = (l: unknown, r: unknown, s: JSONSchema | undefined, path: Path, entry: boolean) => {
    const shape = shapeOf(s, schema.definitions, r !== undefined ? r : l)
    if (!granular(shape) || (isEmpty(l) && isEmpty(r))) return leaf(l, r, path)
    const lc = new Map(
      childrenOf(l, shape, schema.definitions, path).map((x) => [elementKey(x.pe), x]),
    )
    const rc = new Map(
      childrenOf(r, shape, schema.definitions, path).map((x) => [elementKey(x.pe), x]),
    )
    for (const [k, x] of rc) walk(lc.get(k)?.value, x.value, x.schema, [...path, x.pe], x.entry)
    for (const [k, x] of lc)
      if (!rc.has(k)) walk(x.value, undefined, x.schema, [...path, x.pe], x.entry)
    // A map entry or list item that appears or goes is itself added or removed (compare.go's postItemHook);
    // so is a map (labels) that appears or goes, not a struct.
    if (path.length && (entry || shape.kind !== 'struct')) {
      if (l === undefined) c.added.insert(path)
      else if (r === undefined) c.removed.insert(path)
    }
  }
  walk(lhs, rhs, schema.definitions[schema.name], [], false)
  return c
}

/** typed.Merge: rhs (an applied configuration) over lhs (the live object); associative lists merge item by item. */
export function merge(lhs: unknown, rhs: unknown, schema: TypeSchema): unknown {
  const walk = (l: unknown, r: unknown, s: JSONSchema | undefined, path: Path): unknown => {
    if (r === undefined) return l
    if (l === undefined || l === null || r === null) return r
    const shape = shapeOf(s, schema.definitions, r)
    if (shape.kind === 'struct' || shape.kind === 'map') {
      if (!isObj(l) || !isObj(r)) return r
      const out: Obj = { ...l }
      for (const c of childrenOf(r, shape, schema.definitions, path)) {
        const k = (c.pe as { field: string }).field
        out[k] = walk(l[k], c.value, c.schema, [...path, c.pe])
      }
      return out
    }
    if (shape.kind === 'list') {
      if (!Array.isArray(l) || !Array.isArray(r)) return r
      const lc = childrenOf(l, shape, schema.definitions, path)
      const rc = childrenOf(r, shape, schema.definitions, path)
      return mergeOrder(lc, rc).map(([lx, rx]) =>
        lx && rx ? walk(lx.value, rx.value, rx.schema, [...path, rx.pe]) : (rx ?? lx)!.value,
      )
    }
    return r
  }
  return walk(lhs, rhs, schema.definitions[schema.name], [])
}

/**
 * The order of a merged associative list (merge.go's visitListItems): rhs items in their order, with items
 * only in lhs kept where they were relative to the items both share.
 */
function mergeOrder(lhs: Child[], rhs: Child[]): [Child | undefined, Child | undefined][] {
  const lKeys = lhs.map((c) => elementKey(c.pe))
  const rKeys = rhs.map((c) => elementKey(c.pe))
  const lMap = new Map(lhs.map((c, i) => [lKeys[i], c]))
  const rMap = new Map(rhs.map((c, i) => [rKeys[i], c]))
  const shared = rKeys.filter((k) => lMap.has(k))
  let next = 0
  const out: [Child | undefined, Child | undefined][] = []
  let li = 0
  let ri = 0
  while (li < lKeys.length || ri < rKeys.length) {
    if (li < lKeys.length && ri < rKeys.length) {
      const lk = lKeys[li]
      if (lk === rKeys[ri]) {
        out.push([lMap.get(lk), rMap.get(lk)])
        li++
        ri++
        next++
        continue
      }
      if (rMap.has(lk) && next < shared.length && shared[next] !== lk) {
        li++
        continue
      }
    }
    if (li < lKeys.length && !rMap.has(lKeys[li])) {
      out.push([lMap.get(lKeys[li]), undefined])
      li++
      continue
    }
    if (ri < rKeys.length) {
      const rk = rKeys[ri]
      out.push([lMap.get(rk), rMap.get(rk)])
      ri++
      if (next < shared.length && shared[next] === rk) next++
      continue
    }
    li++
  }
  return out
}

/** typed.RemoveItems: obj without the members of set (and what is under them). */
export function removeItems(obj: unknown, set: FieldSet, schema: TypeSchema): unknown {
  const walk = (v: unknown, s: JSONSchema | undefined, node: FieldSet, path: Path): unknown => {
    const shape = shapeOf(s, schema.definitions, v)
    if (!granular(shape)) return v
    const keep = (c: Child) => !node.members.has(elementKey(c.pe))
    const inner = (c: Child) => {
      const sub = node.children.get(elementKey(c.pe))?.set
      return sub ? walk(c.value, c.schema, sub, [...path, c.pe]) : c.value
    }
    const children = childrenOf(v, shape, schema.definitions, path)
    if (shape.kind === 'list') return children.filter(keep).map(inner)
    const out: Obj = {}
    for (const c of children) if (keep(c)) out[(c.pe as { field: string }).field] = inner(c)
    return out
  }
  return walk(obj, schema.definitions[schema.name], set, [])
}

/** The value at path, or undefined. */
export function valueAt(obj: unknown, path: Path, schema: TypeSchema): unknown {
  let v = obj
  let s: JSONSchema | undefined = schema.definitions[schema.name]
  const walked: Path = []
  for (const pe of path) {
    const shape = shapeOf(s, schema.definitions, v)
    const c = childrenOf(v, shape, schema.definitions, walked).find(
      (x) => elementKey(x.pe) === elementKey(pe),
    )
    if (!c) return undefined
    v = c.value
    s = c.schema
    walked.push(pe)
  }
  return v
}

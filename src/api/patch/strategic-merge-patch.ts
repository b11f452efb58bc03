// application/strategic-merge-patch+json for built-in kinds: k8s.io/apimachinery/pkg/util/strategicpatch's
// StrategicMergeMapPatch (the server side: MergeParallelList and IgnoreUnmatchedNulls on), with the
// directives $patch (replace, delete; merge only inside lists), $retainKeys, $deleteFromPrimitiveList/<f>
// and $setElementOrder/<f>, list merging by patchMergeKey, and the ordering rules of
// preserve-order-in-strategic-merge-patch. Errors are mapped to Status as handlers/patch.go does.
import { StatusError, badRequest } from '../../server/errors'
import {
  GoJsonSyntaxError,
  cloneJson,
  decodeGoJson,
  goSprint,
  goSprintS,
  goTypeName,
  isObject,
  jsonKind,
  type JsonValue,
} from '../../go/json'
import { lookupPatchMetadata, rootPatchType, type PatchType } from './patch-meta'

type Obj = { [k: string]: JsonValue }

const directiveMarker = '$patch'
const deleteDirective = 'delete'
const replaceDirective = 'replace'
const mergeDirective = 'merge'
const retainKeysStrategy = 'retainKeys'
const deleteFromPrimitiveListDirectivePrefix = '$deleteFromPrimitiveList'
const retainKeysDirective = '$retainKeys'
const setElementOrderDirectivePrefix = '$setElementOrder'

/** How handlers/patch.go interpretStrategicMergePatchError maps an error. */
type ErrorClass = 'BadRequest' | 'Unprocessable' | 'Unknown'

export class StrategicMergePatchError extends Error {
  constructor(
    message: string,
    readonly errorClass: ErrorClass = 'Unknown',
  ) {
    super(message)
    this.name = 'StrategicMergePatchError'
  }
}

// k8s.io/apimachinery/pkg/util/mergepatch's errors.
const errNoListOfLists = () =>
  new StrategicMergePatchError('lists of lists are not supported', 'Unprocessable')
const errBadPatchFormatForPrimitiveList = () =>
  new StrategicMergePatchError('invalid patch format of primitive list', 'BadRequest')
const errBadPatchFormatForRetainKeys = () =>
  new StrategicMergePatchError('invalid patch format of retainKeys', 'BadRequest')
const errBadPatchFormatForSetElementOrderList = () =>
  new StrategicMergePatchError('invalid patch format of setElementOrder list', 'BadRequest')
const errNoMergeKey = (m: unknown, k: string) =>
  new StrategicMergePatchError(`map: ${goSprint(m)} does not contain declared merge key: ${k}`)
const errBadArgType = (expected: string, actual: unknown) =>
  new StrategicMergePatchError(`expected a ${expected}, but received a ${goTypeName(actual)}`)
const errBadPatchType = (t: unknown, m: Obj) =>
  new StrategicMergePatchError(`unknown patch type: ${goSprintS(t)} in map: ${goSprint(m)}`)
const mapType = 'map[string]interface {}'
const sliceType = '[]interface {}'

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k)
const setKey = (o: Obj, k: string, v: JsonValue) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
// Go's == on interface{} values holding JSON scalars (maps and slices never compare equal here).
const goEq = (a: unknown, b: unknown) =>
  (a === undefined ? null : a) === (b === undefined ? null : b)

type Kind = 'map' | 'slice' | 'string' | 'number' | 'bool' | 'nil'
function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'nil'
  if (Array.isArray(v)) return 'slice'
  if (typeof v === 'object') return 'map'
  if (typeof v === 'boolean') return 'bool'
  return typeof v as 'string' | 'number'
}
// reflect.TypeOf identity: int64 and float64 are different types.
function typeOf(v: unknown): string {
  return typeof v === 'number' ? goTypeName(v) : kindOf(v)
}

function extractRetainKeysPatchStrategy(strategies: string[]): {
  retainKeys: boolean
  strategy: string
} {
  if (strategies.length === 0) return { retainKeys: false, strategy: '' }
  if (strategies.length === 1) {
    return strategies[0] === retainKeysStrategy
      ? { retainKeys: true, strategy: '' }
      : { retainKeys: false, strategy: strategies[0] }
  }
  if (strategies.length === 2) {
    if (strategies[0] === retainKeysStrategy) return { retainKeys: true, strategy: strategies[1] }
    if (strategies[1] === retainKeysStrategy) return { retainKeys: true, strategy: strategies[0] }
  }
  throw new StrategicMergePatchError(`unexpected patch strategy: [${strategies.join(' ')}]`)
}

function extractKey(s: string, prefix: string): string {
  const slash = s.indexOf('/')
  if (slash < 0 || s.slice(0, slash) !== prefix) {
    if (prefix === deleteFromPrimitiveListDirectivePrefix) throw errBadPatchFormatForPrimitiveList()
    throw errBadPatchFormatForSetElementOrderList()
  }
  return s.slice(slash + 1)
}

// sliceElementType: the one type of every element of the given lists.
function sliceElementKind(...slices: JsonValue[][]): Kind {
  let prev: string | undefined
  let prevKind: Kind = 'nil'
  for (const s of slices) {
    for (const v of s) {
      const t = typeOf(v)
      if (prev === undefined) {
        // Go asks a nil reflect.Type for its Kind here and panics.
        if (v === null)
          throw new StrategicMergePatchError(
            'runtime error: invalid memory address or nil pointer dereference',
          )
        prev = t
        prevKind = kindOf(v)
        if (prevKind === 'slice') throw errNoListOfLists()
      } else if (prev !== t) {
        throw new StrategicMergePatchError(
          `list element types are not identical: ${goSprint(slices)}`,
        )
      }
    }
  }
  if (prev === undefined)
    throw new StrategicMergePatchError('no elements in any of the given slices')
  return prevKind
}

function deduplicateScalars(s: JsonValue[]): JsonValue[] {
  let length = s.length - 1
  for (let i = 0; i < length; i++) {
    for (let j = i + 1; j <= length; j++) {
      if (goEq(s[i], s[j])) {
        s[j] = s[length]
        s = s.slice(0, length)
        length--
        j--
      }
    }
  }
  return s
}

// sort.SliceStable: insertion sort on blocks of 20, then SymMerge, so that comparators that are not a
// strict weak order give the same result as Go's.
function sliceStable<T>(data: T[], less: (a: T, b: T) => boolean): void {
  const lessAt = (i: number, j: number) => less(data[i], data[j])
  const swap = (i: number, j: number) => {
    const t = data[i]
    data[i] = data[j]
    data[j] = t
  }
  const insertionSort = (a: number, b: number) => {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && lessAt(j, j - 1); j--) swap(j, j - 1)
  }
  const swapRange = (a: number, b: number, n: number) => {
    for (let i = 0; i < n; i++) swap(a + i, b + i)
  }
  const rotate = (a: number, m: number, b: number) => {
    let i = m - a
    let j = b - m
    while (i !== j) {
      if (i > j) {
        swapRange(m - i, m, j)
        i -= j
      } else {
        swapRange(m - i, m + j - i, i)
        j -= i
      }
    }
    swapRange(m - i, m, i)
  }
  const symMerge = (a: number, m: number, b: number): void => {
    if (m - a === 1) {
      let i = m
      let j = b
      while (i < j) {
        const h = (i + j) >>> 1
        if (lessAt(h, a)) i = h + 1
        else j = h
      }
      for (let k = a; k < i - 1; k++) swap(k, k + 1)
      return
    }
    if (b - m === 1) {
      let i = a
      let j = m
      while (i < j) {
        const h = (i + j) >>> 1
        if (!lessAt(m, h)) i = h + 1
        else j = h
      }
      for (let k = m; k > i; k--) swap(k, k - 1)
      return
    }
    const mid = (a + b) >>> 1
    const n = mid + m
    let start: number
    let r: number
    if (m > mid) {
      start = n - b
      r = mid
    } else {
      start = a
      r = m
    }
    const p = n - 1
    while (start < r) {
      const c = (start + r) >>> 1
      if (!lessAt(p - c, c)) start = c + 1
      else r = c
    }
    const end = n - start
    if (start < m && m < end) rotate(start, m, end)
    if (a < start && start < mid) symMerge(a, start, mid)
    if (mid < end && end < b) symMerge(mid, end, b)
  }
  const n = data.length
  let blockSize = 20
  let a = 0
  let b = blockSize
  while (b <= n) {
    insertionSort(a, b)
    a = b
    b += blockSize
  }
  insertionSort(a, n)
  while (blockSize < n) {
    a = 0
    b = 2 * blockSize
    while (b <= n) {
      symMerge(a, a + blockSize, b)
      a = b
      b += 2 * blockSize
    }
    const m = a + blockSize
    if (m < n) symMerge(a, m, n)
    blockSize *= 2
  }
}

function index(l: JsonValue[], val: JsonValue, mergeKey: string, kind: Kind): number {
  const get =
    kind === 'map'
      ? (item: JsonValue) => (isObject(item) ? item[mergeKey] : null)
      : (item: JsonValue) => item
  const want = get(val)
  return l.findIndex((v) => goEq(want, get(v)))
}

function validateMergeKeyInLists(mergeKey: string, ...lists: JsonValue[][]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) throw errBadArgType(mapType, item)
      if (!has(item, mergeKey)) throw errNoMergeKey(item, mergeKey)
    }
  }
}

function extractToDeleteItems(l: JsonValue[]): { nonDelete: JsonValue[]; toDelete: JsonValue[] } {
  const nonDelete: JsonValue[] = []
  const toDelete: JsonValue[] = []
  for (const v of l) {
    if (!isObject(v)) throw errBadArgType(mapType, v)
    if (has(v, directiveMarker) && v[directiveMarker] === deleteDirective) toDelete.push(v)
    else nonDelete.push(v)
  }
  return { nonDelete, toDelete }
}

function normalizeSliceOrder(
  toSort: JsonValue[],
  order: JsonValue[],
  mergeKey: string,
  kind: Kind,
): JsonValue[] {
  let toDelete: JsonValue[] = []
  if (kind === 'map') {
    validateMergeKeyInLists(mergeKey, toSort, order)
    ;({ nonDelete: toSort, toDelete } = extractToDeleteItems(toSort))
  } else {
    toSort = [...toSort]
  }
  sliceStable(toSort, (x, y) => {
    const ii = index(order, x, mergeKey, kind)
    if (ii >= 0) {
      const ij = index(order, y, mergeKey, kind)
      if (ij >= 0) return ii < ij
    }
    return true
  })
  return [...toSort, ...toDelete]
}

function mergeSortedSlice(
  left: JsonValue[],
  right: JsonValue[],
  serverOrder: JsonValue[],
  mergeKey: string,
  kind: Kind,
): JsonValue[] {
  const less = (l: JsonValue, r: JsonValue): { less: boolean; foundBoth: boolean } => {
    const li = index(serverOrder, l, mergeKey, kind)
    const ri = index(serverOrder, r, mergeKey, kind)
    return li >= 0 && ri >= 0
      ? { less: li < ri, foundBoth: true }
      : { less: false, foundBoth: false }
  }
  const out: JsonValue[] = []
  let i = 0
  let j = 0
  const size = left.length + right.length
  for (let k = 0; k < size; k++) {
    if (i >= left.length && j < right.length) out.push(right[j++])
    else if (j >= right.length && i < left.length) out.push(left[i++])
    else {
      const c = less(left[i], right[j])
      if (c.foundBoth && c.less) out.push(left[i++])
      else out.push(right[j++])
    }
  }
  return out
}

function normalizeElementOrder(
  patch: JsonValue[],
  serverOnly: JsonValue[],
  patchOrder: JsonValue[],
  serverOrder: JsonValue[],
  mergeKey: string,
  kind: Kind,
): JsonValue[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind)
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind)
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind)
}

function findMapInSliceBasedOnKeyValue(m: JsonValue[], key: string, value: JsonValue): number {
  for (let k = 0; k < m.length; k++) {
    const v = m[k]
    if (!isObject(v)) throw new StrategicMergePatchError(`value for key ${k} is not a map.`)
    if (has(v, key) && goEq(v[key], value)) return k
  }
  return -1
}

function partitionPrimitivesByPresentInList(
  original: JsonValue[],
  partitionBy: JsonValue[],
): { patch: JsonValue[]; serverOnly: JsonValue[] } {
  const patch: JsonValue[] = []
  const serverOnly: JsonValue[] = []
  for (const v of original) (partitionBy.some((p) => goEq(p, v)) ? patch : serverOnly).push(v)
  return { patch, serverOnly }
}

function partitionMapsByPresentInList(
  original: JsonValue[],
  partitionBy: JsonValue[],
  mergeKey: string,
): { patch: JsonValue[]; serverOnly: JsonValue[] } {
  const patch: JsonValue[] = []
  const serverOnly: JsonValue[] = []
  for (const v of original) {
    if (!isObject(v)) throw errBadArgType(mapType, v)
    if (!has(v, mergeKey)) throw errNoMergeKey(v, mergeKey)
    ;(findMapInSliceBasedOnKeyValue(partitionBy, mergeKey, v[mergeKey]) >= 0
      ? patch
      : serverOnly
    ).push(v)
  }
  return { patch, serverOnly }
}

function mergeKeyValueEqual(left: JsonValue, right: JsonValue, mergeKey: string): boolean {
  if (mergeKey === '') return goEq(left, right)
  if (!isObject(left)) throw errBadArgType(mapType, left)
  if (!isObject(right)) throw errBadArgType(mapType, right)
  if (!has(left, mergeKey)) throw errNoMergeKey(left, mergeKey)
  if (!has(right, mergeKey)) throw errNoMergeKey(right, mergeKey)
  return goEq(left[mergeKey], right[mergeKey])
}

function validatePatchWithSetOrderList(
  patchList: JsonValue[],
  setOrderList: JsonValue[],
  mergeKey: string,
): void {
  if (setOrderList.length === 0 || patchList.length === 0) return
  const nonDelete = mergeKey ? extractToDeleteItems(patchList).nonDelete : patchList
  let pi = 0
  let si = 0
  while (pi < nonDelete.length && si < setOrderList.length) {
    if (isObject(nonDelete[pi]) && has(nonDelete[pi] as Obj, directiveMarker)) {
      pi++
      continue
    }
    if (mergeKeyValueEqual(nonDelete[pi], setOrderList[si], mergeKey)) pi++
    si++
  }
  if (pi < nonDelete.length && si >= setOrderList.length) {
    throw new StrategicMergePatchError(
      `The order in patch list:\n${goSprint(patchList)}\n doesn't match ${setElementOrderDirectivePrefix} list:\n${goSprint(setOrderList)}\n`,
    )
  }
}

function applyRetainKeysDirective(original: Obj, patch: Obj): void {
  if (!has(patch, retainKeysDirective)) return
  const retainKeys = patch[retainKeysDirective]
  delete patch[retainKeysDirective]
  if (!Array.isArray(retainKeys)) throw errBadPatchFormatForRetainKeys()
  const keep = (k: string) => retainKeys.some((v) => goEq(v, k))
  for (const [k, v] of Object.entries(patch)) {
    if (
      v === null ||
      k.startsWith(deleteFromPrimitiveListDirectivePrefix) ||
      k.startsWith(setElementOrderDirectivePrefix)
    )
      continue
    if (!keep(k)) throw errBadPatchFormatForRetainKeys()
  }
  for (const k of Object.keys(original)) if (!keep(k)) delete original[k]
}

function mergePatchIntoOriginal(original: Obj, patch: Obj, t: PatchType): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(setElementOrderDirectivePrefix) || !has(patch, key)) continue
    const setElementOrder = patch[key]
    delete patch[key]
    if (!Array.isArray(setElementOrder)) throw errBadArgType(sliceType, setElementOrder)
    const originalKey = extractKey(key, setElementOrderDirectivePrefix)
    const foundOriginal = has(original, originalKey)
    const foundPatch = has(patch, originalKey)
    const originalList = original[originalKey]
    const patchList = patch[originalKey]
    if (foundOriginal && !Array.isArray(originalList)) throw errBadArgType(sliceType, originalList)
    if (foundPatch && !Array.isArray(patchList)) throw errBadArgType(sliceType, patchList)
    const originalFieldValue = foundOriginal ? [...(originalList as JsonValue[])] : []
    const patchFieldValue = foundPatch ? (patchList as JsonValue[]) : []
    const meta = lookupPatchMetadata(t, originalKey)
    const { strategy } = extractRetainKeysPatchStrategy(meta.strategies)
    validatePatchWithSetOrderList(patchFieldValue, setElementOrder, meta.mergeKey)
    let merged: JsonValue[]
    if (foundOriginal && !foundPatch) merged = originalFieldValue
    else if (!foundOriginal && foundPatch) merged = patchFieldValue
    else if (foundOriginal && foundPatch)
      merged = mergeSliceHandler(
        originalList as JsonValue[],
        patchFieldValue,
        meta.type,
        strategy,
        meta.mergeKey,
        meta.elemKind,
        false,
      )
    else continue
    const parts =
      meta.mergeKey === ''
        ? partitionPrimitivesByPresentInList(merged, setElementOrder)
        : partitionMapsByPresentInList(merged, setElementOrder, meta.mergeKey)
    const kind = sliceElementKind(originalFieldValue, patchFieldValue)
    setKey(
      original,
      originalKey,
      normalizeElementOrder(
        parts.patch,
        parts.serverOnly,
        setElementOrder,
        originalFieldValue,
        meta.mergeKey,
        kind,
      ),
    )
    delete patch[originalKey]
  }
}

function handleDirectiveInMergeMap(directive: JsonValue, patch: Obj): Obj {
  if (directive === replaceDirective) {
    // The patch replaces the map as it is: nothing inside it is processed.
    delete patch[directiveMarker]
    return patch
  }
  if (directive === deleteDirective) return {}
  throw errBadPatchType(directive, patch)
}

function mergeMap(original: Obj | null, patch: Obj | null, t: PatchType): Obj {
  if (patch && has(patch, directiveMarker))
    return handleDirectiveInMergeMap(patch[directiveMarker], patch)
  const orig = original ?? {}
  if (!patch) return orig
  applyRetainKeysDirective(orig, patch)
  mergePatchIntoOriginal(orig, patch, t)
  for (let [k, patchV] of Object.entries(patch)) {
    let isDeleteList = false
    if (k.startsWith(deleteFromPrimitiveListDirectivePrefix)) {
      const originalKey = extractKey(k, deleteFromPrimitiveListDirectivePrefix)
      isDeleteList = true
      if (originalKey.length > 0) k = originalKey
    }
    // Server side, a null deletes the key and is not kept when the key is absent.
    if (patchV === null) {
      delete orig[k]
      continue
    }
    if (!has(orig, k)) {
      setKey(orig, k, patchV)
      continue
    }
    const cur = orig[k]
    if (typeOf(cur) !== typeOf(patchV)) {
      setKey(orig, k, patchV)
      continue
    }
    const meta = lookupPatchMetadata(t, k)
    const { strategy } = extractRetainKeysPatchStrategy(meta.strategies)
    if (isObject(cur)) {
      setKey(
        orig,
        k,
        strategy !== replaceDirective ? mergeMap(cur, patchV as Obj, meta.type) : patchV,
      )
    } else if (Array.isArray(cur)) {
      setKey(
        orig,
        k,
        mergeSliceHandler(
          cur,
          patchV as JsonValue[],
          meta.type,
          strategy,
          meta.mergeKey,
          meta.elemKind,
          isDeleteList,
        ),
      )
    } else {
      setKey(orig, k, patchV)
    }
  }
  return orig
}

function mergeSliceHandler(
  original: JsonValue[],
  patch: JsonValue[],
  elemType: PatchType,
  strategy: string,
  mergeKey: string,
  elemKind: string,
  isDeleteList: boolean,
): JsonValue[] {
  if (strategy === mergeDirective)
    return mergeSlice(original, patch, elemType, mergeKey, elemKind, isDeleteList)
  return patch
}

function deleteMatchingEntries(
  original: JsonValue[],
  mergeKey: string,
  mergeValue: JsonValue,
): JsonValue[] {
  for (;;) {
    const idx = findMapInSliceBasedOnKeyValue(original, mergeKey, mergeValue)
    if (idx < 0) return original
    original = [...original.slice(0, idx), ...original.slice(idx + 1)]
  }
}

function mergeSliceWithSpecialElements(
  original: JsonValue[],
  patch: JsonValue[],
  mergeKey: string,
): { original: JsonValue[]; patch: JsonValue[] } {
  const withoutSpecial: JsonValue[] = []
  let replace = false
  for (const v of patch) {
    const typed = v as Obj
    if (!has(typed, directiveMarker)) {
      withoutSpecial.push(v)
      continue
    }
    const patchType = typed[directiveMarker]
    if (patchType === deleteDirective) {
      if (!has(typed, mergeKey)) throw errNoMergeKey(typed, mergeKey)
      original = deleteMatchingEntries(original, mergeKey, typed[mergeKey])
    } else if (patchType === replaceDirective) {
      // Keep going, to drop any other $patch elements.
      replace = true
    } else if (patchType === mergeDirective) {
      throw new StrategicMergePatchError('merging lists cannot yet be specified in the patch')
    } else {
      throw errBadPatchType(patchType, typed)
    }
  }
  if (replace) return { original: withoutSpecial, patch: [] }
  return { original, patch: withoutSpecial }
}

function mergeSliceWithoutSpecialElements(
  original: JsonValue[],
  patch: JsonValue[],
  mergeKey: string,
  elemType: PatchType,
): JsonValue[] {
  const out = [...original]
  for (const v of patch) {
    const typed = v as Obj
    if (!has(typed, mergeKey)) throw errNoMergeKey(typed, mergeKey)
    const idx = findMapInSliceBasedOnKeyValue(out, mergeKey, typed[mergeKey])
    if (idx >= 0) out[idx] = mergeMap(out[idx] as Obj, typed, elemType)
    else out.push(v)
  }
  return out
}

function mergeSlice(
  original: JsonValue[],
  patch: JsonValue[],
  elemType: PatchType,
  mergeKey: string,
  elemKind: string,
  isDeleteList: boolean,
): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return original
  const kind = sliceElementKind(original, patch)
  let merged: JsonValue[]
  if (kind !== 'map') {
    if (isDeleteList) {
      return original.filter((v) => !patch.some((d) => goEq(d, v)))
    }
    merged = deduplicateScalars([...original, ...patch])
  } else {
    if (mergeKey === '')
      throw new StrategicMergePatchError(
        `cannot merge lists without merge key for type ${elemKind}`,
      )
    ;({ original, patch } = mergeSliceWithSpecialElements(original, patch, mergeKey))
    merged = mergeSliceWithoutSpecialElements(original, patch, mergeKey, elemType)
  }
  const parts =
    mergeKey === ''
      ? partitionPrimitivesByPresentInList(merged, patch)
      : partitionMapsByPresentInList(merged, patch, mergeKey)
  return normalizeElementOrder(parts.patch, parts.serverOnly, patch, original, mergeKey, kind)
}

/**
 * strategicpatch.StrategicMergeMapPatch for a built-in kind, on decoded values (neither is mutated).
 * Throws StrategicMergePatchError with apimachinery's text.
 */
export function strategicMergeMapPatch(
  original: unknown,
  patch: JsonValue,
  group: string,
  kind: string,
): JsonValue {
  const orig = cloneJson(original) as Obj | null
  const p = cloneJson(patch)
  return mergeMap(isObject(orig) ? orig : null, isObject(p) ? p : null, rootPatchType(group, kind))
}

/** interpretStrategicMergePatchError, and the 500 a plain error becomes (responsewriters.ErrorToAPIStatus). */
export function strategicMergePatchStatus(err: StrategicMergePatchError): StatusError {
  switch (err.errorClass) {
    case 'BadRequest':
      return badRequest(err.message)
    case 'Unprocessable':
      return new StatusError(
        422,
        'Invalid',
        'the server rejected our request due to an error in our request',
        {},
      )
    default:
      return new UnknownStatusError(err.message)
  }
}

/** A Status with code 500 and no reason: what kube-apiserver answers for an error that is not a Status. */
export class UnknownStatusError extends StatusError {
  constructor(message: string) {
    super(500, 'InternalError', message)
  }
  override toStatus() {
    const s = super.toStatus()
    delete s.reason
    return s
  }
}

export interface StrategicMergePatchOptions {
  /** Strict and Warn decode the patch strictly (duplicate fields become strict errors). */
  fieldValidation?: string
  strictErrors?: string[]
}

/**
 * Applies a strategic merge patch body to a built-in object (not mutated) as kube-apiserver's smpPatcher
 * does: an undecodable body is 400 with encoding/json's message; a JSON null patches nothing.
 */
export function applyStrategicMergePatch(
  doc: unknown,
  patchBody: string,
  group: string,
  kind: string,
  options: StrategicMergePatchOptions = {},
): unknown {
  const strict = options.fieldValidation === 'Strict' || options.fieldValidation === 'Warn'
  const duplicates: string[] = []
  let patch: JsonValue
  try {
    patch = decodeGoJson(patchBody, strict ? { duplicates } : {})
  } catch (e) {
    if (e instanceof GoJsonSyntaxError) throw badRequest(e.message)
    throw e
  }
  if (patch !== null && !isObject(patch))
    throw badRequest(
      `json: cannot unmarshal ${jsonKind(patch)} into Go value of type map[string]interface {}`,
    )
  if (strict) options.strictErrors?.push(...duplicates)
  try {
    return strategicMergeMapPatch(doc, patch, group, kind)
  } catch (e) {
    if (e instanceof StrategicMergePatchError) throw strategicMergePatchStatus(e)
    throw e
  }
}

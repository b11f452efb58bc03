// application/json-patch+json: RFC 6902 as kube-apiserver applies it, through gopkg.in/evanphx/json-patch.v4
// (v4.12), including its leniencies (replace of a missing object key adds it, negative array indices count
// from the end, copy from a missing key copies null) and its byte-wise comparison in "test".
import { StatusError, badRequest } from '../../server/errors'
import { GoJsonSyntaxError, cloneJson, decodeGoJson, jsonKind, type JsonValue } from '../../go/json'
import { errorText } from '../../util/errors'

/** handlers/patch.go maxJSONPatchOperations. */
export const MAX_JSON_PATCH_OPERATIONS = 10000

/**
 * A leaf that came from the patch: it keeps the bytes the client sent, because evanphx/json-patch compares
 * scalars by their compacted JSON text ("1.0" is not 1, "\u0041" is not "A").
 */
class RawScalar {
  constructor(
    readonly raw: string,
    readonly value: JsonValue,
  ) {}
}

type Node = JsonValue | RawScalar | Node[] | { [k: string]: Node }
type Obj = { [k: string]: Node }

const isObj = (v: unknown): v is Obj =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawScalar)
const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k)
const setKey = (o: Obj, k: string, v: Node) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })

/** The evanphx/json-patch error text (github.com/pkg/errors wrapping: "context: cause"). */
export class JsonPatchError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'JsonPatchError'
  }
}

const errMissing = 'missing value'
const errInvalidIndex = 'invalid index referenced'
const errTestFailed = 'test failed'
const wrap = (cause: string, context: string) => new JsonPatchError(`${context}: ${cause}`)

// encoding/json's string encoding with HTML escaping (the encoder kube-apiserver serializes objects with;
// \b and \f as short escapes since Go 1.22).
function goEncodeString(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\b') out += '\\b'
    else if (ch === '\f') out += '\\f'
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029)
      out += `\\u${c.toString(16).padStart(4, '0')}`
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd'
    else out += ch
  }
  return `${out}"`
}

// lazyNode.compact() of a scalar: the client's bytes for patch values, Go's encoding for the object's own.
function scalarBytes(v: Node): string {
  if (v instanceof RawScalar) return v.raw
  if (typeof v === 'string') return goEncodeString(v)
  return String(v)
}

// lazyNode.equal(o): n is the document's value, o the patch's.
function lazyEqual(n: Node, o: Node): boolean {
  if (isObj(n)) {
    if (!isObj(o)) return false
    const keys = Object.keys(n)
    if (keys.length !== Object.keys(o).length) return false
    for (const k of keys) {
      if (!has(o, k)) return false
      const v = n[k]
      const ov = o[k]
      if ((v === null) !== (ov === null)) return false
      if (v === null) continue
      if (!lazyEqual(v, ov)) return false
    }
    return true
  }
  if (Array.isArray(n)) {
    if (!Array.isArray(o) || n.length !== o.length) return false
    return n.every((v, i) => (v === null || o[i] === null ? v === o[i] : lazyEqual(v, o[i])))
  }
  if (isObj(o) || Array.isArray(o) || o === null) return false
  return scalarBytes(n) === scalarBytes(o)
}

function unwrap(v: Node): JsonValue {
  if (v instanceof RawScalar) return v.value
  if (Array.isArray(v)) return v.map(unwrap)
  if (v !== null && typeof v === 'object') {
    const out: { [k: string]: JsonValue } = {}
    for (const [k, val] of Object.entries(v))
      Object.defineProperty(out, k, {
        value: unwrap(val),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    return out
  }
  return v
}

function copyNode(v: Node): Node {
  if (Array.isArray(v)) return v.map(copyNode)
  if (isObj(v)) {
    const out: Obj = {}
    for (const [k, val] of Object.entries(v)) setKey(out, k, copyNode(val))
    return out
  }
  return v
}

// strconv.Atoi.
function atoi(key: string): number {
  if (!/^[+-]?[0-9]+$/.test(key) || !Number.isSafeInteger(Number(key))) {
    throw new JsonPatchError(
      `strconv.Atoi: parsing ${JSON.stringify(key)}: ${/^[+-]?[0-9]+$/.test(key) ? 'value out of range' : 'invalid syntax'}`,
    )
  }
  return Number(key)
}

interface Container {
  get(key: string): Node | undefined
  set(key: string, val: Node): void
  add(key: string, val: Node): void
  remove(key: string): void
}

function docContainer(d: Obj): Container {
  return {
    get: (key) => (has(d, key) ? d[key] : undefined),
    set: (key, val) => setKey(d, key, val),
    add: (key, val) => setKey(d, key, val),
    remove: (key) => {
      if (!has(d, key)) throw wrap(errMissing, `Unable to remove nonexistent key: ${key}`)
      delete d[key]
    },
  }
}

function aryContainer(a: Node[]): Container {
  const invalid = (idx: number) => wrap(errInvalidIndex, `Unable to access invalid index: ${idx}`)
  const resolve = (idx: number, len: number) => {
    if (idx < 0) {
      if (idx < -len) throw invalid(idx)
      idx += len
    }
    return idx
  }
  return {
    get: (key) => {
      const idx = resolve(atoi(key), a.length)
      if (idx >= a.length) throw invalid(idx)
      return a[idx]
    },
    set: (key, val) => {
      a[resolve(atoi(key), a.length)] = val
    },
    add: (key, val) => {
      if (key === '-') {
        a.push(val)
        return
      }
      let idx: number
      try {
        idx = atoi(key)
      } catch (e) {
        if (e instanceof RangeError) throw e // stack exhaustion is not the patch's failure
        throw wrap(errorText(e), `value was not a proper array index: '${key}'`)
      }
      const size = a.length + 1
      if (idx >= size) throw invalid(idx)
      idx = resolve(idx, size)
      a.splice(idx, 0, val)
    },
    remove: (key) => {
      let idx = atoi(key)
      if (idx >= a.length) throw invalid(idx)
      idx = resolve(idx, a.length)
      a.splice(idx, 1)
    },
  }
}

function containerOf(v: Node | undefined): Container | undefined {
  if (Array.isArray(v)) return aryContainer(v)
  if (isObj(v)) return docContainer(v)
  return undefined
}

// RFC 6901 unescaping: ~1 then ~0.
const decodePatchKey = (k: string) => k.replace(/~1/g, '/').replace(/~0/g, '~')

// findObject: the container holding the last reference token, or undefined when the path does not resolve.
function findObject(
  root: { doc: Node },
  path: string,
): { con: Container; key: string } | undefined {
  const split = path.split('/')
  if (split.length < 2) return undefined
  let con = containerOf(root.doc)!
  for (const part of split.slice(1, -1)) {
    let next: Node | undefined
    try {
      next = con.get(decodePatchKey(part))
    } catch {
      return undefined
    }
    if (next === undefined || next === null) return undefined
    const c = containerOf(next)
    if (!c) return undefined
    con = c
  }
  return { con, key: decodePatchKey(split[split.length - 1]) }
}

/** One operation as decoded from the patch: a JSON object whose member values keep their raw text. */
type Operation = Map<string, Node> | null

function opString(
  op: Operation,
  field: string,
): { ok: true; value: string } | { ok: false; missing: boolean; err: string } {
  const v = op?.get(field)
  if (v === undefined || v === null) return { ok: false, missing: true, err: '' }
  const val = v instanceof RawScalar ? v.value : v
  if (typeof val === 'string') return { ok: true, value: val }
  return {
    ok: false,
    missing: false,
    err: `json: cannot unmarshal ${jsonKind(unwrap(v))} into Go value of type string`,
  }
}

function kind(op: Operation): string {
  const k = opString(op, 'op')
  return k.ok ? k.value : 'unknown'
}

// Path() and From(): the value, or the error the operation wraps.
function pathOf(op: Operation, field: 'path' | 'from'): string | { err: string } {
  const r = opString(op, field)
  if (r.ok) return r.value
  if (r.missing)
    return {
      err:
        field === 'path'
          ? `operation missing path field: ${errMissing}`
          : `operation, missing from field: ${errMissing}`,
    }
  return { err: r.err }
}

// op.value(): undefined without a "value" member (Go: a nil *lazyNode), null for "value": null.
const valueOf = (op: Operation): Node | undefined =>
  op?.has('value') ? op.get('value')! : undefined

function applyOperation(root: { doc: Node }, op: Operation): void {
  const k = kind(op)
  switch (k) {
    case 'add': {
      const path = pathOf(op, 'path')
      if (typeof path !== 'string') throw wrap(errMissing, 'add operation failed to decode path')
      const f = findObject(root, path)
      if (!f) throw wrap(errMissing, `add operation does not apply: doc is missing path: "${path}"`)
      try {
        f.con.add(f.key, copyNode(valueOf(op) ?? null))
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in add for path: '${path}'`)
      }
      return
    }
    case 'remove': {
      const path = pathOf(op, 'path')
      if (typeof path !== 'string') throw wrap(errMissing, 'remove operation failed to decode path')
      const f = findObject(root, path)
      if (!f)
        throw wrap(errMissing, `remove operation does not apply: doc is missing path: "${path}"`)
      try {
        f.con.remove(f.key)
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in remove for path: '${path}'`)
      }
      return
    }
    case 'replace': {
      const path = pathOf(op, 'path')
      if (typeof path !== 'string') throw wrap(path.err, 'replace operation failed to decode path')
      if (path === '') {
        // A value that is neither object nor array is wrapped around a nil error, which pkg/errors turns
        // into no error at all: the operation silently does nothing.
        const v = valueOf(op)
        if (isObj(v) || Array.isArray(v)) root.doc = copyNode(v)
        return
      }
      const f = findObject(root, path)
      if (!f)
        throw wrap(errMissing, `replace operation does not apply: doc is missing path: ${path}`)
      try {
        f.con.get(f.key)
      } catch {
        throw wrap(errMissing, `replace operation does not apply: doc is missing key: ${path}`)
      }
      try {
        f.con.set(f.key, copyNode(valueOf(op) ?? null))
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in remove for path: '${path}'`)
      }
      return
    }
    case 'move': {
      const from = pathOf(op, 'from')
      if (typeof from !== 'string') throw wrap(from.err, 'move operation failed to decode from')
      const src = findObject(root, from)
      if (!src)
        throw wrap(errMissing, `move operation does not apply: doc is missing from path: ${from}`)
      let val: Node | undefined
      try {
        val = src.con.get(src.key)
        src.con.remove(src.key)
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in move for path: '${src.key}'`)
      }
      const path = pathOf(op, 'path')
      if (typeof path !== 'string') throw wrap(path.err, 'move operation failed to decode path')
      const dst = findObject(root, path)
      if (!dst)
        throw wrap(
          errMissing,
          `move operation does not apply: doc is missing destination path: ${path}`,
        )
      try {
        dst.con.add(dst.key, val ?? null)
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in move for path: '${path}'`)
      }
      return
    }
    case 'test': {
      const path = pathOf(op, 'path')
      if (typeof path !== 'string') throw wrap(path.err, 'test operation failed to decode path')
      const want = valueOf(op) ?? null
      const failed = () => wrap(errTestFailed, `testing value ${path} failed`)
      if (path === '') {
        if (want === null || !lazyEqual(root.doc, want)) throw failed()
        return
      }
      const f = findObject(root, path)
      if (!f) throw wrap(errMissing, `test operation does not apply: is missing path: ${path}`)
      let val: Node | undefined
      try {
        val = f.con.get(f.key)
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in test for path: '${path}'`)
      }
      // A missing key and a null both read as a nil node, which only a null value matches.
      if (val === undefined || val === null) {
        if (want === null) return
        throw failed()
      }
      if (want === null || !lazyEqual(val, want)) throw failed()
      return
    }
    case 'copy': {
      const from = pathOf(op, 'from')
      if (typeof from !== 'string') throw wrap(from.err, 'copy operation failed to decode from')
      const src = findObject(root, from)
      if (!src)
        throw wrap(errMissing, `copy operation does not apply: doc is missing from path: ${from}`)
      let val: Node | undefined
      try {
        val = src.con.get(src.key)
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), `error in copy for from: '${from}'`)
      }
      const path = pathOf(op, 'path')
      if (typeof path !== 'string') throw wrap(errMissing, 'copy operation failed to decode path')
      const dst = findObject(root, path)
      if (!dst)
        throw wrap(
          errMissing,
          `copy operation does not apply: doc is missing destination path: ${path}`,
        )
      try {
        dst.con.add(dst.key, val === undefined ? null : copyNode(val))
      } catch (e) {
        if (e instanceof RangeError) throw e
        throw wrap(errorText(e), 'error while adding value during copy')
      }
      return
    }
    default:
      throw new JsonPatchError(`Unexpected kind: ${k}`)
  }
}

/** Decoded operations with each member's raw text kept, as []map[string]*json.RawMessage. */
function decodeOperations(body: string): Operation[] {
  let parsed: Node
  try {
    parsed = decodeGoJson(body, { leaf: (raw, value) => new RawScalar(raw, value) }) as Node
  } catch (e) {
    if (e instanceof GoJsonSyntaxError) throw badRequest(e.message)
    throw e
  }
  if (parsed === null) return []
  if (!Array.isArray(parsed))
    throw badRequest(
      `json: cannot unmarshal ${jsonKind(unwrap(parsed))} into Go value of type jsonpatch.Patch`,
    )
  const bad = parsed.find((op) => op !== null && !isObj(op))
  if (bad !== undefined)
    throw badRequest(
      `json: cannot unmarshal ${jsonKind(unwrap(bad))} into Go value of type jsonpatch.Operation`,
    )
  return parsed.map((op) => (op === null ? null : new Map(Object.entries(op as Obj))))
}

/**
 * The Status kube-apiserver answers a failed application with: NewGenericServerResponse(422, ...), whose
 * message is generic; evanphx/json-patch's own text is kept in `detail` for logs and tests.
 */
export class JsonPatchApplyError extends StatusError {
  constructor(readonly detail: string) {
    super(422, 'Invalid', 'the server rejected our request due to an error in our request', {})
  }
}

export interface JsonPatchOptions {
  /** metav1.FieldValidation: Strict and Warn decode the patch strictly first, prefixing errors "error decoding patch: ". */
  fieldValidation?: string
}

// The strict pre-decode into []handlers.jsonPatchOp (op, path, from: string; value: interface{}).
function strictCheck(body: string): void {
  const fail = (m: string): never => {
    throw badRequest(`error decoding patch: ${m}`)
  }
  let parsed: JsonValue
  try {
    parsed = decodeGoJson(body)
  } catch (e) {
    if (e instanceof GoJsonSyntaxError) return fail(e.message)
    throw e
  }
  if (parsed === null) return
  if (!Array.isArray(parsed))
    return fail(
      `json: cannot unmarshal ${jsonKind(parsed)} into Go value of type []handlers.jsonPatchOp`,
    )
  for (const op of parsed) {
    if (op === null) continue
    if (typeof op !== 'object' || Array.isArray(op))
      return fail(
        `json: cannot unmarshal ${jsonKind(op)} into Go value of type handlers.jsonPatchOp`,
      )
    for (const f of ['op', 'path', 'from']) {
      const v = op[f]
      if (v !== undefined && v !== null && typeof v !== 'string') {
        return fail(
          `json: cannot unmarshal ${jsonKind(v)} into Go struct field jsonPatchOp.${f} of type string`,
        )
      }
    }
  }
}

/**
 * Applies an RFC 6902 patch body to a document (not mutated) the way kube-apiserver does:
 * malformed JSON is 400 BadRequest with encoding/json's message, more than 10000 operations 413, and
 * any operation that fails 422 with the generic message (JsonPatchApplyError, evanphx text in detail).
 */
export function applyJsonPatch(
  doc: unknown,
  patchBody: string,
  options: JsonPatchOptions = {},
): unknown {
  if (options.fieldValidation === 'Strict' || options.fieldValidation === 'Warn')
    strictCheck(patchBody)
  const ops = decodeOperations(patchBody)
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new StatusError(
      413,
      'RequestEntityTooLarge',
      `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`,
    )
  }
  const root = { doc: cloneJson(doc) as Node }
  try {
    for (const op of ops) applyOperation(root, op)
  } catch (e) {
    if (e instanceof JsonPatchError) throw new JsonPatchApplyError(e.message)
    throw e
  }
  return unwrap(root.doc)
}

/**
 * Applies already-decoded operations (for callers that build patches themselves), throwing JsonPatchError
 * with evanphx/json-patch's text on the first failing operation.
 */
export function applyJsonPatchOperations(
  doc: unknown,
  ops: Array<Record<string, unknown> | null>,
): unknown {
  const root = { doc: cloneJson(doc) as Node }
  for (const op of ops) {
    const m: Operation =
      op === null ? null : new Map(Object.entries(op).map(([k, v]) => [k, toNode(v as JsonValue)]))
    applyOperation(root, m)
  }
  return unwrap(root.doc)
}

// Values given as JS data compare by Go's encoding of them, like values marshalled by a Go client.
function toNode(v: JsonValue): Node {
  if (v === null) return null
  if (Array.isArray(v)) return v.map(toNode)
  if (typeof v === 'object') {
    const out: Obj = {}
    for (const [k, val] of Object.entries(v)) setKey(out, k, toNode(val))
    return out
  }
  return new RawScalar(scalarBytes(v), v)
}

// The OpenAPI documents kube-apiserver serves: /openapi/v3/<api|apis/group>/<version> (one per served
// group-version) and the /openapi/v2 swagger document, built from the registry's resource types and the
// schemas they publish (publishedSchema). kubectl reads them to find out whether a kind's PATCH takes the
// fieldValidation parameter (query_param_verifier_v3.go), for `kubectl explain`, and for client-side
// strategic merge patches.
import type { Registry } from '../../registry/registry'
import { refName, type JSONSchema, type TypeSchema } from '../../registry/schema/types'
import type { ResourceType } from '../../registry/types'
import { supportedPatchTypes } from '../patch'
import { publishedSchema } from './schema'

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1'
const SCALE = 'io.k8s.api.autoscaling.v1.Scale'
const OBJECT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']
const LIST_TYPES = [...OBJECT_TYPES, 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch']
const WATCH_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch']
export const KUBERNETES_VERSION = 'v1.32.0'

interface Param { name: string; in: 'query' | 'path'; description: string; required?: boolean; type: 'string' | 'integer' | 'boolean' }

// Query parameters, described in this server's words.
const Q: Record<string, Param> = {
  pretty: { name: 'pretty', in: 'query', type: 'string', description: "If 'true', the output is indented." },
  dryRun: { name: 'dryRun', in: 'query', type: 'string', description: 'When present, the request is checked and answered as if it succeeded but nothing is stored. The only valid value is All.' },
  fieldManager: { name: 'fieldManager', in: 'query', type: 'string', description: 'The name of the actor making the change, recorded in managedFields. Required for apply patches; at most 128 printable characters.' },
  fieldValidation: { name: 'fieldValidation', in: 'query', type: 'string', description: 'What to do with unknown or duplicate fields in the body: Ignore drops them silently, Warn drops them and returns a Warning header for each, Strict fails the request. Defaults to Warn.' },
  force: { name: 'force', in: 'query', type: 'boolean', description: 'Apply patches only: take ownership of fields other managers own instead of failing with a conflict.' },
  allowWatchBookmarks: { name: 'allowWatchBookmarks', in: 'query', type: 'boolean', description: 'Ask a watch for BOOKMARK events carrying the latest resourceVersion.' },
  continue: { name: 'continue', in: 'query', type: 'string', description: 'The continue token of the previous page of a paginated list.' },
  fieldSelector: { name: 'fieldSelector', in: 'query', type: 'string', description: 'Only return objects whose fields match, e.g. metadata.name=foo.' },
  labelSelector: { name: 'labelSelector', in: 'query', type: 'string', description: 'Only return objects whose labels match.' },
  limit: { name: 'limit', in: 'query', type: 'integer', description: 'Return at most this many objects and a continue token for the rest.' },
  resourceVersion: { name: 'resourceVersion', in: 'query', type: 'string', description: 'How fresh the answer must be; see resourceVersionMatch.' },
  resourceVersionMatch: { name: 'resourceVersionMatch', in: 'query', type: 'string', description: 'How resourceVersion applies to a list: Exact or NotOlderThan.' },
  sendInitialEvents: { name: 'sendInitialEvents', in: 'query', type: 'boolean', description: 'Start a watch with ADDED events for the current state, then a bookmark.' },
  timeoutSeconds: { name: 'timeoutSeconds', in: 'query', type: 'integer', description: 'End the list or watch after this many seconds.' },
  watch: { name: 'watch', in: 'query', type: 'boolean', description: 'Stream changes instead of returning a list.' },
  gracePeriodSeconds: { name: 'gracePeriodSeconds', in: 'query', type: 'integer', description: 'Seconds to wait before the object is deleted; 0 deletes immediately.' },
  orphanDependents: { name: 'orphanDependents', in: 'query', type: 'boolean', description: 'Deprecated: use propagationPolicy.' },
  propagationPolicy: { name: 'propagationPolicy', in: 'query', type: 'string', description: 'Whether and how dependents are deleted: Orphan, Background or Foreground.' },
  ignoreStoreReadErrorWithClusterBreakingPotential: { name: 'ignoreStoreReadErrorWithClusterBreakingPotential', in: 'query', type: 'boolean', description: 'Delete an object that cannot be read from storage. Dangerous.' },
}
const NAME = (kind: string): Param => ({ name: 'name', in: 'path', required: true, type: 'string', description: `name of the ${kind}` })
const NAMESPACE: Param = { name: 'namespace', in: 'path', required: true, type: 'string', description: 'object name and auth scope, such as for teams and projects' }
const LIST_PARAMS = ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds', 'watch'].map((n) => Q[n])
const WRITE_PARAMS = [Q.dryRun, Q.fieldManager, Q.fieldValidation]
const DELETE_PARAMS = [Q.dryRun, Q.gracePeriodSeconds, Q.ignoreStoreReadErrorWithClusterBreakingPotential, Q.orphanDependents, Q.propagationPolicy]

type Flavor = 'v3' | 'v2'
type GVK = { group: string; version: string; kind: string }

interface Operation {
  verb: 'get' | 'put' | 'post' | 'patch' | 'delete'
  action: string
  id: string
  description: string
  params: Param[]
  body?: { schema: string; types: string[] }
  responses: Record<string, { schema: string; description: string }>
  produces: string[]
  gvk: GVK
}

interface PathItem { params: Param[]; ops: Operation[] }

function camel(group: string): string {
  if (!group) return 'Core'
  return group.replace(/\.k8s\.io$/, '').split('.').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')
}
function tag(group: string, version: string): string {
  const g = camel(group)
  return `${g.charAt(0).toLowerCase()}${g.slice(1)}_${version}`
}
function prefix(t: { group: string; version: string }): string {
  return t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`
}

/** The definition names a type's paths refer to: its own schema and list, or Status-less placeholders for schemaless kinds. */
interface TypeNames { object: string; list: string; schema?: TypeSchema }
function typeNames(t: ResourceType): TypeNames {
  const schema = publishedSchema(t)
  const object = schema?.name ?? `${t.group || 'core'}.${t.version}.${t.kind}`
  return { object, list: listName(object, t), schema }
}
function listName(object: string, t: ResourceType): string {
  return object.endsWith(t.kind) ? object.slice(0, -t.kind.length) + t.listKind : `${object}List`
}

function pathsFor(t: ResourceType, names: TypeNames): Map<string, PathItem> {
  const out = new Map<string, PathItem>()
  const gvk: GVK = { group: t.group, version: t.version, kind: t.kind }
  const G = camel(t.group) + t.version.charAt(0).toUpperCase() + t.version.slice(1)
  const base = prefix(t)
  const ns = t.namespaced ? 'Namespaced' : ''
  const collection = t.namespaced ? `${base}/namespaces/{namespace}/${t.resource}` : `${base}/${t.resource}`
  const scopeParams = t.namespaced ? [NAMESPACE] : []
  const can = (v: string) => t.verbs.includes(v)
  const patchTypes = supportedPatchTypes(!t.custom)
  const objectResponses = (created = false) => {
    const r: Record<string, { schema: string; description: string }> = { '200': { schema: names.object, description: 'OK' } }
    if (created) {
      r['201'] = { schema: names.object, description: 'Created' }
      r['202'] = { schema: names.object, description: 'Accepted' }
    }
    return r
  }
  const add = (path: string, params: Param[], op: Operation) => {
    const item = out.get(path) ?? { params, ops: [] }
    item.ops.push(op)
    out.set(path, item)
  }

  if (t.virtualCreate) {
    add(`${collection}`, scopeParams, {
      verb: 'post', action: 'post', id: `create${G}${ns}${t.kind}`, description: `create a ${t.kind}`, gvk,
      params: [...WRITE_PARAMS, Q.pretty], body: { schema: names.object, types: ['*/*'] }, responses: objectResponses(true), produces: OBJECT_TYPES,
    })
    return out
  }
  const collectionParams = [...scopeParams, Q.pretty]
  if (can('list')) add(collection, collectionParams, { verb: 'get', action: 'list', id: `list${G}${ns}${t.kind}`, description: `list or watch objects of kind ${t.kind}`, gvk, params: LIST_PARAMS, responses: { '200': { schema: names.list, description: 'OK' } }, produces: LIST_TYPES })
  if (can('create')) add(collection, collectionParams, { verb: 'post', action: 'post', id: `create${G}${ns}${t.kind}`, description: `create a ${t.kind}`, gvk, params: WRITE_PARAMS, body: { schema: names.object, types: ['*/*'] }, responses: objectResponses(true), produces: OBJECT_TYPES })
  if (can('deletecollection')) add(collection, collectionParams, { verb: 'delete', action: 'deletecollection', id: `deleteCollection${G}${ns}${t.kind}`, description: `delete collection of ${t.kind}`, gvk, params: [...LIST_PARAMS.filter((p) => p.name !== 'watch' && p.name !== 'allowWatchBookmarks'), ...DELETE_PARAMS].sort((a, b) => a.name.localeCompare(b.name)), body: { schema: `${META}.DeleteOptions`, types: ['*/*'] }, responses: { '200': { schema: `${META}.Status`, description: 'OK' } }, produces: OBJECT_TYPES })
  if (t.namespaced && can('list')) add(`${base}/${t.resource}`, [Q.pretty], { verb: 'get', action: 'list', id: `list${G}${t.kind}ForAllNamespaces`, description: `list or watch objects of kind ${t.kind}`, gvk, params: LIST_PARAMS, responses: { '200': { schema: names.list, description: 'OK' } }, produces: LIST_TYPES })

  const item = `${collection}/{name}`
  const itemParams = [NAME(t.kind), ...scopeParams, Q.pretty]
  const itemOps = (path: string, sub: string, schema: string, opGVK: GVK) => {
    const S = sub ? sub.charAt(0).toUpperCase() + sub.slice(1) : ''
    const what = sub ? `${sub} of the specified ${t.kind}` : `the specified ${t.kind}`
    const responses = { '200': { schema, description: 'OK' } }
    if (sub || can('get')) add(path, itemParams, { verb: 'get', action: 'get', id: `read${G}${ns}${t.kind}${S}`, description: `read ${what}`, gvk: opGVK, params: [], responses, produces: OBJECT_TYPES })
    if (sub || can('update')) add(path, itemParams, { verb: 'put', action: 'put', id: `replace${G}${ns}${t.kind}${S}`, description: `replace ${what}`, gvk: opGVK, params: WRITE_PARAMS, body: { schema, types: ['*/*'] }, responses: { ...responses, '201': { schema, description: 'Created' } }, produces: OBJECT_TYPES })
    if (sub || can('patch')) add(path, itemParams, { verb: 'patch', action: 'patch', id: `patch${G}${ns}${t.kind}${S}`, description: `partially update ${what}`, gvk: opGVK, params: [...WRITE_PARAMS, Q.force], body: { schema: `${META}.Patch`, types: patchTypes }, responses: { ...responses, '201': { schema, description: 'Created' } }, produces: OBJECT_TYPES })
  }
  itemOps(item, '', names.object, gvk)
  if (can('delete')) add(item, itemParams, { verb: 'delete', action: 'delete', id: `delete${G}${ns}${t.kind}`, description: `delete a ${t.kind}`, gvk, params: DELETE_PARAMS, body: { schema: `${META}.DeleteOptions`, types: ['*/*'] }, responses: { '200': { schema: t.returnDeletedObject ? names.object : `${META}.Status`, description: 'OK' }, '202': { schema: t.returnDeletedObject ? names.object : `${META}.Status`, description: 'Accepted' } }, produces: OBJECT_TYPES })
  if (t.subresources?.status) itemOps(`${item}/status`, 'status', names.object, gvk)
  if (t.subresources?.scale) itemOps(`${item}/scale`, 'scale', SCALE, { group: 'autoscaling', version: 'v1', kind: 'Scale' })
  for (const sub of Object.keys(t.subresources?.updates ?? {})) itemOps(`${item}/${sub}`, sub, names.object, gvk)
  for (const [sub, cs] of Object.entries(t.createSubresources ?? {})) {
    const csGVK = { group: cs.group, version: cs.version, kind: cs.kind }
    const schema = `io.k8s.api.${cs.group ? cs.group.split('.')[0] : 'core'}.${cs.version}.${cs.kind}`
    add(`${item}/${sub}`, itemParams, { verb: 'post', action: 'post', id: `create${G}${ns}${t.kind}${sub.charAt(0).toUpperCase() + sub.slice(1)}`, description: `create ${sub} of a ${t.kind}`, gvk: csGVK, params: WRITE_PARAMS, body: { schema, types: ['*/*'] }, responses: { '200': { schema, description: 'OK' }, '201': { schema, description: 'Created' }, '202': { schema, description: 'Accepted' } }, produces: OBJECT_TYPES })
  }
  if (can('watch')) {
    const wbase = t.namespaced ? `${base}/watch/namespaces/{namespace}/${t.resource}` : `${base}/watch/${t.resource}`
    const watchEvent = { '200': { schema: `${META}.WatchEvent`, description: 'OK' } }
    add(wbase, collectionParams, { verb: 'get', action: 'watchlist', id: `watch${G}${ns}${t.kind}List`, description: `watch individual changes to a list of ${t.kind}. deprecated: use the 'watch' parameter with a list operation instead.`, gvk, params: LIST_PARAMS, responses: watchEvent, produces: WATCH_TYPES })
    add(`${wbase}/{name}`, itemParams, { verb: 'get', action: 'watch', id: `watch${G}${ns}${t.kind}`, description: `watch changes to an object of kind ${t.kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.`, gvk, params: LIST_PARAMS, responses: watchEvent, produces: WATCH_TYPES })
    if (t.namespaced) add(`${base}/watch/${t.resource}`, [Q.pretty], { verb: 'get', action: 'watchlist', id: `watch${G}${t.kind}ListForAllNamespaces`, description: `watch individual changes to a list of ${t.kind}. deprecated: use the 'watch' parameter with a list operation instead.`, gvk, params: LIST_PARAMS, responses: watchEvent, produces: WATCH_TYPES })
  }
  return out
}

// kube-openapi publishes these as oneOf in v3 (OpenAPIV3OneOfTypes) and as strings in v2; kubectl explain
// then names them (<map[string]Quantity>, <IntOrString>) instead of calling them strings.
const V3_ONE_OF: Record<string, JSONSchema> = {
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
}

function refTo(name: string, flavor: Flavor): string {
  return flavor === 'v3' ? `#/components/schemas/${name}` : `#/definitions/${name}`
}

/** A definition as published: references in the document's form, a described reference wrapped in allOf for v3. */
function publish(s: JSONSchema, flavor: Flavor): JSONSchema {
  const out: JSONSchema = {}
  for (const [k, v] of Object.entries(s) as [keyof JSONSchema, unknown][]) {
    if (k === '$ref') continue
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as Record<string, JSONSchema>).map(([f, p]) => [f, publish(p, flavor)]))
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) (out as Record<string, unknown>)[k] = publish(v as JSONSchema, flavor)
    else if (k === 'allOf') out.allOf = (v as JSONSchema[]).map((x) => publish(x, flavor))
    else (out as Record<string, unknown>)[k] = v
  }
  if (s.$ref) {
    const ref = refTo(refName(s.$ref), flavor)
    if (flavor === 'v3' && Object.keys(out).length) return { allOf: [{ $ref: ref }], ...out }
    return { $ref: ref, ...out }
  }
  return out
}

function collectRefs(s: JSONSchema | undefined, into: Set<string>, defs: Readonly<Record<string, JSONSchema>>): void {
  if (!s) return
  if (s.$ref) {
    const name = refName(s.$ref)
    if (!into.has(name) && defs[name]) {
      into.add(name)
      collectRefs(defs[name], into, defs)
    }
  }
  for (const p of Object.values(s.properties ?? {})) collectRefs(p, into, defs)
  if (s.items) collectRefs(s.items, into, defs)
  if (s.additionalProperties && typeof s.additionalProperties === 'object') collectRefs(s.additionalProperties, into, defs)
  for (const a of s.allOf ?? []) collectRefs(a, into, defs)
}

interface Built { paths: Map<string, PathItem>; schemas: Record<string, JSONSchema> }

function build(types: readonly ResourceType[], flavor: Flavor): Built {
  const paths = new Map<string, PathItem>()
  const gvks = new Map<string, GVK[]>()
  const named = new Map<string, { schema: JSONSchema; defs: Readonly<Record<string, JSONSchema>> }>()
  const gvRoots = new Set<string>()
  for (const t of types) {
    const names = typeNames(t)
    for (const [p, item] of pathsFor(t, names)) {
      const existing = paths.get(p)
      if (existing) existing.ops.push(...item.ops)
      else paths.set(p, item)
    }
    const addGVK = (name: string, gvk: GVK) => {
      const list = gvks.get(name) ?? []
      if (!list.some((x) => x.group === gvk.group && x.version === gvk.version && x.kind === gvk.kind)) list.push(gvk)
      gvks.set(name, list)
    }
    const objectSchema: JSONSchema = names.schema?.definitions[names.schema.name] ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
    const defs = names.schema?.definitions ?? {}
    named.set(names.object, { schema: objectSchema, defs })
    named.set(names.list, {
      defs,
      schema: {
        type: 'object', description: `A list of ${t.kind} objects.`, required: ['items'],
        properties: {
          apiVersion: { type: 'string', description: 'The versioned schema of this list.' },
          items: { type: 'array', description: `The ${t.kind} objects.`, items: { $ref: names.object } },
          kind: { type: 'string', description: 'The list type.' },
          metadata: { $ref: `${META}.ListMeta`, description: 'Where the list was read (resourceVersion) and how to read its next page (continue).' },
        },
      },
    })
    addGVK(names.object, { group: t.group, version: t.version, kind: t.kind })
    addGVK(names.list, { group: t.group, version: t.version, kind: t.listKind })
    gvRoots.add(names.object)
    gvRoots.add(names.list)
  }
  // Everything the paths name, and everything those reach.
  const builtin = types.map((t) => publishedSchema(t)).find((s) => s && !s.definitions[s.name]?.['x-kubernetes-preserve-unknown-fields'])?.definitions
  const wanted = new Set<string>([`${META}.Status`, `${META}.DeleteOptions`, `${META}.Patch`, `${META}.WatchEvent`, `${META}.APIResourceList`, `${META}.ListMeta`])
  for (const item of paths.values()) for (const op of item.ops) {
    if (op.body) wanted.add(op.body.schema)
    for (const r of Object.values(op.responses)) wanted.add(r.schema)
  }
  const schemas: Record<string, JSONSchema> = {}
  const lookup = (name: string): { schema: JSONSchema; defs: Readonly<Record<string, JSONSchema>> } | undefined => {
    const n = named.get(name)
    if (n) return n
    for (const t of types) {
      const s = publishedSchema(t)
      if (s?.definitions[name]) return { schema: s.definitions[name], defs: s.definitions }
    }
    return builtin?.[name] ? { schema: builtin[name], defs: builtin } : undefined
  }
  const queue = [...wanted, ...gvRoots]
  const done = new Set<string>()
  while (queue.length) {
    const name = queue.shift()!
    if (done.has(name)) continue
    done.add(name)
    const found = lookup(name)
    if (!found) continue
    const reached = new Set<string>()
    collectRefs(found.schema, reached, found.defs)
    for (const r of reached) if (!done.has(r)) queue.push(r)
    const published = flavor === 'v3' && V3_ONE_OF[name] ? { ...V3_ONE_OF[name], ...(found.schema.description ? { description: found.schema.description } : {}) } : publish(found.schema, flavor)
    const gvk = gvks.get(name)
    if (gvk) published['x-kubernetes-group-version-kind'] = gvk
    schemas[name] = published
  }
  return { paths, schemas: Object.fromEntries(Object.keys(schemas).sort().map((k) => [k, schemas[k]])) }
}

function paramV3(p: Param): Record<string, unknown> {
  const out: Record<string, unknown> = { name: p.name, in: p.in, description: p.description }
  if (p.required) out.required = true
  out.schema = p.type === 'string' && p.in === 'query' ? { type: 'string', uniqueItems: true } : { type: p.type, uniqueItems: true }
  return out
}
function paramV2(p: Param): Record<string, unknown> {
  const out: Record<string, unknown> = { uniqueItems: true, type: p.type, description: p.description, name: p.name, in: p.in }
  if (p.required) out.required = true
  return out
}

function sortedPaths(paths: Map<string, PathItem>): [string, PathItem][] {
  return [...paths].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The OpenAPI v3 document of one group-version, or undefined when nothing is served there. */
export function openapiV3Document(registry: Registry, group: string, version: string): Record<string, unknown> | undefined {
  const types = registry.all().filter((t) => t.group === group && t.version === version)
  if (!types.length) return undefined
  const { paths, schemas } = build(types, 'v3')
  const gvPath = `${prefix({ group, version })}/`
  const outPaths: Record<string, unknown> = {
    [gvPath]: {
      get: {
        tags: [tag(group, version)], description: 'get available resources', operationId: `get${camel(group)}${version.charAt(0).toUpperCase() + version.slice(1)}APIResources`,
        responses: { '200': { description: 'OK', content: Object.fromEntries(['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'].map((c) => [c, { schema: { $ref: refTo(`${META}.APIResourceList`, 'v3') } }])) }, '401': { description: 'Unauthorized' } },
      },
    },
  }
  for (const [path, item] of sortedPaths(paths)) {
    const pi: Record<string, unknown> = {}
    for (const op of item.ops) {
      const o: Record<string, unknown> = { tags: [tag(group, version)], description: op.description, operationId: op.id }
      if (op.params.length) o.parameters = op.params.map(paramV3)
      if (op.body) o.requestBody = { content: Object.fromEntries(op.body.types.map((c) => [c, { schema: { $ref: refTo(op.body!.schema, 'v3') } }])), required: true }
      o.responses = {
        ...Object.fromEntries(Object.entries(op.responses).map(([code, r]) => [code, { description: r.description, content: Object.fromEntries(op.produces.map((c) => [c, { schema: { $ref: refTo(r.schema, 'v3') } }])) }])),
        '401': { description: 'Unauthorized' },
      }
      o['x-kubernetes-action'] = op.action
      o['x-kubernetes-group-version-kind'] = op.gvk
      pi[op.verb] = o
    }
    pi.parameters = item.params.map(paramV3)
    outPaths[path] = pi
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: KUBERNETES_VERSION },
    paths: outPaths,
    components: { schemas, securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } } },
    security: [{ BearerToken: [] }],
  }
}

/** The swagger 2.0 document of everything served (/openapi/v2). */
export function openapiV2Document(registry: Registry): Record<string, unknown> {
  const { paths, schemas } = build(registry.all(), 'v2')
  const outPaths: Record<string, unknown> = {}
  for (const [path, item] of sortedPaths(paths)) {
    const pi: Record<string, unknown> = {}
    for (const op of item.ops) {
      const o: Record<string, unknown> = { description: op.description, consumes: op.body?.types ?? ['*/*'], produces: op.produces, schemes: ['https'], tags: [tagOfPath(path)], operationId: op.id }
      const params = op.params.map(paramV2)
      if (op.body) params.unshift({ name: 'body', in: 'body', required: true, schema: { $ref: refTo(op.body.schema, 'v2') } })
      if (params.length) o.parameters = params
      o.responses = { ...Object.fromEntries(Object.entries(op.responses).map(([code, r]) => [code, { description: r.description, schema: { $ref: refTo(r.schema, 'v2') } }])), '401': { description: 'Unauthorized' } }
      o['x-kubernetes-action'] = op.action
      o['x-kubernetes-group-version-kind'] = op.gvk
      pi[op.verb] = o
    }
    pi.parameters = item.params.map(paramV2)
    outPaths[path] = pi
  }
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: KUBERNETES_VERSION },
    paths: outPaths,
    definitions: schemas,
    securityDefinitions: { BearerToken: { description: 'Bearer Token authentication', type: 'apiKey', name: 'authorization', in: 'header' } },
    security: [{ BearerToken: [] }],
  }
}

function tagOfPath(path: string): string {
  const m = /^\/apis\/([^/]+)\/([^/]+)/.exec(path) ?? /^\/api\/()([^/]+)/.exec(path)
  return m ? tag(m[1], m[2]) : ''
}

/** The served group-versions as the v3 root names them: "api/v1", "apis/apps/v1". */
export function openapiV3Paths(registry: Registry): { path: string; group: string; version: string }[] {
  const out: { path: string; group: string; version: string }[] = []
  for (const { group, versions } of registry.groupVersions()) {
    for (const version of versions) out.push({ path: group ? `apis/${group}/${version}` : `api/${version}`, group, version })
  }
  return out
}

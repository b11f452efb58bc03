// The OpenAPI documents kube-apiserver serves: /openapi/v3/<api|apis/group>/<version> (one per served
// group-version) and the /openapi/v2 swagger document, built from the registry's resource types and the
// schemas they publish (publishedSchema). kubectl reads them to find out whether a kind's PATCH takes the
// fieldValidation parameter (query_param_verifier_v3.go), for `kubectl explain`, and for client-side
// strategic merge patches.
import type { Registry } from '../../registry/registry'
import { builtinDescription } from '../../registry/schema/builtin'
import { refName, type JSONSchema, type TypeSchema } from '../../registry/schema/types'
import type { ResourceType } from '../../registry/types'
import { supportedPatchTypes } from '../patch'
import { publishedSchema } from './schema'

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1'
const SCALE = 'io.k8s.api.autoscaling.v1.Scale'
const OBJECT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']
const LIST_TYPES = [
  ...OBJECT_TYPES,
  'application/json;stream=watch',
  'application/vnd.kubernetes.protobuf;stream=watch',
]
const WATCH_TYPES = [
  'application/json',
  'application/yaml',
  'application/vnd.kubernetes.protobuf',
  'application/json;stream=watch',
  'application/vnd.kubernetes.protobuf;stream=watch',
]
export const KUBERNETES_VERSION = 'v1.32.0'

interface Param {
  name: string
  in: 'query' | 'path'
  description: string
  required?: boolean
  type: 'string' | 'integer' | 'boolean'
}

// Query parameters in kube's words: kube-openapi describes each with the doc comment of its field in
// ListOptions, CreateOptions, PatchOptions or DeleteOptions (the "parameters" of kube's swagger.json).
const DRY_RUN =
  'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed'
const FIELD_MANAGER =
  'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.'
const Q: Record<string, Param> = {
  pretty: {
    name: 'pretty',
    in: 'query',
    type: 'string',
    description:
      "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
  },
  dryRun: { name: 'dryRun', in: 'query', type: 'string', description: DRY_RUN },
  fieldManager: { name: 'fieldManager', in: 'query', type: 'string', description: FIELD_MANAGER },
  patchFieldManager: {
    name: 'fieldManager',
    in: 'query',
    type: 'string',
    description: `${FIELD_MANAGER} This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).`,
  },
  fieldValidation: {
    name: 'fieldValidation',
    in: 'query',
    type: 'string',
    description:
      'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.',
  },
  force: {
    name: 'force',
    in: 'query',
    type: 'boolean',
    description:
      'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.',
  },
  allowWatchBookmarks: {
    name: 'allowWatchBookmarks',
    in: 'query',
    type: 'boolean',
    description:
      'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server\'s discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.',
  },
  continue: {
    name: 'continue',
    in: 'query',
    type: 'string',
    description:
      'The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token. If the client needs a consistent list, it must restart their list without the continue field. Otherwise, the client may send another list request with the token received with the 410 error, the server will respond with a list starting from the next key, but from the latest snapshot, which is inconsistent from the previous list results - objects that are created, modified, or deleted after the first list request will be included in the response, as long as their keys are after the "next key".\n\nThis field is not supported when watch is true. Clients may start a watch from the last resourceVersion value returned by the server and not miss any modifications.',
  },
  fieldSelector: {
    name: 'fieldSelector',
    in: 'query',
    type: 'string',
    description:
      'A selector to restrict the list of returned objects by their fields. Defaults to everything.',
  },
  labelSelector: {
    name: 'labelSelector',
    in: 'query',
    type: 'string',
    description:
      'A selector to restrict the list of returned objects by their labels. Defaults to everything.',
  },
  limit: {
    name: 'limit',
    in: 'query',
    type: 'integer',
    description:
      'limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. Setting a limit may return fewer than the requested amount of items (up to zero items) in the event all requested objects are filtered out and clients should only use the presence of the continue field to determine whether more results are available. Servers may choose not to support the limit argument and will return all of the available results. If limit is specified and the continue field is empty, clients may assume that no more results are available. This field is not supported if watch is true.\n\nThe server guarantees that the objects returned when using continue will be identical to issuing a single list call without a limit - that is, no objects created, modified, or deleted after the first request is issued will be included in any subsequent continued requests. This is sometimes referred to as a consistent snapshot, and ensures that a client that is using limit to receive smaller chunks of a very large result can ensure they see all possible objects. If objects are updated during a chunked list the version of the object that was present at the time the first list result was calculated is returned.',
  },
  resourceVersion: {
    name: 'resourceVersion',
    in: 'query',
    type: 'string',
    description:
      'resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset',
  },
  resourceVersionMatch: {
    name: 'resourceVersionMatch',
    in: 'query',
    type: 'string',
    description:
      'resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset',
  },
  sendInitialEvents: {
    name: 'sendInitialEvents',
    in: 'query',
    type: 'boolean',
    description:
      '`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic "Bookmark" event  will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `"k8s.io/initial-events-end": "true"` annotation. Afterwards, the watch stream will proceed as usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched.\n\nWhen `sendInitialEvents` option is set, we require `resourceVersionMatch` option to also be set. The semantic of the watch request is as following: - `resourceVersionMatch` = NotOlderThan\n  is interpreted as "data at least as new as the provided `resourceVersion`"\n  and the bookmark event is send when the state is synced\n  to a `resourceVersion` at least as fresh as the one provided by the ListOptions.\n  If `resourceVersion` is unset, this is interpreted as "consistent read" and the\n  bookmark event is send when the state is synced at least to the moment\n  when request started being processed.\n- `resourceVersionMatch` set to any other value or unset\n  Invalid error is returned.\n\nDefaults to true if `resourceVersion=""` or `resourceVersion="0"` (for backward compatibility reasons) and to false otherwise.',
  },
  timeoutSeconds: {
    name: 'timeoutSeconds',
    in: 'query',
    type: 'integer',
    description:
      'Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.',
  },
  watch: {
    name: 'watch',
    in: 'query',
    type: 'boolean',
    description:
      'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.',
  },
  gracePeriodSeconds: {
    name: 'gracePeriodSeconds',
    in: 'query',
    type: 'integer',
    description:
      'The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.',
  },
  orphanDependents: {
    name: 'orphanDependents',
    in: 'query',
    type: 'boolean',
    description:
      'Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the "orphan" finalizer will be added to/removed from the object\'s finalizers list. Either this field or PropagationPolicy may be set, but not both.',
  },
  propagationPolicy: {
    name: 'propagationPolicy',
    in: 'query',
    type: 'string',
    description:
      "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
  },
  ignoreStoreReadErrorWithClusterBreakingPotential: {
    name: 'ignoreStoreReadErrorWithClusterBreakingPotential',
    in: 'query',
    type: 'boolean',
    description:
      'if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it',
  },
}
const NAME = (kind: string): Param => ({
  name: 'name',
  in: 'path',
  required: true,
  type: 'string',
  description: `name of the ${kind}`,
})
const NAMESPACE: Param = {
  name: 'namespace',
  in: 'path',
  required: true,
  type: 'string',
  description: 'object name and auth scope, such as for teams and projects',
}
const LIST_PARAMS = [
  'allowWatchBookmarks',
  'continue',
  'fieldSelector',
  'labelSelector',
  'limit',
  'resourceVersion',
  'resourceVersionMatch',
  'sendInitialEvents',
  'timeoutSeconds',
  'watch',
].map((n) => Q[n])
const WRITE_PARAMS = [Q.dryRun, Q.fieldManager, Q.fieldValidation]
const DELETE_PARAMS = [
  Q.dryRun,
  Q.gracePeriodSeconds,
  Q.ignoreStoreReadErrorWithClusterBreakingPotential,
  Q.orphanDependents,
  Q.propagationPolicy,
]

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

interface PathItem {
  params: Param[]
  ops: Operation[]
}

function camel(group: string): string {
  if (!group) return 'Core'
  return group
    .replace(/\.k8s\.io$/, '')
    .split('.')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('')
}
function tag(group: string, version: string): string {
  const g = camel(group)
  return `${g.charAt(0).toLowerCase()}${g.slice(1)}_${version}`
}
function prefix(t: { group: string; version: string }): string {
  return t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`
}

/** The definition names a type's paths refer to: its own schema and list, or Status-less placeholders for schemaless kinds. */
interface TypeNames {
  object: string
  list: string
  schema?: TypeSchema
}
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
  const collection = t.namespaced
    ? `${base}/namespaces/{namespace}/${t.resource}`
    : `${base}/${t.resource}`
  const scopeParams = t.namespaced ? [NAMESPACE] : []
  const can = (v: string) => t.verbs.includes(v)
  const patchTypes = supportedPatchTypes(!t.custom)
  const objectResponses = (created = false) => {
    const r: Record<string, { schema: string; description: string }> = {
      '200': { schema: names.object, description: 'OK' },
    }
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
      verb: 'post',
      action: 'post',
      id: `create${G}${ns}${t.kind}`,
      description: `create a ${t.kind}`,
      gvk,
      params: [...WRITE_PARAMS, Q.pretty],
      body: { schema: names.object, types: ['*/*'] },
      responses: objectResponses(true),
      produces: OBJECT_TYPES,
    })
    return out
  }
  const collectionParams = [...scopeParams, Q.pretty]
  if (can('list'))
    add(collection, collectionParams, {
      verb: 'get',
      action: 'list',
      id: `list${G}${ns}${t.kind}`,
      description: `list or watch objects of kind ${t.kind}`,
      gvk,
      params: LIST_PARAMS,
      responses: { '200': { schema: names.list, description: 'OK' } },
      produces: LIST_TYPES,
    })
  if (can('create'))
    add(collection, collectionParams, {
      verb: 'post',
      action: 'post',
      id: `create${G}${ns}${t.kind}`,
      description: `create a ${t.kind}`,
      gvk,
      params: WRITE_PARAMS,
      body: { schema: names.object, types: ['*/*'] },
      responses: objectResponses(true),
      produces: OBJECT_TYPES,
    })
  if (can('deletecollection'))
    add(collection, collectionParams, {
      verb: 'delete',
      action: 'deletecollection',
      id: `deleteCollection${G}${ns}${t.kind}`,
      description: `delete collection of ${t.kind}`,
      gvk,
      params: [
        ...LIST_PARAMS.filter((p) => p.name !== 'watch' && p.name !== 'allowWatchBookmarks'),
        ...DELETE_PARAMS,
      ].sort((a, b) => a.name.localeCompare(b.name)),
      body: { schema: `${META}.DeleteOptions`, types: ['*/*'] },
      responses: { '200': { schema: `${META}.Status`, description: 'OK' } },
      produces: OBJECT_TYPES,
    })
  if (t.namespaced && can('list'))
    add(`${base}/${t.resource}`, [Q.pretty], {
      verb: 'get',
      action: 'list',
      id: `list${G}${t.kind}ForAllNamespaces`,
      description: `list or watch objects of kind ${t.kind}`,
      gvk,
      params: LIST_PARAMS,
      responses: { '200': { schema: names.list, description: 'OK' } },
      produces: LIST_TYPES,
    })

  const item = `${collection}/{name}`
  const itemParams = [NAME(t.kind), ...scopeParams, Q.pretty]
  const itemOps = (path: string, sub: string, schema: string, opGVK: GVK) => {
    const S = sub ? sub.charAt(0).toUpperCase() + sub.slice(1) : ''
    const what = sub ? `${sub} of the specified ${t.kind}` : `the specified ${t.kind}`
    const responses = { '200': { schema, description: 'OK' } }
    if (sub || can('get'))
      add(path, itemParams, {
        verb: 'get',
        action: 'get',
        id: `read${G}${ns}${t.kind}${S}`,
        description: `read ${what}`,
        gvk: opGVK,
        params: [],
        responses,
        produces: OBJECT_TYPES,
      })
    if (sub || can('update'))
      add(path, itemParams, {
        verb: 'put',
        action: 'put',
        id: `replace${G}${ns}${t.kind}${S}`,
        description: `replace ${what}`,
        gvk: opGVK,
        params: WRITE_PARAMS,
        body: { schema, types: ['*/*'] },
        responses: { ...responses, '201': { schema, description: 'Created' } },
        produces: OBJECT_TYPES,
      })
    if (sub || can('patch'))
      add(path, itemParams, {
        verb: 'patch',
        action: 'patch',
        id: `patch${G}${ns}${t.kind}${S}`,
        description: `partially update ${what}`,
        gvk: opGVK,
        params: [Q.dryRun, Q.patchFieldManager, Q.fieldValidation, Q.force],
        body: { schema: `${META}.Patch`, types: patchTypes },
        responses: { ...responses, '201': { schema, description: 'Created' } },
        produces: OBJECT_TYPES,
      })
  }
  itemOps(item, '', names.object, gvk)
  if (can('delete'))
    add(item, itemParams, {
      verb: 'delete',
      action: 'delete',
      id: `delete${G}${ns}${t.kind}`,
      description: `delete a ${t.kind}`,
      gvk,
      params: DELETE_PARAMS,
      body: { schema: `${META}.DeleteOptions`, types: ['*/*'] },
      responses: {
        '200': {
          schema: t.returnDeletedObject ? names.object : `${META}.Status`,
          description: 'OK',
        },
        '202': {
          schema: t.returnDeletedObject ? names.object : `${META}.Status`,
          description: 'Accepted',
        },
      },
      produces: OBJECT_TYPES,
    })
  if (t.subresources?.status) itemOps(`${item}/status`, 'status', names.object, gvk)
  if (t.subresources?.scale)
    itemOps(`${item}/scale`, 'scale', SCALE, { group: 'autoscaling', version: 'v1', kind: 'Scale' })
  for (const sub of Object.keys(t.subresources?.updates ?? {}))
    itemOps(`${item}/${sub}`, sub, names.object, gvk)
  for (const [sub, cs] of Object.entries(t.createSubresources ?? {})) {
    const csGVK = { group: cs.group, version: cs.version, kind: cs.kind }
    const schema = `io.k8s.api.${cs.group ? cs.group.split('.')[0] : 'core'}.${cs.version}.${cs.kind}`
    add(`${item}/${sub}`, itemParams, {
      verb: 'post',
      action: 'post',
      id: `create${G}${ns}${t.kind}${sub.charAt(0).toUpperCase() + sub.slice(1)}`,
      description: `create ${sub} of a ${t.kind}`,
      gvk: csGVK,
      params: WRITE_PARAMS,
      body: { schema, types: ['*/*'] },
      responses: {
        '200': { schema, description: 'OK' },
        '201': { schema, description: 'Created' },
        '202': { schema, description: 'Accepted' },
      },
      produces: OBJECT_TYPES,
    })
  }
  if (can('watch')) {
    const wbase = t.namespaced
      ? `${base}/watch/namespaces/{namespace}/${t.resource}`
      : `${base}/watch/${t.resource}`
    const watchEvent = { '200': { schema: `${META}.WatchEvent`, description: 'OK' } }
    add(wbase, collectionParams, {
      verb: 'get',
      action: 'watchlist',
      id: `watch${G}${ns}${t.kind}List`,
      description: `watch individual changes to a list of ${t.kind}. deprecated: use the 'watch' parameter with a list operation instead.`,
      gvk,
      params: LIST_PARAMS,
      responses: watchEvent,
      produces: WATCH_TYPES,
    })
    add(`${wbase}/{name}`, itemParams, {
      verb: 'get',
      action: 'watch',
      id: `watch${G}${ns}${t.kind}`,
      description: `watch changes to an object of kind ${t.kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.`,
      gvk,
      params: LIST_PARAMS,
      responses: watchEvent,
      produces: WATCH_TYPES,
    })
    if (t.namespaced)
      add(`${base}/watch/${t.resource}`, [Q.pretty], {
        verb: 'get',
        action: 'watchlist',
        id: `watch${G}${t.kind}ListForAllNamespaces`,
        description: `watch individual changes to a list of ${t.kind}. deprecated: use the 'watch' parameter with a list operation instead.`,
        gvk,
        params: LIST_PARAMS,
        responses: watchEvent,
        produces: WATCH_TYPES,
      })
  }
  return out
}

// kube-openapi publishes these as oneOf in v3 (OpenAPIV3OneOfTypes) and as strings in v2; kubectl explain
// then names them (<map[string]Quantity>, <IntOrString>) instead of calling them strings.
const V3_ONE_OF: Record<string, JSONSchema> = {
  'io.k8s.apimachinery.pkg.api.resource.Quantity': {
    oneOf: [{ type: 'string' }, { type: 'number' }],
  },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': {
    format: 'int-or-string',
    oneOf: [{ type: 'integer' }, { type: 'string' }],
  },
}

function refTo(name: string, flavor: Flavor): string {
  return flavor === 'v3' ? `#/components/schemas/${name}` : `#/definitions/${name}`
}

/** A definition as published: references in the document's form, a described reference wrapped in allOf for v3. */
function publish(s: JSONSchema, flavor: Flavor): JSONSchema {
  const out: JSONSchema = {}
  for (const [k, v] of Object.entries(s) as [keyof JSONSchema, unknown][]) {
    if (k === '$ref') continue
    if (k === 'properties')
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, JSONSchema>).map(([f, p]) => [f, publish(p, flavor)]),
      )
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object'))
      (out as Record<string, unknown>)[k] = publish(v as JSONSchema, flavor)
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

function collectRefs(
  s: JSONSchema | undefined,
  into: Set<string>,
  defs: Readonly<Record<string, JSONSchema>>,
): void {
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
  if (s.additionalProperties && typeof s.additionalProperties === 'object')
    collectRefs(s.additionalProperties, into, defs)
  for (const a of s.allOf ?? []) collectRefs(a, into, defs)
}

interface Built {
  paths: Map<string, PathItem>
  schemas: Record<string, JSONSchema>
}

/**
 * A custom resource's schema as swagger 2.0 can carry it, as apiextensions-apiserver's ToStructuralOpenAPIV2
 * makes it: no junctors (allOf, oneOf, anyOf, not), a nullable field untyped and without items or
 * properties (and not required), a field that keeps unknown fields without items or properties, and an
 * array left without items untyped.
 */
function structuralV2(s: JSONSchema): JSONSchema {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(s)) {
    if (k === 'allOf' || k === 'oneOf' || k === 'anyOf' || k === 'not' || k === 'nullable') continue
    if (k === 'properties')
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, JSONSchema>).map(([f, p]) => [f, structuralV2(p)]),
      )
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object'))
      out[k] = structuralV2(v as JSONSchema)
    else out[k] = v
  }
  const nullable = (x: JSONSchema | undefined) =>
    !!(x as { nullable?: boolean } | undefined)?.nullable
  if (nullable(s)) delete out.type
  if (nullable(s) || s['x-kubernetes-preserve-unknown-fields']) {
    delete out.items
    delete out.properties
  }
  if (out.type === 'array' && !out.items) delete out.type
  let required = s.required?.filter((f) => !nullable(s.properties?.[f]))
  if (typeof s.additionalProperties === 'object' && nullable(s.additionalProperties))
    required = undefined
  if (required?.length) out.required = required
  else delete out.required
  return out as JSONSchema
}
// The builder adds apiVersion, kind and metadata to the root after that conversion: they stay even when the
// root keeps unknown fields.
function structuralV2Root(s: JSONSchema): JSONSchema {
  const out = structuralV2(s)
  const typeMeta = Object.entries(s.properties ?? {}).filter(
    ([f]) => f === 'apiVersion' || f === 'kind' || f === 'metadata',
  )
  if (typeMeta.length) out.properties = { ...Object.fromEntries(typeMeta), ...out.properties }
  return out
}

// TypeMeta's and the CRD list's descriptions, as apiextensions-apiserver's builder gives a custom resource's list.
const TYPE_META_API_VERSION =
  'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources'
const TYPE_META_KIND =
  'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds'
const LIST_METADATA =
  'Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds'

/** The list kind's schema: a built-in list described as kube describes it, a custom resource's list as the CRD builder does. */
function listSchema(t: ResourceType, names: TypeNames): JSONSchema {
  const own = (field?: string) =>
    t.custom ? undefined : builtinDescription(field ? `${names.list}.${field}` : names.list)
  return {
    type: 'object',
    description: own() ?? `${t.listKind} is a list of ${t.kind}`,
    required: ['items'],
    properties: {
      apiVersion: { type: 'string', description: own('apiVersion') ?? TYPE_META_API_VERSION },
      items: {
        type: 'array',
        items: { $ref: names.object },
        description:
          own('items') ??
          `List of ${t.resource}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md`,
      },
      kind: { type: 'string', description: own('kind') ?? TYPE_META_KIND },
      metadata: { $ref: `${META}.ListMeta`, description: own('metadata') ?? LIST_METADATA },
    },
  }
}

function build(types: readonly ResourceType[], flavor: Flavor): Built {
  const paths = new Map<string, PathItem>()
  const gvks = new Map<string, GVK[]>()
  const named = new Map<
    string,
    { schema: JSONSchema; defs: Readonly<Record<string, JSONSchema>> }
  >()
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
      if (
        !list.some((x) => x.group === gvk.group && x.version === gvk.version && x.kind === gvk.kind)
      )
        list.push(gvk)
      gvks.set(name, list)
    }
    const objectSchema: JSONSchema = names.schema?.definitions[names.schema.name] ?? {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    }
    const defs = names.schema?.definitions ?? {}
    named.set(names.object, {
      schema: flavor === 'v2' && t.custom ? structuralV2Root(objectSchema) : objectSchema,
      defs,
    })
    named.set(names.list, { defs, schema: listSchema(t, names) })
    addGVK(names.object, { group: t.group, version: t.version, kind: t.kind })
    addGVK(names.list, { group: t.group, version: t.version, kind: t.listKind })
    gvRoots.add(names.object)
    gvRoots.add(names.list)
  }
  // Everything the paths name, and everything those reach.
  const builtin = types
    .map((t) => publishedSchema(t))
    .find((s) => s && !s.definitions[s.name]?.['x-kubernetes-preserve-unknown-fields'])?.definitions
  const wanted = new Set<string>([
    `${META}.Status`,
    `${META}.DeleteOptions`,
    `${META}.Patch`,
    `${META}.WatchEvent`,
    `${META}.APIResourceList`,
    `${META}.ListMeta`,
  ])
  for (const item of paths.values())
    for (const op of item.ops) {
      if (op.body) wanted.add(op.body.schema)
      for (const r of Object.values(op.responses)) wanted.add(r.schema)
    }
  const schemas: Record<string, JSONSchema> = {}
  const lookup = (
    name: string,
  ): { schema: JSONSchema; defs: Readonly<Record<string, JSONSchema>> } | undefined => {
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
    const published =
      flavor === 'v3' && V3_ONE_OF[name]
        ? {
            ...V3_ONE_OF[name],
            ...(found.schema.description ? { description: found.schema.description } : {}),
          }
        : publish(found.schema, flavor)
    const gvk = gvks.get(name)
    if (gvk) published['x-kubernetes-group-version-kind'] = gvk
    schemas[name] = published
  }
  return {
    paths,
    schemas: Object.fromEntries(
      Object.keys(schemas)
        .sort()
        .map((k) => [k, schemas[k]]),
    ),
  }
}

function paramV3(p: Param): Record<string, unknown> {
  const out: Record<string, unknown> = { name: p.name, in: p.in, description: p.description }
  if (p.required) out.required = true
  out.schema =
    p.type === 'string' && p.in === 'query'
      ? { type: 'string', uniqueItems: true }
      : { type: p.type, uniqueItems: true }
  return out
}
function paramV2(p: Param): Record<string, unknown> {
  const out: Record<string, unknown> = {
    uniqueItems: true,
    type: p.type,
    description: p.description,
    name: p.name,
    in: p.in,
  }
  if (p.required) out.required = true
  return out
}

function sortedPaths(paths: Map<string, PathItem>): [string, PathItem][] {
  return [...paths].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The OpenAPI v3 document of one group-version, or undefined when nothing is served there. */
export function openapiV3Document(
  registry: Registry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = registry.all().filter((t) => t.group === group && t.version === version)
  if (!types.length) return undefined
  const { paths, schemas } = build(types, 'v3')
  const gvPath = `${prefix({ group, version })}/`
  const outPaths: Record<string, unknown> = {
    [gvPath]: {
      get: {
        tags: [tag(group, version)],
        description: 'get available resources',
        operationId: `get${camel(group)}${version.charAt(0).toUpperCase() + version.slice(1)}APIResources`,
        responses: {
          '200': {
            description: 'OK',
            content: Object.fromEntries(
              ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'].map(
                (c) => [c, { schema: { $ref: refTo(`${META}.APIResourceList`, 'v3') } }],
              ),
            ),
          },
          '401': { description: 'Unauthorized' },
        },
      },
    },
  }
  for (const [path, item] of sortedPaths(paths)) {
    const pi: Record<string, unknown> = {}
    for (const op of item.ops) {
      const o: Record<string, unknown> = {
        tags: [tag(group, version)],
        description: op.description,
        operationId: op.id,
      }
      if (op.params.length) o.parameters = op.params.map(paramV3)
      if (op.body)
        o.requestBody = {
          content: Object.fromEntries(
            op.body.types.map((c) => [c, { schema: { $ref: refTo(op.body!.schema, 'v3') } }]),
          ),
          required: true,
        }
      o.responses = {
        ...Object.fromEntries(
          Object.entries(op.responses).map(([code, r]) => [
            code,
            {
              description: r.description,
              content: Object.fromEntries(
                op.produces.map((c) => [c, { schema: { $ref: refTo(r.schema, 'v3') } }]),
              ),
            },
          ]),
        ),
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
    components: {
      schemas,
      securitySchemes: {
        BearerToken: {
          type: 'apiKey',
          description: 'Bearer Token authentication',
          name: 'authorization',
          in: 'header',
        },
      },
    },
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
      const o: Record<string, unknown> = {
        description: op.description,
        consumes: op.body?.types ?? ['*/*'],
        produces: op.produces,
        schemes: ['https'],
        tags: [tagOfPath(path)],
        operationId: op.id,
      }
      const params = op.params.map(paramV2)
      if (op.body)
        params.unshift({
          name: 'body',
          in: 'body',
          required: true,
          schema: { $ref: refTo(op.body.schema, 'v2') },
        })
      if (params.length) o.parameters = params
      o.responses = {
        ...Object.fromEntries(
          Object.entries(op.responses).map(([code, r]) => [
            code,
            { description: r.description, schema: { $ref: refTo(r.schema, 'v2') } },
          ]),
        ),
        '401': { description: 'Unauthorized' },
      }
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
    securityDefinitions: {
      BearerToken: {
        description: 'Bearer Token authentication',
        type: 'apiKey',
        name: 'authorization',
        in: 'header',
      },
    },
    security: [{ BearerToken: [] }],
  }
}

function tagOfPath(path: string): string {
  const m = /^\/apis\/([^/]+)\/([^/]+)/.exec(path) ?? /^\/api\/()([^/]+)/.exec(path)
  return m ? tag(m[1], m[2]) : ''
}

/** The served group-versions as the v3 root names them: "api/v1", "apis/apps/v1". */
export function openapiV3Paths(
  registry: Registry,
): { path: string; group: string; version: string }[] {
  const out: { path: string; group: string; version: string }[] = []
  for (const { group, versions } of registry.groupVersions()) {
    for (const version of versions)
      out.push({ path: group ? `apis/${group}/${version}` : `api/${version}`, group, version })
  }
  return out
}

// The schema a resource type publishes, which is also the one field validation, pruning and server-side
// apply read: the kind's TypeSchema plus, for built-in kinds, the strategic merge metadata of
// src/api/patch/patch-meta.ts (x-kubernetes-patch-strategy / -merge-key) and the list and map types of
// kube's +listType / +listMapKey / +structType tags (x-kubernetes-list-type / -list-map-keys / -map-type).
import { lookupPatchMetadata, rootPatchType, type PatchType } from '../patch/patch-meta'
import { builtinDefinitions, builtinTypeSchema } from '../../registry/schema/builtin'
import { deref, refName, type JSONSchema, type TypeSchema } from '../../registry/schema/types'
import type { ResourceType } from '../../registry/types'

const CORE = 'io.k8s.api.core.v1'
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1'

// Lists whose list type or keys are not what their patch strategy implies (kube's +listType tags).
const LIST_TYPES: Record<string, { type: 'atomic' | 'set' | 'map'; keys?: string[] }> = {
  [`${CORE}.Container.ports`]: { type: 'map', keys: ['containerPort', 'protocol'] },
  [`${CORE}.EphemeralContainer.ports`]: { type: 'map', keys: ['containerPort', 'protocol'] },
  [`${CORE}.ServiceSpec.ports`]: { type: 'map', keys: ['port', 'protocol'] },
  [`${CORE}.PodSpec.topologySpreadConstraints`]: {
    type: 'map',
    keys: ['topologyKey', 'whenUnsatisfiable'],
  },
  [`${CORE}.PodSpec.tolerations`]: { type: 'atomic' },
  [`${CORE}.Container.args`]: { type: 'atomic' },
  [`${CORE}.Container.command`]: { type: 'atomic' },
  [`${CORE}.ServiceSpec.clusterIPs`]: { type: 'atomic' },
  [`${CORE}.ServiceSpec.ipFamilies`]: { type: 'atomic' },
  [`${META}.ObjectMeta.finalizers`]: { type: 'set' },
  [`${META}.ObjectMeta.managedFields`]: { type: 'atomic' },
  [`${META}.ObjectMeta.ownerReferences`]: { type: 'map', keys: ['uid'] },
  [`${META}.LabelSelector.matchExpressions`]: { type: 'atomic' },
  ['io.k8s.api.rbac.v1.Role.rules']: { type: 'atomic' },
  ['io.k8s.api.rbac.v1.ClusterRole.rules']: { type: 'atomic' },
  ['io.k8s.api.rbac.v1.RoleBinding.subjects']: { type: 'atomic' },
  ['io.k8s.api.rbac.v1.ClusterRoleBinding.subjects']: { type: 'atomic' },
  ['io.k8s.api.apps.v1.StatefulSetSpec.volumeClaimTemplates']: { type: 'atomic' },
}
// Maps kube marks +mapType=atomic: a selector is owned and replaced as a whole.
const ATOMIC_MAP_FIELDS = [
  `${CORE}.ServiceSpec.selector`,
  `${CORE}.ReplicationControllerSpec.selector`,
]
// Defaults kube publishes for list map keys, so an item may omit them (structured-merge-diff fills them in).
const KEY_DEFAULTS: Record<string, unknown> = {
  [`${CORE}.ContainerPort.protocol`]: 'TCP',
  [`${CORE}.ServicePort.protocol`]: 'TCP',
}
// Structs kube marks +structType=atomic: owned and replaced as a whole.
const ATOMIC_STRUCTS = [
  `${META}.LabelSelector`,
  `${CORE}.LocalObjectReference`,
  `${CORE}.ConfigMapKeySelector`,
  `${CORE}.SecretKeySelector`,
  `${CORE}.ObjectFieldSelector`,
  `${CORE}.ResourceFieldSelector`,
  `${CORE}.TypedLocalObjectReference`,
  `${CORE}.NodeSelector`,
]

let listTypesApplied = false
const walkedRoots = new Set<string>()

function applyListTypes(defs: Record<string, JSONSchema>): void {
  if (listTypesApplied) return
  listTypesApplied = true
  for (const [path, lt] of Object.entries(LIST_TYPES)) {
    const dot = path.lastIndexOf('.')
    const prop = defs[path.slice(0, dot)]?.properties?.[path.slice(dot + 1)]
    if (!prop) continue
    prop['x-kubernetes-list-type'] = lt.type
    if (lt.keys) prop['x-kubernetes-list-map-keys'] = lt.keys
  }
  for (const name of ATOMIC_STRUCTS) if (defs[name]) defs[name]['x-kubernetes-map-type'] = 'atomic'
  for (const path of ATOMIC_MAP_FIELDS) {
    const dot = path.lastIndexOf('.')
    const prop = defs[path.slice(0, dot)]?.properties?.[path.slice(dot + 1)]
    if (prop) prop['x-kubernetes-map-type'] = 'atomic'
  }
  for (const [path, value] of Object.entries(KEY_DEFAULTS)) {
    const dot = path.lastIndexOf('.')
    const prop = defs[path.slice(0, dot)]?.properties?.[path.slice(dot + 1)]
    if (prop) prop.default = value
  }
}

/** Adds patch strategies along the kind's fields, as forkedjson.LookupPatchMetadata would find them. */
function applyPatchMeta(
  defs: Record<string, JSONSchema>,
  root: string,
  group: string,
  kind: string,
): void {
  const key = `${root}|${group}|${kind}`
  if (walkedRoots.has(key)) return
  walkedRoots.add(key)
  const seen = new Set<string>()
  const walk = (name: string, pt: PatchType) => {
    const def = defs[name]
    if (!def?.properties || !pt || seen.has(name)) return
    seen.add(name)
    for (const [field, prop] of Object.entries(def.properties)) {
      const meta = lookupPatchMetadata(pt, field)
      if (meta.strategies.length) {
        prop['x-kubernetes-patch-strategy'] = meta.strategies.join(',')
        if (meta.mergeKey) prop['x-kubernetes-patch-merge-key'] = meta.mergeKey
        if (
          prop.type === 'array' &&
          !prop['x-kubernetes-list-type'] &&
          meta.strategies.includes('merge')
        ) {
          // structured-merge-diff reads a merge strategy without a list type as a map keyed by the merge key, or a set.
          prop['x-kubernetes-list-type'] = meta.mergeKey ? 'map' : 'set'
          if (meta.mergeKey) prop['x-kubernetes-list-map-keys'] = [meta.mergeKey]
        }
      }
      const target = prop.$ref ?? prop.items?.$ref
      if (target && meta.type) walk(refName(target), meta.type)
    }
  }
  walk(root, rootPatchType(group, kind))
}

/**
 * A built-in kind's schema, found once: every write asks for it several times (decoding, pruning,
 * managedFields), and each time built its definition's name and a new TypeSchema.
 */
const builtinSchemas = new WeakMap<ResourceType, TypeSchema | undefined>()

/** The schema a resource type publishes and is checked against, or undefined for a schemaless kind. */
export function publishedSchema(type: ResourceType): TypeSchema | undefined {
  const own = type.schema?.()
  if (own) return own
  if (type.custom) return undefined
  if (builtinSchemas.has(type)) return builtinSchemas.get(type)
  const schema = builtinSchema(type)
  builtinSchemas.set(type, schema)
  return schema
}

function builtinSchema(type: ResourceType): TypeSchema | undefined {
  const schema = builtinTypeSchema(type.group, type.version, type.kind)
  if (!schema) return undefined
  const defs = builtinDefinitions() as Record<string, JSONSchema>
  applyListTypes(defs)
  applyPatchMeta(defs, schema.name, type.group, type.kind)
  return schema
}

/** The root schema of a TypeSchema. */
export function rootSchema(s: TypeSchema): JSONSchema | undefined {
  return deref(s.definitions[s.name], s.definitions)
}

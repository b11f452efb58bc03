// Strategic merge patch metadata of the built-in kinds: the patchStrategy and patchMergeKey struct tags of
// k8s.io/api (published in OpenAPI as x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key), as a
// small type graph the merge walks the way forkedjson.LookupPatchMetadata walks Go types. A field that is
// not listed has no strategy: objects merge key by key and lists are replaced.

export interface FieldPatchMeta {
  /** The struct type of the field, or of each element for a list. */
  type?: string
  /** The patchStrategy tag split on ",": "merge", "replace", "retainKeys". */
  strategies?: string[]
  /** patchMergeKey, for lists of objects merged by key. */
  mergeKey?: string
  /** reflect.Kind of the list elements, for the "cannot merge lists without merge key" message. */
  elemKind?: string
}

const merge = (mergeKey: string, type?: string): FieldPatchMeta => ({
  strategies: ['merge'],
  mergeKey,
  type,
  elemKind: 'struct',
})
const mergeRetainKeys = (mergeKey: string, type?: string): FieldPatchMeta => ({
  strategies: ['merge', 'retainKeys'],
  mergeKey,
  type,
  elemKind: 'struct',
})
const mergePrimitives: FieldPatchMeta = { strategies: ['merge'], elemKind: 'string' }
const conditions = merge('type')

const types: Record<string, Record<string, FieldPatchMeta>> = {
  ObjectMeta: {
    finalizers: mergePrimitives,
    ownerReferences: merge('uid'),
  },
  PodTemplateSpec: { metadata: { type: 'ObjectMeta' }, spec: { type: 'PodSpec' } },
  PodSpec: {
    volumes: mergeRetainKeys('name'),
    initContainers: merge('name', 'Container'),
    containers: merge('name', 'Container'),
    ephemeralContainers: merge('name', 'Container'),
    imagePullSecrets: merge('name'),
    hostAliases: merge('ip'),
    topologySpreadConstraints: merge('topologyKey'),
    schedulingGates: merge('name'),
    resourceClaims: mergeRetainKeys('name'),
  },
  Container: {
    ports: merge('containerPort'),
    env: merge('name'),
    volumeMounts: merge('mountPath'),
    volumeDevices: merge('devicePath'),
  },
  PodStatus: {
    conditions,
    podIPs: merge('ip'),
    hostIPs: merge('ip'),
    resourceClaimStatuses: mergeRetainKeys('name'),
  },
  WithConditions: { conditions },
  WithTemplate: { template: { type: 'PodTemplateSpec' } },
  DeploymentSpec: {
    template: { type: 'PodTemplateSpec' },
    strategy: { strategies: ['retainKeys'] },
  },
  JobTemplateSpec: { metadata: { type: 'ObjectMeta' }, spec: { type: 'WithTemplate' } },
  CronJobSpec: { jobTemplate: { type: 'JobTemplateSpec' } },
  NodeSpec: { podCIDRs: mergePrimitives },
  NodeStatus: { conditions, addresses: merge('type') },
  ServiceSpec: { ports: merge('port') },
  StatefulSetSpec: { template: { type: 'PodTemplateSpec' } },
  Webhooks: { webhooks: merge('name') },
  CSINodeSpec: { drivers: merge('name') },
}

function root(
  fields: Record<string, string>,
  extra: Record<string, FieldPatchMeta> = {},
): Record<string, FieldPatchMeta> {
  const out: Record<string, FieldPatchMeta> = { metadata: { type: 'ObjectMeta' }, ...extra }
  for (const [field, type] of Object.entries(fields)) out[field] = { type }
  return out
}

/** The top-level type of each built-in kind with strategic fields beyond metadata; key "group/Kind". */
const kinds: Record<string, Record<string, FieldPatchMeta>> = {
  '/Pod': root({ spec: 'PodSpec', status: 'PodStatus' }),
  '/PodTemplate': root({ template: 'PodTemplateSpec' }),
  '/ReplicationController': root({ spec: 'WithTemplate', status: 'WithConditions' }),
  '/Node': root({ spec: 'NodeSpec', status: 'NodeStatus' }),
  '/Namespace': root({ status: 'WithConditions' }),
  '/Service': root({ spec: 'ServiceSpec', status: 'WithConditions' }),
  '/PersistentVolumeClaim': root({ status: 'WithConditions' }),
  '/ServiceAccount': root({}, { secrets: merge('name') }),
  '/ComponentStatus': root({}, { conditions }),
  'apps/Deployment': root({ spec: 'DeploymentSpec', status: 'WithConditions' }),
  'apps/ReplicaSet': root({ spec: 'WithTemplate', status: 'WithConditions' }),
  'apps/DaemonSet': root({ spec: 'WithTemplate', status: 'WithConditions' }),
  'apps/StatefulSet': root({ spec: 'StatefulSetSpec', status: 'WithConditions' }),
  'batch/Job': root({ spec: 'WithTemplate', status: 'WithConditions' }),
  'batch/CronJob': root({ spec: 'CronJobSpec' }),
  'autoscaling/HorizontalPodAutoscaler': root({ status: 'WithConditions' }),
  'policy/PodDisruptionBudget': root({ status: 'WithConditions' }),
  'apiregistration.k8s.io/APIService': root({ status: 'WithConditions' }),
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration': root(
    {},
    { webhooks: merge('name') },
  ),
  'admissionregistration.k8s.io/MutatingWebhookConfiguration': root(
    {},
    { webhooks: merge('name') },
  ),
  'storage.k8s.io/CSINode': root({ spec: 'CSINodeSpec' }),
  'flowcontrol.apiserver.k8s.io/FlowSchema': root({ status: 'WithConditions' }),
  'flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration': root({ status: 'WithConditions' }),
}

const defaultRoot = root({})

/** A position in the type graph: the fields of one struct type, or nothing known. */
export type PatchType = Record<string, FieldPatchMeta> | undefined

/** The top-level type of a built-in kind (every kind has at least metadata's strategies). */
export function rootPatchType(group: string, kind: string): PatchType {
  return kinds[`${group}/${kind}`] ?? defaultRoot
}

export interface LookedUpMeta {
  type: PatchType
  strategies: string[]
  mergeKey: string
  elemKind: string
}

/** forkedjson.LookupPatchMetadata for one field of a type. */
export function lookupPatchMetadata(t: PatchType, key: string): LookedUpMeta {
  const m = t && Object.prototype.hasOwnProperty.call(t, key) ? t[key] : undefined
  return {
    type: m?.type ? types[m.type] : undefined,
    strategies: m?.strategies ?? [],
    mergeKey: m?.mergeKey ?? '',
    elemKind: m?.elemKind ?? (m?.type ? 'struct' : 'interface'),
  }
}

// Shape checking of built-in kinds against their published OpenAPI schema, through the eval-free
// validators kubernetes-models precompiles (one import per kind, see ./schemas.ts).
//
// kube-apiserver has two outcomes for a body whose shape is wrong, and we keep both:
// - a JSON value of the wrong type never decodes into the Go struct: 400 BadRequest,
//   `Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into
//   Go struct field DeploymentSpec.spec.replicas of type int32` (handlers' transformDecodeError around
//   encoding/json's UnmarshalTypeError). We rebuild that sentence from the schema error: the Go struct
//   name comes from a small table of kube's type names (Go names a struct after its field almost always),
//   so it can differ from kube's in rare nested places; the path, the value kind and the Go type match.
// - a required field missing or a value outside an enum is a validation error: 422 with field.Error
//   wording ("Required value", "Unsupported value: ...: supported values: ..."), merged with the kind's
//   own validation and never duplicating it.
import {
  badRequest,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
  type StatusError,
} from '../../server/errors'
import type { TypeMismatch } from '../types'

export interface SchemaError {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
}
export type SchemaValidator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null }

export interface SchemaTarget {
  kind: string
  version: string
  /** The Go package name kube's types live in for this group version ("v1", "v2"). */
  goPackage?: string
}

// Objects whose keys are data (Go maps), not struct fields: their keys never appear in a Go field path.
const MAP_FIELDS = new Set([
  'labels',
  'annotations',
  'data',
  'binaryData',
  'stringData',
  'nodeSelector',
  'matchLabels',
  'limits',
  'requests',
  'capacity',
  'allocatable',
  'hard',
  'used',
  'parameters',
  'overhead',
  'volumeAttributes',
  'attributes',
  'allocatedResources',
  'extra',
  'options',
  'zones',
])
// Go maps that are map[string]string; the rest of MAP_FIELDS hold resource.Quantity values.
const STRING_MAPS = new Set([
  'labels',
  'annotations',
  'data',
  'stringData',
  'nodeSelector',
  'matchLabels',
  'parameters',
  'volumeAttributes',
  'options',
])
const STRING_LISTS = new Set([
  'command',
  'args',
  'finalizers',
  'accessModes',
  'verbs',
  'apiGroups',
  'resources',
  'resourceNames',
  'nonResourceURLs',
  'externalIPs',
  'clusterIPs',
  'ipFamilies',
  'values',
  'add',
  'drop',
  'searches',
  'nameservers',
  'hostnames',
  'admissionReviewVersions',
  'operations',
  'apiVersions',
  'addresses',
  'mountOptions',
  'targetWWNs',
  'monitors',
  'loadBalancerSourceRanges',
  'topologyKeys',
  'matchLabelKeys',
  'mismatchLabelKeys',
  'audiences',
  'supplementalGroups',
])
// A struct's Go name, by the field that holds it, where it is not simply the field's name capitalized.
const STRUCT_BY_FIELD: Record<string, string> = {
  metadata: 'ObjectMeta',
  template: 'PodTemplateSpec',
  jobTemplate: 'JobTemplateSpec',
  containers: 'Container',
  initContainers: 'Container',
  ephemeralContainers: 'EphemeralContainer',
  env: 'EnvVar',
  envFrom: 'EnvFromSource',
  valueFrom: 'EnvVarSource',
  resources: 'ResourceRequirements',
  volumeMounts: 'VolumeMount',
  volumes: 'Volume',
  selector: 'LabelSelector',
  strategy: 'DeploymentStrategy',
  livenessProbe: 'Probe',
  readinessProbe: 'Probe',
  startupProbe: 'Probe',
  httpGet: 'HTTPGetAction',
  tcpSocket: 'TCPSocketAction',
  exec: 'ExecAction',
  grpc: 'GRPCAction',
  matchExpressions: 'LabelSelectorRequirement',
  ownerReferences: 'OwnerReference',
  managedFields: 'ManagedFieldsEntry',
  tolerations: 'Toleration',
  configMapKeyRef: 'ConfigMapKeySelector',
  secretKeyRef: 'SecretKeySelector',
  fieldRef: 'ObjectFieldSelector',
  resourceFieldRef: 'ResourceFieldSelector',
  subsets: 'EndpointSubset',
  involvedObject: 'ObjectReference',
  regarding: 'ObjectReference',
  related: 'ObjectReference',
  source: 'EventSource',
  deprecatedSource: 'EventSource',
  series: 'EventSeries',
  scaleTargetRef: 'CrossVersionObjectReference',
  metrics: 'MetricSpec',
  subjects: 'Subject',
  roleRef: 'RoleRef',
  clientConfig: 'WebhookClientConfig',
  service: 'ServiceReference',
  conditions: 'Condition',
  imagePullSecrets: 'LocalObjectReference',
  hostAliases: 'HostAlias',
  readinessGates: 'PodReadinessGate',
  topologySpreadConstraints: 'TopologySpreadConstraint',
  dnsConfig: 'PodDNSConfig',
  claimRef: 'ObjectReference',
  volumeClaimTemplates: 'PersistentVolumeClaim',
  endpoints: 'Endpoint',
  tls: 'IngressTLS',
  paths: 'HTTPIngressPath',
  backend: 'IngressBackend',
  defaultBackend: 'IngressBackend',
  ingress: 'NetworkPolicyIngressRule',
  egress: 'NetworkPolicyEgressRule',
  from: 'NetworkPolicyPeer',
  to: 'NetworkPolicyPeer',
  limits_item: 'LimitRangeItem',
  sessionAffinityConfig: 'SessionAffinityConfig',
  clientIP: 'ClientIPConfig',
  loadBalancer: 'LoadBalancerStatus',
  secrets: 'ObjectReference',
  aggregationRule: 'AggregationRule',
  clusterRoleSelectors: 'LabelSelector',
  validations: 'Validation',
  matchConstraints: 'MatchResources',
  paramKind: 'ParamKind',
  paramRef: 'ParamRef',
  matchResources: 'MatchResources',
  namespaceSelector: 'LabelSelector',
  objectSelector: 'LabelSelector',
  podSelector: 'LabelSelector',
  rollingUpdate: 'RollingUpdateDeployment',
}
// Fields holding a different struct depending on the struct around them.
const STRUCT_BY_PARENT: Record<string, Record<string, string>> = {
  PodTemplateSpec: { spec: 'PodSpec' },
  JobTemplateSpec: { spec: 'JobSpec' },
  PersistentVolumeClaim: {
    spec: 'PersistentVolumeClaimSpec',
    status: 'PersistentVolumeClaimStatus',
  },
  PodSpec: { securityContext: 'PodSecurityContext' },
  Container: { securityContext: 'SecurityContext', ports: 'ContainerPort' },
  ServiceSpec: { ports: 'ServicePort' },
  EndpointSubset: {
    ports: 'EndpointPort',
    addresses: 'EndpointAddress',
    notReadyAddresses: 'EndpointAddress',
  },
  EndpointSlice: { ports: 'EndpointPort', endpoints: 'Endpoint' },
  NetworkPolicyIngressRule: { ports: 'NetworkPolicyPort' },
  NetworkPolicyEgressRule: { ports: 'NetworkPolicyPort' },
  DaemonSetSpec: { updateStrategy: 'DaemonSetUpdateStrategy' },
  StatefulSetSpec: { updateStrategy: 'StatefulSetUpdateStrategy' },
  DaemonSetUpdateStrategy: { rollingUpdate: 'RollingUpdateDaemonSet' },
  StatefulSetUpdateStrategy: { rollingUpdate: 'RollingUpdateStatefulSetStrategy' },
  PersistentVolumeClaimSpec: { resources: 'VolumeResourceRequirements' },
  IngressSpec: { rules: 'IngressRule' },
  ValidatingWebhookConfiguration: { webhooks: 'ValidatingWebhook' },
  MutatingWebhookConfiguration: { webhooks: 'MutatingWebhook' },
  ValidatingWebhook: { rules: 'RuleWithOperations' },
  MutatingWebhook: { rules: 'RuleWithOperations' },
  Role: { rules: 'PolicyRule' },
  ClusterRole: { rules: 'PolicyRule' },
  LimitRangeSpec: { limits: 'LimitRangeItem' },
  NodeStatus: { addresses: 'NodeAddress', conditions: 'NodeCondition' },
  PodStatus: {
    conditions: 'PodCondition',
    containerStatuses: 'ContainerStatus',
    initContainerStatuses: 'ContainerStatus',
  },
}
const SPECIAL_TYPES: Record<string, string> = {
  creationTimestamp: 'v1.Time',
  deletionTimestamp: 'v1.Time',
  lastTransitionTime: 'v1.Time',
  lastUpdateTime: 'v1.Time',
  startTime: 'v1.Time',
  completionTime: 'v1.Time',
  lastScheduleTime: 'v1.Time',
  firstTimestamp: 'v1.Time',
  lastTimestamp: 'v1.Time',
  eventTime: 'v1.MicroTime',
  renewTime: 'v1.MicroTime',
  acquireTime: 'v1.MicroTime',
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
const singular = (s: string) =>
  s.endsWith('ies')
    ? s.slice(0, -3) + 'y'
    : s.endsWith('ses')
      ? s.slice(0, -2)
      : s.endsWith('s')
        ? s.slice(0, -1)
        : s

function decodePointer(p: string): string[] {
  return p === ''
    ? []
    : p
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

interface Located {
  /** The Go field path: struct field names from the root, no indices, no map keys. */
  fieldPath: string[]
  /** The Go struct holding the last field. */
  containing: string
  /** The Go struct the value is (the element's, for a list). */
  valueStruct: string
  /** The JSON field holding the value (or the map/list it is in). */
  field: string
  inMap: boolean
  inList: boolean
  value: unknown
}

function structOf(containing: string, field: string, value: unknown, target: SchemaTarget): string {
  const byParent = STRUCT_BY_PARENT[containing]?.[field]
  if (byParent) return byParent
  if (containing === target.kind && (field === 'spec' || field === 'status'))
    return target.kind + capitalize(field)
  return STRUCT_BY_FIELD[field] ?? capitalize(Array.isArray(value) ? singular(field) : field)
}

function locate(root: unknown, pointer: string, target: SchemaTarget): Located {
  const loc: Located = {
    fieldPath: [],
    containing: target.kind,
    valueStruct: target.kind,
    field: '',
    inMap: false,
    inList: false,
    value: root,
  }
  for (const seg of decodePointer(pointer)) {
    const holder = loc.value as Record<string, unknown> | undefined
    if (Array.isArray(holder) || loc.inMap) {
      // A list element or a map value: the Go field path does not move.
      loc.value = holder?.[seg as never]
      loc.inList = Array.isArray(holder)
      continue
    }
    loc.containing = loc.valueStruct
    loc.field = seg
    loc.fieldPath.push(seg)
    loc.value = holder?.[seg]
    loc.inList = false
    loc.inMap = MAP_FIELDS.has(seg) && !(seg === 'limits' && loc.containing === 'LimitRangeSpec')
    loc.valueStruct = structOf(loc.containing, seg, loc.value, target)
  }
  return loc
}

/** What encoding/json calls a JSON value in "cannot unmarshal <value>". */
function jsonValueKind(v: unknown, expectInteger: boolean): string {
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') return expectInteger ? `number ${v}` : 'number'
  if (Array.isArray(v)) return 'array'
  return 'object'
}

// Integer fields kube declares int64; every other integer in the built-in APIs is an int32.
const INT64_FIELDS = new Set([
  'generation',
  'observedGeneration',
  'deletionGracePeriodSeconds',
  'terminationGracePeriodSeconds',
  'activeDeadlineSeconds',
  'runAsUser',
  'runAsGroup',
  'fsGroup',
  'supplementalGroups',
  'startingDeadlineSeconds',
  'expirationSeconds',
  'revision',
  'gracePeriodSeconds',
])

function goType(err: SchemaError, loc: Located, target: SchemaTarget): string {
  const pkg = target.goPackage ?? target.version
  const qualify = (struct: string) =>
    `${struct === 'ObjectMeta' || struct === 'LabelSelector' || struct === 'OwnerReference' ? 'v1' : pkg}.${struct}`
  const special = SPECIAL_TYPES[loc.field]
  if (special && !loc.inMap && !loc.inList) return special
  const format = err.params.format as string | undefined
  if (format === 'int32' || format === 'int64') return format
  switch (err.params.type) {
    case 'string':
      return 'string'
    case 'boolean':
      return 'bool'
    case 'integer':
      return INT64_FIELDS.has(loc.field) ? 'int64' : 'int32'
    case 'number':
      return 'float64'
    case 'array':
      return STRING_LISTS.has(loc.field) ? '[]string' : `[]${qualify(loc.valueStruct)}`
    case 'object':
      if (MAP_FIELDS.has(loc.field) && decodePointer(err.instancePath).pop() === loc.field) {
        return STRING_MAPS.has(loc.field) ? 'map[string]string' : `${pkg}.ResourceList`
      }
      if (
        loc.field === 'selector' &&
        (target.kind === 'Service' || target.kind === 'ReplicationController')
      )
        return 'map[string]string'
      return qualify(loc.valueStruct)
  }
  return 'interface {}'
}

function base64ErrorOffset(s: string): number {
  const clean = s.replace(/[\r\n]/g, '')
  const bad = clean.search(/[^A-Za-z0-9+/=]/)
  if (bad >= 0) return bad
  const pad = clean.indexOf('=')
  if (pad >= 0 && (clean.length % 4 !== 0 || /=[^=]/.test(clean.slice(pad)))) return pad
  return clean.length - (clean.length % 4)
}

function decodeMismatch(
  err: SchemaError,
  root: unknown,
  target: SchemaTarget,
  oneOfPaths: Set<string>,
): TypeMismatch {
  const loc = locate(root, err.instancePath, target)
  const mismatch = (message: string, goType: string): TypeMismatch => ({
    message,
    value: loc.value,
    goType,
  })
  if (err.keyword === 'format') {
    const format = err.params.format
    if (format === 'byte')
      return mismatch(
        `illegal base64 data at input byte ${base64ErrorOffset(String(loc.value))}`,
        '[]byte',
      )
    if (format === 'quantity')
      return mismatch(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        'resource.Quantity',
      )
    if (format === 'date-time')
      return mismatch(
        `parsing time ${JSON.stringify(loc.value)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(loc.value)} as "2006"`,
        'v1.Time',
      )
  }
  if (oneOfPaths.has(err.instancePath)) {
    // intstr.IntOrString decodes a non-string as an int32 on its own, outside any struct context.
    return mismatch(
      `json: cannot unmarshal ${jsonValueKind(loc.value, false)} into Go value of type int32`,
      'intstr.IntOrString',
    )
  }
  const integer = err.params.type === 'integer' || err.keyword === 'format'
  const type = goType(err, loc, target)
  const value = jsonValueKind(loc.value, integer && typeof loc.value === 'number')
  return mismatch(
    `json: cannot unmarshal ${value} into Go struct field ${loc.containing}.${loc.fieldPath.join('.')} of type ${type}`,
    type,
  )
}

function valueAt(root: unknown, pointer: string): unknown {
  let v = root
  for (const seg of decodePointer(pointer)) v = (v as Record<string, unknown> | undefined)?.[seg]
  return v
}

// The order encoding/json meets values in: document order. An explicit stack: the values may nest as deep as
// the JSON decoder allows.
function documentOrder(root: unknown): Map<string, number> {
  const order = new Map<string, number>()
  const pending: [unknown, string][] = [[root, '']]
  while (pending.length) {
    const [v, p] = pending.pop()!
    order.set(p, order.size)
    if (!v || typeof v !== 'object') continue
    const children = Object.entries(v)
    for (let i = children.length - 1; i >= 0; i--) {
      const [k, c] = children[i]
      pending.push([c, `${p}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`])
    }
  }
  return order
}

/**
 * The decode step: throws kube-apiserver's 400 BadRequest when a value has a JSON type the Go struct cannot
 * take. A null is always accepted (it decodes to the zero value). Returns nothing when the body decodes.
 */
export function checkDecodable(
  validate: SchemaValidator,
  obj: unknown,
  target: SchemaTarget,
): void {
  const err = decodeError(validate, obj, target)
  if (err) throw err
}

export function decodeError(
  validate: SchemaValidator,
  obj: unknown,
  target: SchemaTarget,
): StatusError | undefined {
  const mismatch = typeMismatch(validate, obj, target)
  if (!mismatch) return undefined
  return badRequest(
    `${target.kind} in version "${target.version}" cannot be handled as a ${target.kind}: ${mismatch.message}`,
  )
}

/** The first value, in document order, that does not decode into the kind's Go struct. */
export function typeMismatch(
  validate: SchemaValidator,
  obj: unknown,
  target: SchemaTarget,
): TypeMismatch | undefined {
  if (validate(obj)) return undefined
  const errors = validate.errors ?? []
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath))
  const typeErrors = errors.filter((e) => {
    if (e.keyword !== 'type' && e.keyword !== 'format' && e.keyword !== 'oneOf') return false
    if (valueAt(obj, e.instancePath) === null) return false
    // apiVersion and kind are the handler's to check (they select the type); intstr/quantity report once via oneOf.
    if (e.instancePath === '/apiVersion' || e.instancePath === '/kind') return false
    if (e.keyword !== 'oneOf' && oneOfPaths.has(e.instancePath)) {
      const v = valueAt(obj, e.instancePath)
      // A quantity given as a malformed string fails on its format, which is what kube reports.
      return e.keyword === 'format' && typeof v === 'string'
    }
    return true
  })
  if (typeErrors.length === 0) return undefined
  const order = documentOrder(obj)
  typeErrors.sort((a, b) => (order.get(a.instancePath) ?? 0) - (order.get(b.instancePath) ?? 0))
  const first = typeErrors[0]
  return decodeMismatch(first, obj, target, first.keyword === 'oneOf' ? oneOfPaths : new Set())
}

/** kube's field path for a JSON pointer into obj: "/spec/ports/0/name" → "spec.ports[0].name". */
export function fieldPathOf(obj: unknown, pointer: string): string {
  let out = ''
  let v = obj
  let inMap = false
  for (const seg of decodePointer(pointer)) {
    if (Array.isArray(v) || inMap) {
      out += `[${seg}]`
      inMap = false
    } else {
      out += out ? `.${seg}` : seg
      inMap = MAP_FIELDS.has(seg)
    }
    v = (v as Record<string, unknown> | undefined)?.[seg]
  }
  return out
}

/** Required and enum violations as field errors, once the object has decoded. */
export function schemaFieldErrors(validate: SchemaValidator, obj: unknown): FieldError[] {
  if (validate(obj)) return []
  const out: FieldError[] = []
  for (const e of validate.errors ?? []) {
    if (e.instancePath === '/apiVersion' || e.instancePath === '/kind') continue
    if (e.keyword === 'required') {
      const parent = fieldPathOf(obj, e.instancePath)
      const name = String(e.params.missingProperty)
      if (parent === '' && (name === 'apiVersion' || name === 'kind' || name === 'metadata'))
        continue
      out.push(fieldRequired(parent ? `${parent}.${name}` : name))
    } else if (e.keyword === 'enum') {
      const v = valueAt(obj, e.instancePath)
      if (v === null || v === undefined) continue
      out.push(
        fieldNotSupported(
          fieldPathOf(obj, e.instancePath),
          v,
          (e.params.allowedValues as unknown[]).map(String),
        ),
      )
    }
  }
  return out
}

/** Schema errors for fields the kind's own validation did not already speak about. */
export function mergeFieldErrors(own: FieldError[], fromSchema: FieldError[]): FieldError[] {
  const covered = (f: string) =>
    own.some(
      (o) =>
        o.field === f ||
        o.field.startsWith(f + '.') ||
        o.field.startsWith(f + '[') ||
        f.startsWith(o.field + '.') ||
        f.startsWith(o.field + '['),
    )
  return [...own, ...fromSchema.filter((e) => !covered(e.field))]
}

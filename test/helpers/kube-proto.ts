// Decodes application/vnd.kubernetes.protobuf bodies with protobufjs against kube's generated.proto files
// (test/fixtures/proto), independently of the server's encoder and field table, into the JSON a Go client
// would marshal from the same object, so that a test can compare it with the JSON response.
import { join } from 'node:path'
import protobuf from 'protobufjs'

const PROTO_DIR = join(__dirname, '..', 'fixtures', 'proto')
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1'
const APIEXTENSIONS = 'k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1'
const MAGIC = [0x6b, 0x38, 0x73, 0x00]

let root: protobuf.Root | undefined

/** kube's messages, loaded once from the .proto files. */
export function kubeProtos(): protobuf.Root {
  if (root) return root
  const r = new protobuf.Root()
  r.resolvePath = (_origin, target) => join(PROTO_DIR, target)
  const groups = [
    'admissionregistration/v1',
    'apps/v1',
    'authentication/v1',
    'authorization/v1',
    'autoscaling/v1',
    'autoscaling/v2',
    'batch/v1',
    'certificates/v1',
    'coordination/v1',
    'core/v1',
    'discovery/v1',
    'events/v1',
    'flowcontrol/v1',
    'networking/v1',
    'node/v1',
    'policy/v1',
    'rbac/v1',
    'scheduling/v1',
    'storage/v1',
  ]
  r.loadSync([
    ...groups.map((g) => `k8s.io/api/${g}/generated.proto`),
    'k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/generated.proto',
    'k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto',
    'k8s.io/apimachinery/pkg/apis/meta/v1beta1/generated.proto',
  ])
  r.resolveAll()
  root = r
  return r
}

/**
 * The proto message of an apiVersion and kind, as client-go's scheme maps them (Status is meta/v1's, and so
 * is meta/v1beta1's PartialObjectMetadata, a Go alias), kube-aggregator's for apiregistration.k8s.io and
 * apiextensions-apiserver's for apiextensions.k8s.io.
 */
export function messageType(apiVersion: string, kind: string): protobuf.Type {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
  const pkg =
    kind === 'Status' || (group === 'meta.k8s.io' && kind === 'PartialObjectMetadata')
      ? META
      : group === 'meta.k8s.io'
        ? `k8s.io.apimachinery.pkg.apis.meta.${version}`
        : group === 'apiregistration.k8s.io'
          ? `k8s.io.kube_aggregator.pkg.apis.apiregistration.${version}`
          : group === 'apiextensions.k8s.io'
            ? `k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.${version}`
            : `k8s.io.api.${group ? group.split('.')[0] : 'core'}.${version}`
  return kubeProtos().lookupType(`${pkg}.${kind}`)
}

export interface Unknown {
  apiVersion: string
  kind: string
  raw: Uint8Array
  contentEncoding: string
  contentType: string
}

/** The "k8s\0" envelope: runtime.Unknown, checked byte by byte for the magic. */
export function decodeEnvelope(body: Uint8Array): Unknown {
  if (!MAGIC.every((b, i) => body[i] === b)) throw new Error('no k8s\\0 prefix')
  const unknown = kubeProtos().lookupType('k8s.io.apimachinery.pkg.runtime.Unknown')
  const u = unknown.toObject(unknown.decode(body.subarray(4)), { defaults: true }) as {
    typeMeta: { apiVersion: string; kind: string }
    raw: Uint8Array
    contentEncoding: string
    contentType: string
  }
  return {
    apiVersion: u.typeMeta.apiVersion,
    kind: u.typeMeta.kind,
    raw: u.raw,
    contentEncoding: u.contentEncoding,
    contentType: u.contentType,
  }
}

/** A whole protobuf response body decoded to JSON as kube's Go types would marshal it. */
export function decodeObject(body: Uint8Array): Record<string, unknown> {
  const u = decodeEnvelope(body)
  const type = messageType(u.apiVersion, u.kind)
  return { apiVersion: u.apiVersion, kind: u.kind, ...toJson(type, type.decode(u.raw)) }
}

/** A stream of length-delimited watch frames: each a metav1.WatchEvent whose object is enveloped. */
export function decodeWatchFrames(
  body: Uint8Array,
): { type: string; object: Record<string, unknown> }[] {
  const watchEvent = kubeProtos().lookupType(`${META}.WatchEvent`)
  const out: { type: string; object: Record<string, unknown> }[] = []
  for (let at = 0; at < body.length;) {
    const len = new DataView(body.buffer, body.byteOffset + at, 4).getUint32(0)
    const frame = body.subarray(at + 4, at + 4 + len)
    if (frame.length !== len) throw new Error('truncated frame')
    at += 4 + len
    const ev = watchEvent.decode(frame) as unknown as { type: string; object: { raw: Uint8Array } }
    out.push({ type: ev.type, object: decodeObject(ev.object.raw) })
  }
  return out
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/**
 * Embedded structs that JSON inlines (json:",inline" in k8s.io/api's types.go), which a .proto cannot say:
 * their fields belong to the parent in JSON.
 */
const INLINE = new Set([
  'PersistentVolumeSpec.persistentVolumeSource',
  'Volume.volumeSource',
  'Probe.handler',
  'EphemeralContainer.ephemeralContainerCommon',
  'ConfigMapEnvSource.localObjectReference',
  'ConfigMapKeySelector.localObjectReference',
  'ConfigMapProjection.localObjectReference',
  'ConfigMapVolumeSource.localObjectReference',
  'SecretEnvSource.localObjectReference',
  'SecretKeySelector.localObjectReference',
  'SecretProjection.localObjectReference',
  'IngressRule.ingressRuleValue',
  'NamedRuleWithOperations.ruleWithOperations',
  'RuleWithOperations.rule',
])

/** A decoded message as JSON: kube's special types in their JSON forms, 64-bit numbers as numbers. */
function toJson(type: protobuf.Type, message: protobuf.Message): { [k: string]: Json } {
  const special = specialJson(type, message)
  if (special !== undefined) return special as { [k: string]: Json }
  const out: { [k: string]: Json } = {}
  for (const field of type.fieldsArray) {
    if (!(message as unknown as Record<string, unknown>).hasOwnProperty(field.name)) continue
    const v = (message as unknown as Record<string, unknown>)[field.name]
    if (field.map) {
      const m: { [k: string]: Json } = {}
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) m[k] = value(field, x)
      out[jsonName(type, field)] = m
    } else if (field.repeated) {
      out[jsonName(type, field)] = (v as unknown[]).map((x) => value(field, x))
    } else if (INLINE.has(`${type.name}.${field.name}`)) {
      Object.assign(out, value(field, v))
    } else {
      out[jsonName(type, field)] = value(field, v)
    }
  }
  return out
}

/**
 * A few proto fields are named after the Go field rather than its json tag (Webhooks, Expression, Name in
 * admissionregistration/v1): JSON names start lower-case, but for DaemonEndpoint's, whose tag is "Port".
 */
function jsonName(type: protobuf.Type, field: protobuf.Field): string {
  if (type.name === 'DaemonEndpoint') return field.name
  // JSONSchemaProps' json tags are JSON Schema's: $schema, $ref, x-kubernetes-list-type.
  if (type.fullName === `.${APIEXTENSIONS}.JSONSchemaProps`) {
    if (field.name === 'schema' || field.name === 'ref') return `$${field.name}`
    if (field.name.startsWith('xKubernetes'))
      return 'x' + field.name.slice(1).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
  }
  return field.name[0].toLowerCase() + field.name.slice(1)
}

function value(field: protobuf.Field, v: unknown): Json {
  if (field.resolvedType instanceof protobuf.Type) {
    const s = specialJson(field.resolvedType, v as protobuf.Message)
    return s !== undefined ? s : toJson(field.resolvedType, v as protobuf.Message)
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  if (typeof v === 'object' && v !== null && 'low' in v) return Number(String(v)) // a Long
  return v as Json
}

function specialJson(type: protobuf.Type, m: protobuf.Message): Json | undefined {
  const msg = m as unknown as Record<string, unknown>
  const num = (x: unknown) => (x === undefined ? 0 : Number(String(x)))
  switch (type.fullName) {
    // metav1.Time's Unmarshal: zero seconds and nanos are Go's zero time, which JSON writes as null.
    case `.${META}.Time`:
      if (!num(msg.seconds) && !num(msg.nanos)) return null
      return new Date(num(msg.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    case `.${META}.MicroTime`: {
      if (!num(msg.seconds) && !num(msg.nanos)) return null
      const iso = new Date(num(msg.seconds) * 1000).toISOString().slice(0, 19)
      return `${iso}.${String(Math.floor(num(msg.nanos) / 1000)).padStart(6, '0')}Z`
    }
    case '.k8s.io.apimachinery.pkg.api.resource.Quantity':
      return (msg.string as string) ?? ''
    case '.k8s.io.apimachinery.pkg.util.intstr.IntOrString':
      return num(msg.type) === 1 ? ((msg.strVal as string) ?? '') : num(msg.intVal)
    // apiextensions v1 marshal.go: JSON is its raw text; the JSONSchemaPropsOr* unions are the schema when
    // set, else the array of schemas or strings, or the bool.
    case `.${APIEXTENSIONS}.JSONSchemaPropsOrArray`: {
      const schemas = (msg.jSONSchemas ?? []) as protobuf.Message[]
      if (schemas.length) return schemas.map((x) => toJson(schemaType(), x))
      return msg.schema ? toJson(schemaType(), msg.schema as protobuf.Message) : null
    }
    case `.${APIEXTENSIONS}.JSONSchemaPropsOrBool`:
      if (msg.schema) return toJson(schemaType(), msg.schema as protobuf.Message)
      return msg.allows === true
    case `.${APIEXTENSIONS}.JSONSchemaPropsOrStringArray`: {
      const property = (msg.property ?? []) as string[]
      if (property.length) return property
      return msg.schema ? toJson(schemaType(), msg.schema as protobuf.Message) : null
    }
    case `.${APIEXTENSIONS}.JSON`:
    case '.k8s.io.apimachinery.pkg.runtime.RawExtension':
    case `.${META}.FieldsV1`: {
      const raw = (msg.raw ?? msg.Raw) as Uint8Array | undefined // FieldsV1's field is "Raw"
      return raw?.length ? (JSON.parse(Buffer.from(raw).toString('utf8')) as Json) : null
    }
  }
  return undefined
}

function schemaType(): protobuf.Type {
  return kubeProtos().lookupType(`${APIEXTENSIONS}.JSONSchemaProps`)
}

/**
 * A JSON object without its empty values (null, "", 0, false, [], {}): Go's protobuf encoding writes the
 * zero value of every non-pointer field that encoding/json leaves out with omitempty, so the two forms of
 * one object agree once both drop them.
 */
export function withoutEmpty(v: unknown): Json | undefined {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return undefined
  if (Array.isArray(v)) {
    const items = v.map((x) => withoutEmpty(x) ?? null)
    return items.length ? items : undefined
  }
  if (typeof v === 'object') {
    const out: { [k: string]: Json } = {}
    for (const [k, x] of Object.entries(v)) {
      const w = withoutEmpty(x)
      if (w !== undefined) out[k] = w
    }
    return Object.keys(out).length ? out : undefined
  }
  return v as Json
}

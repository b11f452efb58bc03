#!/usr/bin/env node
// Writes src/api/protobuf/schema.ts: the field table our protobuf decoder reads, for the messages reachable from
// the built-in kinds that client-go (kubectl) sends as application/vnd.kubernetes.protobuf.
//
//   node scripts/gen-protobuf-schema.mjs [path/to/kubectl] > src/api/protobuf/schema.ts
//
// Two sources, both read out of a kubectl binary so that the table is exactly what that client encodes:
// - the gzipped FileDescriptorProtos that gogo-generated code registers for each k8s.io/api and apimachinery
//   generated.proto: field numbers, proto types, repeated, map entries;
// - Go's runtime type metadata for the API structs (kept for reflection, even in a stripped binary): the json tag
//   (name, omitempty, inline) and whether a field is a Go pointer. gogo encodes every non-pointer field, zero or
//   not, so pointer-ness and omitempty decide which zero values a JSON client would have sent.
// Field numbers are also cross-checked against the protobuf:"..." struct tags. Reads Go 1.23 ABI (kubectl 1.32).
//
// Kinds kubectl does not compile in (kube-aggregator's APIService) come from EXTRA below instead: the published
// generated.proto in test/fixtures/proto for the descriptor, and the Go facts of their types.go written out by hand.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inflateRawSync } from 'node:zlib'

const KINDS = {
  'v1': 'Binding ComponentStatus ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolume PersistentVolumeClaim Pod PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount',
  'apps/v1': 'ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet',
  'batch/v1': 'CronJob Job',
  'autoscaling/v1': 'HorizontalPodAutoscaler Scale',
  'autoscaling/v2': 'HorizontalPodAutoscaler',
  'rbac.authorization.k8s.io/v1': 'ClusterRole ClusterRoleBinding Role RoleBinding',
  'policy/v1': 'Eviction PodDisruptionBudget',
  'networking.k8s.io/v1': 'Ingress IngressClass NetworkPolicy',
  'scheduling.k8s.io/v1': 'PriorityClass',
  'coordination.k8s.io/v1': 'Lease',
  'authentication.k8s.io/v1': 'SelfSubjectReview TokenRequest TokenReview',
  'authorization.k8s.io/v1': 'LocalSubjectAccessReview SelfSubjectAccessReview SelfSubjectRulesReview SubjectAccessReview',
  'storage.k8s.io/v1': 'CSIDriver CSINode CSIStorageCapacity StorageClass VolumeAttachment',
  'certificates.k8s.io/v1': 'CertificateSigningRequest',
  'node.k8s.io/v1': 'RuntimeClass',
  'discovery.k8s.io/v1': 'EndpointSlice',
  'events.k8s.io/v1': 'Event',
  'admissionregistration.k8s.io/v1': 'MutatingWebhookConfiguration ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding ValidatingWebhookConfiguration',
  'flowcontrol.apiserver.k8s.io/v1': 'FlowSchema PriorityLevelConfiguration',
  'meta.k8s.io/v1': 'DeleteOptions PartialObjectMetadata PartialObjectMetadataList Status',
  // v1beta1's PartialObjectMetadata is v1's (a Go alias); its list is its own message.
  'meta.k8s.io/v1beta1': 'PartialObjectMetadataList',
  'apiregistration.k8s.io/v1': 'APIService',
  'apiextensions.k8s.io/v1': 'CustomResourceDefinition',
}

// The list kinds of the stored kinds above, which responses carry (a LIST, a deletecollection).
const LISTED = {
  'v1': 'ComponentStatus ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolume PersistentVolumeClaim Pod PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount',
  'apps/v1': 'ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet',
  'batch/v1': 'CronJob Job',
  'autoscaling/v1': 'HorizontalPodAutoscaler',
  'autoscaling/v2': 'HorizontalPodAutoscaler',
  'rbac.authorization.k8s.io/v1': 'ClusterRole ClusterRoleBinding Role RoleBinding',
  'policy/v1': 'PodDisruptionBudget',
  'networking.k8s.io/v1': 'Ingress IngressClass NetworkPolicy',
  'scheduling.k8s.io/v1': 'PriorityClass',
  'coordination.k8s.io/v1': 'Lease',
  'storage.k8s.io/v1': 'CSIDriver CSINode CSIStorageCapacity StorageClass VolumeAttachment',
  'certificates.k8s.io/v1': 'CertificateSigningRequest',
  'node.k8s.io/v1': 'RuntimeClass',
  'discovery.k8s.io/v1': 'EndpointSlice',
  'events.k8s.io/v1': 'Event',
  'admissionregistration.k8s.io/v1': 'MutatingWebhookConfiguration ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding ValidatingWebhookConfiguration',
  'flowcontrol.apiserver.k8s.io/v1': 'FlowSchema PriorityLevelConfiguration',
  'apiregistration.k8s.io/v1': 'APIService',
  'apiextensions.k8s.io/v1': 'CustomResourceDefinition',
}
for (const [apiVersion, kinds] of Object.entries(LISTED))
  KINDS[apiVersion] += ' ' + kinds.split(' ').map((k) => `${k}List`).join(' ')

// Packages that kubectl's binary does not carry. `proto` is the package's published generated.proto (under
// test/fixtures/proto, where the wire tests read it too); `go` are the fields of its types.go that protobuf
// carries, per struct in Go struct order, each "<Go type> <json tag> [<proto name>]", the proto field being the
// one named as the json name (as go-to-protobuf names them) unless named. Go types: string bool int32 int64
// float64 []byte, a message of the package or metav1.X, []T, *T, map (the descriptor has its types).
const EXTRA = [
  {
    proto: 'k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/generated.proto',
    go: {
      APIService: ['metav1.ObjectMeta metadata,omitempty', 'APIServiceSpec spec,omitempty', 'APIServiceStatus status,omitempty'],
      APIServiceCondition: ['string type', 'string status', 'metav1.Time lastTransitionTime,omitempty', 'string reason,omitempty', 'string message,omitempty'],
      APIServiceList: ['metav1.ListMeta metadata,omitempty', '[]APIService items'],
      APIServiceSpec: [
        '*ServiceReference service', 'string group,omitempty', 'string version,omitempty', 'bool insecureSkipTLSVerify,omitempty',
        '[]byte caBundle,omitempty', 'int32 groupPriorityMinimum', 'int32 versionPriority',
      ],
      APIServiceStatus: ['[]APIServiceCondition conditions,omitempty'],
      ServiceReference: ['string namespace,omitempty', 'string name,omitempty', '*int32 port,omitempty'],
    },
  },
]
EXTRA.push({
  // kube-apiserver serves CRDs from apiextensions-apiserver, whose types kubectl does not compile in. JSON and
  // the JSONSchemaPropsOr* types are SPECIAL: their JSON is marshal.go's, not a struct's.
  proto: 'k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto',
  go: {
    CustomResourceDefinition: ['metav1.ObjectMeta metadata,omitempty', 'CustomResourceDefinitionSpec spec', 'CustomResourceDefinitionStatus status,omitempty'],
    CustomResourceDefinitionList: ['metav1.ListMeta metadata,omitempty', '[]CustomResourceDefinition items'],
    CustomResourceDefinitionSpec: [
      'string group', 'CustomResourceDefinitionNames names', 'string scope', '[]CustomResourceDefinitionVersion versions',
      '*CustomResourceConversion conversion,omitempty', 'bool preserveUnknownFields,omitempty',
    ],
    CustomResourceConversion: ['string strategy', '*WebhookConversion webhook,omitempty'],
    WebhookConversion: ['*WebhookClientConfig clientConfig,omitempty', '[]string conversionReviewVersions'],
    WebhookClientConfig: ['*string url,omitempty', '*ServiceReference service,omitempty', '[]byte caBundle,omitempty'],
    ServiceReference: ['string namespace', 'string name', '*string path,omitempty', '*int32 port,omitempty'],
    CustomResourceDefinitionVersion: [
      'string name', 'bool served', 'bool storage', 'bool deprecated,omitempty', '*string deprecationWarning,omitempty',
      '*CustomResourceValidation schema,omitempty', '*CustomResourceSubresources subresources,omitempty',
      '[]CustomResourceColumnDefinition additionalPrinterColumns,omitempty', '[]SelectableField selectableFields,omitempty',
    ],
    SelectableField: ['string jsonPath'],
    CustomResourceColumnDefinition: [
      'string name', 'string type', 'string format,omitempty', 'string description,omitempty', 'int32 priority,omitempty', 'string jsonPath',
    ],
    CustomResourceDefinitionNames: [
      'string plural', 'string singular,omitempty', '[]string shortNames,omitempty', 'string kind', 'string listKind,omitempty',
      '[]string categories,omitempty',
    ],
    CustomResourceDefinitionCondition: [
      'string type', 'string status', 'metav1.Time lastTransitionTime,omitempty', 'string reason,omitempty', 'string message,omitempty',
    ],
    CustomResourceDefinitionStatus: ['[]CustomResourceDefinitionCondition conditions', 'CustomResourceDefinitionNames acceptedNames', '[]string storedVersions'],
    CustomResourceValidation: ['*JSONSchemaProps openAPIV3Schema,omitempty'],
    CustomResourceSubresources: ['*CustomResourceSubresourceStatus status,omitempty', '*CustomResourceSubresourceScale scale,omitempty'],
    CustomResourceSubresourceStatus: [],
    CustomResourceSubresourceScale: ['string specReplicasPath', 'string statusReplicasPath', '*string labelSelectorPath,omitempty'],
    ExternalDocumentation: ['string description,omitempty', 'string url,omitempty'],
    JSONSchemaProps: [
      'string id,omitempty', 'string $schema,omitempty schema', '*string $ref,omitempty ref', 'string description,omitempty',
      'string type,omitempty', 'string format,omitempty', 'string title,omitempty', '*JSON default,omitempty',
      '*float64 maximum,omitempty', 'bool exclusiveMaximum,omitempty', '*float64 minimum,omitempty', 'bool exclusiveMinimum,omitempty',
      '*int64 maxLength,omitempty', '*int64 minLength,omitempty', 'string pattern,omitempty', '*int64 maxItems,omitempty',
      '*int64 minItems,omitempty', 'bool uniqueItems,omitempty', '*float64 multipleOf,omitempty', '[]JSON enum,omitempty',
      '*int64 maxProperties,omitempty', '*int64 minProperties,omitempty', '[]string required,omitempty',
      '*JSONSchemaPropsOrArray items,omitempty', '[]JSONSchemaProps allOf,omitempty', '[]JSONSchemaProps oneOf,omitempty',
      '[]JSONSchemaProps anyOf,omitempty', '*JSONSchemaProps not,omitempty', 'map properties,omitempty',
      '*JSONSchemaPropsOrBool additionalProperties,omitempty', 'map patternProperties,omitempty', 'map dependencies,omitempty',
      '*JSONSchemaPropsOrBool additionalItems,omitempty', 'map definitions,omitempty', '*ExternalDocumentation externalDocs,omitempty',
      '*JSON example,omitempty', 'bool nullable,omitempty',
      '*bool x-kubernetes-preserve-unknown-fields,omitempty xKubernetesPreserveUnknownFields',
      'bool x-kubernetes-embedded-resource,omitempty xKubernetesEmbeddedResource',
      'bool x-kubernetes-int-or-string,omitempty xKubernetesIntOrString',
      '[]string x-kubernetes-list-map-keys,omitempty xKubernetesListMapKeys',
      '*string x-kubernetes-list-type,omitempty xKubernetesListType', '*string x-kubernetes-map-type,omitempty xKubernetesMapType',
      '[]ValidationRule x-kubernetes-validations,omitempty xKubernetesValidations',
    ],
    ValidationRule: [
      'string rule', 'string message,omitempty', 'string messageExpression,omitempty', '*string reason,omitempty',
      'string fieldPath,omitempty', '*bool optionalOldSelf,omitempty',
    ],
  },
})
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'proto')

// Types with their own protobuf and JSON forms, decoded by hand in decode.ts.
const SPECIAL = new Set([
  'metav1.Time', 'metav1.MicroTime', 'metav1.Duration', 'metav1.FieldsV1', 'resource.Quantity', 'intstr.IntOrString', 'runtime.RawExtension',
  'apiextensionsv1.JSON', 'apiextensionsv1.JSONSchemaPropsOrArray', 'apiextensionsv1.JSONSchemaPropsOrBool',
  'apiextensionsv1.JSONSchemaPropsOrStringArray',
])

const kubectl = process.argv[2] ?? '/usr/bin/kubectl'
const bin = readFileSync(kubectl)

// ---- ELF and Go runtime type metadata (internal/abi, Go 1.23, amd64) ----
const elf = (() => {
  const shoff = Number(bin.readBigUInt64LE(0x28)), shentsize = bin.readUInt16LE(0x3a), shnum = bin.readUInt16LE(0x3c), shstrndx = bin.readUInt16LE(0x3e)
  const secs = []
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize
    secs.push({ nameOff: bin.readUInt32LE(o), type: bin.readUInt32LE(o + 4), addr: Number(bin.readBigUInt64LE(o + 16)), off: Number(bin.readBigUInt64LE(o + 24)), size: Number(bin.readBigUInt64LE(o + 32)) })
  }
  for (const s of secs) {
    let e = secs[shstrndx].off + s.nameOff
    s.name = ''
    while (bin[e]) s.name += String.fromCharCode(bin[e++])
  }
  return secs
})()
const mapped = elf.filter((s) => s.addr && s.type !== 8 /* NOBITS */)
const fileOff = (va) => {
  for (const s of mapped) if (va >= s.addr && va < s.addr + s.size) return s.off + (va - s.addr)
  throw new Error(`address 0x${va.toString(16)} is not in a loaded section`)
}
const u8 = (va) => bin[fileOff(va)]
const i32 = (va) => bin.readInt32LE(fileOff(va))
const ptr = (va) => Number(bin.readBigUInt64LE(fileOff(va)))
const typesBase = elf.find((s) => s.name === '.rodata').addr // moduledata.types
const typelink = elf.find((s) => s.name === '.typelink')

function goName(va) { // internal/abi.Name: flags byte, varint length, bytes, then the tag the same way
  const flags = u8(va)
  let p = va + 1
  const varint = () => { let v = 0, sh = 0; for (;;) { const b = u8(p++); v |= (b & 0x7f) << sh; sh += 7; if (!(b & 0x80)) return v } }
  const n = varint()
  const name = bin.toString('latin1', fileOff(p), fileOff(p) + n)
  p += n
  let tag = ''
  if (flags & 2) { const t = varint(); tag = bin.toString('latin1', fileOff(p), fileOff(p) + t) }
  return { name, tag, embedded: !!(flags & 8) }
}
const KIND = ['invalid', 'bool', 'int', 'int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'uintptr', 'float32', 'float64', 'complex64', 'complex128', 'array', 'chan', 'func', 'interface', 'map', 'ptr', 'slice', 'string', 'struct', 'unsafe.Pointer']
const TYPE_SIZE = { ptr: 56, slice: 56, array: 72, chan: 64, func: 56, interface: 80, map: 88, struct: 80 }
const goTypes = new Map()
function goType(va) {
  if (typeof va === 'object') return va // EXTRA's, made by hand
  if (goTypes.has(va)) return goTypes.get(va)
  const t = { kind: KIND[u8(va + 23) & 31] }
  goTypes.set(va, t)
  const tflag = u8(va + 20)
  t.str = goName(typesBase + i32(va + 40)).name
  if (tflag & 2) t.str = t.str.slice(1) // TFlagExtraStar
  if (tflag & 1) { const pkg = i32(va + (TYPE_SIZE[t.kind] ?? 48)); t.pkgPath = pkg ? goName(typesBase + pkg).name : '' }
  if (t.kind === 'ptr' || t.kind === 'slice' || t.kind === 'array') t.elem = ptr(va + 48)
  if (t.kind === 'map') { t.key = ptr(va + 48); t.elem = ptr(va + 56) }
  if (t.kind === 'struct') {
    const fields = ptr(va + 56), n = ptr(va + 64)
    t.fields = []
    for (let i = 0; i < n; i++) t.fields.push({ ...goName(ptr(fields + i * 24)), type: ptr(fields + i * 24 + 8) })
  }
  return t
}
const goStructs = new Map() // "k8s.io/api/core/v1.Container" → a named struct (or slice) type
{
  const queue = []
  for (let p = typelink.addr; p < typelink.addr + typelink.size; p += 4) queue.push(typesBase + i32(p))
  const seen = new Set()
  while (queue.length) {
    const va = queue.pop()
    if (seen.has(va)) continue
    seen.add(va)
    let t
    try { t = goType(va) } catch { continue }
    for (const k of ['elem', 'key']) if (t[k]) queue.push(t[k])
    if (t.fields) for (const f of t.fields) queue.push(f.type)
    if (t.pkgPath && (t.fields || t.kind === 'slice')) goStructs.set(`${t.pkgPath}.${t.str.split('.').pop()}`, t)
  }
}

// ---- FileDescriptorProtos (gzip blobs registered by gogo's generated.pb.go) ----
function readProto(buf) { // → Map<fieldNumber, values[]>; length-delimited values stay bytes
  const out = new Map()
  let p = 0
  const varint = () => { let v = 0n, sh = 0n; for (;;) { const b = buf[p++]; v |= BigInt(b & 0x7f) << sh; sh += 7n; if (!(b & 0x80)) return v } }
  while (p < buf.length) {
    const key = Number(varint()), no = key >>> 3, wt = key & 7
    let v
    if (wt === 0) v = varint()
    else if (wt === 2) { const n = Number(varint()); v = buf.subarray(p, p + n); p += n }
    else if (wt === 1) { v = buf.subarray(p, p + 8); p += 8 }
    else if (wt === 5) { v = buf.subarray(p, p + 4); p += 4 }
    else throw new Error(`wire type ${wt}`)
    if (!out.has(no)) out.set(no, [])
    out.get(no).push(v)
  }
  return out
}
const str = (b) => (b ? Buffer.from(b).toString('utf8') : '')
const PROTO_TYPE = { 1: 'f64', 2: 'f32', 3: 'i64', 4: 'u64', 5: 'i32', 8: 'b', 9: 's', 11: 'message', 12: 'bytes', 13: 'u32' }
const messages = new Map() // ".k8s.io.api.core.v1.Container" → { fields: Map<number, {...}>, mapEntry }
{
  const magic = Buffer.from([0x1f, 0x8b, 0x08])
  for (let i = bin.indexOf(magic); i >= 0; i = bin.indexOf(magic, i + 1)) {
    let file
    try { file = readProto(inflateRawSync(bin.subarray(i + 10, i + 10 + (1 << 20)), { finishFlush: 2 })) } catch { continue }
    const name = str(file.get(1)?.[0])
    if (!/^k8s\.io\/.*generated\.proto$/.test(name)) continue
    const pkg = str(file.get(2)?.[0])
    const addMessage = (prefix, d) => {
      const msg = readProto(d)
      const full = `${prefix}.${str(msg.get(1)[0])}`
      const fields = new Map()
      for (const fd of msg.get(2) ?? []) {
        const f = readProto(fd)
        fields.set(Number(f.get(3)[0]), { name: str(f.get(1)[0]), repeated: Number(f.get(4)[0]) === 3, type: PROTO_TYPE[Number(f.get(5)[0])], typeName: str(f.get(6)?.[0]) })
      }
      const opts = msg.get(7)?.[0]
      messages.set(full, { fields, mapEntry: opts ? readProto(opts).get(7)?.[0] === 1n : false })
      for (const nested of msg.get(3) ?? []) addMessage(full, nested)
    }
    for (const d of file.get(4) ?? []) addMessage(`.${pkg}`, d)
  }
}

// ---- the table ----
function alias(protoPkg) { // "k8s.io.api.core.v1" → corev1, "k8s.io.apimachinery.pkg.apis.meta.v1" → metav1
  const m = /^k8s\.io\.(?:(?:api|kube_aggregator\.pkg\.apis|apiextensions_apiserver\.pkg\.apis)\.([a-z0-9]+)\.([a-z0-9]+)|apimachinery\.pkg\.(?:apis\.meta\.(v1|v1beta1)|api\.(resource)|util\.(intstr)|(runtime)))$/.exec(protoPkg)
  if (!m) throw new Error(`no alias for ${protoPkg}`)
  return m[1] ? m[1] + m[2] : m[3] ? 'meta' + m[3] : m[4] ?? m[5] ?? m[6]
}
function packageOfApiVersion(apiVersion) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion]
  if (group === 'meta.k8s.io') return `k8s.io.apimachinery.pkg.apis.meta.${version}`
  if (group === 'apiregistration.k8s.io') return `k8s.io.kube_aggregator.pkg.apis.apiregistration.${version}`
  if (group === 'apiextensions.k8s.io') return `k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.${version}`
  return `k8s.io.api.${group.split('.')[0]}.${version}`
}
const splitFull = (full) => { const i = full.lastIndexOf('.'); return [full.slice(1, i), full.slice(i + 1)] }
const goPath = (protoPkg) => protoPkg.replace(/\./g, '/').replace(/^k8s\/io/, 'k8s.io').replace('kube_aggregator', 'kube-aggregator').replace('apiextensions_apiserver', 'apiextensions-apiserver')

// ---- EXTRA: descriptors from .proto text, Go facts from the table ----
const PROTO_SCALAR = { double: 'f64', float: 'f32', int64: 'i64', uint64: 'u64', int32: 'i32', bool: 'b', string: 's', bytes: 'bytes', uint32: 'u32' }
for (const { proto, go } of EXTRA) {
  // The subset of proto2 that go-to-protobuf writes for these packages: top-level messages of optional,
  // repeated and map<string, T> fields, fully qualified message types; anything else (nesting, enums) is refused.
  const text = readFileSync(join(FIXTURES, proto), 'utf8').replace(/\/\/.*$/gm, '')
  const pkg = /^package ([\w.]+);/m.exec(text)?.[1]
  if (!pkg) throw new Error(`${proto}: no package`)
  const seen = new Set()
  for (const [, name, body] of text.matchAll(/^message (\w+) \{\n([^{}]*)^\}/gm)) {
    const fields = new Map()
    for (const line of body.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const mapField = /^map<string, ([\w.]+)> (\w+) = (\d+);$/.exec(line)
      if (mapField) { // carried as repeated <Name>Entry { key = 1; value = 2 }, as protoc writes a map
        const [, type, fname, no] = mapField
        const scalar = PROTO_SCALAR[type]
        if (!scalar && !type.startsWith('.')) throw new Error(`${proto} ${name}.${fname}: type ${type} is not fully qualified`)
        const entry = `.${pkg}.${name}.${fname[0].toUpperCase()}${fname.slice(1)}Entry`
        messages.set(entry, {
          fields: new Map([[1, { name: 'key', repeated: false, type: 's', typeName: '' }], [2, { name: 'value', repeated: false, type: scalar ?? 'message', typeName: scalar ? '' : type }]]),
          mapEntry: true,
        })
        fields.set(Number(no), { name: fname, repeated: true, type: 'message', typeName: entry })
        continue
      }
      const f = /^(optional|repeated) ([\w.]+) (\w+) = (\d+);$/.exec(line)
      if (!f) throw new Error(`${proto} ${name}: cannot read "${line}"`)
      const [, label, type, fname, no] = f
      const scalar = PROTO_SCALAR[type]
      if (!scalar && !type.startsWith('.')) throw new Error(`${proto} ${name}.${fname}: type ${type} is not fully qualified`)
      fields.set(Number(no), { name: fname, repeated: label === 'repeated', type: scalar ?? 'message', typeName: scalar ? '' : type })
    }
    messages.set(`.${pkg}.${name}`, { fields, mapEntry: false })
    seen.add(name)
  }
  if (/^\s*(enum|oneof)/m.test(text) || seen.size !== (text.match(/^message /gm) ?? []).length)
    throw new Error(`${proto}: more than this reader takes`)
  const goKind = (t) => {
    if (t.startsWith('*')) return { kind: 'ptr', elem: goKind(t.slice(1)) }
    if (t.startsWith('[]')) return { kind: 'slice', elem: goKind(t.slice(2)) }
    if (/^(string|bool|int32|int64|float64|byte)$/.test(t)) return { kind: t === 'byte' ? 'uint8' : t, str: t }
    if (t === 'map') return { kind: 'map', str: t }
    return { kind: 'struct', str: t }
  }
  for (const [name, decls] of Object.entries(go)) {
    const desc = messages.get(`.${pkg}.${name}`)
    if (!desc) throw new Error(`${proto}: no message ${name}`)
    const byName = new Map([...desc.fields].map(([no, f]) => [f.name, no]))
    const fields = decls.map((d) => {
      const [type, json, protoName] = d.split(' ')
      const jsonName = json.split(',')[0]
      if (!byName.has(protoName ?? jsonName)) throw new Error(`${proto} ${name}: no proto field ${protoName ?? jsonName}`)
      const no = byName.get(protoName ?? jsonName)
      const wire = ['s', 'bytes', 'message'].includes(desc.fields.get(no).type) ? 'bytes' : 'varint'
      const tag = `json:"${json}" protobuf:"${wire},${no},opt,name=${protoName ?? jsonName}"`
      return { name: jsonName, tag, embedded: false, type: goKind(type) }
    })
    goStructs.set(`${goPath(pkg)}.${name}`, { kind: 'struct', str: name, fields })
  }
}

const out = new Map() // alias → Map<name, line>
const queue = []
for (const [apiVersion, kinds] of Object.entries(KINDS)) for (const k of kinds.split(' ')) queue.push(`.${packageOfApiVersion(apiVersion)}.${k}`)
const done = new Set()
const problems = []

function scalarOf(go) { // Go kind → our scalar code, to check the descriptor against
  return { string: 's', bool: 'b', int32: 'i32', int64: 'i64', uint32: 'u32', uint64: 'u64', float64: 'f64', float32: 'f32' }[go.kind]
}

while (queue.length) {
  const full = queue.shift()
  if (done.has(full)) continue
  done.add(full)
  const [pkg, name] = splitFull(full)
  const a = alias(pkg)
  if (SPECIAL.has(`${a}.${name}`)) continue
  const desc = messages.get(full)
  const go = goStructs.get(`${goPath(pkg)}.${name}`)
  if (!desc) throw new Error(`no descriptor for ${full}`)
  if (!go) throw new Error(`no Go type for ${full}`)
  const ref = (typeName) => {
    queue.push(typeName)
    const [p, n] = splitFull(typeName)
    return p === pkg ? n : `${alias(p)}.${n}`
  }
  if (go.kind === 'slice') { // a named slice type (ExtraValue) carried as message { repeated T items = 1 }
    const items = desc.fields.get(1)
    if (desc.fields.size !== 1 || items.name !== 'items' || !items.repeated) throw new Error(`${full}: unexpected list wrapper`)
    const line = `${name}: []${items.type === 'message' ? ref(items.typeName) : items.type}`
    if (!out.has(a)) out.set(a, new Map())
    out.get(a).set(name, line)
    continue
  }
  const typeOf = (f, goT) => { // one field's type: scalar code, message name, []T or {K:V}, with * for Go pointers
    if (f.type === 'message') {
      const m = messages.get(f.typeName)
      if (m?.mapEntry) {
        const k = m.fields.get(1), v = m.fields.get(2)
        if (k.type !== 's') throw new Error(`${full}.${f.name}: map key ${k.type}`)
        return `{s:${v.type === 'message' ? ref(v.typeName) : v.type}}`
      }
      const t = ref(f.typeName)
      return f.repeated ? `[]${t}` : (goT.kind === 'ptr' ? '*' : '') + t
    }
    const t = f.type
    if (f.repeated) return `[]${t}`
    if (t === 'bytes') return t
    const g = goT.kind === 'ptr' ? goType(goT.elem) : goT
    if (scalarOf(g) !== t) problems.push(`${full}.${f.name}: proto ${t}, Go ${g.str} (${g.kind})`)
    return (goT.kind === 'ptr' ? '*' : '') + t
  }
  const fields = []
  const seenNumbers = new Set()
  for (const gf of go.fields) {
    const pb = /protobuf:"([^"]*)"/.exec(gf.tag)?.[1]
    if (!pb || pb === '-') continue
    const number = Number(pb.split(',')[1])
    const f = desc.fields.get(number)
    if (!f) throw new Error(`${full}.${gf.name}: field ${number} is not in the descriptor`)
    const tagName = /name=([^,]*)/.exec(pb)?.[1]
    if (tagName && tagName !== f.name) problems.push(`${full}: tag name ${tagName} ≠ proto ${f.name}`)
    seenNumbers.add(number)
    const json = /json:"([^"]*)"/.exec(gf.tag)?.[1]
    if (json === undefined || json === '-') throw new Error(`${full}.${gf.name}: no json name`)
    const [jsonName, ...opts] = json.split(',')
    const inline = gf.embedded && jsonName === ''
    const t = typeOf(f, goType(gf.type))
    if (inline) fields.push(`${number} ... ${t}`)
    else fields.push(`${number} ${jsonName}${opts.includes('omitempty') ? '' : '!'} ${t}`)
  }
  for (const n of desc.fields.keys()) if (!seenNumbers.has(n)) problems.push(`${full}: proto field ${n} has no Go field`)
  if (!out.has(a)) out.set(a, new Map())
  out.get(a).set(name, `${name}:${fields.length ? ' ' : ''}${fields.join(', ')}`)
}
if (problems.length) {
  console.error(problems.join('\n'))
  process.exit(1)
}

const ORDER = ['metav1', 'metav1beta1', 'corev1', 'appsv1', 'batchv1', 'autoscalingv1', 'autoscalingv2', 'rbacv1', 'policyv1', 'networkingv1', 'schedulingv1', 'coordinationv1', 'authenticationv1', 'authorizationv1', 'storagev1', 'certificatesv1', 'nodev1', 'discoveryv1', 'eventsv1', 'admissionregistrationv1', 'flowcontrolv1', 'apiregistrationv1', 'apiextensionsv1']
const aliases = [...out.keys()].sort((x, y) => ORDER.indexOf(x) - ORDER.indexOf(y))
if (aliases.some((x) => !ORDER.includes(x))) throw new Error(`unordered package in ${aliases}`)
const body = aliases.map((x) => {
  const lines = [...out.get(x).entries()].sort(([p], [q]) => (p < q ? -1 : 1)).map(([, l]) => `    ${l}`)
  return `  ${x}: \`\n${lines.join('\n')}\n  \`,`
}).join('\n')
const kinds = Object.entries(KINDS).map(([v, k]) => `  '${v}': '${k}',`).join('\n')

const version = JSON.parse(execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })).clientVersion.gitVersion
process.stdout.write(`// Generated by scripts/gen-protobuf-schema.mjs from the k8s.io/api and apimachinery types compiled into kubectl ${version}
// and, for kube-aggregator and apiextensions-apiserver (not in kubectl), from their published generated.proto
// (test/fixtures/proto) and the script's table of their Go types.
// The protobuf messages of the built-in kinds (and their lists, Status, PartialObjectMetadata) that client-go sends
// and kube-apiserver answers as application/vnd.kubernetes.protobuf, one message a line, in each package of
// k8s.io/api (corev1 = k8s.io/api/core/v1), apimachinery (metav1 = pkg/apis/meta/v1), kube-aggregator
// (apiregistrationv1 = pkg/apis/apiregistration/v1) or apiextensions-apiserver (apiextensionsv1).
//
//   Message: <number> <jsonName> <type>, ...          fields in Go struct order (the order Go's encoding/json writes)
//   <type>   s  b  i32  i64  u32  u64  f32  f64  bytes  a message of the same package  pkg.Message
//            []T repeated   {s:T} map   *T a Go pointer: present on the wire means set, so an explicit zero is kept
//   name!    the json tag has no omitempty: Go writes the zero value ("", 0, false, null) where others are dropped
//   ...      an embedded struct (json:",inline") whose fields JSON lifts into the parent
//   Name: []T  a named slice type (ExtraValue) carried as message { repeated T items = 1 }
// metav1.Time, MicroTime, Duration, FieldsV1, resource.Quantity, intstr.IntOrString, runtime.RawExtension and
// apiextensionsv1's JSON and JSONSchemaPropsOr{Array,Bool,StringArray} have their own wire and JSON forms (decode.ts).

/** Kinds a protobuf body may carry, by apiVersion; DeleteOptions is accepted under every apiVersion, as kube registers it in each group version, and Status is apiVersion v1. */
export const PROTOBUF_KINDS: Record<string, string> = {
${kinds}
}

export const PROTOBUF_MESSAGES: Record<string, string> = {
${body}
}
`)

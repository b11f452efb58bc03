// Reads the field table in schema.ts into message descriptors, once, on first use.
import { PROTOBUF_KINDS, PROTOBUF_MESSAGES } from './schema'

export type Scalar = 's' | 'b' | 'i32' | 'i64' | 'u32' | 'u64' | 'f32' | 'f64' | 'bytes'

/** Types with their own wire and JSON forms. */
export const SPECIAL_TYPES = [
  'metav1.Time',
  'metav1.MicroTime',
  'metav1.Duration',
  'metav1.FieldsV1',
  'resource.Quantity',
  'intstr.IntOrString',
  'runtime.RawExtension',
  // apiextensions.k8s.io/v1: any JSON value, and the schema-or-something unions of marshal.go.
  'apiextensionsv1.JSON',
  'apiextensionsv1.JSONSchemaPropsOrArray',
  'apiextensionsv1.JSONSchemaPropsOrBool',
  'apiextensionsv1.JSONSchemaPropsOrStringArray',
] as const
export type Special = (typeof SPECIAL_TYPES)[number]

export type FieldType =
  | { kind: 'scalar'; scalar: Scalar; pointer: boolean }
  | { kind: 'message'; message: string; pointer: boolean }
  | { kind: 'special'; special: Special; pointer: boolean }
  | { kind: 'repeated'; elem: FieldType }
  | { kind: 'map'; value: FieldType }

export interface Field {
  no: number
  /** The JSON name; '' for an embedded struct whose fields JSON inlines. */
  json: string
  /** No omitempty in the json tag: the zero value is still written. */
  always: boolean
  type: FieldType
}

export interface Message {
  name: string
  /** Fields in Go struct order, which is the order encoding/json writes them. */
  fields: Field[]
  byNumber: Map<number, Field>
  /** A named slice type (ExtraValue): message { repeated T items = 1 } (in byNumber, not fields), JSON as the bare list. */
  list?: FieldType
}

const SCALARS = new Set<string>(['s', 'b', 'i32', 'i64', 'u32', 'u64', 'f32', 'f64', 'bytes'])
const SPECIALS = new Set<string>(SPECIAL_TYPES)

let table: Map<string, Message> | undefined

function parseType(text: string, pkg: string, where: string): FieldType {
  if (text.startsWith('[]')) return { kind: 'repeated', elem: parseType(text.slice(2), pkg, where) }
  if (text.startsWith('{s:') && text.endsWith('}'))
    return { kind: 'map', value: parseType(text.slice(3, -1), pkg, where) }
  const pointer = text.startsWith('*')
  const name = pointer ? text.slice(1) : text
  if (SCALARS.has(name)) return { kind: 'scalar', scalar: name as Scalar, pointer }
  const qualified = name.includes('.') ? name : `${pkg}.${name}`
  if (SPECIALS.has(qualified)) return { kind: 'special', special: qualified as Special, pointer }
  if (!/^[a-z0-9]+\.[A-Z][A-Za-z0-9]*$/.test(qualified))
    throw new Error(`protobuf schema: bad type ${text} in ${where}`)
  return { kind: 'message', message: qualified, pointer }
}

function load(): Map<string, Message> {
  const out = new Map<string, Message>()
  for (const [pkg, block] of Object.entries(PROTOBUF_MESSAGES)) {
    for (const raw of block.split('\n')) {
      const line = raw.trim()
      if (!line) continue
      const colon = line.indexOf(':')
      const name = `${pkg}.${line.slice(0, colon)}`
      const body = line.slice(colon + 1).trim() // '' for a struct without fields
      const msg: Message = { name, fields: [], byNumber: new Map() }
      if (body.startsWith('[]')) {
        msg.list = parseType(body.slice(2), pkg, name)
        msg.byNumber.set(1, {
          no: 1,
          json: 'items',
          always: false,
          type: { kind: 'repeated', elem: msg.list },
        })
      } else if (body) {
        for (const spec of body.split(', ')) {
          const [no, jsonName, type] = spec.split(' ')
          const always = jsonName.endsWith('!')
          const field: Field = {
            no: Number(no),
            json: jsonName === '...' ? '' : jsonName.replace(/!$/, ''),
            always,
            type: parseType(type, pkg, name),
          }
          msg.fields.push(field)
          msg.byNumber.set(field.no, field)
        }
      }
      out.set(name, msg)
    }
  }
  for (const msg of out.values()) {
    const check = (t: FieldType): void => {
      if (t.kind === 'repeated') check(t.elem)
      else if (t.kind === 'map') check(t.value)
      else if (t.kind === 'message' && !out.has(t.message))
        throw new Error(`protobuf schema: ${msg.name} refers to unknown ${t.message}`)
    }
    for (const f of msg.fields) check(f.type)
    if (msg.list) check(msg.list)
  }
  return out
}

export function messages(): Map<string, Message> {
  table ??= load()
  return table
}

/** corev1 for "v1", appsv1 for "apps/v1", rbacv1 for "rbac.authorization.k8s.io/v1", metav1 for "meta.k8s.io/v1". */
export function packageOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/')
  const group = slash < 0 ? 'core' : apiVersion.slice(0, slash)
  const version = apiVersion.slice(slash + 1)
  return group.split('.')[0] + version
}

/** The message a protobuf body of this apiVersion and kind carries, if we can decode it. */
export function messageForKind(apiVersion: string, kind: string): Message | undefined {
  // kube registers the option kinds in every group version (metav1.AddToGroupVersion).
  if (kind === 'DeleteOptions') return messages().get('metav1.DeleteOptions')
  // metav1.Status is registered unversioned and goes out as apiVersion v1.
  if (kind === 'Status' && apiVersion === 'v1') return messages().get('metav1.Status')
  // meta/v1beta1's PartialObjectMetadata is a Go alias of v1's: the same message under either apiVersion.
  if (kind === 'PartialObjectMetadata' && apiVersion === 'meta.k8s.io/v1beta1')
    return messages().get('metav1.PartialObjectMetadata')
  const kinds = PROTOBUF_KINDS[apiVersion]
  if (!kinds || !kinds.split(' ').includes(kind)) return undefined
  return messages().get(`${packageOf(apiVersion)}.${kind}`)
}

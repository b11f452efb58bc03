// /openapi/v2 as protobuf: the swagger document as gnostic's openapi_v2.Document message
// (github.com/google/gnostic-models, openapiv2/OpenAPIv2.proto), which client-go's discovery client asks for
// (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf). kube-openapi makes it by parsing its
// JSON document with gnostic's ParseDocument and marshalling the result; this writes the same message from the
// JSON document directly. As there: fields in field-number order, proto3 defaults left out, every "x-" key a
// NamedAny vendor extension, and each free-form value (default, enum, example, extensions) an Any carrying it
// as YAML text, for which JSON is valid.
import { WireWriter } from '../protobuf/writer'

type Json = unknown
type Obj = Record<string, Json>
type Encode = (w: WireWriter, no: number, value: Json) => void
type Spec = readonly (readonly [number, string, Encode])[]

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

// Scalars, written only when they differ from proto3's default, as proto.Marshal does.
const str: Encode = (w, no, v) => {
  if (typeof v === 'string' && v !== '') w.string(no, v)
}
const bool: Encode = (w, no, v) => {
  if (v === true) w.bool(no, true)
}
const dbl: Encode = (w, no, v) => {
  if (typeof v === 'number' && v !== 0) w.double(no, v)
}
const int: Encode = (w, no, v) => {
  if (typeof v === 'number' && v !== 0) w.int64(no, v)
}
const strings: Encode = (w, no, v) => {
  for (const s of Array.isArray(v) ? v : []) w.string(no, String(s))
}
const anyMessage = (w: WireWriter, v: Json) => {
  w.string(2, `${JSON.stringify(v)}\n`)
}
const any: Encode = (w, no, v) => {
  if (v !== undefined) w.message(no, (m) => anyMessage(m, v))
}
const anys: Encode = (w, no, v) => {
  for (const x of Array.isArray(v) ? v : []) w.message(no, (m) => anyMessage(m, x))
}

/** A message from its spec; keys starting with "x-" go to vendorNo as NamedAny { name = 1, value = 2 }. */
function message(spec: Spec, vendorNo?: number): Encode {
  return (w, no, v) => {
    if (isObj(v)) w.message(no, (m) => fields(m, spec, v, vendorNo))
  }
}
function fields(w: WireWriter, spec: Spec, v: Obj, vendorNo?: number): void {
  for (const [no, key, encode] of spec) if (v[key] !== undefined) encode(w, no, v[key])
  if (vendorNo === undefined) return
  for (const [key, value] of Object.entries(v)) {
    if (key.startsWith('x-')) w.message(vendorNo, (m) => m.string(1, key).message(2, (a) => anyMessage(a, value)))
  }
}
/** A JSON object as a repeated Named<X> { name = 1, value = 2 } in field no of a wrapper message. */
function named(value: Encode, wrapperNo = 1): Encode {
  return (w, no, v) => {
    if (!isObj(v)) return
    w.message(no, (m) => {
      for (const [name, x] of Object.entries(v)) m.message(wrapperNo, (n) => {
        n.string(1, name)
        value(n, 2, x)
      })
    })
  }
}
function repeated(one: Encode): Encode {
  return (w, no, v) => {
    for (const x of Array.isArray(v) ? v : []) one(w, no, x)
  }
}
/** A message whose oneof is chosen from the value: choose returns the field number and how to write it. */
function oneof(choose: (v: Json) => [number, Encode] | undefined): Encode {
  return (w, no, v) => {
    const chosen = choose(v)
    if (chosen) w.message(no, (m) => chosen[1](m, chosen[0], v))
  }
}

const EXTERNAL_DOCS = message([[1, 'description', str], [2, 'url', str]], 3)

const schemaSpec: [number, string, Encode][] = []
const SCHEMA = message(schemaSpec, 31)
schemaSpec.push(
  [1, '$ref', str], [2, 'format', str], [3, 'title', str], [4, 'description', str], [5, 'default', any],
  [6, 'multipleOf', dbl], [7, 'maximum', dbl], [8, 'exclusiveMaximum', bool], [9, 'minimum', dbl],
  [10, 'exclusiveMinimum', bool], [11, 'maxLength', int], [12, 'minLength', int], [13, 'pattern', str],
  [14, 'maxItems', int], [15, 'minItems', int], [16, 'uniqueItems', bool], [17, 'maxProperties', int],
  [18, 'minProperties', int], [19, 'required', strings], [20, 'enum', anys],
  // AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2 } }: a false is written too.
  [21, 'additionalProperties', oneof((v) => (typeof v === 'boolean' ? [2, (w, no, b) => w.bool(no, b as boolean)] : isObj(v) ? [1, SCHEMA] : undefined))],
  // TypeItem { repeated string value = 1 }
  [22, 'type', (w, no, v) => w.message(no, (m) => strings(m, 1, Array.isArray(v) ? v : [v]))],
  // ItemsItem { repeated Schema schema = 1 }: one schema or a list of them.
  [23, 'items', (w, no, v) => w.message(no, (m) => repeated(SCHEMA)(m, 1, Array.isArray(v) ? v : [v]))],
  [24, 'allOf', repeated(SCHEMA)], [25, 'properties', named(SCHEMA)], [26, 'discriminator', str],
  [27, 'readOnly', bool],
  [28, 'xml', message([[1, 'name', str], [2, 'namespace', str], [3, 'prefix', str], [4, 'attribute', bool], [5, 'wrapped', bool]], 6)],
  [29, 'externalDocs', EXTERNAL_DOCS], [30, 'example', any],
)

const primitivesSpec: [number, string, Encode][] = []
const PRIMITIVES_ITEMS = message(primitivesSpec, 18)
primitivesSpec.push(
  [1, 'type', str], [2, 'format', str], [3, 'items', PRIMITIVES_ITEMS], [4, 'collectionFormat', str],
  [5, 'default', any], [6, 'maximum', dbl], [7, 'exclusiveMaximum', bool], [8, 'minimum', dbl],
  [9, 'exclusiveMinimum', bool], [10, 'maxLength', int], [11, 'minLength', int], [12, 'pattern', str],
  [13, 'maxItems', int], [14, 'minItems', int], [15, 'uniqueItems', bool], [16, 'enum', anys], [17, 'multipleOf', dbl],
)

// Query and formData parameters carry allowEmptyValue at 5 and number the rest one higher than path and header.
const VALIDATIONS = [
  'type', 'format', 'items', 'collectionFormat', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'enum', 'multipleOf',
] as const
const VALIDATION_ENCODERS: Record<(typeof VALIDATIONS)[number], Encode> = {
  type: str, format: str, items: PRIMITIVES_ITEMS, collectionFormat: str, default: any, maximum: dbl,
  exclusiveMaximum: bool, minimum: dbl, exclusiveMinimum: bool, maxLength: int, minLength: int, pattern: str,
  maxItems: int, minItems: int, uniqueItems: bool, enum: anys, multipleOf: dbl,
}
function parameterSpec(allowEmptyValue: boolean): Spec {
  const head: [number, string, Encode][] = [[1, 'required', bool], [2, 'in', str], [3, 'description', str], [4, 'name', str]]
  if (allowEmptyValue) head.push([5, 'allowEmptyValue', bool])
  const first = head.length + 1
  return [...head, ...VALIDATIONS.map((k, i) => [first + i, k, VALIDATION_ENCODERS[k]] as const)]
}
const QUERY = message(parameterSpec(true), 23)
const FORM_DATA = message(parameterSpec(true), 23)
const PATH = message(parameterSpec(false), 22)
const HEADER = message(parameterSpec(false), 22)
const BODY = message([[1, 'description', str], [2, 'name', str], [3, 'in', str], [4, 'required', bool], [5, 'schema', SCHEMA]], 6)
const JSON_REFERENCE = message([[1, '$ref', str], [2, 'description', str]])

// NonBodyParameter { oneof { header = 1; formData = 2; query = 3; path = 4 } }
const NON_BODY_IN: Record<string, [number, Encode]> = { header: [1, HEADER], formData: [2, FORM_DATA], query: [3, QUERY], path: [4, PATH] }
const NON_BODY = oneof((v) => NON_BODY_IN[String((v as Obj).in)])
// Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2 } }
const PARAMETER = oneof((v) => (isObj(v) ? ((v as Obj).in === 'body' ? [1, BODY] : [2, NON_BODY]) : undefined))
// ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2 } }
const PARAMETERS_ITEM = oneof((v) => (isObj(v) ? (v.$ref !== undefined ? [2, JSON_REFERENCE] : [1, PARAMETER]) : undefined))

// SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2 } }: a schema of type file is a FileSchema.
const FILE_SCHEMA = message([
  [1, 'format', str], [2, 'title', str], [3, 'description', str], [4, 'default', any], [5, 'required', strings],
  [6, 'type', str], [7, 'readOnly', bool], [8, 'externalDocs', EXTERNAL_DOCS], [9, 'example', any],
], 10)
const SCHEMA_ITEM = oneof((v) => (isObj(v) ? (v.type === 'file' ? [2, FILE_SCHEMA] : [1, SCHEMA]) : undefined))
const HEADERS = named(message(
  [...VALIDATIONS.map((k, i) => [i + 1, k, VALIDATION_ENCODERS[k]] as const), [18, 'description', str]], 19))
const RESPONSE = message([
  [1, 'description', str], [2, 'schema', SCHEMA_ITEM], [3, 'headers', HEADERS],
  [4, 'examples', named((w, no, v) => w.message(no, (m) => anyMessage(m, v)))],
], 5)
// ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2 } }
const RESPONSE_VALUE = oneof((v) => (isObj(v) ? (v.$ref !== undefined ? [2, JSON_REFERENCE] : [1, RESPONSE]) : undefined))
// Responses { repeated NamedResponseValue response_code = 1; vendor_extension = 2 }
const RESPONSES: Encode = (w, no, v) => {
  if (!isObj(v)) return
  w.message(no, (m) => {
    for (const [code, r] of Object.entries(v)) if (!code.startsWith('x-')) m.message(1, (n) => {
        n.string(1, code)
        RESPONSE_VALUE(n, 2, r)
      })
    fields(m, [], v, 2)
  })
}
// SecurityRequirement { repeated NamedStringArray additional_properties = 1 }, StringArray { repeated string value = 1 }
const SECURITY_REQUIREMENT = named((w, no, v) => w.message(no, (m) => strings(m, 1, v)))

const OPERATION = message([
  [1, 'tags', strings], [2, 'summary', str], [3, 'description', str], [4, 'externalDocs', EXTERNAL_DOCS],
  [5, 'operationId', str], [6, 'produces', strings], [7, 'consumes', strings], [8, 'parameters', repeated(PARAMETERS_ITEM)],
  [9, 'responses', RESPONSES], [10, 'schemes', strings], [11, 'deprecated', bool], [12, 'security', repeated(SECURITY_REQUIREMENT)],
], 13)
const PATH_ITEM = message([
  [1, '$ref', str], [2, 'get', OPERATION], [3, 'put', OPERATION], [4, 'post', OPERATION], [5, 'delete', OPERATION],
  [6, 'options', OPERATION], [7, 'head', OPERATION], [8, 'patch', OPERATION], [9, 'parameters', repeated(PARAMETERS_ITEM)],
], 10)
// Paths { vendor_extension = 1; repeated NamedPathItem path = 2 }
const PATHS: Encode = (w, no, v) => {
  if (!isObj(v)) return
  w.message(no, (m) => {
    fields(m, [], v, 1)
    for (const [path, item] of Object.entries(v)) if (!path.startsWith('x-')) m.message(2, (n) => {
        n.string(1, path)
        PATH_ITEM(n, 2, item)
      })
  })
}

// SecurityDefinitionsItem { oneof { basic = 1; apiKey = 2; oauth2 implicit = 3, password = 4, application = 5, accessCode = 6 } }
const OAUTH2_SCOPES = named(str)
const OAUTH2: Record<string, [number, Encode]> = {
  implicit: [3, message([[1, 'type', str], [2, 'flow', str], [3, 'scopes', OAUTH2_SCOPES], [4, 'authorizationUrl', str], [5, 'description', str]], 6)],
  password: [4, message([[1, 'type', str], [2, 'flow', str], [3, 'scopes', OAUTH2_SCOPES], [4, 'tokenUrl', str], [5, 'description', str]], 6)],
  application: [5, message([[1, 'type', str], [2, 'flow', str], [3, 'scopes', OAUTH2_SCOPES], [4, 'tokenUrl', str], [5, 'description', str]], 6)],
  accessCode: [6, message([[1, 'type', str], [2, 'flow', str], [3, 'scopes', OAUTH2_SCOPES], [4, 'authorizationUrl', str], [5, 'tokenUrl', str], [6, 'description', str]], 7)],
}
const SECURITY_DEFINITIONS_ITEM = oneof((v) => {
  if (!isObj(v)) return undefined
  if (v.type === 'basic') return [1, message([[1, 'type', str], [2, 'description', str]], 3)]
  if (v.type === 'apiKey') return [2, message([[1, 'type', str], [2, 'name', str], [3, 'in', str], [4, 'description', str]], 5)]
  return OAUTH2[String(v.flow)]
})

const INFO = message([
  [1, 'title', str], [2, 'version', str], [3, 'description', str], [4, 'termsOfService', str],
  [5, 'contact', message([[1, 'name', str], [2, 'url', str], [3, 'email', str]], 4)],
  [6, 'license', message([[1, 'name', str], [2, 'url', str]], 3)],
], 7)

const DOCUMENT: Spec = [
  [1, 'swagger', str], [2, 'info', INFO], [3, 'host', str], [4, 'basePath', str], [5, 'schemes', strings],
  [6, 'consumes', strings], [7, 'produces', strings], [8, 'paths', PATHS], [9, 'definitions', named(SCHEMA)],
  [10, 'parameters', named(PARAMETER)], [11, 'responses', named(RESPONSE)], [12, 'security', repeated(SECURITY_REQUIREMENT)],
  [13, 'securityDefinitions', named(SECURITY_DEFINITIONS_ITEM)],
  [14, 'tags', repeated(message([[1, 'name', str], [2, 'description', str], [3, 'externalDocs', EXTERNAL_DOCS]], 4))],
  [15, 'externalDocs', EXTERNAL_DOCS],
]

/** The swagger 2.0 document as an openapi_v2.Document message. */
export function openapiV2Protobuf(doc: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  const w = new WireWriter()
  fields(w, DOCUMENT, doc, 16)
  return w.finish()
}

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
/** A message's fields in field-number order, numbered from 1 as every gnostic message numbers them. */
type Field = [string, Encode]
type Fields = readonly Field[]

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
// Any { google.protobuf.Any value = 1; string yaml = 2 }
const anyMessage = (w: WireWriter, v: Json) => {
  w.string(2, `${JSON.stringify(v)}\n`)
}
const any: Encode = (w, no, v) => {
  if (v !== undefined) w.message(no, (m) => anyMessage(m, v))
}
const anys: Encode = (w, no, v) => {
  for (const x of Array.isArray(v) ? v : []) w.message(no, (m) => anyMessage(m, x))
}

function writeFields(w: WireWriter, spec: Fields, v: Obj): void {
  spec.forEach(([key, encode], i) => {
    if (v[key] !== undefined) encode(w, i + 1, v[key])
  })
}
/** Every "x-" key as a NamedAny { name = 1, value = 2 } in field no. */
function writeVendorExtensions(w: WireWriter, no: number, v: Obj): void {
  for (const [key, value] of Object.entries(v)) {
    if (key.startsWith('x-'))
      w.message(no, (m) => m.string(1, key).message(2, (a) => anyMessage(a, value)))
  }
}
/** A message of these fields; unless told otherwise, the vendor extensions follow in the next number. */
function message(spec: Fields, vendorExtensions = true): Encode {
  return (w, no, v) => {
    if (!isObj(v)) return
    w.message(no, (m) => {
      writeFields(m, spec, v)
      if (vendorExtensions) writeVendorExtensions(m, spec.length + 1, v)
    })
  }
}
/** A JSON object as repeated Named<X> { name = 1, value = 2 } in field entriesNo of a message. */
function named(
  value: Encode,
  entriesNo = 1,
  skipExtensions = false,
): (w: WireWriter, v: Obj) => void {
  return (w, v) => {
    for (const [name, x] of Object.entries(v)) {
      if (skipExtensions && name.startsWith('x-')) continue
      w.message(entriesNo, (n) => {
        n.string(1, name)
        value(n, 2, x)
      })
    }
  }
}
/** A message that is nothing but named values (Definitions, Properties, SecurityRequirement...). */
function namedMessage(value: Encode): Encode {
  const entries = named(value)
  return (w, no, v) => {
    if (isObj(v)) w.message(no, (m) => entries(m, v))
  }
}
function repeated(one: Encode): Encode {
  return (w, no, v) => {
    for (const x of Array.isArray(v) ? v : []) one(w, no, x)
  }
}
/** A message of one oneof, the member chosen from the value: its field number and how to write it. */
function oneof(choose: (v: Obj) => [number, Encode] | undefined): Encode {
  return (w, no, v) => {
    const chosen = isObj(v) ? choose(v) : undefined
    if (chosen) w.message(no, (m) => chosen[1](m, chosen[0], v))
  }
}
// A list of fields defined later, for the messages that contain themselves.
function late(): [Field[], Encode] {
  const spec: Field[] = []
  return [spec, message(spec)]
}

const EXTERNAL_DOCS = message([
  ['description', str],
  ['url', str],
])

const [schemaFields, SCHEMA] = late()
// AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2 } }: a false is written too.
const ADDITIONAL_PROPERTIES: Encode = (w, no, v) => {
  if (typeof v === 'boolean') w.message(no, (m) => m.bool(2, v))
  else if (isObj(v)) w.message(no, (m) => SCHEMA(m, 1, v))
}
schemaFields.push(
  ['$ref', str],
  ['format', str],
  ['title', str],
  ['description', str],
  ['default', any],
  ['multipleOf', dbl],
  ['maximum', dbl],
  ['exclusiveMaximum', bool],
  ['minimum', dbl],
  ['exclusiveMinimum', bool],
  ['maxLength', int],
  ['minLength', int],
  ['pattern', str],
  ['maxItems', int],
  ['minItems', int],
  ['uniqueItems', bool],
  ['maxProperties', int],
  ['minProperties', int],
  ['required', strings],
  ['enum', anys],
  ['additionalProperties', ADDITIONAL_PROPERTIES],
  // TypeItem { repeated string value = 1 }
  ['type', (w, no, v) => w.message(no, (m) => strings(m, 1, Array.isArray(v) ? v : [v]))],
  // ItemsItem { repeated Schema schema = 1 }: one schema or a list of them.
  ['items', (w, no, v) => w.message(no, (m) => repeated(SCHEMA)(m, 1, Array.isArray(v) ? v : [v]))],
  ['allOf', repeated(SCHEMA)],
  ['properties', namedMessage(SCHEMA)],
  ['discriminator', str],
  ['readOnly', bool],
  [
    'xml',
    message([
      ['name', str],
      ['namespace', str],
      ['prefix', str],
      ['attribute', bool],
      ['wrapped', bool],
    ]),
  ],
  ['externalDocs', EXTERNAL_DOCS],
  ['example', any],
)

const [primitivesFields, PRIMITIVES_ITEMS] = late()
// The validations parameters, headers and primitive items share, in their order there.
const VALIDATIONS: Fields = [
  ['type', str],
  ['format', str],
  ['items', PRIMITIVES_ITEMS],
  ['collectionFormat', str],
  ['default', any],
  ['maximum', dbl],
  ['exclusiveMaximum', bool],
  ['minimum', dbl],
  ['exclusiveMinimum', bool],
  ['maxLength', int],
  ['minLength', int],
  ['pattern', str],
  ['maxItems', int],
  ['minItems', int],
  ['uniqueItems', bool],
  ['enum', anys],
  ['multipleOf', dbl],
]
primitivesFields.push(...VALIDATIONS)

const PARAMETER_HEAD: Fields = [
  ['required', bool],
  ['in', str],
  ['description', str],
  ['name', str],
]
// Query and formData parameters carry allowEmptyValue at 5; path and header parameters have none.
const QUERY = message([...PARAMETER_HEAD, ['allowEmptyValue', bool], ...VALIDATIONS])
const FORM_DATA = QUERY
const PATH = message([...PARAMETER_HEAD, ...VALIDATIONS])
const HEADER = PATH
const BODY = message([
  ['description', str],
  ['name', str],
  ['in', str],
  ['required', bool],
  ['schema', SCHEMA],
])
const JSON_REFERENCE = message(
  [
    ['$ref', str],
    ['description', str],
  ],
  false,
)

// NonBodyParameter { oneof { header = 1; formData = 2; query = 3; path = 4 } }
const NON_BODY_IN: Record<string, [number, Encode]> = {
  header: [1, HEADER],
  formData: [2, FORM_DATA],
  query: [3, QUERY],
  path: [4, PATH],
}
const NON_BODY = oneof((v) => NON_BODY_IN[String(v.in)])
// Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2 } }
const PARAMETER = oneof((v) => (v.in === 'body' ? [1, BODY] : [2, NON_BODY]))
// ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2 } }
const PARAMETERS_ITEM = oneof((v) => (v.$ref !== undefined ? [2, JSON_REFERENCE] : [1, PARAMETER]))

const FILE_SCHEMA = message([
  ['format', str],
  ['title', str],
  ['description', str],
  ['default', any],
  ['required', strings],
  ['type', str],
  ['readOnly', bool],
  ['externalDocs', EXTERNAL_DOCS],
  ['example', any],
])
// SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2 } }: a schema of type file is a FileSchema.
const SCHEMA_ITEM = oneof((v) => (v.type === 'file' ? [2, FILE_SCHEMA] : [1, SCHEMA]))
const RESPONSE = message([
  ['description', str],
  ['schema', SCHEMA_ITEM],
  ['headers', namedMessage(message([...VALIDATIONS, ['description', str]]))],
  ['examples', namedMessage((w, no, v) => w.message(no, (m) => anyMessage(m, v)))],
])
// ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2 } }
const RESPONSE_VALUE = oneof((v) => (v.$ref !== undefined ? [2, JSON_REFERENCE] : [1, RESPONSE]))
// Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny vendor_extension = 2 }
const responseCodes = named(RESPONSE_VALUE, 1, true)
const RESPONSES: Encode = (w, no, v) => {
  if (!isObj(v)) return
  w.message(no, (m) => {
    responseCodes(m, v)
    writeVendorExtensions(m, 2, v)
  })
}
// SecurityRequirement { repeated NamedStringArray additional_properties = 1 }, StringArray { repeated string value = 1 }
const SECURITY_REQUIREMENT = namedMessage((w, no, v) => w.message(no, (m) => strings(m, 1, v)))

const OPERATION = message([
  ['tags', strings],
  ['summary', str],
  ['description', str],
  ['externalDocs', EXTERNAL_DOCS],
  ['operationId', str],
  ['produces', strings],
  ['consumes', strings],
  ['parameters', repeated(PARAMETERS_ITEM)],
  ['responses', RESPONSES],
  ['schemes', strings],
  ['deprecated', bool],
  ['security', repeated(SECURITY_REQUIREMENT)],
])
const PATH_ITEM = message([
  ['$ref', str],
  ['get', OPERATION],
  ['put', OPERATION],
  ['post', OPERATION],
  ['delete', OPERATION],
  ['options', OPERATION],
  ['head', OPERATION],
  ['patch', OPERATION],
  ['parameters', repeated(PARAMETERS_ITEM)],
])
// Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2 }
const pathItems = named(PATH_ITEM, 2, true)
const PATHS: Encode = (w, no, v) => {
  if (!isObj(v)) return
  w.message(no, (m) => {
    writeVendorExtensions(m, 1, v)
    pathItems(m, v)
  })
}

// SecurityDefinitionsItem { oneof { basic = 1; apiKey = 2; oauth2: implicit = 3, password = 4,
// application = 5, accessCode = 6 } }
const OAUTH2_SCOPES = namedMessage(str)
const OAUTH2_HEAD: Fields = [
  ['type', str],
  ['flow', str],
  ['scopes', OAUTH2_SCOPES],
]
const OAUTH2: Record<string, [number, Encode]> = {
  implicit: [3, message([...OAUTH2_HEAD, ['authorizationUrl', str], ['description', str]])],
  password: [4, message([...OAUTH2_HEAD, ['tokenUrl', str], ['description', str]])],
  application: [5, message([...OAUTH2_HEAD, ['tokenUrl', str], ['description', str]])],
  accessCode: [
    6,
    message([...OAUTH2_HEAD, ['authorizationUrl', str], ['tokenUrl', str], ['description', str]]),
  ],
}
const BASIC = message([
  ['type', str],
  ['description', str],
])
const API_KEY = message([
  ['type', str],
  ['name', str],
  ['in', str],
  ['description', str],
])
const SECURITY_DEFINITIONS_ITEM = oneof((v) =>
  v.type === 'basic' ? [1, BASIC] : v.type === 'apiKey' ? [2, API_KEY] : OAUTH2[String(v.flow)],
)

const INFO = message([
  ['title', str],
  ['version', str],
  ['description', str],
  ['termsOfService', str],
  [
    'contact',
    message([
      ['name', str],
      ['url', str],
      ['email', str],
    ]),
  ],
  [
    'license',
    message([
      ['name', str],
      ['url', str],
    ]),
  ],
])

const DOCUMENT: Fields = [
  ['swagger', str],
  ['info', INFO],
  ['host', str],
  ['basePath', str],
  ['schemes', strings],
  ['consumes', strings],
  ['produces', strings],
  ['paths', PATHS],
  ['definitions', namedMessage(SCHEMA)],
  ['parameters', namedMessage(PARAMETER)],
  ['responses', namedMessage(RESPONSE)],
  ['security', repeated(SECURITY_REQUIREMENT)],
  ['securityDefinitions', namedMessage(SECURITY_DEFINITIONS_ITEM)],
  [
    'tags',
    repeated(
      message([
        ['name', str],
        ['description', str],
        ['externalDocs', EXTERNAL_DOCS],
      ]),
    ),
  ],
  ['externalDocs', EXTERNAL_DOCS],
]

/** The swagger 2.0 document as an openapi_v2.Document message. */
export function openapiV2Protobuf(doc: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  const w = new WireWriter()
  writeFields(w, DOCUMENT, doc)
  writeVendorExtensions(w, DOCUMENT.length + 1, doc)
  return w.finish()
}

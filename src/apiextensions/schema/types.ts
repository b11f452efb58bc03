// apiextensions.k8s.io/v1 JSONSchemaProps as a CustomResourceDefinition carries it (the subset of OpenAPI v3
// kube-apiserver accepts, with the x-kubernetes-* extensions).

export interface ValidationRule {
  rule: string
  message?: string
  messageExpression?: string
  reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate'
  fieldPath?: string
  optionalOldSelf?: boolean
}

export interface JSONSchemaProps {
  type?: string
  format?: string
  title?: string
  description?: string
  default?: unknown
  nullable?: boolean
  enum?: unknown[]
  pattern?: string
  maxLength?: number
  minLength?: number
  maximum?: number
  minimum?: number
  exclusiveMaximum?: boolean
  exclusiveMinimum?: boolean
  multipleOf?: number
  maxItems?: number
  minItems?: number
  uniqueItems?: boolean
  maxProperties?: number
  minProperties?: number
  required?: string[]
  items?: JSONSchemaProps
  properties?: Record<string, JSONSchemaProps>
  additionalProperties?: JSONSchemaProps | boolean
  patternProperties?: Record<string, JSONSchemaProps>
  allOf?: JSONSchemaProps[]
  oneOf?: JSONSchemaProps[]
  anyOf?: JSONSchemaProps[]
  not?: JSONSchemaProps
  $ref?: string
  $schema?: string
  id?: string
  example?: unknown
  externalDocs?: unknown
  dependencies?: unknown
  definitions?: unknown
  additionalItems?: unknown
  'x-kubernetes-preserve-unknown-fields'?: boolean
  'x-kubernetes-embedded-resource'?: boolean
  'x-kubernetes-int-or-string'?: boolean
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map'
  'x-kubernetes-list-map-keys'?: string[]
  'x-kubernetes-map-type'?: 'atomic' | 'granular'
  'x-kubernetes-validations'?: ValidationRule[]
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A child path as kube-openapi's validators build it: "spec.replicas", "spec.items[0]". */
export function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key
}

// The shape of a kind's schema: OpenAPI v3 schema objects as Kubernetes publishes them, with references
// by bare definition name ("io.k8s.api.apps.v1.DeploymentSpec"); the OpenAPI documents turn them into
// "#/components/schemas/..." or "#/definitions/..." references.

export interface JSONSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean'
  format?: string
  description?: string
  enum?: unknown[]
  default?: unknown
  properties?: Record<string, JSONSchema>
  required?: string[]
  items?: JSONSchema
  additionalProperties?: JSONSchema | boolean
  $ref?: string
  allOf?: JSONSchema[]
  oneOf?: JSONSchema[]
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[]
  'x-kubernetes-patch-strategy'?: string
  'x-kubernetes-patch-merge-key'?: string
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map'
  'x-kubernetes-list-map-keys'?: string[]
  'x-kubernetes-map-type'?: 'atomic' | 'granular'
  'x-kubernetes-preserve-unknown-fields'?: boolean
  'x-kubernetes-int-or-string'?: boolean
  'x-kubernetes-embedded-resource'?: boolean
  [extension: `x-${string}`]: unknown
}

/**
 * A kind's schema for OpenAPI, field validation, pruning and server-side apply: the root definition's
 * name and every definition it reaches. Built-in kinds share one table; a CustomResourceDefinition gives
 * its openAPIV3Schema as a single definition.
 */
export interface TypeSchema {
  name: string
  definitions: Readonly<Record<string, JSONSchema>>
}

/** Follows a reference (bare, "#/components/schemas/x" or "#/definitions/x") or a lone allOf to the schema it names. */
export function deref(
  s: JSONSchema | undefined,
  defs: Readonly<Record<string, JSONSchema>>,
): JSONSchema | undefined {
  for (let i = 0; s && i < 32; i++) {
    if (s.$ref) {
      s = defs[refName(s.$ref)]
      continue
    }
    if (s.allOf?.length === 1 && !s.type && !s.properties) {
      s = s.allOf[0]
      continue
    }
    return s
  }
  return s
}

export function refName(ref: string): string {
  const slash = ref.lastIndexOf('/')
  return slash >= 0 ? ref.slice(slash + 1) : ref
}

// The schemas of the built-in kinds: the definitions derived from kubernetes-models (the library whose
// validators check these kinds; see scripts/gen-builtin-schemas.mjs) with kube's descriptions, which the
// same library carries, as kube-apiserver publishes them and kubectl explain prints them.
import data from './builtin-definitions.json'
import descriptionData from './builtin-descriptions.json'
import type { JSONSchema, TypeSchema } from './types'

const { texts, descriptions } = descriptionData as {
  texts: string[]
  descriptions: Record<string, number>
}

/** kube's description of a built-in definition ("io.k8s.api.core.v1.ConfigMap") or field ("...ConfigMap.data"). */
export function builtinDescription(key: string): string | undefined {
  const i = descriptions[key]
  return i === undefined ? undefined : texts[i]
}

let table: Record<string, JSONSchema> | undefined

/** Every built-in definition, described; built once per isolate. */
export function builtinDefinitions(): Readonly<Record<string, JSONSchema>> {
  if (table) return table
  const defs = structuredClone(
    (data as unknown as { definitions: Record<string, JSONSchema> }).definitions,
  )
  for (const [name, def] of Object.entries(defs)) {
    const d = builtinDescription(name)
    if (d) def.description = d
    for (const [field, prop] of Object.entries(def.properties ?? {})) {
      const fd = builtinDescription(`${name}.${field}`)
      if (fd) prop.description = fd
    }
  }
  table = defs
  return defs
}

// The Go package group of each API group, as in the definition names (io.k8s.api.<short>.<version>.<Kind>).
export function builtinDefinitionName(group: string, version: string, kind: string): string {
  if (group === 'apiregistration.k8s.io')
    return `io.k8s.kube-aggregator.pkg.apis.apiregistration.${version}.${kind}`
  const short = group === '' ? 'core' : group.split('.')[0]
  return `io.k8s.api.${short}.${version}.${kind}`
}

/** The TypeSchema of a built-in kind, or undefined when the library has no declaration for it. */
export function builtinTypeSchema(
  group: string,
  version: string,
  kind: string,
): TypeSchema | undefined {
  const name = builtinDefinitionName(group, version, kind)
  const definitions = builtinDefinitions()
  return definitions[name] ? { name, definitions } : undefined
}

export { type JSONSchema, type TypeSchema } from './types'

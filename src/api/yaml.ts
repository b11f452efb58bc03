// YAML bodies as sigs.k8s.io/yaml's YAMLToJSON reads them, within the nesting its parser (goyaml) allows.
// The yaml library composes documents recursively and runs out of JavaScript stack (or memory) some
// hundreds of levels down, so the nesting is measured first on its concrete syntax tree, which it builds
// without recursion: past goyaml's limit the answer is goyaml's, and a document deeper than the library
// can compose is read as JSON when it is JSON (flow style, as deep bodies are), else refused.
import { parse as parseYaml, Parser } from 'yaml'
import { decodeGoJson, GoJsonSyntaxError } from '../go/json'
import { errorText } from '../util/errors'

/** goyaml's max_flow_level and max_indents. */
export const YAML_MAX_DEPTH = 10000
/** The deepest document handed to the yaml library's composer (it recurses per level). */
const COMPOSE_MAX_DEPTH = 500

/** A YAML error in the words after goyaml's "yaml: ". */
export class YamlError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'YamlError'
  }
}

/** The first document of text as JSON values (null for an empty one), or YamlError. */
export function yamlToJson(text: string): unknown {
  const depth = nestingDepth(text)
  if (depth > YAML_MAX_DEPTH) throw new YamlError(`exceeded max depth of ${YAML_MAX_DEPTH}`)
  if (depth > COMPOSE_MAX_DEPTH) {
    try {
      return decodeGoJson(text)
    } catch (e) {
      if (!(e instanceof GoJsonSyntaxError)) throw e
    }
    throw new YamlError(`exceeded max depth of ${COMPOSE_MAX_DEPTH}`)
  }
  try {
    return parseYaml(text, { maxAliasCount: 100 }) ?? null
  } catch (e) {
    if (e instanceof RangeError) throw new YamlError(`exceeded max depth of ${COMPOSE_MAX_DEPTH}`)
    throw new YamlError(errorText(e).split('\n')[0])
  }
}

interface CstNode {
  items?: { key?: unknown; value?: unknown }[]
  value?: unknown
}

/** How deep collections nest in text's syntax tree, walked with an explicit stack. */
function nestingDepth(text: string): number {
  let max = 0
  const pending: [unknown, number][] = []
  for (const token of new Parser().parse(text)) pending.push([token, 1])
  while (pending.length) {
    const [node, depth] = pending.pop()!
    if (!node || typeof node !== 'object') continue
    if (depth > max) max = depth
    const n = node as CstNode
    for (const item of n.items ?? []) {
      if (item.key) pending.push([item.key, depth + 1])
      if (item.value) pending.push([item.value, depth + 1])
    }
    if (n.value && typeof n.value === 'object') pending.push([n.value, depth])
  }
  return max
}

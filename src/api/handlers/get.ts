import { negotiate, respond, respondJSON } from '../negotiation'
import { partialObjectMetadata, parseIncludeObject, toTable } from '../table'
import { type Scope } from '../scope'
import { parseResourceVersion } from '../../registry/store'
import { getScale } from '../scale'
import { decodeGetOptions, decodeTableOptions } from '../query'

export async function get(s: Scope): Promise<Response> {
  const target = negotiate(s.req.headers.get('accept'), { table: true, metadata: true })
  parseResourceVersion(decodeGetOptions(s.query).resourceVersion)
  // The object goes out as stored, as a list's items do (RegistryStore.getJSON).
  if (!s.info.subresource && !target.as && !target.yaml)
    return respondJSON(200, await s.rs.getJSON(s.namespace, s.info.name))
  const obj = await s.rs.get(s.namespace, s.info.name)
  if (s.info.subresource === 'scale') return respond(200, getScale(s.type, obj), target.yaml)
  let body = obj
  if (target.as === 'Table') {
    body = toTable(
      s.type,
      [obj],
      { resourceVersion: obj.metadata?.resourceVersion },
      parseIncludeObject(decodeTableOptions(s.query).includeObject),
      target.version,
    )
  } else if (target.as === 'PartialObjectMetadata') {
    body = partialObjectMetadata(obj, target.version)
  }
  return respond(200, body, target.yaml)
}

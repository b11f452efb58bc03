import { negotiate, respondAs } from '../negotiation'
import { partialObjectMetadata, parseIncludeObject, toTable } from '../table'
import { endpointFor, type Scope } from '../scope'
import { parseResourceVersion } from '../../registry/store'
import { getScale } from '../scale'
import { decodeGetOptions, decodeTableOptions } from '../query'

export async function get(s: Scope): Promise<Response> {
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  parseResourceVersion(decodeGetOptions(s.query).resourceVersion)
  const obj = await s.rs.get(s.namespace, s.info.name)
  if (s.info.subresource === 'scale') return respondAs(200, getScale(s.type, obj), target)
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
  return respondAs(200, body, target)
}

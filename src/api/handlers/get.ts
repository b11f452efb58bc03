import { negotiate, respondAs, respondJSON } from '../negotiation'
import { transformObject } from '../transform'
import { endpointFor, type Scope } from '../scope'
import { parseResourceVersion } from '../../registry/store'
import { getScale } from '../scale'
import { decodeGetOptions } from '../query'

export async function get(s: Scope): Promise<Response> {
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  parseResourceVersion(decodeGetOptions(s.query).resourceVersion)
  // The object goes out as stored, as a list's items do (RegistryStore.getJSON).
  if (!s.info.subresource && !target.as && !target.yaml && !target.protobuf)
    return respondJSON(200, await s.rs.getJSON(s.namespace, s.info.name))
  const obj = await s.rs.get(s.namespace, s.info.name)
  if (s.info.subresource === 'scale') return respondAs(200, getScale(s.type, obj), target)
  return respondAs(200, transformObject(s, target, obj), target)
}

// get and list of kinds computed on each read (ComponentStatus): no store, no resourceVersion, no watch;
// label and field selectors filter the list, and kubectl gets its Table.
import { selectorFilter } from '../list-filter'
import { negotiate, respond } from '../negotiation'
import { parseIncludeObject, partialObjectMetadata, toTable } from '../table'
import { decodeListOptions, decodeTableOptions } from '../query'
import type { Scope } from '../scope'
import { groupVersion, type HTTPProbe } from '../../registry/types'

export async function virtualRead(s: Scope, probe?: HTTPProbe): Promise<Response> {
  const reader = s.type.virtualRead!
  const target = negotiate(s.req.headers.get('accept'), { table: true, metadata: true })
  const req = { store: s.store, probe }
  const includeObject = () => parseIncludeObject(decodeTableOptions(s.query).includeObject)
  if (s.info.verb === 'get') {
    const obj = await reader.get(s.info.name, req)
    if (target.as === 'Table')
      return respond(200, toTable(s.type, [obj], {}, includeObject(), target.version), target.yaml)
    if (target.as === 'PartialObjectMetadata')
      return respond(200, partialObjectMetadata(obj, target.version), target.yaml)
    return respond(200, obj, target.yaml)
  }
  const filter = selectorFilter(s.type, decodeListOptions(s.query))
  const items = (await reader.list(req)).filter((o) => !filter || filter(o))
  if (target.as === 'Table')
    return respond(200, toTable(s.type, items, {}, includeObject(), target.version), target.yaml)
  return respond(
    200,
    { kind: s.type.listKind, apiVersion: groupVersion(s.type), metadata: {}, items },
    target.yaml,
  )
}

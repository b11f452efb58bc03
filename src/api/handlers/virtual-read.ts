// get and list of kinds computed on each read (ComponentStatus): no store, no resourceVersion, no watch;
// label and field selectors filter the list. The answer is negotiated as any get's and list's (kube serves
// these through the same handlers): Table, PartialObjectMetadata(List), JSON, YAML or protobuf.
import { selectorFilter } from '../list-filter'
import { negotiate, respondAs } from '../negotiation'
import { transformObject } from '../transform'
import { decodeListOptions } from '../query'
import { endpointFor, type Scope } from '../scope'
import type { HTTPProbe } from '../../registry/types'
import { respondList } from './list'

export async function virtualRead(s: Scope, probe?: HTTPProbe): Promise<Response> {
  const reader = s.type.virtualRead!
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  const req = { store: s.store, probe }
  if (s.info.verb === 'get') {
    const obj = await reader.get(s.info.name, req)
    return respondAs(200, transformObject(s, target, obj), target)
  }
  const filter = selectorFilter(s.type, decodeListOptions(s.query))
  const items = (await reader.list(req)).filter((o) => !filter || filter(o))
  return respondList(s, target, {}, items)
}

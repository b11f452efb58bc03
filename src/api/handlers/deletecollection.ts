import { selectorFilter } from '../list-filter'
import { decodeListOptions, validateListOptions } from '../query'
import { negotiate, respondAs } from '../negotiation'
import { endpointFor, type Scope } from '../scope'
import { groupVersion, type KubeObject } from '../../registry/types'
import { isStatusErrorReason } from '../../server/errors'
import { parseDeleteOptions } from './delete'
import { asListItem } from '../../registry/store'

export async function deletecollection(s: Scope): Promise<Response> {
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: false, metadata: false }),
  )
  // kube's DeleteCollection: the list options first, then the delete options.
  const listOptions = decodeListOptions(s.query)
  const filter = selectorFilter(s.type, listOptions)
  validateListOptions(listOptions)
  const opts = await parseDeleteOptions(s)
  const { items, resourceVersion } = await s.rs.list(s.namespace, { filter })
  const deleted: KubeObject[] = []
  for (const item of items) {
    try {
      const { object } = await s.rs.delete(
        item.metadata?.namespace,
        item.metadata!.name!,
        opts,
        s.ctx,
      )
      deleted.push(object)
    } catch (e) {
      // Removed by someone else meanwhile: the collection delete still succeeds, as kube-apiserver's does.
      if (!isStatusErrorReason(e, 'NotFound')) throw e
    }
  }
  return respondAs(
    200,
    {
      kind: s.type.listKind,
      apiVersion: groupVersion(s.type),
      metadata: { resourceVersion },
      // The deleted objects as a list's items (kube's DeleteCollection answers with the list it read).
      items: deleted.map((o) => asListItem(s.type, o)),
    },
    target,
  )
}

import { badRequest } from '../../server/errors'
import { selectorFilter } from '../list-filter'
import { negotiate, respond } from '../negotiation'
import { partialObjectMetadata, parseIncludeObject, toTable } from '../table'
import { queryInt, type Scope } from '../scope'
import { groupVersion } from '../../registry/types'

export async function list(s: Scope): Promise<Response> {
  const target = negotiate(s.req.headers.get('accept'), { table: true, metadata: true })
  const rvMatch = s.query.get('resourceVersionMatch') ?? ''
  const rv = s.query.get('resourceVersion') ?? ''
  const cont = s.query.get('continue') ?? ''
  validateListOptions(rv, rvMatch, cont)
  const result = await s.rs.list(s.namespace, {
    filter: selectorFilter(s.type, s.query),
    limit: queryInt(s.query, 'limit'),
    continue: cont || undefined,
    resourceVersion: rv || undefined,
    resourceVersionMatch: rvMatch || undefined,
  })
  const listMeta: Record<string, unknown> = { resourceVersion: result.resourceVersion }
  if (result.continue) listMeta.continue = result.continue
  if (result.remainingItemCount !== undefined) listMeta.remainingItemCount = result.remainingItemCount
  if (target.as === 'Table') {
    return respond(200, toTable(s.type, result.items, listMeta, parseIncludeObject(s.query.get('includeObject')), target.version), target.yaml)
  }
  if (target.as === 'PartialObjectMetadata' || target.as === 'PartialObjectMetadataList') {
    return respond(200, {
      kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${target.version}`, metadata: listMeta,
      items: result.items.map((o) => partialObjectMetadata(o, target.version)),
    }, target.yaml)
  }
  return respond(200, { kind: s.type.listKind, apiVersion: groupVersion(s.type), metadata: listMeta, items: result.items }, target.yaml)
}

// apimachinery's ValidateListOptions, with its messages.
export function validateListOptions(rv: string, rvMatch: string, cont: string): void {
  if (rvMatch) {
    if (rvMatch !== 'Exact' && rvMatch !== 'NotOlderThan') {
      throw badRequest(`resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "Exact", "NotOlderThan"`)
    }
    if (!rv) throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided')
    if (cont) throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided')
    if (rvMatch === 'Exact' && rv === '0') throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
  }
  if (cont && rv && rv !== '0') throw badRequest('resourceVersion: Forbidden: specifying resource version is not allowed when using continue')
}

import { badRequest } from '../../server/errors'
import { selectorFilter } from '../list-filter'
import {
  negotiate,
  respond,
  respondJSONBytes,
  respondProtobuf,
  type AcceptTarget,
} from '../negotiation'
import { partialObjectMetadata, parseIncludeObject, toTable } from '../table'
import { endpointFor, type Scope } from '../scope'
import { decodeListOptions, decodeTableOptions, validateListOptions } from '../query'
import { groupVersion, type KubeObject } from '../../registry/types'
import { asListItem, type ListResult } from '../../registry/store'
import { protobufListChunks } from '../protobuf/response'
import { listAsPartialObjectMetadata } from '../transform'

export async function list(s: Scope): Promise<Response> {
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  const options = decodeListOptions(s.query)
  const filter = selectorFilter(s.type, options)
  validateListOptions(options)
  // The storage layer's check, after the handler's validation (kube's etcd3 store and cacher).
  if (options.continue && options.resourceVersion && options.resourceVersion !== '0') {
    throw badRequest('specifying resource version is not allowed when using continue')
  }
  const opts = {
    limit: options.limit > 0 ? options.limit : undefined,
    continue: options.continue || undefined,
    resourceVersion: options.resourceVersion || undefined,
    resourceVersionMatch: options.resourceVersionMatch || undefined,
  }
  if (!target.as && !target.yaml && !target.protobuf && !filter) {
    // Items go out as stored: no object is parsed and serialized again.
    const result = await s.rs.listJSON(s.namespace, opts)
    const head = JSON.stringify({
      kind: s.type.listKind,
      apiVersion: groupVersion(s.type),
      metadata: listMetadata(result),
    })
    return respondJSONBytes(200, joinItems(`${head.slice(0, -1)},"items":[`, result.items, ']}'))
  }
  const result = await s.rs.listReadOnly(s.namespace, { ...opts, filter })
  return respondList(s, target, listMetadata(result), result.items)
}

/**
 * A list's answer as negotiated (kube's transformResponseObject on a list): a Table, a
 * PartialObjectMetadataList (406 for PartialObjectMetadata), or the <Kind>List in JSON, YAML or protobuf.
 */
export function respondList(
  s: Scope,
  target: AcceptTarget,
  listMeta: Record<string, unknown>,
  items: KubeObject[],
): Response {
  if (target.as === 'Table') {
    return respond(
      200,
      toTable(
        s.type,
        items,
        listMeta,
        parseIncludeObject(decodeTableOptions(s.query).includeObject),
        target.version,
      ),
      target.yaml,
    )
  }
  if (target.as === 'PartialObjectMetadata') throw listAsPartialObjectMetadata(s)
  if (target.as === 'PartialObjectMetadataList') {
    const partial = items.map((o) => partialObjectMetadata(o, target.version))
    const apiVersion = `meta.k8s.io/${target.version}`
    if (target.protobuf)
      return respondProtobuf(
        200,
        protobufListChunks(apiVersion, 'PartialObjectMetadataList', listMeta, partial),
      )
    return respond(
      200,
      { kind: 'PartialObjectMetadataList', apiVersion, metadata: listMeta, items: partial },
      target.yaml,
    )
  }
  // Protobuf items have no TypeMeta to carry; JSON and YAML items drop theirs as kube's do (asListItem).
  if (target.protobuf)
    return respondProtobuf(
      200,
      protobufListChunks(groupVersion(s.type), s.type.listKind, listMeta, items),
    )
  return respond(
    200,
    {
      kind: s.type.listKind,
      apiVersion: groupVersion(s.type),
      metadata: listMeta,
      items: items.map((o) => asListItem(s.type, o)),
    },
    target.yaml,
  )
}

function listMetadata(result: ListResult<unknown>): Record<string, unknown> {
  const listMeta: Record<string, unknown> = { resourceVersion: result.resourceVersion }
  if (result.continue) listMeta.continue = result.continue
  if (result.remainingItemCount !== undefined)
    listMeta.remainingItemCount = result.remainingItemCount
  return listMeta
}

const utf8 = new TextEncoder()
const COMMA = 44

/** head, the items separated by commas, and tail, in one buffer: one copy of each item's bytes. */
function joinItems(head: string, items: Uint8Array[], tail: string): Uint8Array {
  const h = utf8.encode(head)
  const t = utf8.encode(tail)
  let size = h.byteLength + t.byteLength + Math.max(items.length - 1, 0)
  for (const item of items) size += item.byteLength
  const out = new Uint8Array(size)
  out.set(h, 0)
  let at = h.byteLength
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out[at++] = COMMA
    out.set(items[i]!, at)
    at += items[i]!.byteLength
  }
  out.set(t, at)
  return out
}

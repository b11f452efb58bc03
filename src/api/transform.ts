// kube-apiserver's transformResponseObject (endpoints/handlers/response.go): every verb's answer goes out as
// negotiated, as a Table or as PartialObjectMetadata(List) when the client asked for one; a Status passes
// through; a transform that does not fit the answer (a list for PartialObjectMetadata, an object for
// PartialObjectMetadataList) is 406 with kube's words, the Go type named as %T prints it.
import { StatusError } from '../server/errors'
import type { KubeObject } from '../registry/types'
import type { AcceptTarget } from './negotiation'
import { decodeTableOptions } from './query'
import type { Scope } from './scope'
import { partialObjectMetadata, parseIncludeObject, toTable } from './table'

/** One object (a GET, a write's result) as the client asked for it. */
export function transformObject(s: Scope, target: AcceptTarget, obj: KubeObject): unknown {
  if (!target.as || obj.kind === 'Status') return obj
  if (target.as === 'Table')
    return toTable(
      s.type,
      [obj],
      { resourceVersion: obj.metadata?.resourceVersion },
      parseIncludeObject(decodeTableOptions(s.query).includeObject),
      target.version,
    )
  if (target.as === 'PartialObjectMetadata') return partialObjectMetadata(obj, target.version)
  throw notAcceptableTransform(
    `you requested PartialObjectMetadataList, but the requested object is not a list (${goType(s, obj.kind)})`,
  )
}

/** A list asked for as PartialObjectMetadata, a single object's transform: kube's asPartialObjectMetadata. */
export function listAsPartialObjectMetadata(s: Scope): StatusError {
  return notAcceptableTransform(
    `you requested PartialObjectMetadata, but the requested object is a list (${goType(s, s.type.listKind)})`,
  )
}

function notAcceptableTransform(message: string): StatusError {
  return new StatusError(406, 'NotAcceptable', message)
}

/** %T of the Go value: a pointer to the kind in its version's package; custom resources are unstructured. */
function goType(s: Scope, kind: string | undefined): string {
  if (s.type.custom)
    return kind === s.type.listKind
      ? '*unstructured.UnstructuredList'
      : '*unstructured.Unstructured'
  return `*${s.type.version}.${kind ?? s.type.kind}`
}

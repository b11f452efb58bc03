// POST to a kind that is computed rather than stored (the access reviews, TokenReview, SelfSubjectReview) or to a
// subresource that takes a kind of its own (serviceaccounts/<name>/token): kube-apiserver's NamedCreater and
// create-only REST storages. Anything but create is not routed for them.
import { decodeObject, negotiate, readBodyText, respondAs } from '../negotiation'
import { endpointFor, parseDryRun, type Scope } from '../scope'
import { methodNotAllowed, notFoundPath } from '../../server/errors'
import { groupVersion, type ResourceType } from '../../registry/types'

export async function virtualCreate(s: Scope): Promise<Response> {
  const sub = s.info.subresource ? s.type.createSubresources?.[s.info.subresource] : undefined
  if (s.info.subresource ? !sub || s.info.parts.length !== 3 : s.info.parts.length !== 1)
    throw notFoundPath()
  if (s.info.verb !== 'create') throw methodNotAllowed()
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: false, metadata: false }),
  )
  s.ctx.dryRun = parseDryRun(s.query)
  const into = sub
    ? { apiVersion: `${sub.group}/${sub.version}`, kind: sub.kind }
    : { apiVersion: groupVersion(s.type), kind: s.type.kind }
  const body = decodeObject(
    await readBodyText(s.req),
    s.req.headers.get('content-type') ?? '',
    into,
  )
  const req = {
    store: s.store,
    ctx: s.ctx,
    namespace: s.namespace ?? '',
    name: s.info.name,
    storeFor: (t: ResourceType) => s.rs.forType(t),
  }
  const out = sub ? await sub.create(body, req) : await s.type.virtualCreate!(body, req)
  return respondAs(201, out, target)
}

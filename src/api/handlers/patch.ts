import { badRequest } from '../../server/errors'
import { mediaType, negotiate, readBodyText, respond } from '../negotiation'
import { applyPatch } from '../patch'
import { parseDryRun, warningHeaders, type Scope } from '../scope'
import { applyScale, getScale } from '../scale'
import type { KubeObject } from '../../registry/types'

export async function patch(s: Scope): Promise<Response> {
  const target = negotiate(s.req.headers.get('accept'), { table: false, metadata: false })
  s.ctx.dryRun = parseDryRun(s.query)
  const contentType = mediaType(s.req.headers.get('content-type'))
  const text = await readBodyText(s.req)
  if (!text.trim()) throw badRequest('the body of the request was empty')
  const builtin = !s.type.custom
  const patchOne = (doc: KubeObject): KubeObject => {
    const out = applyPatch(contentType, doc, text, { builtin, kind: s.type.kind, group: s.type.group }) as KubeObject
    return out
  }
  if (s.info.subresource === 'scale') {
    const { object } = await s.rs.update(s.namespace, s.info.name, (cur) => {
      const scale = patchOne(getScale(s.type, cur!))
      return applyScale(s.type, cur!, scale)
    }, s.ctx)
    return respond(200, getScale(s.type, object), target.yaml)
  }
  const sub = s.info.subresource === 'status' ? 'status' : ''
  const { object } = await s.rs.update(s.namespace, s.info.name, (cur) => {
    const currentRV = cur?.metadata?.resourceVersion
    const patched = patchOne(cur!)
    // A patch that leaves resourceVersion alone applies to whatever is current (the patcher's retry loop);
    // one that sets it is a precondition, and fails with a Conflict once the object has moved on.
    if (patched.metadata && patched.metadata.resourceVersion === currentRV) delete patched.metadata.resourceVersion
    return patched
  }, s.ctx, sub)
  const res = respond(200, object, target.yaml)
  for (const [k, v] of Object.entries(warningHeaders(s.ctx))) res.headers.set(k, v)
  return res
}

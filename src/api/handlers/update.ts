import { decodeObject, negotiate, readBodyText, respondAs } from '../negotiation'
import { endpointFor, parseDryRun, type Scope } from '../scope'
import { applyScale, getScale } from '../scale'
import { decodeForWrite, withManagedFields, writeOptions } from '../writes'
import type { KubeObject } from '../../registry/types'
import { transformObject } from '../transform'

export async function update(s: Scope): Promise<Response> {
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  s.ctx.dryRun = parseDryRun(s.query)
  const opts = writeOptions(s, 'UpdateOptions')
  const text = await readBodyText(s.req)
  const contentType = s.req.headers.get('content-type') ?? ''
  if (s.info.subresource === 'scale') {
    const body = decodeObject(text, contentType, {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
    }) as KubeObject
    const { object } = await s.rs.update(
      s.namespace,
      s.info.name,
      (cur) =>
        withManagedFields(
          s,
          cur,
          applyScale(s.type, structuredClone(cur!), body),
          opts.manager,
          'scale',
        ),
      s.ctx,
    )
    return respondAs(200, getScale(s.type, object), target)
  }
  const body = decodeForWrite(s, text, contentType, opts.fieldValidation)
  const sub = s.info.subresource
  // The body's uid is a precondition (rest.DefaultUpdatedObjectInfo's Preconditions); each attempt
  // starts from the body as sent.
  const preconditions = { uid: body.metadata?.uid }
  const { object, created } = await s.rs.update(
    s.namespace,
    s.info.name,
    (cur) => withManagedFields(s, cur, structuredClone(body), opts.manager, sub),
    s.ctx,
    sub,
    { preconditions },
  )
  return respondAs(created ? 201 : 200, transformObject(s, target, object), target)
}

import { negotiate, readBodyText, respondAs } from '../negotiation'
import { endpointFor, parseDryRun, type Scope } from '../scope'
import { decodeForWrite, withManagedFields, writeOptions } from '../writes'
import { methodNotAllowed } from '../../server/errors'
import { transformObject } from '../transform'

export async function create(s: Scope): Promise<Response> {
  // POST goes to the collection; a named path takes no POST (virtual subresources like token are routed elsewhere).
  if (s.info.subresource || s.info.name) throw methodNotAllowed()
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  s.ctx.dryRun = parseDryRun(s.query)
  const opts = writeOptions(s, 'CreateOptions')
  const obj = decodeForWrite(
    s,
    await readBodyText(s.req),
    s.req.headers.get('content-type') ?? '',
    opts.fieldValidation,
  )
  const created = await s.rs.create(
    s.namespace,
    withManagedFields(s, undefined, obj, opts.manager),
    s.ctx,
  )
  return respondAs(201, transformObject(s, target, created), target)
}

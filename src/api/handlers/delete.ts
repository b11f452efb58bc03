import { decodeObject, negotiate, readBodyText, respond } from '../negotiation'
import { parseDryRun, queryInt, type Scope } from '../scope'
import { badRequest, methodNotAllowed } from '../../server/errors'
import type { DeleteOptions } from '../../registry/store'
import type { KubeObject, ResourceType } from '../../registry/types'

export async function parseDeleteOptions(s: Scope): Promise<DeleteOptions> {
  const text = await readBodyText(s.req)
  const body = text.trim() ? decodeObject(text, s.req.headers.get('content-type') || 'application/json') : {}
  const opts: DeleteOptions = {}
  const policy = (body.propagationPolicy as string | undefined) ?? s.query.get('propagationPolicy') ?? undefined
  if (policy !== undefined) {
    if (policy !== 'Orphan' && policy !== 'Background' && policy !== 'Foreground') {
      throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`)
    }
    opts.propagationPolicy = policy
  }
  const orphan = (body.orphanDependents as boolean | undefined) ?? (s.query.has('orphanDependents') ? s.query.get('orphanDependents') === 'true' : undefined)
  if (orphan !== undefined) {
    if (opts.propagationPolicy) throw badRequest('Invalid value: "": orphanDependents and deletionPropagation cannot be both set')
    opts.propagationPolicy = orphan ? 'Orphan' : 'Background'
  }
  const pre = body.preconditions as DeleteOptions['preconditions']
  if (pre) opts.preconditions = pre
  const grace = (body.gracePeriodSeconds as number | undefined) ?? queryInt(s.query, 'gracePeriodSeconds')
  if (grace !== undefined) opts.gracePeriodSeconds = grace
  const dryRun = body.dryRun as string[] | undefined
  if (dryRun?.length) for (const v of dryRun) s.query.append('dryRun', v)
  s.ctx.dryRun = parseDryRun(s.query)
  return opts
}

/** What kube-apiserver's generic store answers for a completed delete when it does not return the object. */
export function deletedStatus(type: ResourceType, obj: KubeObject): KubeObject {
  const details: Record<string, unknown> = { name: obj.metadata?.name }
  if (type.group) details.group = type.group
  details.kind = type.resource
  details.uid = obj.metadata?.uid
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details }
}

export async function del(s: Scope): Promise<Response> {
  if (s.info.subresource) throw methodNotAllowed()
  const target = negotiate(s.req.headers.get('accept'), { table: false, metadata: false })
  const opts = await parseDeleteOptions(s)
  const { object, deleted } = await s.rs.delete(s.namespace, s.info.name, opts, s.ctx)
  const body = deleted && !s.type.returnDeletedObject ? deletedStatus(s.type, object) : object
  return respond(200, body, target.yaml)
}

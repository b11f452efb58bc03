import { decodeObject, negotiate, readBodyText, respond } from '../negotiation'
import type { Scope } from '../scope'
import { decodeDeleteOptions, validateDryRun } from '../query'
import { badRequest, methodNotAllowed } from '../../server/errors'
import type { DeleteOptions } from '../../registry/store'
import type { KubeObject, ResourceType } from '../../registry/types'

/**
 * DeleteOptions from the body when there is one, else from the query, never both (kube's delete and
 * deletecollection handlers decode the query only for a request without a body).
 */
export async function parseDeleteOptions(s: Scope): Promise<DeleteOptions> {
  const text = await readBodyText(s.req)
  const body = text.trim() ? decodeObject(text, s.req.headers.get('content-type') || 'application/json') : undefined
  const given = body
    ? {
        propagationPolicy: body.propagationPolicy as string | undefined,
        orphanDependents: body.orphanDependents as boolean | undefined,
        gracePeriodSeconds: body.gracePeriodSeconds as number | undefined,
        dryRun: (body.dryRun as string[] | undefined) ?? [],
      }
    : decodeDeleteOptions(s.query)
  const opts: DeleteOptions = {}
  const policy = given.propagationPolicy
  if (policy !== undefined) {
    if (policy !== 'Orphan' && policy !== 'Background' && policy !== 'Foreground') {
      throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`)
    }
    opts.propagationPolicy = policy
  }
  const orphan = given.orphanDependents
  if (orphan !== undefined) {
    if (opts.propagationPolicy) throw badRequest('Invalid value: "": orphanDependents and deletionPropagation cannot be both set')
    opts.propagationPolicy = orphan ? 'Orphan' : 'Background'
  }
  const pre = body?.preconditions as DeleteOptions['preconditions']
  if (pre) opts.preconditions = pre
  if (given.gracePeriodSeconds !== undefined) opts.gracePeriodSeconds = given.gracePeriodSeconds
  s.ctx.dryRun = validateDryRun(given.dryRun)
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

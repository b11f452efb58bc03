import { decodeObject, negotiate, readBodyText, respondAs } from '../negotiation'
import { endpointFor, type Scope } from '../scope'
import { decodeDeleteOptions, validateDryRun } from '../query'
import { badRequest, methodNotAllowed } from '../../server/errors'
import { jsonKind, type JsonValue } from '../../go/json'
import type { DeleteOptions } from '../../registry/store'
import type { KubeObject, ResourceType } from '../../registry/types'
import { transformObject } from '../transform'

/**
 * DeleteOptions from the body when there is one, else from the query, never both (kube's delete and
 * deletecollection handlers decode the query only for a request without a body).
 */
export async function parseDeleteOptions(s: Scope): Promise<DeleteOptions> {
  const text = await readBodyText(s.req)
  const body = text.trim()
    ? decodeObject(text, s.req.headers.get('content-type') || 'application/json')
    : undefined
  const typeError = body && deleteOptionsTypeError(body)
  if (typeError) throw badRequest(typeError)
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
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
      )
    }
    opts.propagationPolicy = policy
  }
  const orphan = given.orphanDependents
  if (orphan !== undefined) {
    if (opts.propagationPolicy)
      throw badRequest(
        'Invalid value: "": orphanDependents and deletionPropagation cannot be both set',
      )
    opts.propagationPolicy = orphan ? 'Orphan' : 'Background'
  }
  const pre = body?.preconditions as DeleteOptions['preconditions']
  if (pre) opts.preconditions = pre
  if (given.gracePeriodSeconds !== undefined) opts.gracePeriodSeconds = given.gracePeriodSeconds
  s.ctx.dryRun = validateDryRun(given.dryRun)
  return opts
}

// DeleteOptions' fields and the Go types kjson decodes them into (all pointers: null is no value).
const DELETE_OPTIONS_FIELDS: Record<string, string> = {
  gracePeriodSeconds: 'int64',
  preconditions: 'v1.Preconditions',
  orphanDependents: 'bool',
  propagationPolicy: 'v1.DeletionPropagation',
  dryRun: '[]string',
  ignoreStoreReadErrorWithClusterBreakingPotential: 'bool',
}

/**
 * encoding/json's UnmarshalTypeError for the first DeleteOptions field, in document order, whose JSON type
 * its Go type cannot take; kube-apiserver answers it as a 400 (since 1.35; a 500 before).
 */
function deleteOptionsTypeError(body: Record<string, unknown>): string | undefined {
  const err = (value: string, field: string, type: string) =>
    `json: cannot unmarshal ${value} into Go struct field ${field} of type ${type}`
  for (const [field, v] of Object.entries(body)) {
    const type = DELETE_OPTIONS_FIELDS[field]
    if (!type || v === null) continue
    const kind = jsonKind(v as JsonValue)
    if (type === 'int64') {
      if (typeof v !== 'number') return err(kind, `DeleteOptions.${field}`, type)
      if (!Number.isInteger(v)) return err(`number ${v}`, `DeleteOptions.${field}`, type)
    } else if (
      type === 'bool'
        ? typeof v !== 'boolean'
        : type === '[]string'
          ? !Array.isArray(v)
          : type === 'v1.Preconditions'
            ? kind !== 'object'
            : typeof v !== 'string'
    ) {
      return err(kind, `DeleteOptions.${field}`, type)
    } else if (type === '[]string') {
      const bad = (v as unknown[]).find((x) => x !== null && typeof x !== 'string')
      if (bad !== undefined)
        return err(jsonKind(bad as JsonValue), `DeleteOptions.${field}`, 'string')
    } else if (type === 'v1.Preconditions') {
      for (const [k, p] of Object.entries(v as Record<string, unknown>)) {
        if ((k === 'uid' || k === 'resourceVersion') && p !== null && typeof p !== 'string') {
          return err(
            jsonKind(p as JsonValue),
            `Preconditions.preconditions.${k}`,
            k === 'uid' ? 'types.UID' : 'string',
          )
        }
      }
    }
  }
  return undefined
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
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  const opts = await parseDeleteOptions(s)
  const { object, deleted } = await s.rs.delete(s.namespace, s.info.name, opts, s.ctx)
  const body = deleted && !s.type.returnDeletedObject ? deletedStatus(s.type, object) : object
  return respondAs(200, transformObject(s, target, body), target)
}

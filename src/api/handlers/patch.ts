import { badRequest } from '../../server/errors'
import { mediaType, negotiate, readBodyText, respondAs } from '../negotiation'
import { APPLY_PATCH_YAML, applyPatchWithWarnings } from '../patch'
import { endpointFor, parseDryRun, type Scope } from '../scope'
import { applyScale, getScale } from '../scale'
import {
  applyToLive,
  decodeApplyConfiguration,
  enforceFieldValidation,
  patchDecodeError,
  pruneForPatch,
  withManagedFields,
  writeOptions,
} from '../writes'
import type { KubeObject } from '../../registry/types'
import { yamlToJson } from '../yaml'
import { transformObject } from '../transform'

export async function patch(s: Scope): Promise<Response> {
  const target = negotiate(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  s.ctx.dryRun = parseDryRun(s.query)
  const contentType = mediaType(s.req.headers.get('content-type'))
  const opts = writeOptions(s, 'PatchOptions', contentType)
  const text = await readBodyText(s.req)
  if (!text.trim()) throw badRequest('the body of the request was empty')
  s.ctx.audit?.logRequestPatch(() => patchForAudit(text))
  const builtin = !s.type.custom
  const patchOne = (doc: KubeObject): KubeObject => {
    const { object, strictErrors } = applyPatchWithWarnings(contentType, doc, text, {
      builtin,
      kind: s.type.kind,
      group: s.type.group,
      fieldValidation: opts.fieldValidation,
    })
    const patched = object as KubeObject
    const decodeError = patchDecodeError(s, contentType, text, patched)
    if (decodeError) throw decodeError
    // patch.go: the patched object is decoded strictly; the patch's own duplicate fields come first.
    enforceFieldValidation(
      opts.fieldValidation,
      [...strictErrors, ...pruneForPatch(s, patched)],
      s.ctx,
    )
    return patched
  }
  if (s.info.subresource === 'scale') {
    const { object } = await s.rs.update(
      s.namespace,
      s.info.name,
      (cur) => {
        const scale = applyPatchWithWarnings(contentType, getScale(s.type, cur!), text, {
          builtin,
          kind: 'Scale',
          group: 'autoscaling',
          fieldValidation: opts.fieldValidation,
        }).object as KubeObject
        return withManagedFields(
          s,
          cur,
          applyScale(s.type, structuredClone(cur!), scale),
          opts.manager,
          'scale',
        )
      },
      s.ctx,
    )
    return respondAs(200, getScale(s.type, object), target)
  }
  const sub = s.info.subresource
  // A patch that leaves resourceVersion alone carries the current one, so it applies to whatever is current
  // (the registry store retries it on a conflict); one that sets it is a precondition.
  if (contentType === APPLY_PATCH_YAML) {
    const config = decodeApplyConfiguration(text)
    const { object, created } = await s.rs.update(
      s.namespace,
      s.info.name,
      (cur) => applyToLive(s, cur, structuredClone(config), opts, sub),
      s.ctx,
      sub,
      { forceAllowCreate: true },
    )
    return respondAs(created ? 201 : 200, transformObject(s, target, object), target)
  }
  // A retried attempt warns again; the recorder keeps each text once, as kube's does.
  const { object } = await s.rs.update(
    s.namespace,
    s.info.name,
    (cur) => withManagedFields(s, cur, patchOne(cur!), opts.manager, sub),
    s.ctx,
    sub,
  )
  return respondAs(200, transformObject(s, target, object), target)
}

/** LogRequestPatch keeps the patch as sent; an apply's YAML is kept as the JSON it reads as. */
function patchForAudit(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    try {
      return yamlToJson(text)
    } catch {
      return text
    }
  }
}

// AdmissionReview v1 (admission.k8s.io/v1): the request a webhook receives, and the checks kube-apiserver
// makes of its response.
import { z } from 'zod'
import type { Attributes } from '../types'

type Obj = Record<string, any>

/** The AdmissionRequest for these attributes; also the `request` variable of CEL expressions. */
export function admissionRequest(a: Attributes, uid: string): Obj {
  const kind = a.kind ?? { group: a.type.group, version: a.type.version, kind: a.type.kind }
  const resource = { group: a.type.group, version: a.type.version, resource: a.type.resource }
  const req: Obj = {
    uid,
    kind,
    resource,
    requestKind: kind,
    requestResource: resource,
    name: a.name || (a.object?.metadata?.name ?? ''),
    operation: a.operation,
    userInfo: a.user
      ? {
          username: a.user.username,
          ...(a.user.uid ? { uid: a.user.uid } : {}),
          groups: a.user.groups,
          ...(a.user.extra ? { extra: a.user.extra } : {}),
        }
      : {},
    object: a.object ?? null,
    oldObject: a.oldObject ?? null,
    dryRun: a.dryRun,
    options: a.options ?? null,
  }
  if (a.subresource) {
    req.subResource = a.subresource
    req.requestSubResource = a.subresource
  }
  if (a.namespace) req.namespace = a.namespace
  return req
}

const statusSchema = z
  .object({
    code: z.number().int().optional(),
    message: z.string().optional(),
    reason: z.string().optional(),
    status: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough()

export const admissionReviewResponseSchema = z
  .object({
    apiVersion: z.string(),
    kind: z.string(),
    response: z
      .object({
        uid: z.string(),
        allowed: z.boolean(),
        status: statusSchema.optional().nullable(),
        patch: z.string().optional().nullable(),
        patchType: z.string().optional().nullable(),
        auditAnnotations: z.record(z.string(), z.string()).optional().nullable(),
        warnings: z.array(z.string()).optional().nullable(),
      })
      .passthrough(),
  })
  .passthrough()

export type AdmissionResponse = z.infer<typeof admissionReviewResponseSchema>['response']

/** VerifyAdmissionResponse: the kind, version and uid must be the ones sent. */
export function verifyResponse(body: unknown, uid: string, mutating: boolean): AdmissionResponse {
  const parsed = admissionReviewResponseSchema.safeParse(body)
  if (!parsed.success) {
    const b = body as Obj | undefined
    if (b && typeof b === 'object' && !b.response) throw new Error('webhook response was absent')
    throw new Error(
      `could not decode the webhook response: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  }
  const review = parsed.data
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    throw new Error(
      `expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${review.apiVersion}, Kind=${review.kind}`,
    )
  }
  const r = review.response
  if (r.uid !== uid) throw new Error(`expected response.uid="${uid}", got "${r.uid}"`)
  if (mutating && r.patch) {
    if (r.patchType !== 'JSONPatch')
      throw new Error(`expected patchType "JSONPatch", got "${r.patchType ?? ''}"`)
  } else if (!mutating && (r.patch || r.patchType)) {
    throw new Error('validating webhooks may not return patches')
  }
  return r
}

// A CRD's Webhook conversion (apiextensions-apiserver's webhook_converter.go): objects not already in the
// desired version go to the CRD's webhook in one ConversionReview, and what comes back is checked as kube
// checks it (uid, count, apiVersion and kind, metadata that only labels and annotations may change) before the
// original metadata is restored under the webhook's labels and annotations. Any failure is kube's bare 500
// (ErrorToAPIStatus of an error that is no Status: no reason), worded `conversion webhook for <gvk> failed: ...`.
import { StatusError, fieldErrorString, type StatusReason } from '../../server/errors'
import type { KubeObject } from '../../registry/types'
import type { Store } from '../../storage/store'
import { ObjectReader } from '../../admission/reader'
import {
  defaultWebhookFetch,
  postWebhook,
  resolveClientConfig,
  withTimeoutParam,
  type WebhookFetch,
} from '../../admission/webhook/client'
import { validateAnnotations, validateLabels } from '../../registry/validation/objectmeta'
import type { CRD } from '../types'
import { goTypeName } from '../../go/json'
import { errorText } from '../../util/errors'

type Obj = Record<string, any>

/** client-go's default for a conversion webhook call: what kube sends as ?timeout=30s. */
const CONVERSION_TIMEOUT_SECONDS = 30

export interface ConversionOptions {
  /** How to POST to the webhook; Node mode honours caBundle, the Worker's fetch cannot. */
  fetch?: WebhookFetch
}

/** Converts objects to a version; objects already there are returned as they are and never sent. */
export type Converter = (
  objects: KubeObject[],
  desiredAPIVersion: string,
  store: Store,
) => Promise<KubeObject[]>

/** GroupVersionKind.String(): "stable.example.com/v1, Kind=CronTab". */
function gvkString(obj: KubeObject): string {
  return `${obj.apiVersion ?? ''}, Kind=${obj.kind ?? ''}`
}

function fail(message: string): StatusError {
  return new StatusError(500, '' as StatusReason, message)
}

/** The first ConversionReview version both sides speak (createConversionReviewObjects). */
function reviewVersion(versions: string[] | undefined): 'v1' | 'v1beta1' | undefined {
  for (const v of versions ?? []) if (v === 'v1' || v === 'v1beta1') return v
  return undefined
}

/** getConvertedObjectsFromResponse: the converted objects, or why the response is not acceptable. */
function convertedObjects(body: unknown, version: 'v1' | 'v1beta1', uid: string): unknown[] {
  const review = (body && typeof body === 'object' ? body : {}) as Obj
  if (version === 'v1') {
    // v1beta1 responses were never checked for kind or uid; kube keeps it that way for compatibility.
    const gvk = `${review.apiVersion ?? ''}, Kind=${review.kind ?? ''}`
    if (gvk !== 'apiextensions.k8s.io/v1, Kind=ConversionReview')
      throw new Error(
        `expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got ${gvk}`,
      )
  }
  const response = review.response as Obj | undefined | null
  if (!response || typeof response !== 'object') throw new Error('no response provided')
  if (version === 'v1' && (response.uid ?? '') !== uid)
    throw new Error(`expected response.uid="${uid}", got "${response.uid ?? ''}"`)
  const result = (response.result ?? {}) as Obj
  if (result.status !== 'Success') {
    if (typeof result.message === 'string' && result.message) throw new Error(result.message)
    throw new Error(`response.result.status was '${result.status ?? ''}', not 'Success'`)
  }
  return Array.isArray(response.convertedObjects) ? response.convertedObjects : []
}

/** validateConvertedObject: everything of ObjectMeta that identifies the object must be what was sent. */
function validateConverted(original: KubeObject, converted: KubeObject): string | undefined {
  const o = original.metadata ?? {}
  const c = (
    converted.metadata && typeof converted.metadata === 'object' ? converted.metadata : {}
  ) as Obj
  if ((original.kind ?? '') !== (converted.kind ?? ''))
    return `must have the same kind: ${original.kind ?? ''} != ${converted.kind ?? ''}`
  if ((o.name ?? '') !== (c.name ?? ''))
    return `must have the same name: ${o.name ?? ''} != ${c.name ?? ''}`
  if ((o.namespace ?? '') !== (c.namespace ?? ''))
    return `must have the same namespace: ${o.namespace ?? ''} != ${c.namespace ?? ''}`
  if ((o.uid ?? '') !== (c.uid ?? ''))
    return `must have the same UID: ${o.uid ?? ''} != ${c.uid ?? ''}`
  return undefined
}

/**
 * restoreObjectMeta: the original metadata, with the webhook's labels and annotations (validated when they
 * changed). Returns the reason when the converted metadata is unusable.
 */
function restoreObjectMeta(original: KubeObject, converted: Obj): string | undefined {
  const response = converted.metadata
  if (response === undefined) return 'missing metadata in converted object'
  if (!response || typeof response !== 'object' || Array.isArray(response))
    return `invalid metadata of type ${goType(response)} in converted object`
  const meta: Obj = structuredClone(original.metadata ?? {})
  for (const field of ['labels', 'annotations'] as const) {
    const got = response[field]
    if (got === undefined || got === null) {
      delete meta[field]
      continue
    }
    if (typeof got !== 'object' || Array.isArray(got))
      return `invalid metadata.${field} of type ${goType(got)} in converted object`
    const before = (meta[field] ?? {}) as Record<string, unknown>
    let changed = Object.keys(before).length !== Object.keys(got).length
    for (const [k, v] of Object.entries(got as Obj)) {
      if (typeof v !== 'string')
        return `metadata.${field}[${k}] must be a string, but is ${goType(v)} in converted object`
      if (before[k] !== v) changed = true
    }
    if (changed) {
      // kube's path for annotations reads "metadata.annotation" (apivalidation.ValidateAnnotations' caller).
      const errs =
        field === 'labels'
          ? validateLabels(got, 'metadata.labels')
          : validateAnnotations(got, 'metadata.annotation')
      if (errs.length) {
        const list = errs.map(fieldErrorString)
        return list.length === 1 ? list[0] : `[${list.join(', ')}]`
      }
    }
    meta[field] = got
  }
  converted.metadata = meta
  return undefined
}

/** %T of a JSON value decoded into interface{}: goTypeName, and "<nil>" for nil. */
function goType(v: unknown): string {
  return v === null || v === undefined ? '<nil>' : goTypeName(v)
}

/** The converter of a CRD whose spec.conversion.strategy is Webhook. */
export function webhookConverter(crd: CRD, opts: ConversionOptions = {}): Converter {
  const fetcher = opts.fetch ?? defaultWebhookFetch
  const webhook = crd.spec.conversion?.webhook ?? {}
  return async (objects, desiredAPIVersion, store) => {
    const toConvert: number[] = []
    objects.forEach((o, i) => {
      if (o.apiVersion !== desiredAPIVersion) toConvert.push(i)
    })
    if (!toConvert.length) return objects
    const sent = toConvert.map((i) => objects[i])
    // The message names the kind and version converted from, as kube's per-object Convert does.
    const what = gvkString(sent[0])
    const version = reviewVersion(webhook.conversionReviewVersions)
    if (!version) throw fail('no supported conversion review versions')
    const uid = crypto.randomUUID()
    const body = JSON.stringify({
      kind: 'ConversionReview',
      apiVersion: `apiextensions.k8s.io/${version}`,
      request: { uid, desiredAPIVersion, objects: sent },
    })
    let converted: unknown[]
    try {
      const { url, caBundle, serverName } = await resolveClientConfig(webhook.clientConfig ?? {}, {
        reader: new ObjectReader(store),
      })
      const answer = await postWebhook(
        fetcher,
        { url: withTimeoutParam(url, CONVERSION_TIMEOUT_SECONDS), caBundle, serverName },
        body,
        CONVERSION_TIMEOUT_SECONDS,
      )
      converted = convertedObjects(answer, version, uid)
    } catch (e) {
      if (e instanceof StatusError) throw e
      throw fail(`conversion webhook for ${what} failed: ${errorText(e)}`)
    }
    if (converted.length !== sent.length)
      throw fail(
        `conversion webhook for ${what} returned ${converted.length} objects, expected ${sent.length}`,
      )
    const out = objects.slice()
    converted.forEach((c, n) => {
      const original = sent[n]
      const from = gvkString(original)
      if (!c || typeof c !== 'object' || Array.isArray(c))
        throw fail(
          `conversion webhook for ${from} failed, unexpected type ${goType(c)} at index ${n}`,
        )
      const obj = c as KubeObject
      if (obj.apiVersion !== desiredAPIVersion) {
        throw fail(
          `conversion webhook for ${from} returned invalid object at index ${n}: invalid groupVersion (expected ${desiredAPIVersion}, received ${obj.apiVersion ?? ''})`,
        )
      }
      if (obj.kind !== original.kind) {
        throw fail(
          `conversion webhook for ${from} returned invalid object at index ${n}: invalid kind (expected ${original.kind ?? ''}, received ${obj.kind ?? ''})`,
        )
      }
      const invalid = validateConverted(original, obj)
      if (invalid) throw fail(`conversion webhook for ${from} returned invalid object: ${invalid}`)
      const badMeta = restoreObjectMeta(original, obj)
      if (badMeta)
        throw fail(`conversion webhook for ${from} returned invalid metadata: ${badMeta}`)
      out[toConvert[n]] = obj
    })
    return out
  }
}

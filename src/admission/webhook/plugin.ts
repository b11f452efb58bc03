// MutatingAdmissionWebhook and ValidatingAdmissionWebhook (k8s.io/apiserver/pkg/admission/plugin/webhook): the
// configurations are read from the Store per request, matched by rules, selectors and matchConditions, and
// called with AdmissionReview v1 from the Worker (never from the Durable Object: an awaited fetch there would
// let other writes interleave). Mutating webhooks run in order and patch the object with JSON patch; validating
// webhooks run in parallel. failurePolicy decides what a failed call means; errors name the webhook.
import { applyJsonPatch } from '../../api/patch'
import { StatusError, badRequest, internalError, type StatusReason } from '../../server/errors'
import type { KubeObject } from '../../registry/types'
import { CelCompileError, CelEvalError, evaluateBool, toCel } from '../cel'
import type { PluginContext } from '../chain'
import type { AdmissionPlugin, Attributes } from '../types'
import {
  defaultWebhookFetch,
  postWebhook,
  resolveClientConfig,
  WebhookPostError,
  withTimeoutParam,
  type WebhookFetch,
} from './client'
import { namespaceSelectorMatches, objectSelectorMatches, rulesMatch } from './matching'
import { admissionRequest, verifyResponse } from './review'
import { errorText } from '../../util/errors'

type Obj = Record<string, any>

export interface WebhookOptions {
  /** How to POST to a webhook; Node mode honours caBundle, the Worker's fetch cannot. */
  fetch?: WebhookFetch
}

class CallError extends Error {}

async function shouldCall(w: Obj, a: Attributes): Promise<boolean> {
  if (!rulesMatch(w.rules, a)) return false
  try {
    if (!(await namespaceSelectorMatches(w.namespaceSelector, a))) return false
    if (!objectSelectorMatches(w.objectSelector, a)) return false
  } catch {
    return false
  }
  return true
}

/** matchConditions: all true calls the webhook; any false skips it; an error follows failurePolicy. */
function matchConditions(w: Obj, a: Attributes, request: Obj): boolean {
  const conds = (w.matchConditions ?? []) as Obj[]
  if (!conds.length) return true
  const vars = {
    object: toCel(a.object ?? null),
    oldObject: toCel(a.oldObject ?? null),
    request: toCel(request),
  }
  const errors: string[] = []
  for (const c of conds) {
    try {
      if (!evaluateBool(c.expression, vars)) return false
    } catch (e) {
      if (e instanceof CelCompileError || e instanceof CelEvalError)
        errors.push(`expression '${c.expression}' resulted in error: ${e.message}`)
      else throw e
    }
  }
  if (errors.length)
    throw new CallError(`failed to evaluate match conditions: ${errors.join(', ')}`)
  return true
}

function sideEffectsAllowDryRun(w: Obj): boolean {
  return w.sideEffects === 'None' || w.sideEffects === 'NoneOnDryRun'
}

/** One call, timed for apiserver_admission_webhook_admission_duration_seconds (rejected: failed or denied). */
async function call(
  w: Obj,
  a: Attributes,
  fetcher: WebhookFetch,
): Promise<NonNullable<ReturnType<typeof verifyResponse>>> {
  const start = performance.now()
  let rejected = true
  try {
    const r = await callOnce(w, a, fetcher)
    rejected = !r.allowed
    return r
  } finally {
    const type = w.__mutating === true ? 'admit' : 'validate'
    a.metrics?.admissionWebhook.observe(
      [String(w.name), type, a.operation, String(rejected)],
      (performance.now() - start) / 1000,
    )
  }
}

async function callOnce(
  w: Obj,
  a: Attributes,
  fetcher: WebhookFetch,
): Promise<NonNullable<ReturnType<typeof verifyResponse>>> {
  const uid = crypto.randomUUID()
  const request = admissionRequest(a, uid)
  if (!matchConditions(w, a, request)) return { uid, allowed: true }
  const timeoutSeconds = w.timeoutSeconds ?? 10
  const { url, caBundle, serverName } = await resolveClientConfig(w.clientConfig ?? {}, a)
  const target = withTimeoutParam(url, timeoutSeconds)
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request,
  })
  let parsed: unknown
  try {
    parsed = await postWebhook(fetcher, { url: target, caBundle, serverName }, body, timeoutSeconds)
  } catch (e) {
    if (!(e instanceof WebhookPostError)) throw e
    throw new CallError(
      e.stage === 'transport'
        ? `failed to call webhook: ${e.message}`
        : `received invalid webhook response: ${e.message}`,
    )
  }
  try {
    return verifyResponse(parsed, uid, !!w.reinvocationPolicy || w.__mutating === true)
  } catch (e) {
    throw new CallError(`received invalid webhook response: ${errorText(e)}`)
  }
}

/** webhookerrors.ToStatusErr: a denial in kube's words, never with a code below 400. */
function denied(name: string, status: Obj | null | undefined): StatusError {
  const s = status ?? {}
  const deniedBy = `admission webhook "${name}" denied the request`
  const message = s.message
    ? `${deniedBy}: ${s.message}`
    : s.reason
      ? `${deniedBy}: ${s.reason}`
      : `${deniedBy} without explanation`
  const code = typeof s.code === 'number' && s.code >= 400 ? s.code : 400
  return new StatusError(
    code,
    (s.reason ?? '') as StatusReason,
    message,
    s.details as StatusError['details'],
  )
}

function recordResponse(w: Obj, a: Attributes, r: Obj): void {
  for (const warning of (r.warnings ?? []) as string[]) if (warning) a.warnings.push(warning)
  for (const [k, v] of Object.entries((r.auditAnnotations ?? {}) as Record<string, string>))
    a.annotations[`${w.name}/${k}`] = v
}

/** What happens when calling a webhook failed: Ignore goes on, Fail stops the request with the webhook named. */
function onCallFailure(w: Obj, a: Attributes, e: unknown, key: string): void {
  // An object too deep to encode into the review is the request's failure, not the webhook's.
  if (e instanceof StatusError || e instanceof RangeError) throw e
  const msg = `failed calling webhook "${w.name}": ${errorText(e)}`
  if ((w.failurePolicy ?? 'Fail') === 'Ignore') {
    a.annotations[key] = JSON.stringify({ name: w.name })
    return
  }
  throw internalError(new Error(msg))
}

async function listConfigurations(a: Attributes, prefix: string): Promise<Obj[]> {
  const configs = (await a.reader.list(prefix, '')) as Obj[]
  // Configurations in name order, webhooks in their order within each (kube's sorted accessor list).
  configs.sort((x, y) => (x.metadata?.name < y.metadata?.name ? -1 : 1))
  return configs.flatMap((c) =>
    ((c.webhooks ?? []) as Obj[]).map((w) => ({ ...w, __config: c.metadata?.name })),
  )
}

function isWebhookConfigurationKind(a: Attributes): boolean {
  // Webhooks are never called for webhook configurations or policies, so a broken webhook cannot lock itself in.
  return a.type.group === 'admissionregistration.k8s.io'
}

export function mutatingAdmissionWebhook(ctx: PluginContext): AdmissionPlugin {
  const fetcher = ctx.webhook?.fetch ?? defaultWebhookFetch
  return {
    name: 'MutatingAdmissionWebhook',
    async admit(a) {
      if (isWebhookConfigurationKind(a)) return
      const hooks = await listConfigurations(a, 'mutatingwebhookconfigurations')
      if (!hooks.length) return
      const invoked: { w: Obj; index: number; changedSince: boolean }[] = []
      // callAttrMutatingHook records every call it makes, whatever its outcome, for the audit log.
      const runOne = async (w: Obj, index: number, round: number): Promise<boolean> => {
        if (!(await shouldCall(w, a))) return false
        let mutated = false
        try {
          mutated = await callOne(w, index, round)
          return mutated
        } finally {
          a.annotations[`mutation.webhook.admission.k8s.io/round_${round}_index_${index}`] ??=
            JSON.stringify({ configuration: w.__config, webhook: w.name, mutated })
        }
      }
      const callOne = async (w: Obj, index: number, round: number): Promise<boolean> => {
        if (a.dryRun && !sideEffectsAllowDryRun(w))
          throw badRequest(`admission webhook "${w.name}" does not support dry run`)
        let r: Obj
        try {
          r = await call({ ...w, __mutating: true }, a, fetcher)
        } catch (e) {
          onCallFailure(
            w,
            a,
            e,
            `failed-open.mutation.webhook.admission.k8s.io/round_${round}_index_${index}`,
          )
          return false
        }
        recordResponse(w, a, r)
        if (!r.allowed) throw denied(w.name, r.status)
        if (!r.patch) return false
        if (!a.object)
          throw internalError(
            new Error(
              `admission webhook "${w.name}" attempted to modify the object, which is not supported for this operation`,
            ),
          )
        let patched: KubeObject
        try {
          patched = applyJsonPatch(a.object, atob(r.patch)) as KubeObject
        } catch (e) {
          throw internalError(
            new Error(`failed calling webhook "${w.name}": JSONPatch failed: ${errorText(e)}`),
          )
        }
        const before = JSON.stringify(a.object)
        if (JSON.stringify(patched) === before) return false
        for (const k of Object.keys(a.object)) delete (a.object as Obj)[k]
        Object.assign(a.object, patched)
        // The patched object is decoded and defaulted again, as kube's dispatcher does; one that no longer
        // decodes stops the request here, naming the webhook, before anything is stored.
        try {
          a.type.strategy.defaults?.(a.object)
        } catch (e) {
          throw internalError(
            new Error(
              `admission webhook "${w.name}" returned a patch that does not decode: ${errorText(e)}`,
            ),
          )
        }
        a.annotations[`patch.webhook.admission.k8s.io/round_${round}_index_${index}`] =
          JSON.stringify({ configuration: w.__config, webhook: w.name, patchType: 'JSONPatch' })
        return true
      }
      for (let i = 0; i < hooks.length; i++) {
        const w = hooks[i]
        const changed = await runOne(w, i, 0)
        if (changed) for (const inv of invoked) inv.changedSince = true
        invoked.push({ w, index: i, changedSince: false })
      }
      // reinvocationPolicy IfNeeded: once more for each webhook that ran before a later one changed the object.
      for (const inv of invoked) {
        if (inv.w.reinvocationPolicy === 'IfNeeded' && inv.changedSince)
          await runOne(inv.w, inv.index, 1)
      }
    },
  }
}

export function validatingAdmissionWebhook(ctx: PluginContext): AdmissionPlugin {
  const fetcher = ctx.webhook?.fetch ?? defaultWebhookFetch
  return {
    name: 'ValidatingAdmissionWebhook',
    async validate(a) {
      if (isWebhookConfigurationKind(a)) return
      const hooks = await listConfigurations(a, 'validatingwebhookconfigurations')
      if (!hooks.length) return
      const relevant: { w: Obj; index: number }[] = []
      for (let i = 0; i < hooks.length; i++)
        if (await shouldCall(hooks[i], a)) relevant.push({ w: hooks[i], index: i })
      for (const { w } of relevant)
        if (a.dryRun && !sideEffectsAllowDryRun(w))
          throw badRequest(`admission webhook "${w.name}" does not support dry run`)
      // All validating webhooks are called at once; the first error in webhook order is the one reported.
      const results = await Promise.allSettled(relevant.map(({ w }) => call(w, a, fetcher)))
      let firstError: unknown
      results.forEach((res, i) => {
        const { w, index } = relevant[i]
        try {
          if (res.status === 'rejected')
            return onCallFailure(
              w,
              a,
              res.reason,
              `failed-open.validating.webhook.admission.k8s.io/round_0_index_${index}`,
            )
          recordResponse(w, a, res.value)
          if (!res.value.allowed) throw denied(w.name, res.value.status)
        } catch (e) {
          firstError ??= e
        }
      })
      if (firstError) throw firstError
    },
  }
}

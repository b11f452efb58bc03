// LimitRanger (plugin/pkg/admission/limitranger): container defaults from the namespace's LimitRanges in the
// mutating phase; min, max and maxLimitRequestRatio enforced on pods and PVCs in the validating phase.
import { admissionForbidden, isKind, type AdmissionPlugin, type Attributes } from '../types'
import {
  add,
  cmp,
  formatQuantity,
  parseQuantity,
  tryParseQuantity,
  type Quantity,
} from '../../registry/quantity'

type Obj = Record<string, any>
const ANNOTATION = 'kubernetes.io/limit-ranger'

function supports(a: Attributes): boolean {
  if (a.subresource) return false
  if (a.operation !== 'CREATE' && a.operation !== 'UPDATE') return false
  // Containers cannot change on a pod update; only creates are defaulted and checked.
  if (isKind(a, '', 'Pod') && a.operation === 'UPDATE') return false
  return isKind(a, '', 'Pod') || isKind(a, '', 'PersistentVolumeClaim')
}

async function limitRanges(a: Attributes): Promise<Obj[]> {
  return (await a.reader.list('limitranges', a.namespace)) as Obj[]
}

/** defaultContainerResourceRequirements + mergePodResourceRequirements, with the kubernetes.io/limit-ranger annotation. */
export function mutatePod(limitRange: Obj, pod: Obj): void {
  const requests: Obj = {}
  const limits: Obj = {}
  for (const item of (limitRange.spec?.limits ?? []) as Obj[]) {
    if (item.type !== 'Container') continue
    Object.assign(requests, item.defaultRequest ?? {})
    Object.assign(limits, item.default ?? {})
  }
  const notes: string[] = []
  const merge = (c: Obj, prefix: string) => {
    const resources = (c.resources ??= {})
    const setLimits: string[] = []
    const setRequests: string[] = []
    for (const [k, v] of Object.entries(limits)) {
      if (resources.limits?.[k] === undefined) {
        resources.limits ??= {}
        resources.limits[k] = v
        setLimits.push(k)
      }
    }
    for (const [k, v] of Object.entries(requests)) {
      if (resources.requests?.[k] === undefined) {
        resources.requests ??= {}
        resources.requests[k] = v
        setRequests.push(k)
      }
    }
    if (setRequests.length)
      notes.push(`${setRequests.sort().join(', ')} request for ${prefix} ${c.name}`)
    if (setLimits.length) notes.push(`${setLimits.sort().join(', ')} limit for ${prefix} ${c.name}`)
  }
  for (const c of (pod.spec?.containers ?? []) as Obj[]) merge(c, 'container')
  for (const c of (pod.spec?.initContainers ?? []) as Obj[]) merge(c, 'init container')
  if (notes.length) {
    pod.metadata ??= {}
    pod.metadata.annotations = {
      ...(pod.metadata.annotations ?? {}),
      [ANNOTATION]: 'LimitRanger plugin set: ' + notes.join('; '),
    }
  }
}

function q(list: Obj | undefined, name: string): Quantity | undefined {
  return list ? tryParseQuantity(list[name]) : undefined
}
const str = (v: unknown) => formatQuantity(parseQuantity(v as string))

function minConstraint(
  limitType: string,
  resource: string,
  enforced: unknown,
  requests: Obj | undefined,
  limits: Obj | undefined,
): string | undefined {
  const e = parseQuantity(enforced as string)
  const req = q(requests, resource)
  const lim = q(limits, resource)
  if (!req)
    return `minimum ${resource} usage per ${limitType} is ${str(enforced)}.  No request is specified`
  if (cmp(req, e) < 0)
    return `minimum ${resource} usage per ${limitType} is ${str(enforced)}, but request is ${formatQuantity(req)}`
  if (lim && cmp(lim, e) < 0)
    return `minimum ${resource} usage per ${limitType} is ${str(enforced)}, but limit is ${formatQuantity(lim)}`
  return undefined
}

function maxConstraint(
  limitType: string,
  resource: string,
  enforced: unknown,
  requests: Obj | undefined,
  limits: Obj | undefined,
): string | undefined {
  const e = parseQuantity(enforced as string)
  const req = q(requests, resource)
  const lim = q(limits, resource)
  if (!lim)
    return `maximum ${resource} usage per ${limitType} is ${str(enforced)}.  No limit is specified`
  if (cmp(lim, e) > 0)
    return `maximum ${resource} usage per ${limitType} is ${str(enforced)}, but limit is ${formatQuantity(lim)}`
  if (req && cmp(req, e) > 0)
    return `maximum ${resource} usage per ${limitType} is ${str(enforced)}, but request is ${formatQuantity(req)}`
  return undefined
}

function maxRequestConstraint(
  limitType: string,
  resource: string,
  enforced: unknown,
  requests: Obj | undefined,
): string | undefined {
  const e = parseQuantity(enforced as string)
  const req = q(requests, resource)
  if (!req)
    return `maximum ${resource} usage per ${limitType} is ${str(enforced)}.  No request is specified`
  if (cmp(req, e) > 0)
    return `maximum ${resource} usage per ${limitType} is ${str(enforced)}, but request is ${formatQuantity(req)}`
  return undefined
}

// Go's %f: six decimals.
function ratioConstraint(
  limitType: string,
  resource: string,
  enforced: unknown,
  requests: Obj | undefined,
  limits: Obj | undefined,
): string | undefined {
  const e = parseQuantity(enforced as string)
  const req = q(requests, resource)
  const lim = q(limits, resource)
  if (!req || req.nano === 0n)
    return `${resource} max limit to request ratio per ${limitType} is ${str(enforced)}, but no request is specified or request is 0`
  if (!lim || lim.nano === 0n)
    return `${resource} max limit to request ratio per ${limitType} is ${str(enforced)}, but no limit is specified or limit is 0`
  const ratio = Number(lim.nano) / Number(req.nano)
  if (ratio * 1e9 > Number(e.nano))
    return `${resource} max limit to request ratio per ${limitType} is ${str(enforced)}, but provided ratio is ${ratio.toFixed(6)}`
  return undefined
}

/** resourcehelper.PodRequests/PodLimits: the containers' sum, or the largest init container if that is more. */
function podTotals(pod: Obj, field: 'requests' | 'limits'): Obj {
  const sum = new Map<string, Quantity>()
  for (const c of (pod.spec?.containers ?? []) as Obj[]) {
    for (const [k, v] of Object.entries((c.resources?.[field] ?? {}) as Obj)) {
      const qv = tryParseQuantity(v)
      if (qv) sum.set(k, sum.has(k) ? add(sum.get(k)!, qv) : qv)
    }
  }
  for (const c of (pod.spec?.initContainers ?? []) as Obj[]) {
    for (const [k, v] of Object.entries((c.resources?.[field] ?? {}) as Obj)) {
      const qv = tryParseQuantity(v)
      if (qv && (!sum.has(k) || cmp(qv, sum.get(k)!) > 0)) sum.set(k, qv)
    }
  }
  const out: Obj = {}
  for (const [k, v] of sum) out[k] = formatQuantity(v)
  return out
}

const sortedEntries = (o: Obj | undefined) =>
  Object.entries(o ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))

export function validatePod(limitRange: Obj, pod: Obj): string[] {
  const errs: string[] = []
  const push = (e: string | undefined) => {
    if (e) errs.push(e)
  }
  for (const item of (limitRange.spec?.limits ?? []) as Obj[]) {
    const type = item.type as string
    if (type === 'Container') {
      // Containers first, then init containers, as PodValidateLimitFunc walks them.
      const all = [
        ...((pod.spec?.containers ?? []) as Obj[]),
        ...((pod.spec?.initContainers ?? []) as Obj[]),
      ]
      for (const c of all) {
        const r = c.resources ?? {}
        for (const [k, v] of sortedEntries(item.min))
          push(minConstraint(type, k, v, r.requests, r.limits))
        for (const [k, v] of sortedEntries(item.max))
          push(maxConstraint(type, k, v, r.requests, r.limits))
        for (const [k, v] of sortedEntries(item.maxLimitRequestRatio))
          push(ratioConstraint(type, k, v, r.requests, r.limits))
      }
    }
    if (type === 'Pod') {
      const requests = podTotals(pod, 'requests')
      const limits = podTotals(pod, 'limits')
      for (const [k, v] of sortedEntries(item.min))
        push(minConstraint(type, k, v, requests, limits))
      for (const [k, v] of sortedEntries(item.max))
        push(maxConstraint(type, k, v, requests, limits))
      for (const [k, v] of sortedEntries(item.maxLimitRequestRatio))
        push(ratioConstraint(type, k, v, requests, limits))
    }
  }
  return errs
}

export function validatePVC(limitRange: Obj, pvc: Obj): string[] {
  const errs: string[] = []
  const requests = pvc.spec?.resources?.requests
  for (const item of (limitRange.spec?.limits ?? []) as Obj[]) {
    if (item.type !== 'PersistentVolumeClaim') continue
    for (const [k, v] of sortedEntries(item.min)) {
      const e = minConstraint(item.type, k, v, requests, {})
      if (e) errs.push(e)
    }
    for (const [k, v] of sortedEntries(item.max)) {
      const e = maxRequestConstraint(item.type, k, v, requests)
      if (e) errs.push(e)
    }
  }
  return errs
}

/** utilerrors.NewAggregate(...).Error(): one message alone, several de-duplicated in brackets. */
export function aggregate(msgs: string[]): string {
  const seen = [...new Set(msgs)]
  return seen.length === 1 ? seen[0] : `[${seen.join(', ')}]`
}

async function run(a: Attributes, fn: (lr: Obj, obj: Obj) => string[] | void): Promise<void> {
  if (!supports(a) || !a.object) return
  if (a.oldObject?.metadata?.deletionTimestamp) return
  for (const lr of await limitRanges(a)) {
    const errs = fn(lr, a.object as Obj)
    if (errs && errs.length) throw admissionForbidden(a, aggregate(errs))
  }
}

export function limitRanger(): AdmissionPlugin {
  return {
    name: 'LimitRanger',
    admit: (a) =>
      run(a, (lr, obj) => {
        if (isKind(a, '', 'Pod')) mutatePod(lr, obj)
      }),
    validate: (a) =>
      run(a, (lr, obj) => (isKind(a, '', 'Pod') ? validatePod(lr, obj) : validatePVC(lr, obj))),
  }
}

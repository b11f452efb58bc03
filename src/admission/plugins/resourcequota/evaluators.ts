// Quota evaluators (pkg/quota/v1/evaluator/core and apiserver's generic object count evaluator): what an
// object consumes, which quota resource names an evaluator understands, and the scopes a pod falls under.
import type { Registry } from '../../../registry/registry'
import type { ResourceType } from '../../../registry/types'
import {
  add,
  cmp,
  formatQuantity,
  ONE,
  parseResourceList,
  quantity,
  tryParseQuantity,
  type Quantity,
  type ResourceList,
} from '../../../registry/quantity'
import type { Operation } from '../../types'

type Obj = Record<string, any>

export interface Evaluator {
  /** The group/resource whose objects this evaluator measures. */
  group: string
  resource: string
  handles(op: Operation): boolean
  /** Of a quota's hard resource names, the ones this evaluator tracks. */
  matchingResources(names: string[]): string[]
  usage(obj: Obj): ResourceList
  /** Missing requests/limits that a quota on cpu or memory demands ("must specify ..."). */
  constraints?(required: string[], obj: Obj): string | undefined
  /** Whether an object falls under every scope of a quota. */
  matchesScopes(quota: Obj, obj: Obj): boolean
}

// Legacy quota names for core object counts (generic.ObjectCountQuotaResourceNameFor plus the short forms).
const LEGACY_COUNT: Record<string, string> = {
  services: 'services',
  replicationcontrollers: 'replicationcontrollers',
  resourcequotas: 'resourcequotas',
  secrets: 'secrets',
  configmaps: 'configmaps',
  persistentvolumeclaims: 'persistentvolumeclaims',
  pods: 'pods',
}

export function countName(group: string, resource: string): string {
  return group ? `count/${resource}.${group}` : `count/${resource}`
}

function scopeSelectors(quota: Obj): Obj[] {
  const out: Obj[] = ((quota.spec?.scopes ?? []) as string[]).map((s) => ({
    scopeName: s,
    operator: 'Exists',
  }))
  return [...out, ...((quota.spec?.scopeSelector?.matchExpressions ?? []) as Obj[])]
}

function noScopes(quota: Obj): boolean {
  return scopeSelectors(quota).length === 0
}

function objectCount(group: string, resource: string): Evaluator {
  const names = [countName(group, resource)]
  if (!group && LEGACY_COUNT[resource]) names.push(LEGACY_COUNT[resource])
  return {
    group,
    resource,
    handles: (op) => op === 'CREATE',
    matchingResources: (hard) => hard.filter((n) => names.includes(n)),
    usage: () => new Map(names.map((n) => [n, ONE])),
    matchesScopes: noScopes,
  }
}

// --- pods ---

const POD_RESOURCES = new Set([
  'pods',
  'count/pods',
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
])
const VALIDATION_SET = [
  'cpu',
  'memory',
  'requests.cpu',
  'requests.memory',
  'limits.cpu',
  'limits.memory',
]

function isExtendedResource(name: string): boolean {
  // helper.IsExtendedResourceName: fully qualified, outside kubernetes.io/, not requests.-prefixed.
  return (
    name.includes('/') &&
    !name.startsWith('kubernetes.io/') &&
    !name.includes('.kubernetes.io/') &&
    !name.startsWith('requests.')
  )
}

/** podComputeUsageHelper. */
function computeUsage(requests: ResourceList, limits: ResourceList): ResourceList {
  const out: ResourceList = new Map([['pods', ONE]])
  const r = (k: string) => requests.get(k)
  const l = (k: string) => limits.get(k)
  if (r('cpu')) {
    out.set('cpu', r('cpu')!)
    out.set('requests.cpu', r('cpu')!)
  }
  if (l('cpu')) out.set('limits.cpu', l('cpu')!)
  if (r('memory')) {
    out.set('memory', r('memory')!)
    out.set('requests.memory', r('memory')!)
  }
  if (l('memory')) out.set('limits.memory', l('memory')!)
  if (r('ephemeral-storage')) {
    out.set('ephemeral-storage', r('ephemeral-storage')!)
    out.set('requests.ephemeral-storage', r('ephemeral-storage')!)
  }
  if (l('ephemeral-storage')) out.set('limits.ephemeral-storage', l('ephemeral-storage')!)
  for (const [k, v] of requests) {
    if (k.startsWith('hugepages-')) {
      out.set(k, v)
      out.set(`requests.${k}`, v)
    }
    if (isExtendedResource(k)) out.set(`requests.${k}`, v)
  }
  return out
}

function sumInto(into: ResourceList, from: ResourceList): void {
  for (const [k, v] of from) into.set(k, into.has(k) ? add(into.get(k)!, v) : v)
}
function maxInto(into: ResourceList, from: ResourceList): void {
  for (const [k, v] of from) if (!into.has(k) || cmp(v, into.get(k)!) > 0) into.set(k, v)
}

/** resourcehelper.PodRequests / PodLimits (with overhead): containers summed, init containers as a floor. */
export function podResources(pod: Obj, field: 'requests' | 'limits'): ResourceList {
  const sum: ResourceList = new Map()
  for (const c of (pod.spec?.containers ?? []) as Obj[])
    sumInto(sum, parseResourceList(c.resources?.[field]))
  const init: ResourceList = new Map()
  for (const c of (pod.spec?.initContainers ?? []) as Obj[])
    maxInto(init, parseResourceList(c.resources?.[field]))
  maxInto(sum, init)
  if (pod.spec?.overhead) sumInto(sum, parseResourceList(pod.spec.overhead))
  return sum
}

function podQOSBestEffort(pod: Obj): boolean {
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])] as Obj[]) {
    for (const list of [c.resources?.requests, c.resources?.limits]) {
      for (const k of Object.keys(list ?? {})) if (k === 'cpu' || k === 'memory') return false
    }
  }
  return true
}

/** Terminal pods and pods past their grace period hold no compute quota (QuotaV1Pod). */
function podCounts(pod: Obj): boolean {
  const phase = pod.status?.phase
  if (phase === 'Succeeded' || phase === 'Failed') return false
  const del = pod.metadata?.deletionTimestamp
  if (del && pod.metadata?.deletionGracePeriodSeconds !== undefined) {
    const end = Date.parse(del) + pod.metadata.deletionGracePeriodSeconds * 1000
    if (Date.now() > end) return false
  }
  return true
}

function podMatchesScope(sel: Obj, pod: Obj): boolean {
  const spec = pod.spec ?? {}
  switch (sel.scopeName) {
    case 'Terminating':
      return typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds >= 0
    case 'NotTerminating':
      return !(typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds >= 0)
    case 'BestEffort':
      return podQOSBestEffort(pod)
    case 'NotBestEffort':
      return !podQOSBestEffort(pod)
    case 'PriorityClass': {
      const name = spec.priorityClassName ?? ''
      const values = (sel.values ?? []) as string[]
      switch (sel.operator) {
        case 'Exists':
          return !!name
        case 'DoesNotExist':
          return !name
        case 'In':
          return values.includes(name)
        case 'NotIn':
          return !values.includes(name)
        default:
          return false
      }
    }
    case 'CrossNamespacePodAffinity': {
      const terms = [
        ...(spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        ...(spec.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
          (t: Obj) => t.podAffinityTerm,
        ),
        ...(spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        ...(
          spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
        ).map((t: Obj) => t.podAffinityTerm),
      ] as Obj[]
      return terms.some((t) => (t?.namespaces ?? []).length > 0 || t?.namespaceSelector)
    }
    default:
      return false
  }
}

const pods: Evaluator = {
  group: '',
  resource: 'pods',
  handles: (op) => op === 'CREATE',
  matchingResources: (hard) =>
    hard.filter(
      (n) =>
        POD_RESOURCES.has(n) ||
        n.startsWith('hugepages-') ||
        n.startsWith('requests.hugepages-') ||
        (n.startsWith('requests.') && isExtendedResource(n.slice('requests.'.length))),
    ),
  usage(pod) {
    const out: ResourceList = new Map([['count/pods', ONE]])
    if (!podCounts(pod)) return out
    for (const [k, v] of computeUsage(podResources(pod, 'requests'), podResources(pod, 'limits')))
      out.set(k, v)
    return out
  },
  constraints(required, pod) {
    const requiredSet = required.filter((r) => VALIDATION_SET.includes(r))
    const missing = new Map<string, Set<string>>()
    for (const c of [
      ...(pod.spec?.containers ?? []),
      ...(pod.spec?.initContainers ?? []),
    ] as Obj[]) {
      const usage = computeUsage(
        parseResourceList(c.resources?.requests),
        parseResourceList(c.resources?.limits),
      )
      for (const r of requiredSet) {
        if (!usage.has(r)) {
          if (!missing.has(r)) missing.set(r, new Set())
          missing.get(r)!.add(c.name)
        }
      }
    }
    if (!missing.size) return undefined
    const parts = [...missing.keys()]
      .sort()
      .map((r) => `${r} for: ${[...missing.get(r)!].sort().join(',')}`)
    return `must specify ${parts.join('; ')}`
  },
  matchesScopes: (quota, pod) => scopeSelectors(quota).every((s) => podMatchesScope(s, pod)),
}

// --- services ---

const services: Evaluator = {
  group: '',
  resource: 'services',
  handles: (op) => op === 'CREATE' || op === 'UPDATE',
  matchingResources: (hard) =>
    hard.filter((n) =>
      ['services', 'count/services', 'services.loadbalancers', 'services.nodeports'].includes(n),
    ),
  usage(svc) {
    const out: ResourceList = new Map([
      ['services', ONE],
      ['count/services', ONE],
    ])
    const type = svc.spec?.type ?? 'ClusterIP'
    const ports = ((svc.spec?.ports ?? []) as Obj[]).length
    if (type === 'LoadBalancer') {
      out.set('services.loadbalancers', ONE)
      if (svc.spec?.allocateLoadBalancerNodePorts !== false)
        out.set('services.nodeports', quantity(BigInt(ports) * 1_000_000_000n))
    }
    if (type === 'NodePort') out.set('services.nodeports', quantity(BigInt(ports) * 1_000_000_000n))
    return out
  },
  matchesScopes: noScopes,
}

// --- persistentvolumeclaims ---

const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/'

const pvcs: Evaluator = {
  group: '',
  resource: 'persistentvolumeclaims',
  handles: (op) => op === 'CREATE' || op === 'UPDATE',
  matchingResources: (hard) =>
    hard.filter(
      (n) =>
        ['persistentvolumeclaims', 'count/persistentvolumeclaims', 'requests.storage'].includes(
          n,
        ) ||
        (n.includes(STORAGE_CLASS_SUFFIX) &&
          (n.endsWith('/requests.storage') || n.endsWith('/persistentvolumeclaims'))),
    ),
  usage(pvc) {
    const out: ResourceList = new Map([
      ['persistentvolumeclaims', ONE],
      ['count/persistentvolumeclaims', ONE],
    ])
    const cls = pvc.spec?.storageClassName
    if (cls) out.set(`${cls}${STORAGE_CLASS_SUFFIX}persistentvolumeclaims`, ONE)
    const storage = tryParseQuantity(pvc.spec?.resources?.requests?.storage)
    if (storage) {
      out.set('requests.storage', storage)
      if (cls) out.set(`${cls}${STORAGE_CLASS_SUFFIX}requests.storage`, storage)
    }
    return out
  },
  matchesScopes: noScopes,
}

const SPECIAL: Evaluator[] = [pods, services, pvcs]

export function evaluatorFor(group: string, resource: string): Evaluator {
  return (
    SPECIAL.find((e) => e.group === group && e.resource === resource) ??
    objectCount(group, resource)
  )
}

/** The kinds a quota's hard resource names measure, for recounting usage from scratch. */
export function resourcesFor(names: string[], registry: Registry): ResourceType[] {
  const out = new Set<ResourceType>()
  const find = (group: string, resource: string) =>
    registry.all().find((t) => t.group === group && t.resource === resource && !t.convert)
  for (const n of names) {
    for (const e of SPECIAL)
      if (e.matchingResources([n]).length) {
        const t = find(e.group, e.resource)
        if (t) out.add(t)
      }
    if (!n.includes('/') && LEGACY_COUNT[n]) {
      const t = find('', LEGACY_COUNT[n])
      if (t) out.add(t)
    }
    const m = /^count\/([^.]+)(?:\.(.+))?$/.exec(n)
    if (m) {
      const t = find(m[2] ?? '', m[1])
      if (t) out.add(t)
    }
  }
  return [...out]
}

export function format(list: ResourceList): string {
  return [...list.keys()]
    .sort()
    .map((k) => `${k}=${formatQuantity(list.get(k)!)}`)
    .join(',')
}

export type { Quantity }

// The resource quota controller (pkg/controller/resourcequota): status.hard mirrors spec.hard and status.used
// holds the namespace's usage of each resource named in hard, computed by kube's evaluators for pods,
// services, persistent volume claims and object counts (pkg/quota/v1/evaluator/core).
import { storageKey } from '../registry/store'
import type { KubeObject, ResourceType } from '../registry/types'
import { isGoneOrSkipped, Skip, type ControllerContext, type SyncResult } from './context'
import {
  add,
  canonical,
  count,
  formatQuantity,
  max,
  tryParseQuantity as parseQuantity,
  ZERO,
  type Quantity,
} from '../registry/quantity'

type Obj = Record<string, any>
type Usage = Map<string, Quantity>

export const RESOURCE_QUOTAS_PREFIX = '/registry/resourcequotas/'

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
const SERVICE_RESOURCES = new Set([
  'services',
  'count/services',
  'services.loadbalancers',
  'services.nodeports',
])
const PVC_RESOURCES = new Set([
  'persistentvolumeclaims',
  'count/persistentvolumeclaims',
  'requests.storage',
])
/** The object counts quota has always had names for (besides pods, services and claims). */
const LEGACY_COUNTS: Record<string, string> = {
  configmaps: 'configmaps',
  secrets: 'secrets',
  replicationcontrollers: 'replicationcontrollers',
  resourcequotas: 'resourcequotas',
}
const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/'

const isPodResource = (r: string) =>
  POD_RESOURCES.has(r) ||
  r.startsWith('hugepages-') ||
  r.startsWith('requests.hugepages-') ||
  (r.startsWith('requests.') && r.slice(9).includes('/'))
const isPvcResource = (r: string) => PVC_RESOURCES.has(r) || r.includes(STORAGE_CLASS_SUFFIX)

/** Recomputes status of every ResourceQuota in the namespace; writes only what changed. */
export async function syncResourceQuotas(
  c: ControllerContext,
  namespace: string,
): Promise<SyncResult> {
  const quotaType = c.resources.byPrefix('resourcequotas')
  if (!quotaType) return
  const { kvs } = await c.store.list(storageKey(quotaType, namespace))
  if (!kvs.length) return
  const lists = new Map<string, Promise<KubeObject[]>>()
  const listOf = (t: ResourceType) => {
    let p = lists.get(t.storagePrefix)
    if (!p)
      lists.set(
        t.storagePrefix,
        (p = c.store
          .list(storageKey(t, namespace))
          .then((r) => r.kvs.map((kv) => JSON.parse(kv.value) as KubeObject))),
      )
    return p
  }
  for (const kv of kvs) {
    const quota = JSON.parse(kv.value) as Obj
    const hard: Record<string, unknown> = quota.spec?.hard ?? {}
    const used = await calculateUsage(c, quota, Object.keys(hard), listOf)
    // Resources nothing tracks keep whatever used value they had (kube copies the old status first).
    const status = {
      hard: canonicalList(hard),
      used: canonicalList(
        Object.fromEntries(
          Object.keys(hard)
            .map((r) => [r, used.has(r) ? formatQuantity(used.get(r)!) : quota.status?.used?.[r]])
            .filter(([, v]) => v !== undefined),
        ),
      ),
    }
    if (JSON.stringify(sortedStatus(quota.status)) === JSON.stringify(status)) continue
    try {
      await c.registryStore(quotaType).update(
        namespace,
        quota.metadata.name,
        (cur) => {
          if (cur?.metadata?.uid !== quota.metadata.uid) throw new Skip()
          return { ...cur, status: { ...(cur!.status as Obj), ...status } }
        },
        c.request,
        'status',
      )
    } catch (e) {
      if (!isGoneOrSkipped(e)) throw e
    }
  }
}

function canonicalList(list: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of Object.keys(list).sort()) out[k] = canonical(list[k])
  return out
}

function sortedStatus(status: Obj | undefined): unknown {
  return { hard: canonicalList(status?.hard ?? {}), used: canonicalList(status?.used ?? {}) }
}

/** CalculateUsage: each tracked resource of hard starts at zero and sums its evaluator's usage per object. */
async function calculateUsage(
  c: ControllerContext,
  quota: Obj,
  resources: string[],
  listOf: (t: ResourceType) => Promise<KubeObject[]>,
): Promise<Usage> {
  const used: Usage = new Map()
  const selectors = scopeSelectors(quota)
  const sum = (name: string, q: Quantity) => used.set(name, add(used.get(name) ?? ZERO, q))
  const track = (names: string[]) => {
    for (const r of names) if (!used.has(r)) used.set(r, ZERO)
  }

  const podNames = resources.filter(isPodResource)
  const pods = c.resources.byPrefix('pods')
  if (podNames.length && pods) {
    track(podNames)
    for (const pod of await listOf(pods)) {
      if (!selectors.every((s) => podMatchesScope(pod, s))) continue
      for (const [name, q] of podUsage(pod, c.now())) if (podNames.includes(name)) sum(name, q)
    }
  }
  // The other evaluators match no scope: a quota with scopes counts nothing but pods.
  const scoped = selectors.length > 0
  const serviceNames = resources.filter((r) => SERVICE_RESOURCES.has(r))
  const services = c.resources.byPrefix('services/specs')
  if (serviceNames.length && services) {
    track(serviceNames)
    if (!scoped)
      for (const svc of await listOf(services))
        for (const [name, q] of serviceUsage(svc)) if (serviceNames.includes(name)) sum(name, q)
  }
  const pvcNames = resources.filter(isPvcResource)
  const pvcs = c.resources.byPrefix('persistentvolumeclaims')
  if (pvcNames.length && pvcs) {
    track(pvcNames)
    if (!scoped)
      for (const pvc of await listOf(pvcs))
        for (const [name, q] of pvcUsage(pvc)) if (pvcNames.includes(name)) sum(name, q)
  }
  // Object counts: the legacy names and count/<resource>[.<group>] for any stored kind.
  for (const r of resources) {
    if (used.has(r)) continue
    let type: ResourceType | undefined
    if (LEGACY_COUNTS[r]) type = c.resources.byGroupResource('', LEGACY_COUNTS[r]!)
    else if (r.startsWith('count/')) {
      const gr = r.slice(6)
      const dot = gr.indexOf('.')
      type =
        dot < 0
          ? c.resources.byGroupResource('', gr)
          : c.resources.byGroupResource(gr.slice(dot + 1), gr.slice(0, dot))
    }
    if (!type || !type.namespaced) continue
    used.set(r, scoped ? ZERO : count((await listOf(type)).length))
  }
  return used
}

// ---- pods (pkg/quota/v1/evaluator/core/pods.go) ----

interface ScopeSelector {
  scopeName: string
  operator: string
  values?: string[]
}

function scopeSelectors(quota: Obj): ScopeSelector[] {
  const out: ScopeSelector[] = ((quota.spec?.scopes ?? []) as string[]).map((scopeName) => ({
    scopeName,
    operator: 'Exists',
  }))
  for (const e of (quota.spec?.scopeSelector?.matchExpressions ?? []) as ScopeSelector[])
    out.push(e)
  return out
}

function podMatchesScope(pod: Obj, s: ScopeSelector): boolean {
  switch (s.scopeName) {
    case 'Terminating':
      return isTerminating(pod)
    case 'NotTerminating':
      return !isTerminating(pod)
    case 'BestEffort':
      return isBestEffort(pod)
    case 'NotBestEffort':
      return !isBestEffort(pod)
    case 'PriorityClass': {
      const name: string | undefined = pod.spec?.priorityClassName
      switch (s.operator) {
        case 'Exists':
          return !!name
        case 'DoesNotExist':
          return !name
        case 'In':
          return !!name && (s.values ?? []).includes(name)
        case 'NotIn':
          return !name || !(s.values ?? []).includes(name)
        default:
          return false
      }
    }
    case 'CrossNamespacePodAffinity':
      return usesCrossNamespaceAffinity(pod)
    default:
      return false
  }
}

const isTerminating = (pod: Obj) =>
  typeof pod.spec?.activeDeadlineSeconds === 'number' && pod.spec.activeDeadlineSeconds >= 0

function containersOf(pod: Obj): Obj[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
}

/** qos.GetPodQOS == BestEffort: no container asks for or limits cpu or memory. */
function isBestEffort(pod: Obj): boolean {
  for (const ctr of containersOf(pod)) {
    for (const list of [ctr.resources?.requests, ctr.resources?.limits]) {
      for (const r of ['cpu', 'memory']) {
        const q = parseQuantity(list?.[r])
        if (q && q.nano > 0n) return false
      }
    }
  }
  return true
}

function usesCrossNamespaceAffinity(pod: Obj): boolean {
  const affinity = pod.spec?.affinity ?? {}
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const a = affinity[kind] ?? {}
    const terms = [
      ...(a.requiredDuringSchedulingIgnoredDuringExecution ?? []),
      ...(a.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
        (w: Obj) => w.podAffinityTerm ?? {},
      ),
    ]
    if (terms.some((t: Obj) => (t.namespaces?.length ?? 0) > 0 || t.namespaceSelector != null))
      return true
  }
  return false
}

/** QuotaV1Pod: terminal pods, and pods past their deletion grace period, hold no compute quota. */
function countsForCompute(pod: Obj, now: number): boolean {
  const phase = pod.status?.phase
  if (phase === 'Succeeded' || phase === 'Failed') return false
  const deletedAt = pod.metadata?.deletionTimestamp
  const grace = pod.metadata?.deletionGracePeriodSeconds
  if (deletedAt && typeof grace === 'number' && now > Date.parse(deletedAt) + grace * 1000)
    return false
  return true
}

function listQuantities(list: Obj | undefined): Usage {
  const out: Usage = new Map()
  for (const [k, v] of Object.entries(list ?? {})) {
    const q = parseQuantity(v)
    if (q) out.set(k, q)
  }
  return out
}

function sumInto(into: Usage, from: Usage): void {
  for (const [k, q] of from) into.set(k, add(into.get(k) ?? ZERO, q))
}

/** resourcehelper.PodRequests / PodLimits: containers (and sidecars) summed, init containers as a floor, plus overhead. */
function podResources(pod: Obj, field: 'requests' | 'limits'): Usage {
  const total: Usage = new Map()
  for (const ctr of pod.spec?.containers ?? [])
    sumInto(total, listQuantities(ctr.resources?.[field]))
  const sidecars: Usage = new Map()
  const initFloor: Usage = new Map()
  for (const ctr of pod.spec?.initContainers ?? []) {
    const own = listQuantities(ctr.resources?.[field])
    if (ctr.restartPolicy === 'Always') {
      sumInto(total, own)
      sumInto(sidecars, own)
      continue
    }
    const peak: Usage = new Map(own)
    sumInto(peak, sidecars)
    for (const [k, q] of peak) initFloor.set(k, max(initFloor.get(k) ?? ZERO, q))
  }
  for (const [k, q] of initFloor) total.set(k, max(total.get(k) ?? ZERO, q))
  for (const [k, q] of listQuantities(pod.spec?.overhead)) {
    // Overhead adds to every request, but only to limits that are set.
    if (field === 'requests' || total.has(k)) total.set(k, add(total.get(k) ?? ZERO, q))
  }
  return total
}

/** PodUsageFunc: count/pods always; the rest only while the pod counts for compute. */
function podUsage(pod: Obj, now: number): Usage {
  const usage: Usage = new Map([['count/pods', count(1)]])
  if (!countsForCompute(pod, now)) return usage
  usage.set('pods', count(1))
  const requests = podResources(pod, 'requests')
  const limits = podResources(pod, 'limits')
  for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
    const req = requests.get(r)
    if (req) {
      usage.set(r, req)
      usage.set(`requests.${r}`, req)
    }
    const lim = limits.get(r)
    if (lim) usage.set(`limits.${r}`, lim)
  }
  for (const [r, q] of requests) {
    if (r.startsWith('hugepages-')) {
      usage.set(r, q)
      usage.set(`requests.${r}`, q)
    } else if (r.includes('/') && !r.startsWith('kubernetes.io/') && !r.startsWith('requests.')) {
      usage.set(`requests.${r}`, q) // extended resources are quota'd as requests.<name> only
    }
  }
  return usage
}

// ---- services (services.go) ----

function serviceUsage(svc: Obj): Usage {
  const ports: Obj[] = svc.spec?.ports ?? []
  const usage: Usage = new Map([
    ['count/services', count(1)],
    ['services', count(1)],
    ['services.loadbalancers', ZERO],
    ['services.nodeports', ZERO],
  ])
  switch (svc.spec?.type) {
    case 'NodePort':
      usage.set('services.nodeports', count(ports.length))
      break
    case 'LoadBalancer':
      // With node ports not allocated for load balancers, only the ports that ask for one count.
      usage.set(
        'services.nodeports',
        count(
          svc.spec?.allocateLoadBalancerNodePorts === false
            ? ports.filter((p) => p.nodePort).length
            : ports.length,
        ),
      )
      usage.set('services.loadbalancers', count(1))
      break
  }
  return usage
}

// ---- persistent volume claims (persistent_volume_claims.go) ----

function pvcUsage(pvc: Obj): Usage {
  const usage: Usage = new Map([
    ['count/persistentvolumeclaims', count(1)],
    ['persistentvolumeclaims', count(1)],
  ])
  const storageClass: string | undefined = pvc.spec?.storageClassName
  if (storageClass)
    usage.set(`${storageClass}${STORAGE_CLASS_SUFFIX}persistentvolumeclaims`, count(1))
  // The request, or what was allocated if that is more (an expansion in progress).
  let request = parseQuantity(pvc.spec?.resources?.requests?.storage)
  const allocated = parseQuantity(pvc.status?.allocatedResources?.storage)
  if (allocated && (!request || allocated.nano > request.nano)) request = allocated
  if (request) {
    usage.set('requests.storage', request)
    if (storageClass) usage.set(`${storageClass}${STORAGE_CLASS_SUFFIX}requests.storage`, request)
  }
  return usage
}

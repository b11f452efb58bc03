// The disruption controller (kube-controller-manager's `disruption`, pkg/controller/disruption): keeps each
// PodDisruptionBudget's status (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed,
// disruptedPods, observedGeneration and the DisruptionAllowed condition) true to the pods its selector
// picks, so that pods/eviction (src/registry/builtin/pod-subresources.ts) can say yes or 429 from it and
// `kubectl drain` proceeds as a budget allows. It also turns a stale DisruptionTarget condition (an
// eviction that marked a pod but never deleted it) back to False after two minutes.
//
// Kube keys its queue by budget; the loop here syncs every budget of a namespace at once (as the quota loop
// does), listing the namespace's pods once for all of them.
import { storageKey } from '../registry/store'
import type { KubeObject, ResourceType } from '../registry/types'
import { conflict, isStatusErrorReason } from '../server/errors'
import { selectorMatches } from '../registry/builtin/workload'
import { CRD_PREFIX, parse } from './resources'
import { isGoneOrSkipped, nowTimestamp, Skip, type ControllerContext } from './context'
import type { SyncResult } from './context'
import { errorText } from '../util/errors'

type Obj = Record<string, any>

export const PDB_PREFIX = '/registry/poddisruptionbudgets/'

/** DeletionTimeout: how long an eviction's entry in status.disruptedPods waits for the pod to go. */
export const DELETION_TIMEOUT_MS = 2 * 60 * 1000
/** stalePodDisruptionTimeout: how long a DisruptionTarget condition may stand without a deletion. */
export const STALE_POD_DISRUPTION_TIMEOUT_MS = 2 * 60 * 1000

/** How soon a namespace whose status write lost a race is synced again. */
const CONFLICT_RETRY_MS = 50

/** The workload kinds whose writes change a budget's expected pods (their replicas). */
export const SCALED_KINDS = new Set([
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'StatefulSet',
])

const isPodReady = (pod: Obj) =>
  ((pod.status?.conditions ?? []) as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True')
const isTerminal = (pod: Obj) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'
const controllerOf = (o: Obj): Obj | undefined =>
  ((o.metadata?.ownerReferences ?? []) as Obj[]).find((r) => r.controller === true)
const groupOf = (apiVersion: string | undefined) => {
  const slash = apiVersion?.indexOf('/') ?? -1
  return slash >= 0 ? apiVersion!.slice(0, slash) : ''
}

/** metav1.LabelSelectorAsSelector as the controller lists pods: nil selects nothing, {} everything. */
function selects(selector: Obj | undefined | null, labels: Record<string, string>): boolean {
  if (!selector) return false
  return selectorMatches(selector, labels)
}

/** intstr.GetScaledValueFromIntOrPercent with roundUp. */
function scaledValue(v: unknown, total: number): number {
  if (typeof v === 'number') return v
  const s = String(v)
  const m = /^(\d+)%$/.exec(s)
  if (!m) throw new Error(`invalid value for IntOrString: invalid type: string is not a percentage`)
  return Math.ceil((Number(m[1]) * total) / 100)
}

/** The workload (and its replicas) a pod's controllerRef leads to, as disruption.go's finders look. */
class ControllerFinder {
  private readonly objects = new Map<string, Promise<Obj | undefined>>()
  constructor(
    private readonly c: ControllerContext,
    private readonly namespace: string,
  ) {}

  private async object(group: string, resource: string, name: string): Promise<Obj | undefined> {
    const type = this.c.resources.byGroupResource(group, resource)
    if (!type) return undefined
    return this.read(type, name)
  }

  private read(type: ResourceType, name: string): Promise<Obj | undefined> {
    const key = storageKey(type, this.namespace, name)
    let p = this.objects.get(key)
    if (!p) {
      p = this.c.store.get(key).then(({ kv }) => (kv ? (parse(kv.value) as Obj) : undefined))
      this.objects.set(key, p)
    }
    return p
  }

  /** controllerAndScale: the uid and replicas of the workload in charge, or undefined when none is found. */
  async find(ref: Obj): Promise<{ uid: string; scale: number } | undefined> {
    const group = groupOf(ref.apiVersion)
    const replicas = (o: Obj) => o.spec?.replicas ?? 1
    if (ref.kind === 'ReplicationController' && group === '') {
      const rc = await this.object('', 'replicationcontrollers', ref.name)
      return rc?.metadata?.uid === ref.uid
        ? { uid: rc!.metadata.uid, scale: replicas(rc!) }
        : undefined
    }
    if (ref.kind === 'ReplicaSet' && (group === 'apps' || group === 'extensions')) {
      const rs = await this.object('apps', 'replicasets', ref.name)
      if (!rs || rs.metadata?.uid !== ref.uid) return undefined
      const owner = controllerOf(rs)
      // getPodDeployment: a ReplicaSet a Deployment controls counts the Deployment's replicas.
      if (owner?.kind === 'Deployment') {
        const g = groupOf(owner.apiVersion)
        if (g !== 'apps' && g !== 'extensions') return undefined
        const d = await this.object('apps', 'deployments', owner.name)
        return d?.metadata?.uid === owner.uid
          ? { uid: d!.metadata.uid, scale: replicas(d!) }
          : undefined
      }
      return { uid: rs.metadata.uid, scale: replicas(rs) }
    }
    if (ref.kind === 'StatefulSet' && group === 'apps') {
      const ss = await this.object('apps', 'statefulsets', ref.name)
      return ss?.metadata?.uid === ref.uid
        ? { uid: ss!.metadata.uid, scale: replicas(ss!) }
        : undefined
    }
    return this.scaleController(ref, group)
  }

  /** getScaleController: any other kind answers through its scale subresource, if it has one. */
  private async scaleController(
    ref: Obj,
    group: string,
  ): Promise<{ uid: string; scale: number } | undefined> {
    const type = this.c.resources.byGroupKind(group, ref.kind)
    if (!type) throw new Error(`no matches for kind "${ref.kind}" in group "${group}"`)
    const gr = group ? `${type.resource}.${group}` : type.resource
    const specReplicasPath = type.custom
      ? await this.customScalePath(type)
      : type.subresources?.scale?.specReplicasPath
    if (!specReplicasPath) throw new Error(`${gr} does not implement the scale subresource`)
    const obj = await this.read(type, ref.name)
    if (!obj || obj.metadata?.uid !== ref.uid) return undefined
    let cur: any = obj
    for (const part of specReplicasPath.replace(/^\./, '').split('.')) cur = cur?.[part]
    return { uid: obj.metadata.uid, scale: typeof cur === 'number' ? cur : 0 }
  }

  /** The scale subresource a CustomResourceDefinition gives its storage version. */
  private async customScalePath(type: ResourceType): Promise<string | undefined> {
    const { kv } = await this.c.store.get(`${CRD_PREFIX}${type.resource}.${type.group}`)
    const crd = kv ? (parse(kv.value) as Obj) : undefined
    const version = ((crd?.spec?.versions ?? []) as Obj[]).find((v) => v.name === type.version)
    return version?.subresources?.scale?.specReplicasPath
  }
}

/** getExpectedScale: the sum of the replicas of the workloads controlling the pods. */
async function expectedScale(
  finder: ControllerFinder,
  pods: Obj[],
): Promise<{ expected: number; unmanaged: string[] }> {
  const scales = new Map<string, number>()
  const unmanaged: string[] = []
  for (const pod of pods) {
    const ref = controllerOf(pod)
    if (!ref) {
      unmanaged.push(pod.metadata.name)
      continue
    }
    if (scales.has(ref.uid)) continue
    const found = await finder.find(ref)
    if (!found) throw new Error(`found no controllers for pod ${JSON.stringify(pod.metadata.name)}`)
    scales.set(found.uid, found.scale)
  }
  let expected = 0
  for (const n of scales.values()) expected += n
  return { expected, unmanaged }
}

/** getExpectedPodCount. */
async function expectedPodCount(
  finder: ControllerFinder,
  pdb: Obj,
  pods: Obj[],
): Promise<{ expected: number; desiredHealthy: number }> {
  const spec = pdb.spec ?? {}
  if (spec.maxUnavailable != null) {
    const { expected } = await expectedScale(finder, pods)
    const maxUnavailable = scaledValue(spec.maxUnavailable, expected)
    return { expected, desiredHealthy: Math.max(0, expected - maxUnavailable) }
  }
  if (typeof spec.minAvailable === 'number')
    return { expected: pods.length, desiredHealthy: spec.minAvailable }
  if (spec.minAvailable != null) {
    const { expected } = await expectedScale(finder, pods)
    return { expected, desiredHealthy: scaledValue(spec.minAvailable, expected) }
  }
  return { expected: 0, desiredHealthy: 0 }
}

/** buildDisruptedPodMap: evictions still waiting for their pod to be marked deleted, and when to look again. */
function disruptedPodMap(
  pods: Obj[],
  pdb: Obj,
  now: number,
): { disrupted: Record<string, string>; recheckAt?: number } {
  const recorded: Record<string, string> = pdb.status?.disruptedPods ?? {}
  const disrupted: Record<string, string> = {}
  let recheckAt: number | undefined
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue
    const at = recorded[pod.metadata.name]
    if (at === undefined) continue
    const expectedDeletion = Date.parse(at) + DELETION_TIMEOUT_MS
    // Not deleted in time: the eviction is taken not to have happened, and the pod counts again.
    if (expectedDeletion < now) continue
    if (recheckAt === undefined || expectedDeletion < recheckAt) recheckAt = expectedDeletion
    disrupted[pod.metadata.name] = at
  }
  return { disrupted, recheckAt }
}

/** countHealthyPods: ready, not being deleted, and not just handed to an eviction. */
function countHealthy(pods: Obj[], disrupted: Record<string, string>, now: number): number {
  let n = 0
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue
    const at = disrupted[pod.metadata.name]
    if (at !== undefined && Date.parse(at) + DELETION_TIMEOUT_MS > now) continue
    if (isPodReady(pod)) n++
  }
  return n
}

/** apimeta.SetStatusCondition: the transition time moves only when the status does. */
function setCondition(status: Obj, cond: Obj, now: number): void {
  const conditions: Obj[] = (status.conditions ??= [])
  const i = conditions.findIndex((c) => c.type === cond.type)
  if (i < 0) {
    conditions.push({ ...cond, lastTransitionTime: nowTimestamp(now) })
    return
  }
  const cur = conditions[i]
  conditions[i] = {
    ...cur,
    ...cond,
    lastTransitionTime: cur.status === cond.status ? cur.lastTransitionTime : nowTimestamp(now),
  }
}

/** pdbhelper.UpdateDisruptionAllowedCondition. */
function updateDisruptionAllowedCondition(status: Obj, now: number): void {
  const allowed = (status.disruptionsAllowed ?? 0) > 0
  setCondition(
    status,
    {
      type: 'DisruptionAllowed',
      status: allowed ? 'True' : 'False',
      reason: allowed ? 'SufficientPods' : 'InsufficientPods',
      message: '',
      observedGeneration: status.observedGeneration ?? 0,
    },
    now,
  )
}

/** pdbhelper.ConditionsAreUpToDate. */
function conditionsUpToDate(pdb: Obj): boolean {
  const status = pdb.status ?? {}
  const cond = ((status.conditions ?? []) as Obj[]).find((c) => c.type === 'DisruptionAllowed')
  if (!cond || (status.observedGeneration ?? 0) !== (pdb.metadata?.generation ?? 0)) return false
  return (status.disruptionsAllowed ?? 0) > 0
    ? cond.status === 'True' && cond.reason === 'SufficientPods'
    : cond.status === 'False' && cond.reason === 'InsufficientPods'
}

const sameMap = (a: Record<string, string> = {}, b: Record<string, string> = {}) =>
  Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k])

/** Brings every PodDisruptionBudget of the namespace up to date; asks to run again for pending evictions. */
export async function syncDisruptionBudgets(
  c: ControllerContext,
  namespace: string,
): Promise<SyncResult> {
  const pdbType = c.resources.byGroupResource('policy', 'poddisruptionbudgets')
  const podType = c.resources.byGroupResource('', 'pods')
  if (!pdbType || !podType) return
  const { items: budgets } = await c.registryStore(pdbType).list(namespace, {})
  if (!budgets.length) return
  const { items: pods } = await c.registryStore(podType).list(namespace, {})
  const finder = new ControllerFinder(c, namespace)
  let recheckAt: number | undefined
  let failure: unknown
  let conflicted = false
  for (const pdb of budgets as Obj[]) {
    try {
      const at = await syncBudget(c, pdbType, pdb, pods as Obj[], finder)
      if (at !== undefined && (recheckAt === undefined || at < recheckAt)) recheckAt = at
    } catch (e) {
      // A status write that lost to an eviction is redone from fresh reads, without failing safe.
      if (isStatusErrorReason(e, 'Conflict')) conflicted = true
      else if (!isGoneOrSkipped(e)) failure ??= e
    }
  }
  if (failure) throw failure
  if (conflicted) return { requeueAfterMs: CONFLICT_RETRY_MS }
  if (recheckAt !== undefined) return { requeueAfterMs: Math.max(0, recheckAt - c.now()) + 1 }
}

/** sync/trySync of one budget, with failSafe when its pods' workloads cannot be worked out. */
async function syncBudget(
  c: ControllerContext,
  pdbType: ResourceType,
  pdb: Obj,
  allPods: Obj[],
  finder: ControllerFinder,
): Promise<number | undefined> {
  const now = c.now()
  const pods = allPods.filter((p) => selects(pdb.spec?.selector, p.metadata?.labels ?? {}))
  let counts: { expected: number; desiredHealthy: number }
  try {
    counts = await expectedPodCount(finder, pdb, pods)
  } catch (e) {
    await failSafe(c, pdbType, pdb, errorText(e))
    return undefined
  }
  const { disrupted, recheckAt } = disruptedPodMap(pods, pdb, now)
  const currentHealthy = countHealthy(pods, disrupted, now)
  const { expected, desiredHealthy } = counts
  // expectedPods must be positive: a budget that matched no pods stays safe while its first pods appear.
  let allowed = currentHealthy - desiredHealthy
  if (expected <= 0 || allowed <= 0) allowed = 0
  const status = pdb.status ?? {}
  if (
    status.currentHealthy === currentHealthy &&
    status.desiredHealthy === desiredHealthy &&
    status.expectedPods === expected &&
    status.disruptionsAllowed === allowed &&
    sameMap(status.disruptedPods, disrupted) &&
    (status.observedGeneration ?? 0) === (pdb.metadata?.generation ?? 0) &&
    conditionsUpToDate(pdb)
  )
    return recheckAt
  await writeStatus(c, pdbType, pdb, (cur) => {
    const next: Obj = {
      currentHealthy,
      desiredHealthy,
      expectedPods: expected,
      disruptionsAllowed: allowed,
      observedGeneration: pdb.metadata?.generation ?? 0,
      conditions: cur.conditions,
    }
    if (Object.keys(disrupted).length) next.disruptedPods = disrupted
    updateDisruptionAllowedCondition(next, now)
    return next
  })
  return recheckAt
}

/** failSafe: no disruption allowed, and the condition says why. */
async function failSafe(
  c: ControllerContext,
  pdbType: ResourceType,
  pdb: Obj,
  message: string,
): Promise<void> {
  c.log(`disruption: failed to sync PDB ${pdb.metadata.namespace}/${pdb.metadata.name}: ${message}`)
  await writeStatus(c, pdbType, pdb, (cur) => {
    const next = { ...cur, disruptionsAllowed: 0 }
    setCondition(
      next,
      {
        type: 'DisruptionAllowed',
        status: 'False',
        reason: 'SyncFailed',
        message,
        observedGeneration: cur.observedGeneration ?? 0,
      },
      c.now(),
    )
    return next
  })
}

/**
 * UpdateStatus with the budget's resourceVersion: a write that lost to an eviction (which changed
 * disruptionsAllowed and disruptedPods) fails with a Conflict and the namespace is synced again.
 */
async function writeStatus(
  c: ControllerContext,
  pdbType: ResourceType,
  pdb: Obj,
  status: (current: Obj) => Obj,
): Promise<void> {
  await c.registryStore(pdbType).update(
    pdb.metadata.namespace,
    pdb.metadata.name,
    (cur) => {
      if (cur?.metadata?.uid !== pdb.metadata.uid) throw new Skip()
      if (cur!.metadata!.resourceVersion !== pdb.metadata.resourceVersion)
        throw conflict(
          { group: 'policy', resource: 'poddisruptionbudgets' },
          pdb.metadata.name,
          'the object has been modified; please apply your changes to the latest version and try again',
        )
      return { ...cur!, status: status(structuredClone((cur!.status ?? {}) as Obj)) }
    },
    c.request,
    'status',
  )
}

/** How long until a pod's DisruptionTarget condition goes stale, or undefined when it has none to clear. */
export function staleDisruptionIn(pod: KubeObject, now: number): number | undefined {
  const p = pod as Obj
  if (p.metadata?.deletionTimestamp || isTerminal(p)) return undefined
  const cond = ((p.status?.conditions ?? []) as Obj[]).find((c) => c.type === 'DisruptionTarget')
  // A kubelet's own disruption may take any time before the pod terminates: never stale.
  if (!cond || cond.status !== 'True' || cond.reason === 'TerminationByKubelet') return undefined
  const since = Date.parse(cond.lastTransitionTime ?? '') || now
  return Math.max(0, since + STALE_POD_DISRUPTION_TIMEOUT_MS - now)
}

/** syncStalePodDisruption: a pod an eviction marked but did not delete loses its DisruptionTarget. */
export async function syncStalePodDisruption(
  c: ControllerContext,
  namespace: string,
  name: string,
): Promise<SyncResult> {
  const podType = c.resources.byGroupResource('', 'pods')
  if (!podType) return
  let pod: KubeObject
  try {
    pod = await c.registryStore(podType).get(namespace, name)
  } catch (e) {
    if (isStatusErrorReason(e, 'NotFound')) return
    throw e
  }
  const wait = staleDisruptionIn(pod, c.now())
  if (wait === undefined) return
  if (wait > 0) return { requeueAfterMs: wait }
  try {
    await c.registryStore(podType).update(
      namespace,
      name,
      (cur) => {
        if (cur?.metadata?.uid !== pod.metadata?.uid) throw new Skip()
        const next = structuredClone(cur!) as Obj
        const conds: Obj[] = next.status?.conditions ?? []
        const i = conds.findIndex((x) => x.type === 'DisruptionTarget')
        if (i < 0 || conds[i].status !== 'True') throw new Skip()
        // podutil.UpdatePodCondition with only type and status: reason and message go, the time moves.
        conds[i] = {
          type: 'DisruptionTarget',
          status: 'False',
          lastProbeTime: null,
          lastTransitionTime: nowTimestamp(c.now()),
        }
        return next
      },
      c.request,
      'status',
    )
  } catch (e) {
    if (!isGoneOrSkipped(e)) throw e
  }
}

/** Whether a key belongs to a budget (the manager tracks which namespaces have any). */
export const isBudgetKey = (key: string) => key.startsWith(PDB_PREFIX)

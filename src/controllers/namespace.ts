// The namespace controller (pkg/controller/namespace/deletion): a namespace with a deletionTimestamp goes
// Terminating, everything in it of every kind is deleted, its status conditions say what is left, and once
// nothing is left the `kubernetes` finalizer is removed through namespaces/finalize, which deletes it.
import { decode, storageKey } from '../registry/store'
import type { KubeObject, ResourceType } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import {
  finalizersOf,
  isGoneOrSkipped,
  nowTimestamp,
  Skip,
  type ControllerContext,
  type SyncResult,
} from './context'
import { errorText } from '../util/errors'

export const NAMESPACE_FINALIZER = 'kubernetes'
/** finalizerEstimateSeconds: how long to wait for content that has finalizers before looking again. */
const FINALIZER_ESTIMATE_SECONDS = 15
/** Content deletions one sync makes at most before handing the object's thread back (it runs again at once). */
const MAX_DELETES_PER_SYNC = 500

type Obj = Record<string, any>

interface Condition {
  type: string
  status: 'True' | 'False'
  lastTransitionTime: string
  reason: string
  message: string
}

// namespace_condition_updater.go
const CONDITION_TYPES = [
  'NamespaceDeletionDiscoveryFailure',
  'NamespaceDeletionGroupVersionParsingFailure',
  'NamespaceDeletionContentFailure',
  'NamespaceContentRemaining',
  'NamespaceFinalizersRemaining',
] as const
const OK_MESSAGES: Record<string, string> = {
  NamespaceDeletionDiscoveryFailure: 'All resources successfully discovered',
  NamespaceDeletionGroupVersionParsingFailure: 'All legacy kube types successfully parsed',
  NamespaceDeletionContentFailure:
    'All content successfully deleted, may be waiting on finalization',
  NamespaceContentRemaining: 'All content successfully removed',
  NamespaceFinalizersRemaining: 'All content-preserving finalizers finished',
}
const OK_REASONS: Record<string, string> = {
  NamespaceDeletionDiscoveryFailure: 'ResourcesDiscovered',
  NamespaceDeletionGroupVersionParsingFailure: 'ParsedGroupVersions',
  NamespaceDeletionContentFailure: 'ContentDeleted',
  NamespaceContentRemaining: 'ContentRemoved',
  NamespaceFinalizersRemaining: 'ContentHasNoFinalizers',
}

/** schema.GroupVersionResource's String(), as the deleter's errors print it: "apps/v1, Resource=deployments". */
function gvrString(t: ResourceType): string {
  return `${t.group}/${t.version}, Resource=${t.resource}`
}

interface Remaining {
  estimate: number
  numRemaining: number
  finalizers: Map<string, number>
}

class ContentError extends Error {
  constructor(
    message: string,
    readonly remaining?: Remaining,
  ) {
    super(message)
  }
}

export async function syncNamespace(c: ControllerContext, name: string): Promise<SyncResult> {
  const namespaces = c.resources.byPrefix('namespaces')
  if (!namespaces) return
  const rs = c.registryStore(namespaces)
  let ns: KubeObject
  try {
    ns = await rs.get(undefined, name)
  } catch (e) {
    if (isStatusErrorReason(e, 'NotFound')) return
    throw e
  }
  const deletedAt = ns.metadata?.deletionTimestamp
  if (!deletedAt) return
  const uid = ns.metadata?.uid

  // updateNamespaceStatusFunc: a deleting namespace is Terminating.
  if ((ns.status as Obj | undefined)?.phase !== 'Terminating') {
    try {
      ns = (
        await rs.update(
          undefined,
          name,
          (cur) => {
            if (cur?.metadata?.uid !== uid) throw new Skip()
            return { ...cur, status: { ...(cur!.status as Obj), phase: 'Terminating' } }
          },
          c.request,
          'status',
        )
      ).object
    } catch (e) {
      if (isGoneOrSkipped(e)) return
      throw e
    }
  }
  // Finalized already: whoever holds the remaining finalizers finishes it.
  if (!(ns.spec as Obj | undefined)?.finalizers?.length) return

  const { estimate, conditions, errors, budgetSpent } = await deleteAllContent(c, name)
  if (budgetSpent) return { requeueAfterMs: 0 }

  const status = structuredClone((ns.status ?? {}) as Obj)
  if (updateConditions(status, conditions, nowTimestamp(c.now()))) {
    try {
      ns = (
        await rs.update(
          undefined,
          name,
          (cur) => {
            if (cur?.metadata?.uid !== uid) throw new Skip()
            const curStatus = structuredClone((cur!.status ?? {}) as Obj)
            updateConditions(curStatus, conditions, nowTimestamp(c.now()))
            return { ...cur, status: curStatus }
          },
          c.request,
          'status',
        )
      ).object
    } catch (e) {
      if (isGoneOrSkipped(e)) return
      c.log(
        `namespace controller: couldn't update status condition for namespace "${name}": ${errorText(e)}`,
      )
    }
  }
  if (errors.length) throw new Error(errors.join(', '))
  if (estimate > 0) return { requeueAfterMs: estimate * 1000 }

  // finalizeNamespace: drop our token through the finalize subresource; with no finalizer left it is deleted.
  try {
    await rs.update(
      undefined,
      name,
      (cur) => {
        if (cur?.metadata?.uid !== uid) throw new Skip()
        const spec = (cur!.spec ?? {}) as Obj
        const rest = [
          ...new Set(
            ((spec.finalizers ?? []) as string[]).filter((f) => f !== NAMESPACE_FINALIZER),
          ),
        ].sort()
        return { ...cur, spec: { ...spec, finalizers: rest } }
      },
      c.request,
      'finalize',
    )
  } catch (e) {
    if (isGoneOrSkipped(e)) return
    throw e
  }
}

interface ContentResult {
  estimate: number
  conditions: Condition[]
  errors: string[]
  budgetSpent: boolean
}

/** deleteAllContent: every namespaced kind, custom resources included, deleted in the background. */
async function deleteAllContent(c: ControllerContext, namespace: string): Promise<ContentResult> {
  const errors: string[] = []
  const conditions: Condition[] = []
  const now = nowTimestamp(c.now())
  try {
    await c.resources.loadCustomResources(c.store)
  } catch (e) {
    conditions.push({
      type: 'NamespaceDeletionDiscoveryFailure',
      status: 'True',
      lastTransitionTime: now,
      reason: 'DiscoveryFailed',
      message: errorText(e),
    })
  }
  let estimate = 0
  const remainingByResource: string[] = []
  const remainingByFinalizer = new Map<string, number>()
  const budget = { deletes: MAX_DELETES_PER_SYNC }
  for (const type of c.resources.namespaced()) {
    let r: Remaining
    try {
      r = await deleteAllContentForType(c, type, namespace, budget)
    } catch (e) {
      if (!(e instanceof ContentError)) throw e
      errors.push(e.message)
      if (!e.remaining) continue
      r = e.remaining
    }
    if (budget.deletes <= 0) return { estimate, conditions, errors, budgetSpent: true }
    estimate = Math.max(estimate, r.estimate)
    if (r.numRemaining > 0) {
      remainingByResource.push(
        `${type.resource}.${type.group} has ${r.numRemaining} resource instances`,
      )
      for (const [f, n] of r.finalizers)
        remainingByFinalizer.set(f, (remainingByFinalizer.get(f) ?? 0) + n)
    }
  }
  // ProcessContentTotals and the delete-content errors, sorted for stable updates.
  if (remainingByResource.length) {
    conditions.push({
      type: 'NamespaceContentRemaining',
      status: 'True',
      lastTransitionTime: now,
      reason: 'SomeResourcesRemain',
      message: `Some resources are remaining: ${remainingByResource.sort().join(', ')}`,
    })
  }
  if (remainingByFinalizer.size) {
    const byFinalizer = [...remainingByFinalizer]
      .map(([f, n]) => `${f} in ${n} resource instances`)
      .sort()
    conditions.push({
      type: 'NamespaceFinalizersRemaining',
      status: 'True',
      lastTransitionTime: now,
      reason: 'SomeFinalizersRemain',
      message: `Some content in the namespace has finalizers remaining: ${byFinalizer.join(', ')}`,
    })
  }
  if (errors.length) {
    conditions.push({
      type: 'NamespaceDeletionContentFailure',
      status: 'True',
      lastTransitionTime: now,
      reason: 'ContentDeletionFailed',
      message: `Failed to delete all resource types, ${errors.length} remaining: ${[...errors].sort().join(', ')}`,
    })
  }
  return { estimate, conditions, errors, budgetSpent: false }
}

/** deleteAllContentForGroupVersionResource: delete the collection, then say what is left and why. */
async function deleteAllContentForType(
  c: ControllerContext,
  type: ResourceType,
  namespace: string,
  budget: { deletes: number },
): Promise<Remaining> {
  const rs = c.registryStore(type)
  const prefix = storageKey(type, namespace)
  const list = async () => (await c.store.list(prefix)).kvs.map((kv) => decode(type, kv))
  for (const item of await list()) {
    if (item.metadata?.deletionTimestamp) continue // on its way: nothing a second delete would change
    if (budget.deletes-- <= 0) return { estimate: 0, numRemaining: 0, finalizers: new Map() }
    try {
      await rs.delete(
        namespace,
        item.metadata!.name!,
        { propagationPolicy: 'Background', preconditions: { uid: item.metadata?.uid } },
        c.request,
      )
    } catch (e) {
      if (!isGoneOrSkipped(e) && !isStatusErrorReason(e, 'MethodNotAllowed')) {
        throw new ContentError(
          `${type.resource}.${type.group} "${item.metadata?.name}": ${errorText(e)}`,
        )
      }
    }
  }
  const remaining = await list()
  if (!remaining.length) return { estimate: 0, numRemaining: 0, finalizers: new Map() }
  const finalizers = new Map<string, number>()
  for (const item of remaining)
    for (const f of finalizersOf(item)) finalizers.set(f, (finalizers.get(f) ?? 0) + 1)
  const r: Remaining = {
    estimate: FINALIZER_ESTIMATE_SECONDS,
    numRemaining: remaining.length,
    finalizers,
  }
  // Content with finalizers is normal (whoever owns them finishes); content without any should be gone.
  if (finalizers.size) return r
  throw new ContentError(
    `unexpected items still remain in namespace: ${namespace} for gvr: ${gvrString(type)}`,
    { ...r, estimate: 0 },
  )
}

/** updateConditions: each managed type set from the new conditions or its "ok" variant; true when changed. */
export function updateConditions(status: Obj, fresh: Condition[], now: string): boolean {
  let changed = false
  const current: Condition[] = (status.conditions ??= [])
  for (const type of CONDITION_TYPES) {
    const next = fresh.find((x) => x.type === type) ?? {
      type,
      status: 'False' as const,
      lastTransitionTime: now,
      reason: OK_REASONS[type]!,
      message: OK_MESSAGES[type]!,
    }
    const old = current.find((x) => x.type === type)
    if (!old) {
      current.push({ ...next })
      changed = true
    } else if (
      old.status !== next.status ||
      old.message !== next.message ||
      old.reason !== next.reason
    ) {
      if (old.status !== next.status) old.lastTransitionTime = now
      old.status = next.status
      old.reason = next.reason
      old.message = next.message
      changed = true
    }
  }
  return changed
}

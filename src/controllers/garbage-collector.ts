// The garbage collector (pkg/controller/garbagecollector): objects whose owners are all gone are deleted
// (background); an owner deleted in the foreground keeps its `foregroundDeletion` finalizer until the
// dependents that block it are gone; an owner deleted with `orphan` has its dependents' ownerReferences to
// it removed first. The dependents of an owner come from an index the manager keeps from the store's writes
// (kube's dependency graph); whether an owner exists is always read live, as kube's isDangling does.
import { decode } from '../registry/store'
import type { KubeObject, OwnerReference, ResourceType } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import {
  finalizersOf,
  isGoneOrSkipped,
  Skip,
  type ControllerContext,
  type SyncResult,
} from './context'

export const FOREGROUND_FINALIZER = 'foregroundDeletion'
export const ORPHAN_FINALIZER = 'orphan'

/** ownerReferences by owner uid: who depends on whom, from what the store has said. */
export class OwnerIndex {
  private dependents = new Map<string, Set<string>>()
  private owners = new Map<string, string[]>()

  /** Records the owners `key` has now (none: forgets it). */
  set(key: string, refs: OwnerReference[]): void {
    this.remove(key)
    const uids = [...new Set(refs.map((r) => r.uid).filter(Boolean))]
    if (!uids.length) return
    this.owners.set(key, uids)
    for (const uid of uids) {
      let set = this.dependents.get(uid)
      if (!set) this.dependents.set(uid, (set = new Set()))
      set.add(key)
    }
  }

  remove(key: string): void {
    for (const uid of this.owners.get(key) ?? []) {
      const set = this.dependents.get(uid)
      set?.delete(key)
      if (set && !set.size) this.dependents.delete(uid)
    }
    this.owners.delete(key)
  }

  /** Keys that have (or had, until the store says otherwise) an ownerReference to uid. */
  dependentsOf(uid: string | undefined): string[] {
    return uid ? [...(this.dependents.get(uid) ?? [])] : []
  }

  /** Every indexed dependent with its owner uids. */
  entries(): IterableIterator<[string, string[]]> {
    return this.owners.entries()
  }
}

const deletingDependents = (obj: KubeObject) =>
  !!obj.metadata?.deletionTimestamp && finalizersOf(obj).includes(FOREGROUND_FINALIZER)

interface Loaded {
  type: ResourceType
  namespace?: string
  name: string
  obj: KubeObject
}

async function load(c: ControllerContext, key: string): Promise<Loaded | undefined> {
  const info = c.resources.parseKey(key)
  if (!info) return undefined
  const { kv } = await c.store.get(key)
  if (!kv) return undefined
  return { ...info, obj: decode(info.type, kv) }
}

type Owner = { ref: OwnerReference; state: 'solid' | 'dangling' | 'waiting' }

/** classifyReferences, with isDangling's live read of each owner (a uid that differs is a different object). */
async function classify(c: ControllerContext, item: Loaded): Promise<Owner[]> {
  const out: Owner[] = []
  for (const ref of item.obj.metadata?.ownerReferences ?? []) {
    const owner = c.resources.ownerKey(ref, item.namespace)
    // An unknown kind (a CRD not there yet) or a namespaced owner of a cluster-scoped object: kube never
    // deletes on such a reference.
    if (owner === 'unresolvable') {
      out.push({ ref, state: 'solid' })
      continue
    }
    const { kv } = await c.store.get(owner.key)
    const obj = kv ? decode(owner.type, kv) : undefined
    if (!obj || obj.metadata?.uid !== ref.uid) out.push({ ref, state: 'dangling' })
    else out.push({ ref, state: deletingDependents(obj) ? 'waiting' : 'solid' })
  }
  return out
}

/** attemptToDeleteItem for the object at key (and processDeletingDependentsItem when it is an owner in the foreground). */
export async function attemptToDelete(
  c: ControllerContext,
  index: OwnerIndex,
  key: string,
): Promise<SyncResult> {
  const item = await load(c, key)
  if (!item) return // gone: its dependents were queued when the store said so
  const meta = item.obj.metadata ?? {}
  if (meta.deletionTimestamp) {
    // Being deleted is a one-way trip: wait for the final deletion, unless it waits for its dependents.
    if (!deletingDependents(item.obj)) return
    return processDeletingDependents(c, index, item)
  }
  const refs = meta.ownerReferences ?? []
  if (!refs.length) return
  const owners = await classify(c, item)
  const solid = owners.filter((o) => o.state === 'solid')
  const stale = owners.filter((o) => o.state !== 'solid').map((o) => o.ref.uid)
  const waiting = owners.some((o) => o.state === 'waiting')
  if (solid.length) {
    if (!stale.length) return
    // Drop references to owners that are gone or waiting on their dependents (else those owners wait forever).
    await mutate(c, item, (obj) => {
      obj.metadata!.ownerReferences = (obj.metadata!.ownerReferences ?? []).filter(
        (r) => !stale.includes(r.uid),
      )
      if (!obj.metadata!.ownerReferences.length) delete obj.metadata!.ownerReferences
    })
    return
  }
  const dependents = index.dependentsOf(meta.uid)
  if (waiting && dependents.length) {
    // Break owner ↔ dependent cycles of foreground deletions: this object stops blocking its owners.
    for (const dep of dependents) {
      const d = await load(c, dep)
      if (d && deletingDependents(d.obj)) {
        await mutate(c, item, (obj) => {
          for (const r of obj.metadata!.ownerReferences ?? [])
            if (r.blockOwnerDeletion) r.blockOwnerDeletion = false
        })
        break
      }
    }
    return deleteObject(c, item, 'Foreground')
  }
  const fin = finalizersOf(item.obj)
  const policy = fin.includes(ORPHAN_FINALIZER)
    ? 'Orphan'
    : fin.includes(FOREGROUND_FINALIZER)
      ? 'Foreground'
      : 'Background'
  return deleteObject(c, item, policy)
}

/** processDeletingDependentsItem: done once no dependent blocks; else make sure each blocking one is on its way. */
async function processDeletingDependents(
  c: ControllerContext,
  index: OwnerIndex,
  owner: Loaded,
): Promise<SyncResult> {
  const uid = owner.obj.metadata?.uid
  let blocking = 0
  const retry: string[] = []
  for (const key of index.dependentsOf(uid)) {
    const dep = await load(c, key)
    const ref = dep?.obj.metadata?.ownerReferences?.find((r) => r.uid === uid)
    if (!dep || !ref) continue
    // Dependents that do not block are deleted too, but the owner does not wait for them.
    if (!dep.obj.metadata?.deletionTimestamp) retry.push(key)
    if (ref.blockOwnerDeletion) blocking++
  }
  for (const key of retry) await attemptToDelete(c, index, key)
  if (blocking) return
  await removeFinalizer(c, owner, FOREGROUND_FINALIZER)
}

/** attemptToOrphanWorker: remove the owner from its dependents' ownerReferences, then the `orphan` finalizer. */
export async function attemptToOrphan(
  c: ControllerContext,
  index: OwnerIndex,
  key: string,
): Promise<SyncResult> {
  const owner = await load(c, key)
  if (
    !owner ||
    !owner.obj.metadata?.deletionTimestamp ||
    !finalizersOf(owner.obj).includes(ORPHAN_FINALIZER)
  )
    return
  const uid = owner.obj.metadata.uid
  for (const depKey of index.dependentsOf(uid)) {
    const dep = await load(c, depKey)
    if (!dep || !dep.obj.metadata?.ownerReferences?.some((r) => r.uid === uid)) continue
    await mutate(c, dep, (obj) => {
      obj.metadata!.ownerReferences = (obj.metadata!.ownerReferences ?? []).filter(
        (r) => r.uid !== uid,
      )
      if (!obj.metadata!.ownerReferences.length) delete obj.metadata!.ownerReferences
    })
  }
  await removeFinalizer(c, owner, ORPHAN_FINALIZER)
}

/** An update of the object the loop read (same uid), retried on conflicts; gone or replaced is fine. */
async function mutate(
  c: ControllerContext,
  item: Loaded,
  change: (obj: KubeObject) => void,
): Promise<void> {
  const uid = item.obj.metadata?.uid
  try {
    await c.registryStore(item.type).update(
      item.namespace,
      item.name,
      (cur) => {
        if (!cur || cur.metadata?.uid !== uid) throw new Skip()
        change(cur)
        return cur
      },
      c.request,
    )
  } catch (e) {
    if (!isGoneOrSkipped(e)) throw e
  }
}

function removeFinalizer(c: ControllerContext, item: Loaded, finalizer: string): Promise<void> {
  return mutate(c, item, (obj) => {
    obj.metadata!.finalizers = finalizersOf(obj).filter((f) => f !== finalizer)
    if (!obj.metadata!.finalizers.length) delete obj.metadata!.finalizers
  })
}

/** deleteObject: a delete with the item's uid as precondition and the given propagation. */
async function deleteObject(
  c: ControllerContext,
  item: Loaded,
  propagationPolicy: 'Orphan' | 'Background' | 'Foreground',
): Promise<void> {
  try {
    await c
      .registryStore(item.type)
      .delete(
        item.namespace,
        item.name,
        { propagationPolicy, preconditions: { uid: item.obj.metadata?.uid } },
        c.request,
      )
  } catch (e) {
    if (!isGoneOrSkipped(e) && !isStatusErrorReason(e, 'MethodNotAllowed')) throw e
  }
}

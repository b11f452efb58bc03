// ResourceQuota (k8s.io/apiserver/pkg/admission/plugin/resourcequota): a write that would take a namespace past
// any of its quotas is forbidden; one that fits is charged to status.used before it is stored.
//
// The charge is a compare-and-swap on each ResourceQuota (Store.update with the modRevision read), retried on
// conflict, so concurrent creates in separate Worker requests cannot overshoot a quota: of N racing creates
// against room for k, exactly k win the swap. kube-apiserver gets the same from its quota evaluator's
// GuaranteedUpdate on the quota's resourceVersion.
//
// With no quota controller running, this plugin also does its two jobs that admission depends on: it fills
// status.hard/status.used from scratch when a quota is new or its spec changed (a recount, also done right after
// a ResourceQuota is written), and it gives usage back when an object is deleted (replenishment).
import type { Registry } from '../../../registry/registry'
import { conflict, OPTIMISTIC_LOCK_MESSAGE } from '../../../server/errors'
import { isStoreError } from '../../../storage/store'
import {
  add,
  cmp,
  formatQuantity,
  parseResourceList,
  sub,
  ZERO,
  type ResourceList,
} from '../../../registry/quantity'
import type { StoredObject } from '../../reader'
import { admissionForbidden, type AdmissionPlugin, type Attributes } from '../../types'
import { evaluatorFor, format, resourcesFor, type Evaluator } from './evaluators'

type Obj = Record<string, any>
const MAX_ATTEMPTS = 64

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const backoff = (attempt: number) => sleep(Math.min(50, 2 + attempt * 2) * Math.random())

function keyOf(ns: string, name: string): string {
  return `/registry/resourcequotas/${ns}/${name}`
}

function encodeQuota(q: Obj): string {
  const { resourceVersion: _rv, ...metadata } = q.metadata ?? {}
  return JSON.stringify({ ...q, metadata })
}

function mask(list: ResourceList, names: Iterable<string>): ResourceList {
  const keep = new Set(names)
  return new Map([...list].filter(([k]) => keep.has(k)))
}

function canonicalHard(spec: Obj | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  const parsed = parseResourceList(spec?.hard)
  for (const k of [...parsed.keys()].sort()) out[k] = formatQuantity(parsed.get(k)!)
  return out
}

function needsRecount(q: Obj): boolean {
  const hard = canonicalHard(q.spec)
  const status = q.status ?? {}
  if (JSON.stringify(canonicalHard({ hard: status.hard })) !== JSON.stringify(hard)) return true
  return Object.keys(hard).some((k) => status.used?.[k] === undefined)
}

/** What the quota controller computes: usage of every hard resource, counted from the namespace's objects. */
export async function recountUsage(
  a: Pick<Attributes, 'reader'>,
  registry: Registry,
  q: Obj,
): Promise<Record<string, string>> {
  const hard = canonicalHard(q.spec)
  const names = Object.keys(hard)
  const used: ResourceList = new Map(names.map((n) => [n, ZERO]))
  const ns = q.metadata?.namespace ?? ''
  for (const t of resourcesFor(names, registry)) {
    const evaluator = evaluatorFor(t.group, t.resource)
    const matching = evaluator.matchingResources(names)
    for (const obj of await a.reader.list(t.storagePrefix, ns)) {
      if (!evaluator.matchesScopes(q, obj as Obj)) continue
      for (const [k, v] of mask(evaluator.usage(obj as Obj), matching))
        used.set(k, add(used.get(k) ?? ZERO, v))
    }
  }
  const out: Record<string, string> = {}
  for (const k of names) out[k] = formatQuantity(used.get(k)!)
  return out
}

/** Writes status.hard and a fresh status.used for one quota, compare-and-swap; returns the stored quota. */
async function syncStatus(
  a: Attributes,
  registry: Registry,
  stored: StoredObject,
): Promise<StoredObject | undefined> {
  const q = structuredClone(stored.object) as Obj
  q.status = { hard: canonicalHard(q.spec), used: await recountUsage(a, registry, q) }
  try {
    const kv = await a.store.update(
      keyOf(q.metadata.namespace, q.metadata.name),
      encodeQuota(q),
      stored.modRevision,
    )
    q.metadata.resourceVersion = String(kv.modRevision)
    return { object: q, modRevision: kv.modRevision }
  } catch (e) {
    if (isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) return undefined
    throw e
  }
}

interface Charge {
  quota: string
  delta: ResourceList
}

/**
 * Checks a request against every quota in its namespace and charges it, retrying the whole check on a conflict.
 * Returns the charges made, so that a failed store can give them back.
 */
async function checkAndCharge(
  a: Attributes,
  registry: Registry,
  evaluator: Evaluator,
): Promise<Charge[]> {
  const obj = a.object as Obj
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await backoff(attempt)
    let quotas = await a.reader.listWithRevisions('resourcequotas', a.namespace, attempt > 0)
    if (!quotas.length) return []
    // Quotas whose status the controller has not filled in yet are filled in first.
    let resynced = false
    for (let i = 0; i < quotas.length; i++) {
      if (!needsRecount(quotas[i].object as Obj)) continue
      const synced = await syncStatus(a, registry, quotas[i])
      if (!synced) {
        resynced = true
        break
      }
      quotas[i] = synced
    }
    if (resynced) continue

    const charges: { stored: StoredObject; delta: ResourceList; newUsed: ResourceList }[] = []
    let inputUsage: ResourceList | undefined
    for (const stored of quotas) {
      const q = stored.object as Obj
      if (!evaluator.matchesScopes(q, obj)) continue
      const hardNames = Object.keys(q.status?.hard ?? {})
      const restricted = evaluator.matchingResources(hardNames)
      if (!restricted.length) continue
      const why = evaluator.constraints?.(restricted, obj)
      if (why) throw admissionForbidden(a, `failed quota: ${q.metadata.name}: ${why}`)
      inputUsage ??= evaluator.usage(obj)
      const negative = [...inputUsage]
        .filter(([, v]) => v.nano < 0n)
        .map(([k]) => k)
        .sort()
      if (negative.length)
        throw admissionForbidden(
          a,
          `quota usage is negative for resource(s): ${negative.join(',')}`,
        )
      let delta = inputUsage
      if (
        a.operation === 'UPDATE' &&
        a.oldObject &&
        evaluator.matchesScopes(q, a.oldObject as Obj)
      ) {
        const prev = evaluator.usage(a.oldObject as Obj)
        delta = new Map(
          [...inputUsage].map(([k, v]) => {
            const d = sub(v, prev.get(k) ?? ZERO)
            return [k, d.nano < 0n ? { ...d, nano: 0n } : d]
          }),
        )
      }
      const requested = new Map([...mask(delta, hardNames)].filter(([, v]) => v.nano !== 0n))
      if (!requested.size) continue
      const hard = parseResourceList(q.status.hard)
      const used = parseResourceList(q.status.used)
      const newUsed = new Map(used)
      for (const [k, v] of requested) newUsed.set(k, add(used.get(k) ?? ZERO, v))
      if (a.subresource !== 'status') {
        const exceeded = [...requested.keys()].filter(
          (k) => hard.has(k) && cmp(newUsed.get(k)!, hard.get(k)!) > 0,
        )
        if (exceeded.length) {
          throw admissionForbidden(
            a,
            `exceeded quota: ${q.metadata.name}, requested: ${format(mask(requested, exceeded))}, used: ${format(mask(used, exceeded))}, limited: ${format(mask(hard, exceeded))}`,
          )
        }
      }
      charges.push({ stored, delta: requested, newUsed })
    }
    if (!charges.length || a.dryRun) return []

    // Charge every affected quota; a conflict on any starts the check over with what is current.
    const done: Charge[] = []
    let conflicted = false
    for (const c of charges) {
      const q = structuredClone(c.stored.object) as Obj
      const used: Record<string, string> = { ...(q.status.used ?? {}) }
      for (const [k, v] of c.newUsed) used[k] = formatQuantity(v)
      q.status = { ...q.status, used }
      try {
        await a.store.update(
          keyOf(a.namespace, q.metadata.name),
          encodeQuota(q),
          c.stored.modRevision,
        )
        done.push({ quota: q.metadata.name, delta: c.delta })
      } catch (e) {
        if (!isStoreError(e, 'Conflict') && !isStoreError(e, 'NotFound')) throw e
        conflicted = true
        break
      }
    }
    if (!conflicted) return done
    await release(a, done)
  }
  throw conflict({ group: '', resource: 'resourcequotas' }, a.namespace, OPTIMISTIC_LOCK_MESSAGE)
}

/** Gives charged usage back (a failed store, or a deleted object), compare-and-swap, never below zero. */
async function release(
  a: Pick<Attributes, 'store' | 'namespace'>,
  charges: Charge[],
): Promise<void> {
  for (const c of charges) {
    const key = keyOf(a.namespace, c.quota)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await backoff(attempt)
      const { kv } = await a.store.get(key)
      if (!kv) break
      const q = JSON.parse(kv.value) as Obj
      if (!q.status?.used) break
      const used = parseResourceList(q.status.used)
      for (const [k, v] of c.delta) {
        if (!used.has(k)) continue
        const left = sub(used.get(k)!, v)
        q.status.used[k] = formatQuantity(left.nano < 0n ? { ...left, nano: 0n } : left)
      }
      try {
        await a.store.update(key, JSON.stringify(q), kv.modRevision)
        break
      } catch (e) {
        if (!isStoreError(e, 'Conflict')) throw e
      }
    }
  }
}

export function resourceQuota(registry: Registry): AdmissionPlugin {
  return {
    name: 'ResourceQuota',
    async validate(a) {
      if (!a.namespace || (a.type.group === '' && a.type.resource === 'namespaces')) return
      const evaluator = evaluatorFor(a.type.group, a.type.resource)
      if (
        a.type.group === '' &&
        a.type.resource === 'resourcequotas' &&
        (a.operation === 'CREATE' || a.operation === 'UPDATE') &&
        !a.dryRun &&
        a.subresource === ''
      ) {
        // The controller's recount, right after a quota is written, so `kubectl describe quota` shows usage at once.
        const name = (a.object as Obj)?.metadata?.name ?? a.name
        a.onCommit(async () => {
          for (let attempt = 0; attempt < 5; attempt++) {
            const stored = await a.reader.getWithRevision('resourcequotas', a.namespace, name, true)
            if (!stored || !needsRecount(stored.object as Obj)) return
            if (await syncStatus(a, registry, stored)) return
          }
        })
      }
      if (a.operation === 'DELETE') {
        if (a.dryRun || a.subresource || !a.oldObject) return
        const old = a.oldObject as Obj
        a.onCommit(async () => {
          const quotas = await a.reader.listWithRevisions('resourcequotas', a.namespace, true)
          const charges: Charge[] = []
          const usage = evaluator.usage(old)
          for (const { object: q } of quotas) {
            if (!evaluator.matchesScopes(q as Obj, old) || needsRecount(q as Obj)) continue
            const delta = mask(
              usage,
              evaluator.matchingResources(Object.keys((q as Obj).status?.hard ?? {})),
            )
            if (delta.size) charges.push({ quota: (q as Obj).metadata.name, delta })
          }
          await release(a, charges)
        })
        return
      }
      if (!a.object || !evaluator.handles(a.operation)) return
      const charges = await checkAndCharge(a, registry, evaluator)
      if (charges.length) a.onAbort(() => release(a, charges))
    },
  }
}

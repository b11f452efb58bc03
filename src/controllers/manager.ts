// The control loops the server owns, driven the way kube-controller-manager's are: level-triggered syncs
// from a work queue, fed by the store's writes (observe) and by a full resync (list everything, queue all
// that may need work). Every write is a compare-and-swap through the generic registry store, so two
// managers (two Node processes on one etcd, or a restart halfway) repeat each other's work harmlessly.
//
// At the edge the ClusterStore Durable Object calls observe() on each committed write and run() from its
// alarm (src/controllers/edge.ts); in Node mode startControllers (src/controllers/run.ts) feeds it from a
// watch and runs it on timers.
import type { Authorizer } from '../auth/authorizer'
import type { Registry } from '../registry/registry'
import type { RegistryStore } from '../registry/store'
import type { KubeObject, ResourceType } from '../registry/types'
import type { Store, StoreEvent } from '../storage/store'
import type { ClusterSigner } from '../auth/certificate-authority'
import { APISERVICES_PREFIX, AutoRegisterState, syncAPIServices } from './apiservices'
import { CSR_PREFIX, syncCertificateSigningRequest } from './certificates'
import { CLUSTER_ROLES_PREFIX, syncClusterRoleAggregation } from './clusterrole-aggregation'
import {
  controllerRequest,
  finalizersOf,
  IgnorableError,
  type ControllerContext,
  type SyncResult,
} from './context'
import {
  attemptToDelete,
  attemptToOrphan,
  FOREGROUND_FINALIZER,
  ORPHAN_FINALIZER,
  OwnerIndex,
} from './garbage-collector'
import {
  PDB_PREFIX,
  SCALED_KINDS,
  staleDisruptionIn,
  syncDisruptionBudgets,
  syncStalePodDisruption,
} from './disruption'
import { syncNamespace } from './namespace'
import { CLUSTERS_KEY_PREFIX } from '../tenancy/api'
import { syncCluster, type Provisioning } from '../tenancy/controller'
import { CRD_PREFIX, parse, ResourceTable } from './resources'
import { RESOURCE_QUOTAS_PREFIX, syncResourceQuotas } from './resourcequota'
import { DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIGMAP, syncServiceAccounts } from './serviceaccounts'
import { errorText } from '../util/errors'

export interface ControllerOptions {
  /** PEM bundle published in every namespace as kube-root-ca.crt (the cluster CA). */
  rootCA?: string
  /** The server's authorizer: csrapproving asks it what a CSR's requester may do. */
  authorizer?: Authorizer
  /** The cluster signing CA of csrsigning. */
  signer?: ClusterSigner
  log?: (msg: string) => void
  now?: () => number
  /** The cluster provisioner (src/tenancy): the default cluster's loops only. */
  provisioning?: Provisioning
  /** Syncs one run() makes at most before it hands the thread back (the rest runs at once, next time). */
  maxSyncsPerRun?: number
}

/** A piece of work, named so that the same work queued twice is queued once. */
type Work =
  | { loop: 'namespace'; name: string }
  | { loop: 'serviceaccounts'; namespace: string }
  | { loop: 'gc'; key: string }
  | { loop: 'orphan'; key: string }
  | { loop: 'aggregation' }
  | { loop: 'quota'; namespace: string }
  | { loop: 'csr'; name: string }
  | { loop: 'disruption'; namespace: string }
  | { loop: 'staleDisruption'; namespace: string; name: string }
  | { loop: 'apiservices' }
  | { loop: 'cluster'; name: string }

const workId = (w: Work): string => {
  switch (w.loop) {
    case 'namespace':
      return `namespace:${w.name}`
    case 'serviceaccounts':
      return `serviceaccounts:${w.namespace}`
    case 'gc':
      return `gc:${w.key}`
    case 'orphan':
      return `orphan:${w.key}`
    case 'aggregation':
      return 'aggregation'
    case 'quota':
      return `quota:${w.namespace}`
    case 'csr':
      return `csr:${w.name}`
    case 'disruption':
      return `disruption:${w.namespace}`
    case 'staleDisruption':
      return `staleDisruption:${w.namespace}/${w.name}`
    case 'apiservices':
      return 'apiservices'
    case 'cluster':
      return `cluster:${w.name}`
  }
}

/** How long writes may pile up before the loops look at them: one run sees a burst of writes once. */
export const COALESCE_MS = 100
/** Failed syncs back off from this, doubling, up to MAX_BACKOFF_MS (kube's per-item rate limiter). */
const BASE_BACKOFF_MS = 200
const MAX_BACKOFF_MS = 60_000
const DEFAULT_MAX_SYNCS = 200
const NAMESPACES_PREFIX = '/registry/namespaces/'
/** Kube's garbage collector ignores events; so do the loops (their writes are the busiest and own nothing). */
const IGNORED_PREFIXES = ['/registry/events/']
/** Kinds whose quota usage an update can change (a pod turning terminal, a service's type, a claim's request). */
const USAGE_CHANGES_ON_UPDATE = new Set(['Pod', 'Service', 'PersistentVolumeClaim'])

function sameHard(a: KubeObject, b: KubeObject): boolean {
  const hard = (o: KubeObject) =>
    Object.entries((o.spec as { hard?: Record<string, unknown> } | undefined)?.hard ?? {}).sort(
      ([x], [y]) => (x < y ? -1 : x > y ? 1 : 0),
    )
  return JSON.stringify(hard(a)) === JSON.stringify(hard(b))
}

interface Queued {
  work: Work
  due: number
  failures: number
}

export class ControllerManager {
  private readonly queue = new Map<string, Queued>()
  private readonly owners = new OwnerIndex()
  /** Namespaces with a deletionTimestamp: a write in one wakes the namespace controller. */
  private readonly terminating = new Set<string>()
  /** Namespaces holding ResourceQuotas, with their quota names: a write in one recomputes usage. */
  private readonly quotas = new Map<string, Set<string>>()
  /** Namespaces holding PodDisruptionBudgets: a pod or workload written in one recomputes their status. */
  private readonly budgets = new Map<string, Set<string>>()
  private readonly context: ControllerContext
  private readonly resources: ResourceTable
  private readonly maxSyncs: number
  private readonly now: () => number
  private readonly log: (msg: string) => void
  private synced = false
  private readonly registry: Registry
  private readonly autoRegister = new AutoRegisterState()
  private readonly provisioning: Provisioning | undefined
  /** The write observe() is looking at queued work that should not wait for others to pile up. */
  private urgent = false

  constructor(store: Store, registry: Registry, opts: ControllerOptions = {}) {
    this.now = opts.now ?? (() => Date.now())
    this.log = opts.log ?? ((msg) => console.error(msg))
    this.maxSyncs = opts.maxSyncsPerRun ?? DEFAULT_MAX_SYNCS
    this.resources = new ResourceTable(registry)
    this.registry = registry
    this.provisioning = opts.provisioning
    const stores = new Map<string, RegistryStore>()
    this.context = {
      store,
      resources: this.resources,
      request: controllerRequest(),
      rootCA: opts.rootCA,
      authorizer: opts.authorizer,
      signer: opts.signer,
      now: this.now,
      log: this.log,
      registryStore: (t: ResourceType) => {
        let rs = stores.get(t.storagePrefix)
        if (!rs || rs.type !== t)
          stores.set(t.storagePrefix, (rs = this.resources.registryStore(t, store)))
        return rs
      },
    }
  }

  /** Whether a full resync has run since this manager started. */
  get hasSynced(): boolean {
    return this.synced
  }

  /** How much work is queued (tests and logs). */
  get pending(): number {
    return this.queue.size
  }

  /**
   * A committed write. Updates what the loops know and queues the work it may need; returns in how many ms
   * the manager wants to run, or undefined when the write needs nothing. Never throws, never waits.
   */
  observe(event: StoreEvent): number | undefined {
    if (event.type === 'progress') return undefined
    const before = this.queue.size
    this.urgent = false
    try {
      const deleted = event.type === 'delete'
      const key = event.kv.key
      if (IGNORED_PREFIXES.some((p) => key.startsWith(p))) return undefined
      const obj = parse(deleted ? event.prevKv.value : event.kv.value)
      if (!obj) return undefined
      // The previous value matters to the garbage collector where ownership was involved, and to quota where
      // a quota's hard limits or an object's usage may have changed.
      const prevValue = !deleted ? event.prevKv?.value : undefined
      const prevNeeded =
        obj.metadata?.ownerReferences ||
        obj.metadata?.deletionTimestamp ||
        prevValue?.includes('"ownerReferences"') ||
        key.startsWith(RESOURCE_QUOTAS_PREFIX) ||
        USAGE_CHANGES_ON_UPDATE.has(obj.kind ?? '')
      const prev = prevValue && prevNeeded ? parse(prevValue) : undefined
      this.handle(key, obj, prev, deleted, false)
    } catch (e) {
      this.log(`controllers: observing a write failed: ${errorText(e)}`)
    }
    if (this.urgent) return 0
    return this.queue.size > before ? COALESCE_MS : undefined
  }

  /**
   * Lists everything and queues what may need work: what a new manager does first, and what it does now and
   * then so that nothing depends on having seen every write. Returns the revision it read at.
   */
  async resync(): Promise<number> {
    const { store } = this.context
    await this.resources.loadCustomResources(store)
    const uids = new Set<string>()
    let revision = 0
    let after: string | undefined
    for (;;) {
      const page = await store.list('/registry/', {
        limit: 500,
        after,
        revision: revision || undefined,
      })
      revision = page.revision
      for (const kv of page.kvs) {
        if (IGNORED_PREFIXES.some((p) => kv.key.startsWith(p))) continue
        const obj = parse(kv.value)
        if (!obj) continue
        if (obj.metadata?.uid) uids.add(obj.metadata.uid)
        this.handle(kv.key, obj, undefined, false, true)
      }
      if (!page.more || !page.kvs.length) break
      after = page.kvs[page.kvs.length - 1]!.key
    }
    // Dependents whose owners were not among the objects listed: the garbage collector confirms and deletes.
    for (const [key, ownerUids] of this.owners.entries()) {
      if (ownerUids.some((uid) => !uids.has(uid))) this.enqueue({ loop: 'gc', key })
    }
    this.enqueue({ loop: 'aggregation' })
    this.enqueue({ loop: 'apiservices' })
    this.synced = true
    return revision
  }

  /**
   * Runs due work until none is left or the budget is spent. Returns in how many ms there is more to do
   * (0: now), or undefined when the queue is empty. A sync that fails is retried with backoff.
   */
  async run(opts: { resync?: boolean } = {}): Promise<number | undefined> {
    if (!this.synced || opts.resync) {
      try {
        await this.resync()
      } catch (e) {
        this.log(`controllers: resync failed: ${errorText(e)}`)
        return MAX_BACKOFF_MS / 10
      }
    }
    for (let n = 0; n < this.maxSyncs; n++) {
      const next = this.nextDue()
      if (!next) break
      const [id, item] = next
      this.queue.delete(id)
      let result: SyncResult
      try {
        result = await this.sync(item.work)
      } catch (e) {
        const failures = item.failures + 1
        const backoff = Math.min(BASE_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS)
        if (!(e instanceof IgnorableError))
          this.log(`controllers: ${id} failed (retrying in ${backoff}ms): ${errorText(e)}`)
        this.enqueue(item.work, backoff, failures)
        continue
      }
      if (result) this.enqueue(item.work, result.requeueAfterMs)
    }
    return this.nextWakeIn()
  }

  private sync(w: Work): Promise<SyncResult> {
    const c = this.context
    switch (w.loop) {
      case 'namespace':
        return syncNamespace(c, w.name)
      case 'serviceaccounts':
        return syncServiceAccounts(c, w.namespace)
      case 'gc':
        return attemptToDelete(c, this.owners, w.key)
      case 'orphan':
        return attemptToOrphan(c, this.owners, w.key)
      case 'aggregation':
        return syncClusterRoleAggregation(c)
      case 'quota':
        return syncResourceQuotas(c, w.namespace)
      case 'csr':
        return syncCertificateSigningRequest(c, w.name)
      case 'disruption':
        return syncDisruptionBudgets(c, w.namespace)
      case 'staleDisruption':
        return syncStalePodDisruption(c, w.namespace, w.name)
      case 'apiservices':
        return syncAPIServices(c, this.registry, this.autoRegister)
      case 'cluster':
        return syncCluster(c, w.name, this.provisioning!)
    }
  }

  /** What one object's write (or, on resync, its presence) means for each loop. */
  private handle(
    key: string,
    obj: KubeObject,
    prev: KubeObject | undefined,
    deleted: boolean,
    initial: boolean,
  ): void {
    const meta = obj.metadata ?? {}
    const namespace = meta.namespace

    if (key.startsWith(NAMESPACES_PREFIX)) {
      const name = meta.name ?? key.slice(NAMESPACES_PREFIX.length)
      if (deleted) {
        this.terminating.delete(name)
      } else if (meta.deletionTimestamp) {
        this.terminating.add(name)
        this.enqueue({ loop: 'namespace', name })
      } else {
        this.terminating.delete(name)
        this.enqueue({ loop: 'serviceaccounts', namespace: name })
      }
    } else if (key.startsWith(CRD_PREFIX)) {
      this.resources.observeCRD(key, deleted ? undefined : obj)
    } else if (key.startsWith(CLUSTERS_KEY_PREFIX) && this.provisioning && !deleted) {
      this.enqueue({ loop: 'cluster', name: key.slice(CLUSTERS_KEY_PREFIX.length) })
      // Someone waits for a Cluster to be Ready (kubectl wait, a test's beforeEach): its provisioning
      // runs at once rather than after COALESCE_MS. Cluster writes are few; nothing is gained by batching.
      if (!initial) this.urgent = true
    }

    if (namespace) {
      // Content of a terminating namespace changed (went away, lost a finalizer): look at the namespace again.
      if (this.terminating.has(namespace)) this.enqueue({ loop: 'namespace', name: namespace })
      if (
        !initial &&
        ((obj.kind === 'ServiceAccount' && meta.name === DEFAULT_SERVICE_ACCOUNT) ||
          (obj.kind === 'ConfigMap' && meta.name === ROOT_CA_CONFIGMAP))
      ) {
        this.enqueue({ loop: 'serviceaccounts', namespace })
      }
      if (key.startsWith(RESOURCE_QUOTAS_PREFIX)) {
        let names = this.quotas.get(namespace)
        if (!names) this.quotas.set(namespace, (names = new Set()))
        if (deleted) names.delete(meta.name ?? '')
        else names.add(meta.name ?? '')
        if (!names.size) this.quotas.delete(namespace)
        // kube's quota controller syncs a quota that is new or whose spec.hard changed, not one whose status.used
        // admission just charged: a recount then would miss the objects charged and not stored yet, and lower
        // the usage under them.
        if (!deleted && (initial || !prev || !sameHard(prev, obj)))
          this.enqueue({ loop: 'quota', namespace })
      } else if (
        this.quotas.has(namespace) &&
        !initial &&
        (deleted || (prev && USAGE_CHANGES_ON_UPDATE.has(obj.kind ?? '')))
      ) {
        // Usage given back (kube's replenishment): a deletion, or an update that can change a pod's, service's
        // or claim's usage. A creation was charged by admission, and recounting then races as above.
        this.enqueue({ loop: 'quota', namespace })
      }
    }

    if (namespace) this.handleDisruption(key, obj, deleted, initial, namespace)

    if (key.startsWith(CLUSTER_ROLES_PREFIX) && !initial) this.enqueue({ loop: 'aggregation' })
    // A CRD's served versions changed, or an APIService was written or deleted: autoregister looks again.
    if ((key.startsWith(CRD_PREFIX) || key.startsWith(APISERVICES_PREFIX)) && !initial)
      this.enqueue({ loop: 'apiservices' })

    // csrapproving and csrsigning: a request not yet issued, failed or denied may have work.
    if (
      key.startsWith(CSR_PREFIX) &&
      !deleted &&
      (this.context.authorizer || this.context.signer) &&
      !(obj.status as { certificate?: string } | undefined)?.certificate
    )
      this.enqueue({ loop: 'csr', name: meta.name ?? key.slice(CSR_PREFIX.length) })

    this.handleOwnership(key, obj, prev, deleted, initial)
  }

  /** The disruption controller's share of a write: budgets, the pods they count and the workloads' scale. */
  private handleDisruption(
    key: string,
    obj: KubeObject,
    deleted: boolean,
    initial: boolean,
    namespace: string,
  ): void {
    const name = obj.metadata?.name ?? ''
    if (key.startsWith(PDB_PREFIX)) {
      let names = this.budgets.get(namespace)
      if (!names) this.budgets.set(namespace, (names = new Set()))
      if (deleted) names.delete(name)
      else names.add(name)
      if (!names.size) this.budgets.delete(namespace)
      if (!deleted) this.enqueue({ loop: 'disruption', namespace })
      return
    }
    if (obj.kind === 'Pod' && !deleted) {
      const wait = staleDisruptionIn(obj, this.now())
      if (wait !== undefined) this.enqueue({ loop: 'staleDisruption', namespace, name }, wait)
    }
    if (
      !initial &&
      this.budgets.has(namespace) &&
      (obj.kind === 'Pod' || SCALED_KINDS.has(obj.kind ?? ''))
    )
      this.enqueue({ loop: 'disruption', namespace })
  }

  /** The garbage collector's share of a write (graph_builder.go's processGraphChanges). */
  private handleOwnership(
    key: string,
    obj: KubeObject,
    prev: KubeObject | undefined,
    deleted: boolean,
    initial: boolean,
  ): void {
    const meta = obj.metadata ?? {}
    const refs = meta.ownerReferences ?? []
    const prevRefs = prev?.metadata?.ownerReferences ?? []
    const ownerWork = (uid: string) => {
      const ref = (refs.find((r) => r.uid === uid) ?? prevRefs.find((r) => r.uid === uid))!
      const owner = this.resources.ownerKey(ref, meta.namespace)
      if (owner !== 'unresolvable') this.enqueue({ loop: 'gc', key: owner.key })
    }
    if (deleted) {
      this.owners.remove(key)
      // Its dependents may have lost their last owner; an owner waiting on it may be done.
      for (const dep of this.owners.dependentsOf(meta.uid)) this.enqueue({ loop: 'gc', key: dep })
      for (const r of refs) ownerWork(r.uid)
      return
    }
    this.owners.set(key, refs)
    const fin = finalizersOf(obj)
    if (meta.deletionTimestamp && fin.includes(ORPHAN_FINALIZER))
      this.enqueue({ loop: 'orphan', key })
    if (meta.deletionTimestamp && fin.includes(FOREGROUND_FINALIZER)) {
      this.enqueue({ loop: 'gc', key })
      // Starts waiting for its dependents: each of them is looked at (processTransitions).
      const wasWaiting =
        !!prev?.metadata?.deletionTimestamp && finalizersOf(prev).includes(FOREGROUND_FINALIZER)
      if (!wasWaiting || initial)
        for (const dep of this.owners.dependentsOf(meta.uid)) this.enqueue({ loop: 'gc', key: dep })
    }
    if (initial) return
    // New or changed references: check the owners exist.
    if (refs.length && JSON.stringify(refs) !== JSON.stringify(prevRefs))
      this.enqueue({ loop: 'gc', key })
    // References dropped or no longer blocking: an owner waiting on this one may be done.
    for (const p of prevRefs) {
      const now = refs.find((r) => r.uid === p.uid)
      if (!now || (p.blockOwnerDeletion && !now.blockOwnerDeletion)) ownerWork(p.uid)
    }
  }

  private enqueue(work: Work, delayMs = 0, failures = 0): void {
    const id = workId(work)
    const due = this.now() + delayMs
    const queued = this.queue.get(id)
    if (queued && queued.due <= due) return
    this.queue.set(id, { work, due, failures: queued?.failures ?? failures })
  }

  private nextDue(): [string, Queued] | undefined {
    const now = this.now()
    for (const entry of this.queue) if (entry[1].due <= now) return entry
    return undefined
  }

  private nextWakeIn(): number | undefined {
    let due: number | undefined
    for (const q of this.queue.values()) if (due === undefined || q.due < due) due = q.due
    return due === undefined ? undefined : Math.max(0, due - this.now())
  }
}

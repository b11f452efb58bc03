// How every Worker isolate and Node process learns the CustomResourceDefinitions it serves: a per-isolate
// table of CRD-derived resource types, kept in the shared Registry. The store is the only source of truth:
// - a request for a resource of a non-built-in group re-reads that one CRD (one get by its key,
//   "<plural>.<group>") and rebuilds its types if the CRD's modRevision moved, so a CR is served at once
//   after its CRD is created, even when another isolate wrote the CRD. A CRD this isolate checked less
//   than VERIFY_TTL_MS ago is not read again (a large CRD is hundreds of KB); writes to a CRD through this
//   isolate drop its entry, so only another isolate's CRD update can be seen that much later;
// - discovery (and Registry.refreshCustomResources, for controllers) lists all CRDs and reconciles.
import type { Registry } from '../registry/registry'
import type { ResourceType } from '../registry/types'
import type { RequestInfo } from '../server/filters/request-info'
import { StatusError } from '../server/errors'
import type { KeyValue, Store } from '../storage/store'
import {
  finalizeCustomResourceDefinition,
  finalizeTerminatingCustomResourceDefinitions,
} from '../controllers/crd-finalizer'
import { customResourceTypes } from './custom-resource'
import type { ConversionOptions } from './conversion/webhook'
import { freshOrLastKnown } from '../storage/last-known'
import { CRD_GROUP, CRD_PREFIX, isCRDConditionTrue, type CRD } from './types'

interface Known {
  revision: number
  crd: CRD
  types: ResourceType[]
  verifiedAt: number
}

const VERIFY_TTL_MS = 1000

// kube's version priority (version.CompareKubeAwareVersionStrings): GA > beta > alpha > other, higher numbers first.
const KUBE_VERSION = /^v(\d+)(?:(alpha|beta)(\d+))?$/
export function compareKubeVersions(a: string, b: string): number {
  const ma = KUBE_VERSION.exec(a)
  const mb = KUBE_VERSION.exec(b)
  if (!ma || !mb) return ma ? -1 : mb ? 1 : a < b ? -1 : a > b ? 1 : 0
  const rank = (m: RegExpExecArray) => (m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0)
  if (rank(ma) !== rank(mb)) return rank(mb) - rank(ma)
  if (Number(ma[1]) !== Number(mb[1])) return Number(mb[1]) - Number(ma[1])
  return Number(mb[3] ?? 0) - Number(ma[3] ?? 0)
}

export class CustomResourceDefinitions {
  private known = new Map<string, Known>()
  private readonly builtinGroups: Set<string>

  constructor(
    private readonly registry: Registry,
    private readonly conversion: ConversionOptions = {},
  ) {
    this.builtinGroups = new Set(registry.all().map((t) => t.group))
    registry.refreshCustomResources = (store) => this.refreshAll(store)
  }

  /** The CRD behind a request's group and resource, current as of this request; undefined for built-in groups. */
  async forRequest(store: Store, info: RequestInfo): Promise<CRD | undefined> {
    if (!info.isResourceRequest || this.builtinGroups.has(info.apiGroup) || !info.resource)
      return undefined
    const name = `${info.resource}.${info.apiGroup}`
    const known = this.known.get(name)
    if (known && Date.now() - known.verifiedAt < VERIFY_TTL_MS) return known.crd
    const { kv, revision } = await store.get(CRD_PREFIX + name)
    this.apply(name, kv, revision)
    return this.known.get(name)?.crd
  }

  /**
   * refreshAll for discovery and OpenAPI, which kube-apiserver serves from memory: with the store out of
   * reach, or late, the CRDs last read are served.
   */
  async refreshForDiscovery(store: Store): Promise<void> {
    // `true`: the table in hand, whatever it holds, is what discovery goes on with.
    await freshOrLastKnown(
      this.refreshAll(store).then(() => true),
      () => true,
    )
  }

  /** Reconciles the table with every CRD in the store. */
  async refreshAll(store: Store): Promise<void> {
    const { kvs, revision } = await store.list(CRD_PREFIX)
    const seen = new Set<string>()
    for (const kv of kvs) {
      const name = kv.key.slice(CRD_PREFIX.length)
      seen.add(name)
      this.apply(name, kv, revision)
    }
    for (const name of [...this.known.keys()])
      if (!seen.has(name)) this.apply(name, undefined, revision)
  }

  private apply(name: string, kv: KeyValue | undefined, readRevision: number): void {
    const cur = this.known.get(name)
    if (!kv) {
      // A read older than what we hold must not undo it.
      if (cur && cur.revision <= readRevision) {
        this.unregister(cur)
        this.known.delete(name)
      }
      return
    }
    if (cur && cur.revision >= kv.modRevision) {
      cur.verifiedAt = Date.now()
      return
    }
    let crd: CRD
    let types: ResourceType[]
    try {
      crd = JSON.parse(kv.value) as CRD
      types = customResourceTypes(crd, this.conversion).sort((a, b) =>
        compareKubeVersions(a.version, b.version),
      )
    } catch (e) {
      console.error(`customresourcedefinition ${name}: cannot serve`, e)
      return
    }
    if (cur) this.unregister(cur)
    for (const t of types) this.registry.add(t)
    this.known.set(name, { revision: kv.modRevision, crd, types, verifiedAt: Date.now() })
  }

  /**
   * After a request on customresourcedefinitions: the written CRD is read again on its next use, and a
   * delete (or deletecollection) runs the cleanup finalizer at once, as apiextensions-apiserver's
   * finalizer controller would right after, so kubectl's wait sees the CRD go.
   */
  async afterRequest(store: Store, info: RequestInfo, res: Response): Promise<void> {
    if (
      info.apiGroup !== CRD_GROUP ||
      info.resource !== 'customresourcedefinitions' ||
      !res.ok ||
      info.verb === 'get' ||
      info.verb === 'list' ||
      info.verb === 'watch'
    )
      return
    for (const k of info.name ? [this.known.get(info.name)] : [...this.known.values()])
      if (k) k.verifiedAt = 0
    if (info.subresource) return
    if (info.verb === 'delete' && info.name) {
      const { kv } = await store.get(CRD_PREFIX + info.name)
      if (kv) await finalizeCustomResourceDefinition(store, info.name)
      else await deleteOrphanedCustomResources(store, info.name)
    } else if (info.verb === 'deletecollection') {
      await finalizeTerminatingCustomResourceDefinitions(store)
    }
  }

  private unregister(k: Known): void {
    for (const t of k.types) {
      if (this.registry.lookup(t.group, t.version, t.resource) === t)
        this.registry.remove(t.group, t.version, t.resource)
    }
  }
}

/** crdHandler: a terminating CRD's resources take no new objects. */
export function checkCustomResourceRequest(crd: CRD | undefined, info: RequestInfo): void {
  if (crd && isCRDConditionTrue(crd, 'Terminating') && info.verb === 'create') {
    throw new StatusError(
      405,
      'MethodNotAllowed',
      'create not allowed while custom resource definition is terminating',
      {
        group: info.apiGroup,
        kind: info.resource,
      },
    )
  }
}

/** A CRD removed without its cleanup finalizer (a store without the CRD's delete hook) leaves no objects behind. */
async function deleteOrphanedCustomResources(store: Store, crdName: string): Promise<void> {
  const dot = crdName.indexOf('.')
  if (dot <= 0) return
  const { kvs } = await store.list(`/registry/${crdName.slice(dot + 1)}/${crdName.slice(0, dot)}/`)
  for (const kv of kvs) await store.delete(kv.key).catch(() => undefined)
}

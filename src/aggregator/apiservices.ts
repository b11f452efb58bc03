// What the aggregator knows of the APIServices in the store (kube-aggregator keeps them in an informer):
// every one, read again for discovery and OpenAPI, and the one a request's group/version names, re-read
// at most once a second per isolate so that proxied requests cost no store read each.
import type { Store } from '../storage/store'
import { freshOrLastKnown } from '../storage/last-known'
import {
  APIREGISTRATION_GROUP_PRIORITY,
  builtinPriority,
  compareKubeAwareVersions,
  CRD_PRIORITY,
} from './priorities'

export const APISERVICES_PREFIX = '/registry/apiregistration.k8s.io/apiservices/'
const VERIFY_TTL_MS = 1000

export interface ServiceReference {
  namespace: string
  name: string
  port?: number
}

export interface APIService {
  apiVersion?: string
  kind?: string
  metadata: { name: string; resourceVersion?: string; [k: string]: unknown }
  spec: {
    group: string
    version: string
    service?: ServiceReference | null
    caBundle?: string
    insecureSkipTLSVerify?: boolean
    groupPriorityMinimum: number
    versionPriority: number
  }
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] }
}

export function isAvailable(a: APIService): boolean {
  return a.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false
}

export type RemoteAPIService = APIService & { spec: { service: ServiceReference } }

export function isRemote(a: APIService): a is RemoteAPIService {
  return !!a.spec.service
}

function parse(value: string, modRevision: number): APIService | undefined {
  try {
    const a = JSON.parse(value) as APIService
    if (!a?.spec?.version) return undefined
    a.metadata.resourceVersion = String(modRevision)
    return a
  } catch {
    return undefined
  }
}

export class APIServiceTable {
  private all = new Map<string, APIService>()
  private verifiedAt = new Map<string, number>()
  /** Whether every APIService has been read once (before that, a store outage is the caller's error). */
  private loadedAll = false

  /**
   * Every APIService, read again (discovery, OpenAPI and the availability checks); the ones last read
   * while the store is out of reach, as kube-aggregator's informer keeps serving them.
   */
  async refreshAll(store: Store): Promise<APIService[]> {
    return freshOrLastKnown(this.readAll(store), () =>
      this.loadedAll ? [...this.all.values()] : undefined,
    )
  }

  private async readAll(store: Store): Promise<APIService[]> {
    const { kvs } = await store.list(APISERVICES_PREFIX)
    const next = new Map<string, APIService>()
    const now = Date.now()
    for (const kv of kvs) {
      const a = parse(kv.value, kv.modRevision)
      if (!a) continue
      next.set(a.metadata.name, a)
      this.verifiedAt.set(a.metadata.name, now)
    }
    for (const name of this.all.keys()) if (!next.has(name)) this.verifiedAt.set(name, now)
    this.all = next
    this.loadedAll = true
    return [...next.values()]
  }

  /** The remote APIService serving group/version, if one does (a local one, or none, is undefined). */
  async remoteFor(
    store: Store,
    group: string,
    version: string,
  ): Promise<RemoteAPIService | undefined> {
    const name = `${version}.${group}`
    const at = this.verifiedAt.get(name)
    if (at === undefined || Date.now() - at >= VERIFY_TTL_MS)
      await freshOrLastKnown(this.readOne(store, name), () =>
        this.loadedAll || at !== undefined ? true : undefined,
      )
    const a = this.all.get(name)
    return a && isRemote(a) ? a : undefined
  }

  private async readOne(store: Store, name: string): Promise<true> {
    const { kv } = await store.get(APISERVICES_PREFIX + name)
    const a = kv && parse(kv.value, kv.modRevision)
    if (a) this.all.set(name, a)
    else this.all.delete(name)
    this.verifiedAt.set(name, Date.now())
    return true
  }

  /** Remembers an APIService written by this process (its status after a check). */
  remember(a: APIService): void {
    this.all.set(a.metadata.name, a)
    this.verifiedAt.set(a.metadata.name, Date.now())
  }

  remote(): RemoteAPIService[] {
    return [...this.all.values()].filter(isRemote)
  }
}

export interface GroupVersions {
  group: string
  versions: string[]
  /** Whether the group is served by an extension server rather than this one. */
  remote: boolean
}

/**
 * The served groups, local and remote, in kube-aggregator's discovery order (apiregistration's
 * SortedByGroupAndVersion): groups by their highest groupPriorityMinimum, then by name; the versions of a
 * group by versionPriority, then as Kubernetes versions sort. The aggregator's own group comes first.
 */
export function orderedGroups(
  local: { group: string; versions: string[]; custom?: boolean }[],
  remote: APIService[],
): GroupVersions[] {
  interface Entry {
    version: string
    versionPriority: number
    remote: boolean
  }
  const groups = new Map<string, { priority: number; entries: Entry[] }>()
  const add = (group: string, priority: number, e: Entry) => {
    const g = groups.get(group) ?? { priority: 0, entries: [] }
    g.priority = Math.max(g.priority, priority)
    if (!g.entries.some((x) => x.version === e.version)) g.entries.push(e)
    groups.set(group, g)
  }
  for (const l of local) {
    for (const version of l.versions) {
      const p =
        l.group === 'apiregistration.k8s.io'
          ? { group: APIREGISTRATION_GROUP_PRIORITY, version: 15 }
          : (builtinPriority(l.group, version) ?? CRD_PRIORITY)
      add(l.group, p.group, { version, versionPriority: p.version, remote: false })
    }
  }
  for (const a of remote) {
    const { group, version, groupPriorityMinimum, versionPriority } = a.spec
    // A local group version wins over an APIService claiming it (kube would proxy; ours serves it).
    if (groups.get(group)?.entries.some((e) => e.version === version)) continue
    add(group, groupPriorityMinimum, { version, versionPriority, remote: true })
  }
  return [...groups]
    .sort(([an, a], [bn, b]) => b.priority - a.priority || (an < bn ? -1 : an > bn ? 1 : 0))
    .map(([group, g]) => {
      g.entries.sort(
        (a, b) =>
          b.versionPriority - a.versionPriority || compareKubeAwareVersions(a.version, b.version),
      )
      return {
        group,
        versions: g.entries.map((e) => e.version),
        remote: g.entries.some((e) => e.remote),
      }
    })
}

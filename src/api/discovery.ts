// Discovery documents: legacy (/api, /apis, /api/v1, /apis/<g>/<v>) and aggregated (apidiscovery.k8s.io/v2).
import { LruMap } from '../util/lru'
import type { Registry } from '../registry/registry'
import { groupVersion, type ResourceType } from '../registry/types'

const AGGREGATED_AS = 'APIGroupDiscoveryList'
const SUBRESOURCE_VERBS = ['get', 'patch', 'update']

/** The discovery API version a client asked for in Accept, if it asked for the aggregated form. */
export function aggregatedDiscoveryVersion(accept: string | null): string | undefined {
  for (const part of (accept ?? '').split(',')) {
    const params = new Map(
      part
        .split(';')
        .slice(1)
        .map((p) => p.trim().split('=') as [string, string]),
    )
    if (params.get('g') === 'apidiscovery.k8s.io' && params.get('as') === AGGREGATED_AS) {
      const v = params.get('v')
      if (v === 'v2' || v === 'v2beta1') return v
    }
    if (part.split(';')[0].trim() === 'application/json' && !part.includes('as=')) return undefined
  }
  return undefined
}

export function aggregatedContentType(version: string): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=${AGGREGATED_AS}`
}

export function apiVersions(host: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }],
  }
}

function apiGroup(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }))
  return { name, versions: vs, preferredVersion: vs[0] }
}

/**
 * The served groups and their versions, in discovery order: the aggregator's (src/aggregator/apiservices.ts
 * orderedGroups, extension servers' groups included) when given, the registry's otherwise.
 */
export type ServedGroups = { group: string; versions: string[] }[]

export function apiGroupList(registry: Registry, served?: ServedGroups): Record<string, unknown> {
  const groups = (served ?? registry.groupVersions())
    .filter((g) => g.group !== '')
    .map((g) => apiGroup(g.group, g.versions))
  return { kind: 'APIGroupList', apiVersion: 'v1', groups }
}

export function apiGroupDoc(
  registry: Registry,
  group: string,
  served?: ServedGroups,
): Record<string, unknown> | undefined {
  const g = (served ?? registry.groupVersions()).find((x) => x.group === group && group !== '')
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g.group, g.versions) }
}

// Bounded: an isolate serving many clusters sees the kinds of all their CRDs.
const hashes = new LruMap<string, Promise<string>>(4096)

/**
 * kube's StorageVersionHash (apiserver/pkg/endpoints/discovery/storageversionhash.go): the first 8 bytes of
 * the SHA-256 of "<group>/<version>/<kind>" of the version objects are stored in, base64. Clients such as
 * the storage version migrator compare it across discovery reads to notice a change of storage version.
 */
export function storageVersionHash(group: string, version: string, kind: string): Promise<string> {
  const gvk = `${group}/${version}/${kind}`
  let hash = hashes.get(gvk)
  if (!hash) {
    hash = crypto.subtle.digest('SHA-256', new TextEncoder().encode(gvk)).then((digest) => {
      let bin = ''
      for (const b of new Uint8Array(digest, 0, 8)) bin += String.fromCharCode(b)
      return btoa(bin)
    })
    hashes.set(gvk, hash)
  }
  return hash
}

/**
 * The hash a resource publishes: that of the group-version objects are stored in (events.k8s.io/v1 Events
 * are core v1 Events in storage, a CRD's resources are in its storage version), under the type's own kind.
 * Kinds that are never stored (the review kinds, ComponentStatus) publish none: their kube registries are no
 * StorageVersionProvider.
 */
function resourceStorageHash(t: ResourceType): Promise<string> | undefined {
  if (t.virtualCreate || t.virtualRead) return undefined
  const stored = t.storageVersion ?? groupVersion(t)
  const slash = stored.indexOf('/')
  return slash < 0
    ? storageVersionHash('', stored, t.kind)
    : storageVersionHash(stored.slice(0, slash), stored.slice(slash + 1), t.kind)
}

function typesOf(registry: Registry, group: string, version: string): ResourceType[] {
  return registry.all().filter((t) => t.group === group && t.version === version)
}

/** /api/<v> or /apis/<g>/<v>; subresources carry no storageVersionHash, as in kube. */
export async function apiResourceList(
  registry: Registry,
  group: string,
  version: string,
): Promise<Record<string, unknown> | undefined> {
  const types = typesOf(registry, group, version)
  if (!types.length) return undefined
  const resources: Record<string, unknown>[] = []
  for (const t of types) {
    const r: Record<string, unknown> = {
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
    }
    if (t.shortNames?.length) r.shortNames = t.shortNames
    if (t.categories?.length) r.categories = t.categories
    const hash = await resourceStorageHash(t)
    if (hash) r.storageVersionHash = hash
    resources.push(r)
    if (t.subresources?.finalize) {
      resources.push({
        name: `${t.resource}/finalize`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ['update'],
      })
    }
    if (t.subresources?.status) {
      resources.push({
        name: `${t.resource}/status`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: SUBRESOURCE_VERBS,
      })
    }
    if (t.subresources?.scale) {
      resources.push({
        name: `${t.resource}/scale`,
        singularName: '',
        namespaced: t.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: SUBRESOURCE_VERBS,
      })
    }
    for (const name of Object.keys(t.subresources?.updates ?? {})) {
      resources.push({
        name: `${t.resource}/${name}`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: SUBRESOURCE_VERBS,
      })
    }
    for (const [name, sub] of Object.entries(t.createSubresources ?? {})) {
      resources.push({
        name: `${t.resource}/${name}`,
        singularName: '',
        namespaced: t.namespaced,
        group: sub.group,
        version: sub.version,
        kind: sub.kind,
        verbs: ['create'],
      })
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  }
}

function discoveryResource(t: ResourceType): Record<string, unknown> {
  const r: Record<string, unknown> = {
    resource: t.resource,
    responseKind: { group: t.group, version: t.version, kind: t.kind },
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.singular,
    verbs: t.verbs,
  }
  if (t.shortNames?.length) r.shortNames = t.shortNames
  if (t.categories?.length) r.categories = t.categories
  const subresources: Record<string, unknown>[] = []
  if (t.subresources?.finalize)
    subresources.push({
      subresource: 'finalize',
      responseKind: { group: t.group, version: t.version, kind: t.kind },
      verbs: ['update'],
    })
  if (t.subresources?.status)
    subresources.push({
      subresource: 'status',
      responseKind: { group: t.group, version: t.version, kind: t.kind },
      verbs: SUBRESOURCE_VERBS,
    })
  if (t.subresources?.scale)
    subresources.push({
      subresource: 'scale',
      responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      verbs: SUBRESOURCE_VERBS,
    })
  for (const name of Object.keys(t.subresources?.updates ?? {})) {
    subresources.push({
      subresource: name,
      responseKind: { group: t.group, version: t.version, kind: t.kind },
      verbs: SUBRESOURCE_VERBS,
    })
  }
  for (const [name, sub] of Object.entries(t.createSubresources ?? {})) {
    subresources.push({
      subresource: name,
      responseKind: { group: sub.group, version: sub.version, kind: sub.kind },
      verbs: ['create'],
    })
  }
  if (subresources.length) r.subresources = subresources
  return r
}

/**
 * An extension server's APIResourceList in the aggregated form, as kube-aggregator converts the legacy
 * discovery of servers that do not serve the aggregated one: "<resource>/<sub>" entries become subresources
 * of their resource, and responseKind defaults to the group version.
 */
export function aggregatedFromResourceList(
  group: string,
  version: string,
  list: { resources?: Record<string, any>[] },
): Record<string, unknown>[] {
  const out = new Map<string, Record<string, any>>()
  const kindOf = (r: Record<string, any>) => ({
    group: r.group ?? group,
    version: r.version ?? version,
    kind: r.kind ?? '',
  })
  for (const r of list.resources ?? []) {
    const name = String(r.name ?? '')
    if (name.includes('/')) continue
    const d: Record<string, any> = {
      resource: name,
      responseKind: kindOf(r),
      scope: r.namespaced ? 'Namespaced' : 'Cluster',
      singularResource: r.singularName ?? '',
      verbs: r.verbs ?? [],
    }
    if (r.shortNames?.length) d.shortNames = r.shortNames
    if (r.categories?.length) d.categories = r.categories
    out.set(name, d)
  }
  for (const r of list.resources ?? []) {
    const [parent, sub] = String(r.name ?? '').split('/')
    const p = sub && out.get(parent!)
    if (!p) continue
    ;(p.subresources ??= []).push({
      subresource: sub,
      responseKind: kindOf(r),
      verbs: r.verbs ?? [],
    })
  }
  return [...out.values()]
}

/** /api (core only) or /apis (every named group) in the aggregated form kubectl 1.30+ asks for first. */
export function aggregatedDiscovery(
  registry: Registry,
  legacy: boolean,
  version: string,
  served?: ServedGroups,
  /** Extension servers' group versions ("<group>/<version>"): their resources, or undefined when unreachable. */
  remote: Map<string, Record<string, unknown>[] | undefined> = new Map(),
): Record<string, unknown> {
  const items = (served ?? registry.groupVersions())
    .filter((g) => (g.group === '') === legacy)
    .map((g) => ({
      metadata: { name: g.group, creationTimestamp: null },
      versions: g.versions.map((v) => {
        const gv = `${g.group}/${v}`
        if (!remote.has(gv))
          return {
            version: v,
            resources: typesOf(registry, g.group, v).map(discoveryResource),
            freshness: 'Current',
          }
        const resources = remote.get(gv)
        // kube keeps an unreachable server's group version, marked Stale, so clients can say why.
        return resources
          ? { version: v, resources, freshness: 'Current' }
          : { version: v, freshness: 'Stale' }
      }),
    }))
  return { kind: AGGREGATED_AS, apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items }
}

export { groupVersion }

// Discovery documents: legacy (/api, /apis, /api/v1, /apis/<g>/<v>) and aggregated (apidiscovery.k8s.io/v2).
import type { Registry } from '../registry/registry'
import { groupVersion, type ResourceType } from '../registry/types'

const AGGREGATED_AS = 'APIGroupDiscoveryList'
const SUBRESOURCE_VERBS = ['get', 'patch', 'update']

/** The discovery API version a client asked for in Accept, if it asked for the aggregated form. */
export function aggregatedDiscoveryVersion(accept: string | null): string | undefined {
  for (const part of (accept ?? '').split(',')) {
    const params = new Map(part.split(';').slice(1).map((p) => p.trim().split('=') as [string, string]))
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
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] }
}

function apiGroup(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }))
  return { name, versions: vs, preferredVersion: vs[0] }
}

export function apiGroupList(registry: Registry): Record<string, unknown> {
  const groups = registry.groupVersions().filter((g) => g.group !== '').map((g) => apiGroup(g.group, g.versions))
  return { kind: 'APIGroupList', apiVersion: 'v1', groups }
}

export function apiGroupDoc(registry: Registry, group: string): Record<string, unknown> | undefined {
  const g = registry.groupVersions().find((x) => x.group === group && group !== '')
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g.group, g.versions) }
}

function typesOf(registry: Registry, group: string, version: string): ResourceType[] {
  return registry.all().filter((t) => t.group === group && t.version === version)
}

export function apiResourceList(registry: Registry, group: string, version: string): Record<string, unknown> | undefined {
  const types = typesOf(registry, group, version)
  if (!types.length) return undefined
  const resources: Record<string, unknown>[] = []
  for (const t of types) {
    const r: Record<string, unknown> = { name: t.resource, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: t.verbs }
    if (t.shortNames?.length) r.shortNames = t.shortNames
    if (t.categories?.length) r.categories = t.categories
    resources.push(r)
    if (t.subresources?.finalize) {
      resources.push({ name: `${t.resource}/finalize`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['update'] })
    }
    if (t.subresources?.status) {
      resources.push({ name: `${t.resource}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: SUBRESOURCE_VERBS })
    }
    if (t.subresources?.scale) {
      resources.push({ name: `${t.resource}/scale`, singularName: '', namespaced: t.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: SUBRESOURCE_VERBS })
    }
    for (const name of Object.keys(t.subresources?.updates ?? {})) {
      resources.push({ name: `${t.resource}/${name}`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: SUBRESOURCE_VERBS })
    }
    for (const [name, sub] of Object.entries(t.createSubresources ?? {})) {
      resources.push({ name: `${t.resource}/${name}`, singularName: '', namespaced: t.namespaced, group: sub.group, version: sub.version, kind: sub.kind, verbs: ['create'] })
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources }
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
  if (t.subresources?.finalize) subresources.push({ subresource: 'finalize', responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: ['update'] })
  if (t.subresources?.status) subresources.push({ subresource: 'status', responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: SUBRESOURCE_VERBS })
  if (t.subresources?.scale) subresources.push({ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: SUBRESOURCE_VERBS })
  for (const name of Object.keys(t.subresources?.updates ?? {})) {
    subresources.push({ subresource: name, responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: SUBRESOURCE_VERBS })
  }
  for (const [name, sub] of Object.entries(t.createSubresources ?? {})) {
    subresources.push({ subresource: name, responseKind: { group: sub.group, version: sub.version, kind: sub.kind }, verbs: ['create'] })
  }
  if (subresources.length) r.subresources = subresources
  return r
}

/** /api (core only) or /apis (every named group) in the aggregated form kubectl 1.30+ asks for first. */
export function aggregatedDiscovery(registry: Registry, legacy: boolean, version: string): Record<string, unknown> {
  const items = registry.groupVersions()
    .filter((g) => (g.group === '') === legacy)
    .map((g) => ({
      metadata: { name: g.group, creationTimestamp: null },
      versions: g.versions.map((v) => ({ version: v, resources: typesOf(registry, g.group, v).map(discoveryResource), freshness: 'Current' })),
    }))
  return { kind: AGGREGATED_AS, apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items }
}

export { groupVersion }

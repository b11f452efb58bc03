// What the control loops know of the stored kinds: every kind once (by its storage prefix), custom resources
// from the CustomResourceDefinitions in the store, and the way from a key or an ownerReference to a kind.
// Kube's controllers learn the same from discovery and a RESTMapper.
import { RegistryStore, storageKey } from '../registry/store'
import type { Registry } from '../registry/registry'
import {
  ALL_VERBS,
  type KubeObject,
  type OwnerReference,
  type ResourceType,
} from '../registry/types'
import type { Store } from '../storage/store'

export const CRD_PREFIX = '/registry/apiextensions.k8s.io/customresourcedefinitions/'

/** A key split into its kind, namespace and name. */
export interface KeyInfo {
  type: ResourceType
  namespace?: string
  name: string
}

interface CRDObject {
  spec?: {
    group?: string
    scope?: string
    names?: { plural?: string; singular?: string; kind?: string; listKind?: string }
    versions?: {
      name?: string
      served?: boolean
      storage?: boolean
      subresources?: { status?: unknown }
    }[]
  }
}

/**
 * The kind a CustomResourceDefinition serves, as the control loops need it: custom resources are stored under
 * /registry/<group>/<plural>/ (kube-apiserver's layout) in their storage version.
 */
export function customResourceType(crd: CRDObject): ResourceType | undefined {
  const spec = crd.spec
  const group = spec?.group
  const plural = spec?.names?.plural
  const kind = spec?.names?.kind
  const stored = spec?.versions?.find((v) => v.storage) ?? spec?.versions?.[0]
  const version = stored?.name
  if (!group || !plural || !kind || !version) return undefined
  return {
    group,
    version,
    resource: plural,
    kind,
    listKind: spec?.names?.listKind ?? `${kind}List`,
    singular: spec?.names?.singular || kind.toLowerCase(),
    namespaced: spec?.scope !== 'Cluster',
    verbs: ALL_VERBS,
    storagePrefix: `${group}/${plural}`,
    custom: true,
    // Writes of the loops keep what every custom resource has: its generation, and its status apart from
    // the main resource where the CRD has a status subresource.
    ...(stored?.subresources?.status ? { subresources: { status: true } } : {}),
    strategy: { trackGeneration: true },
  }
}

export class ResourceTable {
  private builtin = new Map<string, ResourceType>()
  private custom = new Map<string, ResourceType>()
  /** CRD key → the storage prefix it serves, to forget a deleted CRD's kind. */
  private crdPrefixes = new Map<string, string>()

  constructor(private readonly registry: Registry) {
    for (const t of registry.all()) {
      // One type per stored kind: views of another type's storage (events.k8s.io Events) and kinds that are
      // never stored (the reviews) are not separate content.
      if (t.virtualCreate || t.convert) continue
      if (!this.builtin.has(t.storagePrefix)) this.builtin.set(t.storagePrefix, t)
    }
  }

  /**
   * Every stored kind, built-in first, each once. A CRD whose versions convert through a webhook is handled in
   * its storage version, as stored (the CRD-derived type): the loops read and write metadata only, and in the
   * Durable Object they must make no outbound call.
   */
  all(): ResourceType[] {
    const out = new Map(this.builtin)
    for (const t of this.registry.all()) {
      if (t.custom && !t.virtualCreate && !t.convertBatch && !out.has(t.storagePrefix))
        out.set(t.storagePrefix, t)
    }
    for (const [p, t] of this.custom) if (!out.has(p)) out.set(p, t)
    return [...out.values()]
  }

  /** The namespaced kinds a namespace's deletion removes: those that can be listed and deleted. */
  namespaced(): ResourceType[] {
    return this.all().filter(
      (t) => t.namespaced && t.verbs.includes('delete') && t.verbs.includes('list'),
    )
  }

  byPrefix(storagePrefix: string): ResourceType | undefined {
    return (
      this.builtin.get(storagePrefix) ??
      this.registry
        .all()
        .find((t) => t.custom && !t.convertBatch && t.storagePrefix === storagePrefix) ??
      this.custom.get(storagePrefix)
    )
  }

  /** The kind an ownerReference names, by group and kind (any served version maps to the same objects). */
  byGroupKind(group: string, kind: string): ResourceType | undefined {
    for (const t of this.all()) if (t.group === group && t.kind === kind) return t
    return undefined
  }

  byGroupResource(group: string, resource: string): ResourceType | undefined {
    for (const t of this.all()) if (t.group === group && t.resource === resource) return t
    return undefined
  }

  /** The kind, namespace and name of a key; undefined for keys that are no object of a known kind. */
  parseKey(key: string): KeyInfo | undefined {
    if (!key.startsWith('/registry/')) return undefined
    const parts = key.slice('/registry/'.length).split('/')
    for (const n of [2, 1]) {
      if (parts.length <= n) continue
      const type = this.byPrefix(parts.slice(0, n).join('/'))
      if (!type) continue
      const rest = parts.slice(n)
      if (type.namespaced && rest.length === 2) return { type, namespace: rest[0], name: rest[1]! }
      if (!type.namespaced && rest.length === 1) return { type, name: rest[0]! }
    }
    return undefined
  }

  /** The key an ownerReference of an object in `namespace` points at, or undefined when its kind is unknown. */
  ownerKey(
    ref: OwnerReference,
    namespace: string | undefined,
  ): { key: string; type: ResourceType } | 'unresolvable' {
    const slash = ref.apiVersion?.indexOf('/') ?? -1
    const group = slash >= 0 ? ref.apiVersion.slice(0, slash) : ''
    const type = this.byGroupKind(group, ref.kind)
    if (!type) return 'unresolvable'
    // A cluster-scoped object cannot be owned by a namespaced one (the garbage collector leaves it alone).
    if (type.namespaced && !namespace) return 'unresolvable'
    return { key: storageKey(type, type.namespaced ? namespace : undefined, ref.name), type }
  }

  /** Learns the kinds of the CRDs in the store. */
  async loadCustomResources(store: Store): Promise<void> {
    let after: string | undefined
    const seen = new Set<string>()
    for (;;) {
      const page = await store.list(CRD_PREFIX, { limit: 500, after })
      for (const kv of page.kvs) {
        seen.add(kv.key)
        this.observeCRD(kv.key, parse(kv.value))
      }
      if (!page.more || !page.kvs.length) break
      after = page.kvs[page.kvs.length - 1]!.key
    }
    for (const key of [...this.crdPrefixes.keys()])
      if (!seen.has(key)) this.observeCRD(key, undefined)
  }

  /** A CRD written (obj) or deleted (undefined). */
  observeCRD(key: string, obj: KubeObject | undefined): void {
    const old = this.crdPrefixes.get(key)
    if (old) {
      this.custom.delete(old)
      this.crdPrefixes.delete(key)
    }
    const t = obj && customResourceType(obj as CRDObject)
    if (!t || this.builtin.has(t.storagePrefix)) return
    this.custom.set(t.storagePrefix, t)
    this.crdPrefixes.set(key, t.storagePrefix)
  }

  /** The generic store for a kind (controller writes skip admission, as bootstrap's do). */
  registryStore(type: ResourceType, store: Store): RegistryStore {
    return new RegistryStore(type, store)
  }
}

export function parse(value: string): KubeObject | undefined {
  try {
    const obj = JSON.parse(value) as unknown
    return obj && typeof obj === 'object' && !Array.isArray(obj) && (obj as KubeObject).metadata
      ? (obj as KubeObject)
      : undefined
  } catch {
    return undefined
  }
}

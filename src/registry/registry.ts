// The resource-type table: what is served, looked up by group/version/resource or by kind.
import type { Store } from '../storage/store'
import { groupVersion, type ResourceType } from './types'

export class Registry {
  private byGVR = new Map<string, ResourceType>()
  private types: ResourceType[] = []
  /**
   * Learns the types CustomResourceDefinitions define from the store (set by the app, src/apiextensions/serving.ts).
   * Code that enumerates every type (namespace deletion, garbage collection) awaits it first.
   */
  refreshCustomResources: (store: Store) => Promise<void> = async () => {}

  constructor(types: ResourceType[] = []) {
    for (const t of types) this.add(t)
  }

  add(t: ResourceType): void {
    const k = gvrKey(t.group, t.version, t.resource)
    if (this.byGVR.has(k))
      this.types = this.types.filter((x) => gvrKey(x.group, x.version, x.resource) !== k)
    this.byGVR.set(k, t)
    this.types.push(t)
  }

  remove(group: string, version: string, resource: string): void {
    const k = gvrKey(group, version, resource)
    this.byGVR.delete(k)
    this.types = this.types.filter((x) => gvrKey(x.group, x.version, x.resource) !== k)
  }

  lookup(group: string, version: string, resource: string): ResourceType | undefined {
    return this.byGVR.get(gvrKey(group, version, resource))
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.find((t) => groupVersion(t) === apiVersion && t.kind === kind)
  }

  all(): readonly ResourceType[] {
    return this.types
  }

  /** Served group versions, in the order their first type was added: kube-apiserver's group priority order comes from the table's order. */
  groupVersions(): { group: string; versions: string[] }[] {
    const groups = new Map<string, string[]>()
    for (const t of this.types) {
      const vs = groups.get(t.group) ?? []
      if (!vs.includes(t.version)) vs.push(t.version)
      groups.set(t.group, vs)
    }
    return [...groups].map(([group, versions]) => ({ group, versions }))
  }
}

function gvrKey(group: string, version: string, resource: string): string {
  return `${group}/${version}/${resource}`
}

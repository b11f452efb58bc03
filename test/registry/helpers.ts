// Drives a built-in kind through its strategy the way the generic store does.
import { fieldErrorString } from '../../src/server/errors'
import { builtinResources } from '../../src/registry/builtin'
import type { KubeObject, RequestContext, ResourceType } from '../../src/registry/types'

export const ctx: RequestContext = { dryRun: false, warnings: [] }

export function kind(group: string, resource: string): ResourceType {
  const t = builtinResources.find((r) => r.group === group && r.resource === resource)
  if (!t) throw new Error(`no ${resource}.${group}`)
  return t
}

/** defaults → prepareForCreate → validate, with a uid and creation time as the store sets them. */
export function create(t: ResourceType, obj: KubeObject): { obj: KubeObject; errors: string[] } {
  const o: KubeObject = JSON.parse(JSON.stringify(obj))
  o.metadata = { uid: 'uid-1', creationTimestamp: '2024-01-01T00:00:00Z', ...o.metadata }
  t.strategy.defaults?.(o)
  t.strategy.prepareForCreate?.(o, ctx)
  return { obj: o, errors: (t.strategy.validate?.(o, ctx) ?? []).map(fieldErrorString) }
}

export function update(
  t: ResourceType,
  obj: KubeObject,
  old: KubeObject,
): { obj: KubeObject; errors: string[] } {
  const o: KubeObject = JSON.parse(JSON.stringify(obj))
  t.strategy.defaults?.(o)
  t.strategy.prepareForUpdate?.(o, old, ctx)
  return { obj: o, errors: (t.strategy.validateUpdate?.(o, old, ctx) ?? []).map(fieldErrorString) }
}

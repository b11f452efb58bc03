// The scale subresource: an autoscaling/v1 Scale view of a workload's replicas (kube-apiserver's ScaleREST).
import type { KubeObject, ResourceType, ScaleSpec } from '../registry/types'
import { badRequest, invalid } from '../server/errors'
import { labelSelectorToString } from './selectors/labels'

function read(obj: unknown, path: string): unknown {
  let cur = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

function write(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.')
  let cur = obj
  for (const part of parts.slice(0, -1)) {
    if (cur[part] === null || typeof cur[part] !== 'object') cur[part] = {}
    cur = cur[part] as Record<string, unknown>
  }
  cur[parts[parts.length - 1]] = value
}

function scaleSpec(type: ResourceType): ScaleSpec {
  const spec = type.subresources?.scale
  if (!spec) throw badRequest(`the server could not find the requested resource`)
  return spec
}

export function getScale(type: ResourceType, obj: KubeObject): KubeObject {
  const spec = scaleSpec(type)
  const selector = spec.labelSelectorPath ? read(obj, spec.labelSelectorPath) : undefined
  const status: Record<string, unknown> = {
    replicas: (read(obj, spec.statusReplicasPath) as number | undefined) ?? 0,
  }
  if (selector !== undefined)
    status.selector =
      typeof selector === 'string' ? selector : labelSelectorToString(selector as never)
  const m = obj.metadata ?? {}
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: (read(obj, spec.specReplicasPath) as number | undefined) ?? 0 },
    status,
  }
}

/** Writes a Scale's spec.replicas into the object; resourceVersion of the Scale guards the write. */
export function applyScale(type: ResourceType, obj: KubeObject, scale: KubeObject): KubeObject {
  const spec = scaleSpec(type)
  const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas
  if (
    replicas !== undefined &&
    (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)
  ) {
    throw invalid({ group: 'autoscaling', kind: 'Scale' }, obj.metadata?.name ?? '', [
      {
        type: 'FieldValueInvalid',
        field: 'spec.replicas',
        badValue: replicas,
        detail: 'must be greater than or equal to 0',
      },
    ])
  }
  write(obj as Record<string, unknown>, spec.specReplicasPath, replicas ?? 0)
  const rv = (scale.metadata as { resourceVersion?: string } | undefined)?.resourceVersion
  obj.metadata = { ...obj.metadata, resourceVersion: rv || undefined }
  return obj
}

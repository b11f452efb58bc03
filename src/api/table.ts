// meta.k8s.io/v1 Table and PartialObjectMetadata renderings of objects, for kubectl get.
import type { KubeObject, PrinterColumn, ResourceType } from '../registry/types'
import { badRequest } from '../server/errors'

// rest.NewDefaultTableConvertor's columns, used for kinds without a printer.
const DEFAULT_COLUMNS: PrinterColumn[] = [
  {
    name: 'Name',
    type: 'string',
    format: 'name',
    description:
      'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  },
  {
    name: 'Created At',
    type: 'date',
    description:
      'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  },
]

export type IncludeObject = 'None' | 'Metadata' | 'Object'

export function parseIncludeObject(v: string): IncludeObject {
  if (v === '' || v === 'Metadata') return 'Metadata'
  if (v === 'None' || v === 'Object') return v
  throw badRequest(
    `includeObject: Unsupported value: "${v}": supported values: "Metadata", "None", "Object"`,
  )
}

export function partialObjectMetadata(obj: KubeObject, version = 'v1'): KubeObject {
  return {
    kind: 'PartialObjectMetadata',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: obj.metadata,
  }
}

export function toTable(
  type: ResourceType,
  objects: KubeObject[],
  listMeta: Record<string, unknown>,
  includeObject: IncludeObject,
  version = 'v1',
): KubeObject {
  const printer = type.strategy.printer
  const columns = printer?.columns ?? DEFAULT_COLUMNS
  const rows = objects.map((obj) => {
    const cells = printer
      ? printer.row(obj)
      : [obj.metadata?.name ?? '', obj.metadata?.creationTimestamp ?? null]
    const row: Record<string, unknown> = { cells }
    if (includeObject === 'Metadata') row.object = partialObjectMetadata(obj, version)
    else if (includeObject === 'Object') row.object = obj
    return row
  })
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: listMeta,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority ?? 0,
    })),
    rows,
  }
}

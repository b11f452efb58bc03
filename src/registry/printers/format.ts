// Shared cell formatting of pkg/printers/internalversion and apimachinery's label helpers.
import type { KubeObject, PrinterColumn } from '../types'

type Obj = Record<string, any>

/** labels.FormatLabels: "a=b,c=d" sorted by key, "<none>" when empty. */
export function formatLabels(labels: unknown): string {
  const entries = Object.entries((labels as Record<string, string>) ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>'
}

interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: string; values?: string[] }[]
}

/** LabelSelectorAsSelector(...).String(): requirements sorted by key; "" for an empty selector. */
export function selectorString(selector: LabelSelector | undefined | null): string {
  if (!selector) return ''
  const reqs: { key: string; text: string }[] = []
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    reqs.push({ key: k, text: `${k}=${v}` })
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',')
    const text =
      e.operator === 'In'
        ? `${e.key} in (${values})`
        : e.operator === 'NotIn'
          ? `${e.key} notin (${values})`
          : e.operator === 'Exists'
            ? e.key
            : e.operator === 'DoesNotExist'
              ? `!${e.key}`
              : `${e.key} ${e.operator} (${values})`
    reqs.push({ key: e.key, text })
  }
  return reqs
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => r.text)
    .join(',')
}

/** metav1.FormatLabelSelector: "<none>" when it selects by nothing. */
export function formatLabelSelector(selector: LabelSelector | undefined | null): string {
  return selectorString(selector) || '<none>'
}

/**
 * The selector a Scale subresource reports in status.selector: apps kinds hold a LabelSelector,
 * ReplicationController a plain label map.
 */
export function scaleSelector(selector: unknown): string {
  if (!selector || typeof selector !== 'object') return ''
  const s = selector as Obj
  if ('matchLabels' in s || 'matchExpressions' in s) return selectorString(s)
  return selectorString({ matchLabels: s as Record<string, string> })
}

/** layoutContainerCells: container names and images, comma-joined. */
export function containerCells(containers: unknown): [string, string] {
  const list = Array.isArray(containers) ? (containers as Obj[]) : []
  return [list.map((c) => c.name ?? '').join(','), list.map((c) => c.image ?? '').join(',')]
}

/** listWithMoreString: at most `max` items then "+ N more...", "<unset>" when empty. */
export function listWithMore(items: string[], max = 3): string {
  if (items.length > max) return `${items.slice(0, max).join(',')} + ${items.length - max} more...`
  return items.length ? items.join(',') : '<unset>'
}

export const printBoolPtr = (v: unknown) =>
  typeof v === 'boolean' ? (v ? 'True' : 'False') : '<unset>'

export const get = (obj: unknown, path: string): any =>
  path.split('.').reduce<any>((v, k) => (v === undefined || v === null ? undefined : v[k]), obj)

export const int = (v: unknown): number => (typeof v === 'number' ? v : 0)

// Column descriptions are kube's (metav1.ObjectMeta{}.SwaggerDoc() and friends).
export const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names'
export const CREATION_TIMESTAMP_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata'

export const nameColumn: PrinterColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: NAME_DESCRIPTION,
}
export const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'string',
  description: CREATION_TIMESTAMP_DESCRIPTION,
}
export const col = (
  name: string,
  type: PrinterColumn['type'],
  description: string,
  priority: 0 | 1 = 0,
): PrinterColumn => (priority ? { name, type, description, priority } : { name, type, description })
export const containersColumn = col(
  'Containers',
  'string',
  'Names of each container in the template.',
  1,
)
export const imagesColumn = col(
  'Images',
  'string',
  'Images referenced by each container in the template.',
  1,
)

export const nameOf = (obj: KubeObject) => obj.metadata?.name ?? ''
export const creationOf = (obj: KubeObject) => obj.metadata?.creationTimestamp

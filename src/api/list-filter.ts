// labelSelector and fieldSelector from a list or watch request, as one predicate over objects.
import { parseLabelSelector } from './selectors/labels'
import { customResourceFieldLabelConversion, parseFieldSelector } from './selectors/fields'
import type { KubeObject, ResourceType } from '../registry/types'
import type { ListOptions } from './query'

export type ObjectFilter = (obj: KubeObject) => boolean

/** The fields every kind can be selected by; kinds add theirs in strategy.fieldSelectors. */
function fieldGetters(type: ResourceType): Record<string, (obj: KubeObject) => string | undefined> {
  const getters: Record<string, (obj: KubeObject) => string | undefined> = {
    'metadata.name': (o) => o.metadata?.name,
    ...type.strategy.fieldSelectors,
  }
  if (type.namespaced) getters['metadata.namespace'] = (o) => o.metadata?.namespace
  return getters
}

/** undefined when the request selects everything. Throws kube-apiserver's 400 for a malformed or unsupported selector. */
export function selectorFilter(
  type: ResourceType,
  options: Pick<ListOptions, 'labelSelector' | 'fieldSelector'>,
): ObjectFilter | undefined {
  const ls = options.labelSelector
  const fs = options.fieldSelector
  const labels = ls ? parseLabelSelector(ls) : undefined
  // Custom resources answer unknown fields with crConverter's message, whatever their selectableFields.
  const convert = type.custom
    ? customResourceFieldLabelConversion(
        type.namespaced,
        Object.keys(type.strategy.fieldSelectors ?? {}),
      )
    : undefined
  const fields = fs ? parseFieldSelector(fs, fieldGetters(type), { convert }) : undefined
  if (!labels && !fields) return undefined
  return (obj) =>
    (!labels || labels.matches(obj.metadata?.labels ?? {})) && (!fields || fields.matches(obj))
}

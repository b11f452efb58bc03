// What the controllers' kinds share: selector-vs-template rules, replicas, and their printer columns.
import {
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import {
  validateLabels,
  validateLabelSelector,
  validateNonnegativeField,
} from '../validation/objectmeta'
import {
  col,
  containerCells,
  containersColumn,
  formatLabelSelector,
  imagesColumn,
} from '../printers/format'
import type { PrinterColumn } from '../types'
import type { Obj } from './define'
import { validatePodTemplate } from './podspec'

type Selector = {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: string; values?: string[] }[]
}

/** labels.Selector.Matches for a metav1.LabelSelector. */
export function selectorMatches(selector: Selector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels
    const values = e.values ?? []
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key])) return false
        break
      case 'NotIn':
        if (has && values.includes(labels[e.key])) return false
        break
      case 'Exists':
        if (!has) return false
        break
      case 'DoesNotExist':
        if (has) return false
        break
    }
  }
  return true
}

const isEmptySelector = (s: Selector | undefined) =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0)

export interface TemplateRules {
  /** Only these restart policies may appear in the template (apps: Always; jobs: OnFailure, Never). */
  restartPolicies?: string[]
  /** Workloads other than Jobs may not set activeDeadlineSeconds. */
  forbidActiveDeadline?: string
}

/** ValidatePodTemplateSpecForReplicaSet and friends: the template must carry the labels the selector picks. */
export function validateTemplateForSelector(
  template: Obj | undefined,
  selector: Selector | undefined,
  path: string,
  rules: TemplateRules,
): FieldError[] {
  if (!template) return [fieldRequired(path)]
  const errs: FieldError[] = []
  const labels = (template.metadata?.labels ?? {}) as Record<string, string>
  if (selector && !isEmptySelector(selector) && !selectorMatches(selector, labels)) {
    errs.push(
      fieldInvalid(
        `${path}.metadata.labels`,
        labels,
        '`selector` does not match template `labels`',
      ),
    )
  }
  errs.push(...validatePodTemplate(template, path))
  const policy = template.spec?.restartPolicy
  if (rules.restartPolicies && policy && !rules.restartPolicies.includes(policy)) {
    errs.push(fieldNotSupported(`${path}.spec.restartPolicy`, policy, rules.restartPolicies))
  }
  if (rules.forbidActiveDeadline && template.spec?.activeDeadlineSeconds != null) {
    errs.push(fieldForbidden(`${path}.spec.activeDeadlineSeconds`, rules.forbidActiveDeadline))
  }
  return errs
}

/** An apps/v1 spec: selector required and non-empty, template matching it, replicas not negative. */
export function validateAppsSpec(
  spec: Obj | undefined,
  opts: { selectorNoun: string; deadlineNoun: string; replicas?: boolean },
): FieldError[] {
  const s = spec ?? {}
  const errs: FieldError[] = []
  if (opts.replicas !== false) errs.push(...validateNonnegativeField(s.replicas, 'spec.replicas'))
  if (!s.selector) errs.push(fieldRequired('spec.selector'))
  else {
    errs.push(...validateLabelSelector(s.selector, 'spec.selector'))
    if (isEmptySelector(s.selector))
      errs.push(
        fieldInvalid(
          'spec.selector',
          s.selector,
          `empty selector is invalid for ${opts.selectorNoun}`,
        ),
      )
  }
  errs.push(
    ...validateTemplateForSelector(s.template, s.selector, 'spec.template', {
      restartPolicies: ['Always'],
      forbidActiveDeadline: `activeDeadlineSeconds in ${opts.deadlineNoun} is not Supported`,
    }),
  )
  errs.push(...validateNonnegativeField(s.minReadySeconds, 'spec.minReadySeconds'))
  errs.push(...validateNonnegativeField(s.revisionHistoryLimit, 'spec.revisionHistoryLimit'))
  return errs
}

/** A ReplicationController's map selector, defaulted from the template's labels. */
export function validateMapSelectorSpec(spec: Obj | undefined): FieldError[] {
  const s = spec ?? {}
  const errs: FieldError[] = [
    ...validateNonnegativeField(s.replicas, 'spec.replicas'),
    ...validateNonnegativeField(s.minReadySeconds, 'spec.minReadySeconds'),
  ]
  const selector = (s.selector ?? {}) as Record<string, string>
  if (Object.keys(selector).length === 0) errs.push(fieldRequired('spec.selector'))
  else errs.push(...validateLabels(selector, 'spec.selector'))
  errs.push(
    ...validateTemplateForSelector(
      s.template,
      Object.keys(selector).length ? { matchLabels: selector } : undefined,
      'spec.template',
      {
        restartPolicies: ['Always'],
        forbidActiveDeadline: 'activeDeadlineSeconds in ReplicationController is not Supported',
      },
    ),
  )
  return errs
}

export const selectorColumn = (description: string): PrinterColumn =>
  col('Selector', 'string', description, 1)
export const wideTemplateColumns = (selectorDescription?: string): PrinterColumn[] =>
  selectorDescription
    ? [containersColumn, imagesColumn, selectorColumn(selectorDescription)]
    : [containersColumn, imagesColumn]
export const wideTemplateCells = (
  template: Obj | undefined,
  selector?: unknown,
  withSelector = true,
): unknown[] => {
  const cells: unknown[] = containerCells(template?.spec?.containers)
  if (withSelector) cells.push(formatLabelSelector(selector as Selector))
  return cells
}

export const SELECTOR_DOC =
  "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels."

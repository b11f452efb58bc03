// batch/v1: Job and CronJob (pkg/apis/batch/v1/defaults.go, pkg/apis/batch/validation, pkg/registry/batch/*).
import {
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { semanticEqual } from '../validation/equality'
import { maxLenError, nameIsDNSSubdomain } from '../validation/names'
import {
  validateImmutableField,
  validateLabelSelector,
  validateNonnegativeField,
} from '../validation/objectmeta'
import { key } from '../validation/path'
import { between, since } from '../printers/duration'
import { col, printBoolPtr } from '../printers/format'
import type { ResourceType } from '../types'
import { defineKind, printer, type Obj } from './define'
import { defaultPodTemplate } from './podspec'
import { validateTemplateForSelector, wideTemplateCells, wideTemplateColumns } from './workload'

export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid'
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name'
const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid'
const LEGACY_JOB_NAME_LABEL = 'job-name'
const JOB_RESTART_POLICIES = ['OnFailure', 'Never']
const COMPLETION_MODES = ['NonIndexed', 'Indexed']

function defaultJobSpec(job: Obj) {
  const spec = (job.spec ??= {})
  if (spec.completions == null && spec.parallelism == null) {
    spec.completions = 1
    spec.parallelism = 1
  }
  spec.parallelism ??= 1
  spec.backoffLimit ??= spec.backoffLimitPerIndex != null ? 2147483647 : 6
  spec.completionMode ||= 'NonIndexed'
  spec.suspend ??= false
  spec.podReplacementPolicy ||= spec.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed'
  for (const rule of (spec.podFailurePolicy?.rules ?? []) as Obj[])
    for (const p of (rule.onPodConditions ?? []) as Obj[]) p.status ||= 'True'
  defaultPodTemplate(spec.template)
}

// generateSelector: pods of this Job carry its uid and name, and the selector picks the uid.
function generateSelector(job: Obj) {
  const spec = (job.spec ??= {})
  const template = (spec.template ??= {})
  const labels = ((template.metadata ??= {}).labels ??= {})
  const { name, uid } = job.metadata ?? {}
  for (const l of [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL]) if (!(l in labels)) labels[l] = name
  for (const l of [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL])
    if (!(l in labels)) labels[l] = uid
  spec.selector ??= {}
  spec.selector.matchLabels ??= {}
  if (!(CONTROLLER_UID_LABEL in spec.selector.matchLabels))
    spec.selector.matchLabels[CONTROLLER_UID_LABEL] = uid
}

// validateGeneratedSelector + ValidateHasLabel.
function validateGeneratedSelector(job: Obj): FieldError[] {
  if (job.spec?.manualSelector === true) return []
  const errs: FieldError[] = []
  const uid = job.metadata?.uid ?? ''
  const name = job.metadata?.name ?? ''
  const labels = (job.spec?.template?.metadata?.labels ?? {}) as Record<string, string>
  const expect: [string, string][] = [
    [LEGACY_CONTROLLER_UID_LABEL, uid],
    [CONTROLLER_UID_LABEL, uid],
    [LEGACY_JOB_NAME_LABEL, name],
    [JOB_NAME_LABEL, name],
  ]
  for (const [k, v] of expect) {
    const p = key('spec.template.metadata.labels', k)
    if (!(k in labels)) errs.push(fieldRequired(p, `must be '${v}'`))
    else if (labels[k] !== v) errs.push(fieldInvalid(p, labels, `must be '${v}'`))
  }
  const selector = job.spec?.selector
  if (!selector) errs.push(fieldRequired('spec.selector'))
  else {
    const ml = selector.matchLabels ?? {}
    if (
      (selector.matchExpressions ?? []).length ||
      Object.keys(ml).length !== 1 ||
      ml[CONTROLLER_UID_LABEL] !== uid
    ) {
      errs.push(fieldInvalid('spec.selector', selector, '`selector` not auto-generated'))
    }
  }
  return errs
}

function validateJobSpec(spec: Obj | undefined, path = 'spec'): FieldError[] {
  const s = spec ?? {}
  const errs: FieldError[] = [
    ...validateNonnegativeField(s.parallelism, `${path}.parallelism`),
    ...validateNonnegativeField(s.completions, `${path}.completions`),
    ...validateNonnegativeField(s.backoffLimit, `${path}.backoffLimit`),
    ...validateNonnegativeField(s.ttlSecondsAfterFinished, `${path}.ttlSecondsAfterFinished`),
  ]
  if (s.activeDeadlineSeconds != null && s.activeDeadlineSeconds <= 0)
    errs.push(
      fieldInvalid(
        `${path}.activeDeadlineSeconds`,
        s.activeDeadlineSeconds,
        'must be greater than zero',
      ),
    )
  if (s.completionMode && !COMPLETION_MODES.includes(s.completionMode))
    errs.push(fieldNotSupported(`${path}.completionMode`, s.completionMode, COMPLETION_MODES))
  if (s.completionMode === 'Indexed' && s.completions == null)
    errs.push(fieldRequired(`${path}.completions`, 'when completion mode is Indexed'))
  if (s.selector) errs.push(...validateLabelSelector(s.selector, `${path}.selector`))
  errs.push(
    ...validateTemplateForSelector(s.template, s.selector, `${path}.template`, {
      restartPolicies: JOB_RESTART_POLICIES,
    }),
  )
  return errs
}

const validateJob = (job: Obj) => [...validateGeneratedSelector(job), ...validateJobSpec(job.spec)]

// A suspended Job that never started may change its pods' scheduling directives (JobMutableSchedulingDirectives).
function schedulingMasked(template: Obj | undefined): Obj {
  const t = JSON.parse(JSON.stringify(template ?? {}))
  if (t.metadata) {
    delete t.metadata.labels
    delete t.metadata.annotations
  }
  if (t.spec)
    for (const k of ['nodeSelector', 'affinity', 'tolerations', 'schedulingGates']) delete t.spec[k]
  return t
}

function validateJobUpdate(job: Obj, old: Obj): FieldError[] {
  const errs = validateJob(job)
  const spec = job.spec ?? {}
  const o = old.spec ?? {}
  errs.push(...validateImmutableField(spec.selector, o.selector, 'spec.selector'))
  const mutableScheduling = o.suspend === true && !old.status?.startTime
  if (
    mutableScheduling
      ? !semanticEqual(schedulingMasked(spec.template), schedulingMasked(o.template))
      : !semanticEqual(spec.template, o.template)
  ) {
    errs.push(fieldInvalid('spec.template', spec.template, 'field is immutable'))
  }
  if (!(
    spec.completionMode === 'Indexed' &&
    spec.completions === spec.parallelism &&
    o.completions === o.parallelism
  )) {
    errs.push(...validateImmutableField(spec.completions, o.completions, 'spec.completions'))
  }
  for (const f of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'managedBy'])
    errs.push(...validateImmutableField(spec[f], o[f], `spec.${f}`))
  return errs
}

const jobCondition = (job: Obj, type: string) =>
  ((job.status?.conditions ?? []) as Obj[]).find((c) => c.type === type)?.status === 'True'

function jobStatus(job: Obj): string {
  if (jobCondition(job, 'Complete')) return 'Complete'
  if (jobCondition(job, 'Failed')) return 'Failed'
  if (job.metadata?.deletionTimestamp) return 'Terminating'
  if (jobCondition(job, 'Suspended')) return 'Suspended'
  if (jobCondition(job, 'FailureTarget')) return 'FailureTarget'
  return 'Running'
}

function jobCompletions(job: Obj): string {
  const succeeded = job.status?.succeeded ?? 0
  if (job.spec?.completions != null) return `${succeeded}/${job.spec.completions}`
  const parallelism = job.spec?.parallelism ?? 0
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`
}

function jobDuration(job: Obj, now: number): string {
  const { startTime, completionTime } = job.status ?? {}
  if (!startTime) return ''
  return completionTime ? between(startTime, completionTime) : since(startTime, now)
}

const JOB_SELECTOR_DOC =
  'A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors'

export const jobs = defineKind({
  group: 'batch',
  version: 'v1',
  resource: 'jobs',
  kind: 'Job',
  namespaced: true,
  categories: ['all'],
  subresources: { status: true },
  schema: 'BatchV1Job',
  generation: true,
  initialStatus: () => ({}),
  strategy: {
    defaults(obj) {
      defaultJobSpec(obj)
      // SetDefaults_Job: a Job without labels takes its pods' labels.
      const meta = (obj.metadata ??= {})
      const templateLabels = (obj.spec as Obj)?.template?.metadata?.labels
      if (templateLabels && !Object.keys(meta.labels ?? {}).length)
        meta.labels = { ...templateLabels }
    },
    prepareForCreate(obj) {
      if ((obj.spec as Obj)?.manualSelector !== true) generateSelector(obj)
      // kube answers with the object decoded (so defaulted) again: the Job now takes the generated labels too.
      const meta = obj.metadata!
      const labels = (obj.spec as Obj).template?.metadata?.labels
      if (labels && !Object.keys(meta.labels ?? {}).length) meta.labels = { ...labels }
    },
    validate: validateJob,
    validateUpdate: validateJobUpdate,
    fieldSelectors: { 'status.successful': (o) => String((o.status as Obj)?.succeeded ?? 0) },
    printer: printer(
      [
        col('Status', 'string', 'Status of the job.'),
        col(
          'Completions',
          'string',
          'The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.',
        ),
        col('Duration', 'string', 'Time required to complete the job.'),
      ],
      (o, now) => [jobStatus(o), jobCompletions(o), jobDuration(o, now)],
      {
        wide: wideTemplateColumns(JOB_SELECTOR_DOC),
        wideCells: (o) => wideTemplateCells(o.spec?.template, o.spec?.selector),
      },
    ),
  },
})

// robfig/cron's standard parser, as far as its error messages go.
const CRON_MACROS = [
  '@yearly',
  '@annually',
  '@monthly',
  '@weekly',
  '@daily',
  '@midnight',
  '@hourly',
]
const CRON_BOUNDS: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
]
const CRON_NAMES: Record<number, string[]> = {
  3: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  4: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
}

function parseCronValue(v: string, field: number): number | string {
  const names = CRON_NAMES[field]
  const i = names?.indexOf(v.toLowerCase()) ?? -1
  if (i >= 0) return field === 3 ? i + 1 : i
  if (!/^[0-9]+$/.test(v))
    return `failed to parse int from ${v}: strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`
  return Number(v)
}

function cronFieldError(expr: string, field: number): string | undefined {
  const [min, max] = CRON_BOUNDS[field]
  for (const part of expr.split(',')) {
    const [range, step, ...extra] = part.split('/')
    if (extra.length) return `too many slashes: ${part}`
    if (step !== undefined) {
      const s = parseCronValue(step, -1)
      if (typeof s === 'string') return s
      if (s === 0) return `step of range should be a positive number: ${part}`
    }
    if (range === '*' || range === '?') continue
    const bounds = range.split('-')
    if (bounds.length > 2) return `too many hyphens: ${range}`
    const values = bounds.map((b) => parseCronValue(b, field))
    for (const v of values) if (typeof v === 'string') return v
    const [lo, hi = lo] = values as number[]
    if (lo < min) return `beginning of range (${lo}) below minimum (${min}): ${range}`
    if (hi > max) return `end of range (${hi}) above maximum (${max}): ${range}`
    if (lo > hi) return `beginning of range (${lo}) beyond end of range (${hi}): ${range}`
  }
  return undefined
}

export function cronScheduleError(schedule: string): string | undefined {
  const s = schedule.trim()
  if (s.startsWith('@'))
    return CRON_MACROS.includes(s) || s.startsWith('@every ')
      ? undefined
      : `unrecognized descriptor: ${s}`
  const fields = s.split(/\s+/).filter(Boolean)
  if (fields.length !== 5)
    return `expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`
  for (let i = 0; i < 5; i++) {
    const err = cronFieldError(fields[i], i)
    if (err) return err
  }
  return undefined
}

const CONCURRENCY_POLICIES = ['Allow', 'Forbid', 'Replace']

function validateCronJob(cj: Obj): FieldError[] {
  const spec = cj.spec ?? {}
  const errs: FieldError[] = []
  if (!spec.schedule) errs.push(fieldRequired('spec.schedule'))
  else if (/(^|\s)(CRON_)?TZ=/.test(spec.schedule))
    errs.push(
      fieldInvalid(
        'spec.schedule',
        spec.schedule,
        'cannot use TZ or CRON_TZ in schedule, use timeZone field instead',
      ),
    )
  else {
    const err = cronScheduleError(spec.schedule)
    if (err) errs.push(fieldInvalid('spec.schedule', spec.schedule, err))
  }
  if (spec.concurrencyPolicy && !CONCURRENCY_POLICIES.includes(spec.concurrencyPolicy))
    errs.push(
      fieldNotSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, CONCURRENCY_POLICIES),
    )
  errs.push(
    ...validateNonnegativeField(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds'),
  )
  errs.push(
    ...validateNonnegativeField(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit'),
  )
  errs.push(...validateNonnegativeField(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit'))
  errs.push(...validateJobSpec(spec.jobTemplate?.spec, 'spec.jobTemplate.spec'))
  return errs
}

// A CronJob's name goes into its Jobs' names with an 11-character suffix, so it is 52 characters at most.
function cronJobName(name: string, prefix: boolean): string[] {
  const errs = nameIsDNSSubdomain(name, prefix)
  if (!prefix && name.length > 52) errs.push(maxLenError(52))
  return errs
}

export const cronjobs = defineKind({
  group: 'batch',
  version: 'v1',
  resource: 'cronjobs',
  kind: 'CronJob',
  namespaced: true,
  shortNames: ['cj'],
  categories: ['all'],
  subresources: { status: true },
  schema: 'BatchV1CronJob',
  generation: true,
  initialStatus: () => ({}),
  strategy: {
    validateName: cronJobName,
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.concurrencyPolicy ||= 'Allow'
      spec.suspend ??= false
      spec.successfulJobsHistoryLimit ??= 3
      spec.failedJobsHistoryLimit ??= 1
      spec.jobTemplate ??= {}
      spec.jobTemplate.metadata ??= {}
      if (!('creationTimestamp' in spec.jobTemplate.metadata))
        spec.jobTemplate.metadata.creationTimestamp = null
      spec.jobTemplate.spec ??= {}
      defaultPodTemplate(spec.jobTemplate.spec.template)
    },
    validate: validateCronJob,
    printer: printer(
      [
        col(
          'Schedule',
          'string',
          'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.',
        ),
        col(
          'Timezone',
          'string',
          'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones',
        ),
        col(
          'Suspend',
          'boolean',
          'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.',
        ),
        col('Active', 'integer', 'A list of pointers to currently running jobs.'),
        col(
          'Last Schedule',
          'string',
          'Information when was the last time the job was successfully scheduled.',
        ),
      ],
      (o, now) => [
        o.spec?.schedule ?? '',
        o.spec?.timeZone ?? '<none>',
        printBoolPtr(o.spec?.suspend),
        (o.status?.active ?? []).length,
        o.status?.lastScheduleTime ? since(o.status.lastScheduleTime, now) : '<none>',
      ],
      {
        wide: wideTemplateColumns(JOB_SELECTOR_DOC),
        wideCells: (o) =>
          wideTemplateCells(
            o.spec?.jobTemplate?.spec?.template,
            o.spec?.jobTemplate?.spec?.selector,
          ),
      },
    ),
  },
})

export const batchResources: ResourceType[] = [jobs, cronjobs]

// core/v1 Event and events.k8s.io/v1 Event: one storage (/registry/events, stored as core/v1),
// two views, as pkg/apis/events/v1/conversion.go maps them.
import { fieldInvalid, fieldRequired, type FieldError } from '../../server/errors'
import type { KubeObject, Printer } from '../types'
import { col, NAME_DESCRIPTION } from '../printers/format'
import { since } from '../printers/duration'
import { defineKind, fieldsAt, type Obj } from './define'

// events.k8s.io field ← core field. Everything else (eventTime, series, action, reason, type, related,
// reportingInstance) has the same name in both.
const RENAMES: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
]

function rename(obj: KubeObject, pairs: [string, string][], apiVersion: string): KubeObject {
  const out: KubeObject = { ...obj, apiVersion }
  for (const [from, to] of pairs) {
    if (from in out) {
      out[to] = out[from]
      delete out[from]
    }
  }
  return out
}

export const toCoreEvent = (e: KubeObject) => rename(e, RENAMES, 'v1')
export const fromCoreEvent = (e: KubeObject) =>
  rename(
    e,
    RENAMES.map(([a, b]) => [b, a]),
    'events.k8s.io/v1',
  )

// ValidateEventCreate's rule every client meets: a namespaced involved object lives in the event's namespace.
function validateCoreEvent(ev: Obj): FieldError[] {
  const errs: FieldError[] = []
  const involved = ev.involvedObject ?? {}
  const ns = ev.metadata?.namespace ?? ''
  if (involved.namespace && involved.namespace !== ns)
    errs.push(
      fieldInvalid(
        'involvedObject.namespace',
        involved.namespace,
        'does not match event.namespace',
      ),
    )
  return errs
}

// events.k8s.io/v1 requires the fields the new API made mandatory.
function validateEventsV1(ev: Obj): FieldError[] {
  const errs: FieldError[] = []
  if (!ev.eventTime) errs.push(fieldRequired('eventTime'))
  if (!ev.reportingController) errs.push(fieldRequired('reportingController'))
  if (!ev.reportingInstance) errs.push(fieldRequired('reportingInstance'))
  if (!ev.action) errs.push(fieldRequired('action'))
  if (!ev.reason) errs.push(fieldRequired('reason'))
  if (ev.type && ev.type !== 'Normal' && ev.type !== 'Warning')
    errs.push(fieldInvalid('type', ev.type, 'has invalid value: ' + ev.type))
  const involved = ev.regarding ?? {}
  if (involved.namespace && involved.namespace !== (ev.metadata?.namespace ?? ''))
    errs.push(
      fieldInvalid('regarding.namespace', involved.namespace, 'does not match event.namespace'),
    )
  return errs
}

const sourceText = (ev: Obj) => {
  const component = ev.source?.component || ev.reportingComponent || ''
  const host = ev.source?.host || ev.reportingInstance || ''
  return host ? `${component}, ${host}` : component
}

/** printEvent: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (and the wide columns), over a core/v1 Event. */
const coreEventPrinter: Printer = {
  columns: [
    col(
      'Last Seen',
      'string',
      'The time at which the most recent occurrence of this event was recorded.',
    ),
    col(
      'Type',
      'string',
      'Type of this event (Normal, Warning), new types could be added in the future',
    ),
    col(
      'Reason',
      'string',
      "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col('Object', 'string', 'The object that this event is about.'),
    col(
      'Subobject',
      'string',
      'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: "spec.containers{name}" (where "name" refers to the name of the container that triggered the event) or if no container name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.',
      1,
    ),
    col(
      'Source',
      'string',
      'The component reporting this event. Should be a short machine understandable string.',
      1,
    ),
    col('Message', 'string', 'A human-readable description of the status of this operation.'),
    col(
      'First Seen',
      'string',
      'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)',
      1,
    ),
    col('Count', 'string', 'The number of times this event has occurred.', 1),
    { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 1 },
  ],
  row(obj) {
    const ev = obj as Obj
    const now = Date.now()
    const first = ev.firstTimestamp ? since(ev.firstTimestamp, now) : since(ev.eventTime, now)
    let last = ev.lastTimestamp ? since(ev.lastTimestamp, now) : first
    let count = ev.count ?? 0
    if (ev.series) {
      last = since(ev.series.lastObservedTime, now)
      count = ev.series.count ?? 0
    } else if (count === 0) count = 1 // singleton events of the new API carry no count
    const involved = ev.involvedObject ?? {}
    const kind = String(involved.kind ?? '').toLowerCase()
    const target = involved.name ? `${kind}/${involved.name}` : kind
    return [
      last,
      ev.type ?? '',
      ev.reason ?? '',
      target,
      involved.fieldPath ?? '',
      sourceText(ev),
      String(ev.message ?? '').trim(),
      first,
      count,
      ev.metadata?.name ?? '',
    ]
  },
}

export const events = defineKind({
  group: '',
  version: 'v1',
  resource: 'events',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  schema: 'CoreV1Event',
  strategy: {
    validate: validateCoreEvent,
    fieldSelectors: fieldsAt({
      'involvedObject.kind': 'involvedObject.kind',
      'involvedObject.namespace': 'involvedObject.namespace',
      'involvedObject.name': 'involvedObject.name',
      'involvedObject.uid': 'involvedObject.uid',
      'involvedObject.apiVersion': 'involvedObject.apiVersion',
      'involvedObject.resourceVersion': 'involvedObject.resourceVersion',
      'involvedObject.fieldPath': 'involvedObject.fieldPath',
      reason: 'reason',
      reportingComponent: 'reportingComponent',
      source: 'source.component',
      type: 'type',
    }),
    printer: coreEventPrinter,
  },
})

export const eventsV1 = defineKind({
  group: 'events.k8s.io',
  version: 'v1',
  resource: 'events',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  schema: 'EventsV1Event',
  storageVersion: 'v1',
  convert: { toStorage: toCoreEvent, fromStorage: fromCoreEvent },
  strategy: {
    validate: validateEventsV1,
    fieldSelectors: fieldsAt({
      'regarding.kind': 'regarding.kind',
      'regarding.namespace': 'regarding.namespace',
      'regarding.name': 'regarding.name',
      'regarding.uid': 'regarding.uid',
      'regarding.apiVersion': 'regarding.apiVersion',
      'regarding.resourceVersion': 'regarding.resourceVersion',
      'regarding.fieldPath': 'regarding.fieldPath',
      reason: 'reason',
      reportingController: 'reportingController',
      deprecatedSource: 'deprecatedSource.component',
      type: 'type',
    }),
    printer: {
      columns: coreEventPrinter.columns,
      row: (obj) => coreEventPrinter.row(toCoreEvent(obj)),
    },
  },
})

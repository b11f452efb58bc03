// printPod: the READY, STATUS and RESTARTS logic of pkg/printers/internalversion.
import { since } from './duration'

type Obj = Record<string, any>
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v : [])

const isRestartableInit = (c: Obj | undefined) => c?.restartPolicy === 'Always'
const later = (a: string | undefined, b: string | undefined) =>
  !a ? b : !b ? a : Date.parse(b) > Date.parse(a) ? b : a
const hasCondition = (status: Obj, type: string) =>
  list(status.conditions).some((c) => c.type === type && c.status === 'True')

export interface PodSummary {
  ready: string
  status: string
  restarts: string
}

export function podSummary(pod: Obj, now = Date.now()): PodSummary {
  const spec = pod.spec ?? {}
  const status = pod.status ?? {}
  let restarts = 0
  let restartableInitRestarts = 0
  let totalContainers = list(spec.containers).length
  let readyContainers = 0
  let lastRestart: string | undefined
  let lastRestartableInitRestart: string | undefined

  let reason: string = status.reason || status.phase || ''
  for (const c of list(status.conditions))
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated'

  const initContainers = new Map<string, Obj>()
  for (const c of list(spec.initContainers)) {
    initContainers.set(c.name, c)
    if (isRestartableInit(c)) totalContainers++
  }

  let initializing = false
  const initStatuses = list(status.initContainerStatuses)
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i]
    restarts += c.restartCount ?? 0
    const finished = c.lastState?.terminated?.finishedAt
    lastRestart = later(lastRestart, finished)
    const restartable = isRestartableInit(initContainers.get(c.name))
    if (restartable) {
      restartableInitRestarts += c.restartCount ?? 0
      lastRestartableInitRestart = later(lastRestartableInitRestart, finished)
    }
    const terminated = c.state?.terminated
    const waiting = c.state?.waiting
    if (terminated && (terminated.exitCode ?? 0) === 0) continue
    if (restartable && c.started) {
      if (c.ready) readyContainers++
      continue
    }
    if (terminated) {
      reason = terminated.reason
        ? `Init:${terminated.reason}`
        : terminated.signal
          ? `Init:Signal:${terminated.signal}`
          : `Init:ExitCode:${terminated.exitCode ?? 0}`
    } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`
    } else {
      reason = `Init:${i}/${list(spec.initContainers).length}`
    }
    initializing = true
    break
  }

  if (!initializing || hasCondition(status, 'Initialized')) {
    restarts = restartableInitRestarts
    lastRestart = lastRestartableInitRestart
    let hasRunning = false
    const statuses = list(status.containerStatuses)
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]
      restarts += c.restartCount ?? 0
      lastRestart = later(lastRestart, c.lastState?.terminated?.finishedAt)
      const waiting = c.state?.waiting
      const terminated = c.state?.terminated
      if (waiting?.reason) reason = waiting.reason
      else if (terminated?.reason) reason = terminated.reason
      else if (terminated)
        reason = terminated.signal
          ? `Signal:${terminated.signal}`
          : `ExitCode:${terminated.exitCode ?? 0}`
      else if (c.ready && c.state?.running) {
        hasRunning = true
        readyContainers++
      }
    }
    // A pod whose last container completed while another still runs is Running (or NotReady).
    if (reason === 'Completed' && hasRunning)
      reason = hasCondition(status, 'Ready') ? 'Running' : 'NotReady'
  }

  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed'
  if (pod.metadata?.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown'
  else if (pod.metadata?.deletionTimestamp && !terminal) reason = 'Terminating'

  const restartsText =
    restarts !== 0 && lastRestart
      ? `${restarts} (${since(lastRestart, now)} ago)`
      : String(restarts)
  return { ready: `${readyContainers}/${totalContainers}`, status: reason, restarts: restartsText }
}

/** The wide READINESS GATES cell: true gate conditions over gates. */
export function readinessGates(pod: Obj): string {
  const gates = list(pod.spec?.readinessGates)
  if (gates.length === 0) return '<none>'
  const conditions = list(pod.status?.conditions)
  const trueCount = gates.filter(
    (g) => conditions.find((c) => c.type === g.conditionType)?.status === 'True',
  ).length
  return `${trueCount}/${gates.length}`
}

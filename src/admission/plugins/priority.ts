// Priority (plugin/pkg/admission/priority): a pod's priorityClassName resolves to spec.priority (the global
// default class, or 0, when it names none), and only one PriorityClass may be the global default.
import { admissionForbidden, isResource, type AdmissionPlugin, type Attributes } from '../types'

type Obj = Record<string, any>

async function defaultPriorityClass(a: Attributes): Promise<Obj | undefined> {
  const classes = (await a.reader.list('priorityclasses', '')) as Obj[]
  let best: Obj | undefined
  for (const pc of classes) {
    if (!pc.globalDefault) continue
    if (!best || pc.value < best.value) best = pc
  }
  return best
}

async function admitPod(a: Attributes): Promise<void> {
  const pod = a.object as Obj
  pod.spec ??= {}
  if (a.operation === 'UPDATE') {
    const old = (a.oldObject ?? {}) as Obj
    if (pod.spec.priority === undefined && old.spec?.priority !== undefined)
      pod.spec.priority = old.spec.priority
    if (pod.spec.preemptionPolicy === undefined && old.spec?.preemptionPolicy !== undefined)
      pod.spec.preemptionPolicy = old.spec.preemptionPolicy
    return
  }
  let priority: number
  let preemptionPolicy: string | undefined
  if (!pod.spec.priorityClassName) {
    const pc = await defaultPriorityClass(a)
    if (pc) {
      pod.spec.priorityClassName = pc.metadata?.name
      priority = pc.value
      preemptionPolicy = pc.preemptionPolicy
    } else {
      priority = 0
      preemptionPolicy = 'PreemptLowerPriority'
    }
  } else {
    const pc = (await a.reader.get('priorityclasses', '', pod.spec.priorityClassName)) as
      Obj | undefined
    if (!pc)
      throw admissionForbidden(
        a,
        `no PriorityClass with name ${pod.spec.priorityClassName} was found`,
      )
    priority = pc.value
    preemptionPolicy = pc.preemptionPolicy
  }
  if (typeof pod.spec.priority === 'number' && pod.spec.priority !== priority) {
    throw admissionForbidden(
      a,
      `the integer value of priority (${pod.spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`,
    )
  }
  pod.spec.priority = priority
  if (preemptionPolicy) {
    if (pod.spec.preemptionPolicy && pod.spec.preemptionPolicy !== preemptionPolicy) {
      throw admissionForbidden(
        a,
        `the string value of PreemptionPolicy (${pod.spec.preemptionPolicy}) must not be provided in pod spec; priority admission controller computed ${preemptionPolicy} from the given PriorityClass name`,
      )
    }
    pod.spec.preemptionPolicy = preemptionPolicy
  }
}

export function priority(): AdmissionPlugin {
  return {
    name: 'Priority',
    async admit(a) {
      if (a.subresource || !a.object) return
      if (isResource(a, '', 'pods') && (a.operation === 'CREATE' || a.operation === 'UPDATE'))
        await admitPod(a)
    },
    async validate(a) {
      if (a.subresource || !a.object) return
      if (
        !isResource(a, 'scheduling.k8s.io', 'priorityclasses') ||
        (a.operation !== 'CREATE' && a.operation !== 'UPDATE')
      )
        return
      const pc = a.object as Obj
      if (!pc.globalDefault) return
      const current = await defaultPriorityClass(a)
      if (current && (a.operation === 'CREATE' || current.metadata?.name !== pc.metadata?.name)) {
        throw admissionForbidden(
          a,
          `PriorityClass ${current.metadata?.name} is already marked as default. Only one default can exist`,
        )
      }
    },
  }
}

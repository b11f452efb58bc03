// TaintNodesByCondition (plugin/pkg/admission/nodetaint): a new Node starts with the not-ready NoSchedule taint,
// so nothing is scheduled onto it before its kubelet reports Ready and the node controller lifts the taint.
import { isResource, type AdmissionPlugin } from '../types'

type Obj = Record<string, any>
const NOT_READY = 'node.kubernetes.io/not-ready'

export function taintNodesByCondition(): AdmissionPlugin {
  return {
    name: 'TaintNodesByCondition',
    async admit(a) {
      if (a.operation !== 'CREATE' || !isResource(a, '', 'nodes') || a.subresource || !a.object)
        return
      const spec = ((a.object as Obj).spec ??= {})
      const taints = (spec.taints ?? []) as Obj[]
      if (taints.some((t) => t.key === NOT_READY && t.effect === 'NoSchedule')) return
      spec.taints = [...taints, { key: NOT_READY, effect: 'NoSchedule' }]
    },
  }
}

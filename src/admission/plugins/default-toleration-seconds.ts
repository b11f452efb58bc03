// DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds): pods tolerate not-ready and
// unreachable nodes for 300 seconds unless they say otherwise.
import { isResource, type AdmissionPlugin } from '../types'

type Obj = Record<string, any>
export const DEFAULT_TOLERATION_SECONDS = 300
const NOT_READY = 'node.kubernetes.io/not-ready'
const UNREACHABLE = 'node.kubernetes.io/unreachable'

export function defaultTolerationSeconds(
  notReadySeconds = DEFAULT_TOLERATION_SECONDS,
  unreachableSeconds = DEFAULT_TOLERATION_SECONDS,
): AdmissionPlugin {
  return {
    name: 'DefaultTolerationSeconds',
    async admit(a) {
      if (a.operation !== 'CREATE' && a.operation !== 'UPDATE') return
      if (!isResource(a, '', 'pods') || a.subresource || !a.object) return
      const spec = ((a.object as Obj).spec ??= {})
      const tolerations = (spec.tolerations ?? []) as Obj[]
      const tolerates = (key: string) =>
        tolerations.some(
          (t) => (t.key === key || !t.key) && (t.effect === 'NoExecute' || !t.effect),
        )
      const add: Obj[] = []
      if (!tolerates(NOT_READY))
        add.push({
          key: NOT_READY,
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: notReadySeconds,
        })
      if (!tolerates(UNREACHABLE))
        add.push({
          key: UNREACHABLE,
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: unreachableSeconds,
        })
      if (add.length) spec.tolerations = [...tolerations, ...add]
    },
  }
}

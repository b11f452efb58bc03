// core/v1 Pod (pkg/registry/core/pod/strategy.go, printPod).
import { col } from '../printers/format'
import { podSummary, readinessGates } from '../printers/pod'
import { defineKind, fieldsAt, printer, type Obj } from './define'
import { defaultPod, podQOS, validatePodSpec, validatePodSpecUpdate } from './podspec'
import { ephemeralContainersSubresource } from './pod-subresources'

export const pods = defineKind({
  group: '',
  version: 'v1',
  resource: 'pods',
  kind: 'Pod',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  returnDeletedObject: true,
  subresources: { status: true, updates: { ephemeralcontainers: ephemeralContainersSubresource } },
  schema: 'CoreV1Pod',
  initialStatus: (pod) => ({ phase: 'Pending', qosClass: podQOS(pod.spec ?? {}) }),
  strategy: {
    defaults: (obj) => defaultPod(obj),
    validate: (obj) => validatePodSpec(obj.spec as Obj, 'spec'),
    validateUpdate: (obj, old) => validatePodSpecUpdate(obj.spec as Obj, old.spec as Obj),
    fieldSelectors: {
      ...fieldsAt({
        'spec.nodeName': 'spec.nodeName',
        'spec.restartPolicy': 'spec.restartPolicy',
        'spec.schedulerName': 'spec.schedulerName',
        'spec.serviceAccountName': 'spec.serviceAccountName',
        'status.phase': 'status.phase',
        'status.nominatedNodeName': 'status.nominatedNodeName',
      }),
      // kube's pod field set: hostNetwork is "true"/"false", podIP is the first of status.podIPs.
      'spec.hostNetwork': (o) => String((o.spec as Obj)?.hostNetwork === true),
      'status.podIP': (o) => (o.status as Obj)?.podIPs?.[0]?.ip ?? (o.status as Obj)?.podIP ?? '',
    },
    printer: printer(
      [
        col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
        col('Status', 'string', 'The aggregate status of the containers in this pod.'),
        col(
          'Restarts',
          'string',
          'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
        ),
      ],
      (o, now) => {
        const s = podSummary(o, now)
        return [s.ready, s.status, s.restarts]
      },
      {
        wide: [
          col(
            'IP',
            'string',
            'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
            1,
          ),
          col(
            'Node',
            'string',
            'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename',
            1,
          ),
          col(
            'Nominated Node',
            'string',
            'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.',
            1,
          ),
          col(
            'Readiness Gates',
            'string',
            'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates',
            1,
          ),
        ],
        wideCells: (o) => [
          o.status?.podIPs?.[0]?.ip || '<none>',
          o.spec?.nodeName || '<none>',
          o.status?.nominatedNodeName || '<none>',
          readinessGates(o),
        ],
      },
    ),
  },
})

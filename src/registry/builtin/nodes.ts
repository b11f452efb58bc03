// core/v1 Node (etcd key: minions).
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

/** findNodeRoles: node-role.kubernetes.io/<role> labels and the legacy kubernetes.io/role. */
function nodeRoles(node: Obj): string {
  const roles = new Set<string>()
  for (const [k, v] of Object.entries((node.metadata?.labels ?? {}) as Record<string, string>)) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length)
      if (role) roles.add(role)
    } else if (k === 'kubernetes.io/role' && v) roles.add(v)
  }
  return [...roles].sort().join(',') || '<none>'
}

function nodeStatus(node: Obj): string {
  const ready = ((node.status?.conditions ?? []) as Obj[]).find((c) => c.type === 'Ready')
  const status = ready ? [ready.status === 'True' ? 'Ready' : 'NotReady'] : ['Unknown']
  if (node.spec?.unschedulable) status.push('SchedulingDisabled')
  return status.join(',')
}

const address = (node: Obj, type: string) =>
  ((node.status?.addresses ?? []) as Obj[]).find((a) => a.type === type)?.address ?? '<none>'
const ADDRESSES_DOC =
  "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP)."

export const nodes = defineKind({
  group: '',
  version: 'v1',
  resource: 'nodes',
  kind: 'Node',
  namespaced: false,
  shortNames: ['no'],
  storagePrefix: 'minions',
  subresources: { status: true },
  schema: 'CoreV1Node',
  // A kubelet registers its node with the status it observed: create keeps it.
  initialStatus: (node) => node.status,
  strategy: {
    defaults(obj) {
      const status = obj.status as Obj | undefined
      if (status?.capacity && !status.allocatable) status.allocatable = { ...status.capacity }
    },
    fieldSelectors: {
      'spec.unschedulable': (o) => String((o.spec as Obj)?.unschedulable === true),
    },
    printer: printer(
      [
        col('Status', 'string', 'The status of the node'),
        col('Roles', 'string', 'The roles of the node'),
        col('Version', 'string', 'Kubelet Version reported by the node.'),
      ],
      (o) => [nodeStatus(o), nodeRoles(o), o.status?.nodeInfo?.kubeletVersion ?? ''],
      {
        age: 2,
        wide: [
          col('Internal-IP', 'string', ADDRESSES_DOC, 1),
          col('External-IP', 'string', ADDRESSES_DOC, 1),
          col(
            'OS-Image',
            'string',
            'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
            1,
          ),
          col(
            'Kernel-Version',
            'string',
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            1,
          ),
          col(
            'Container-Runtime',
            'string',
            'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
            1,
          ),
        ],
        wideCells: (o) => {
          const info = o.status?.nodeInfo ?? {}
          return [
            address(o, 'InternalIP'),
            address(o, 'ExternalIP'),
            info.osImage || '<unknown>',
            info.kernelVersion || '<unknown>',
            info.containerRuntimeVersion || '<unknown>',
          ]
        },
      },
    ),
  },
})

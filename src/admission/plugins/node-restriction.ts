// NodeRestriction (plugin/pkg/admission/noderestriction): a kubelet (user system:node:<name> in group
// system:nodes) may only touch its own Node, its own Lease and CSINode, the status of pods bound to it, and
// mirror pods it owns.
import { badRequest, forbidden, notFound } from '../../server/errors'
import { admissionForbidden, type AdmissionPlugin, type Attributes } from '../types'

type Obj = Record<string, any>
const MIRROR = 'kubernetes.io/config.mirror'

/** nodeidentifier.NodeIdentity: the node name, '' for a node user without one, undefined for anyone else. */
export function nodeIdentity(user: Attributes['user']): string | undefined {
  if (!user || !user.groups.includes('system:nodes') || !user.username.startsWith('system:node:'))
    return undefined
  return user.username.slice('system:node:'.length)
}

// Labels a kubelet may set on its own Node (kubeletapis.IsKubeletLabel) outside kubernetes.io/ and k8s.io/
// namespaces everything is allowed; inside, only these.
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'node.kubernetes.io/windows-build',
])
const KUBELET_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io']

function forbiddenLabel(key: string): boolean {
  const slash = key.indexOf('/')
  if (slash < 0) return false
  const ns = key.slice(0, slash)
  if (ns === 'node-restriction.kubernetes.io' || ns.endsWith('.node-restriction.kubernetes.io'))
    return true
  const isKubeNs =
    ns === 'kubernetes.io' ||
    ns.endsWith('.kubernetes.io') ||
    ns === 'k8s.io' ||
    ns.endsWith('.k8s.io')
  if (!isKubeNs) return false
  if (KUBELET_LABELS.has(key)) return false
  if (KUBELET_NAMESPACES.some((n) => ns === n || ns.endsWith('.' + n))) return false
  return true
}

function modifiedLabels(
  now: Record<string, string> = {},
  before: Record<string, string> = {},
): string[] {
  const keys = new Set([...Object.keys(now), ...Object.keys(before)])
  return [...keys].filter((k) => now[k] !== before[k])
}

function admitPod(node: string, a: Attributes): void {
  if (a.operation === 'CREATE') {
    const pod = a.object as Obj
    if (pod.metadata?.annotations?.[MIRROR] === undefined)
      throw admissionForbidden(
        a,
        `pod does not have "${MIRROR}" annotation, node "${node}" can only create mirror pods`,
      )
    if (pod.spec?.nodeName !== node)
      throw admissionForbidden(
        a,
        `node "${node}" can only create pods with spec.nodeName set to itself`,
      )
    const owners = (pod.metadata?.ownerReferences ?? []) as Obj[]
    if (owners.length > 1)
      throw admissionForbidden(
        a,
        `node "${node}" can only create pods with a single owner reference set to itself`,
      )
    if (owners.length === 0)
      throw admissionForbidden(
        a,
        `node "${node}" can only create pods with an owner reference set to itself`,
      )
    const o = owners[0]
    if (o.apiVersion !== 'v1' || o.kind !== 'Node' || o.name !== node)
      throw admissionForbidden(
        a,
        `node "${node}" can only create pods with an owner reference set to itself`,
      )
    if (!o.controller)
      throw admissionForbidden(
        a,
        `node "${node}" can only create pods with a controller owner reference set to itself`,
      )
    if (o.blockOwnerDeletion)
      throw admissionForbidden(
        a,
        `node "${node}" must not set blockOwnerDeletion on an owner reference`,
      )
    const spec = pod.spec ?? {}
    if (spec.serviceAccountName)
      throw admissionForbidden(
        a,
        `node "${node}" can not create pods that reference a service account`,
      )
    const volumes = (spec.volumes ?? []) as Obj[]
    const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Obj[]
    const refs = (kind: 'secret' | 'configMap') =>
      volumes.some((v) => v[kind] || (v.projected?.sources ?? []).some((s: Obj) => s[kind])) ||
      containers.some(
        (c) =>
          (c.env ?? []).some(
            (e: Obj) => e.valueFrom?.[kind === 'secret' ? 'secretKeyRef' : 'configMapKeyRef'],
          ) ||
          (c.envFrom ?? []).some((e: Obj) => e[kind === 'secret' ? 'secretRef' : 'configMapRef']),
      ) ||
      (kind === 'secret' && (spec.imagePullSecrets ?? []).length > 0)
    if (refs('secret'))
      throw admissionForbidden(a, `node "${node}" can not create pods that reference secrets`)
    if (refs('configMap'))
      throw admissionForbidden(a, `node "${node}" can not create pods that reference configmaps`)
    if (volumes.some((v) => v.persistentVolumeClaim || v.ephemeral))
      throw admissionForbidden(
        a,
        `node "${node}" can not create pods that reference persistentvolumeclaims`,
      )
    return
  }
  if (a.operation === 'DELETE') {
    if ((a.oldObject as Obj | undefined)?.spec?.nodeName !== node)
      throw admissionForbidden(
        a,
        `node "${node}" can only delete pods with spec.nodeName set to itself`,
      )
    return
  }
  throw admissionForbidden(
    a,
    `unexpected operation "${a.operation}", node "${node}" can only create and delete mirror pods`,
  )
}

function admitPodStatus(node: string, a: Attributes): void {
  if (a.operation !== 'UPDATE') throw admissionForbidden(a, `unexpected operation "${a.operation}"`)
  const old = (a.oldObject ?? {}) as Obj
  if (old.spec?.nodeName !== node)
    throw admissionForbidden(
      a,
      `node "${node}" can only update pod status for pods with spec.nodeName set to itself`,
    )
  const now = (a.object ?? {}) as Obj
  if (JSON.stringify(now.metadata?.labels ?? {}) !== JSON.stringify(old.metadata?.labels ?? {})) {
    throw admissionForbidden(a, `node "${node}" cannot update labels through pod status`)
  }
}

/** admitPodEviction: a kubelet evicts only pods bound to its own node. */
async function admitPodEviction(node: string, a: Attributes): Promise<void> {
  if (a.operation !== 'CREATE') throw admissionForbidden(a, `unexpected operation ${a.operation}`)
  // The pod named by the request, rather than by the Eviction it carries.
  const podName = a.name || a.object?.metadata?.name
  if (!podName) throw badRequest('could not determine pod from request data')
  const pod = (await a.reader.get('pods', a.namespace, podName)) as Obj | undefined
  // The pod lister's NotFound, which names the resource in the singular.
  if (!pod) throw notFound({ group: '', resource: 'pod' }, podName)
  if (pod.spec?.nodeName !== node)
    throw admissionForbidden(a, `node ${node} can only evict pods with spec.nodeName set to itself`)
}

function admitNode(node: string, a: Attributes): void {
  if (
    a.name !== node &&
    !(a.operation === 'CREATE' && (a.object as Obj | undefined)?.metadata?.name === node)
  ) {
    throw forbidden(
      { group: '', resource: 'nodes' },
      a.name || (a.object as Obj | undefined)?.metadata?.name || '',
      `node "${node}" is not allowed to modify node "${a.name || (a.object as Obj)?.metadata?.name}"`,
    )
  }
  const obj = (a.object ?? {}) as Obj
  if (a.operation === 'CREATE') {
    const bad = modifiedLabels(obj.metadata?.labels).filter(forbiddenLabel).sort()
    if (bad.length)
      throw admissionForbidden(
        a,
        `node "${node}" is not allowed to set the following labels: ${bad.join(', ')}`,
      )
  }
  if (a.operation === 'UPDATE') {
    const old = (a.oldObject ?? {}) as Obj
    if (JSON.stringify(obj.spec?.taints ?? []) !== JSON.stringify(old.spec?.taints ?? []))
      throw admissionForbidden(a, `node "${node}" is not allowed to modify taints`)
    const bad = modifiedLabels(obj.metadata?.labels, old.metadata?.labels)
      .filter(forbiddenLabel)
      .sort()
    if (bad.length)
      throw admissionForbidden(a, `is not allowed to modify labels: ${bad.join(', ')}`)
  }
}

export function nodeRestriction(): AdmissionPlugin {
  return {
    name: 'NodeRestriction',
    async validate(a) {
      const node = nodeIdentity(a.user)
      if (node === undefined) return
      if (!node)
        throw admissionForbidden(a, `could not determine node from user "${a.user!.username}"`)
      const gr = `${a.type.group}/${a.type.resource}`
      switch (gr) {
        case '/pods':
          if (a.subresource === '') return admitPod(node, a)
          if (a.subresource === 'status') return admitPodStatus(node, a)
          if (a.subresource === 'eviction') return admitPodEviction(node, a)
          throw admissionForbidden(
            a,
            `unexpected pod subresource "${a.subresource}", only 'status' and 'eviction' are allowed`,
          )
        case '/nodes':
          return admitNode(node, a)
        case 'coordination.k8s.io/leases':
          if (a.namespace !== 'kube-node-lease')
            throw admissionForbidden(a, `can only access leases in the "kube-node-lease" namespace`)
          if (a.name !== node && (a.object as Obj | undefined)?.metadata?.name !== node)
            throw admissionForbidden(
              a,
              `can only access node lease with the same name as the requesting node`,
            )
          return
        case 'storage.k8s.io/csinodes':
          if (a.name !== node && (a.object as Obj | undefined)?.metadata?.name !== node)
            throw admissionForbidden(
              a,
              `node "${node}" is not allowed to modify object "${a.name}"`,
            )
          return
        default:
          return
      }
    },
  }
}

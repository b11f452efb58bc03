// The Node authorization mode (plugin/pkg/auth/authorizer/node): a kubelet, user system:node:<name> in
// system:nodes, may read the secrets, config maps, volume claims and volumes of the pods bound to its node, create
// tokens for their service accounts, keep its own Lease and CSINode, and otherwise do what the system:node role
// allows. kube-apiserver keeps a graph of these relationships; here they are worked out from the pods on demand,
// which costs a list of a namespace's pods only when a node asks for one of those objects.
import type { KubeObject, UserInfo } from '../registry/types'
import type { Store } from '../storage/store'
import type { Attributes, AuthorizationResult, Authorizer, RulesResult } from './authorizer'
import { nodeRules } from './rbac/bootstrap-policy'
import { ruleAllows } from './rbac/rules'
import { readObject } from './serviceaccount/tokens'
import { TUNNEL_PATH } from '../tunnel/frames'

const NODE_PREFIX = 'system:node:'
const NO_OPINION: AuthorizationResult = { decision: 'NoOpinion', reason: '' }
const ALLOW: AuthorizationResult = { decision: 'Allow', reason: '' }
const deny = (reason: string): AuthorizationResult => ({ decision: 'NoOpinion', reason })

/** nodeidentifier: the node name of a system:node:<name> user in system:nodes, '' for one without a name. */
export function nodeIdentity(user: UserInfo): string | undefined {
  if (!user.username.startsWith(NODE_PREFIX) || !user.groups.includes('system:nodes'))
    return undefined
  return user.username.slice(NODE_PREFIX.length)
}

type Kind = 'secret' | 'configmap' | 'pvc' | 'serviceaccount'
type Obj = Record<string, any>

/** Names a pod refers to, as podutil.VisitPodSecretNames/VisitPodConfigmapNames and the graph populator see them. */
export function podReferences(pod: KubeObject): Record<Kind, Set<string>> {
  const refs: Record<Kind, Set<string>> = {
    secret: new Set(),
    configmap: new Set(),
    pvc: new Set(),
    serviceaccount: new Set(),
  }
  const spec = (pod.spec ?? {}) as Obj
  refs.serviceaccount.add(spec.serviceAccountName || 'default')
  for (const s of spec.imagePullSecrets ?? []) if (s?.name) refs.secret.add(s.name)
  for (const c of [
    ...(spec.containers ?? []),
    ...(spec.initContainers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ]) {
    for (const e of c?.env ?? []) {
      if (e?.valueFrom?.secretKeyRef?.name) refs.secret.add(e.valueFrom.secretKeyRef.name)
      if (e?.valueFrom?.configMapKeyRef?.name) refs.configmap.add(e.valueFrom.configMapKeyRef.name)
    }
    for (const e of c?.envFrom ?? []) {
      if (e?.secretRef?.name) refs.secret.add(e.secretRef.name)
      if (e?.configMapRef?.name) refs.configmap.add(e.configMapRef.name)
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v?.secret?.secretName) refs.secret.add(v.secret.secretName)
    if (v?.configMap?.name) refs.configmap.add(v.configMap.name)
    for (const src of v?.projected?.sources ?? []) {
      if (src?.secret?.name) refs.secret.add(src.secret.name)
      if (src?.configMap?.name) refs.configmap.add(src.configMap.name)
    }
    for (const k of ['cephfs', 'cinder', 'flexVolume', 'iscsi', 'rbd', 'scaleIO', 'storageos'])
      if (v?.[k]?.secretRef?.name) refs.secret.add(v[k].secretRef.name)
    if (v?.azureFile?.secretName) refs.secret.add(v.azureFile.secretName)
    if (v?.csi?.nodePublishSecretRef?.name) refs.secret.add(v.csi.nodePublishSecretRef.name)
    if (v?.persistentVolumeClaim?.claimName) refs.pvc.add(v.persistentVolumeClaim.claimName)
    if (v?.ephemeral && v?.name) refs.pvc.add(`${pod.metadata?.name}-${v.name}`)
  }
  return refs
}

export class NodeAuthorizer {
  private readonly rules = nodeRules()

  forStore(store: Store): Authorizer {
    return {
      authorize: (a) => this.authorize(a, store),
      rulesFor: async (user): Promise<RulesResult> => {
        if (nodeIdentity(user) === undefined)
          return { resourceRules: [], nonResourceRules: [], incomplete: false }
        return {
          resourceRules: [],
          nonResourceRules: [],
          incomplete: true,
          evaluationError: 'node authorizer does not support user rule resolution',
        }
      },
    }
  }

  async authorize(a: Attributes, store: Store): Promise<AuthorizationResult> {
    const node = nodeIdentity(a.user)
    if (node === undefined) return NO_OPINION
    if (!node) return deny(`unknown node for user "${a.user.username}"`)
    if (a.isResourceRequest) {
      const gr = `${a.apiGroup}/${a.resource}`
      switch (gr) {
        case '/secrets':
          return this.readNamespaced(node, 'secret', a, store)
        case '/configmaps':
          return this.readNamespaced(node, 'configmap', a, store)
        case '/persistentvolumeclaims':
          if (a.subresource === 'status') return this.statusUpdate(node, a, store)
          return this.get(node, a, () => this.related(node, 'pvc', a.namespace, a.name, store))
        case '/persistentvolumes':
          return this.get(node, a, () => this.volumeRelated(node, a.name, store))
        case 'storage.k8s.io/volumeattachments':
          return this.get(
            node,
            a,
            async () =>
              (
                (await readObject(store, `/registry/volumeattachments/${a.name}`))?.spec as
                  Obj | undefined
              )?.nodeName === node,
          )
        case '/serviceaccounts':
          return this.createToken(node, a, store)
        case 'coordination.k8s.io/leases':
          return this.ownObject(node, a, 'a node lease', 'node lease', 'kube-node-lease')
        case 'storage.k8s.io/csinodes':
          if (a.subresource) return deny('cannot authorize CSINode subresources')
          return this.ownObject(node, a, 'a CSINode', 'CSINode')
      }
    }
    // The agent tunnel (src/tunnel): a node opens its own, as it may keep only its own Lease.
    if (!a.isResourceRequest && a.path.startsWith(`${TUNNEL_PATH}/`)) {
      if (a.verb !== 'get') return deny('can only get the tunnel path')
      return a.path === `${TUNNEL_PATH}/${node}`
        ? ALLOW
        : deny('can only open the tunnel of the requesting node')
    }
    return this.rules.some((r) => ruleAllows(a, r)) ? ALLOW : NO_OPINION
  }

  private relationship(node: string, ok: boolean): AuthorizationResult {
    return ok ? ALLOW : deny(`no relationship found between node '${node}' and this object`)
  }

  private async readNamespaced(
    node: string,
    kind: Kind,
    a: Attributes,
    store: Store,
  ): Promise<AuthorizationResult> {
    if (!['get', 'list', 'watch'].includes(a.verb))
      return deny('can only read resources of this type')
    if (a.subresource) return deny('cannot read subresource')
    if (!a.namespace) return deny('can only read namespaced object of this type')
    if (!a.name) return deny('No Object name found')
    return this.relationship(node, await this.related(node, kind, a.namespace, a.name, store))
  }

  private async get(
    node: string,
    a: Attributes,
    related: () => Promise<boolean>,
  ): Promise<AuthorizationResult> {
    if (a.verb !== 'get') return deny('can only get individual resources of this type')
    if (a.subresource) return deny('cannot get subresource')
    if (!a.name) return deny('No Object name found')
    return this.relationship(node, await related())
  }

  private async statusUpdate(
    node: string,
    a: Attributes,
    store: Store,
  ): Promise<AuthorizationResult> {
    if (a.verb !== 'update' && a.verb !== 'patch')
      return deny('can only get/update/patch this type')
    if (!a.name) return deny('No Object name found')
    return this.relationship(node, await this.related(node, 'pvc', a.namespace, a.name, store))
  }

  private async createToken(
    node: string,
    a: Attributes,
    store: Store,
  ): Promise<AuthorizationResult> {
    if (a.verb !== 'create' || !a.name)
      return deny('can only create tokens for individual service accounts')
    if (a.subresource !== 'token')
      return deny('can only create token subresource of serviceaccount')
    return this.relationship(
      node,
      await this.related(node, 'serviceaccount', a.namespace, a.name, store),
    )
  }

  /** Leases in kube-node-lease and CSINodes: only the node's own (create is left to NodeRestriction admission). */
  private ownObject(
    node: string,
    a: Attributes,
    what: string,
    short: string,
    namespace?: string,
  ): AuthorizationResult {
    if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb))
      return deny(`can only get, create, update, patch, or delete ${what}`)
    if (namespace !== undefined && a.namespace !== namespace)
      return deny(`can only access leases in the "${namespace}" system namespace`)
    if (a.verb !== 'create' && a.name !== node)
      return deny(`can only access ${short} with the same name as the requesting node`)
    return ALLOW
  }

  private async podsOnNode(node: string, namespace: string, store: Store): Promise<KubeObject[]> {
    const { kvs } = await store.list(`/registry/pods/${namespace}/`)
    const pods: KubeObject[] = []
    for (const kv of kvs) {
      const pod = JSON.parse(kv.value) as KubeObject
      if ((pod.spec as Obj | undefined)?.nodeName === node) pods.push(pod)
    }
    return pods
  }

  private async related(
    node: string,
    kind: Kind,
    namespace: string,
    name: string,
    store: Store,
  ): Promise<boolean> {
    if (!namespace || !name) return false
    return (await this.podsOnNode(node, namespace, store)).some((pod) =>
      podReferences(pod)[kind].has(name),
    )
  }

  /** A PersistentVolume is the node's when the claim bound to it is used by a pod on the node. */
  private async volumeRelated(node: string, name: string, store: Store): Promise<boolean> {
    const pv = await readObject(store, `/registry/persistentvolumes/${name}`)
    const claim = (pv?.spec as Obj | undefined)?.claimRef
    if (!claim?.namespace || !claim?.name) return false
    const pvc = await readObject(
      store,
      `/registry/persistentvolumeclaims/${claim.namespace}/${claim.name}`,
    )
    if ((pvc?.spec as Obj | undefined)?.volumeName !== name) return false
    return this.related(node, 'pvc', claim.namespace, claim.name, store)
  }
}

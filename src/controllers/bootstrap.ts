// What kube-apiserver's bootstrap controller and system namespaces controller create on a new cluster:
// the system namespaces and the `kubernetes` service in default.
import {
  bootstrapClusterRoleBindings,
  bootstrapClusterRoles,
  ensureBootstrapPolicy,
} from '../auth/rbac/bootstrap-policy'
import {
  MANDATORY_FLOW_SCHEMAS,
  MANDATORY_PRIORITY_LEVELS,
  SUGGESTED_FLOW_SCHEMAS,
  SUGGESTED_PRIORITY_LEVELS,
} from '../flowcontrol/bootstrap'
import { ensureAPFBootstrapConfiguration, ensureFlowSchemaStatuses } from '../flowcontrol/ensurer'
import type { Registry } from '../registry/registry'
import { kubernetesServiceIP } from '../registry/builtin/allocator'
import { RegistryStore } from '../registry/store'
import type { KubeObject, RequestContext } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import { StoreError, type Store } from '../storage/store'

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

async function ensure(
  rs: RegistryStore,
  namespace: string | undefined,
  obj: KubeObject,
): Promise<void> {
  const ctx: RequestContext = {
    dryRun: false,
    warnings: [],
    user: { username: 'system:apiserver', groups: ['system:masters'] },
  }
  try {
    await rs.create(namespace, obj, ctx)
  } catch (e) {
    if (!isStatusErrorReason(e, 'AlreadyExists')) throw e
  }
}

/**
 * `endpoints: false` leaves the `kubernetes` Endpoints and EndpointSlice to an endpoint reconciler (Node
 * mode's, src/node/endpoints.ts), as kube-apiserver's bootstrap controller does.
 */
export async function bootstrapCluster(
  registry: Registry,
  store: Store,
  servicePort = 443,
  endpoints = true,
): Promise<void> {
  const lookup = (group: string, version: string, resource: string) => {
    const t = registry.lookup(group, version, resource)
    if (!t) throw new Error(`bootstrap: ${resource} is not served`)
    return t
  }
  const namespaces = new RegistryStore(lookup('', 'v1', 'namespaces'), store)
  // The RBAC post-start hook: default roles and bindings, reconciled on every start as kube-apiserver does.
  await ensureBootstrapPolicy(store)
  // The priority-and-fairness-config-producer post-start hook: kube's APF objects, kept up to date.
  await ensureAPFBootstrapConfiguration(registry, store)
  // Fast path for every later start: the last object bootstrap writes is there.
  const { kv } = await store.get(
    endpoints
      ? '/registry/services/endpoints/default/kubernetes'
      : '/registry/services/specs/default/kubernetes',
  )
  if (kv) return
  // The APF controller's first act on a new cluster, done here, before its first request waits for it.
  await ensureFlowSchemaStatuses(registry, store)
  for (const name of SYSTEM_NAMESPACES)
    await ensure(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
  const services = new RegistryStore(lookup('', 'v1', 'services'), store)
  await ensure(services, 'default', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: kubernetesServiceIP(),
      sessionAffinity: 'None',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: servicePort }],
    },
  })
  if (!endpoints) return
  await ensure(new RegistryStore(lookup('', 'v1', 'endpoints'), store), 'default', {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [
      {
        addresses: [{ ip: '127.0.0.1' }],
        ports: [{ name: 'https', port: servicePort, protocol: 'TCP' }],
      },
    ],
  })
}

/**
 * Where a cluster records that bootstrapCluster ran to the end with the objects of this code (its value:
 * BOOTSTRAP_VERSION). Outside /registry, as kube keeps nothing of its own there either; the control loops
 * ignore it (it is no object).
 */
export const BOOTSTRAP_MARKER_KEY = '/edge-apiserver/bootstrapped'

let bootstrapVersion: string | undefined
/** FNV-1a of everything bootstrapCluster writes: a new release with other defaults reconciles again. */
function currentBootstrapVersion(): string {
  if (bootstrapVersion) return bootstrapVersion
  const text = JSON.stringify([
    bootstrapClusterRoles(),
    bootstrapClusterRoleBindings(),
    MANDATORY_PRIORITY_LEVELS,
    MANDATORY_FLOW_SCHEMAS,
    SUGGESTED_PRIORITY_LEVELS,
    SUGGESTED_FLOW_SCHEMAS,
    SYSTEM_NAMESPACES,
  ])
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return (bootstrapVersion = `v1-${h.toString(16)}`)
}

/**
 * bootstrapCluster for a cluster made through the management API, on its first request in each isolate:
 * kube-apiserver reconciles its bootstrap policy on every start, but at the edge a start is every new
 * isolate that serves the cluster, so a cluster that has been bootstrapped with this release's objects is
 * not reconciled again (one read instead of the lists and compares of RBAC and APF on the request path).
 * A release that changes them reconciles each cluster once more; an edit to an auto-updated bootstrap role
 * stays until then.
 */
export async function bootstrapClusterOnce(registry: Registry, store: Store): Promise<void> {
  const version = currentBootstrapVersion()
  const { kv } = await store.get(BOOTSTRAP_MARKER_KEY)
  if (kv?.value === version) return
  await bootstrapCluster(registry, store)
  try {
    if (kv) await store.update(BOOTSTRAP_MARKER_KEY, version, kv.modRevision)
    else await store.create(BOOTSTRAP_MARKER_KEY, version)
  } catch (e) {
    // Another isolate bootstrapped it at the same moment: its marker says the same.
    if (!(e instanceof StoreError)) throw e
  }
}

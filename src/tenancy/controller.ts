// The cluster provisioner, one of the default cluster's control loops: a new Cluster gets its finalizer,
// its settings (credentials) written into its own store, an admin kubeconfig Secret in the default
// cluster, and Ready; a deleted one has its store emptied and fenced, its Secret deleted, and only then
// its finalizer removed, so a half-deleted cluster is never served.
import { encodeBase64 } from '../auth/serviceaccount/tokens'
import {
  isGoneOrSkipped,
  nowTimestamp,
  Skip,
  type ControllerContext,
  type SyncResult,
} from '../controllers/context'
import type { KubeObject } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import {
  ADMIN_KUBECONFIG_NAMESPACE,
  adminKubeconfigSecretName,
  CLUSTER_FINALIZER,
  isClusterName,
  TENANCY_GROUP,
  TENANCY_VERSION,
  type ClusterObject,
} from './api'
import {
  adminKubeconfig,
  clusterServer,
  newClusterSettings,
  type ClusterSettings,
} from './settings'

/** Where the clusters' stores are, from the default cluster's side. */
export interface Tenants {
  /** The cluster's settings, or undefined when it has none (never provisioned, or deleted). */
  settings(name: string): Promise<{ uid: string; settings: ClusterSettings } | undefined>
  /** Makes an empty store the cluster's, with these settings: from now on it serves. */
  provision(name: string, uid: string, settings: ClusterSettings): Promise<void>
  /** Ends serving the cluster and deletes everything its store holds, settings included. */
  destroy(name: string): Promise<void>
  /**
   * Empties the cluster's store but for its settings and bootstraps it anew, as a new cluster: its
   * credentials stay, its watches end, and its revisions go on past every one it handed out.
   */
  reset(name: string): Promise<void>
}

export interface Provisioning {
  tenants: Tenants
  /** Where the deployment is reached (EXTERNAL_URL; Node mode: its advertised address); none: not Ready. */
  externalURL?: string
  /** The CA of the deployment's serving certificate, for kubeconfigs; none when it is publicly trusted. */
  servingCA?: string
}

type Obj = Record<string, any>

export async function syncCluster(
  c: ControllerContext,
  name: string,
  p: Provisioning,
): Promise<SyncResult> {
  const type = c.resources.byGroupResource(TENANCY_GROUP, 'clusters')
  if (!type) return
  const clusters = c.registryStore(type)
  let cluster: ClusterObject
  try {
    cluster = (await clusters.get(undefined, name)) as ClusterObject
  } catch (e) {
    if (isStatusErrorReason(e, 'NotFound')) return
    throw e
  }
  const uid = cluster.metadata!.uid!
  const finalizers = cluster.metadata?.finalizers ?? []

  if (cluster.metadata?.deletionTimestamp) {
    if (!finalizers.includes(CLUSTER_FINALIZER)) return
    await p.tenants.destroy(name)
    await deleteSecret(c, name)
    await updateCluster(c, name, uid, (cur) => {
      cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter(
        (f: string) => f !== CLUSTER_FINALIZER,
      )
      return cur
    })
    return
  }

  if (!finalizers.includes(CLUSTER_FINALIZER)) {
    await updateCluster(c, name, uid, (cur) => {
      cur.metadata.finalizers = [...(cur.metadata.finalizers ?? []), CLUSTER_FINALIZER]
      return cur
    })
    return { requeueAfterMs: 0 }
  }

  const invalid = !isClusterName(name)
  if (invalid || !p.externalURL) {
    await setReady(c, name, uid, {
      status: 'False',
      reason: invalid ? 'InvalidName' : 'NoExternalURL',
      message: invalid
        ? 'a cluster name must be a DNS label: lower case alphanumerics and "-", at most 63'
        : 'the server does not know its own address: set EXTERNAL_URL (or --advertise-address in Node mode)',
    })
    return
  }

  let stored = await p.tenants.settings(name)
  // A store left by an earlier cluster of the same name is emptied first: nothing of it carries over.
  if (stored && stored.uid !== uid) {
    await p.tenants.destroy(name)
    stored = undefined
  }
  const settings =
    stored?.settings ?? (await newClusterSettings({ name, externalURL: p.externalURL }))
  if (!stored) await p.tenants.provision(name, uid, settings)
  // A new spec.resetAt empties a cluster that has been served; a new one is empty already.
  const resetAt = cluster.spec?.resetAt
  if (stored && resetAt && resetAt !== cluster.status?.resetAt) await p.tenants.reset(name)
  const server = clusterServer(p.externalURL, name)
  await writeSecret(c, cluster, adminKubeconfig(name, server, settings, p.servingCA))
  await setReady(
    c,
    name,
    uid,
    { status: 'True', reason: 'Provisioned', message: 'the cluster is served' },
    {
      server,
      adminKubeconfigSecret: {
        namespace: ADMIN_KUBECONFIG_NAMESPACE,
        name: adminKubeconfigSecretName(name),
      },
      ...(resetAt ? { resetAt } : {}),
    },
  )
}

async function updateCluster(
  c: ControllerContext,
  name: string,
  uid: string,
  mutate: (cur: Obj) => Obj,
  subresource: '' | 'status' = '',
): Promise<void> {
  const type = c.resources.byGroupResource(TENANCY_GROUP, 'clusters')!
  try {
    await c.registryStore(type).update(
      undefined,
      name,
      (cur) => {
        if (cur?.metadata?.uid !== uid) throw new Skip()
        return mutate(structuredClone(cur) as Obj) as KubeObject
      },
      c.request,
      subresource,
    )
  } catch (e) {
    if (!isGoneOrSkipped(e)) throw e
  }
}

async function setReady(
  c: ControllerContext,
  name: string,
  uid: string,
  ready: { status: 'True' | 'False'; reason: string; message: string },
  fields: Obj = {},
): Promise<void> {
  await updateCluster(
    c,
    name,
    uid,
    (cur) => {
      const status = (cur.status ??= {})
      const conditions: Obj[] = (status.conditions ??= [])
      const old = conditions.find((x) => x.type === 'Ready')
      const next = {
        type: 'Ready',
        ...ready,
        lastTransitionTime:
          old?.status === ready.status ? old.lastTransitionTime : nowTimestamp(c.now()),
      }
      if (old) Object.assign(old, next)
      else conditions.push(next)
      Object.assign(status, fields)
      return cur
    },
    'status',
  )
}

/** The admin kubeconfig Secret, owned by the Cluster (the garbage collector's backstop). */
async function writeSecret(c: ControllerContext, cluster: ClusterObject, kubeconfig: string) {
  const type = c.resources.byGroupResource('', 'secrets')!
  const name = adminKubeconfigSecretName(cluster.metadata!.name!)
  const data = { kubeconfig: encodeBase64(kubeconfig) }
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: ADMIN_KUBECONFIG_NAMESPACE,
      ownerReferences: [
        {
          apiVersion: `${TENANCY_GROUP}/${TENANCY_VERSION}`,
          kind: 'Cluster',
          name: cluster.metadata!.name!,
          uid: cluster.metadata!.uid!,
        },
      ],
    },
    type: 'Opaque',
    data,
  }
  await c
    .registryStore(type)
    .update(
      ADMIN_KUBECONFIG_NAMESPACE,
      name,
      (cur) => (cur ? ({ ...cur, data } as KubeObject) : (secret as KubeObject)),
      c.request,
      '',
      { forceAllowCreate: true },
    )
}

async function deleteSecret(c: ControllerContext, cluster: string): Promise<void> {
  const type = c.resources.byGroupResource('', 'secrets')!
  try {
    await c
      .registryStore(type)
      .delete(ADMIN_KUBECONFIG_NAMESPACE, adminKubeconfigSecretName(cluster), {}, c.request)
  } catch (e) {
    if (!isStatusErrorReason(e, 'NotFound')) throw e
  }
}

// Two per-namespace publishers of kube-controller-manager: the service account controller's `default`
// ServiceAccount (pkg/controller/serviceaccount/serviceaccounts_controller.go) and the root CA publisher's
// kube-root-ca.crt ConfigMap (pkg/controller/certificates/rootcacertpublisher/publisher.go).
import { storageKey } from '../registry/store'
import type { KubeObject } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import { isGoneOrSkipped, type ControllerContext, type SyncResult } from './context'

export const DEFAULT_SERVICE_ACCOUNT = 'default'
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt'
export const DESCRIPTION_ANNOTATION = 'kubernetes.io/description'
export const ROOT_CA_DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. ' +
  'No other usage is guaranteed across distributions of Kubernetes clusters.'

type Obj = Record<string, any>

export async function syncServiceAccounts(
  c: ControllerContext,
  namespace: string,
): Promise<SyncResult> {
  const nsType = c.resources.byPrefix('namespaces')
  if (!nsType) return
  const { kv } = await c.store.get(storageKey(nsType, undefined, namespace))
  if (!kv) return
  const ns = JSON.parse(kv.value) as KubeObject
  // Both controllers act on active namespaces only; creating in a terminating one is refused anyway.
  if (ns.metadata?.deletionTimestamp || (ns.status as Obj | undefined)?.phase === 'Terminating')
    return
  await ensureDefaultServiceAccount(c, namespace)
  if (c.rootCA) await publishRootCA(c, namespace, c.rootCA)
}

async function ensureDefaultServiceAccount(c: ControllerContext, namespace: string): Promise<void> {
  const type = c.resources.byPrefix('serviceaccounts')
  if (!type) return
  const { kv } = await c.store.get(storageKey(type, namespace, DEFAULT_SERVICE_ACCOUNT))
  if (kv) return
  await createIgnoringRaces(
    c.registryStore(type).create(
      namespace,
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace },
      },
      c.request,
    ),
  )
}

async function publishRootCA(
  c: ControllerContext,
  namespace: string,
  rootCA: string,
): Promise<void> {
  const type = c.resources.byPrefix('configmaps')
  if (!type) return
  const rs = c.registryStore(type)
  const data = { 'ca.crt': rootCA }
  const { kv } = await c.store.get(storageKey(type, namespace, ROOT_CA_CONFIGMAP))
  if (!kv) {
    await createIgnoringRaces(
      rs.create(
        namespace,
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: ROOT_CA_CONFIGMAP,
            namespace,
            annotations: { [DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION },
          },
          data,
        },
        c.request,
      ),
    )
    return
  }
  // The data and the one annotation describing its use must match; anything else on it is left alone.
  const upToDate = (cm: Obj) =>
    JSON.stringify(cm.data ?? {}) === JSON.stringify(data) &&
    !!cm.metadata?.annotations?.[DESCRIPTION_ANNOTATION]
  if (upToDate(JSON.parse(kv.value))) return
  try {
    await rs.update(
      namespace,
      ROOT_CA_CONFIGMAP,
      (cur) => {
        const cm = structuredClone(cur!) as Obj
        if (upToDate(cm)) return cm
        cm.data = data
        cm.metadata.annotations = {
          ...cm.metadata.annotations,
          [DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION,
        }
        return cm
      },
      c.request,
    )
  } catch (e) {
    if (!isGoneOrSkipped(e)) throw e
  }
}

/** A create that someone else made first, or that the namespace's termination refuses, is done. */
async function createIgnoringRaces(p: Promise<unknown>): Promise<void> {
  try {
    await p
  } catch (e) {
    if (
      isStatusErrorReason(e, 'AlreadyExists') ||
      isStatusErrorReason(e, 'NotFound') ||
      isStatusErrorReason(e, 'Forbidden')
    )
      return
    throw e
  }
}

// The customresourcecleanup.apiextensions.k8s.io finalizer (apiextensions-apiserver's finalizer controller):
// once a CustomResourceDefinition is terminating, delete every custom resource it served, and when none is
// left remove the finalizer, which completes the CRD's deletion. Runs after the CRD's DELETE and again
// whenever a custom resource of a terminating CRD is finally removed (one that had finalizers of its own).
import { customresourcedefinitions, setCondition } from '../apiextensions/crd'
import { CLEANUP_FINALIZER, CRD_PREFIX, type CRD } from '../apiextensions/types'
import { decode, RegistryStore } from '../registry/store'
import { ALL_VERBS, type RequestContext, type ResourceType } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import type { Store } from '../storage/store'

const ctx = (): RequestContext => ({
  dryRun: false,
  warnings: [],
  user: { username: 'system:apiserver', groups: ['system:masters'] },
})

/** A bare type over the CRD's storage, enough to delete what is stored there. */
function storageType(crd: CRD): ResourceType {
  const storage = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name
  return {
    group: crd.spec.group,
    version: storage,
    resource: crd.spec.names.plural,
    kind: crd.spec.names.kind,
    listKind: crd.spec.names.listKind ?? `${crd.spec.names.kind}List`,
    singular: crd.spec.names.singular ?? '',
    namespaced: crd.spec.scope === 'Namespaced',
    verbs: ALL_VERBS,
    storagePrefix: `${crd.spec.group}/${crd.spec.names.plural}`,
    custom: true,
    strategy: {},
  }
}

async function setTerminating(
  crds: RegistryStore,
  name: string,
  reason: string,
  message: string,
): Promise<void> {
  await crds.update(
    undefined,
    name,
    (cur) => {
      const crd = cur as CRD
      if (!crd) return cur!
      setCondition(crd, { type: 'Terminating', status: 'True', reason, message })
      return crd
    },
    ctx(),
    'status',
  )
}

export async function finalizeCustomResourceDefinition(store: Store, name: string): Promise<void> {
  const { kv } = await store.get(CRD_PREFIX + name)
  if (!kv) return
  const crd = decode(customresourcedefinitions, kv) as CRD
  if (!crd.metadata?.deletionTimestamp || !crd.metadata.finalizers?.includes(CLEANUP_FINALIZER))
    return
  const crds = new RegistryStore(customresourcedefinitions, store)
  const type = storageType(crd)
  const prefix = `/registry/${type.storagePrefix}/`
  const crs = new RegistryStore(type, store)
  if ((await store.list(prefix, { limit: 1 })).kvs.length) {
    await setTerminating(
      crds,
      name,
      'InstanceDeletionInProgress',
      'CustomResource deletion is in progress',
    )
    const { kvs } = await store.list(prefix)
    for (const item of kvs) {
      const obj = decode(type, item)
      try {
        await crs.delete(
          type.namespaced ? obj.metadata?.namespace : undefined,
          obj.metadata!.name!,
          {},
          ctx(),
        )
      } catch (e) {
        if (!isStatusErrorReason(e, 'NotFound')) throw e
      }
    }
    if ((await store.list(prefix, { limit: 1 })).kvs.length) {
      // Custom resources with finalizers of their own: the last one's removal runs this again.
      await setTerminating(
        crds,
        name,
        'InstanceDeletionCheck',
        'could not confirm zero CustomResources remaining: some instances still have finalizers',
      )
      return
    }
  }
  // Removing the last finalizer of a terminating object deletes it (the generic store's update).
  await setTerminating(crds, name, 'InstanceDeletionCompleted', 'removed all instances')
  await crds
    .update(
      undefined,
      name,
      (cur) => {
        const crd = cur as CRD
        crd.metadata!.finalizers = (crd.metadata!.finalizers ?? []).filter(
          (f) => f !== CLEANUP_FINALIZER,
        )
        return crd
      },
      ctx(),
    )
    .catch((e) => {
      if (!isStatusErrorReason(e, 'NotFound')) throw e
    })
}

/** Every terminating CRD still holding the cleanup finalizer (after a deletecollection). */
export async function finalizeTerminatingCustomResourceDefinitions(store: Store): Promise<void> {
  const { kvs } = await store.list(CRD_PREFIX)
  for (const kv of kvs) {
    const crd = JSON.parse(kv.value) as CRD
    if (crd.metadata?.deletionTimestamp && crd.metadata.finalizers?.includes(CLEANUP_FINALIZER)) {
      await finalizeCustomResourceDefinition(store, kv.key.slice(CRD_PREFIX.length))
    }
  }
}

// apiextensions.k8s.io/v1 CustomResourceDefinition (apiextensions-apiserver's registry/customresourcedefinition
// strategy). What kube-apiserver's naming and establishing controllers write to status happens here,
// synchronously with each write: acceptedNames and the NamesAccepted condition (checked against the other
// CRDs of the group on create), and Established once the names are accepted. A CRD is therefore served as
// soon as its create returns. status.storedVersions gains each new storage version.
import { defineKind } from '../registry/builtin/define'
import type { KubeObject, Strategy } from '../registry/types'
import type { Store } from '../storage/store'
import { validateCRD, validateCRDUpdate } from './crd-validation'
import { CLEANUP_FINALIZER, CRD_PREFIX, type CRD, type CRDCondition, type CRDNames } from './types'

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

/** SetDefaults_CustomResourceDefinition (v1). */
function setDefaults(crd: CRD): void {
  const spec = crd.spec
  if (!spec || typeof spec !== 'object') return
  const names = spec.names
  if (names && typeof names === 'object') {
    if (!names.singular && names.kind) names.singular = names.kind.toLowerCase()
    if (!names.listKind && names.kind) names.listKind = `${names.kind}List`
  }
  spec.conversion ??= { strategy: 'None' }
  const svc = spec.conversion.webhook?.clientConfig?.service
  if (svc && svc.port === undefined) svc.port = 443
}

/** Sets a condition as SetCRDCondition does: lastTransitionTime moves only when status changes. */
export function setCondition(crd: CRD, cond: CRDCondition): void {
  const status = (crd.status ??= {})
  const conditions = (status.conditions ??= [])
  const existing = conditions.find((c) => c.type === cond.type)
  if (!existing) {
    conditions.push({ ...cond, lastTransitionTime: cond.lastTransitionTime ?? now() })
    return
  }
  if (existing.status !== cond.status) existing.lastTransitionTime = now()
  existing.status = cond.status
  existing.reason = cond.reason
  existing.message = cond.message
}

/** The names other CRDs of the group have claimed: plurals, singulars and short names; kinds and list kinds. */
function claimedNames(
  others: CRD[],
  group: string,
): { resources: Set<string>; kinds: Set<string> } {
  const resources = new Set<string>()
  const kinds = new Set<string>()
  for (const o of others) {
    if (o.spec?.group !== group) continue
    const a = o.status?.acceptedNames ?? {}
    for (const r of [a.plural, a.singular, ...(a.shortNames ?? [])]) if (r) resources.add(r)
    for (const k of [a.kind, a.listKind]) if (k) kinds.add(k)
  }
  return { resources, kinds }
}

/**
 * The naming controller's calculateNamesAndConditions and the establishing controller, in one step:
 * accepted names (each accepted unless another CRD of the group holds it), NamesAccepted, and Established.
 */
export function acceptNames(crd: CRD, others: CRD[] = []): void {
  const requested = crd.spec.names
  const accepted = crd.status?.acceptedNames ?? {}
  const next: Partial<CRDNames> = { ...accepted }
  const { resources, kinds } = claimedNames(others, crd.spec.group)
  let conflict: { reason: string; message: string } | undefined
  const fresh = (
    requestedName: string | undefined,
    acceptedName: string | undefined,
    used: Set<string>,
  ) => !requestedName || requestedName === acceptedName || !used.has(requestedName)
  if (fresh(requested.plural, accepted.plural, resources)) next.plural = requested.plural
  else conflict = { reason: 'PluralConflict', message: `"${requested.plural}" is already in use` }
  if (fresh(requested.singular, accepted.singular, resources)) next.singular = requested.singular
  else
    conflict = { reason: 'SingularConflict', message: `"${requested.singular}" is already in use` }
  const shortConflicts = (requested.shortNames ?? []).filter(
    (s) => !(accepted.shortNames ?? []).includes(s) && resources.has(s),
  )
  if (!shortConflicts.length) next.shortNames = requested.shortNames
  else {
    const msgs = shortConflicts.map((s) => `"${s}" is already in use`)
    conflict = {
      reason: 'ShortNamesConflict',
      message: msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`,
    }
  }
  if (fresh(requested.kind, accepted.kind, kinds)) next.kind = requested.kind
  else conflict = { reason: 'KindConflict', message: `"${requested.kind}" is already in use` }
  if (fresh(requested.listKind, accepted.listKind, kinds)) next.listKind = requested.listKind
  else
    conflict = { reason: 'ListKindConflict', message: `"${requested.listKind}" is already in use` }
  next.categories = requested.categories
  for (const k of Object.keys(next) as (keyof CRDNames)[]) if (next[k] === undefined) delete next[k]
  const status = (crd.status ??= {})
  status.acceptedNames = next as CRDNames
  setCondition(
    crd,
    conflict
      ? { type: 'NamesAccepted', status: 'False', ...conflict }
      : {
          type: 'NamesAccepted',
          status: 'True',
          reason: 'NoConflicts',
          message: 'no conflicts found',
        },
  )
  const established = status.conditions!.find((c) => c.type === 'Established')
  if (established?.status === 'True') return
  if (conflict)
    setCondition(
      crd,
      established ?? {
        type: 'Established',
        status: 'False',
        reason: 'NotAccepted',
        message: 'not all names are accepted',
      },
    )
  else
    setCondition(crd, {
      type: 'Established',
      status: 'True',
      reason: 'InitialNamesAccepted',
      message: 'the initial names have been accepted',
    })
}

function storageVersion(crd: CRD): string | undefined {
  return crd.spec?.versions?.find((v) => v.storage)?.name
}

async function otherCRDs(store: Store, name: string | undefined): Promise<CRD[]> {
  const { kvs } = await store.list(CRD_PREFIX)
  return kvs.filter((kv) => kv.key !== CRD_PREFIX + name).map((kv) => JSON.parse(kv.value) as CRD)
}

export const customresourcedefinitions = defineKind({
  group: 'apiextensions.k8s.io',
  version: 'v1',
  resource: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
  shortNames: ['crd', 'crds'],
  categories: ['api-extensions'],
  storagePrefix: 'apiextensions.k8s.io/customresourcedefinitions',
  subresources: { status: true },
  schema: 'ApiextensionsV1CustomResourceDefinition',
  goPackage: 'v1',
  generation: true,
  initialStatus: (obj) => {
    const stored = storageVersion(obj as CRD)
    return { acceptedNames: { plural: '', kind: '' }, storedVersions: stored ? [stored] : [] }
  },
  strategy: crdStrategy(),
})

function crdStrategy(): Strategy & { beforeDelete(obj: KubeObject): KubeObject | undefined } {
  return {
    allowUnconditionalUpdate: false,
    defaults: (obj) => setDefaults(obj as CRD),
    prepareForCreate(obj) {
      // Names are accepted now, as if no other CRD of the group held them; beforeCreate checks the others.
      acceptNames(obj as CRD)
    },
    prepareForUpdate(obj, old) {
      const crd = obj as CRD
      const stored = [...((old as CRD).status?.storedVersions ?? [])]
      const sv = storageVersion(crd)
      if (sv && !stored.includes(sv)) stored.push(sv)
      crd.status = { ...(crd.status ?? {}), storedVersions: stored }
      if (!crd.metadata?.deletionTimestamp) acceptNames(crd)
    },
    validate: (obj) => validateCRD(obj as CRD),
    validateUpdate: (obj, old) => validateCRDUpdate(obj as CRD, old as CRD),
    async beforeCreate(obj, store) {
      const crd = obj as CRD
      const others = await otherCRDs(store, crd.metadata?.name)
      crd.status = { ...crd.status, acceptedNames: { plural: '', kind: '' }, conditions: [] }
      acceptNames(crd, others)
    },
    // The CRD REST's Delete: the first delete marks the CRD terminating with the cleanup finalizer; the
    // finalizer (src/controllers/crd-finalizer.ts) removes its custom resources, then the CRD.
    beforeDelete(obj) {
      const crd = structuredClone(obj) as CRD
      const meta = crd.metadata!
      if (meta.deletionTimestamp) return undefined
      meta.deletionTimestamp = now()
      meta.deletionGracePeriodSeconds = 0
      meta.generation = (meta.generation ?? 1) + 1
      if (!meta.finalizers?.includes(CLEANUP_FINALIZER))
        meta.finalizers = [...(meta.finalizers ?? []), CLEANUP_FINALIZER]
      setCondition(crd, {
        type: 'Terminating',
        status: 'True',
        reason: 'InstanceDeletionPending',
        message:
          'CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon',
      })
      return crd as KubeObject
    },
  }
}

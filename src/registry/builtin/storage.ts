// storage.k8s.io/v1: StorageClass, and what kubelets and CSI drivers read and write (CSIDriver, CSINode,
// CSIStorageCapacity, VolumeAttachment), as pkg/apis/storage/validation and pkg/registry/storage have them.
import {
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  fieldTooLong,
  type FieldError,
} from '../../server/errors'
import { isDNS1123Subdomain, isQualifiedName } from '../validation/names'
import { semanticEqual } from '../validation/equality'
import { validateImmutableField, validateLabelSelector } from '../validation/objectmeta'
import { tryParseQuantity } from '../quantity'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const RECLAIM = ['Delete', 'Recycle', 'Retain']
const BINDING = ['Immediate', 'WaitForFirstConsumer']

function validateStorageClass(sc: Obj): FieldError[] {
  const errs: FieldError[] = []
  if (!sc.provisioner) errs.push(fieldRequired('provisioner'))
  else
    for (const m of isQualifiedName(String(sc.provisioner).toLowerCase()))
      errs.push(fieldInvalid('provisioner', sc.provisioner, m))
  if (sc.reclaimPolicy && !RECLAIM.includes(sc.reclaimPolicy))
    errs.push(fieldNotSupported('reclaimPolicy', sc.reclaimPolicy, RECLAIM))
  if (sc.volumeBindingMode && !BINDING.includes(sc.volumeBindingMode))
    errs.push(fieldNotSupported('volumeBindingMode', sc.volumeBindingMode, BINDING))
  return errs
}

// ValidateStorageClassUpdate: what provisions volumes never changes after creation.
function validateStorageClassUpdate(sc: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = []
  if (!semanticEqual(sc.parameters, old.parameters))
    errs.push(fieldForbidden('parameters', 'updates to parameters are forbidden.'))
  if (sc.provisioner !== old.provisioner)
    errs.push(fieldForbidden('provisioner', 'updates to provisioner are forbidden.'))
  if (sc.reclaimPolicy !== old.reclaimPolicy)
    errs.push(fieldForbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'))
  if (sc.volumeBindingMode !== old.volumeBindingMode)
    errs.push(fieldForbidden('volumeBindingMode', 'field is immutable'))
  return [...errs, ...validateStorageClass(sc)]
}

const isDefault = (o: Obj) => {
  const a = o.metadata?.annotations ?? {}
  return (
    a['storageclass.kubernetes.io/is-default-class'] === 'true' ||
    a['storageclass.beta.kubernetes.io/is-default-class'] === 'true'
  )
}

export const storageclasses = defineKind({
  group: 'storage.k8s.io',
  version: 'v1',
  resource: 'storageclasses',
  kind: 'StorageClass',
  namespaced: false,
  shortNames: ['sc'],
  schema: 'StorageV1StorageClass',
  strategy: {
    defaults(obj) {
      obj.reclaimPolicy ||= 'Delete'
      obj.volumeBindingMode ||= 'Immediate'
    },
    validate: validateStorageClass,
    validateUpdate: validateStorageClassUpdate,
    printer: printer(
      [
        col('Provisioner', 'string', 'provisioner indicates the type of the provisioner.'),
        col(
          'ReclaimPolicy',
          'string',
          'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.',
        ),
        col(
          'VolumeBindingMode',
          'string',
          'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.',
        ),
        col(
          'AllowVolumeExpansion',
          'string',
          'allowVolumeExpansion shows whether the storage class allow volume expand.',
        ),
      ],
      (o) => [
        o.provisioner ?? '',
        o.reclaimPolicy ?? 'Delete',
        o.volumeBindingMode ?? 'Immediate',
        o.allowVolumeExpansion === true,
      ],
      { name: (o) => (isDefault(o) ? `${o.metadata?.name} (default)` : (o.metadata?.name ?? '')) },
    ),
  },
})

/** apivalidation.ValidateCSIDriverName: a lower-cased DNS subdomain of at most 63 characters. */
function validateCSIDriverName(name: unknown, path: string): FieldError[] {
  const s = typeof name === 'string' ? name : ''
  const errs: FieldError[] = []
  if (!s) errs.push(fieldRequired(path))
  if (s.length > 63) errs.push(fieldTooLong(path, s, 63))
  for (const m of isDNS1123Subdomain(s.toLowerCase())) errs.push(fieldInvalid(path, s, m))
  return errs
}

const FS_GROUP_POLICIES = ['File', 'None', 'ReadWriteOnceWithFSType']
const LIFECYCLE_MODES = ['Ephemeral', 'Persistent']

function validateCSIDriver(d: Obj): FieldError[] {
  const spec = d.spec ?? {}
  const errs = validateCSIDriverName(d.metadata?.name, 'name')
  for (const f of ['attachRequired', 'podInfoOnMount', 'storageCapacity', 'requiresRepublish']) {
    if (typeof spec[f] !== 'boolean') errs.push(fieldRequired(`spec.${f}`))
  }
  if (spec.fsGroupPolicy === undefined) errs.push(fieldRequired('spec.fsGroupPolicy'))
  else if (!FS_GROUP_POLICIES.includes(spec.fsGroupPolicy))
    errs.push(fieldNotSupported('spec.fsGroupPolicy', spec.fsGroupPolicy, FS_GROUP_POLICIES))
  ;(Array.isArray(spec.volumeLifecycleModes) ? spec.volumeLifecycleModes : []).forEach(
    (m: string, i: number) => {
      if (!LIFECYCLE_MODES.includes(m))
        errs.push(fieldNotSupported(`spec.volumeLifecycleModes[${i}]`, m, LIFECYCLE_MODES))
    },
  )
  const audiences = new Set<string>()
  ;(Array.isArray(spec.tokenRequests) ? spec.tokenRequests : []).forEach((t: Obj, i: number) => {
    const a = String(t?.audience ?? '')
    if (audiences.has(a)) errs.push(fieldDuplicate(`spec.tokenRequests[${i}].audience`, a))
    audiences.add(a)
    if (typeof t?.expirationSeconds === 'number') {
      if (t.expirationSeconds < 600)
        errs.push(
          fieldInvalid(
            `spec.tokenRequests[${i}].expirationSeconds`,
            t.expirationSeconds,
            'may not specify a duration less than 10 minutes',
          ),
        )
      else if (t.expirationSeconds > 2 ** 32)
        errs.push(
          fieldInvalid(
            `spec.tokenRequests[${i}].expirationSeconds`,
            t.expirationSeconds,
            'may not specify a duration larger than 2^32 seconds',
          ),
        )
    }
  })
  return errs
}

export const csidrivers = defineKind({
  group: 'storage.k8s.io',
  version: 'v1',
  resource: 'csidrivers',
  kind: 'CSIDriver',
  namespaced: false,
  schema: 'StorageV1CSIDriver',
  strategy: {
    // SetDefaults_CSIDriver (seLinuxMount: SELinuxMountReadWriteOncePod is on by default in 1.32).
    defaults(obj) {
      const spec = ((obj.spec as Obj | undefined) ??= {})
      spec.attachRequired ??= true
      spec.podInfoOnMount ??= false
      spec.storageCapacity ??= false
      spec.fsGroupPolicy ??= 'ReadWriteOnceWithFSType'
      if (!Array.isArray(spec.volumeLifecycleModes) || !spec.volumeLifecycleModes.length)
        spec.volumeLifecycleModes = ['Persistent']
      spec.requiresRepublish ??= false
      spec.seLinuxMount ??= false
    },
    validate: validateCSIDriver,
    validateUpdate(obj, old) {
      const errs = validateCSIDriver(obj)
      const spec = (obj.spec ?? {}) as Obj
      const was = (old.spec ?? {}) as Obj
      errs.push(
        ...validateImmutableField(spec.attachRequired, was.attachRequired, 'spec.attachRequired'),
      )
      errs.push(
        ...validateImmutableField(
          spec.volumeLifecycleModes,
          was.volumeLifecycleModes,
          'spec.volumeLifecycleModes',
        ),
      )
      return errs
    },
    printer: printer(
      [
        col(
          'AttachRequired',
          'boolean',
          'attachRequired indicates this CSI volume driver requires an attach operation (because it implements the CSI ControllerPublishVolume() method), and that the Kubernetes attach detach controller should call the attach volume interface which checks the volumeattachment status and waits until the volume is attached before proceeding to mounting. The CSI external-attacher coordinates with CSI volume driver and updates the volumeattachment status when the attach operation is complete. If the value is specified to false, the attach operation will be skipped. Otherwise the attach operation will be called.\n\nThis field is immutable.',
        ),
        col(
          'PodInfoOnMount',
          'boolean',
          'podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations, if set to true. If set to false, pod information will not be passed on mount. Default is false.',
        ),
        col(
          'StorageCapacity',
          'boolean',
          'storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report by creating CSIStorageCapacity objects with capacity information, if set to true.',
        ),
        col(
          'TokenRequests',
          'string',
          "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication. Kubelet will pass the tokens in VolumeContext in the CSI NodePublishVolume calls.",
        ),
        col(
          'RequiresRepublish',
          'boolean',
          'requiresRepublish indicates the CSI driver wants `NodePublishVolume` being periodically called to reflect any possible change in the mounted volume. This field defaults to false.',
        ),
        col(
          'Modes',
          'string',
          'volumeLifecycleModes defines what kind of volumes this CSI volume driver supports. The default if the list is empty is "Persistent", which is the usage defined by the CSI specification and implemented in Kubernetes via the usual PV/PVC mechanism.',
        ),
      ],
      (o) => {
        const spec = o.spec ?? {}
        const tokens: Obj[] = spec.tokenRequests ?? []
        const modes: string[] = spec.volumeLifecycleModes ?? []
        return [
          spec.attachRequired ?? true,
          spec.podInfoOnMount ?? false,
          spec.storageCapacity ?? false,
          tokens.length ? tokens.map((t) => t.audience ?? '').join(',') : '<unset>',
          spec.requiresRepublish ?? false,
          modes.length ? modes.join(',') : '<none>',
        ]
      },
    ),
  },
})

function validateCSINode(n: Obj): FieldError[] {
  const errs: FieldError[] = []
  const names = new Set<string>()
  ;((n.spec?.drivers ?? []) as Obj[]).forEach((d, i) => {
    const path = `spec.drivers[${i}]`
    errs.push(...validateCSIDriverName(d?.name, `${path}.name`))
    if (names.has(d?.name)) errs.push(fieldDuplicate(`${path}.name`, d?.name))
    names.add(d?.name)
    if (!d?.nodeID) errs.push(fieldRequired(`${path}.nodeID`, 'nodeID of the node cannot be empty'))
    else if (String(d.nodeID).length > 256) errs.push(fieldTooLong(`${path}.nodeID`, d.nodeID, 256))
    const keys = new Set<string>()
    ;((d?.topologyKeys ?? []) as string[]).forEach((k, j) => {
      if (!k) errs.push(fieldRequired(`${path}.topologyKeys`))
      if (keys.has(k)) errs.push(fieldDuplicate(`${path}.topologyKeys[${j}]`, k))
      keys.add(k)
      for (const m of isQualifiedName(k)) errs.push(fieldInvalid(`${path}.topologyKeys`, k, m))
    })
    if (typeof d?.allocatable?.count === 'number' && d.allocatable.count < 0) {
      errs.push(
        fieldInvalid(
          `${path}.allocatable.count`,
          d.allocatable.count,
          'must be greater than or equal to 0',
        ),
      )
    }
  })
  return errs
}

export const csinodes = defineKind({
  group: 'storage.k8s.io',
  version: 'v1',
  resource: 'csinodes',
  kind: 'CSINode',
  namespaced: false,
  schema: 'StorageV1CSINode',
  strategy: {
    validate: validateCSINode,
    validateUpdate(obj, old) {
      const errs = validateCSINode(obj)
      // ValidateCSINodeUpdate: a driver entry, once there, keeps its nodeID and topology keys.
      const before = new Map(
        ((old.spec as Obj | undefined)?.drivers ?? []).map((d: Obj) => [d.name, d]),
      )
      ;(((obj.spec as Obj | undefined)?.drivers ?? []) as Obj[]).forEach((d, i) => {
        const was = before.get(d.name) as Obj | undefined
        if (!was) return
        errs.push(...validateImmutableField(d.nodeID, was.nodeID, `spec.drivers[${i}].nodeID`))
        errs.push(
          ...validateImmutableField(
            d.topologyKeys ?? null,
            was.topologyKeys ?? null,
            `spec.drivers[${i}].topologyKeys`,
          ),
        )
      })
      return errs
    },
    printer: printer(
      [
        col(
          'Drivers',
          'integer',
          'drivers is a list of information of all CSI Drivers existing on a node. If all drivers in the list are uninstalled, this can become empty.',
        ),
      ],
      (o) => [(o.spec?.drivers ?? []).length],
    ),
  },
})

function validateCSIStorageCapacity(c: Obj): FieldError[] {
  const errs: FieldError[] = []
  if (!c.storageClassName) errs.push(fieldRequired('storageClassName'))
  else
    for (const m of isDNS1123Subdomain(String(c.storageClassName)))
      errs.push(fieldInvalid('storageClassName', c.storageClassName, m))
  if (c.nodeTopology) errs.push(...validateLabelSelector(c.nodeTopology, 'nodeTopology'))
  for (const f of ['capacity', 'maximumVolumeSize']) {
    const q = c[f] === undefined ? undefined : tryParseQuantity(c[f])
    if (q && q.nano < 0n) errs.push(fieldInvalid(f, c[f], 'must be greater than or equal to 0'))
  }
  return errs
}

export const csistoragecapacities = defineKind({
  group: 'storage.k8s.io',
  version: 'v1',
  resource: 'csistoragecapacities',
  kind: 'CSIStorageCapacity',
  namespaced: true,
  schema: 'StorageV1CSIStorageCapacity',
  strategy: {
    validate: validateCSIStorageCapacity,
    validateUpdate(obj, old) {
      // ValidateCSIStorageCapacityUpdate: only capacity and maximumVolumeSize may change.
      const errs = validateCSIStorageCapacity(obj)
      errs.push(
        ...validateImmutableField(obj.storageClassName, old.storageClassName, 'storageClassName'),
      )
      errs.push(
        ...validateImmutableField(
          obj.nodeTopology ?? null,
          old.nodeTopology ?? null,
          'nodeTopology',
        ),
      )
      return errs
    },
    printer: printer(
      [
        col(
          'StorageClassName',
          'string',
          'storageClassName represents the name of the StorageClass that the reported capacity applies to. It must meet the same requirements as the name of a StorageClass object (non-empty, DNS subdomain). If that object no longer exists, the CSIStorageCapacity object is obsolete and should be removed by its creator. This field is immutable.',
        ),
        col(
          'Capacity',
          'string',
          'capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields.\n\nThe semantic is currently (CSI spec 1.2) defined as: The available capacity, in bytes, of the storage that can be used to provision volumes. If not set, that information is currently unavailable.',
        ),
      ],
      (o) => [o.storageClassName ?? '', o.capacity !== undefined ? String(o.capacity) : '<unset>'],
      { age: 'none' },
    ),
  },
})

function validateVolumeAttachment(va: Obj): FieldError[] {
  const spec = va.spec ?? {}
  const errs = validateCSIDriverName(spec.attacher, 'spec.attacher')
  if (!spec.nodeName) errs.push(fieldRequired('spec.nodeName'))
  else
    for (const m of isDNS1123Subdomain(String(spec.nodeName)))
      errs.push(fieldInvalid('spec.nodeName', spec.nodeName, m))
  const src = spec.source ?? {}
  const hasPV = typeof src.persistentVolumeName === 'string'
  const hasInline = src.inlineVolumeSpec != null
  if (hasPV === hasInline)
    errs.push(
      fieldRequired(
        'spec.source',
        'must specify exactly one of inlineVolumeSpec and persistentVolumeName',
      ),
    )
  else if (hasPV && !src.persistentVolumeName)
    errs.push(
      fieldRequired(
        'spec.source.persistentVolumeName',
        'must specify non empty persistentVolumeName',
      ),
    )
  return errs
}

export const volumeattachments = defineKind({
  group: 'storage.k8s.io',
  version: 'v1',
  resource: 'volumeattachments',
  kind: 'VolumeAttachment',
  namespaced: false,
  subresources: { status: true },
  schema: 'StorageV1VolumeAttachment',
  // volumeAttachmentStrategy.PrepareForCreate: a new attachment is not attached.
  initialStatus: () => ({ attached: false }),
  strategy: {
    validate: validateVolumeAttachment,
    validateUpdate(obj, old) {
      const errs = validateVolumeAttachment(obj)
      // ValidateVolumeAttachmentUpdate: the spec never changes.
      if (!semanticEqual(obj.spec, old.spec))
        errs.push(fieldInvalid('spec', obj.spec, 'field is immutable'))
      return errs
    },
    printer: printer(
      [
        col(
          'Attacher',
          'string',
          'attacher indicates the name of the volume driver that MUST handle this request. This is the name returned by GetPluginName().',
        ),
        col(
          'PV',
          'string',
          'persistentVolumeName represents the name of the persistent volume to attach.',
        ),
        col(
          'Node',
          'string',
          'nodeName represents the node that the volume should be attached to.',
        ),
        col(
          'Attached',
          'boolean',
          'attached indicates the volume is successfully attached. This field must only be set by the entity completing the attach operation, i.e. the external-attacher.',
        ),
      ],
      (o) => [
        o.spec?.attacher ?? '',
        o.spec?.source?.persistentVolumeName ?? '',
        o.spec?.nodeName ?? '',
        o.status?.attached === true,
      ],
    ),
  },
})

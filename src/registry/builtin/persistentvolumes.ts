// core/v1 PersistentVolume and PersistentVolumeClaim.
import { fieldForbidden, fieldRequired, type FieldError } from '../../server/errors'
import { semanticEqual } from '../validation/equality'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const ACCESS_MODE_SHORT: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
}

/** helper.GetAccessModesAsString: the short forms in kube's fixed order. */
function accessModes(modes: unknown): string {
  const set = new Set(Array.isArray(modes) ? modes : [])
  return ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod']
    .filter((m) => set.has(m))
    .map((m) => ACCESS_MODE_SHORT[m])
    .join(',')
}

// The beta annotation still wins over spec.storageClassName, as in helper.GetPersistentVolume(Claim)Class.
const storageClass = (o: Obj) =>
  o.metadata?.annotations?.['volume.beta.kubernetes.io/storage-class'] ??
  o.spec?.storageClassName ??
  ''
const phase = (o: Obj) => (o.metadata?.deletionTimestamp ? 'Terminating' : (o.status?.phase ?? ''))

function validatePV(pv: Obj): FieldError[] {
  const spec = pv.spec ?? {}
  const errs: FieldError[] = []
  if (!(spec.accessModes ?? []).length) errs.push(fieldRequired('spec.accessModes'))
  if (!spec.capacity?.storage) errs.push(fieldRequired('spec.capacity'))
  return errs
}

function validatePVC(pvc: Obj): FieldError[] {
  const spec = pvc.spec ?? {}
  const errs: FieldError[] = []
  if (!(spec.accessModes ?? []).length)
    errs.push(fieldRequired('spec.accessModes', 'at least 1 access mode is required'))
  if (!spec.dataSourceRef && !spec.resources?.requests?.storage)
    errs.push(fieldRequired('spec.resources[storage]'))
  return errs
}

// ValidatePersistentVolumeClaimUpdate: only requests (and the attributes class) move once a claim exists.
function validatePVCUpdate(pvc: Obj, old: Obj): FieldError[] {
  const mask = (spec: Obj | undefined) => {
    const s = { ...(spec ?? {}) }
    delete s.resources
    delete s.volumeAttributesClassName
    // The binder fills volumeName on a claim it binds.
    if (!old.spec?.volumeName) delete s.volumeName
    return s
  }
  const errs = validatePVC(pvc)
  if (!semanticEqual(mask(pvc.spec), mask(old.spec))) {
    errs.unshift(
      fieldForbidden(
        'spec',
        'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
      ),
    )
  }
  return errs
}

export const persistentvolumes = defineKind({
  group: '',
  version: 'v1',
  resource: 'persistentvolumes',
  kind: 'PersistentVolume',
  namespaced: false,
  shortNames: ['pv'],
  returnDeletedObject: true,
  subresources: { status: true },
  schema: 'CoreV1PersistentVolume',
  initialStatus: () => ({ phase: 'Pending' }),
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.persistentVolumeReclaimPolicy ||= 'Retain'
      spec.volumeMode ||= 'Filesystem'
    },
    validate: validatePV,
    printer: printer(
      [
        col(
          'Capacity',
          'string',
          "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
        ),
        col(
          'Access Modes',
          'string',
          'accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes',
        ),
        col(
          'Reclaim Policy',
          'string',
          'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming',
        ),
        col(
          'Status',
          'string',
          'phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase',
        ),
        col(
          'Claim',
          'string',
          'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding',
        ),
        col('StorageClass', 'string', 'StorageClass of the pv'),
        col('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pv'),
        col(
          'Reason',
          'string',
          'reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.',
        ),
      ],
      (o) => [
        o.spec?.capacity?.storage ?? '0',
        accessModes(o.spec?.accessModes),
        o.spec?.persistentVolumeReclaimPolicy ?? '',
        phase(o),
        o.spec?.claimRef ? `${o.spec.claimRef.namespace ?? ''}/${o.spec.claimRef.name ?? ''}` : '',
        storageClass(o),
        o.spec?.volumeAttributesClassName ?? '<unset>',
        o.status?.reason ?? '',
      ],
      {
        wide: [
          col(
            'VolumeMode',
            'string',
            'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.',
            1,
          ),
        ],
        wideCells: (o) => [o.spec?.volumeMode ?? '<unset>'],
      },
    ),
  },
})

export const persistentvolumeclaims = defineKind({
  group: '',
  version: 'v1',
  resource: 'persistentvolumeclaims',
  kind: 'PersistentVolumeClaim',
  namespaced: true,
  shortNames: ['pvc'],
  returnDeletedObject: true,
  subresources: { status: true },
  schema: 'CoreV1PersistentVolumeClaim',
  initialStatus: () => ({ phase: 'Pending' }),
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      spec.volumeMode ||= 'Filesystem'
    },
    validate: validatePVC,
    validateUpdate: validatePVCUpdate,
    printer: printer(
      [
        col('Status', 'string', 'phase represents the current phase of PersistentVolumeClaim.'),
        col(
          'Volume',
          'string',
          'volumeName is the binding reference to the PersistentVolume backing this claim.',
        ),
        col(
          'Capacity',
          'string',
          'capacity represents the actual resources of the underlying volume.',
        ),
        col(
          'Access Modes',
          'string',
          'accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1',
        ),
        col('StorageClass', 'string', 'StorageClass of the pvc'),
        col('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pvc'),
      ],
      (o) => {
        const bound = !!o.spec?.volumeName
        return [
          phase(o),
          o.spec?.volumeName ?? '',
          bound ? (o.status?.capacity?.storage ?? '0') : '',
          bound ? accessModes(o.status?.accessModes) : '',
          storageClass(o),
          o.spec?.volumeAttributesClassName ?? '<unset>',
        ]
      },
      {
        wide: [
          col(
            'VolumeMode',
            'string',
            'volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.',
            1,
          ),
        ],
        wideCells: (o) => [o.spec?.volumeMode ?? '<unset>'],
      },
    ),
  },
})

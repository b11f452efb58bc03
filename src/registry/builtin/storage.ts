// storage.k8s.io/v1 StorageClass.
import { fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../server/errors'
import { isQualifiedName } from '../validation/names'
import { semanticEqual } from '../validation/equality'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const RECLAIM = ['Delete', 'Recycle', 'Retain']
const BINDING = ['Immediate', 'WaitForFirstConsumer']

function validateStorageClass(sc: Obj): FieldError[] {
  const errs: FieldError[] = []
  if (!sc.provisioner) errs.push(fieldRequired('provisioner'))
  else for (const m of isQualifiedName(String(sc.provisioner).toLowerCase())) errs.push(fieldInvalid('provisioner', sc.provisioner, m))
  if (sc.reclaimPolicy && !RECLAIM.includes(sc.reclaimPolicy)) errs.push(fieldNotSupported('reclaimPolicy', sc.reclaimPolicy, RECLAIM))
  if (sc.volumeBindingMode && !BINDING.includes(sc.volumeBindingMode)) errs.push(fieldNotSupported('volumeBindingMode', sc.volumeBindingMode, BINDING))
  return errs
}

// ValidateStorageClassUpdate: what provisions volumes never changes after creation.
function validateStorageClassUpdate(sc: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = []
  if (!semanticEqual(sc.parameters, old.parameters)) errs.push(fieldForbidden('parameters', 'updates to parameters are forbidden.'))
  if (sc.provisioner !== old.provisioner) errs.push(fieldForbidden('provisioner', 'updates to provisioner are forbidden.'))
  if (sc.reclaimPolicy !== old.reclaimPolicy) errs.push(fieldForbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'))
  if (sc.volumeBindingMode !== old.volumeBindingMode) errs.push(fieldForbidden('volumeBindingMode', 'field is immutable'))
  return [...errs, ...validateStorageClass(sc)]
}

const isDefault = (o: Obj) => {
  const a = o.metadata?.annotations ?? {}
  return a['storageclass.kubernetes.io/is-default-class'] === 'true' || a['storageclass.beta.kubernetes.io/is-default-class'] === 'true'
}

export const storageclasses = defineKind({
  group: 'storage.k8s.io', version: 'v1', resource: 'storageclasses', kind: 'StorageClass', namespaced: false, shortNames: ['sc'],
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
        col('ReclaimPolicy', 'string', 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.'),
        col('VolumeBindingMode', 'string', 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.'),
        col('AllowVolumeExpansion', 'string', 'allowVolumeExpansion shows whether the storage class allow volume expand.'),
      ],
      (o) => [o.provisioner ?? '', o.reclaimPolicy ?? 'Delete', o.volumeBindingMode ?? 'Immediate', o.allowVolumeExpansion === true],
      { name: (o) => (isDefault(o) ? `${o.metadata?.name} (default)` : o.metadata?.name ?? '') },
    ),
  },
})

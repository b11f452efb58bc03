// DefaultStorageClass (plugin/pkg/admission/storage/storageclass/setdefault): a PVC that names no class gets the
// class annotated as the cluster default (the newest one, when several claim it).
import { isResource, type AdmissionPlugin } from '../types'

type Obj = Record<string, any>
const IS_DEFAULT = 'storageclass.kubernetes.io/is-default-class'
const BETA_IS_DEFAULT = 'storageclass.beta.kubernetes.io/is-default-class'

export function isDefaultClass(sc: Obj): boolean {
  const ann = sc.metadata?.annotations ?? {}
  return (
    ann[IS_DEFAULT] === 'true' || (ann[IS_DEFAULT] === undefined && ann[BETA_IS_DEFAULT] === 'true')
  )
}

/** GetDefaultClass: the newest default class; on a tie, the name that sorts first. */
export function defaultClass(classes: Obj[]): Obj | undefined {
  const defaults = classes.filter(isDefaultClass)
  defaults.sort((x, y) => {
    const tx = String(x.metadata?.creationTimestamp ?? '')
    const ty = String(y.metadata?.creationTimestamp ?? '')
    if (tx !== ty) return tx > ty ? -1 : 1
    return String(x.metadata?.name) < String(y.metadata?.name) ? -1 : 1
  })
  return defaults[0]
}

export function defaultStorageClass(): AdmissionPlugin {
  return {
    name: 'DefaultStorageClass',
    async admit(a) {
      if (
        a.operation !== 'CREATE' ||
        !isResource(a, '', 'persistentvolumeclaims') ||
        a.subresource ||
        !a.object
      )
        return
      const pvc = a.object as Obj
      pvc.spec ??= {}
      // An explicit class, even "", is the user's choice; so is the beta annotation.
      if (pvc.spec.storageClassName !== undefined && pvc.spec.storageClassName !== null) return
      if (pvc.metadata?.annotations?.['volume.beta.kubernetes.io/storage-class'] !== undefined)
        return
      const def = defaultClass(await a.reader.list('storageclasses', ''))
      if (def) pvc.spec.storageClassName = def.metadata?.name
    },
  }
}

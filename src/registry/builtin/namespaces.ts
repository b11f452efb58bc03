// core/v1 Namespace (pkg/registry/core/namespace/strategy.go).
import { fieldsAt, defineKind, printer, type Obj } from './define'
import { validateNamespaceName } from '../validation/names'
import { col } from '../printers/format'
import { fieldInvalid, type FieldError } from '../../server/errors'
import { isQualifiedName } from '../validation/names'
import { index } from '../validation/path'

function validateFinalizers(obj: Obj): FieldError[] {
  const errs: FieldError[] = []
  ;((obj.spec?.finalizers as string[]) ?? []).forEach((f, i) => {
    for (const msg of isQualifiedName(f))
      errs.push(fieldInvalid(index('spec.finalizers', i), f, msg))
  })
  return errs
}

export const namespaces = defineKind({
  group: '',
  version: 'v1',
  resource: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
  shortNames: ['ns'],
  returnDeletedObject: true,
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: { status: true, finalize: true },
  schema: 'CoreV1Namespace',
  initialStatus: () => ({ phase: 'Active' }),
  strategy: {
    validateName: validateNamespaceName,
    defaults(obj) {
      // SetDefaults_Namespace: every namespace is selectable by its name.
      const meta = (obj.metadata ??= {})
      if (meta.name)
        meta.labels = { ...(meta.labels ?? {}), 'kubernetes.io/metadata.name': meta.name }
    },
    prepareForCreate(obj) {
      obj.spec = { ...(obj.spec as Obj), finalizers: ['kubernetes'] }
    },
    prepareForUpdate(obj, old) {
      // spec.finalizers change only through the finalize subresource.
      obj.spec = { ...(obj.spec as Obj), finalizers: (old.spec as Obj)?.finalizers }
      if ((obj.spec as Obj).finalizers === undefined) delete (obj.spec as Obj).finalizers
    },
    prepareForStatusUpdate(obj, old) {
      obj.spec = old.spec
    },
    prepareForFinalizeUpdate(obj, old) {
      // namespaceFinalizeStrategy: everything but status comes from the request.
      if (old.status === undefined) delete obj.status
      else obj.status = old.status
    },
    beforeDelete(obj, opts) {
      const meta = obj.metadata ?? {}
      // The namespace REST Delete: the first delete moves the namespace to Terminating and leaves the rest to
      // the namespace controller; a later one deletes it only once spec.finalizers is empty.
      if (!meta.deletionTimestamp) {
        meta.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
        obj.status = { ...(obj.status as Obj), phase: 'Terminating' }
        const has = (f: string) => meta.finalizers?.includes(f) ?? false
        const orphan = opts.propagationPolicy ? opts.propagationPolicy === 'Orphan' : has('orphan')
        const foreground = opts.propagationPolicy
          ? opts.propagationPolicy === 'Foreground'
          : has('foregroundDeletion')
        if (orphan !== has('orphan') || foreground !== has('foregroundDeletion')) {
          const finalizers = (meta.finalizers ?? []).filter(
            (f) => f !== 'orphan' && f !== 'foregroundDeletion',
          )
          if (orphan) finalizers.push('orphan')
          if (foreground) finalizers.push('foregroundDeletion')
          meta.finalizers = finalizers
        }
        obj.metadata = meta
        return obj
      }
      return ((obj.spec as Obj)?.finalizers?.length ?? 0) > 0 ? 'keep' : undefined
    },
    deleteDuringUpdate(obj) {
      // ShouldDeleteNamespaceDuringUpdate: metadata.finalizers and spec.finalizers both empty.
      return !(obj.spec as Obj)?.finalizers?.length
    },
    validate: validateFinalizers,
    fieldSelectors: fieldsAt({ 'status.phase': 'status.phase' }),
    printer: printer([col('Status', 'string', 'The status of the namespace')], (o) => [
      o.status?.phase ?? '',
    ]),
  },
})

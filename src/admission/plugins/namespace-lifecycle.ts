// NamespaceLifecycle (k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle): nothing is created in a
// namespace that does not exist or is being terminated, and default, kube-system and kube-public live forever.
import { forbidden, notFound, StatusError } from '../../server/errors'
import { admissionForbidden, isKind, type AdmissionPlugin, type Attributes } from '../types'

const IMMORTAL = new Set(['default', 'kube-system', 'kube-public'])
// Access reviews must not reveal whether a namespace exists.
const ACCESS_REVIEWS = new Set(['authorization.k8s.io/localsubjectaccessreviews'])

export function namespaceLifecycle(): AdmissionPlugin {
  return {
    name: 'NamespaceLifecycle',
    async admit(a: Attributes) {
      if (a.operation === 'CONNECT') return
      const isNamespace = isKind(a, '', 'Namespace')
      if (a.operation === 'DELETE' && isNamespace && IMMORTAL.has(a.name)) {
        throw forbidden(
          { group: '', resource: 'namespaces' },
          a.name,
          'this namespace may not be deleted',
        )
      }
      if (!a.namespace && !isNamespace) return
      if (isNamespace) return
      if (a.operation === 'DELETE') return
      if (ACCESS_REVIEWS.has(`${a.type.group}/${a.type.resource}`)) return

      const ns = await a.reader.get('namespaces', '', a.namespace)
      if (!ns) throw notFound({ group: '', resource: 'namespaces' }, a.namespace)
      // kube's namespace delete sets deletionTimestamp and phase Terminating together.
      const terminating =
        (ns.status as { phase?: string } | undefined)?.phase === 'Terminating' ||
        !!ns.metadata?.deletionTimestamp
      if (a.operation === 'CREATE' && terminating) {
        const err = admissionForbidden(
          a,
          `unable to create new content in namespace ${a.namespace} because it is being terminated`,
        )
        const details = {
          ...err.details,
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${a.namespace} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        }
        throw new StatusError(err.code, err.reason, err.message, details)
      }
    },
  }
}

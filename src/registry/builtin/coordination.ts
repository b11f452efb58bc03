// coordination.k8s.io/v1 Lease.
import { col } from '../printers/format'
import { defineKind, printer } from './define'

export const leases = defineKind({
  group: 'coordination.k8s.io',
  version: 'v1',
  resource: 'leases',
  kind: 'Lease',
  namespaced: true,
  schema: 'CoordinationV1Lease',
  strategy: {
    printer: printer(
      [
        col(
          'Holder',
          'string',
          'holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.',
        ),
      ],
      (o) => [o.spec?.holderIdentity ?? ''],
    ),
  },
})

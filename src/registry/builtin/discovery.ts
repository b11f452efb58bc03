// discovery.k8s.io/v1 EndpointSlice.
import { fieldNotSupported, fieldRequired, type FieldError } from '../../server/errors'
import { validateImmutableField } from '../validation/objectmeta'
import { col, listWithMore } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6']

function validateSlice(s: Obj): FieldError[] {
  if (!s.addressType) return [fieldRequired('addressType')]
  return ADDRESS_TYPES.includes(s.addressType)
    ? []
    : [fieldNotSupported('addressType', s.addressType, ADDRESS_TYPES)]
}

export const endpointslices = defineKind({
  group: 'discovery.k8s.io',
  version: 'v1',
  resource: 'endpointslices',
  kind: 'EndpointSlice',
  namespaced: true,
  schema: 'DiscoveryV1EndpointSlice',
  generation: true,
  strategy: {
    defaults(obj) {
      for (const p of (obj.ports as Obj[]) ?? []) {
        p.name ??= ''
        p.protocol ||= 'TCP'
      }
    },
    validate: validateSlice,
    validateUpdate: (obj, old) => [
      ...validateSlice(obj),
      ...validateImmutableField(obj.addressType, old.addressType, 'addressType'),
    ],
    printer: printer(
      [
        col(
          'AddressType',
          'string',
          'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.',
        ),
        col(
          'Ports',
          'string',
          'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates "all ports". Each slice may include a maximum of 100 ports.',
        ),
        col(
          'Endpoints',
          'string',
          'endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.',
        ),
      ],
      (o) => [
        o.addressType ?? '',
        listWithMore(
          ((o.ports ?? []) as Obj[]).map((p) =>
            p.port != null ? String(p.port) : p.name ? p.name : '*',
          ),
        ),
        listWithMore(
          ((o.endpoints ?? []) as Obj[]).flatMap((e) => (e.addresses ?? []) as string[]),
        ),
      ],
    ),
  },
})

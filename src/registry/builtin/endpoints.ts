// core/v1 Endpoints (etcd key: services/endpoints).
import {
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { isDNS1123Label, isValidIP, isValidPortNum } from '../validation/names'
import { child, index } from '../validation/path'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

const PROTOCOLS = ['SCTP', 'TCP', 'UDP']
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v : [])

function validateEndpoints(ep: Obj): FieldError[] {
  const errs: FieldError[] = []
  list(ep.subsets).forEach((ss, i) => {
    const sp = index('subsets', i)
    for (const field of ['addresses', 'notReadyAddresses']) {
      list(ss[field]).forEach((a, j) => {
        const ap = index(child(sp, field), j)
        if (!isValidIP(a.ip ?? ''))
          errs.push(
            fieldInvalid(
              child(ap, 'ip'),
              a.ip ?? '',
              'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
            ),
          )
      })
    }
    const ports = list(ss.ports)
    ports.forEach((p, j) => {
      const pp = index(child(sp, 'ports'), j)
      if (ports.length > 1 && !p.name) errs.push(fieldRequired(child(pp, 'name')))
      else if (p.name)
        for (const m of isDNS1123Label(p.name))
          errs.push(fieldInvalid(child(pp, 'name'), p.name, m))
      for (const m of isValidPortNum(p.port ?? 0))
        errs.push(fieldInvalid(child(pp, 'port'), p.port ?? 0, m))
      if (!p.protocol) errs.push(fieldRequired(child(pp, 'protocol')))
      else if (!PROTOCOLS.includes(p.protocol))
        errs.push(fieldNotSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS))
    })
  })
  return errs
}

/** formatEndpoints: up to three ip:port pairs, then "+ N more...". */
function formatEndpoints(ep: Obj): string {
  const subsets = list(ep.subsets)
  if (subsets.length === 0) return '<none>'
  const out: string[] = []
  let count = 0
  const host = (ip: string, port?: number) =>
    port === undefined ? ip : ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
  for (const ss of subsets) {
    const addrs = list(ss.addresses)
    const ports = list(ss.ports)
    for (const port of ports.length ? ports : [undefined]) {
      count += addrs.length
      for (const a of addrs) if (out.length < 3) out.push(host(a.ip, port?.port))
    }
  }
  const text = out.join(',')
  return count > 3 ? `${text} + ${count - 3} more...` : text
}

export const endpoints = defineKind({
  group: '',
  version: 'v1',
  resource: 'endpoints',
  kind: 'Endpoints',
  namespaced: true,
  shortNames: ['ep'],
  singular: 'endpoints',
  storagePrefix: 'services/endpoints',
  schema: 'CoreV1Endpoints',
  strategy: {
    defaults(obj) {
      for (const ss of list(obj.subsets)) for (const p of list(ss.ports)) p.protocol ||= 'TCP'
    },
    validate: validateEndpoints,
    printer: printer(
      [
        col(
          'Endpoints',
          'string',
          'The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.',
        ),
      ],
      (o) => [formatEndpoints(o)],
    ),
  },
})

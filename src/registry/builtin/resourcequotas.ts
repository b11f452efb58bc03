// core/v1 ResourceQuota.
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

// printResourceQuota: "resource: used/hard" pairs sorted by name; limits.* go to the LIMIT column.
function quotaCells(q: Obj): [string, string] {
  const hard = (q.status?.hard ?? {}) as Record<string, string>
  const used = (q.status?.used ?? {}) as Record<string, string>
  const request: string[] = []
  const limit: string[] = []
  for (const r of Object.keys(hard).sort()) {
    const text = `${r}: ${used[r] ?? '0'}/${hard[r]}`
    const pieces = r.split('.')
    ;(pieces.length > 1 && pieces[0] === 'limits' ? limit : request).push(text)
  }
  return [request.join(', '), limit.join(', ')]
}

export const resourcequotas = defineKind({
  group: '',
  version: 'v1',
  resource: 'resourcequotas',
  kind: 'ResourceQuota',
  namespaced: true,
  shortNames: ['quota'],
  returnDeletedObject: true,
  subresources: { status: true },
  schema: 'CoreV1ResourceQuota',
  initialStatus: () => ({}),
  strategy: {
    printer: printer(
      [
        col(
          'Request',
          'string',
          'Request represents a minimum amount of cpu/memory that a container may consume.',
        ),
        col(
          'Limit',
          'string',
          'Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.',
        ),
      ],
      (o) => quotaCells(o),
    ),
  },
})

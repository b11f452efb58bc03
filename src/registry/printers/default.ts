// The table kube-apiserver serves for kinds without a printer (rest.DefaultTableConvertor): NAME, CREATED AT.
import type { KubeObject, Printer } from '../types'
import { CREATION_TIMESTAMP_DESCRIPTION, NAME_DESCRIPTION } from './format'

export const defaultPrinter: Printer = {
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION },
    { name: 'Created At', type: 'date', description: CREATION_TIMESTAMP_DESCRIPTION },
  ],
  row: (obj: KubeObject) => [obj.metadata?.name ?? '', obj.metadata?.creationTimestamp ?? null],
}

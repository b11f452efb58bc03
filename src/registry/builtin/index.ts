// The built-in resource table: every kind kube-apiserver serves that this server serves too.
import type { ResourceType } from '../types'
import { admissionregistrationResources } from './admissionregistration'
import { appsResources } from './apps'
import { horizontalpodautoscalers } from './autoscaling'
import { batchResources } from './batch'
import { configmaps } from './configmaps'
import { leases } from './coordination'
import { endpointslices } from './discovery'
import { endpoints } from './endpoints'
import { events, eventsV1 } from './events'
import { limitranges } from './limitranges'
import { namespaces } from './namespaces'
import { networkingResources } from './networking'
import { nodes } from './nodes'
import { persistentvolumeclaims, persistentvolumes } from './persistentvolumes'
import { pods } from './pods'
import { poddisruptionbudgets } from './policy'
import { podtemplates } from './podtemplates'
import { rbacResources } from './rbac'
import { replicationcontrollers } from './replicationcontrollers'
import { resourcequotas } from './resourcequotas'
import { priorityclasses } from './scheduling'
import { secrets } from './secrets'
import { serviceaccounts } from './serviceaccounts'
import { services } from './services'
import { storageclasses } from './storage'
import { customresourcedefinitions } from '../../apiextensions/crd'

export const builtinResources: ResourceType[] = [
  // core/v1
  configmaps, endpoints, events, limitranges, namespaces, nodes, persistentvolumeclaims, persistentvolumes, pods, podtemplates,
  replicationcontrollers, resourcequotas, secrets, serviceaccounts, services,
  ...appsResources,
  ...batchResources,
  leases,
  eventsV1,
  endpointslices,
  ...networkingResources,
  poddisruptionbudgets,
  storageclasses,
  priorityclasses,
  horizontalpodautoscalers,
  ...rbacResources,
  ...admissionregistrationResources,
  customresourcedefinitions,
]

export { SERVICE_CIDR, NODE_PORT_RANGE } from './allocator'

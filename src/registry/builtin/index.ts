// The built-in resource table: every kind kube-apiserver serves that this server serves too.
import type { ResourceType } from '../types'
import { admissionregistrationResources } from './admissionregistration'
import { appsResources } from './apps'
import { horizontalpodautoscalers, horizontalpodautoscalersV1 } from './autoscaling'
import { batchResources } from './batch'
import { componentstatuses } from './componentstatuses'
import { configmaps } from './configmaps'
import { leases } from './coordination'
import { endpointslices } from './discovery'
import { endpoints } from './endpoints'
import { flowcontrolResources } from './flowcontrol'
import { events, eventsV1 } from './events'
import { limitranges } from './limitranges'
import { namespaces } from './namespaces'
import { networkingResources } from './networking'
import { nodes } from './nodes'
import { persistentvolumeclaims, persistentvolumes } from './persistentvolumes'
import { pods as podsType } from './pods'
import { bindingsType, bindingSubresource, evictionSubresource } from './pod-subresources'
import { poddisruptionbudgets } from './policy'
import { podtemplates } from './podtemplates'
import { rbacResources } from './rbac'
import { replicationcontrollers } from './replicationcontrollers'
import { resourcequotas } from './resourcequotas'
import { priorityclasses } from './scheduling'
import { secrets } from './secrets'
import { serviceaccounts } from './serviceaccounts'
import { services } from './services'
import {
  csidrivers,
  csinodes,
  csistoragecapacities,
  storageclasses,
  volumeattachments,
} from './storage'
import { certificatesigningrequests } from './certificates'
import { runtimeclasses } from './node'
import { apiservices } from './apiregistration'
import { customresourcedefinitions } from '../../apiextensions/crd'

// pods/binding and pods/eviction write pods and PodDisruptionBudgets through their own kinds.
const pods: ResourceType = {
  ...podsType,
  createSubresources: {
    binding: bindingSubresource(podsType),
    eviction: evictionSubresource(podsType, poddisruptionbudgets),
  },
}

export const builtinResources: ResourceType[] = [
  // core/v1
  bindingsType(podsType),
  componentstatuses,
  configmaps,
  endpoints,
  events,
  limitranges,
  namespaces,
  nodes,
  persistentvolumeclaims,
  persistentvolumes,
  pods,
  podtemplates,
  replicationcontrollers,
  resourcequotas,
  secrets,
  serviceaccounts,
  services,
  ...appsResources,
  ...batchResources,
  leases,
  eventsV1,
  endpointslices,
  ...networkingResources,
  poddisruptionbudgets,
  storageclasses,
  csidrivers,
  csinodes,
  csistoragecapacities,
  volumeattachments,
  certificatesigningrequests,
  runtimeclasses,
  priorityclasses,
  // v2 first: the group's preferred version.
  horizontalpodautoscalers,
  horizontalpodautoscalersV1,
  ...rbacResources,
  ...admissionregistrationResources,
  ...flowcontrolResources,
  customresourcedefinitions,
  apiservices,
]

export { SERVICE_CIDR, NODE_PORT_RANGE } from './allocator'

// The clusters of a Worker deployment: one ClusterStore Durable Object each, by name (the default cluster's
// is `default`). The provisioner reaches them by RPC; the Worker serves each with its settings.
import type { ClusterStore } from '../storage/durable/cluster-store'
import type { Tenants } from './controller'

export function edgeTenants(namespace: DurableObjectNamespace<ClusterStore>): Tenants {
  return {
    settings: async (name) => (await namespace.getByName(name).tenantSettings()) ?? undefined,
    provision: (name, uid, settings) =>
      namespace.getByName(name).provisionTenant({ uid, settings }),
    destroy: (name) => namespace.getByName(name).destroyTenant(),
    reset: (name) => namespace.getByName(name).resetTenant(),
  }
}

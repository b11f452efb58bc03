// The clusterrole-aggregation controller (pkg/controller/clusterroleaggregation): a ClusterRole with an
// aggregationRule holds the union of the rules of the ClusterRoles its selectors match. The pass itself is
// the RBAC bootstrap's (src/auth/rbac/bootstrap-policy.ts), which runs it once at start; this loop runs it
// again whenever a ClusterRole changes.
import { aggregateClusterRoles } from '../auth/rbac/bootstrap-policy'
import type { ControllerContext, SyncResult } from './context'

export const CLUSTER_ROLES_PREFIX = '/registry/clusterroles/'

export async function syncClusterRoleAggregation(c: ControllerContext): Promise<SyncResult> {
  await aggregateClusterRoles(c.store)
}

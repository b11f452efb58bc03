// The management API of the clusters a deployment serves: tenancy.edge-apiserver.dev/v1alpha1 Cluster,
// cluster-scoped, in the default cluster only. It is a CRD that the default cluster's bootstrap installs
// (kcp serves its own APIs the same way), so discovery, OpenAPI, validation, server-side apply, RBAC and
// kubectl's columns are those of any custom resource.
import { RegistryStore } from '../registry/store'
import type { Registry } from '../registry/registry'
import type { KubeObject } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import type { Store } from '../storage/store'

export const TENANCY_GROUP = 'tenancy.edge-apiserver.dev'
export const TENANCY_VERSION = 'v1alpha1'
export const CLUSTERS_KEY_PREFIX = `/registry/${TENANCY_GROUP}/clusters/`
/** Held until the cluster's data and credentials are gone. */
export const CLUSTER_FINALIZER = `${TENANCY_GROUP}/cleanup`
/** Where a cluster's admin kubeconfig is kept, in the default cluster: readable as any Secret there. */
export const ADMIN_KUBECONFIG_NAMESPACE = 'kube-system'

/** A cluster's name is a DNS label, so that it can also be a host name's first label. */
export function isClusterName(name: string): boolean {
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)
}

export function adminKubeconfigSecretName(cluster: string): string {
  return `cluster-${cluster}-admin-kubeconfig`
}

export interface ClusterObject extends KubeObject {
  spec?: {
    /**
     * Set (to a new value) to empty the cluster: the value is any string, by convention the time it was
     * asked for, as `kubectl rollout restart` sets restartedAt. Done when status.resetAt equals it.
     */
    resetAt?: string
  }
  status?: {
    conditions?: {
      type: string
      status: 'True' | 'False' | 'Unknown'
      reason?: string
      message?: string
      lastTransitionTime?: string
    }[]
    /** The server URL of the cluster: this deployment's address and /clusters/<name>. */
    server?: string
    adminKubeconfigSecret?: { namespace: string; name: string }
    /** The spec.resetAt the cluster was last emptied for. */
    resetAt?: string
  }
}

/** Whether the cluster is served: provisioned (Ready) and not being deleted. */
export function clusterServed(c: ClusterObject): boolean {
  if (c.metadata?.deletionTimestamp) return false
  return c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false
}

const condition = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string' },
    message: { type: 'string' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
  },
}

export const CLUSTERS_CRD: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `clusters.${TENANCY_GROUP}` },
  spec: {
    group: TENANCY_GROUP,
    scope: 'Cluster',
    names: { plural: 'clusters', singular: 'cluster', kind: 'Cluster', listKind: 'ClusterList' },
    versions: [
      {
        name: TENANCY_VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          {
            name: 'Ready',
            type: 'string',
            jsonPath: '.status.conditions[?(@.type=="Ready")].status',
          },
          { name: 'Server', type: 'string', jsonPath: '.status.server' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description:
              'A cluster this deployment serves under /clusters/<name>, with its own store, credentials and types.',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: {
                type: 'object',
                properties: {
                  // A cluster's name is a DNS label: it is also a path segment and may be a host name's label.
                  name: {
                    type: 'string',
                    maxLength: 63,
                    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                  },
                },
              },
              spec: {
                type: 'object',
                properties: {
                  resetAt: {
                    type: 'string',
                    description:
                      'Setting it to a new value (by convention the time) empties the cluster: its objects, ' +
                      'CRDs and RBAC go, and it is bootstrapped as a new one, keeping its name and ' +
                      'credentials. Done when status.resetAt equals it.',
                  },
                },
              },
              status: {
                type: 'object',
                properties: {
                  conditions: { type: 'array', items: condition },
                  server: { type: 'string' },
                  adminKubeconfigSecret: {
                    type: 'object',
                    description: 'The Secret in the default cluster holding an admin kubeconfig.',
                    properties: { namespace: { type: 'string' }, name: { type: 'string' } },
                  },
                  resetAt: {
                    type: 'string',
                    description: 'The spec.resetAt the cluster was last emptied for.',
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
}

/**
 * Installs the Cluster kind (the default cluster's bootstrap); a CRD already there gets this release's
 * versions (a schema with new fields) and is otherwise left as it is, as kube-apiserver's bootstrap
 * reconciles its own objects.
 */
export async function ensureClusterAPI(registry: Registry, store: Store): Promise<void> {
  const crds = registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')
  if (!crds) throw new Error('bootstrap: customresourcedefinitions is not served')
  const rs = new RegistryStore(crds, store)
  const ctx = {
    dryRun: false,
    warnings: [],
    user: { username: 'system:apiserver', groups: ['system:masters'] },
  }
  try {
    await rs.create(undefined, structuredClone(CLUSTERS_CRD), ctx)
    return
  } catch (e) {
    if (!isStatusErrorReason(e, 'AlreadyExists')) throw e
  }
  const versions = (CLUSTERS_CRD.spec as { versions: unknown[] }).versions
  const current = (await rs.get(undefined, CLUSTERS_CRD.metadata!.name!)) as KubeObject
  if (schemas(current) === schemas(CLUSTERS_CRD)) return
  await rs.update(
    undefined,
    CLUSTERS_CRD.metadata!.name!,
    (cur) => {
      const next = structuredClone(cur!) as KubeObject & { spec: { versions: unknown[] } }
      next.spec.versions = structuredClone(versions)
      return next
    },
    ctx,
  )
}

function schemas(crd: KubeObject): string {
  const versions = (crd.spec as { versions?: { name: string; schema?: unknown }[] }).versions ?? []
  return JSON.stringify(versions.map((v) => [v.name, v.schema]))
}

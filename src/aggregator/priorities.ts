// The group and version priorities of the APIServices kube-apiserver registers for its own group versions
// (pkg/controlplane/apiserver/aggregator.go's DefaultGenericAPIServicePriorities and the kube-apiserver
// additions of cmd/kube-apiserver/app): they order groups in discovery and kubectl's output. A group version
// missing from the table gets no APIService, as kube's makeAPIService skips it.

export interface APIServicePriority {
  group: number
  version: number
}

const TABLE: Record<string, APIServicePriority> = {
  v1: { group: 18000, version: 1 },
  'apps/v1': { group: 17800, version: 15 },
  'events.k8s.io/v1': { group: 17750, version: 15 },
  'events.k8s.io/v1beta1': { group: 17750, version: 5 },
  'authentication.k8s.io/v1': { group: 17700, version: 15 },
  'authentication.k8s.io/v1beta1': { group: 17700, version: 9 },
  'authentication.k8s.io/v1alpha1': { group: 17700, version: 1 },
  'authorization.k8s.io/v1': { group: 17600, version: 15 },
  'autoscaling/v1': { group: 17500, version: 15 },
  'autoscaling/v2': { group: 17500, version: 30 },
  'autoscaling/v2beta1': { group: 17500, version: 9 },
  'autoscaling/v2beta2': { group: 17500, version: 1 },
  'batch/v1': { group: 17400, version: 15 },
  'batch/v1beta1': { group: 17400, version: 9 },
  'certificates.k8s.io/v1': { group: 17300, version: 15 },
  'certificates.k8s.io/v1beta1': { group: 17300, version: 9 },
  'certificates.k8s.io/v1alpha1': { group: 17300, version: 1 },
  'networking.k8s.io/v1': { group: 17200, version: 15 },
  'networking.k8s.io/v1beta1': { group: 17200, version: 9 },
  'networking.k8s.io/v1alpha1': { group: 17200, version: 1 },
  'policy/v1': { group: 17100, version: 15 },
  'policy/v1beta1': { group: 17100, version: 9 },
  'rbac.authorization.k8s.io/v1': { group: 17000, version: 15 },
  'storage.k8s.io/v1': { group: 16800, version: 15 },
  'storage.k8s.io/v1beta1': { group: 16800, version: 9 },
  'storage.k8s.io/v1alpha1': { group: 16800, version: 1 },
  'apiextensions.k8s.io/v1': { group: 16700, version: 15 },
  'admissionregistration.k8s.io/v1': { group: 16700, version: 15 },
  'admissionregistration.k8s.io/v1beta1': { group: 16700, version: 12 },
  'admissionregistration.k8s.io/v1alpha1': { group: 16700, version: 9 },
  'scheduling.k8s.io/v1': { group: 16600, version: 15 },
  'coordination.k8s.io/v1': { group: 16500, version: 15 },
  'coordination.k8s.io/v1beta1': { group: 16500, version: 13 },
  'coordination.k8s.io/v1alpha2': { group: 16500, version: 12 },
  'node.k8s.io/v1': { group: 16300, version: 15 },
  'node.k8s.io/v1alpha1': { group: 16300, version: 1 },
  'node.k8s.io/v1beta1': { group: 16300, version: 9 },
  'discovery.k8s.io/v1': { group: 16200, version: 15 },
  'discovery.k8s.io/v1beta1': { group: 16200, version: 12 },
  'flowcontrol.apiserver.k8s.io/v1': { group: 16100, version: 21 },
  'flowcontrol.apiserver.k8s.io/v1beta3': { group: 16100, version: 18 },
  'flowcontrol.apiserver.k8s.io/v1beta2': { group: 16100, version: 15 },
  'flowcontrol.apiserver.k8s.io/v1beta1': { group: 16100, version: 12 },
  'flowcontrol.apiserver.k8s.io/v1alpha1': { group: 16100, version: 9 },
  'internal.apiserver.k8s.io/v1alpha1': { group: 16000, version: 9 },
  'resource.k8s.io/v1beta1': { group: 15900, version: 15 },
  'resource.k8s.io/v1alpha3': { group: 15900, version: 9 },
  'storagemigration.k8s.io/v1alpha1': { group: 15800, version: 9 },
}

/** crdregistration_controller.go: every CRD version is group 1000, version 100 (then ordered by name). */
export const CRD_PRIORITY: APIServicePriority = { group: 1000, version: 100 }

/** The aggregator's own group is listed before every other (APIRegistrationGroupPriority, 20001). */
export const APIREGISTRATION_GROUP_PRIORITY = 20001

export function builtinPriority(group: string, version: string): APIServicePriority | undefined {
  return TABLE[group ? `${group}/${version}` : version]
}

/** An APIService's name: <version>.<group> ("v1." for the legacy group). */
export function apiServiceName(group: string, version: string): string {
  return `${version}.${group}`
}

/**
 * version.CompareKubeAwareVersionStrings: GA before beta before alpha, higher numbers first, and versions
 * that do not look like Kubernetes versions after those that do, by name.
 */
export function compareKubeAwareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v)
    if (!m) return undefined
    return {
      major: Number(m[1]),
      rank: m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2,
      minor: Number(m[3] ?? 0),
    }
  }
  const x = parse(a)
  const y = parse(b)
  if (x && !y) return -1
  if (!x && y) return 1
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0
  if (x.rank !== y.rank) return y.rank - x.rank
  if (x.major !== y.major) return y.major - x.major
  return y.minor - x.minor
}

// The admission seam (k8s.io/apiserver/pkg/admission): what a plugin sees of a request, and the two phases
// every write passes through, mutating then validating, as kube-apiserver runs them.
import { forbidden, type StatusError } from '../server/errors'
import type { KubeObject, ResourceType, UserInfo } from '../registry/types'
import type { ApiserverMetrics } from '../metrics/apiserver'
import type { Store } from '../storage/store'
import type { ObjectReader } from './reader'

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT'

/** admission.Attributes: everything a plugin may know about one request. */
export interface Attributes {
  operation: Operation
  /** The kind being written (its group, version, resource and kind). */
  type: ResourceType
  /**
   * The object's own kind where a subresource takes one (pods/eviction an Eviction, pods/binding a Binding),
   * as a.GetKind() tells it; the resource's kind when absent.
   */
  kind?: { group: string; version: string; kind: string }
  subresource: string
  /** '' for cluster-scoped kinds. */
  namespace: string
  /** The object's name; '' on a create that only has generateName. */
  name: string
  /** The incoming object; plugins in the mutating phase change it in place. Absent on DELETE. */
  object?: KubeObject
  /** The stored object on UPDATE and DELETE. */
  oldObject?: KubeObject
  /** CreateOptions, UpdateOptions or DeleteOptions (meta.k8s.io/v1), as webhooks receive them. */
  options?: KubeObject
  dryRun: boolean
  user?: UserInfo
  /** The cluster's Store, for plugins that read other objects (LimitRange, ResourceQuota, ...) or write quota status. */
  store: Store
  /** Memoized reads of other objects for this request. */
  reader: ObjectReader
  /** The series of the request's cluster (admission latencies); none for the server's own loops. */
  metrics?: ApiserverMetrics
  /** `Warning:` headers for the response. */
  warnings: string[]
  /** Audit annotations added by plugins (webhooks, PodSecurity, policies). */
  annotations: Record<string, string>
  /** Work to do once the write is stored (quota replenishment), or undone if it is not. */
  onCommit(fn: () => Promise<void>): void
  onAbort(fn: () => Promise<void>): void
}

/** One admission plugin. A plugin may take part in either phase or both. */
export interface AdmissionPlugin {
  readonly name: string
  /** Mutating phase (admission.MutationInterface). */
  admit?(a: Attributes): Promise<void>
  /** Validating phase (admission.ValidationInterface); must not change the object. */
  validate?(a: Attributes): Promise<void>
}

/** What RegistryStore calls: the whole chain as one. */
export interface Admission {
  admit(a: Attributes): Promise<void>
  validate(a: Attributes): Promise<void>
}

/**
 * admission.NewForbidden: "<resource> \"<name>\" is forbidden: <why>", the name taken from the object (its
 * generateName before a name is generated), "Unknown" when there is no object.
 */
export function admissionForbidden(a: Attributes, why: string): StatusError {
  let name = 'Unknown'
  const meta = a.object?.metadata
  if (a.object) {
    if (meta?.name) name = meta.name
    else if (meta?.generateName) name = meta.generateName
  }
  return forbidden({ group: a.type.group, resource: a.type.resource }, name, why)
}

/** The kind's group/kind, as plugins compare it (a.GetKind().GroupKind()). */
export function isKind(a: Attributes, group: string, kind: string): boolean {
  return a.type.group === group && a.type.kind === kind
}

export function isResource(a: Attributes, group: string, resource: string): boolean {
  return a.type.group === group && a.type.resource === resource
}

// What every control loop is handed: the Store, the kinds, and the identity its writes are made as.
import type { Authorizer } from '../auth/authorizer'
import type { RegistryStore } from '../registry/store'
import type { KubeObject, RequestContext, ResourceType } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import type { Store } from '../storage/store'
import type { ClusterSigner } from '../auth/certificate-authority'
import type { ResourceTable } from './resources'

export interface ControllerContext {
  store: Store
  resources: ResourceTable
  /** The request context the loops write with (kube-controller-manager's identity; never a dry run). */
  request: RequestContext
  /** The cluster CA bundle published as kube-root-ca.crt; without it no ConfigMap is published. */
  rootCA?: string
  /** The server's authorizer, for csrapproving's SubjectAccessReviews; without it nothing is auto-approved. */
  authorizer?: Authorizer
  /** csrsigning's CA; without it approved requests wait for another signer. */
  signer?: ClusterSigner
  now(): number
  log(msg: string): void
  registryStore(type: ResourceType): RegistryStore
}

/** What a sync asks of its queue: nothing (done), or to run again after a while. */
export type SyncResult = void | { requeueAfterMs: number }

export const CONTROLLER_USER = {
  username: 'system:kube-controller-manager',
  groups: ['system:authenticated'],
}

export function controllerRequest(): RequestContext {
  return { dryRun: false, warnings: [], user: CONTROLLER_USER }
}

/**
 * certificates.IgnorableError: the sync could not finish for an expected reason (a request its requester may
 * not have approved yet); it is retried with backoff like any failure, but not logged as one.
 */
export class IgnorableError extends Error {}

/** Thrown from an update's mutate to leave the object alone (it is not the object the loop meant). */
export class Skip extends Error {
  constructor() {
    super('skip')
  }
}

/** Someone else got there first: the object is gone, changed its uid, or its namespace is going away. */
export function isGoneOrSkipped(e: unknown): boolean {
  return (
    e instanceof Skip || isStatusErrorReason(e, 'NotFound') || isStatusErrorReason(e, 'Conflict')
  )
}

/** metav1.Now() as it serializes: RFC 3339 with seconds. */
export function nowTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')
}

export function finalizersOf(obj: KubeObject): string[] {
  return obj.metadata?.finalizers ?? []
}

// The resource-type table and the per-kind strategy seam (the role of k8s.io/apiserver's
// rest.RESTCreateStrategy / RESTUpdateStrategy and the generic registry store's options).
import type { AuditRecorder } from '../audit/request'
import type { AuthContext } from '../auth/context'
import type { FieldError } from '../server/errors'
import type { ApiserverMetrics } from '../metrics/apiserver'
import type { Store } from '../storage/store'
import type { TypeSchema } from './schema/types'
import type { RegistryStore } from './store'

/** A Kubernetes object as JSON. Strategies work on plain objects; schemas validate their shape. */
export type KubeObject = {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
  [field: string]: unknown
}

export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  finalizers?: string[]
  ownerReferences?: OwnerReference[]
  managedFields?: unknown[]
  [field: string]: unknown
}

export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

export interface UserInfo {
  username: string
  uid?: string
  groups: string[]
  extra?: Record<string, string[]>
}

/** What a strategy may know about the request it serves. */
export interface RequestContext {
  user?: UserInfo
  namespace?: string
  dryRun: boolean
  /** Warnings to return in `Warning: 299 - "..."` headers. */
  warnings: string[]
  /** Audit annotations added by admission plugins (webhooks, PodSecurity, policies) for the audit log. */
  auditAnnotations?: Record<string, string>
  /** The request's audit event, for the handlers that log the request object into it. */
  audit?: AuditRecorder
  /** The request's authorizer and credentials machinery, for kinds that answer with them (reviews, TokenRequest). */
  auth?: AuthContext
  /** The series of the request's cluster (admission latencies); none for the server's own loops. */
  metrics?: ApiserverMetrics
  /**
   * When the request is answered at the latest (epoch ms; the request deadline filter's): its store
   * writes end by then, as kube's end with the request context. None for long-running requests and loops.
   */
  deadline?: number
}

/** A POST answered by code rather than by storing the body: the review kinds, and subresources like serviceaccounts/token. */
export interface VirtualCreateRequest {
  store: Store
  ctx: RequestContext
  /** The request's namespace (empty for cluster-scoped kinds). */
  namespace: string
  /** The parent object's name, for a subresource. */
  name: string
  /** A registry store for another kind, with the request's admission (pods/eviction deletes the pod). */
  storeFor?(t: ResourceType): RegistryStore
}

/**
 * A subresource that reads the whole object and writes only part of it, as kube's per-subresource strategies
 * do (the CSR approval strategy, the pod ephemeral containers strategy).
 */
export interface UpdateSubresource {
  /** obj is the client's object: make it old with only what this subresource may change taken from obj. */
  prepareForUpdate(obj: KubeObject, old: KubeObject, ctx: RequestContext): void
  /** The subresource's own update validation; the kind's validateUpdate when unset. */
  validateUpdate?(obj: KubeObject, old: KubeObject, ctx: RequestContext): FieldError[]
  /** Checks that need the store or the requester (an admission plugin of its own); throws the StatusError. */
  beforeWrite?(obj: KubeObject, old: KubeObject, store: Store, ctx: RequestContext): Promise<void>
  /** The fields a write through it owns for server-side apply (["status", "conditions"]). */
  ownedFields: string[][]
}

export interface CreateSubresource {
  group: string
  version: string
  kind: string
  create(obj: KubeObject, req: VirtualCreateRequest): Promise<KubeObject>
}

/** One column of a Table (meta.k8s.io/v1) as kubectl prints it. */
export interface PrinterColumn {
  name: string
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date'
  format?: string
  description: string
  /** Shown only with -o wide. */
  priority?: 0 | 1
}

export interface Printer {
  columns: PrinterColumn[]
  /** One cell per column, in order; the Name column included. */
  row(obj: KubeObject): unknown[]
}

/** Where the scale subresource reads and writes replicas, as JSON paths without the leading dot. */
export interface ScaleSpec {
  specReplicasPath: string
  statusReplicasPath: string
  labelSelectorPath?: string
}

export interface TypeMismatch {
  /** encoding/json's UnmarshalTypeError text ("json: cannot unmarshal string into Go struct field ..."). */
  message: string
  /** The value that does not fit, and the Go type it was to go into ("map[string]string", "int32", "v1.ObjectMeta"). */
  value: unknown
  goType: string
}

export interface Strategy {
  /** Fill in defaults the way the kind's SetDefaults_* functions do. */
  defaults?(obj: KubeObject): void
  /**
   * The first value, in document order, whose JSON type the kind's Go struct cannot take (what encoding/json
   * and the unstructured converter fail on); undefined when the object decodes. Built-in kinds only.
   */
  typeMismatch?(obj: KubeObject): TypeMismatch | undefined
  /** Reset fields a create may not set (status for kinds with a status subresource). */
  prepareForCreate?(obj: KubeObject, ctx: RequestContext): void
  /** Carry over fields an update of the main resource may not change (status, for example). */
  prepareForUpdate?(obj: KubeObject, old: KubeObject, ctx: RequestContext): void
  validate?(obj: KubeObject, ctx: RequestContext): FieldError[]
  validateUpdate?(obj: KubeObject, old: KubeObject, ctx: RequestContext): FieldError[]
  /**
   * For a status subresource update, after everything but status was taken from old: what else to keep. `sent`
   * is the object as the client sent it (autoscaling/v1 HPAs carry status in annotations).
   */
  prepareForStatusUpdate?(obj: KubeObject, old: KubeObject, sent?: KubeObject): void
  /** The status subresource's own update validation, when it differs from validateUpdate (CSR's may set a certificate). */
  validateStatusUpdate?(obj: KubeObject, old: KubeObject, ctx: RequestContext): FieldError[]
  /** PUT on a missing object creates it (kube-apiserver: true for a few kinds like Lease? no: for none of ours by default). */
  allowCreateOnUpdate?: boolean
  /**
   * A PUT without metadata.resourceVersion (or with "0") overwrites whatever is stored (the strategy's
   * AllowUnconditionalUpdate). Default: it does, as for most kinds; false demands the version, as for
   * CRDs, custom resources and admission configuration.
   */
  allowUnconditionalUpdate?: boolean
  /** metadata.generation is 1 on create and moves when the spec changes (kinds with a spec and status). */
  trackGeneration?: boolean
  /** Fields whose change moves metadata.generation. Default: everything but metadata and status. */
  specChanged?(obj: KubeObject, old: KubeObject): boolean
  /** Field selector keys beyond metadata.name/metadata.namespace, with how to read them. */
  fieldSelectors?: Record<string, (obj: KubeObject) => string | undefined>
  printer?: Printer
  /** Name rules for metadata.name/generateName: kube-apiserver's NameIsDNSSubdomain unless a kind says otherwise. Returns messages. */
  validateName?(name: string, prefix: boolean): string[]
  /**
   * Work before a create is stored that needs the store: allocating a Service's clusterIP, for example.
   * Must be undone by afterDelete; runs after validation, skipped on dryRun.
   */
  beforeCreate?(obj: KubeObject, store: Store, ctx?: RequestContext): Promise<void>
  /**
   * Checks that need the store or the requester before a create (old undefined) or update is stored, dryRun
   * included: RBAC's escalation prevention, for example. Throws the StatusError to answer with. `subresource`
   * is the one an update writes through ('' for the main resource, 'status').
   */
  beforeWrite?(
    obj: KubeObject,
    old: KubeObject | undefined,
    store: Store,
    ctx: RequestContext,
    subresource?: string,
  ): Promise<void>
  /** Release what beforeCreate took, once the object is finally removed. */
  afterDelete?(obj: KubeObject, store: Store): Promise<void>
  /**
   * A delete that is a state change first, as kube's namespace REST Delete: returns the object to store in
   * place of deleting it (the client gets it back, not deleted), 'keep' to answer with the object as it is,
   * or undefined to go on with the generic delete.
   */
  beforeDelete?(
    obj: KubeObject,
    opts: { propagationPolicy?: 'Orphan' | 'Background' | 'Foreground' },
  ): KubeObject | 'keep' | undefined
  /**
   * Whether an update that leaves a deleting object without metadata.finalizers removes it (the generic
   * store's ShouldDeleteDuringUpdate; namespaces also wait for spec.finalizers). Default: it does.
   */
  deleteDuringUpdate?(obj: KubeObject): boolean
  /** The finalize subresource's update (namespaces/finalize): keep what it may not change from old. */
  prepareForFinalizeUpdate?(obj: KubeObject, old: KubeObject): void
}

export interface ResourceType {
  group: string
  version: string
  resource: string
  kind: string
  listKind: string
  singular: string
  namespaced: boolean
  shortNames?: string[]
  categories?: string[]
  verbs: string[]
  /** The etcd key segment after /registry/ (kube-apiserver's layout: "services/specs", "minions", "ingress"). */
  storagePrefix: string
  /** Subresources served under the resource. */
  subresources?: {
    status?: boolean
    scale?: ScaleSpec
    /** PUT-only namespaces/finalize. */
    finalize?: boolean
    /** Other get/update/patch views of the object (certificatesigningrequests/approval, pods/ephemeralcontainers). */
    updates?: Record<string, UpdateSubresource>
  }
  /** This type is a view of another type's storage (events.k8s.io/v1 Event over core/v1 Event). */
  convert?: {
    toStorage(obj: KubeObject): KubeObject
    fromStorage(obj: KubeObject): KubeObject
    /** Whether fromStorage leaves an object stored with this apiVersion as it is (a list may then write it out as stored). */
    unchanged?(storedApiVersion: string): boolean
  }
  /**
   * Conversion that calls out (a CRD's Webhook strategy), in batches: a list page or a watch event is one call.
   * Only the RegistryStore and watch use it; a plain decode() of such a type gives the object as stored, which
   * is all that controllers reading metadata need.
   */
  convertBatch?: {
    toStorage(objs: KubeObject[], store: Store): Promise<KubeObject[]>
    fromStorage(objs: KubeObject[], store: Store): Promise<KubeObject[]>
  }
  /** The apiVersion objects are stored with; defaults to this type's group/version. */
  storageVersion?: string
  /** Served from a CustomResourceDefinition: no strategic merge patch, schema from the CRD. */
  custom?: boolean
  /**
   * The kind's structural schema: published in OpenAPI, and used to prune and report unknown fields and to
   * track field ownership for server-side apply. Built-in kinds fall back to the built-in table when unset;
   * a custom resource without one is treated as schemaless (x-kubernetes-preserve-unknown-fields).
   */
  schema?(): TypeSchema | undefined
  /** DELETE answers with the deleted object rather than a Success Status (pods, services, namespaces). */
  returnDeletedObject?: boolean
  /** Create-only kinds that are never stored (SubjectAccessReview, TokenReview): POST answers with what this returns. */
  virtualCreate?(obj: KubeObject, req: VirtualCreateRequest): Promise<KubeObject>
  /** Subresources that take a POST of their own kind (serviceaccounts/token takes a TokenRequest). */
  createSubresources?: Record<string, CreateSubresource>
  /**
   * Read-only kinds computed on each read rather than stored (ComponentStatus): get and list answer with
   * what these return.
   */
  virtualRead?: VirtualRead
  /** The warning every request for the kind carries ("v1 ComponentStatus is deprecated in v1.19+"). */
  deprecationWarning?: string
  strategy: Strategy
}

/** What a computed read may use: the store, and the runtime's HTTP health probe. */
export interface VirtualReadRequest {
  store: Store
  /** GETs a URL as kube's HTTP prober does (TLS unverified where the runtime can), within the timeout. */
  probe?: HTTPProbe
}

/** An HTTP GET's status and body; throws on transport errors with Go's wording. */
export type HTTPProbe = (
  url: string,
  timeoutMs: number,
) => Promise<{ status: number; body: string }>

export interface VirtualRead {
  /** The object, or a thrown StatusError (NotFound) when there is none. */
  get(name: string, req: VirtualReadRequest): Promise<KubeObject>
  list(req: VirtualReadRequest): Promise<KubeObject[]>
}

export const ALL_VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
]

export function groupVersion(t: { group: string; version: string }): string {
  return t.group ? `${t.group}/${t.version}` : t.version
}

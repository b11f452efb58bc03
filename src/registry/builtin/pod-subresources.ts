// The pod subresources a scheduler, kubectl drain and kubectl debug use, as kube-apiserver's pod storage has
// them (pkg/registry/core/pod/storage/storage.go, eviction.go; pkg/registry/core/pod/strategy.go):
// pods/binding and the bindings collection (BindingREST, LegacyBindingREST), pods/eviction (EvictionREST)
// and pods/ephemeralcontainers (the ephemeral containers strategy).
import {
  badRequest,
  conflict,
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  fieldErrorString,
  forbidden,
  StatusError,
  type FieldError,
} from '../../server/errors'
import { isDNS1123Label } from '../validation/names'
import { semanticEqual } from '../validation/equality'
import type { RegistryStore } from '../store'
import type {
  CreateSubresource,
  KubeObject,
  ResourceType,
  UpdateSubresource,
  VirtualCreateRequest,
} from '../types'
import { selectorMatches } from './workload'
import { defaultPod } from './podspec'
import type { Obj } from './define'

const PODS = { group: '', resource: 'pods' }
const BINDING_GR = { group: '', resource: 'pods/binding' }
const success = (): KubeObject => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Success',
})
const rfc3339 = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

/** An error that is not an API status: kube-apiserver answers 500 with its text and no reason. */
const plainError = (message: string) => new StatusError(500, '' as never, message)

function checkTypeMeta(obj: KubeObject, apiVersion: string, kind: string): void {
  if (obj.kind !== undefined && obj.kind !== kind)
    throw badRequest(
      `the kind in the data (${obj.kind}) does not match the expected kind (${kind})`,
    )
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
    throw badRequest(
      `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion})`,
    )
  }
}

function podsStore(req: VirtualCreateRequest, pods: ResourceType): RegistryStore {
  if (!req.storeFor) throw new Error('pod subresources need a registry store')
  return req.storeFor(pods)
}

// ---- binding ----

/** ValidatePodBinding. */
function validateBinding(binding: Obj): FieldError[] {
  const errs: FieldError[] = []
  const target = binding.target ?? {}
  if (target.kind && target.kind !== 'Node')
    errs.push(fieldNotSupported('target.kind', target.kind, ['Node', '<empty>']))
  if (!target.name) errs.push(fieldRequired('target.name'))
  return errs
}

/** BindingREST.Create: sets spec.nodeName of an unbound pod, copies the binding's annotations, marks PodScheduled. */
async function bind(
  binding: KubeObject,
  name: string,
  req: VirtualCreateRequest,
  pods: ResourceType,
  admitAs: { type: ResourceType; subresource: string },
): Promise<KubeObject> {
  checkTypeMeta(binding, 'v1', 'Binding')
  const meta = binding.metadata ?? {}
  if (name !== (meta.name ?? ''))
    throw badRequest('name in URL does not match name in Binding object')
  const errs = validateBinding(binding)
  // The strategy-less BindingREST returns the aggregate, which is not an API status.
  if (errs.length)
    throw plainError(
      errs.length === 1 ? fieldErrorString(errs[0]) : `[${errs.map(fieldErrorString).join(', ')}]`,
    )
  await podsStore(req, admitAs.type).admitSubresourceCreate(
    req.namespace,
    name,
    binding,
    { group: '', version: 'v1', kind: 'Binding' },
    req.ctx,
    admitAs.subresource,
  )
  const node = String((binding.target as Obj).name)
  await podsStore(req, pods).guaranteedUpdate(
    req.namespace,
    name,
    (pod) => {
      const pm = pod.metadata!
      const spec = (pod.spec ??= {}) as Obj
      const fail = (why: string) => conflict(BINDING_GR, name, why)
      if (pm.deletionTimestamp)
        throw fail(`pod ${pm.name} is being deleted, cannot be assigned to a host`)
      if (meta.uid && pm.uid !== meta.uid)
        throw fail(
          `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${pm.uid}`,
        )
      if (meta.resourceVersion && pm.resourceVersion !== meta.resourceVersion) {
        throw fail(
          `Precondition failed: ResourceVersion in precondition: ${meta.resourceVersion}, ResourceVersion in meta: ${pm.resourceVersion}`,
        )
      }
      if (spec.nodeName)
        throw fail(`pod ${pm.name} is already assigned to node ${JSON.stringify(spec.nodeName)}`)
      if (Array.isArray(spec.schedulingGates) && spec.schedulingGates.length)
        throw fail(`pod ${pm.name} has non-empty .spec.schedulingGates`)
      spec.nodeName = node
      if (meta.annotations) pm.annotations = { ...pm.annotations, ...meta.annotations }
      updatePodCondition(pod, { type: 'PodScheduled', status: 'True' })
      return pod
    },
    { dryRun: req.ctx.dryRun },
  )
  return success()
}

/** podutil.UpdatePodCondition: a new or changed condition transitions now; an unchanged status keeps its time. */
function updatePodCondition(pod: KubeObject, condition: Obj): void {
  const status = (pod.status ??= {}) as Obj
  const conditions: Obj[] = (status.conditions ??= [])
  const c: Obj = { ...condition, lastProbeTime: null, lastTransitionTime: rfc3339() }
  const i = conditions.findIndex((x) => x.type === condition.type)
  if (i < 0) conditions.push(c)
  else {
    if (conditions[i].status === c.status) c.lastTransitionTime = conditions[i].lastTransitionTime
    conditions[i] = { ...conditions[i], ...c }
  }
}

export function bindingSubresource(pods: ResourceType): CreateSubresource {
  return {
    group: '',
    version: 'v1',
    kind: 'Binding',
    create: (obj, req) => bind(obj, req.name, req, pods, { type: pods, subresource: 'binding' }),
  }
}

/** The bindings collection (LegacyBindingREST): the pod is named by the Binding itself. */
export function bindingsType(pods: ResourceType): ResourceType {
  const bindings: ResourceType = {
    group: '',
    version: 'v1',
    resource: 'bindings',
    kind: 'Binding',
    listKind: 'BindingList',
    singular: 'binding',
    namespaced: true,
    verbs: ['create'],
    storagePrefix: 'bindings',
    strategy: {},
    virtualCreate: (obj, req) =>
      bind(obj, obj.metadata?.name ?? '', req, pods, { type: bindings, subresource: '' }),
  }
  return bindings
}

// ---- eviction ----

const EVICTION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."
/** policyv1.DisruptionBudgetCause. */
const DISRUPTION_BUDGET_CAUSE = 'DisruptionBudget'
/** MaxDisruptedPodSize: how many evictions the disruption controller may leave unconfirmed. */
const MAX_DISRUPTED_POD_SIZE = 2000

function evictionRefused(cause: string): StatusError {
  // NewTooManyRequests(msg, 0): retryAfterSeconds 0 is left out of the details.
  return new StatusError(429, 'TooManyRequests', EVICTION_MESSAGE, {
    causes: [{ reason: DISRUPTION_BUDGET_CAUSE, message: cause }],
  })
}

const isTerminal = (pod: Obj) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'
const isReady = (pod: Obj) =>
  ((pod.status?.conditions ?? []) as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True')

interface DeleteOptionsBody {
  gracePeriodSeconds?: number
  preconditions?: { uid?: string; resourceVersion?: string }
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground'
  dryRun?: string[]
}

/** The PDBs whose non-empty selector matches the pod (getPodDisruptionBudgets). */
async function budgetsFor(
  pod: Obj,
  req: VirtualCreateRequest,
  pdbs: RegistryStore,
): Promise<KubeObject[]> {
  const { items } = await pdbs.list(req.namespace, {})
  return items.filter((pdb) => {
    const sel = (pdb.spec as Obj | undefined)?.selector
    if (!sel) return false
    const empty = !Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length
    return !empty && selectorMatches(sel, pod.metadata?.labels ?? {})
  })
}

/**
 * checkAndDecrement: a budget with room gives one disruption to this pod and records it in
 * status.disruptedPods for the disruption controller to confirm; a budget without refuses with 429.
 */
async function checkAndDecrement(
  podName: string,
  name: string,
  req: VirtualCreateRequest,
  pdbs: RegistryStore,
): Promise<void> {
  await pdbs.guaranteedUpdate(
    req.namespace,
    name,
    (pdb) => {
      const status = (pdb.status ??= {}) as Obj
      const generation = pdb.metadata?.generation ?? 0
      if ((status.observedGeneration ?? 0) < generation)
        throw evictionRefused(
          `The disruption budget ${name} is still being processed by the server.`,
        )
      const allowed: number = status.disruptionsAllowed ?? 0
      if (allowed < 0)
        throw forbidden(
          { group: 'policy', resource: 'poddisruptionbudget' },
          name,
          'pdb disruptions allowed is negative',
        )
      if (Object.keys(status.disruptedPods ?? {}).length > MAX_DISRUPTED_POD_SIZE) {
        throw forbidden(
          { group: 'policy', resource: 'poddisruptionbudget' },
          name,
          'DisruptedPods map too big - too many evictions not confirmed by PDB controller',
        )
      }
      if (allowed === 0) {
        throw evictionRefused(
          `The disruption budget ${name} needs ${status.desiredHealthy ?? 0} healthy pods and has ${status.currentHealthy ?? 0} currently`,
        )
      }
      status.disruptionsAllowed = allowed - 1
      if (status.disruptionsAllowed === 0) {
        // pdbhelper.UpdateDisruptionAllowedCondition.
        const conditions: Obj[] = (status.conditions ??= [])
        const c = {
          type: 'DisruptionAllowed',
          status: 'False',
          reason: 'InsufficientPods',
          message: '',
          observedGeneration: status.observedGeneration ?? 0,
          lastTransitionTime: rfc3339(),
        }
        const i = conditions.findIndex((x) => x.type === 'DisruptionAllowed')
        if (i < 0) conditions.push(c)
        else if (conditions[i].status !== 'False' || conditions[i].reason !== 'InsufficientPods')
          conditions[i] = c
      }
      status.disruptedPods = { ...status.disruptedPods, [podName]: rfc3339() }
      return pdb
    },
    { dryRun: req.ctx.dryRun },
  )
}

/** EvictionREST.Create. */
async function evict(
  eviction: KubeObject,
  req: VirtualCreateRequest,
  pods: ResourceType,
  pdbType: ResourceType,
): Promise<KubeObject> {
  if (eviction.kind !== undefined && eviction.kind !== 'Eviction') {
    throw badRequest(
      `the kind in the data (${eviction.kind}) does not match the expected kind (Eviction)`,
    )
  }
  const name = req.name
  if ((eviction.metadata?.name ?? '') !== name)
    throw badRequest('name in URL does not match name in Eviction object')
  const options = (eviction.deleteOptions ?? {}) as DeleteOptionsBody
  if (options.dryRun?.length) req.ctx.dryRun = true
  const podStore = podsStore(req, pods)
  const pdbStore = podsStore(req, pdbType)
  // createValidation with the Eviction (NodeRestriction's admitPodEviction, webhooks on pods/eviction).
  await podStore.admitSubresourceCreate(
    req.namespace,
    name,
    eviction,
    { group: 'policy', version: 'v1', kind: 'Eviction' },
    req.ctx,
    'eviction',
  )
  const pod = (await podStore.get(req.namespace, name)) as Obj
  const del = async (opts: DeleteOptionsBody) => {
    await podStore.delete(
      req.namespace,
      name,
      {
        gracePeriodSeconds: opts.gracePeriodSeconds,
        preconditions: opts.preconditions,
        propagationPolicy: opts.propagationPolicy,
      },
      req.ctx,
    )
    return success()
  }
  // A terminal pod has already disrupted what it will, and one being deleted is going anyway: no budget applies.
  if (isTerminal(pod) || pod.metadata?.deletionTimestamp) return del(options)

  const budgets = await budgetsFor(pod, req, pdbStore)
  if (budgets.length > 1)
    throw new StatusError(
      500,
      '' as never,
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    )
  let preconditionOnPod = false
  if (budgets.length === 1) {
    const pdb = budgets[0] as Obj
    const status = pdb.status ?? {}
    // An unready pod does not count towards the budget's health: it may go when the policy says always, or
    // when the budget is met without it (then only if the pod has not turned ready meanwhile).
    const unhealthyMayGo =
      !isReady(pod) &&
      (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' ||
        ((status.currentHealthy ?? 0) >= (status.desiredHealthy ?? 0) &&
          (status.desiredHealthy ?? 0) > 0))
    if (unhealthyMayGo) preconditionOnPod = true
    else await checkAndDecrement(name, pdb.metadata.name, req, pdbStore)
  }
  const opts = { ...options }
  if (preconditionOnPod && !opts.preconditions?.resourceVersion)
    opts.preconditions = { ...opts.preconditions, resourceVersion: pod.metadata.resourceVersion }
  if (!req.ctx.dryRun) {
    // PodDisruptionConditions (GA in 1.31): the pod learns why it goes before it is deleted.
    try {
      await podStore.guaranteedUpdate(req.namespace, name, (p) => {
        if (
          opts.preconditions?.resourceVersion &&
          p.metadata?.resourceVersion !== opts.preconditions.resourceVersion
        ) {
          throw conflict(
            PODS,
            name,
            'the object has been modified; please apply your changes to the latest version and try again',
          )
        }
        updatePodCondition(p, {
          type: 'DisruptionTarget',
          status: 'True',
          reason: 'EvictionByEvictionAPI',
          message: 'Eviction API: evicting',
        })
        return p
      })
      if (opts.preconditions?.resourceVersion) delete opts.preconditions.resourceVersion
    } catch (e) {
      if (preconditionOnPod && e instanceof StatusError && e.code === 409)
        throw new StatusError(429, 'TooManyRequests', EVICTION_MESSAGE, {})
      throw e
    }
  }
  try {
    return await del(opts)
  } catch (e) {
    if (preconditionOnPod && e instanceof StatusError && e.code === 409)
      throw new StatusError(429, 'TooManyRequests', EVICTION_MESSAGE, {})
    throw e
  }
}

export function evictionSubresource(pods: ResourceType, pdbs: ResourceType): CreateSubresource {
  return {
    group: 'policy',
    version: 'v1',
    kind: 'Eviction',
    create: (obj, req) => evict(obj, req, pods, pdbs),
  }
}

// ---- ephemeral containers ----

/** The EphemeralContainerCommon fields an ephemeral container may set (allowedEphemeralContainerFields). */
const EPHEMERAL_ALLOWED = new Set([
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  'env',
  'envFrom',
  'volumeMounts',
  'volumeDevices',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'imagePullPolicy',
  'securityContext',
  'stdin',
  'stdinOnce',
  'tty',
  'targetContainerName',
])

/** reflect.Value.IsZero as validateFieldAllowList sees a decoded field: clients send `resources: {}`. */
function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === 0 || v === false) return true
  if (Array.isArray(v)) return v.length === 0
  if (typeof v === 'object') return Object.values(v).every(isZero)
  return false
}

function validateEphemeralContainers(pod: Obj): FieldError[] {
  const spec = pod.spec ?? {}
  const errs: FieldError[] = []
  const names = new Set<string>(
    [...(spec.containers ?? []), ...(spec.initContainers ?? [])].map((c: Obj) => c?.name),
  )
  ;((spec.ephemeralContainers ?? []) as Obj[]).forEach((ec, i) => {
    const path = `spec.ephemeralContainers[${i}]`
    if (!ec?.name) errs.push(fieldRequired(`${path}.name`))
    else {
      for (const m of isDNS1123Label(ec.name)) errs.push(fieldInvalid(`${path}.name`, ec.name, m))
      if (names.has(ec.name)) errs.push(fieldDuplicate(`${path}.name`, ec.name))
      names.add(ec.name)
    }
    if (!ec?.image) errs.push(fieldRequired(`${path}.image`))
    for (const [k, v] of Object.entries(ec ?? {})) {
      if (!EPHEMERAL_ALLOWED.has(k) && !isZero(v))
        errs.push(fieldForbidden(`${path}.${k}`, 'cannot be set for an Ephemeral Container'))
    }
  })
  return errs
}

/** ValidatePodEphemeralContainersUpdate: ephemeral containers are only ever added. */
export function validateEphemeralContainersUpdate(pod: Obj, old: Obj): FieldError[] {
  const errs = validateEphemeralContainers(pod)
  const now = new Map(((pod.spec?.ephemeralContainers ?? []) as Obj[]).map((c) => [c.name, c]))
  for (const was of (old.spec?.ephemeralContainers ?? []) as Obj[]) {
    const c = now.get(was.name)
    if (!c)
      errs.push(
        fieldForbidden(
          'spec.ephemeralContainers',
          `existing ephemeral containers ${JSON.stringify(was.name)} may not be removed\n`,
        ),
      )
    else if (!semanticEqual(c, was))
      errs.push(
        fieldForbidden(
          'spec.ephemeralContainers',
          `existing ephemeral containers ${JSON.stringify(was.name)} may not be changed\n`,
        ),
      )
  }
  return errs
}

export const ephemeralContainersSubresource: UpdateSubresource = {
  // dropNonEphemeralContainerUpdates: everything but spec.ephemeralContainers is the pod as it was.
  prepareForUpdate(obj, old) {
    defaultPod(obj)
    const ephemeral = (obj.spec as Obj | undefined)?.ephemeralContainers
    const managedFields = obj.metadata?.managedFields
    for (const k of Object.keys(obj)) delete obj[k]
    Object.assign(obj, structuredClone(old))
    if (managedFields !== undefined) obj.metadata = { ...obj.metadata, managedFields }
    const spec = (obj.spec ??= {}) as Obj
    if (ephemeral === undefined) delete spec.ephemeralContainers
    else spec.ephemeralContainers = ephemeral
  },
  validateUpdate: (obj, old) => validateEphemeralContainersUpdate(obj, old),
  ownedFields: [['spec', 'ephemeralContainers']],
}

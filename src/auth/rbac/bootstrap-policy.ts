// The default roles and bindings kube-apiserver's RBAC post-start hook keeps in every cluster
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), reconciled the way kube reconciles them: missing objects are
// created, and objects annotated rbac.authorization.kubernetes.io/autoupdate=true get missing rules and subjects back.
import type { Store } from '../../storage/store'
import { isStoreError } from '../../storage/store'
import { labelSelectorMatches } from './rules'
import { RBAC_PREFIXES } from './policy'
import { RBAC_GROUP, type Binding, type PolicyRule, type Role, type Subject } from './types'

const READ = ['get', 'list', 'watch']
const WRITE = ['create', 'update', 'patch', 'delete', 'deletecollection']
const READ_WRITE = [...READ, ...WRITE]
const AUTOUPDATE = 'rbac.authorization.kubernetes.io/autoupdate'
const BOOTSTRAP_LABELS = { 'kubernetes.io/bootstrapping': 'rbac-defaults' }

function rule(
  verbs: string[],
  apiGroups: string[],
  resources: string[],
  resourceNames?: string[],
): PolicyRule {
  const r: PolicyRule = { verbs, apiGroups, resources }
  if (resourceNames) r.resourceNames = resourceNames
  return r
}
function urls(verbs: string[], nonResourceURLs: string[]): PolicyRule {
  return { verbs, nonResourceURLs }
}
const eventsRule = rule(['create', 'update', 'patch'], ['', 'events.k8s.io'], ['events'])

interface RoleSpec {
  name: string
  labels?: Record<string, string>
  rules?: PolicyRule[]
  aggregateFrom?: string
}

const CLUSTER_ROLES: RoleSpec[] = [
  { name: 'cluster-admin', rules: [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])] },
  {
    name: 'system:discovery',
    rules: [
      urls(
        ['get'],
        [
          '/livez',
          '/readyz',
          '/healthz',
          '/version',
          '/version/',
          '/openapi',
          '/openapi/*',
          '/api',
          '/api/*',
          '/apis',
          '/apis/*',
        ],
      ),
    ],
  },
  {
    name: 'system:monitoring',
    rules: [
      urls(
        ['get'],
        [
          '/healthz',
          '/healthz/*',
          '/livez',
          '/livez/*',
          '/metrics',
          '/metrics/slis',
          '/readyz',
          '/readyz/*',
        ],
      ),
    ],
  },
  {
    name: 'system:basic-user',
    rules: [
      rule(
        ['create'],
        ['authorization.k8s.io'],
        ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
      ),
      rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
    ],
  },
  {
    name: 'system:public-info-viewer',
    rules: [urls(['get'], ['/livez', '/readyz', '/healthz', '/version', '/version/'])],
  },
  { name: 'admin', aggregateFrom: 'rbac.authorization.k8s.io/aggregate-to-admin' },
  {
    name: 'edit',
    labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' },
    aggregateFrom: 'rbac.authorization.k8s.io/aggregate-to-edit',
  },
  {
    name: 'view',
    labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' },
    aggregateFrom: 'rbac.authorization.k8s.io/aggregate-to-view',
  },
  {
    name: 'system:aggregate-to-admin',
    labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' },
    rules: [
      rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
      rule(READ_WRITE, [RBAC_GROUP], ['roles', 'rolebindings']),
    ],
  },
  {
    name: 'system:aggregate-to-edit',
    labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' },
    rules: [
      rule(
        READ,
        [''],
        ['pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward', 'secrets', 'services/proxy'],
      ),
      rule(['impersonate'], [''], ['serviceaccounts']),
      rule(WRITE, [''], ['pods', 'pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward']),
      rule(['create'], [''], ['pods/eviction']),
      rule(
        WRITE,
        [''],
        [
          'replicationcontrollers',
          'replicationcontrollers/scale',
          'serviceaccounts',
          'services',
          'services/proxy',
          'persistentvolumeclaims',
          'configmaps',
          'secrets',
          'events',
        ],
      ),
      rule(['create'], [''], ['serviceaccounts/token']),
      rule(
        WRITE,
        ['apps'],
        [
          'statefulsets',
          'statefulsets/scale',
          'daemonsets',
          'deployments',
          'deployments/scale',
          'deployments/rollback',
          'replicasets',
          'replicasets/scale',
        ],
      ),
      rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
      rule(WRITE, ['batch'], ['jobs', 'cronjobs']),
      rule(
        WRITE,
        ['extensions'],
        [
          'daemonsets',
          'deployments',
          'deployments/scale',
          'deployments/rollback',
          'ingresses',
          'replicasets',
          'replicasets/scale',
          'replicationcontrollers/scale',
          'networkpolicies',
        ],
      ),
      rule(WRITE, ['policy'], ['poddisruptionbudgets']),
      rule(WRITE, ['networking.k8s.io'], ['networkpolicies', 'ingresses']),
      rule(READ_WRITE, ['coordination.k8s.io'], ['leases']),
    ],
  },
  {
    name: 'system:aggregate-to-view',
    labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
    rules: [
      rule(
        READ,
        [''],
        [
          'pods',
          'replicationcontrollers',
          'replicationcontrollers/scale',
          'serviceaccounts',
          'services',
          'services/status',
          'endpoints',
          'persistentvolumeclaims',
          'persistentvolumeclaims/status',
          'configmaps',
        ],
      ),
      rule(
        READ,
        [''],
        [
          'limitranges',
          'resourcequotas',
          'bindings',
          'events',
          'pods/status',
          'resourcequotas/status',
          'namespaces/status',
          'replicationcontrollers/status',
          'pods/log',
        ],
      ),
      rule(READ, [''], ['namespaces']),
      rule(READ, ['discovery.k8s.io'], ['endpointslices']),
      rule(
        READ,
        ['apps'],
        [
          'controllerrevisions',
          'statefulsets',
          'statefulsets/status',
          'statefulsets/scale',
          'daemonsets',
          'daemonsets/status',
          'deployments',
          'deployments/status',
          'deployments/scale',
          'replicasets',
          'replicasets/status',
          'replicasets/scale',
        ],
      ),
      rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
      rule(READ, ['batch'], ['jobs', 'cronjobs', 'cronjobs/status', 'jobs/status']),
      rule(
        READ,
        ['extensions'],
        [
          'daemonsets',
          'daemonsets/status',
          'deployments',
          'deployments/scale',
          'deployments/status',
          'ingresses',
          'ingresses/status',
          'replicasets',
          'replicasets/scale',
          'replicasets/status',
          'replicationcontrollers/scale',
          'networkpolicies',
        ],
      ),
      rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
      rule(READ, ['networking.k8s.io'], ['networkpolicies', 'ingresses', 'ingresses/status']),
    ],
  },
  {
    name: 'system:auth-delegator',
    rules: [
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
    ],
  },
  {
    name: 'system:service-account-issuer-discovery',
    rules: [urls(['get'], ['/.well-known/openid-configuration', '/openid/v1/jwks'])],
  },
  {
    name: 'system:node-bootstrapper',
    rules: [
      rule(
        ['create', 'get', 'list', 'watch'],
        ['certificates.k8s.io'],
        ['certificatesigningrequests'],
      ),
    ],
  },
  {
    name: 'system:node',
    rules: [
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(
        ['create'],
        ['authorization.k8s.io'],
        ['subjectaccessreviews', 'localsubjectaccessreviews'],
      ),
      rule(READ, [''], ['services']),
      rule(['create', 'get', 'list', 'watch'], [''], ['nodes']),
      rule(['update', 'patch'], [''], ['nodes/status']),
      rule(['update', 'patch'], [''], ['nodes']),
      rule(['create', 'update', 'patch'], [''], ['events']),
      rule(READ, [''], ['pods']),
      rule(['create', 'delete'], [''], ['pods']),
      rule(['update', 'patch'], [''], ['pods/status']),
      rule(['create'], [''], ['pods/eviction']),
      rule(READ, [''], ['secrets', 'configmaps']),
      rule(['get'], [''], ['persistentvolumeclaims', 'persistentvolumes']),
      rule(['get'], [''], ['endpoints']),
      rule(
        ['create', 'get', 'list', 'watch'],
        ['certificates.k8s.io'],
        ['certificatesigningrequests'],
      ),
      rule(['get', 'create', 'update', 'patch', 'delete'], ['coordination.k8s.io'], ['leases']),
      rule(['get'], ['storage.k8s.io'], ['volumeattachments']),
      rule(['create'], [''], ['serviceaccounts/token']),
      rule(['get', 'update', 'patch'], [''], ['persistentvolumeclaims/status']),
      rule(['get', 'watch', 'list'], ['storage.k8s.io'], ['csidrivers']),
      rule(['get', 'create', 'update', 'patch', 'delete'], ['storage.k8s.io'], ['csinodes']),
      rule(READ, ['node.k8s.io'], ['runtimeclasses']),
    ],
  },
  {
    name: 'system:node-proxier',
    rules: [
      rule(['list', 'watch'], [''], ['services', 'endpoints']),
      rule(READ, [''], ['nodes']),
      eventsRule,
      rule(['list', 'watch'], ['discovery.k8s.io'], ['endpointslices']),
    ],
  },
  {
    name: 'system:kube-controller-manager',
    rules: [
      eventsRule,
      rule(['create'], ['coordination.k8s.io'], ['leases']),
      rule(['get', 'update'], ['coordination.k8s.io'], ['leases'], ['kube-controller-manager']),
      rule(['create'], [''], ['secrets', 'serviceaccounts']),
      rule(['delete'], [''], ['secrets']),
      rule(['get'], [''], ['namespaces', 'secrets', 'serviceaccounts', 'configmaps']),
      rule(['update'], [''], ['secrets', 'serviceaccounts']),
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
      rule(['list', 'watch'], ['*'], ['*']),
      rule(['create'], [''], ['serviceaccounts/token']),
    ],
  },
  {
    name: 'system:kube-scheduler',
    rules: [
      eventsRule,
      rule(['create'], ['coordination.k8s.io'], ['leases']),
      rule(['get', 'update'], ['coordination.k8s.io'], ['leases'], ['kube-scheduler']),
      rule(READ, [''], ['nodes']),
      rule(['get', 'list', 'watch', 'delete'], [''], ['pods']),
      rule(['create'], [''], ['pods/binding', 'bindings']),
      rule(['patch', 'update'], [''], ['pods/status']),
      rule(READ, [''], ['replicationcontrollers', 'services']),
      rule(READ, ['apps', 'extensions'], ['replicasets']),
      rule(READ, ['apps'], ['statefulsets']),
      rule(READ, ['policy'], ['poddisruptionbudgets']),
      rule(READ, [''], ['persistentvolumeclaims', 'persistentvolumes']),
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
      rule(READ, ['storage.k8s.io'], ['csinodes']),
      rule(READ, [''], ['namespaces']),
      rule(READ, ['storage.k8s.io'], ['csidrivers']),
      rule(READ, ['storage.k8s.io'], ['csistoragecapacities']),
    ],
  },
  {
    name: 'system:volume-scheduler',
    rules: [
      rule(['get', 'list', 'watch', 'update', 'patch'], [''], ['persistentvolumes']),
      rule(READ, ['storage.k8s.io'], ['storageclasses']),
      rule(['get', 'list', 'watch', 'update', 'patch'], [''], ['persistentvolumeclaims']),
    ],
  },
  { name: 'system:kube-dns', rules: [rule(['list', 'watch'], [''], ['endpoints', 'services'])] },
  // TLS bootstrap: who may ask for a node client certificate, and who may approve each kube signer's requests.
  {
    name: 'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
    rules: [rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/nodeclient'])],
  },
  {
    name: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    rules: [
      rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/selfnodeclient']),
    ],
  },
  {
    name: 'system:certificates.k8s.io:kube-apiserver-client-approver',
    rules: [
      rule(
        ['approve'],
        ['certificates.k8s.io'],
        ['signers'],
        ['kubernetes.io/kube-apiserver-client'],
      ),
    ],
  },
  {
    name: 'system:certificates.k8s.io:kube-apiserver-client-kubelet-approver',
    rules: [
      rule(
        ['approve'],
        ['certificates.k8s.io'],
        ['signers'],
        ['kubernetes.io/kube-apiserver-client-kubelet'],
      ),
    ],
  },
  {
    name: 'system:certificates.k8s.io:kubelet-serving-approver',
    rules: [
      rule(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kubelet-serving']),
    ],
  },
  {
    name: 'system:certificates.k8s.io:legacy-unknown-approver',
    rules: [
      rule(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/legacy-unknown']),
    ],
  },
]

const group = (name: string): Subject => ({ kind: 'Group', apiGroup: RBAC_GROUP, name })
const user = (name: string): Subject => ({ kind: 'User', apiGroup: RBAC_GROUP, name })

const CLUSTER_ROLE_BINDINGS: { name: string; role?: string; subjects: Subject[] }[] = [
  { name: 'cluster-admin', subjects: [group('system:masters')] },
  { name: 'system:basic-user', subjects: [group('system:authenticated')] },
  { name: 'system:discovery', subjects: [group('system:authenticated')] },
  {
    name: 'system:public-info-viewer',
    subjects: [group('system:authenticated'), group('system:unauthenticated')],
  },
  { name: 'system:monitoring', subjects: [group('system:monitoring')] },
  { name: 'system:service-account-issuer-discovery', subjects: [group('system:serviceaccounts')] },
  { name: 'system:node', subjects: [] },
  { name: 'system:node-proxier', subjects: [user('system:kube-proxy')] },
  { name: 'system:kube-controller-manager', subjects: [user('system:kube-controller-manager')] },
  { name: 'system:kube-scheduler', subjects: [user('system:kube-scheduler')] },
  { name: 'system:volume-scheduler', subjects: [user('system:kube-scheduler')] },
  {
    name: 'system:kube-dns',
    subjects: [{ kind: 'ServiceAccount', name: 'kube-dns', namespace: 'kube-system' }],
  },
]

/** NodeRules: what the system:node role grants, which the Node authorizer applies to kubelets directly. */
export function nodeRules(): PolicyRule[] {
  return structuredClone(CLUSTER_ROLES.find((r) => r.name === 'system:node')!.rules!)
}

function meta(name: string, labels?: Record<string, string>) {
  return { name, labels: { ...BOOTSTRAP_LABELS, ...labels }, annotations: { [AUTOUPDATE]: 'true' } }
}

export function bootstrapClusterRoles(): Role[] {
  return CLUSTER_ROLES.map((s) => {
    const role: Role = {
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'ClusterRole',
      metadata: meta(s.name, s.labels),
    }
    if (s.aggregateFrom)
      role.aggregationRule = {
        clusterRoleSelectors: [{ matchLabels: { [s.aggregateFrom]: 'true' } }],
      }
    role.rules = s.rules ?? []
    return role
  })
}

export function bootstrapClusterRoleBindings(): Binding[] {
  return CLUSTER_ROLE_BINDINGS.map((b) => {
    const binding: Binding = {
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: meta(b.name),
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: b.role ?? b.name },
    }
    if (b.subjects.length) binding.subjects = b.subjects
    return binding
  })
}

function stamp<T extends Role | Binding>(obj: T): T {
  obj.metadata = {
    ...obj.metadata,
    uid: crypto.randomUUID(),
    creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  }
  return obj
}

const ruleKey = (r: PolicyRule) =>
  JSON.stringify([
    r.verbs,
    r.apiGroups ?? [],
    r.resources ?? [],
    r.resourceNames ?? [],
    r.nonResourceURLs ?? [],
  ])
const subjectKey = (s: Subject) => `${s.kind}/${s.namespace ?? ''}/${s.name}`

/** Reconcile (additively, as kube's reconciler does without --confirm removal): the changed object or undefined. */
function reconcileRole(existing: Role, wanted: Role): Role | undefined {
  if (existing.metadata?.annotations?.[AUTOUPDATE] === 'false') return undefined
  let changed = false
  const out: Role = structuredClone(existing)
  if (!wanted.aggregationRule) {
    const have = new Set((out.rules ?? []).map(ruleKey))
    for (const r of wanted.rules ?? []) {
      if (have.has(ruleKey(r))) continue
      out.rules = [...(out.rules ?? []), r]
      changed = true
    }
  } else {
    const sels = out.aggregationRule?.clusterRoleSelectors ?? []
    for (const s of wanted.aggregationRule.clusterRoleSelectors ?? []) {
      if (sels.some((x) => JSON.stringify(x) === JSON.stringify(s))) continue
      out.aggregationRule = { clusterRoleSelectors: [...sels, s] }
      changed = true
    }
  }
  for (const [k, v] of Object.entries(wanted.metadata?.labels ?? {})) {
    if (out.metadata?.labels?.[k] === v) continue
    out.metadata = { ...out.metadata, labels: { ...out.metadata?.labels, [k]: v } }
    changed = true
  }
  return changed ? out : undefined
}

function reconcileBinding(existing: Binding, wanted: Binding): Binding | undefined {
  if (existing.metadata?.annotations?.[AUTOUPDATE] === 'false') return undefined
  const have = new Set((existing.subjects ?? []).map(subjectKey))
  const missing = (wanted.subjects ?? []).filter((s) => !have.has(subjectKey(s)))
  if (!missing.length) return undefined
  return { ...structuredClone(existing), subjects: [...(existing.subjects ?? []), ...missing] }
}

async function ensureAll<T extends Role | Binding>(
  store: Store,
  prefix: string,
  wanted: T[],
  reconcile: (e: T, w: T) => T | undefined,
): Promise<void> {
  const { kvs } = await store.list(prefix)
  const existing = new Map(kvs.map((kv) => [kv.key, kv]))
  for (const obj of wanted) {
    const key = prefix + obj.metadata!.name
    const kv = existing.get(key)
    try {
      if (!kv) {
        await store.create(key, JSON.stringify(stamp(structuredClone(obj))))
        continue
      }
      const updated = reconcile(JSON.parse(kv.value) as T, obj)
      if (updated) await store.update(key, JSON.stringify(updated), kv.modRevision)
    } catch (e) {
      // Another instance bootstrapping the same cluster got there first.
      if (!isStoreError(e, 'KeyExists') && !isStoreError(e, 'Conflict')) throw e
    }
  }
}

/** Creates (or restores) the default cluster roles and bindings, then fills in the aggregated roles' rules. */
export async function ensureBootstrapPolicy(store: Store): Promise<void> {
  await ensureAll(store, RBAC_PREFIXES.clusterRoles, bootstrapClusterRoles(), reconcileRole)
  await ensureAll(
    store,
    RBAC_PREFIXES.clusterRoleBindings,
    bootstrapClusterRoleBindings(),
    reconcileBinding,
  )
  await aggregateClusterRoles(store)
}

/**
 * One pass of kube-controller-manager's clusterrole-aggregation controller: every ClusterRole with an
 * aggregationRule gets the rules of the roles its selectors match (sorted by name, duplicates dropped).
 * Repeats until nothing changes, so aggregates of aggregates (admin ⊇ edit ⊇ view) settle in one call.
 */
export async function aggregateClusterRoles(store: Store): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const { kvs } = await store.list(RBAC_PREFIXES.clusterRoles)
    const roles = kvs
      .map((kv) => ({ kv, role: JSON.parse(kv.value) as Role }))
      .sort((a, b) => (a.role.metadata!.name! < b.role.metadata!.name! ? -1 : 1))
    let changed = false
    for (const { kv, role } of roles) {
      const selectors = role.aggregationRule?.clusterRoleSelectors
      if (!selectors) continue
      const rules: PolicyRule[] = []
      const seen = new Set<string>()
      for (const sel of selectors) {
        for (const other of roles) {
          if (other.role.metadata?.name === role.metadata?.name) continue
          if (!labelSelectorMatches(sel, other.role.metadata?.labels)) continue
          for (const r of other.role.rules ?? []) {
            if (seen.has(ruleKey(r))) continue
            seen.add(ruleKey(r))
            rules.push(r)
          }
        }
      }
      if (JSON.stringify(rules) === JSON.stringify(role.rules ?? [])) continue
      try {
        await store.update(kv.key, JSON.stringify({ ...role, rules }), kv.modRevision)
        changed = true
      } catch (e) {
        if (!isStoreError(e, 'Conflict') && !isStoreError(e, 'NotFound')) throw e
        changed = true
      }
    }
    if (!changed) return
  }
}

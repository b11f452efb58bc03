// kube-apiserver 1.32's mandatory and suggested API priority and fairness configuration
// (k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go), written as our own data.
import type { KubeObject } from '../registry/types'

export const AUTO_UPDATE_ANNOTATION = 'apf.kubernetes.io/autoupdate-spec'
export const FLOWCONTROL_API_VERSION = 'flowcontrol.apiserver.k8s.io/v1'

type Subject =
  | { kind: 'Group'; group: { name: string } }
  | { kind: 'User'; user: { name: string } }
  | { kind: 'ServiceAccount'; serviceAccount: { name: string; namespace: string } }

const groups = (...names: string[]): Subject[] =>
  names.map((name) => ({ kind: 'Group', group: { name } }))
const users = (...names: string[]): Subject[] =>
  names.map((name) => ({ kind: 'User', user: { name } }))
const kubeSystemServiceAccounts = (...names: string[]): Subject[] =>
  names.map((name) => ({
    kind: 'ServiceAccount',
    serviceAccount: { name, namespace: 'kube-system' },
  }))

const resourceRule = (
  verbs: string[],
  apiGroups: string[],
  resources: string[],
  namespaces: string[],
  clusterScope: boolean,
) => ({ verbs, apiGroups, resources, ...(clusterScope ? { clusterScope } : {}), namespaces })
const ALL_RESOURCES = [resourceRule(['*'], ['*'], ['*'], ['*'], true)]
const ALL_NON_RESOURCES = [{ verbs: ['*'], nonResourceURLs: ['*'] }]

interface Rules {
  subjects: Subject[]
  resourceRules?: unknown[]
  nonResourceRules?: unknown[]
}

function flowSchema(
  name: string,
  priorityLevel: string,
  matchingPrecedence: number,
  distinguisher: 'ByUser' | 'ByNamespace' | '',
  ...rules: Rules[]
): KubeObject {
  return {
    apiVersion: FLOWCONTROL_API_VERSION,
    kind: 'FlowSchema',
    metadata: { name, annotations: { [AUTO_UPDATE_ANNOTATION]: 'true' } },
    spec: {
      priorityLevelConfiguration: { name: priorityLevel },
      matchingPrecedence,
      ...(distinguisher ? { distinguisherMethod: { type: distinguisher } } : {}),
      rules,
    },
  }
}

/** A schema that matches its subjects whatever they ask for. */
const allOf = (subjects: Subject[]): Rules => ({
  subjects,
  resourceRules: ALL_RESOURCES,
  nonResourceRules: ALL_NON_RESOURCES,
})

function limited(
  name: string,
  nominalConcurrencyShares: number,
  lendablePercent: number,
  queuing?: { queues: number; handSize: number; queueLengthLimit: number },
): KubeObject {
  return {
    apiVersion: FLOWCONTROL_API_VERSION,
    kind: 'PriorityLevelConfiguration',
    metadata: { name, annotations: { [AUTO_UPDATE_ANNOTATION]: 'true' } },
    spec: {
      type: 'Limited',
      limited: {
        nominalConcurrencyShares,
        limitResponse: queuing ? { type: 'Queue', queuing } : { type: 'Reject' },
        lendablePercent,
      },
    },
  }
}

export const MANDATORY_PRIORITY_LEVELS: KubeObject[] = [
  {
    apiVersion: FLOWCONTROL_API_VERSION,
    kind: 'PriorityLevelConfiguration',
    metadata: { name: 'exempt', annotations: { [AUTO_UPDATE_ANNOTATION]: 'true' } },
    spec: { type: 'Exempt', exempt: { nominalConcurrencyShares: 0, lendablePercent: 0 } },
  },
  // Only a minimal share: reached only when the suggested global-default has been deleted.
  limited('catch-all', 5, 0),
]

export const MANDATORY_FLOW_SCHEMAS: KubeObject[] = [
  // system:masters is never limited, so that an administrator can always get an answer.
  flowSchema('exempt', 'exempt', 1, '', allOf(groups('system:masters'))),
  flowSchema(
    'catch-all',
    'catch-all',
    10000,
    'ByUser',
    allOf(groups('system:unauthenticated', 'system:authenticated')),
  ),
]

const Q = (queues: number, handSize: number, queueLengthLimit: number) => ({
  queues,
  handSize,
  queueLengthLimit,
})

export const SUGGESTED_PRIORITY_LEVELS: KubeObject[] = [
  limited('system', 30, 33, Q(64, 6, 50)),
  limited('node-high', 40, 25, Q(64, 6, 50)),
  limited('leader-election', 10, 0, Q(16, 4, 50)),
  limited('workload-high', 40, 50, Q(128, 6, 50)),
  limited('workload-low', 100, 90, Q(128, 6, 50)),
  limited('global-default', 20, 50, Q(128, 6, 50)),
]

const LEASE_VERBS = ['get', 'create', 'update']

export const SUGGESTED_FLOW_SCHEMAS: KubeObject[] = [
  flowSchema('system-nodes', 'system', 500, 'ByUser', allOf(groups('system:nodes'))),
  flowSchema('system-node-high', 'node-high', 400, 'ByUser', {
    subjects: groups('system:nodes'),
    resourceRules: [
      resourceRule(['*'], [''], ['nodes', 'nodes/status'], ['*'], true),
      resourceRule(['*'], ['coordination.k8s.io'], ['leases'], ['*'], false),
    ],
  }),
  flowSchema('probes', 'exempt', 2, '', {
    subjects: groups('system:unauthenticated', 'system:authenticated'),
    nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/readyz', '/livez'] }],
  }),
  flowSchema('system-leader-election', 'leader-election', 100, 'ByUser', {
    subjects: [
      ...users('system:kube-controller-manager', 'system:kube-scheduler'),
      ...kubeSystemServiceAccounts('*'),
    ],
    resourceRules: [resourceRule(LEASE_VERBS, ['coordination.k8s.io'], ['leases'], ['*'], false)],
  }),
  flowSchema('workload-leader-election', 'leader-election', 200, 'ByUser', {
    subjects: kubeSystemServiceAccounts('*'),
    resourceRules: [
      resourceRule(LEASE_VERBS, [''], ['endpoints', 'configmaps'], ['*'], false),
      resourceRule(LEASE_VERBS, ['coordination.k8s.io'], ['leases'], ['*'], false),
    ],
  }),
  // Ahead of workload-leader-election, so that the endpoints controllers' writes are not taken for
  // leader election.
  flowSchema('endpoint-controller', 'workload-high', 150, 'ByUser', {
    subjects: [
      ...users('system:kube-controller-manager'),
      ...kubeSystemServiceAccounts('endpoint-controller', 'endpointslicemirroring-controller'),
    ],
    resourceRules: [resourceRule(LEASE_VERBS, [''], ['endpoints'], ['*'], false)],
  }),
  flowSchema(
    'kube-controller-manager',
    'workload-high',
    800,
    'ByNamespace',
    allOf(users('system:kube-controller-manager')),
  ),
  flowSchema(
    'kube-scheduler',
    'workload-high',
    800,
    'ByNamespace',
    allOf(users('system:kube-scheduler')),
  ),
  flowSchema(
    'kube-system-service-accounts',
    'workload-high',
    900,
    'ByNamespace',
    allOf(kubeSystemServiceAccounts('*')),
  ),
  flowSchema(
    'service-accounts',
    'workload-low',
    9000,
    'ByUser',
    allOf(groups('system:serviceaccounts')),
  ),
  flowSchema(
    'global-default',
    'global-default',
    9900,
    'ByUser',
    allOf(groups('system:unauthenticated', 'system:authenticated')),
  ),
]

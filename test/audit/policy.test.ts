// The audit policy checker and reader, table-driven on the cases kube's policy/checker_test.go and
// reader_test.go cover: which rule decides a request's level, how omitStages join, and what a policy
// file kube would refuse is refused with.
import { describe, expect, it } from 'vitest'
import type { Attributes } from '../../src/auth/authorizer'
import {
  parsePolicy,
  PolicyError,
  PolicyRuleEvaluator,
  type Level,
  type PolicyRule,
  type Stage,
} from '../../src/audit/policy'

const tim = { username: 'tim@k8s.io', groups: ['humans', 'developers'] }
const base = {
  isResourceRequest: true,
  apiGroup: '',
  apiVersion: 'v1',
  namespace: '',
  resource: '',
  subresource: '',
  name: '',
  path: '',
}
const requests: Record<string, Attributes> = {
  namespaced: {
    ...base,
    user: tim,
    verb: 'get',
    namespace: 'default',
    resource: 'pods',
    name: 'busybox',
    path: '/api/v1/namespaces/default/pods/busybox',
  },
  cluster: {
    ...base,
    user: tim,
    verb: 'get',
    apiGroup: 'rbac.authorization.k8s.io',
    resource: 'clusterroles',
    name: 'edit',
    path: '/apis/rbac.authorization.k8s.io/v1/clusterroles/edit',
  },
  nonResource: {
    ...base,
    user: tim,
    verb: 'get',
    isResourceRequest: false,
    apiVersion: '',
    path: '/logs/kubelet.log',
  },
  subresource: {
    ...base,
    user: tim,
    verb: 'get',
    namespace: 'default',
    resource: 'pods',
    subresource: 'log',
    name: 'busybox',
    path: '/api/v1/namespaces/default/pods/busybox/log',
  },
  unauthenticated: {
    ...base,
    user: { username: '', groups: [] },
    verb: 'get',
    namespace: 'default',
    resource: 'pods',
    name: 'busybox',
    path: '/api/v1/namespaces/default/pods/busybox',
  },
}

const rules: Record<string, PolicyRule> = {
  default: { level: 'Metadata' },
  create: { level: 'Request', verbs: ['create'] },
  tims: { level: 'Metadata', users: ['tim@k8s.io'] },
  humans: { level: 'Metadata', userGroups: ['humans'] },
  serviceAccounts: { level: 'Request', userGroups: ['system:serviceaccounts'] },
  getPods: { level: 'RequestResponse', verbs: ['get'], resources: [{ resources: ['pods'] }] },
  getPodLogs: { level: 'Request', verbs: ['get'], resources: [{ resources: ['pods/log'] }] },
  getPodWildcard: { level: 'Request', verbs: ['get'], resources: [{ resources: ['*'] }] },
  getAnyLog: { level: 'Request', verbs: ['get'], resources: [{ resources: ['*/log'] }] },
  getPodAnySubresource: {
    level: 'Request',
    verbs: ['get'],
    resources: [{ resources: ['pods/*'] }],
  },
  getClusterRoles: {
    level: 'RequestResponse',
    verbs: ['get'],
    resources: [{ group: 'rbac.authorization.k8s.io', resources: ['clusterroles'] }],
    namespaces: [''],
  },
  clusterRoleEdit: {
    level: 'Request',
    resources: [
      { group: 'rbac.authorization.k8s.io', resources: ['clusterroles'], resourceNames: ['edit'] },
    ],
  },
  getLogs: { level: 'RequestResponse', verbs: ['get'], nonResourceURLs: ['/logs*'] },
  getMetrics: { level: 'Request', verbs: ['get'], nonResourceURLs: ['/metrics'] },
  allGroupsInKubeSystem: { level: 'Request', namespaces: ['kube-system'] },
  rbacGroup: { level: 'Request', resources: [{ group: 'rbac.authorization.k8s.io' }] },
  omitRequestReceived: { level: 'Request', omitStages: ['RequestReceived'] },
  onlyPanic: {
    level: 'Request',
    omitStages: ['RequestReceived', 'ResponseStarted', 'ResponseComplete'],
  },
}

type Case = [request: string, level: Level, ...ruleNames: string[]]
const cases: Case[] = [
  ['namespaced', 'Metadata', 'default'],
  ['namespaced', 'None', 'create'],
  ['namespaced', 'Metadata', 'tims'],
  ['namespaced', 'Metadata', 'humans'],
  ['namespaced', 'None', 'serviceAccounts'],
  ['namespaced', 'RequestResponse', 'getPods'],
  ['namespaced', 'None', 'getClusterRoles'],
  ['namespaced', 'None', 'getLogs'],
  ['namespaced', 'None', 'getMetrics'],
  ['namespaced', 'Metadata', 'getMetrics', 'serviceAccounts', 'default'],
  ['namespaced', 'RequestResponse', 'getMetrics', 'getPods', 'default'],
  ['namespaced', 'RequestResponse', 'getPodLogs', 'getPods'],
  ['namespaced', 'None', 'allGroupsInKubeSystem'],
  ['cluster', 'Metadata', 'default'],
  ['cluster', 'None', 'create'],
  ['cluster', 'Metadata', 'tims'],
  ['cluster', 'Metadata', 'humans'],
  ['cluster', 'None', 'serviceAccounts'],
  ['cluster', 'None', 'getPods'],
  ['cluster', 'RequestResponse', 'getClusterRoles'],
  ['cluster', 'Request', 'clusterRoleEdit', 'getClusterRoles'],
  ['cluster', 'Request', 'rbacGroup'],
  ['cluster', 'None', 'getLogs'],
  ['cluster', 'None', 'getMetrics'],
  ['cluster', 'Metadata', 'getMetrics', 'serviceAccounts', 'default'],
  ['cluster', 'RequestResponse', 'getMetrics', 'getClusterRoles', 'default'],
  ['cluster', 'None', 'getPodLogs', 'getPods'],
  ['nonResource', 'Metadata', 'default'],
  ['nonResource', 'None', 'create'],
  ['nonResource', 'Metadata', 'tims'],
  ['nonResource', 'Metadata', 'humans'],
  ['nonResource', 'None', 'serviceAccounts'],
  ['nonResource', 'None', 'getPods'],
  ['nonResource', 'None', 'getClusterRoles'],
  ['nonResource', 'RequestResponse', 'getLogs'],
  ['nonResource', 'None', 'getMetrics'],
  ['nonResource', 'Metadata', 'getMetrics', 'serviceAccounts', 'default'],
  ['nonResource', 'RequestResponse', 'getLogs', 'getClusterRoles', 'default'],
  ['nonResource', 'None', 'getPodLogs', 'getPods'],
  ['nonResource', 'None', 'allGroupsInKubeSystem'],
  ['subresource', 'Request', 'getPodLogs', 'getPods'],
  ['subresource', 'Request', 'getPodWildcard'],
  ['subresource', 'Request', 'getAnyLog'],
  ['subresource', 'Request', 'getPodAnySubresource'],
  ['namespaced', 'Request', 'getPodAnySubresource'],
  ['namespaced', 'None', 'getAnyLog'],
  ['unauthenticated', 'None', 'tims'],
  ['unauthenticated', 'Metadata', 'tims', 'default'],
  ['unauthenticated', 'None', 'humans'],
  ['unauthenticated', 'Metadata', 'humans', 'default'],
]

describe('audit policy checker', () => {
  it.each(cases)('%s request at %s under %s', (request, level, ...ruleNames) => {
    const ev = new PolicyRuleEvaluator({ rules: ruleNames.map((n) => rules[n]!) })
    expect(ev.evaluate(requests[request]!).level).toBe(level)
  })

  const stageCases: [string, Stage[] | undefined, string[], Stage[]][] = [
    ['a rule keeps its own stages', undefined, ['omitRequestReceived'], ['RequestReceived']],
    ['no match takes the policy stages', ['ResponseStarted'], ['create'], ['ResponseStarted']],
    [
      'a rule joins the policy stages',
      ['ResponseStarted'],
      ['omitRequestReceived'],
      ['ResponseStarted', 'RequestReceived'],
    ],
    [
      'each stage once',
      ['RequestReceived', 'ResponseComplete'],
      ['onlyPanic'],
      ['RequestReceived', 'ResponseComplete', 'ResponseStarted'],
    ],
  ]
  it.each(stageCases)('%s', (_name, policyStages, ruleNames, want) => {
    const ev = new PolicyRuleEvaluator({
      omitStages: policyStages,
      rules: ruleNames.map((n) => rules[n]!),
    })
    expect([...ev.evaluate(requests.namespaced!).omitStages].sort()).toEqual([...want].sort())
  })

  it('omitManagedFields: a rule overrides the policy, and the policy decides otherwise', () => {
    const policy = {
      omitManagedFields: true,
      rules: [
        { level: 'Request' as Level, verbs: ['create'], omitManagedFields: false },
        { level: 'Request' as Level },
      ],
    }
    const ev = new PolicyRuleEvaluator(policy)
    expect(ev.evaluate({ ...requests.namespaced!, verb: 'create' }).omitManagedFields).toBe(false)
    expect(ev.evaluate(requests.namespaced!).omitManagedFields).toBe(true)
    expect(
      new PolicyRuleEvaluator({ rules: [{ level: 'None' }] }).evaluate(requests.namespaced!)
        .omitManagedFields,
    ).toBe(false)
  })
})

describe('audit policy reader', () => {
  it('reads a v1 policy in YAML with every field', () => {
    const p = parsePolicy(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
omitManagedFields: true
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
  resources:
  - group: ""
    resources: ["endpoints", "services"]
- level: Metadata
  userGroups: ["system:authenticated"]
  nonResourceURLs: ["/api*", "/version"]
- level: RequestResponse
  namespaces: ["kube-system"]
  resources:
  - group: apps
    resources: ["deployments/scale"]
    resourceNames: ["coredns"]
  omitStages: [ResponseStarted]
  omitManagedFields: false
`)
    expect(p.omitStages).toEqual(['RequestReceived'])
    expect(p.omitManagedFields).toBe(true)
    expect(p.rules).toHaveLength(3)
    expect(p.rules[2]).toMatchObject({
      level: 'RequestResponse',
      namespaces: ['kube-system'],
      resources: [{ group: 'apps', resources: ['deployments/scale'], resourceNames: ['coredns'] }],
      omitStages: ['ResponseStarted'],
      omitManagedFields: false,
    })
  })

  it('reads the deprecated v1beta1 and JSON', () => {
    const p = parsePolicy(
      '{"apiVersion":"audit.k8s.io/v1beta1","kind":"Policy","rules":[{"level":"Metadata"}]}',
    )
    expect(p.rules).toEqual([expect.objectContaining({ level: 'Metadata' })])
  })

  const refused: [string, string, string][] = [
    [
      'no rules',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\n',
      'loaded illegal policy with 0 rules',
    ],
    [
      'a missing level',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- verbs: [get]\n',
      'rules[0].level: Required value',
    ],
    [
      'an unknown level',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n',
      'rules[0].level: Unsupported value: "Everything": supported values: "None", "Metadata", "Request", "RequestResponse"',
    ],
    [
      'an unknown stage',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  omitStages: [Done]\n',
      'rules[0].omitStages[0]: Invalid value: "Done": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic',
    ],
    [
      'a URL without a slash',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: ["metrics"]\n',
      `rules[0].nonResourceURLs[0]: Invalid value: "metrics": non-resource URL rules must begin with a '/' character`,
    ],
    [
      'a star inside a URL',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: ["/a*/b"]\n',
      `rules[0].nonResourceURLs[0]: Invalid value: "/a*/b": non-resource URL wildcards '*' must be the final character of the rule`,
    ],
    [
      'URLs with resources',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  namespaces: [default]\n  nonResourceURLs: ["/metrics"]\n',
      'rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: rules cannot apply to both regular resources and non-resource URLs',
    ],
    [
      'resourceNames without resources',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  resources:\n  - resourceNames: [x]\n',
      'rules[0].resources.resourceNames: Invalid value: []string{"x"}: using resourceNames requires at least one resource',
    ],
    [
      'a group with a version',
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  resources:\n  - group: rbac.authorization.k8s.io/v1\n',
      'rules[0].resources.group: Invalid value: "rbac.authorization.k8s.io/v1": a lowercase RFC 1123 subdomain',
    ],
    [
      'another kind',
      'apiVersion: audit.k8s.io/v1\nkind: Event\n',
      'failed decoding: no kind "Event" is registered for version "audit.k8s.io/v1"',
    ],
    ['no kind', 'rules: []\n', "failed decoding: Object 'Kind' is missing in"],
  ]
  it.each(refused)('refuses %s', (_name, text, message) => {
    expect(() => parsePolicy(text)).toThrow(PolicyError)
    expect(() => parsePolicy(text)).toThrow(message)
  })

  it('joins several errors as an aggregate', () => {
    expect(() =>
      parsePolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- {}\n- level: x\n'),
    ).toThrow(/^\[rules\[0\]\.level: Required value, rules\[1\]\.level: Unsupported value: "x"/)
  })
})

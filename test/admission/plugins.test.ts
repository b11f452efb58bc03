// Built-in admission plugins through the API, asserting on what kubectl sees: kube-apiserver's messages.
import { describe, expect, it } from 'vitest'
import { enabledPlugins } from '../../src/admission/chain'
import { canonical, formatQuantity, parseQuantity } from '../../src/registry/quantity'
import { makeApp } from '../helpers/app'

describe('the admission chain', () => {
  it("turns on kube-apiserver's default plugins and honours enable/disable", () => {
    expect(enabledPlugins('', '')).toEqual([
      'NamespaceLifecycle',
      'LimitRanger',
      'ServiceAccount',
      'TaintNodesByCondition',
      'PodSecurity',
      'Priority',
      'DefaultTolerationSeconds',
      'DefaultStorageClass',
      'MutatingAdmissionWebhook',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionWebhook',
      'ResourceQuota',
    ])
    expect(enabledPlugins('NodeRestriction', 'ServiceAccount,ResourceQuota')).toContain(
      'NodeRestriction',
    )
    expect(enabledPlugins('NodeRestriction', 'ServiceAccount,ResourceQuota')).not.toContain(
      'ServiceAccount',
    )
    expect(() => enabledPlugins('Bogus', '')).toThrow(
      'enable-admission-plugins plugin "Bogus" is unknown',
    )
  })
})

describe('quantities', () => {
  it("prints kube's canonical forms", () => {
    expect(canonical('0.5')).toBe('500m')
    expect(canonical('1024Mi')).toBe('1Gi')
    expect(canonical('1536')).toBe('1536')
    expect(canonical('1.5Gi')).toBe('1536Mi')
    expect(canonical('100m')).toBe('100m')
    expect(formatQuantity({ ...parseQuantity('0'), nano: parseQuantity('128Mi').nano })).toBe(
      '134217728',
    )
  })
})

describe('NamespaceLifecycle', () => {
  it('refuses creates in a namespace that does not exist', async () => {
    const t = makeApp()
    const r = await t.call('POST', '/api/v1/namespaces/nope/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x' },
    })
    expect(r.status).toBe(404)
    expect(r.json.message).toBe('namespaces "nope" not found')
  })

  it('never deletes default, kube-system or kube-public', async () => {
    const t = makeApp()
    for (const name of ['default', 'kube-system', 'kube-public']) {
      const r = await t.call('DELETE', `/api/v1/namespaces/${name}`)
      expect(r.status).toBe(403)
      expect(r.json.message).toBe(
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
      )
    }
  })

  it('refuses creates in a terminating namespace', async () => {
    const t = makeApp()
    await t.ns('going')
    const { kv } = await t.store.get('/registry/namespaces/going')
    const ns = JSON.parse(kv!.value)
    ns.status = { phase: 'Terminating' }
    await t.store.update('/registry/namespaces/going', JSON.stringify(ns), kv!.modRevision)
    const r = await t.call('POST', '/api/v1/namespaces/going/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x' },
    })
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'configmaps "x" is forbidden: unable to create new content in namespace going because it is being terminated',
    )
  })
})

describe('ServiceAccount', () => {
  it('forbids a pod whose service account does not exist', async () => {
    const t = makeApp()
    await t.ns('sa1')
    const r = await t.pod('sa1', 'x', { serviceAccountName: 'ghost' })
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'pods "x" is forbidden: error looking up service account sa1/ghost: serviceaccount "ghost" not found',
    )
  })

  it('defaults the service account and projects its token into every container', async () => {
    const t = makeApp()
    await t.ns('sa2')
    await t.sa('sa2')
    const r = await t.pod('sa2', 'web')
    expect(r.status).toBe(201)
    const spec = r.json.spec
    expect(spec.serviceAccountName).toBe('default')
    expect(spec.serviceAccount).toBe('default')
    const vol = spec.volumes[0]
    expect(vol.name).toMatch(/^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
    expect(vol.projected).toEqual({
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [
              {
                fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
                path: 'namespace',
              },
            ],
          },
        },
      ],
    })
    expect(spec.containers[0].volumeMounts).toEqual([
      {
        name: vol.name,
        readOnly: true,
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
      },
    ])
    // Priority and DefaultTolerationSeconds ran too.
    expect(spec.priority).toBe(0)
    expect(spec.preemptionPolicy).toBe('PreemptLowerPriority')
    expect(spec.tolerations).toEqual([
      {
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
      {
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
    ])
  })

  it('leaves the token out when automountServiceAccountToken is false', async () => {
    const t = makeApp()
    await t.ns('sa3')
    await t.sa('sa3')
    const r = await t.pod('sa3', 'web', { automountServiceAccountToken: false })
    expect(r.status).toBe(201)
    expect(r.json.spec.volumes).toBeUndefined()
  })
})

describe('LimitRanger', () => {
  const limitRange = (ns: string) => ({
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: { name: 'lr', namespace: ns },
    spec: {
      limits: [
        {
          type: 'Container',
          default: { cpu: '500m', memory: '128Mi' },
          defaultRequest: { cpu: '250m', memory: '64Mi' },
          max: { cpu: '1' },
        },
      ],
    },
  })

  it('fills in container defaults and says so in an annotation', async () => {
    const t = makeApp()
    await t.ns('lr1')
    await t.sa('lr1')
    await t.call('POST', '/api/v1/namespaces/lr1/limitranges', limitRange('lr1'))
    const r = await t.pod('lr1', 'web')
    expect(r.status).toBe(201)
    expect(r.json.spec.containers[0].resources).toEqual({
      limits: { cpu: '500m', memory: '128Mi' },
      requests: { cpu: '250m', memory: '64Mi' },
    })
    expect(r.json.metadata.annotations['kubernetes.io/limit-ranger']).toBe(
      'LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c',
    )
    expect(r.json.status.qosClass).toBe('Burstable')
  })

  it('forbids a container over the maximum', async () => {
    const t = makeApp()
    await t.ns('lr2')
    await t.sa('lr2')
    await t.call('POST', '/api/v1/namespaces/lr2/limitranges', limitRange('lr2'))
    const r = await t.pod('lr2', 'big', {
      containers: [{ name: 'c', image: 'nginx', resources: { limits: { cpu: '2' } } }],
    })
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2',
    )
  })
})

describe('ResourceQuota', () => {
  const quota = (ns: string, hard: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'q', namespace: ns },
    spec: { hard },
  })

  it("forbids the pod past the quota with kube-apiserver's message and keeps status.used", async () => {
    const t = makeApp()
    await t.ns('q1')
    await t.sa('q1')
    expect(
      (await t.call('POST', '/api/v1/namespaces/q1/resourcequotas', quota('q1', { pods: '2' })))
        .status,
    ).toBe(201)
    expect((await t.pod('q1', 'a')).status).toBe(201)
    expect((await t.pod('q1', 'b')).status).toBe(201)
    const r = await t.pod('q1', 'c')
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2',
    )
    const q = await t.call('GET', '/api/v1/namespaces/q1/resourcequotas/q')
    expect(q.json.status).toEqual({ hard: { pods: '2' }, used: { pods: '2' } })
    // A deleted pod gives its quota back.
    expect((await t.call('DELETE', '/api/v1/namespaces/q1/pods/a')).status).toBe(200)
    expect(
      (await t.call('GET', '/api/v1/namespaces/q1/resourcequotas/q')).json.status.used,
    ).toEqual({ pods: '1' })
    expect((await t.pod('q1', 'c')).status).toBe(201)
  })

  it('lets exactly as many racing creates through as the quota allows', async () => {
    const t = makeApp()
    await t.ns('q2')
    await t.sa('q2')
    await t.call('POST', '/api/v1/namespaces/q2/resourcequotas', quota('q2', { pods: '2' }))
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.pod('q2', `p${i}`)))
    expect(results.filter((r) => r.status === 201)).toHaveLength(2)
    expect(results.filter((r) => r.status === 403)).toHaveLength(8)
    expect((await t.call('GET', '/api/v1/namespaces/q2/pods')).json.items).toHaveLength(2)
    expect(
      (await t.call('GET', '/api/v1/namespaces/q2/resourcequotas/q')).json.status.used,
    ).toEqual({ pods: '2' })
  })

  it('demands requests when a quota limits cpu, and counts object kinds', async () => {
    const t = makeApp()
    await t.ns('q3')
    await t.sa('q3')
    await t.call(
      'POST',
      '/api/v1/namespaces/q3/resourcequotas',
      quota('q3', { 'requests.cpu': '1', 'count/configmaps': '1' }),
    )
    const r = await t.pod('q3', 'x')
    expect(r.json.message).toBe(
      'pods "x" is forbidden: failed quota: q: must specify requests.cpu for: c',
    )
    const cm = (name: string) =>
      t.call('POST', '/api/v1/namespaces/q3/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name },
      })
    expect((await cm('one')).status).toBe(201)
    expect((await cm('two')).json.message).toBe(
      'configmaps "two" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1',
    )
    const p = await t.pod('q3', 'y', {
      containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '600m' } } }],
    })
    expect(p.status).toBe(201)
    const p2 = await t.pod('q3', 'z', {
      containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '600m' } } }],
    })
    expect(p2.json.message).toBe(
      'pods "z" is forbidden: exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1',
    )
  })
})

describe('PodSecurity', () => {
  it('rejects a privileged pod in a restricted namespace with the PodSecurity message', async () => {
    const t = makeApp()
    await t.ns('ps1', { 'pod-security.kubernetes.io/enforce': 'restricted' })
    await t.sa('ps1')
    const r = await t.pod('ps1', 'priv', {
      containers: [{ name: 'c', image: 'nginx', securityContext: { privileged: true } }],
    })
    expect(r.status).toBe(403)
    expect(r.json.message).toBe(
      'pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    )
  })

  it('admits a restricted-compliant pod and warns under warn=baseline', async () => {
    const t = makeApp()
    await t.ns('ps2', { 'pod-security.kubernetes.io/enforce': 'restricted' })
    await t.sa('ps2')
    const ok = await t.pod('ps2', 'good', {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'c',
          image: 'nginx',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    })
    expect(ok.status).toBe(201)
    await t.ns('ps3', { 'pod-security.kubernetes.io/warn': 'baseline' })
    await t.sa('ps3')
    const warned = await t.pod('ps3', 'host', { hostNetwork: true })
    expect(warned.status).toBe(201)
    expect(warned.warning).toBe(
      '299 - "would violate PodSecurity \\"baseline:latest\\": host namespaces (hostNetwork)"',
    )
  })

  it('rejects an invalid level label on the namespace', async () => {
    const t = makeApp()
    const r = await t.ns('ps4', { 'pod-security.kubernetes.io/enforce': 'strict' })
    expect(r.status).toBe(422)
    expect(r.json.message).toBe(
      'Namespace "ps4" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted',
    )
  })
})

describe('Priority', () => {
  it('forbids a pod naming a PriorityClass that does not exist, and resolves one that does', async () => {
    const t = makeApp()
    await t.ns('pr1')
    await t.sa('pr1')
    const r = await t.pod('pr1', 'x', { priorityClassName: 'gold' })
    expect(r.json.message).toBe('pods "x" is forbidden: no PriorityClass with name gold was found')
    await t.call('POST', '/apis/scheduling.k8s.io/v1/priorityclasses', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name: 'gold' },
      value: 1000,
    })
    const ok = await t.pod('pr1', 'y', { priorityClassName: 'gold' })
    expect(ok.json.spec.priority).toBe(1000)
  })
})

describe('TaintNodesByCondition and NodeRestriction', () => {
  it('taints a new node not-ready, and keeps a kubelet to its own node', async () => {
    const t = makeApp({ enable: 'NodeRestriction' })
    const r = await t.call('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
    })
    expect(r.json.spec.taints).toEqual([
      { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' },
    ])
    const other = await t.call(
      'POST',
      '/api/v1/nodes',
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2' } },
      'node-token',
    )
    expect(other.json.message).toBe(
      'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"',
    )
  })
})

describe('DefaultStorageClass', () => {
  it('gives a claim without a class the default class', async () => {
    const t = makeApp()
    await t.ns('st1')
    await t.call('POST', '/apis/storage.k8s.io/v1/storageclasses', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: 'fast',
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: 'x',
    })
    const r = await t.call('POST', '/api/v1/namespaces/st1/persistentvolumeclaims', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'c' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    })
    expect(r.status).toBe(201)
    expect(r.json.spec.storageClassName).toBe('fast')
  })
})

describe('dry run', () => {
  it('checks quota without charging it', async () => {
    const t = makeApp()
    await t.ns('dry')
    await t.sa('dry')
    await t.call('POST', '/api/v1/namespaces/dry/resourcequotas', {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'q' },
      spec: { hard: { pods: '1' } },
    })
    const r = await t.call('POST', '/api/v1/namespaces/dry/pods?dryRun=All', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'a' },
      spec: { containers: [{ name: 'c', image: 'nginx' }] },
    })
    expect(r.status).toBe(201)
    expect(
      (await t.call('GET', '/api/v1/namespaces/dry/resourcequotas/q')).json.status.used,
    ).toEqual({ pods: '0' })
    expect((await t.pod('dry', 'b')).status).toBe(201)
    const again = await t.call('POST', '/api/v1/namespaces/dry/pods?dryRun=All', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'c' },
      spec: { containers: [{ name: 'c', image: 'nginx' }] },
    })
    expect(again.json.message).toBe(
      'pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1',
    )
  })
})

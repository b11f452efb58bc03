import { thrown } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import { builtinResources } from '../../src/registry/builtin'
import { create, kind, update } from './helpers'

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'default',
  ...extra,
})
// Structured bad values render through errors.ts (Go's %#v there); these tests pin field and detail only.
const invalidAt = (field: string, detail: string) =>
  expect.stringMatching(
    new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: Invalid value: .*: ${detail}$`),
  )
const podSpec = { containers: [{ name: 'web', image: 'nginx' }] }
const template = (labels: Record<string, string>) => ({ metadata: { labels }, spec: podSpec })

describe('the resource table', () => {
  const find = (group: string, resource: string) =>
    builtinResources.find((r) => r.group === group && r.resource === resource)!

  it('keeps kube-apiserver etcd layout', () => {
    expect(find('', 'services').storagePrefix).toBe('services/specs')
    expect(find('', 'endpoints').storagePrefix).toBe('services/endpoints')
    expect(find('', 'nodes').storagePrefix).toBe('minions')
    expect(find('', 'replicationcontrollers').storagePrefix).toBe('controllers')
    expect(find('networking.k8s.io', 'ingresses').storagePrefix).toBe('ingress')
    expect(find('events.k8s.io', 'events').storagePrefix).toBe('events')
  })

  it('has kube discovery data', () => {
    const pods = find('', 'pods')
    expect(pods).toMatchObject({
      kind: 'Pod',
      listKind: 'PodList',
      singular: 'pod',
      namespaced: true,
      shortNames: ['po'],
      categories: ['all'],
    })
    expect(find('', 'namespaces').verbs).not.toContain('deletecollection')
    expect(find('apps', 'deployments').subresources?.scale).toEqual({
      specReplicasPath: 'spec.replicas',
      statusReplicasPath: 'status.replicas',
      labelSelectorPath: 'spec.selector',
    })
    expect(
      builtinResources
        .filter((r) => r.categories?.includes('all'))
        .map((r) => `${r.resource}${r.group === 'autoscaling' ? `.${r.version}` : ''}`)
        .sort(),
    ).toEqual([
      'cronjobs',
      'daemonsets',
      'deployments',
      'horizontalpodautoscalers.v1',
      'horizontalpodautoscalers.v2',
      'jobs',
      'pods',
      'replicasets',
      'replicationcontrollers',
      'services',
      'statefulsets',
    ])
  })

  it('serves every requested resource once (HorizontalPodAutoscaler in two versions)', () => {
    const ids = builtinResources.map((r) => `${r.group}/${r.version}/${r.resource}`)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toHaveLength(53)
    expect(new Set(builtinResources.map((r) => `${r.group}/${r.resource}`)).size).toBe(52)
  })
})

describe('pods', () => {
  const pods = kind('', 'pods')
  it('defaults what kubectl get -o yaml shows', () => {
    const { obj, errors } = create(pods, {
      metadata: meta('p'),
      spec: {
        containers: [
          { name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] },
          { name: 'd', image: 'busybox:1.36' },
        ],
      },
    })
    expect(errors).toEqual([])
    const spec = obj.spec as any
    expect(spec).toMatchObject({
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      securityContext: {},
      enableServiceLinks: true,
    })
    expect(spec.containers[0]).toMatchObject({
      imagePullPolicy: 'Always',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      resources: {},
      ports: [{ containerPort: 80, protocol: 'TCP' }],
    })
    expect(spec.containers[1].imagePullPolicy).toBe('IfNotPresent')
    expect(obj.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' })
  })

  it('requires containers and reports bad container fields', () => {
    expect(create(pods, { metadata: meta('p'), spec: {} }).errors).toEqual([
      'spec.containers: Required value',
    ])
    const { errors } = create(pods, {
      metadata: meta('p'),
      spec: {
        containers: [{ name: 'c' }, { name: 'c', image: 'x', ports: [{ containerPort: 70000 }] }],
      },
    })
    expect(errors).toEqual([
      'spec.containers[0].image: Required value',
      'spec.containers[1].name: Duplicate value: "c"',
      'spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    ])
  })

  it('allows only image and a few fields to change', () => {
    const { obj: old } = create(pods, { metadata: meta('p'), spec: podSpec })
    expect(
      update(
        pods,
        {
          ...old,
          spec: {
            ...(old.spec as object),
            containers: [{ ...(old.spec as any).containers[0], image: 'nginx:2' }],
          },
        },
        old,
      ).errors,
    ).toEqual([])
    const { errors } = update(
      pods,
      { ...old, spec: { ...(old.spec as object), restartPolicy: 'Never' } },
      old,
    )
    expect(errors[0]).toMatch(
      /^spec: Forbidden: pod updates may not change fields other than `spec\.containers\[\*\]\.image`/,
    )
  })

  it('keeps status on a spec update and selects by kube field labels', () => {
    const { obj } = create(pods, {
      metadata: meta('p'),
      spec: { ...podSpec, nodeName: 'n1', hostNetwork: true },
    })
    expect(pods.strategy.fieldSelectors!['spec.nodeName'](obj)).toBe('n1')
    expect(pods.strategy.fieldSelectors!['spec.hostNetwork'](obj)).toBe('true')
    expect(pods.strategy.fieldSelectors!['status.phase'](obj)).toBe('Pending')
  })
})

describe('configmaps and secrets', () => {
  const cms = kind('', 'configmaps')
  const secrets = kind('', 'secrets')
  it('rejects bad keys', () => {
    expect(create(cms, { metadata: meta('c'), data: { 'a b': 'x' } }).errors[0]).toMatch(
      /^data\[a b\]: Invalid value: "a b": a valid config key must consist of alphanumeric characters/,
    )
  })

  it('freezes data once immutable', () => {
    const old = create(cms, { metadata: meta('c'), data: { a: '1' }, immutable: true }).obj
    expect(update(cms, { ...old, data: { a: '2' } }, old).errors).toEqual([
      'data: Forbidden: field is immutable when `immutable` is set',
    ])
    expect(update(cms, { ...old, immutable: false }, old).errors).toEqual([
      'immutable: Forbidden: field is immutable when `immutable` is set',
    ])
  })

  it('defaults the secret type, folds stringData into data, and freezes the type', () => {
    const { obj, errors } = create(secrets, { metadata: meta('s'), stringData: { password: 'hé' } })
    expect(errors).toEqual([])
    expect(obj).toMatchObject({ type: 'Opaque', data: { password: 'aMOp' } })
    expect(obj.stringData).toBeUndefined()
    expect(update(secrets, { ...obj, type: 'kubernetes.io/tls' }, obj).errors[0]).toBe(
      'type: Invalid value: "kubernetes.io/tls": field is immutable',
    )
  })

  it("reports a docker config that is not a JSON object in encoding/json's words", () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64')
    const dockerConfig = (text: string) =>
      create(secrets, {
        metadata: meta('d'),
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': b64(text) },
      }).errors
    expect(dockerConfig('{"auths":{}}')).toEqual([])
    expect(dockerConfig('{"auths":')).toEqual([
      'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input',
    ])
    expect(dockerConfig('xyz')).toEqual([
      'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character \'x\' looking for beginning of value',
    ])
    expect(dockerConfig('[]')).toEqual([
      'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal array into Go value of type map[string]interface {}',
    ])
  })

  it('answers 400 for a value that is not base64, as decoding does', () => {
    expect(() => create(secrets, { metadata: meta('s'), data: { a: 'not base64!' } })).toThrowError(
      'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3',
    )
  })
})

describe('namespaces', () => {
  const ns = kind('', 'namespaces')
  it('requires a DNS label name and starts Active with the kubernetes finalizer', () => {
    expect(ns.strategy.validateName!('a.b', false)).toEqual(['must not contain dots'])
    const { obj } = create(ns, { metadata: { name: 'team-a' } })
    expect(obj).toMatchObject({
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
      metadata: { labels: { 'kubernetes.io/metadata.name': 'team-a' } },
    })
  })
})

describe('deployments', () => {
  const deploys = kind('apps', 'deployments')
  const d = {
    metadata: meta('web'),
    spec: { selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }) },
  }
  it('defaults replicas, strategy and history', () => {
    const { obj, errors } = create(deploys, d)
    expect(errors).toEqual([])
    expect(obj.spec).toMatchObject({
      replicas: 1,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
      },
    })
    expect((obj.spec as any).template.metadata.creationTimestamp).toBeNull()
    expect(obj.metadata!.generation).toBe(1)
    expect(obj.status).toEqual({})
  })

  it('requires the template labels to match the selector', () => {
    const { errors } = create(deploys, {
      ...d,
      spec: { ...d.spec, template: template({ app: 'other' }) },
    })
    expect(errors).toEqual([
      invalidAt('spec.template.metadata.labels', '`selector` does not match template `labels`'),
    ])
  })

  it('keeps the selector immutable', () => {
    const old = create(deploys, d).obj
    const changed = {
      ...old,
      spec: {
        ...(old.spec as object),
        selector: { matchLabels: { app: 'web2' } },
        template: template({ app: 'web2' }),
      },
    }
    expect(update(deploys, changed, old).errors).toEqual([
      invalidAt('spec.selector', 'field is immutable'),
    ])
  })

  it('answers a wrong JSON type with the decode error kube-apiserver gives', () => {
    expect(() => create(deploys, { ...d, spec: { ...d.spec, replicas: 'x' } })).toThrowError(
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32',
    )
    expect(thrown(() => create(deploys, { ...d, spec: { ...d.spec, replicas: 'x' } })).code).toBe(
      400,
    )
  })

  it('bumps generation on spec and annotation changes only', () => {
    const old = create(deploys, d).obj
    expect(
      deploys.strategy.specChanged!(
        { ...old, metadata: { ...old.metadata, labels: { a: 'b' } } },
        old,
      ),
    ).toBe(false)
    expect(
      deploys.strategy.specChanged!(
        { ...old, metadata: { ...old.metadata, annotations: { a: 'b' } } },
        old,
      ),
    ).toBe(true)
  })

  it('only allows restartPolicy Always in the template', () => {
    const { errors } = create(deploys, {
      ...d,
      spec: {
        ...d.spec,
        template: { ...template({ app: 'web' }), spec: { ...podSpec, restartPolicy: 'Never' } },
      },
    })
    expect(errors).toEqual([
      'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ])
  })
})

describe('jobs', () => {
  const jobs = kind('batch', 'jobs')
  const job = {
    metadata: meta('pi'),
    spec: { template: { spec: { ...podSpec, restartPolicy: 'Never' } } },
  }
  it('generates the controller-uid selector and pod labels', () => {
    const { obj, errors } = create(jobs, job)
    expect(errors).toEqual([])
    const spec = obj.spec as any
    expect(spec.selector).toEqual({
      matchLabels: { 'batch.kubernetes.io/controller-uid': 'uid-1' },
    })
    expect(spec.template.metadata.labels).toEqual({
      'batch.kubernetes.io/controller-uid': 'uid-1',
      'batch.kubernetes.io/job-name': 'pi',
      'controller-uid': 'uid-1',
      'job-name': 'pi',
    })
    expect(obj.metadata!.labels).toEqual(spec.template.metadata.labels)
    expect(spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      suspend: false,
      podReplacementPolicy: 'TerminatingOrFailed',
    })
  })

  it('rejects the default restartPolicy Always', () => {
    const { errors } = create(jobs, { metadata: meta('pi'), spec: { template: { spec: podSpec } } })
    expect(errors).toEqual([
      'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"',
    ])
  })

  it('keeps the template immutable', () => {
    const old = create(jobs, job).obj
    const spec = JSON.parse(JSON.stringify(old.spec))
    spec.template.spec.containers[0].image = 'other'
    expect(update(jobs, { ...old, spec }, old).errors).toEqual([
      invalidAt('spec.template', 'field is immutable'),
    ])
  })
})

describe('services', () => {
  const svcs = kind('', 'services')
  it('defaults type, protocol, targetPort and families', () => {
    const { obj, errors } = create(svcs, {
      metadata: meta('web'),
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    })
    expect(errors).toEqual([])
    expect(obj.spec).toMatchObject({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    })
    expect(obj.status).toEqual({ loadBalancer: {} })
  })

  it('names must be DNS-1035 labels and ports are required', () => {
    expect(svcs.strategy.validateName!('1web', false)[0]).toMatch(/^a DNS-1035 label/)
    expect(create(svcs, { metadata: meta('web'), spec: {} }).errors).toEqual([
      'spec.ports: Required value',
    ])
    expect(
      create(svcs, { metadata: meta('web'), spec: { ports: [{ port: 80 }, { port: 81 }] } }).errors,
    ).toEqual(['spec.ports[0].name: Required value', 'spec.ports[1].name: Required value'])
  })

  it('keeps an allocated cluster IP across an update that omits it', () => {
    const { obj: old } = create(svcs, {
      metadata: meta('web'),
      spec: { ports: [{ port: 80 }], clusterIP: '10.96.0.20' },
    })
    const { obj, errors } = update(
      svcs,
      { metadata: old.metadata, spec: { ports: [{ port: 80 }] } },
      old,
    )
    expect(errors).toEqual([])
    expect((obj.spec as any).clusterIPs).toEqual(['10.96.0.20'])
    expect(
      update(
        svcs,
        {
          ...old,
          spec: { ...(old.spec as object), clusterIP: '10.96.0.21', clusterIPs: ['10.96.0.21'] },
        },
        old,
      ).errors,
    ).toEqual([invalidAt('spec.clusterIPs[0]', 'may not change once set')])
  })
})

describe('events', () => {
  const core = kind('', 'events')
  const v1 = kind('events.k8s.io', 'events')
  it('maps events.k8s.io fields onto the core storage', () => {
    const stored = v1.convert!.toStorage({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: meta('e'),
      regarding: { kind: 'Pod', name: 'p' },
      note: 'hi',
      reportingController: 'c',
      deprecatedCount: 2,
    })
    expect(stored).toMatchObject({
      apiVersion: 'v1',
      involvedObject: { kind: 'Pod', name: 'p' },
      message: 'hi',
      reportingComponent: 'c',
      count: 2,
    })
    expect(v1.convert!.fromStorage(stored)).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      regarding: { kind: 'Pod' },
      note: 'hi',
    })
    expect(core.strategy.fieldSelectors!['involvedObject.name'](stored)).toBe('p')
  })
})

describe('other kinds', () => {
  it('rbac bindings cannot change roleRef and default subject groups', () => {
    const rb = kind('rbac.authorization.k8s.io', 'rolebindings')
    const { obj, errors } = create(rb, {
      metadata: meta('b'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' },
      subjects: [{ kind: 'User', name: 'alice' }],
    })
    expect(errors).toEqual([])
    expect((obj.subjects as any)[0].apiGroup).toBe('rbac.authorization.k8s.io')
    expect(
      update(rb, { ...obj, roleRef: { ...(obj.roleRef as object), name: 'other' } }, obj).errors,
    ).toEqual([invalidAt('roleRef', 'cannot change roleRef')])
  })

  it('storage classes default policies and freeze parameters', () => {
    const sc = kind('storage.k8s.io', 'storageclasses')
    const { obj } = create(sc, { metadata: { name: 'fast' }, provisioner: 'example.com/disk' })
    expect(obj).toMatchObject({ reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate' })
    expect(update(sc, { ...obj, parameters: { a: 'b' } }, obj).errors).toEqual([
      'parameters: Forbidden: updates to parameters are forbidden.',
    ])
  })

  it('webhook configurations get kube defaults', () => {
    const vwc = kind('admissionregistration.k8s.io', 'validatingwebhookconfigurations')
    const { obj, errors } = create(vwc, {
      metadata: { name: 'v' },
      webhooks: [
        {
          name: 'v.example.com',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          clientConfig: { service: { namespace: 'n', name: 's' } },
          rules: [
            { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
          ],
        },
      ],
    })
    expect(errors).toEqual([])
    expect((obj.webhooks as any)[0]).toMatchObject({
      failurePolicy: 'Fail',
      matchPolicy: 'Equivalent',
      timeoutSeconds: 10,
      namespaceSelector: {},
      objectSelector: {},
      clientConfig: { service: { port: 443 } },
      rules: [{ scope: '*' }],
    })
  })

  it('schema required fields come back as field errors', () => {
    const ing = kind('networking.k8s.io', 'ingresses')
    const { errors } = create(ing, {
      metadata: meta('i'),
      spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix' }] } }] },
    })
    expect(errors).toEqual(['spec.rules[0].http.paths[0].backend: Required value'])
  })

  it('cronjob schedules are parsed as robfig/cron does', () => {
    const cj = kind('batch', 'cronjobs')
    const { errors } = create(cj, {
      metadata: meta('c'),
      spec: {
        schedule: 'every minute',
        jobTemplate: { spec: { template: { spec: { ...podSpec, restartPolicy: 'OnFailure' } } } },
      },
    })
    expect(errors).toEqual([
      'spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]',
    ])
  })
})

// Admission through the real kubectl against `npm start`: kube-apiserver's built-in plugins, webhooks served by
// the test on loopback HTTPS, and a ValidatingAdmissionPolicy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server'
import { LocalServer } from './harness'

type Obj = Record<string, any>
let server: LocalServer
let webhook: WebhookServer

beforeAll(async () => {
  webhook = await startWebhookServer('admission-e2e', (review, path) => {
    const r = review.request
    let response: Obj = { uid: r.uid, allowed: true }
    if (path === '/validate' && r.object?.metadata?.labels?.forbidden === 'yes') {
      response = {
        uid: r.uid,
        allowed: false,
        status: { code: 403, message: 'ConfigMaps labelled forbidden=yes are not allowed' },
      }
    }
    if (path === '/mutate') {
      const patch = [
        {
          op: 'add',
          path: '/metadata/labels',
          value: { ...(r.object?.metadata?.labels ?? {}), 'mutated-by': 'webhook' },
        },
      ]
      response = {
        uid: r.uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      }
    }
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }
  })
  server = await LocalServer.start()
})

afterAll(async () => {
  await server?.dispose()
  await webhook?.close()
})

const create = (obj: unknown, ...args: string[]) =>
  server.kubectl(['create', '-f', '-', ...args], { input: JSON.stringify(obj) })
async function mustCreate(obj: unknown, ...args: string[]): Promise<string> {
  const r = await create(obj, ...args)
  if (r.code !== 0) throw new Error(`kubectl create failed: ${r.stderr}`)
  return r.stdout
}
const json = async (...args: string[]) => JSON.parse(await server.k(...args, '-o', 'json'))

/** A namespace with its default service account (created here rather than waiting for the controller). */
async function namespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await mustCreate({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
  const r = await create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'default', namespace: name },
  })
  if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr)
}
const pod = (name: string, ns: string, spec: Obj = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'c', image: 'nginx' }], ...spec },
})

describe('built-in admission plugins through kubectl', () => {
  it("refuses to create into a missing namespace with kube-apiserver's message", async () => {
    const r = await create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x', namespace: 'does-not-exist' },
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'Error from server (NotFound): error when creating "STDIN": namespaces "does-not-exist" not found',
    )
  })

  it('refuses to delete the default namespace', async () => {
    const r = await server.kubectl(['delete', 'namespace', 'default'])
    expect(r.stderr).toContain(
      'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted',
    )
  })

  it('gives a pod the LimitRange defaults and the service account token volume', async () => {
    await namespace('lr')
    await mustCreate({
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'defaults', namespace: 'lr' },
      spec: {
        limits: [
          {
            type: 'Container',
            default: { cpu: '500m', memory: '256Mi' },
            defaultRequest: { cpu: '100m', memory: '128Mi' },
          },
        ],
      },
    })
    await mustCreate(pod('web', 'lr'))
    const p = await json('get', 'pod', 'web', '-n', 'lr')
    expect(p.spec.containers[0].resources).toEqual({
      limits: { cpu: '500m', memory: '256Mi' },
      requests: { cpu: '100m', memory: '128Mi' },
    })
    expect(p.metadata.annotations['kubernetes.io/limit-ranger']).toBe(
      'LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c',
    )
    expect(p.spec.serviceAccountName).toBe('default')
    expect(p.spec.volumes[0].name).toMatch(/^kube-api-access-/)
    expect(p.spec.containers[0].volumeMounts[0].mountPath).toBe(
      '/var/run/secrets/kubernetes.io/serviceaccount',
    )
  })

  it("forbids the third pod under a quota of 2, with kube-apiserver's message", async () => {
    await namespace('quota')
    await mustCreate({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'pods', namespace: 'quota' },
      spec: { hard: { pods: '2' } },
    })
    await mustCreate(pod('p1', 'quota'))
    await mustCreate(pod('p2', 'quota'))
    const r = await create(pod('p3', 'quota'))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'Error from server (Forbidden): error when creating "STDIN": pods "p3" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2',
    )
    const q = await json('get', 'resourcequota', 'pods', '-n', 'quota')
    expect(q.status.used).toEqual({ pods: '2' })
    // A deleted pod gives its share back as its delete commits, so the third fits at once.
    await server.k('delete', 'pod', 'p1', '-n', 'quota', '--wait=false')
    const after = await json('get', 'resourcequota', 'pods', '-n', 'quota')
    expect(after.status.used).toEqual({ pods: '1' })
    await mustCreate(pod('p3', 'quota'))
  })

  it('lets exactly 2 of 10 racing creates through a quota of 2', async () => {
    await namespace('race')
    await mustCreate({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'pods', namespace: 'race' },
      spec: { hard: { pods: '2' } },
    })
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => create(pod(`r${i}`, 'race'))),
    )
    expect(results.filter((r) => r.code === 0)).toHaveLength(2)
    for (const r of results.filter((x) => x.code !== 0))
      expect(r.stderr).toContain(
        'exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2',
      )
    expect((await json('get', 'pods', '-n', 'race')).items).toHaveLength(2)
  })

  it('rejects a privileged pod in a restricted namespace with the PodSecurity message', async () => {
    await namespace('restricted', { 'pod-security.kubernetes.io/enforce': 'restricted' })
    const r = await create(
      pod('priv', 'restricted', {
        containers: [{ name: 'c', image: 'nginx', securityContext: { privileged: true } }],
      }),
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'Error from server (Forbidden): error when creating "STDIN": pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    )
  })
})

describe('webhooks and policies through kubectl', () => {
  const hook = (path: string) => ({
    clientConfig: { url: webhook.url + path, caBundle: webhook.caBundle },
    rules: [
      { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] },
    ],
    namespaceSelector: { matchLabels: { webhooks: 'on' } },
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 5,
  })

  it('a validating webhook denies a labelled ConfigMap and a mutating webhook adds a label', async () => {
    await namespace('hooks', { webhooks: 'on' })
    await mustCreate({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'deny-forbidden' },
      webhooks: [{ name: 'deny.e2e.example.com', ...hook('/validate') }],
    })
    await mustCreate({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'add-label' },
      webhooks: [{ name: 'mutate.e2e.example.com', ...hook('/mutate') }],
    })
    const denied = await create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'no', namespace: 'hooks', labels: { forbidden: 'yes' } },
    })
    expect(denied.code).not.toBe(0)
    // The webhook's status has a code but no reason: kubectl prints no reason, as against kube-apiserver.
    expect(denied.stderr).toContain(
      'Error from server: error when creating "STDIN": admission webhook "deny.e2e.example.com" denied the request: ConfigMaps labelled forbidden=yes are not allowed',
    )
    await mustCreate({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'yes', namespace: 'hooks', labels: { app: 'x' } },
    })
    const cm = await json('get', 'configmap', 'yes', '-n', 'hooks')
    expect(cm.metadata.labels).toEqual({ app: 'x', 'mutated-by': 'webhook' })
    await server.k('delete', 'validatingwebhookconfiguration', 'deny-forbidden')
    await server.k('delete', 'mutatingwebhookconfiguration', 'add-label')
  })

  it('a ValidatingAdmissionPolicy rejects replicas 6 with its message', async () => {
    await mustCreate({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'replica-limit' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['apps'],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['deployments'],
            },
          ],
        },
        validations: [
          {
            expression: 'object.spec.replicas <= 5',
            message: 'replicas must be no greater than 5',
          },
        ],
      },
    })
    await mustCreate({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'replica-limit-binding' },
      spec: { policyName: 'replica-limit', validationActions: ['Deny'] },
    })
    const deployment = (replicas: number) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    })
    const r = await create(deployment(6))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      "The deployments \"web\" is invalid: : ValidatingAdmissionPolicy 'replica-limit' with binding 'replica-limit-binding' denied request: replicas must be no greater than 5",
    )
    await mustCreate(deployment(5))
  })
})

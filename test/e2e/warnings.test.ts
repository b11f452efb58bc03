// Warnings reach the client on every verb, errors included, as kube-apiserver's WithWarningRecorder writes
// them: kubectl prints each "Warning: ..." on stderr. A ValidatingAdmissionPolicy bound with
// validationActions [Warn] warns on every write of a ConfigMap in namespace "warned", deletes included;
// a second one, bound with [Deny], refuses a ConfigMap labelled deny. A validating webhook served by the test
// answers every delete of a Secret there with a warning, twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server'
import { LocalServer } from './harness'

let server: LocalServer
let webhook: WebhookServer
const NS = 'warned'
const WARNING =
  "Validation failed for ValidatingAdmissionPolicy 'watch-configmaps' with binding 'watch-configmaps-binding': configmaps here are watched"

const apply = (obj: unknown) => server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) })

beforeAll(async () => {
  webhook = await startWebhookServer('warnings-e2e', (review) => {
    const r = review.request
    const warning = `webhook saw ${r.operation} of secrets/${r.name}`
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: r.uid, allowed: true, warnings: [warning, warning] },
    }
  })
  server = await LocalServer.start()
  await server.k('create', 'namespace', NS)
  const rules = [
    {
      apiGroups: [''],
      apiVersions: ['v1'],
      operations: ['CREATE', 'UPDATE', 'DELETE'],
      resources: ['configmaps'],
    },
  ]
  const inNamespace = {
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [NS] }],
  }
  for (const obj of [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'watch-configmaps' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: rules, namespaceSelector: inNamespace },
        validations: [{ expression: 'false', message: 'configmaps here are watched' }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'watch-configmaps-binding' },
      spec: { policyName: 'watch-configmaps', validationActions: ['Warn'] },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'deny-labelled' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: rules, namespaceSelector: inNamespace },
        validations: [
          {
            expression:
              "object == null || !has(object.metadata.labels) || !('deny' in object.metadata.labels)",
            message: 'labelled deny',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'deny-labelled-binding' },
      spec: { policyName: 'deny-labelled', validationActions: ['Deny'] },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'warn-secret-deletes' },
      webhooks: [
        {
          name: 'warn.secrets.example.com',
          clientConfig: { url: `${webhook.url}/warn`, caBundle: webhook.caBundle },
          rules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['DELETE'],
              resources: ['secrets'],
            },
          ],
          namespaceSelector: inNamespace,
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
        },
      ],
    },
  ]) {
    const r = await apply(obj)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  }
})
afterAll(async () => {
  await server?.dispose()
  await webhook?.close()
})

describe('warnings on every verb', () => {
  it("kubectl create prints the policy's warning", async () => {
    const r = await server.kubectl(['create', 'configmap', 'w', '-n', NS, '--from-literal=a=1'])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(`Warning: ${WARNING}\n`)
    expect(r.stdout).toBe('configmap/w created\n')
  })

  it('kubectl replace (update) prints it', async () => {
    const live = JSON.parse(await server.k('get', 'configmap', 'w', '-n', NS, '-o', 'json'))
    live.data.b = '2'
    const r = await server.kubectl(['replace', '-f', '-'], { input: JSON.stringify(live) })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(`Warning: ${WARNING}\n`)
  })

  it('kubectl patch of each type and server-side apply print it', async () => {
    for (const args of [
      ['patch', 'configmap', 'w', '-n', NS, '--type', 'strategic', '-p', '{"data":{"c":"3"}}'],
      ['patch', 'configmap', 'w', '-n', NS, '--type', 'merge', '-p', '{"data":{"d":"4"}}'],
      [
        'patch',
        'configmap',
        'w',
        '-n',
        NS,
        '--type',
        'json',
        '-p',
        '[{"op":"add","path":"/data/e","value":"5"}]',
      ],
    ]) {
      const r = await server.kubectl(args)
      expect(r.code).toBe(0)
      expect(r.stderr).toBe(`Warning: ${WARNING}\n`)
    }
    const ssa = await server.kubectl(['apply', '--server-side', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'w', namespace: NS },
        data: { f: '6' },
      }),
    })
    expect(ssa.code).toBe(0)
    expect(ssa.stderr).toBe(`Warning: ${WARNING}\n`)
  })

  it('kubectl delete prints it', async () => {
    const r = await server.kubectl(['delete', 'configmap', 'w', '-n', NS])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(`Warning: ${WARNING}\n`)
    expect(r.stdout).toBe('configmap "w" deleted\n')
  })

  it("kubectl delete prints an admission webhook's warning, which the server sends once", async () => {
    await server.k('create', 'secret', 'generic', 's', '-n', NS, '--from-literal=a=1')
    const r = await server.kubectl(['delete', 'secret', 's', '-n', NS])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('Warning: webhook saw DELETE of secrets/s\n')
    await server.k('create', 'secret', 'generic', 't', '-n', NS, '--from-literal=a=1')
    const raw = await server.request('DELETE', `/api/v1/namespaces/${NS}/secrets/t`)
    expect(raw.status).toBe(200)
    expect(raw.headers.warning).toBe('299 - "webhook saw DELETE of secrets/t"')
  })

  it('a refused write prints the warnings recorded before the refusal, then the error', async () => {
    const r = await server.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'refused', namespace: NS, labels: { deny: 'yes' } },
      }),
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(`Warning: ${WARNING}\n`)
    expect(r.stderr).toContain(
      "ValidatingAdmissionPolicy 'deny-labelled' with binding 'deny-labelled-binding' denied request: labelled deny",
    )
  })

  it('sends the warning as a 299 Warning header on a delete of a collection and on an error Status', async () => {
    await server.k('create', 'configmap', 'x', '-n', NS)
    const del = await server.request('DELETE', `/api/v1/namespaces/${NS}/configmaps`)
    expect(del.status).toBe(200)
    expect(del.headers.warning).toBe(`299 - "${WARNING}"`)
    const refused = await server.request(
      'POST',
      `/api/v1/namespaces/${NS}/configmaps`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'r', labels: { deny: '1' } },
      }),
    )
    expect(refused.status).toBe(422)
    expect(refused.headers.warning).toBe(`299 - "${WARNING}"`)
    expect(JSON.parse(refused.body).reason).toBe('Invalid')
  })
})

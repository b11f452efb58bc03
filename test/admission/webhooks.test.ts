// Admission webhooks served by the test over HTTPS on loopback (with a caBundle, verified by Node mode's
// webhook client), and ValidatingAdmissionPolicy with CEL.
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCA, signCertificate } from '../../src/node/pki'
import { nodeWebhookFetch } from '../../src/node/webhook-fetch'
import { makeApp } from '../helpers/app'

type Obj = Record<string, any>
let server: Server
let base = ''
let caBundle = ''
let otherCA = ''

function review(req: Obj, response: Obj): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: req.uid, ...response },
  }
}

beforeAll(async () => {
  const ca = createCA('webhook-ca')
  const leaf = signCertificate(ca, {
    subject: { commonName: 'webhook' },
    usage: 'server',
    hosts: ['127.0.0.1', 'localhost'],
  })
  caBundle = Buffer.from(ca.certPem).toString('base64')
  otherCA = Buffer.from(createCA('other').certPem).toString('base64')
  server = createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', async () => {
      const path = (req.url ?? '').split('?')[0]
      const r = (JSON.parse(body) as Obj).request
      const send = (o: unknown) => {
        res.setHeader('content-type', 'application/json')
        res.end(typeof o === 'string' ? o : JSON.stringify(o))
      }
      if (path === '/deny-labelled') {
        const denied = r.object?.metadata?.labels?.deny === 'true'
        return send(
          review(
            r,
            denied
              ? { allowed: false, status: { code: 403, message: 'labelled deny' } }
              : { allowed: true, warnings: ['seen by the webhook'] },
          ),
        )
      }
      if (path === '/add-label') {
        const patch = r.object?.metadata?.labels
          ? [{ op: 'add', path: '/metadata/labels/mutated', value: 'yes' }]
          : [{ op: 'add', path: '/metadata/labels', value: { mutated: 'yes' } }]
        return send(
          review(r, {
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
            auditAnnotations: { why: 'test' },
          }),
        )
      }
      if (path === '/bad-patch') {
        const patch = [{ op: 'add', path: '/data', value: 'not a map' }]
        return send(
          review(r, {
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
          }),
        )
      }
      if (path === '/garbage') return send('this is not json')
      if (path === '/slow') {
        await new Promise((x) => setTimeout(x, 2500))
        return send(review(r, { allowed: true }))
      }
      res.statusCode = 404
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

const rules = [
  {
    operations: ['CREATE', 'UPDATE'],
    apiGroups: [''],
    apiVersions: ['v1'],
    resources: ['configmaps'],
  },
]
function validating(name: string, path: string, extra: Obj = {}): Obj {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: `${name}.example.com`,
        clientConfig: { url: base + path, caBundle },
        rules,
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        ...extra,
      },
    ],
  }
}
function mutating(name: string, path: string, extra: Obj = {}): Obj {
  return { ...validating(name, path, extra), kind: 'MutatingWebhookConfiguration' }
}
const cm = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, labels },
  data: { a: 'b' },
})

describe('ValidatingAdmissionWebhook', () => {
  it("denies a labelled ConfigMap with the webhook's message and passes its warnings on", async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    expect(
      (
        await t.call(
          'POST',
          '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
          validating('deny', '/deny-labelled'),
        )
      ).status,
    ).toBe(201)
    const denied = await t.call(
      'POST',
      '/api/v1/namespaces/default/configmaps',
      cm('bad', { deny: 'true' }),
    )
    expect(denied.status).toBe(403)
    expect(denied.json.message).toBe(
      'admission webhook "deny.example.com" denied the request: labelled deny',
    )
    expect((await t.call('GET', '/api/v1/namespaces/default/configmaps/bad')).status).toBe(404)
    const ok = await t.call('POST', '/api/v1/namespaces/default/configmaps', cm('good'))
    expect(ok.status).toBe(201)
    expect(ok.warning).toBe('299 - "seen by the webhook"')
  })

  it('fails closed, naming the webhook, when it cannot be reached, and open with failurePolicy Ignore', async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    await t.call('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', {
      ...validating('down', '/x'),
      webhooks: [
        {
          ...validating('down', '/x').webhooks[0],
          clientConfig: { url: 'https://127.0.0.1:1/x', caBundle },
        },
      ],
    })
    const r = await t.call('POST', '/api/v1/namespaces/default/configmaps', cm('a'))
    expect(r.status).toBe(500)
    expect(r.json.message).toBe(
      'Internal error occurred: failed calling webhook "down.example.com": failed to call webhook: Post "https://127.0.0.1:1/x?timeout=10s": dial tcp 127.0.0.1:1: connect: connection refused',
    )
    const t2 = makeApp({ fetch: nodeWebhookFetch })
    await t2.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      validating('garbage', '/garbage', { failurePolicy: 'Ignore' }),
    )
    expect((await t2.call('POST', '/api/v1/namespaces/default/configmaps', cm('a'))).status).toBe(
      201,
    )
  })

  it('answers garbage, timeouts and an unknown CA by failurePolicy Fail', async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      validating('garbage', '/garbage'),
    )
    const r = await t.call('POST', '/api/v1/namespaces/default/configmaps', cm('a'))
    expect(r.status).toBe(500)
    expect(r.json.message).toMatch(
      /^Internal error occurred: failed calling webhook "garbage.example.com": received invalid webhook response: /,
    )

    const slow = makeApp({ fetch: nodeWebhookFetch })
    await slow.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      validating('slow', '/slow', { timeoutSeconds: 1 }),
    )
    const s = await slow.call('POST', '/api/v1/namespaces/default/configmaps', cm('a'))
    expect(s.json.message).toBe(
      `Internal error occurred: failed calling webhook "slow.example.com": failed to call webhook: Post "${base}/slow?timeout=1s": context deadline exceeded`,
    )

    const wrongCA = makeApp({ fetch: nodeWebhookFetch })
    const cfg = validating('ca', '/deny-labelled')
    cfg.webhooks[0].clientConfig.caBundle = otherCA
    await wrongCA.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      cfg,
    )
    const w = await wrongCA.call('POST', '/api/v1/namespaces/default/configmaps', cm('a'))
    expect(w.json.message).toMatch(
      /failed calling webhook "ca.example.com": failed to call webhook: Post .*x509: certificate signed by unknown authority/,
    )
  })

  it('is skipped when matchConditions are false', async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      validating('cond', '/deny-labelled', {
        matchConditions: [
          { name: 'not-exempt', expression: "!('exempt' in object.metadata.labels)" },
        ],
      }),
    )
    expect(
      (
        await t.call(
          'POST',
          '/api/v1/namespaces/default/configmaps',
          cm('x', { deny: 'true', exempt: 'yes' }),
        )
      ).status,
    ).toBe(201)
    expect(
      (await t.call('POST', '/api/v1/namespaces/default/configmaps', cm('y', { deny: 'true' })))
        .status,
    ).toBe(403)
  })

  it('rejects a configuration whose matchCondition does not compile', async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    const r = await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      validating('broken', '/x', {
        matchConditions: [{ name: 'c', expression: 'object.metadata.name ==' }],
      }),
    )
    expect(r.status).toBe(422)
    expect(r.json.message).toMatch(
      /webhooks\[0\]\.matchConditions\[0\]\.expression: Invalid value: "object\.metadata\.name ==": compilation failed: /,
    )
  })
})

describe('MutatingAdmissionWebhook', () => {
  it('adds a label through a JSON patch', async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    expect(
      (
        await t.call(
          'POST',
          '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
          mutating('label', '/add-label'),
        )
      ).status,
    ).toBe(201)
    const r = await t.call('POST', '/api/v1/namespaces/default/configmaps', cm('m', { keep: 'me' }))
    expect(r.status).toBe(201)
    expect(r.json.metadata.labels).toEqual({ keep: 'me', mutated: 'yes' })
  })

  it('stores nothing when a patch breaks the schema, and names the webhook', async () => {
    const t = makeApp({ fetch: nodeWebhookFetch })
    await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      mutating('bad', '/bad-patch'),
    )
    const r = await t.call('POST', '/api/v1/namespaces/default/configmaps', cm('m'))
    expect(r.status).toBe(500)
    expect(r.json.message).toContain(
      'admission webhook "bad.example.com" returned a patch that does not decode',
    )
    expect((await t.call('GET', '/api/v1/namespaces/default/configmaps/m')).status).toBe(404)
  })
})

describe('ValidatingAdmissionPolicy', () => {
  const policy = (expression: string, extra: Obj = {}) => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: 'max-replicas' },
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
      validations: [{ expression, ...extra }],
    },
  })
  const binding = (actions: string[]) => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: 'max-replicas-binding' },
    spec: { policyName: 'max-replicas', validationActions: actions },
  })
  const deployment = (replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  })

  it('denies replicas 6 with its message', async () => {
    const t = makeApp()
    expect(
      (
        await t.call(
          'POST',
          '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
          policy('object.spec.replicas <= 5', { message: 'replicas must be no more than 5' }),
        )
      ).status,
    ).toBe(201)
    expect(
      (
        await t.call(
          'POST',
          '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
          binding(['Deny']),
        )
      ).status,
    ).toBe(201)
    const r = await t.call('POST', '/apis/apps/v1/namespaces/default/deployments', deployment(6))
    expect(r.status).toBe(422)
    expect(r.json.reason).toBe('Invalid')
    expect(r.json.message).toBe(
      "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: replicas must be no more than 5",
    )
    expect(
      (await t.call('POST', '/apis/apps/v1/namespaces/default/deployments', deployment(5))).status,
    ).toBe(201)
  })

  it('uses messageExpression, and only warns under Warn', async () => {
    const t = makeApp()
    await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
      policy('object.spec.replicas <= 5', {
        messageExpression: "'replicas ' + string(object.spec.replicas) + ' > 5'",
      }),
    )
    await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
      binding(['Warn', 'Audit']),
    )
    const r = await t.call('POST', '/apis/apps/v1/namespaces/default/deployments', deployment(7))
    expect(r.status).toBe(201)
    expect(r.warning).toBe(
      "299 - \"Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding': replicas 7 > 5\"",
    )
  })

  it('rejects a policy whose expression does not compile', async () => {
    const t = makeApp()
    const r = await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
      policy('object.spec.replicas <='),
    )
    expect(r.status).toBe(422)
    expect(r.json.message).toMatch(
      /^ValidatingAdmissionPolicy\.admissionregistration\.k8s\.io "max-replicas" is invalid: spec\.validations\[0\]\.expression: Invalid value: "object\.spec\.replicas <=": compilation failed: /,
    )
  })
})

describe('ValidatingAdmissionPolicy params', () => {
  it('reads params from a ConfigMap named by the binding, and denies when they are missing', async () => {
    const t = makeApp()
    await t.call('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'max' },
      spec: {
        paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['apps'],
              apiVersions: ['v1'],
              operations: ['CREATE'],
              resources: ['deployments'],
            },
          ],
        },
        validations: [
          {
            expression: 'object.spec.replicas <= int(params.data.max)',
            messageExpression: "'at most ' + params.data.max + ' replicas'",
          },
        ],
      },
    })
    await t.call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: 'max-b' },
        spec: {
          policyName: 'max',
          validationActions: ['Deny'],
          paramRef: { name: 'limits', namespace: 'default', parameterNotFoundAction: 'Deny' },
        },
      },
    )
    const deployment = (name: string, replicas: number) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: 'a' } },
        template: {
          metadata: { labels: { app: 'a' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    })
    const missing = await t.call(
      'POST',
      '/apis/apps/v1/namespaces/default/deployments',
      deployment('a', 1),
    )
    expect(missing.json.message).toBe(
      "deployments.apps \"a\" is forbidden: ValidatingAdmissionPolicy 'max' with binding 'max-b' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction",
    )
    await t.call('POST', '/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'limits' },
      data: { max: '3' },
    })
    expect(
      (await t.call('POST', '/apis/apps/v1/namespaces/default/deployments', deployment('b', 3)))
        .status,
    ).toBe(201)
    const over = await t.call(
      'POST',
      '/apis/apps/v1/namespaces/default/deployments',
      deployment('c', 4),
    )
    expect(over.json.message).toBe(
      "deployments.apps \"c\" is forbidden: ValidatingAdmissionPolicy 'max' with binding 'max-b' denied request: at most 3 replicas",
    )
  })
})

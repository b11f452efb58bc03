// The audit filter over the whole request path in process: a mutating webhook's annotations (the
// mutation record at every level, its patch from Request on), the Panic stage of a handler that fails
// unexpectedly, omitStages, and the Audit-ID header.
import { describe, expect, it } from 'vitest'
import { buildAdmission } from '../../src/admission/chain'
import type { WebhookFetch } from '../../src/admission/webhook/client'
import { LineBackend } from '../../src/audit/backend'
import { parsePolicy, PolicyRuleEvaluator } from '../../src/audit/policy'
import { installAuthResources, ServerAuth } from '../../src/auth/server-auth'
import { bootstrapCluster } from '../../src/controllers/bootstrap'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { buildApp } from '../../src/server/app'
import type { Store } from '../../src/storage/store'
import { MemoryStore } from '../helpers/memory-store'

const TOKEN = 'admin-token'
type Ev = Record<string, any>

/** A webhook that labels every ConfigMap it sees. */
const labeller: WebhookFetch = async (call) => {
  const review = JSON.parse(call.body)
  const patch = [{ op: 'add', path: '/metadata/labels', value: { mutated: 'yes' } }]
  return {
    status: 200,
    body: JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: review.request.uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      },
    }),
  }
}

function setup(policy: string, failing = false) {
  const registry = new Registry(builtinResources)
  installAuthResources(registry)
  const memory = new MemoryStore()
  // A store that breaks on one key the way a bug would: a plain TypeError, no StoreError.
  const store: Store = Object.create(memory, {
    get: {
      value: (key: string) => {
        if (key.endsWith('/configmaps/default/boom')) throw new TypeError('boom is not a function')
        return memory.get(key)
      },
    },
  })
  const auth = new ServerAuth({ tokenAuthFile: `${TOKEN},admin,admin,"system:masters"\n` })
  const admission = buildAdmission({ registry, webhook: { fetch: labeller } })
  const lines: Ev[] = []
  const evaluator = new PolicyRuleEvaluator(parsePolicy(policy))
  const backend = failing
    ? { name: 'log', processEvents: () => false }
    : new LineBackend((l) => lines.push(JSON.parse(l)))
  const app = buildApp({
    registry,
    store: () => store,
    authenticators: (_env, s) => auth.authenticators(s),
    auth: (_env, s) => auth.context(s),
    admission: () => admission,
    ready: (s) => bootstrapCluster(registry, s),
    audit: { config: () => ({ evaluator, backend }) },
  })
  const call = (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  return { call, lines }
}

const webhookConfig = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: 'labeller' },
  webhooks: [
    {
      name: 'labeller.example.com',
      clientConfig: { url: 'https://labeller.example.com/' },
      rules: [
        { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] },
      ],
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    },
  ],
}

const policyAt = (level: string, more = '') =>
  `apiVersion: audit.k8s.io/v1\nkind: Policy\n${more}rules:\n- level: ${level}\n  resources: [{group: "", resources: [configmaps]}]\n`

describe('audit filter', () => {
  it.each([
    ['Metadata', false],
    ['Request', true],
  ])('records a mutating webhook at %s (its patch: %s)', async (level, withPatch) => {
    const { call, lines } = setup(policyAt(level))
    const r = await call(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      webhookConfig,
    )
    expect(r.status).toBe(201)
    const created = await call('POST', '/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'm1' },
    })
    expect(created.status).toBe(201)
    const done = lines.find((e) => e.stage === 'ResponseComplete' && e.verb === 'create')!
    expect(done.annotations['mutation.webhook.admission.k8s.io/round_0_index_0']).toBe(
      '{"configuration":"labeller","webhook":"labeller.example.com","mutated":true}',
    )
    const patchKey = 'patch.webhook.admission.k8s.io/round_0_index_0'
    if (withPatch)
      expect(JSON.parse(done.annotations[patchKey])).toEqual({
        configuration: 'labeller',
        webhook: 'labeller.example.com',
        patchType: 'JSONPatch',
      })
    else expect(done.annotations[patchKey]).toBeUndefined()
    // The request object is the body as decoded, before the webhook's label.
    if (withPatch) expect(done.requestObject.metadata.labels).toBeUndefined()
  })

  it('records a handler failing unexpectedly at the Panic stage, with a 500', async () => {
    const { call, lines } = setup(policyAt('Metadata'))
    const r = await call('GET', '/api/v1/namespaces/default/configmaps/boom')
    expect(r.status).toBe(500)
    const id = r.headers.get('audit-id')
    const evs = lines.filter((e) => e.auditID === id)
    expect(evs.map((e) => e.stage)).toEqual(['RequestReceived', 'Panic'])
    expect(evs[1]!.responseStatus).toEqual({
      metadata: {},
      status: 'Failure',
      message: "APIServer panic'd: boom is not a function",
      reason: 'InternalError',
      code: 500,
    })
  })

  it('leaves out the stages the policy omits, and takes the client Audit-ID as is', async () => {
    const { call, lines } = setup(policyAt('Metadata', 'omitStages: [RequestReceived]\n'))
    const r = await call('GET', '/api/v1/namespaces/default/configmaps', undefined, {
      'Audit-ID': 'client chosen, not a UUID',
    })
    expect(r.status).toBe(200)
    expect(r.headers.get('audit-id')).toBe('client chosen, not a UUID')
    expect(
      lines.filter((e) => e.auditID === 'client chosen, not a UUID').map((e) => e.stage),
    ).toEqual(['ResponseComplete'])
  })

  it('fails a request whose RequestReceived event the backend cannot take, as WithAudit does', async () => {
    const { call } = setup(policyAt('Metadata'), true)
    const r = await call('GET', '/api/v1/namespaces/default/configmaps')
    expect(r.status).toBe(500)
    expect(((await r.json()) as { message: string }).message).toBe(
      'Internal error occurred: failed to store audit event',
    )
    // What the policy does not audit is served.
    expect((await call('GET', '/api/v1/namespaces/default/secrets')).status).toBe(200)
  })
})

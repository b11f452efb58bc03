// create, update and patch through the Hono app over an in-memory store: write options, field validation,
// server-side apply, dryRun on every write, bad input, and the OpenAPI endpoints' caching rules.
import { beforeAll, describe, expect, it } from 'vitest'
import { installAuthResources, ServerAuth } from '../../src/auth/server-auth'
import { bootstrapCluster } from '../../src/controllers/bootstrap'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { buildApp } from '../../src/server/app'
import { MemoryStore } from '../helpers/memory-store'

const ADMIN = 'admin-token'
type Any = Record<string, any>

function makeApp() {
  const registry = new Registry(builtinResources)
  installAuthResources(registry)
  const store = new MemoryStore()
  const auth = new ServerAuth({ tokenAuthFile: `${ADMIN},admin,admin-uid,"system:masters"\n` })
  const app = buildApp({
    registry,
    store: () => store,
    authenticators: (_env, s) => auth.authenticators(s),
    auth: (_env, s) => auth.context(s),
    ready: (s) => bootstrapCluster(registry, s),
  })
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const h: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...headers }
    if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json'
    const res = await app.request(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    let json: Any = {}
    try {
      json = JSON.parse(text)
    } catch {
      /* not JSON */
    }
    return { status: res.status, json, text, headers: res.headers }
  }
  return { store, call }
}

const CM = '/api/v1/namespaces/default/configmaps'
const DEPLOY = '/apis/apps/v1/namespaces/default/deployments'
const deployment = (replicas: number, extra: Any = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'a', image: 'nginx' }] },
    },
    ...extra,
  },
})
const APPLY = { 'content-type': 'application/apply-patch+yaml' }
const MERGE = { 'content-type': 'application/merge-patch+json' }

describe('write options and field validation', () => {
  let t: ReturnType<typeof makeApp>
  beforeAll(() => {
    t = makeApp()
  })

  it('rejects an unknown fieldValidation and an apply patch without fieldManager as metav1 validation does', async () => {
    const r = await t.call('POST', `${CM}?fieldValidation=Loose`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x' },
    })
    expect(r.status).toBe(422)
    expect(r.json.message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": supported values: "", "Ignore", "Strict", "Warn"',
    )
    const a = await t.call('PATCH', `${CM}/x`, 'apiVersion: v1\nkind: ConfigMap\n', APPLY)
    expect(a.status).toBe(422)
    expect(a.json.message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    )
    const f = await t.call('PATCH', `${CM}/x?force=true`, {}, MERGE)
    expect(f.json.message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    )
  })

  it("Strict fails on unknown and duplicate fields with the decoder's message; nothing is stored", async () => {
    const body =
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"},"extra":1}'
    const r = await t.call('POST', `${CM}?fieldValidation=Strict`, body)
    expect(r.status).toBe(400)
    expect(r.json.reason).toBe('BadRequest')
    expect(r.json.message).toBe(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data", unknown field "extra"',
    )
    expect((await t.call('GET', `${CM}/dup`)).status).toBe(404)
  })

  it('Warn (the default) drops unknown fields and says so in Warning headers; Ignore says nothing', async () => {
    const r = await t.call('POST', CM, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'warned', bogus: 1 },
      data: { a: '1' },
    })
    expect(r.status).toBe(201)
    expect(r.headers.get('warning')).toBe('299 - "unknown field \\"metadata.bogus\\""')
    expect(r.json.metadata.bogus).toBeUndefined()
    const i = await t.call('POST', `${CM}?fieldValidation=Ignore`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ignored' },
      bogus: 1,
    })
    expect(i.status).toBe(201)
    expect(i.headers.get('warning')).toBeNull()
    expect(i.json.bogus).toBeUndefined()
  })

  it('a patch that adds an unknown field fails under Strict with "strict decoding error"', async () => {
    const r = await t.call(
      'PATCH',
      `${CM}/warned?fieldValidation=Strict`,
      { spec: { foo: 1 } },
      MERGE,
    )
    expect(r.status).toBe(400)
    expect(r.json.message).toBe('strict decoding error: unknown field "spec"')
  })

  it('records managedFields for a create and moves a field to the manager that patches it', async () => {
    const c = await t.call('POST', `${DEPLOY}?fieldManager=creator`, deployment(1))
    expect(c.json.metadata.managedFields.map((m: Any) => `${m.manager}/${m.operation}`)).toEqual([
      'creator/Update',
    ])
    const p = await t.call(
      'PATCH',
      `${DEPLOY}/web?fieldManager=scaler`,
      { spec: { replicas: 3 } },
      MERGE,
    )
    const byManager = Object.fromEntries(
      p.json.metadata.managedFields.map((m: Any) => [m.manager, m.fieldsV1]),
    )
    expect(byManager.scaler).toEqual({ 'f:spec': { 'f:replicas': {} } })
    expect(byManager.creator['f:spec']['f:replicas']).toBeUndefined()
    // A PUT without fieldManager is recorded under the User-Agent's product.
    const u = await t.call(
      'PUT',
      `${DEPLOY}/web`,
      { ...p.json, spec: { ...p.json.spec, paused: true } },
      { 'user-agent': 'kubectl/v1.32.4 (linux/amd64) kubernetes/abc' },
    )
    expect(u.json.metadata.managedFields.map((m: Any) => m.manager)).toContain('kubectl')
  })
})

describe('the scale subresource', () => {
  let t: ReturnType<typeof makeApp>
  beforeAll(async () => {
    t = makeApp()
    await t.call('POST', `${DEPLOY}?fieldManager=creator`, deployment(1))
  })

  it('records a scale write under its manager with subresource scale, owning only the replicas', async () => {
    const r = await t.call(
      'PATCH',
      `${DEPLOY}/web/scale?fieldManager=hpa`,
      { spec: { replicas: 4 } },
      MERGE,
    )
    expect(r.status).toBe(200)
    const d = (await t.call('GET', `${DEPLOY}/web`)).json
    expect(d.spec.replicas).toBe(4)
    const hpa = d.metadata.managedFields.find((m: Any) => m.manager === 'hpa')
    expect(hpa).toMatchObject({
      operation: 'Update',
      apiVersion: 'apps/v1',
      subresource: 'scale',
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    })
    const creator = d.metadata.managedFields.find((m: Any) => m.manager === 'creator')
    expect(creator.fieldsV1['f:spec']['f:replicas']).toBeUndefined()
  })
})

describe('server-side apply over HTTP', () => {
  let t: ReturnType<typeof makeApp>
  beforeAll(() => {
    t = makeApp()
  })

  it('creates with 201, updates with 200, and answers conflicts with 409 and causes', async () => {
    const yaml = (replicas: number) => JSON.stringify(deployment(replicas))
    const c = await t.call('PATCH', `${DEPLOY}/web?fieldManager=alice`, yaml(2), APPLY)
    expect(c.status).toBe(201)
    expect(c.json.metadata.managedFields[0]).toMatchObject({
      manager: 'alice',
      operation: 'Apply',
      apiVersion: 'apps/v1',
      fieldsType: 'FieldsV1',
    })
    const again = await t.call('PATCH', `${DEPLOY}/web?fieldManager=alice`, yaml(2), APPLY)
    expect(again.status).toBe(200)
    expect(again.json.metadata.resourceVersion).toBe(c.json.metadata.resourceVersion)
    const conflict = await t.call(
      'PATCH',
      `${DEPLOY}/web?fieldManager=bob`,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n',
      APPLY,
    )
    expect(conflict.status).toBe(409)
    expect(conflict.json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      message: 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas',
      details: {
        causes: [
          {
            reason: 'FieldManagerConflict',
            message: 'conflict with "alice"',
            field: '.spec.replicas',
          },
        ],
      },
    })
    const forced = await t.call(
      'PATCH',
      `${DEPLOY}/web?fieldManager=bob&force=true`,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n',
      APPLY,
    )
    expect(forced.status).toBe(200)
    expect(forced.json.spec.replicas).toBe(5)
  })

  it("answers kube-apiserver's errors for an apply body without apiVersion or kind, or that is not YAML", async () => {
    const noVersion = await t.call(
      'PATCH',
      `${DEPLOY}/web?fieldManager=x`,
      'kind: Deployment\nmetadata:\n  name: web\n',
      APPLY,
    )
    expect(noVersion.status).toBe(400)
    expect(noVersion.json.message).toBe(
      'Incorrect version specified in apply patch. Specified patch version: , expected: apps/v1',
    )
    const noKind = await t.call(
      'PATCH',
      `${DEPLOY}/web?fieldManager=x`,
      'apiVersion: apps/v1\nmetadata:\n  name: web\n',
      APPLY,
    )
    expect(noKind.status).toBe(500)
    expect(noKind.json.reason).toBeUndefined()
    expect(noKind.json.message).toBe(
      'failed to create typed patch object (/web; apps/v1, Kind=): no corresponding type for apps/v1, Kind=',
    )
    const list = await t.call('PATCH', `${DEPLOY}/web?fieldManager=x`, '- a\n- b\n', APPLY)
    expect(list.status).toBe(400)
    expect(list.json.message).toBe(
      'error decoding YAML: json: cannot unmarshal array into Go value of type map[string]interface {}',
    )
    expect((await t.call('GET', `${DEPLOY}/web`)).json.spec.replicas).toBe(5)
  })
})

describe('dryRun on every write path', () => {
  let t: ReturnType<typeof makeApp>
  beforeAll(async () => {
    t = makeApp()
    await t.call('POST', DEPLOY, deployment(1))
  })

  it('stores nothing for create, update, patch, apply, delete and deletecollection', async () => {
    const before = await t.store.currentRevision()
    const live = (await t.call('GET', `${DEPLOY}/web`)).json
    const results = [
      await t.call('POST', `${CM}?dryRun=All`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'dry' },
      }),
      await t.call('PUT', `${DEPLOY}/web?dryRun=All`, {
        ...live,
        spec: { ...live.spec, replicas: 4 },
      }),
      await t.call('PATCH', `${DEPLOY}/web?dryRun=All`, { spec: { replicas: 5 } }, MERGE),
      await t.call(
        'PATCH',
        `${DEPLOY}/web?dryRun=All`,
        [{ op: 'replace', path: '/spec/replicas', value: 6 }],
        { 'content-type': 'application/json-patch+json' },
      ),
      await t.call(
        'PATCH',
        `${DEPLOY}/web?dryRun=All&fieldManager=a&force=true`,
        JSON.stringify(deployment(7)),
        APPLY,
      ),
      await t.call(
        'PATCH',
        `${DEPLOY}/created-by-apply?dryRun=All&fieldManager=a`,
        JSON.stringify({ ...deployment(1), metadata: { name: 'created-by-apply' } }),
        APPLY,
      ),
      await t.call('DELETE', `${DEPLOY}/web?dryRun=All`),
      await t.call('DELETE', `${DEPLOY}?dryRun=All`),
    ]
    expect(results.map((r) => r.status)).toEqual([201, 200, 200, 200, 200, 201, 200, 200])
    expect(results[2].json.spec.replicas).toBe(5)
    expect(results[4].json.spec.replicas).toBe(7)
    expect(await t.store.currentRevision()).toBe(before)
    expect((await t.call('GET', `${DEPLOY}/web`)).json.spec.replicas).toBe(1)
    expect((await t.call('GET', `${DEPLOY}/created-by-apply`)).status).toBe(404)
  })

  it('bad patches change nothing: invalid JSON, a failing test op, an immutable field', async () => {
    const before = await t.store.currentRevision()
    const bad = await t.call('PATCH', `${DEPLOY}/web`, '{"spec":', MERGE)
    expect(bad.status).toBe(400)
    const test = await t.call(
      'PATCH',
      `${DEPLOY}/web`,
      [
        { op: 'test', path: '/spec/replicas', value: 9 },
        { op: 'replace', path: '/spec/replicas', value: 2 },
      ],
      { 'content-type': 'application/json-patch+json' },
    )
    expect(test.status).toBeGreaterThanOrEqual(400)
    const immutable = await t.call(
      'PATCH',
      `${DEPLOY}/web`,
      {
        spec: {
          selector: { matchLabels: { app: 'other' } },
          template: { metadata: { labels: { app: 'other' } } },
        },
      },
      MERGE,
    )
    expect(immutable.status).toBe(422)
    expect(await t.store.currentRevision()).toBe(before)
  })
})

describe('OpenAPI endpoints', () => {
  let t: ReturnType<typeof makeApp>
  beforeAll(() => {
    t = makeApp()
  })

  it('serves the v3 root with hashed URLs, immutable documents for the current hash and a redirect for an old one', async () => {
    const root = await t.call('GET', '/openapi/v3')
    expect(root.status).toBe(200)
    const url = root.json.paths['apis/apps/v1'].serverRelativeURL as string
    expect(url).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]{128}$/)
    expect(root.json.paths['api/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/api\/v1\?hash=/)
    const doc = await t.call('GET', url, undefined, { accept: 'application/json' })
    expect(doc.status).toBe(200)
    expect(doc.headers.get('cache-control')).toBe('public, immutable')
    expect(doc.headers.get('etag')).toBe(`"${url.split('hash=')[1]}"`)
    expect(doc.headers.get('expires')).toBeTruthy()
    expect(doc.json.openapi).toBe('3.0.0')
    const stale = await t.call('GET', '/openapi/v3/apis/apps/v1?hash=0123', undefined, {
      accept: 'application/json',
    })
    expect(stale.status).toBe(301)
    expect(stale.headers.get('location')).toBe(url)
    const unhashed = await t.call('GET', '/openapi/v3/apis/apps/v1')
    expect(unhashed.headers.get('cache-control')).toBe('no-cache, private')
    const cached = await t.call('GET', url, undefined, {
      'if-none-match': doc.headers.get('etag')!,
    })
    expect(cached.status).toBe(304)
    expect((await t.call('GET', '/openapi/v3/apis/nope.example.com/v1')).status).toBe(404)
  })

  it('answers /openapi/v2 in protobuf to a client that asks for it, and 406 for the v3 documents, which are JSON only', async () => {
    const PB = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
    const pb = await t.call('GET', '/openapi/v2', undefined, { accept: PB })
    expect(pb.status).toBe(200)
    expect(pb.headers.get('content-type')).toBe(
      'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
    )
    const json = await t.call('GET', '/openapi/v2', undefined, {
      accept: `application/json, ${PB}`,
    })
    expect(json.status).toBe(200)
    expect(json.json.swagger).toBe('2.0')
    const v3 = await t.call('GET', '/openapi/v3/api/v1', undefined, {
      accept: 'application/com.github.proto-openapi.spec.v3@v1.0+protobuf',
    })
    expect(v3.status).toBe(406)
  })
})

// Every write path with malformed, oversized, conflicting and unauthorized input: kube-apiserver's Status,
// the server keeps serving, and stored data does not change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'

let server: LocalServer
const CM = '/api/v1/namespaces/default/configmaps'

beforeAll(async () => {
  server = await LocalServer.start()
  const r = await server.request('POST', CM, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' }, data: { a: '1' } }))
  expect(r.status).toBe(201)
})
afterAll(async () => {
  await server?.dispose()
})

async function stored(): Promise<unknown> {
  const r = await server.request('GET', `${CM}/keep`)
  expect(r.status).toBe(200)
  return JSON.parse(r.body)
}

function status(body: string): { reason: string; code: number; message: string; details?: unknown } {
  const s = JSON.parse(body)
  expect(s.kind).toBe('Status')
  expect(s.status).toBe('Failure')
  return s
}

describe('bad input', () => {
  it('answers malformed JSON with 400 BadRequest', async () => {
    const before = await stored()
    for (const [method, path] of [['POST', CM], ['PUT', `${CM}/keep`]] as const) {
      const r = await server.request(method, path, '{"apiVersion": "v1", "kind": ')
      expect(r.status).toBe(400)
      expect(status(r.body).reason).toBe('BadRequest')
    }
    const p = await server.request('PATCH', `${CM}/keep`, '{not json', { 'Content-Type': 'application/merge-patch+json' })
    expect(p.status).toBe(400)
    expect(await stored()).toEqual(before)
  })

  it('answers malformed YAML with 400 BadRequest', async () => {
    const r = await server.request('POST', CM, 'apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n', { 'Content-Type': 'application/yaml' })
    expect(r.status).toBe(400)
    expect(status(r.body).reason).toBe('BadRequest')
  })

  it('answers a body over 3 MiB with 413 RequestEntityTooLarge', async () => {
    const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { x: 'a'.repeat(3 * 1024 * 1024 + 10) } })
    const r = await server.request('POST', CM, big)
    expect(r.status).toBe(413)
    const s = status(r.body)
    expect(s.reason).toBe('RequestEntityTooLarge')
    expect(s.message).toBe('Request entity too large: limit is 3145728')
    expect((await server.request('GET', `${CM}/big`)).status).toBe(404)
  })

  it('answers a body under the request limit but over the store\'s with etcd\'s 500, and stores nothing', async () => {
    // A ConfigMap stops at 1 MiB of data in validation; a PodTemplate has no such rule, so it reaches the store.
    const templates = '/api/v1/namespaces/default/podtemplates'
    const big = JSON.stringify({
      apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'big' },
      template: { spec: { containers: [{ name: 'c', image: 'nginx', env: [{ name: 'X', value: 'a'.repeat(2 * 1024 * 1024) }] }] } },
    })
    const r = await server.request('POST', templates, big)
    expect(r.status).toBe(500)
    expect(status(r.body).message).toBe('etcdserver: request is too large')
    const after = await server.request('GET', `${templates}/big`)
    expect(after.body).toContain('not found')
    expect(after.status).toBe(404)
  })

  it('answers an unknown kind or resource with 404 NotFound', async () => {
    const r = await server.request('GET', '/api/v1/namespaces/default/gizmos')
    expect(r.status).toBe(404)
    expect(status(r.body)).toMatchObject({ reason: 'NotFound', message: 'the server could not find the requested resource' })
    const g = await server.request('POST', '/apis/nope.example.com/v1/things', '{}')
    expect(g.status).toBe(404)
  })

  it('answers a name that breaks DNS-1123 with 422 Invalid and kube-apiserver\'s causes', async () => {
    const r = await server.request('POST', CM, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid' } }))
    expect(r.status).toBe(422)
    const s = status(r.body)
    expect(s.reason).toBe('Invalid')
    expect(s.message).toBe('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')')
    expect(s.details).toMatchObject({ name: 'Not_Valid', kind: 'ConfigMap', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name' }] })
  })

  it('answers a PUT with a stale resourceVersion with 409 Conflict', async () => {
    const before = (await stored()) as { metadata: { resourceVersion: string } }
    const ok = await server.request('PUT', `${CM}/keep`, JSON.stringify({ ...before, data: { a: '2' } }))
    expect(ok.status).toBe(200)
    const stale = await server.request('PUT', `${CM}/keep`, JSON.stringify({ ...before, data: { a: '3' } }))
    expect(stale.status).toBe(409)
    expect(status(stale.body)).toMatchObject({
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on configmaps "keep": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'keep', kind: 'configmaps' },
    })
    expect(((await stored()) as { data: unknown }).data).toEqual({ a: '2' })
  })

  it('answers a namespace that does not exist with 404', async () => {
    const r = await server.request('POST', '/api/v1/namespaces/ghost/configmaps', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }))
    expect(r.status).toBe(404)
    expect(status(r.body)).toMatchObject({ reason: 'NotFound', message: 'namespaces "ghost" not found', details: { name: 'ghost', kind: 'namespaces' } })
  })

  it('answers a create of an existing name with 409 AlreadyExists', async () => {
    const r = await server.request('POST', CM, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' } }))
    expect(r.status).toBe(409)
    expect(status(r.body)).toMatchObject({ reason: 'AlreadyExists', message: 'configmaps "keep" already exists' })
  })

  it('answers a mismatched body with 400', async () => {
    const r = await server.request('POST', CM, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }))
    expect(r.status).toBe(400)
    const n = await server.request('POST', CM, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'kube-system' } }))
    expect(n.status).toBe(400)
    expect(status(n.body).message).toBe('the namespace of the provided object does not match the namespace sent on the request')
  })

  it('answers an unsupported patch type with 415 and a method the route does not take with 405', async () => {
    const r = await server.request('PATCH', `${CM}/keep`, '{}', { 'Content-Type': 'text/plain' })
    expect(r.status).toBe(415)
    expect(status(r.body).reason).toBe('UnsupportedMediaType')
    const m = await server.request('POST', `${CM}/keep`, '{}')
    expect(m.status).toBe(405)
  })

  it('answers an unauthenticated or bad credential with 401', async () => {
    const r = await server.request('GET', CM, undefined, { Authorization: 'Bearer not-a-token' })
    expect(r.status).toBe(401)
    expect(status(r.body)).toMatchObject({ reason: 'Unauthorized', message: 'Unauthorized' })
  })

  it('keeps serving afterwards', async () => {
    const r = await server.request('GET', '/readyz')
    expect(r.status).toBe(200)
    expect(((await stored()) as { data: unknown }).data).toEqual({ a: '2' })
  })
})

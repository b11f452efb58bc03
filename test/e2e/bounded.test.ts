// Bad input that would take a validator unbounded time, through the real kubectl: a CRD pattern that backtracks
// exponentially under a JS RegExp, CEL rules whose cost has no bound, custom resources far over the size
// limits. Each is answered with kube-apiserver's Status and the server goes on serving others. A hang here
// shows up as the test's timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer, type RunResult } from './harness'

let server: LocalServer
const kubectl = (...args: string[]): Promise<RunResult> => server.kubectl(args)
const WIDGETS = '/apis/bounded.example.com/v1/namespaces/default/widgets'
const HINT =
  '(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)'

function widgetsCRD(spec: string): string {
  return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.bounded.example.com}
spec:
  group: bounded.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
${spec.replace(/^/gm, '            ')}
`
}

/** The server still answers another client: the namespace list comes back. */
async function stillServing(): Promise<void> {
  expect(await server.k('get', 'namespace', 'default', '-o', 'name')).toBe('namespace/default\n')
}

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k(
    'apply',
    '-f',
    server.file(
      'widgets.yaml',
      widgetsCRD(`type: object
properties:
  name: {type: string, pattern: '^(a+)+$'}
  data: {type: string}
  tags:
    type: array
    maxItems: 500
    items: {type: string, maxLength: 8}
    x-kubernetes-validations:
    - rule: self.all(x, self.all(y, x == y || x != y))
      message: tags are compared pairwise`),
    ),
  )
  await server.k('wait', '--for=condition=Established', 'crd/widgets.bounded.example.com')
})
afterAll(async () => {
  await server?.dispose()
})

describe('bounded validator time for custom resources', () => {
  it("answers a value that would backtrack exponentially against its pattern at once, with kube's message", async () => {
    const name = 'a'.repeat(64) + 'b'
    const r = await kubectl(
      'apply',
      '-f',
      server.file(
        'w1.yaml',
        `apiVersion: bounded.example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {name: ${name}}
`,
      ),
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      `The Widget "w1" is invalid: spec.name: Invalid value: "${name}": spec.name in body should match '^(a+)+$'`,
    )
    await server.k(
      'apply',
      '-f',
      server.file(
        'w2.yaml',
        'apiVersion: bounded.example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: default}\nspec: {name: aaaa}\n',
      ),
    )
    await stillServing()
  })

  it('refuses a CRD whose pattern RE2 cannot compile, as kube does', async () => {
    const r = await kubectl(
      'create',
      '-f',
      server.file(
        'bad-pattern.yaml',
        widgetsCRD(`type: object
properties:
  name: {type: string, pattern: '^(a)\\1$'}`)
          .replace(/widgets\.bounded/g, 'gadgets.bounded')
          .replace(/widget/g, 'gadget')
          .replace(/Widget/g, 'Gadget'),
      ),
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'The CustomResourceDefinition "gadgets.bounded.example.com" is invalid: spec.validation.openAPIV3Schema.properties[spec].properties[name].pattern: Invalid value: "^(a)\\\\1$": must be a valid regular expression, but isn\'t: error parsing regexp: invalid escape sequence: `\\1`',
    )
    expect((await kubectl('get', 'crd', 'gadgets.bounded.example.com')).stderr).toContain(
      'not found',
    )
  })

  it('refuses a CRD with a CEL rule of unbounded cost', async () => {
    const r = await kubectl(
      'create',
      '-f',
      server.file(
        'unbounded.yaml',
        widgetsCRD(`type: object
properties:
  tags:
    type: array
    items: {type: string}
    x-kubernetes-validations:
    - rule: self.all(x, self.all(y, x == y))`)
          .replace(/widgets\.bounded/g, 'gizmos.bounded')
          .replace(/widget/g, 'gizmo')
          .replace(/Widget/g, 'Gizmo'),
      ),
    )
    expect(r.code).not.toBe(0)
    const rule =
      'spec.validation.openAPIV3Schema.properties[spec].properties[tags].x-kubernetes-validations[0].rule'
    expect(r.stderr).toContain(
      'The CustomResourceDefinition "gizmos.bounded.example.com" is invalid',
    )
    expect(r.stderr).toContain(
      `${rule}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x ${HINT}`,
    )
    expect(r.stderr).toContain(
      `spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x ${HINT}`,
    )
    expect((await kubectl('get', 'crd', 'gizmos.bounded.example.com')).stderr).toContain(
      'not found',
    )
  })

  it("stops a CEL rule past the per-call cost limit with kube's message", async () => {
    // maxItems bounds the estimate under the per-rule limit, but 500^2 comparisons exceed the per-call one (as they do in kube).
    const tags = Array.from({ length: 500 }, (_, i) => `t${i}`)
    const r = await kubectl(
      'apply',
      '-f',
      server.file(
        'w3.json',
        JSON.stringify({
          apiVersion: 'bounded.example.com/v1',
          kind: 'Widget',
          metadata: { name: 'w3', namespace: 'default' },
          spec: { tags },
        }),
      ),
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'The Widget "w3" is invalid: spec.tags: Invalid value: "array": \'operation cancelled: actual cost limit exceeded\': no further validation rules will be run due to call cost exceeds limit for rule: tags are compared pairwise',
    )
    await server.k(
      'apply',
      '-f',
      server.file(
        'w4.json',
        JSON.stringify({
          apiVersion: 'bounded.example.com/v1',
          kind: 'Widget',
          metadata: { name: 'w4', namespace: 'default' },
          spec: { tags: tags.slice(0, 10) },
        }),
      ),
    )
    await stillServing()
  })

  it('answers a custom resource over the request size limit with 413', async () => {
    const body = JSON.stringify({
      apiVersion: 'bounded.example.com/v1',
      kind: 'Widget',
      metadata: { name: 'huge' },
      spec: { data: 'x'.repeat(4 * 1024 * 1024) },
    })
    const r = await server.request('POST', WIDGETS, body, { 'Content-Type': 'application/json' })
    expect(r.status).toBe(413)
    const s = JSON.parse(r.body)
    expect(s).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'RequestEntityTooLarge',
      code: 413,
      message: 'Request entity too large: limit is 3145728',
    })
    expect((await server.request('GET', `${WIDGETS}/huge`)).status).toBe(404)
    await stillServing()
  })

  it("answers a custom resource under the request limit but over the store's with etcd's 500, and stores nothing", async () => {
    const body = JSON.stringify({
      apiVersion: 'bounded.example.com/v1',
      kind: 'Widget',
      metadata: { name: 'big' },
      spec: { data: 'x'.repeat(2 * 1024 * 1024) },
    })
    const r = await server.request('POST', WIDGETS, body, { 'Content-Type': 'application/json' })
    expect(r.status).toBe(500)
    expect(JSON.parse(r.body)).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
      message: 'etcdserver: request is too large',
    })
    expect((await server.request('GET', `${WIDGETS}/big`)).status).toBe(404)
    // An update that grows a stored object past the limit is refused the same way and leaves it as it was.
    const w2 = JSON.parse((await server.request('GET', `${WIDGETS}/w2`)).body)
    const u = await server.request(
      'PUT',
      `${WIDGETS}/w2`,
      JSON.stringify({ ...w2, spec: { ...w2.spec, data: 'y'.repeat(2 * 1024 * 1024) } }),
      { 'Content-Type': 'application/json' },
    )
    expect(u.status).toBe(500)
    expect(JSON.parse(u.body).message).toBe('etcdserver: request is too large')
    expect(JSON.parse((await server.request('GET', `${WIDGETS}/w2`)).body).spec).toEqual({
      name: 'aaaa',
    })
    await stillServing()
  })
})

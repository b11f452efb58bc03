// Every write path with malformed, oversized, conflicting and unauthorized input: kube-apiserver's Status,
// the server keeps serving, and stored data does not change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'

let server: LocalServer
const CM = '/api/v1/namespaces/default/configmaps'

beforeAll(async () => {
  server = await LocalServer.start()
  const r = await server.request(
    'POST',
    CM,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'keep' },
      data: { a: '1' },
    }),
  )
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

function status(body: string): {
  reason: string
  code: number
  message: string
  details?: unknown
} {
  const s = JSON.parse(body)
  expect(s.kind).toBe('Status')
  expect(s.status).toBe('Failure')
  return s
}

describe('bad input', () => {
  it('answers malformed JSON with 400 BadRequest', async () => {
    const before = await stored()
    for (const [method, path] of [
      ['POST', CM],
      ['PUT', `${CM}/keep`],
    ] as const) {
      const r = await server.request(method, path, '{"apiVersion": "v1", "kind": ')
      expect(r.status).toBe(400)
      expect(status(r.body).reason).toBe('BadRequest')
    }
    const p = await server.request('PATCH', `${CM}/keep`, '{not json', {
      'Content-Type': 'application/merge-patch+json',
    })
    expect(p.status).toBe(400)
    expect(await stored()).toEqual(before)
  })

  it('answers malformed YAML with 400 BadRequest', async () => {
    const r = await server.request(
      'POST',
      CM,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n',
      { 'Content-Type': 'application/yaml' },
    )
    expect(r.status).toBe(400)
    expect(status(r.body).reason).toBe('BadRequest')
  })

  it('answers a body over 3 MiB with 413 RequestEntityTooLarge', async () => {
    const big = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'big' },
      data: { x: 'a'.repeat(3 * 1024 * 1024 + 10) },
    })
    const r = await server.request('POST', CM, big)
    expect(r.status).toBe(413)
    const s = status(r.body)
    expect(s.reason).toBe('RequestEntityTooLarge')
    expect(s.message).toBe('Request entity too large: limit is 3145728')
    expect((await server.request('GET', `${CM}/big`)).status).toBe(404)
  })

  it("answers a body under the request limit but over the store's with etcd's 500, and stores nothing", async () => {
    // A ConfigMap stops at 1 MiB of data in validation; a PodTemplate has no such rule, so it reaches the store.
    const templates = '/api/v1/namespaces/default/podtemplates'
    const big = JSON.stringify({
      apiVersion: 'v1',
      kind: 'PodTemplate',
      metadata: { name: 'big' },
      template: {
        spec: {
          containers: [
            { name: 'c', image: 'nginx', env: [{ name: 'X', value: 'a'.repeat(2 * 1024 * 1024) }] },
          ],
        },
      },
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
    expect(status(r.body)).toMatchObject({
      reason: 'NotFound',
      message: 'the server could not find the requested resource',
    })
    const g = await server.request('POST', '/apis/nope.example.com/v1/things', '{}')
    expect(g.status).toBe(404)
  })

  it("answers a name that breaks DNS-1123 with 422 Invalid and kube-apiserver's causes", async () => {
    const r = await server.request(
      'POST',
      CM,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid' } }),
    )
    expect(r.status).toBe(422)
    const s = status(r.body)
    expect(s.reason).toBe('Invalid')
    expect(s.message).toBe(
      "ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    )
    expect(s.details).toMatchObject({
      name: 'Not_Valid',
      kind: 'ConfigMap',
      causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name' }],
    })
  })

  it('answers a PUT with a stale resourceVersion with 409 Conflict', async () => {
    const before = (await stored()) as { metadata: { resourceVersion: string } }
    const ok = await server.request(
      'PUT',
      `${CM}/keep`,
      JSON.stringify({ ...before, data: { a: '2' } }),
    )
    expect(ok.status).toBe(200)
    const stale = await server.request(
      'PUT',
      `${CM}/keep`,
      JSON.stringify({ ...before, data: { a: '3' } }),
    )
    expect(stale.status).toBe(409)
    expect(status(stale.body)).toMatchObject({
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on configmaps "keep": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'keep', kind: 'configmaps' },
    })
    expect(((await stored()) as { data: unknown }).data).toEqual({ a: '2' })
  })

  it('answers a namespace that does not exist with 404', async () => {
    const r = await server.request(
      'POST',
      '/api/v1/namespaces/ghost/configmaps',
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }),
    )
    expect(r.status).toBe(404)
    expect(status(r.body)).toMatchObject({
      reason: 'NotFound',
      message: 'namespaces "ghost" not found',
      details: { name: 'ghost', kind: 'namespaces' },
    })
  })

  it('answers a create of an existing name with 409 AlreadyExists', async () => {
    const r = await server.request(
      'POST',
      CM,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' } }),
    )
    expect(r.status).toBe(409)
    expect(status(r.body)).toMatchObject({
      reason: 'AlreadyExists',
      message: 'configmaps "keep" already exists',
    })
  })

  it('answers a mismatched body with 400', async () => {
    const r = await server.request(
      'POST',
      CM,
      JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }),
    )
    expect(r.status).toBe(400)
    const n = await server.request(
      'POST',
      CM,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', namespace: 'kube-system' },
      }),
    )
    expect(n.status).toBe(400)
    expect(status(n.body).message).toBe(
      'the namespace of the provided object does not match the namespace sent on the request',
    )
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

// Bodies kube-apiserver's decoders refuse, through every verb that takes a body, with its exact answer.
describe('bodies that do not decode', () => {
  const DECODE = '/api/v1/namespaces/default/configmaps/decode'
  const NAMESPACES = '/api/v1/namespaces'
  const FIND_KIND =
    'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
  const hex = (s: string) => Buffer.from(s).toString('hex')
  const unrecognized = (kind: string, err: string, body: string) => {
    const bytes = Buffer.from(body)
    const summary =
      bytes.length === 0
        ? '<empty>'
        : bytes[0] === 0x7b
          ? bytes.length > 30
            ? `${bytes.subarray(0, 30)} ...`
            : body
          : bytes.length > 30
            ? `${hex(body).slice(0, 60)} ...`
            : hex(body)
    return `the object provided is unrecognized (must be of type ${kind}): ${err} (${summary})`
  }
  const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n)
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)

  beforeAll(async () => {
    const r = await server.request(
      'POST',
      CM,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'decode' },
        data: { a: '1' },
      }),
    )
    expect(r.status).toBe(201)
  })

  async function expectStatus(
    method: string,
    path: string,
    body: string,
    contentType: string,
    code: number,
    reason: string,
    message: string,
  ) {
    const r = await server.request(method, path, body, { 'Content-Type': contentType })
    const s = status(r.body)
    expect({ code: r.status, reason: s.reason, message: s.message }).toEqual({
      code,
      reason,
      message,
    })
  }

  // Create and update decode into the endpoint's kind: what cannot be read far enough to know the body's own
  // kind is "unrecognized", with the body summarized; a body of another kind fails to convert.
  const objectBodies: [string, string, string, (kind: string) => string][] = [
    [
      'not JSON',
      'xyz',
      'application/json',
      (k) =>
        unrecognized(
          k,
          "couldn't get version/kind; json parse error: invalid character 'x' looking for beginning of value",
          'xyz',
        ),
    ],
    [
      'empty',
      '',
      'application/json',
      (k) =>
        unrecognized(
          k,
          "couldn't get version/kind; json parse error: unexpected end of JSON input",
          '',
        ),
    ],
    [
      'cut short',
      '{"apiVersion": "v1", "kind": ',
      'application/json',
      (k) =>
        unrecognized(
          k,
          "couldn't get version/kind; json parse error: unexpected end of JSON input",
          '{"apiVersion": "v1", "kind": ',
        ),
    ],
    [
      'a JSON string',
      '"str"',
      'application/json',
      (k) =>
        unrecognized(
          k,
          `couldn't get version/kind; json parse error: json: cannot unmarshal string into Go value of type ${FIND_KIND}`,
          '"str"',
        ),
    ],
    [
      'a number kind',
      '{"apiVersion":"v1","kind":5}',
      'application/json',
      (k) =>
        unrecognized(
          k,
          "couldn't get version/kind; json parse error: json: cannot unmarshal number into Go struct field .kind of type string",
          '{"apiVersion":"v1","kind":5}',
        ),
    ],
    [
      'a three-part apiVersion',
      '{"apiVersion":"a/b/c"}',
      'application/json',
      (k) => unrecognized(k, 'unexpected GroupVersion string: a/b/c', '{"apiVersion":"a/b/c"}'),
    ],
    [
      'a YAML list',
      '- a\n',
      'application/yaml',
      (k) =>
        unrecognized(
          k,
          `couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type ${FIND_KIND}`,
          '- a\n',
        ),
    ],
    [
      'another kind',
      '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"decode"}}',
      'application/json',
      (k) =>
        `Secret in version "v1" cannot be handled as a ${k}: converting (v1.Secret) to (core.${k}): unknown conversion`,
    ],
    [
      'a kind no scheme has',
      '{"apiVersion":"v1","kind":"Gizmo","metadata":{"name":"decode"}}',
      'application/json',
      (k) =>
        `Gizmo in version "v1" cannot be handled as a ${k}: no kind "Gizmo" is registered for version "v1" in scheme "pkg/api/legacyscheme/scheme.go:30"`,
    ],
    [
      'JSON nested 10000 deep',
      deepArray(10000),
      'application/json',
      (k) =>
        unrecognized(
          k,
          `couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type ${FIND_KIND}`,
          deepArray(10000),
        ),
    ],
    [
      'JSON nested past 10000',
      deepArray(10001),
      'application/json',
      (k) =>
        unrecognized(
          k,
          "couldn't get version/kind; json parse error: invalid character '[' exceeded max depth",
          deepArray(10001),
        ),
    ],
    [
      'YAML nested 10000 deep',
      deepArray(10000),
      'application/yaml',
      (k) =>
        unrecognized(
          k,
          `couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type ${FIND_KIND}`,
          deepArray(10000),
        ),
    ],
    [
      'YAML nested past 10000',
      deepArray(10001),
      'application/yaml',
      (k) =>
        unrecognized(
          k,
          'error converting YAML to JSON: yaml: exceeded max depth of 10000',
          deepArray(10001),
        ),
    ],
  ]
  for (const [name, body, contentType, message] of objectBodies) {
    it(`answers a create and an update with ${name} as kube's decoder does`, async () => {
      await expectStatus('POST', CM, body, contentType, 400, 'BadRequest', message('ConfigMap'))
      await expectStatus('PUT', DECODE, body, contentType, 400, 'BadRequest', message('ConfigMap'))
      await expectStatus(
        'POST',
        NAMESPACES,
        body,
        contentType,
        400,
        'BadRequest',
        message('Namespace'),
      )
    })
  }

  it("answers a value of the wrong type in a create or update with encoding/json's error", async () => {
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'decode' },
      data: 'x',
    })
    const message =
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal string into Go struct field ConfigMap.data of type map[string]string'
    await expectStatus('POST', CM, body, 'application/json', 400, 'BadRequest', message)
    await expectStatus('PUT', DECODE, body, 'application/json', 400, 'BadRequest', message)
  })

  it("answers a strategic merge patch of the wrong type with the unstructured converter's error", async () => {
    const smp = 'application/strategic-merge-patch+json'
    await expectStatus(
      'PATCH',
      DECODE,
      '{"data":"x"}',
      smp,
      422,
      'Invalid',
      ' "" is invalid: patch: Invalid value: "map[data:x]": cannot restore map from string',
    )
    await expectStatus(
      'PATCH',
      DECODE,
      '{"data":{"a":1}}',
      smp,
      422,
      'Invalid',
      ' "" is invalid: patch: Invalid value: "map[data:map[a:1]]": cannot convert int64 to string',
    )
    await expectStatus(
      'PATCH',
      DECODE,
      '{"metadata":"x"}',
      smp,
      422,
      'Invalid',
      ' "" is invalid: patch: Invalid value: "map[metadata:x]": cannot restore struct from: string',
    )
    await expectStatus(
      'PATCH',
      DECODE,
      '{"data":["a"]}',
      smp,
      422,
      'Invalid',
      ' "" is invalid: patch: Invalid value: "map[data:[a]]": cannot restore map from slice',
    )
  })

  it("answers a merge or JSON patch of the wrong type with the patched object and encoding/json's error", async () => {
    for (const [contentType, patch] of [
      ['application/merge-patch+json', '{"data":"x"}'],
      ['application/json-patch+json', '[{"op":"replace","path":"/data","value":"x"}]'],
    ]) {
      const r = await server.request('PATCH', DECODE, patch, { 'Content-Type': contentType })
      expect(r.status).toBe(422)
      const s = status(r.body)
      expect(s.reason).toBe('Invalid')
      const live = JSON.parse((await server.request('GET', DECODE)).body)
      const patched = { ...live, data: 'x' }
      const goJson = (v: unknown): string =>
        v === null || typeof v !== 'object'
          ? JSON.stringify(v)
          : Array.isArray(v)
            ? `[${v.map(goJson).join(',')}]`
            : `{${Object.keys(v)
                .sort()
                .map((k) => `${JSON.stringify(k)}:${goJson((v as Record<string, unknown>)[k])}`)
                .join(',')}}`
      expect(s.message).toBe(
        ` "" is invalid: patch: Invalid value: ${JSON.stringify(goJson(patched))}: json: cannot unmarshal string into Go struct field ConfigMap.data of type map[string]string`,
      )
    }
  })

  it("answers patch bodies that do not decode, of every patch type, with kube's message", async () => {
    const path = `${DECODE}?fieldManager=m`
    const cases: [string, string, string][] = [
      [
        'application/strategic-merge-patch+json',
        'xyz',
        "invalid character 'x' looking for beginning of value",
      ],
      [
        'application/merge-patch+json',
        'xyz',
        "error decoding patch: invalid character 'x' looking for beginning of value",
      ],
      [
        'application/json-patch+json',
        'xyz',
        "error decoding patch: invalid character 'x' looking for beginning of value",
      ],
      [
        'application/apply-patch+yaml',
        'xyz',
        'error decoding YAML: json: cannot unmarshal string into Go value of type map[string]interface {}',
      ],
      [
        'application/strategic-merge-patch+json',
        deepObject(10001),
        "invalid character '{' exceeded max depth",
      ],
      [
        'application/merge-patch+json',
        deepObject(10001),
        "error decoding patch: invalid character '{' exceeded max depth",
      ],
      [
        'application/json-patch+json',
        deepObject(10001),
        "error decoding patch: invalid character '{' exceeded max depth",
      ],
      [
        'application/apply-patch+yaml',
        deepObject(10001),
        'error decoding YAML: error converting YAML to JSON: yaml: exceeded max depth of 10000',
      ],
    ]
    for (const [contentType, body, message] of cases)
      await expectStatus('PATCH', path, body, contentType, 400, 'BadRequest', message)
  })

  it('answers bodies that decode but nest deeper than the server can walk with a 400, never a 500', async () => {
    const deep = deepObject(9000)
    const message = 'the request body is nested too deeply to be processed: exceeded max depth'
    for (const [contentType, body] of [
      ['application/strategic-merge-patch+json', `{"metadata":{"annotations":${deep}}}`],
      ['application/merge-patch+json', `{"metadata":{"annotations":${deep}}}`],
      ['application/json-patch+json', `[{"op":"add","path":"/metadata/labels","value":${deep}}]`],
      ['application/apply-patch+yaml', `{"metadata":{"annotations":${deep}}}`],
    ]) {
      await expectStatus(
        'PATCH',
        `${DECODE}?fieldManager=m`,
        body,
        contentType,
        400,
        'BadRequest',
        message,
      )
    }
    const managedFields = `[{"manager":"x","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":${'{"f:a":'.repeat(9000)}{}${'}'.repeat(9000)}}]`
    await expectStatus(
      'POST',
      CM,
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep","managedFields":${managedFields}}}`,
      'application/json',
      400,
      'BadRequest',
      message,
    )
  })

  it("answers a DeleteOptions body that does not decode with 400 and encoding/json's error, on delete and deletecollection", async () => {
    for (const path of [DECODE, CM]) {
      await expectStatus(
        'DELETE',
        path,
        '{x',
        'application/json',
        400,
        'BadRequest',
        "couldn't get version/kind; json parse error: invalid character 'x' looking for beginning of object key string",
      )
      await expectStatus(
        'DELETE',
        path,
        '{"gracePeriodSeconds":"x"}',
        'application/json',
        400,
        'BadRequest',
        'json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds of type int64',
      )
      await expectStatus(
        'DELETE',
        path,
        '{"dryRun":"All"}',
        'application/json',
        400,
        'BadRequest',
        'json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string',
      )
      await expectStatus(
        'DELETE',
        path,
        '{"preconditions":{"uid":1}}',
        'application/json',
        400,
        'BadRequest',
        'json: cannot unmarshal number into Go struct field Preconditions.preconditions.uid of type types.UID',
      )
      await expectStatus(
        'DELETE',
        path,
        deepArray(10001),
        'application/json',
        400,
        'BadRequest',
        "couldn't get version/kind; json parse error: invalid character '[' exceeded max depth",
      )
    }
    expect((await server.request('GET', DECODE)).status).toBe(200)
  })

  it("kubectl prints kube's words for a body of another kind and a strategic merge patch of the wrong type", async () => {
    const wrongKind = server.file(
      'wrong-kind.json',
      JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }),
    )
    const created = await server.kubectl(['create', '--raw', '/api/v1/namespaces', '-f', wrongKind])
    expect(created.code).toBe(1)
    expect(created.stderr).toBe(
      'Error from server (BadRequest): Secret in version "v1" cannot be handled as a Namespace: converting (v1.Secret) to (core.Namespace): unknown conversion\n',
    )
    const patched = await server.kubectl([
      'patch',
      'configmap',
      'decode',
      '--type',
      'strategic',
      '-p',
      '{"data":"x"}',
    ])
    expect(patched.code).toBe(1)
    expect(patched.stderr).toBe(
      'The request is invalid: patch: Invalid value: "map[data:x]": cannot restore map from string\n',
    )
  })
})

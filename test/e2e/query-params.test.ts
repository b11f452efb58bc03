// Query parameters as kube-apiserver's parameter codec decodes them, through clients that spell them
// differently: the Debian Python client (watch=True, allowWatchBookmarks=True, DeleteOptions in the query),
// kubectl (pages across namespaces, --raw with an int64 limit), and raw requests for Go's error wording.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer, run } from './harness'

let server: LocalServer
const NS = 'qp'
const CM = `/api/v1/namespaces/${NS}/configmaps`
const PYTHON = '/usr/bin/python3'

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'ns', NS)
  await server.k('create', 'ns', `${NS}-other`)
  for (const name of ['a', 'b', 'c']) await server.k('create', 'configmap', name, '-n', NS)
  await server.k('create', 'configmap', 'd', '-n', `${NS}-other`)
})
afterAll(async () => {
  await server?.dispose()
})

/** Runs a Python script with the kubernetes client configured from the server's kubeconfig as `api`. */
async function python(script: string): Promise<string> {
  const prelude = [
    'import json, sys',
    'from kubernetes import client, config, watch',
    'config.load_kube_config(config_file=sys.argv[1])',
    'api = client.CoreV1Api()',
  ].join('\n')
  const r = await run(PYTHON, ['-c', `${prelude}\n${script}`, server.kubeconfig], {
    timeoutMs: 60_000,
  })
  if (r.code !== 0) throw new Error(`python failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

function status(body: string): { code: number; reason: string; message: string } {
  const s = JSON.parse(body)
  expect(s).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure' })
  return { code: s.code, reason: s.reason, message: s.message }
}

describe('query parameters', () => {
  it("the Python client's watch=True is a watch: it streams events and ends at timeoutSeconds", async () => {
    const out = await python(
      [
        'events = []',
        // watch.stream adds watch=True; allow_watch_bookmarks goes out as allowWatchBookmarks=True.
        `for e in watch.Watch().stream(api.list_namespaced_config_map, '${NS}', timeout_seconds=2, allow_watch_bookmarks=True):`,
        '    events.append([e["type"], e["object"].metadata.name])',
        'print(json.dumps(events))',
      ].join('\n'),
    )
    const events = JSON.parse(out) as [string, string][]
    expect(events.filter(([, n]) => n !== 'kube-root-ca.crt')).toEqual([
      ['ADDED', 'a'],
      ['ADDED', 'b'],
      ['ADDED', 'c'],
    ])
  })

  it("the Python client's DeleteOptions in the query are read: dryRun deletes nothing, gracePeriodSeconds=0 deletes", async () => {
    const out = await python(
      [
        'def count():',
        `    return len([c for c in api.list_namespaced_config_map('${NS}').items if c.metadata.name == 'gone'])`,
        `api.create_namespaced_config_map('${NS}', client.V1ConfigMap(metadata=client.V1ObjectMeta(name='gone')))`,
        `api.delete_namespaced_config_map('gone', '${NS}', dry_run='All', grace_period_seconds=0)`,
        'print(count())',
        `api.delete_namespaced_config_map('gone', '${NS}', grace_period_seconds=0, propagation_policy='Background')`,
        'print(count())',
      ].join('\n'),
    )
    expect(out).toBe('1\n0\n')
  })

  it('kubectl get --raw takes the largest int64 limit', async () => {
    const list = JSON.parse(await server.k('get', '--raw', `${CM}?limit=9223372036854775807`))
    expect(list.kind).toBe('ConfigMapList')
    expect(list.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual([
      'a',
      'b',
      'c',
      'kube-root-ca.crt',
    ])
    expect(list.metadata.continue).toBeUndefined()
  })

  it('kubectl pages a list across namespaces, whose continue tokens carry a slash', async () => {
    const out = await server.k(
      'get',
      'configmaps',
      '-A',
      '--chunk-size=1',
      '-o',
      'name',
      '--field-selector',
      'metadata.name!=kube-root-ca.crt',
    )
    // Key order: "qp-other/" sorts before "qp/" ('-' < '/').
    expect(out.trim().split('\n')).toEqual([
      'configmap/d',
      'configmap/a',
      'configmap/b',
      'configmap/c',
    ])
  })

  it("kubectl prints strconv's error for a limit Go cannot parse", async () => {
    const r = await server.kubectl(['get', '--raw', `${CM}?limit=abc`])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'Error from server (BadRequest): strconv.ParseInt: parsing "abc": invalid syntax',
    )
  })

  const refused: [string, string][] = [
    [`${CM}?limit=abc`, 'strconv.ParseInt: parsing "abc": invalid syntax'],
    [
      `${CM}?limit=9223372036854775808`,
      'strconv.ParseInt: parsing "9223372036854775808": value out of range',
    ],
    [`${CM}?timeoutSeconds=abc`, 'strconv.ParseInt: parsing "abc": invalid syntax'],
    [`${CM}?watch=true&timeoutSeconds=abc`, 'strconv.ParseInt: parsing "abc": invalid syntax'],
    [
      `${CM}?watch=1&timeoutSeconds=99999999999999999999`,
      'strconv.ParseInt: parsing "99999999999999999999": value out of range',
    ],
    [`${CM}?watch=True&limit=1.5`, 'strconv.ParseInt: parsing "1.5": invalid syntax'],
    [
      `${CM}?continue=garbage!`,
      'invalid continue token: continue key is not valid: illegal base64 data at input byte 7',
    ],
  ]
  it.each(refused)("GET %s is 400 with Go's wording", async (path, message) => {
    const r = await server.request('GET', path)
    expect(r.status).toBe(400)
    expect(status(r.body)).toEqual({ code: 400, reason: 'BadRequest', message })
  })

  it('DELETE with gracePeriodSeconds Go cannot parse is 400, on one object and on the collection', async () => {
    for (const path of [`${CM}/b`, CM]) {
      const r = await server.request('DELETE', `${path}?gracePeriodSeconds=soon`)
      expect(r.status).toBe(400)
      expect(status(r.body).message).toBe('strconv.ParseInt: parsing "soon": invalid syntax')
    }
    expect((await server.request('GET', `${CM}/b`)).status).toBe(200)
  })

  it('a watch in any spelling Go reads as true streams; watch=FALSE lists', async () => {
    for (const spelling of ['True', 'TRUE', '1', 'yes', '']) {
      const r = await server.request('GET', `${CM}?watch=${spelling}&timeoutSeconds=1`)
      expect(r.status).toBe(200)
      const lines = r.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      expect(lines.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'ADDED', 'ADDED'])
    }
    const list = JSON.parse((await server.request('GET', `${CM}?watch=FALSE`)).body)
    expect(list.kind).toBe('ConfigMapList')
  })

  it("a GET of one object with ?watch answers the object, as kube's does", async () => {
    const r = await server.request('GET', `${CM}/c?watch=true`)
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'c' } })
  })

  it("pretty indents JSON as kube's pretty serializer does: by strconv.ParseBool, else for curl", async () => {
    const indented = (body: string) => body.startsWith('{\n  "')
    const get = async (query: string, ua = 'edge-apiserver-e2e') =>
      (await server.request('GET', `${CM}/c${query}`, undefined, { 'User-Agent': ua })).body
    expect(indented(await get('?pretty=true'))).toBe(true)
    expect(indented(await get('?pretty=T'))).toBe(true)
    expect(indented(await get('?pretty=1'))).toBe(true)
    expect(indented(await get(''))).toBe(false)
    expect(indented(await get('?pretty=yes'))).toBe(false) // ParseBool's error counts as false
    expect(indented(await get('', 'curl/8.5.0'))).toBe(true)
    expect(indented(await get('?pretty=false', 'curl/8.5.0'))).toBe(false)
    const pretty = await get('?pretty=true')
    expect(pretty).toBe(JSON.stringify(JSON.parse(pretty), null, 2))
    const missing = await server.request('GET', `${CM}/nope?pretty=true`)
    expect(missing.status).toBe(404)
    expect(missing.body).toMatch(/^\{\n {2}"kind": "Status",\n/)
  })

  it("the deprecated /watch/ path with a name watches that one object, as kube's ListResource does", async () => {
    const path = `/api/v1/watch/namespaces/${NS}/configmaps/c`
    const r = await server.request('GET', `${path}?timeoutSeconds=1`)
    expect(r.status).toBe(200)
    const events = r.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'c']])
    const other = await server.request('GET', `${path}?fieldSelector=metadata.name%3Db`)
    expect(other.status).toBe(400)
    expect(status(other.body).message).toBe(
      "fieldSelector metadata.name doesn't match requested name",
    )
  })
})

// kubectl 1.32 sends built-in kinds as application/vnd.kubernetes.protobuf: the real kubectl against npm start,
// and raw protobuf bodies for update (PUT), delete options and the errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'
import { envelope, entry, msg, str, varint } from '../api/protobuf/wire'
import { decodeObject } from '../helpers/kube-proto'

let server: LocalServer
const PROTOBUF = {
  'Content-Type': 'application/vnd.kubernetes.protobuf',
  Accept: 'application/vnd.kubernetes.protobuf,application/json',
}

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'namespace', 'pb-json')
})
afterAll(async () => {
  await server?.dispose()
})

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** Every field the expected object sets is stored with that value; a null (a nil Go field) may be absent. */
function expectStoredContains(stored: Json, expected: Json, path = ''): void {
  if (expected === null) {
    if (stored !== null && stored !== undefined)
      throw new Error(`${path}: expected null, stored ${JSON.stringify(stored)}`)
    return
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(stored), path).toBe(true)
    expect((stored as Json[]).length, path).toBe(expected.length)
    expected.forEach((e, i) => expectStoredContains((stored as Json[])[i], e, `${path}[${i}]`))
    return
  }
  if (typeof expected === 'object') {
    expect(stored !== null && typeof stored === 'object', `${path} is an object`).toBe(true)
    for (const [k, v] of Object.entries(expected)) {
      if (path === '.metadata' && k === 'creationTimestamp') continue // set by the server
      expectStoredContains((stored as { [k: string]: Json })[k], v, `${path}.${k}`)
    }
    return
  }
  expect(stored, path).toEqual(expected)
}

/** The stored object without what the server generates per object (uid, resourceVersion, cluster IPs, status). */
function comparable(obj: { [k: string]: Json }): Json {
  const uid = (obj.metadata as { uid: string }).uid
  const copy = JSON.parse(JSON.stringify(obj).replaceAll(uid, '<uid>'))
  for (const k of [
    'uid',
    'resourceVersion',
    'creationTimestamp',
    'namespace',
    'managedFields',
    'generation',
  ])
    delete copy.metadata[k]
  if (copy.spec) {
    delete copy.spec.clusterIP
    delete copy.spec.clusterIPs
  }
  delete copy.status
  return copy
}

describe('kubectl create with protobuf bodies', () => {
  const cases: [string, string[]][] = [
    ['namespace/pb-made', ['create', 'namespace', 'pb-made']],
    [
      'configmap/settings',
      ['create', 'configmap', 'settings', '--from-literal=mode=fast', '--from-literal=empty='],
    ],
    [
      'secret/creds',
      [
        'create',
        'secret',
        'generic',
        'creds',
        '--from-literal=user=admin',
        '--from-literal=empty=',
      ],
    ],
    [
      'deployment/web',
      ['create', 'deployment', 'web', '--image=nginx:1.27', '--replicas=3', '--port=80'],
    ],
    ['service/web', ['create', 'service', 'clusterip', 'web', '--tcp=80:8080', '--tcp=443:https']],
    ['job/once', ['create', 'job', 'once', '--image=busybox:1.36', '--', 'echo', 'hi']],
  ]
  for (const [ref, args] of cases) {
    it(`kubectl ${args.slice(0, 3).join(' ')} stores kubectl's dry-run object, as a JSON create of it does`, async () => {
      const cmd = args.indexOf('--')
      const flags = (...f: string[]) =>
        cmd < 0 ? [...args, ...f] : [...args.slice(0, cmd), ...f, ...args.slice(cmd)]
      const namespaced = !ref.startsWith('namespace/')
      const dryRun = JSON.parse(await server.k(...flags('--dry-run=client', '-o', 'json')))

      const r = await server.kubectl(flags('-v=8'))
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toContain('Content-Type: application/vnd.kubernetes.protobuf')
      const stored = JSON.parse(await server.k('get', ref, '-o', 'json'))
      expectStoredContains(stored, dryRun)
      if (!namespaced) return

      // The same object sent as JSON (kubectl create -f goes through the dynamic client) is stored the same way.
      await server
        .kubectl(['create', '-n', 'pb-json', '-f', '-'], { input: JSON.stringify(dryRun) })
        .then((j) => expect(j.code, j.stderr).toBe(0))
      const twin = JSON.parse(await server.k('get', ref, '-n', 'pb-json', '-o', 'json'))
      expect(comparable(stored)).toEqual(comparable(twin))
    })
  }

  it('kubectl auth can-i and create token work (SelfSubjectAccessReview, TokenRequest)', async () => {
    expect((await server.k('auth', 'can-i', 'list', 'pods')).trim()).toBe('yes')
    expect((await server.k('auth', 'can-i', 'get', '/healthz')).trim()).toBe('yes')
    await server.k('create', 'serviceaccount', 'robot')
    expect((await server.k('create', 'token', 'robot', '--duration=1h')).trim()).toMatch(
      /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/,
    )
  })
})

describe('raw protobuf bodies', () => {
  const CM = '/api/v1/namespaces/default/configmaps'

  it('creates and replaces (PUT) a ConfigMap sent as protobuf and answers protobuf', async () => {
    const body = (data: string, rv?: string) =>
      Buffer.from(
        envelope(
          'v1',
          'ConfigMap',
          msg(1, str(1, 'pb-put'), ...(rv ? [str(6, rv)] : [])),
          entry(2, 'k', data),
        ),
      )
    const c = await server.request('POST', CM, body('one'), PROTOBUF)
    expect(c.status, c.body).toBe(201)
    expect(c.headers['content-type']).toBe('application/vnd.kubernetes.protobuf')
    const rv = (decodeObject(c.raw) as { metadata: { resourceVersion: string } }).metadata
      .resourceVersion
    const u = await server.request('PUT', `${CM}/pb-put`, body('two', rv), PROTOBUF)
    expect(u.status, u.body).toBe(200)
    expect(decodeObject(u.raw).data).toEqual({ k: 'two' })
  })

  it('takes DeleteOptions sent as protobuf', async () => {
    await server.request(
      'POST',
      CM,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pb-del' } }),
    )
    // Node sends a DELETE body with neither Content-Length nor chunking unless told its length (Go sets it).
    const del = (body: Uint8Array) =>
      server.request('DELETE', `${CM}/pb-del`, Buffer.from(body), {
        ...PROTOBUF,
        'Content-Length': String(body.length),
      })
    // Preconditions { uid = "not-it" }: kube's precondition failure, so the options were read.
    const bad = await del(envelope('v1', 'DeleteOptions', varint(1, 0), msg(2, str(1, 'not-it'))))
    expect(bad.status, bad.body).toBe(409)
    expect(decodeObject(bad.raw).message).toContain(
      'the UID in the precondition (not-it) does not match the UID in record',
    )
    const ok = await del(envelope('v1', 'DeleteOptions', varint(1, 0)))
    expect(ok.status, ok.body).toBe(200)
  })

  it('answers a body that is not protobuf with 400 and the serializer error', async () => {
    const r = await server.request('POST', CM, '{"kind":"ConfigMap"}', {
      'Content-Type': 'application/vnd.kubernetes.protobuf',
    })
    expect(r.status, r.body).toBe(400)
    const s = JSON.parse(r.body)
    expect(s.reason).toBe('BadRequest')
    expect(s.message).toContain(
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]',
    )
  })

  it('answers 415 for a protobuf body of a kind it has no message table for', async () => {
    const r = await server.request(
      'POST',
      CM,
      Buffer.from(envelope('example.com/v1', 'Widget', msg(1, str(1, 'w')))),
      PROTOBUF,
    )
    expect(r.status).toBe(415)
    expect(decodeObject(r.raw).reason).toBe('UnsupportedMediaType')
  })
})

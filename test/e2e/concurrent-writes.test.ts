// Writes to one object at once, through the real kubectl against `npm start`: patches of every type,
// unconditional updates and server-side applies retry on a conflict until they win (kube's
// GuaranteedUpdate), and only a write that names a resourceVersion (or a delete precondition) may fail
// with 409 Conflict. test/node/e2e/concurrent-writes.test.ts runs it again on Node mode over etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer, type RunResult } from './harness'

let server: LocalServer
const N = 30
const NS = 'races'

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'namespace', NS)
}, 180_000)

afterAll(async () => {
  await server?.dispose()
})

const kubectl = (...args: string[]): Promise<RunResult> =>
  server.kubectl(['-n', NS, ...args], { timeoutMs: 120_000 })
const data = async (name: string): Promise<Record<string, string>> =>
  JSON.parse(await server.k('-n', NS, 'get', 'configmap', name, '-o', 'json')).data ?? {}

/** Runs every command at once; each must exit 0, with nothing on stderr. */
async function allSucceed(runs: Promise<RunResult>[]): Promise<RunResult[]> {
  const results = await Promise.all(runs)
  const failed = results.filter((r) => r.code !== 0 || r.stderr !== '')
  expect(failed.map((r) => r.stderr)).toEqual([])
  return results
}

describe(`${N} concurrent writes to one ConfigMap`, () => {
  beforeAll(async () => {
    await server.k('-n', NS, 'create', 'configmap', 'shared', '--from-literal=seed=0')
  })

  it('merge patches all succeed and all land', async () => {
    const runs = Array.from({ length: N }, (_, i) =>
      kubectl(
        'patch',
        'configmap',
        'shared',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ data: { [`merge${i}`]: String(i) } }),
      ),
    )
    const results = await allSucceed(runs)
    expect(results.every((r) => r.stdout === 'configmap/shared patched\n')).toBe(true)
    const d = await data('shared')
    for (let i = 0; i < N; i++) expect(d[`merge${i}`]).toBe(String(i))
  }, 180_000)

  it('JSON patches all succeed and all land', async () => {
    const runs = Array.from({ length: N }, (_, i) =>
      kubectl(
        'patch',
        'configmap',
        'shared',
        '--type',
        'json',
        '-p',
        JSON.stringify([{ op: 'add', path: `/data/json${i}`, value: String(i) }]),
      ),
    )
    await allSucceed(runs)
    const d = await data('shared')
    for (let i = 0; i < N; i++) expect(d[`json${i}`]).toBe(String(i))
  }, 180_000)

  it('strategic merge patches all succeed and all land', async () => {
    const runs = Array.from({ length: N }, (_, i) =>
      kubectl(
        'patch',
        'configmap',
        'shared',
        '--type',
        'strategic',
        '-p',
        JSON.stringify({ data: { [`smp${i}`]: String(i) } }),
      ),
    )
    await allSucceed(runs)
    const d = await data('shared')
    for (let i = 0; i < N; i++) expect(d[`smp${i}`]).toBe(String(i))
  }, 180_000)

  it(`server-side applies by ${N} field managers all succeed, each owning its field`, async () => {
    const runs = Array.from({ length: N }, (_, i) => {
      const manifest = server.file(
        `ssa${i}.yaml`,
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: ${NS}\ndata:\n  ssa${i}: "${i}"\n`,
      )
      return kubectl('apply', '--server-side', '--field-manager', `m${i}`, '-f', manifest)
    })
    const results = await allSucceed(runs)
    expect(results.every((r) => r.stdout === 'configmap/shared serverside-applied\n')).toBe(true)
    const obj = JSON.parse(
      await server.k('-n', NS, 'get', 'configmap', 'shared', '-o', 'json', '--show-managed-fields'),
    )
    for (let i = 0; i < N; i++) {
      expect(obj.data[`ssa${i}`]).toBe(String(i))
      const entry = obj.metadata.managedFields.find(
        (m: { manager: string }) => m.manager === `m${i}`,
      )
      expect(entry?.fieldsV1).toEqual({ 'f:data': { [`f:ssa${i}`]: {} } })
    }
  }, 180_000)

  it('server-side applies that all create the same object at once all succeed', async () => {
    const runs = Array.from({ length: 15 }, (_, i) => {
      const manifest = server.file(
        `fresh${i}.yaml`,
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\n  namespace: ${NS}\ndata:\n  f${i}: "${i}"\n`,
      )
      return kubectl('apply', '--server-side', '--field-manager', `c${i}`, '-f', manifest)
    })
    await allSucceed(runs)
    const d = await data('fresh')
    for (let i = 0; i < 15; i++) expect(d[`f${i}`]).toBe(String(i))
  }, 180_000)

  it('all four kinds of write at once all succeed', async () => {
    const runs = Array.from({ length: 8 }, (_, i) => [
      kubectl(
        'patch',
        'configmap',
        'shared',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ data: { [`mix-merge${i}`]: 'v' } }),
      ),
      kubectl(
        'patch',
        'configmap',
        'shared',
        '--type',
        'json',
        '-p',
        JSON.stringify([{ op: 'add', path: `/data/mix-json${i}`, value: 'v' }]),
      ),
      kubectl(
        'patch',
        'configmap',
        'shared',
        '-p',
        JSON.stringify({ data: { [`mix-smp${i}`]: 'v' } }),
      ),
      kubectl(
        'apply',
        '--server-side',
        '--field-manager',
        `mix${i}`,
        '-f',
        server.file(
          `mix${i}.yaml`,
          `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: ${NS}\ndata:\n  mix-ssa${i}: v\n`,
        ),
      ),
    ]).flat()
    await allSucceed(runs)
    const d = await data('shared')
    for (let i = 0; i < 8; i++)
      for (const k of ['merge', 'json', 'smp', 'ssa']) expect(d[`mix-${k}${i}`]).toBe('v')
  }, 180_000)
})

describe('unconditional and conditional updates', () => {
  const path = `/api/v1/namespaces/${NS}/configmaps/plain`

  beforeAll(async () => {
    await server.k('-n', NS, 'create', 'configmap', 'plain', '--from-literal=a=1')
  })

  it('kubectl replace of an object without resourceVersion overwrites what is stored', async () => {
    const obj = JSON.parse(await server.k('-n', NS, 'get', 'configmap', 'plain', '-o', 'json'))
    delete obj.metadata.resourceVersion
    obj.data = { a: 'replaced' }
    await server.k('-n', NS, 'patch', 'configmap', 'plain', '-p', '{"data":{"moved":"on"}}') // the stored object moves on
    const r = await kubectl('replace', '-f', server.file('plain.json', JSON.stringify(obj)))
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('configmap/plain replaced\n')
    expect(await data('plain')).toEqual({ a: 'replaced' })
  })

  it('a PUT with resourceVersion "0" is unconditional too', async () => {
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'plain', namespace: NS, resourceVersion: '0' },
      data: { a: 'zero' },
    }
    const res = await server.request('PUT', path, JSON.stringify(body), {
      'Content-Type': 'application/json',
    })
    expect(res.status).toBe(200)
    const out = JSON.parse(res.body)
    expect(out.data).toEqual({ a: 'zero' })
    expect(out.metadata.resourceVersion).not.toBe('0')
  })

  it('concurrent unconditional PUTs all succeed', async () => {
    const puts = Array.from({ length: N }, (_, i) =>
      server.request(
        'PUT',
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'plain' },
          data: { a: String(i) },
        }),
        { 'Content-Type': 'application/json' },
      ),
    )
    const statuses = (await Promise.all(puts)).map((r) => r.status)
    expect(statuses).toEqual(Array(N).fill(200))
  }, 120_000)

  it("a PUT with a stale resourceVersion is 409 Conflict in kube's words, through kubectl and raw", async () => {
    const stale = JSON.parse(await server.k('-n', NS, 'get', 'configmap', 'plain', '-o', 'json'))
    await server.k('-n', NS, 'patch', 'configmap', 'plain', '-p', '{"data":{"b":"2"}}')
    const message =
      'Operation cannot be fulfilled on configmaps "plain": the object has been modified; please apply your changes to the latest version and try again'
    const file = server.file('stale.json', JSON.stringify(stale))
    const r = await kubectl('replace', '-f', file)
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `Error from server (Conflict): error when replacing "${file}": ${message}\n`,
    )
    const res = await server.request('PUT', path, JSON.stringify(stale), {
      'Content-Type': 'application/json',
    })
    expect(res.status).toBe(409)
    expect(JSON.parse(res.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: 'Conflict',
      details: { name: 'plain', kind: 'configmaps' },
      code: 409,
    })
  })

  it('a patch that sets a stale resourceVersion is a precondition and fails with 409', async () => {
    const r = await kubectl(
      'patch',
      'configmap',
      'plain',
      '--type',
      'merge',
      '-p',
      '{"metadata":{"resourceVersion":"1"},"data":{"c":"3"}}',
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'Error from server (Conflict): Operation cannot be fulfilled on configmaps "plain": the object has been modified; please apply your changes to the latest version and try again\n',
    )
  })

  it("a kind that demands the version refuses a PUT without one, in kube's words", async () => {
    const vwc = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: `${NS}-hooks` },
      webhooks: [],
    }
    await server.k('create', '-f', server.file('vwc.json', JSON.stringify(vwc)))
    const res = await server.request(
      'PUT',
      `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${NS}-hooks`,
      JSON.stringify(vwc),
      { 'Content-Type': 'application/json' },
    )
    expect(res.status).toBe(422)
    const status = JSON.parse(res.body)
    expect(status.message).toBe(
      `validatingwebhookconfigurations.admissionregistration.k8s.io "${NS}-hooks" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
    )
    expect(status.details).toEqual({
      name: `${NS}-hooks`,
      group: 'admissionregistration.k8s.io',
      kind: 'validatingwebhookconfigurations',
      causes: [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 0x0: must be specified for an update',
          field: 'metadata.resourceVersion',
        },
      ],
    })
    // A patch carries the version it read: it still applies.
    await server.k(
      'patch',
      'validatingwebhookconfiguration',
      `${NS}-hooks`,
      '-p',
      '{"metadata":{"labels":{"patched":"yes"}}}',
    )
  })
})

describe('deletes under concurrent writes', () => {
  it('a delete wins against a storm of patches; no write gets a 500 or a Conflict', async () => {
    await server.k('-n', NS, 'create', 'configmap', 'doomed', '--from-literal=a=1')
    const patches = Array.from({ length: 20 }, (_, i) =>
      kubectl(
        'patch',
        'configmap',
        'doomed',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ data: { [`p${i}`]: 'v' } }),
      ),
    )
    const del = kubectl('delete', 'configmap', 'doomed')
    const d = await del
    expect(d.stderr).toBe('')
    expect(d.stdout).toBe('configmap "doomed" deleted\n')
    for (const r of await Promise.all(patches)) {
      if (r.code !== 0)
        expect(r.stderr).toBe('Error from server (NotFound): configmaps "doomed" not found\n')
    }
    expect((await kubectl('get', 'configmap', 'doomed')).code).toBe(1)
  }, 120_000)

  it("a delete precondition that does not hold is 409 in rest.BeforeDelete's words", async () => {
    await server.k('-n', NS, 'create', 'configmap', 'kept', '--from-literal=a=1')
    const uid = JSON.parse(await server.k('-n', NS, 'get', 'configmap', 'kept', '-o', 'json'))
      .metadata.uid
    const res = await server.request(
      'DELETE',
      `/api/v1/namespaces/${NS}/configmaps/kept`,
      JSON.stringify({ preconditions: { uid: 'not-it' } }),
      { 'Content-Type': 'application/json' },
    )
    expect(res.status).toBe(409)
    expect(JSON.parse(res.body)).toMatchObject({
      reason: 'Conflict',
      details: { name: 'kept', kind: 'ConfigMap' },
      message: `Operation cannot be fulfilled on ConfigMap "kept": the UID in the precondition (not-it) does not match the UID in record (${uid}). The object might have been deleted and then recreated`,
    })
  })
})

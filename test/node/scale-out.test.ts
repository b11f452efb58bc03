// Scale out like kube-apiserver: two Node-mode servers on one 3-member etcd cluster serve one
// consistent cluster. They share the certificates and the service account key (the second is given the
// first's files).
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { NodeServer, type ClientCert } from './harness'

const CM = '/api/v1/namespaces/default/configmaps'

describe('two Node-mode servers on a 3-member etcd cluster', () => {
  let etcd: EtcdCluster
  let a: NodeServer
  let b: NodeServer
  let admin: ClientCert & { ca: string }

  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 })
    a = await NodeServer.start(etcd.endpoints)
    const pki = join(a.stateDir, 'pki')
    b = await NodeServer.start(etcd.endpoints, [
      `--tls-cert-file=${pki}/apiserver.crt`,
      `--tls-private-key-file=${pki}/apiserver.key`,
      `--client-ca-file=${pki}/client-ca.crt`,
      `--service-account-signing-key-file=${pki}/sa.key`,
    ])
    admin = a.credentials()
  })
  afterAll(async () => {
    await a?.destroy()
    await b?.destroy()
    await etcd?.stop()
  })

  const create = (s: NodeServer, name: string, data: Record<string, string> = {}) =>
    s.request(CM, admin, {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data },
      ca: admin.ca,
    })
  const get = (s: NodeServer, name: string) => s.request(`${CM}/${name}`, admin, { ca: admin.ca })

  it('shows a write through one server to a watch on the other', async () => {
    const w = b.watch(`${CM}?watch=1&resourceVersion=0&allowWatchBookmarks=false`, admin)
    const made = await create(a, 'through-a')
    expect(made.status).toBe(201)
    const rv = JSON.parse(made.body).metadata.resourceVersion
    for (let i = 0; !w.lines.some((l) => l.includes('"through-a"')); i++) {
      if (i > 100) throw new Error(`no event on the other server: ${w.lines.join('\n')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const ev = JSON.parse(w.lines.find((l) => l.includes('"through-a"'))!)
    expect(ev).toMatchObject({
      type: 'ADDED',
      object: { metadata: { name: 'through-a', resourceVersion: rv } },
    })
  })

  it("lists a write through one server on the other at once (a consistent LIST from the other's cache)", async () => {
    type List = { metadata: { resourceVersion: string }; items: { metadata: { name: string } }[] }
    const list = async (s: NodeServer) =>
      JSON.parse((await s.request(CM, admin, { ca: admin.ca })).body) as List
    const names = (l: List) =>
      l.items.map((i) => i.metadata.name).filter((n) => n.startsWith('ryw-'))
    await list(b) // b keeps the ConfigMaps in memory from here on
    for (let i = 0; i < 5; i++) {
      const made = await create(a, `ryw-${i}`)
      expect(made.status).toBe(201)
      const rv = Number(JSON.parse(made.body).metadata.resourceVersion)
      const seen = await list(b)
      expect(names(seen)).toContain(`ryw-${i}`)
      expect(Number(seen.metadata.resourceVersion)).toBeGreaterThanOrEqual(rv)
    }
    // An update is listed with its new data and resourceVersion (each item is written out once per
    // stored revision, then reused by every LIST).
    const before = (await list(b)).items.find((i) => i.metadata.name === 'ryw-1')!
    const put = await a.request(`${CM}/ryw-1`, admin, {
      method: 'PUT',
      body: { ...before, apiVersion: 'v1', kind: 'ConfigMap', data: { v: 'new' } },
      ca: admin.ca,
    })
    expect(put.status).toBe(200)
    const after = (await list(b)).items.find((i) => i.metadata.name === 'ryw-1') as unknown as {
      metadata: { resourceVersion: string }
      data: Record<string, string>
    }
    expect(after.data).toEqual({ v: 'new' })
    expect(after.metadata.resourceVersion).toBe(JSON.parse(put.body).metadata.resourceVersion)
    const gone = await a.request(`${CM}/ryw-0`, admin, { method: 'DELETE', ca: admin.ca })
    expect(gone.status).toBe(200)
    expect(names(await list(b))).toEqual(['ryw-1', 'ryw-2', 'ryw-3', 'ryw-4'])
  })

  it('updates at once through one server what the other has just changed (from a copy behind etcd)', async () => {
    const made = JSON.parse((await create(a, 'hop', { v: '0' })).body)
    const put = (s: NodeServer, body: unknown) =>
      s.request(`${CM}/hop`, admin, { method: 'PUT', body, ca: admin.ca })
    let cur = made
    for (let i = 1; i <= 6; i++) {
      const r = await put(i % 2 ? b : a, { ...cur, data: { v: String(i) } })
      expect(r.status).toBe(200)
      expect(Number(JSON.parse(r.body).metadata.resourceVersion)).toBeGreaterThan(
        Number(cur.metadata.resourceVersion),
      )
      cur = JSON.parse(r.body)
    }
    // A resourceVersion etcd has moved past is still a 409, and a PUT that changes nothing keeps it.
    const stale = await put(b, { ...made, data: { v: 'x' } })
    expect(stale.status).toBe(409)
    const same = await put(a, cur)
    expect(same.status).toBe(200)
    expect(JSON.parse(same.body).metadata.resourceVersion).toBe(cur.metadata.resourceVersion)
    expect(JSON.parse((await get(b, 'hop')).body).data).toEqual({ v: '6' })
  })

  it('admits a write into a namespace the other server has just made', async () => {
    for (let i = 0; i < 3; i++) {
      const ns = `fresh-${i}`
      const made = await a.request('/api/v1/namespaces', admin, {
        method: 'POST',
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
        ca: admin.ca,
      })
      expect(made.status).toBe(201)
      const cm = await b.request(`/api/v1/namespaces/${ns}/configmaps`, admin, {
        method: 'POST',
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'first' } },
        ca: admin.ca,
      })
      expect(cm.status).toBe(201)
    }
  })

  it('gives exactly one 409 Conflict for the same stale write through both servers at once', async () => {
    const made = JSON.parse((await create(a, 'contended', { v: '0' })).body)
    const put = (s: NodeServer, v: string) =>
      s.request(`${CM}/contended`, admin, {
        method: 'PUT',
        body: { ...made, data: { v } },
        ca: admin.ca,
      })
    const [ra, rb] = await Promise.all([put(a, 'a'), put(b, 'b')])
    expect([ra.status, rb.status].sort()).toEqual([200, 409])
    const loser = JSON.parse((ra.status === 409 ? ra : rb).body)
    expect(loser).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 })
    expect(loser.message).toContain(
      'the object has been modified; please apply your changes to the latest version and try again',
    )
    const winner = ra.status === 200 ? 'a' : 'b'
    expect(JSON.parse((await get(b, 'contended')).body).data).toEqual({ v: winner })
  })

  it('loses no acknowledged write when an etcd member stops, or a server does', async () => {
    await etcd.members[1]!.kill()
    // The member may have been etcd's leader: until the other two elect one, a write fails with an
    // unknown outcome ("request timed out, possibly due to previous leader failure"), which neither
    // clientv3 nor this server sends again. A read waits the election out (reads are retried).
    for (const s of [a, b]) expect((await get(s, 'durable-none')).status).toBe(404)
    const acknowledged: string[] = []
    for (let i = 0; i < 10; i++) {
      const name = `durable-${i}`
      const r = await create(i % 2 ? b : a, name)
      if (r.status === 201) acknowledged.push(name)
    }
    expect(acknowledged).toHaveLength(10)
    expect(await a.stop()).toBe(0)
    for (const name of acknowledged) expect((await get(b, name)).status).toBe(200)
    await etcd.members[1]!.start()
    const list = JSON.parse((await b.request(CM, admin, { ca: admin.ca })).body) as {
      items: { metadata: { name: string } }[]
    }
    expect(list.items.map((i) => i.metadata.name)).toEqual(expect.arrayContaining(acknowledged))
  })
})

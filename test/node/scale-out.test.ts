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

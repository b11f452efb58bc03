// Node mode loses no audit event on SIGTERM: the webhook's batch, held by a max wait far beyond the
// test, is sent on shutdown, the watch that shutdown ends is recorded at ResponseComplete, and the log
// file holds every event before the process exits.
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { backgroundKubectl, freePort } from '../helpers/process'
import { NodeServer } from './harness'

type Event = { auditID: string; stage: string; verb: string; objectRef?: { name?: string } }

const dir = mkdtempSync(join(tmpdir(), 'edge-audit-shutdown-'))
let etcd: EtcdCluster
let hook: Server
const lists: { items: Event[] }[] = []

beforeAll(async () => {
  etcd = await startEtcd()
  const port = await freePort()
  hook = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      lists.push(JSON.parse(body))
      res.writeHead(200).end('{}')
    })
  })
  await new Promise<void>((r) => hook.listen(port, '127.0.0.1', r))
  writeFileSync(
    join(dir, 'policy.yaml'),
    'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  namespaces: [default]\n',
  )
  writeFileSync(
    join(dir, 'hook.kubeconfig'),
    `apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster: {server: "http://127.0.0.1:${port}/"}\n`,
  )
})
afterAll(async () => {
  await new Promise((r) => hook?.close(r))
  await etcd?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('audit on SIGTERM in Node mode', () => {
  it('delivers the buffered batch and the ended watch before the process exits', async () => {
    const log = join(dir, 'audit.log')
    const server = await NodeServer.start(etcd.endpoints, [
      `--audit-policy-file=${join(dir, 'policy.yaml')}`,
      `--audit-log-path=${log}`,
      `--audit-webhook-config-file=${join(dir, 'hook.kubeconfig')}`,
      '--audit-webhook-batch-max-wait=1h',
    ])
    try {
      for (const n of ['a', 'b', 'c']) {
        const r = await server.kubectl('create', 'configmap', `term-${n}`, '-n', 'default')
        expect(r.code).toBe(0)
      }
      const watch = backgroundKubectl(server.kubeconfig, [
        'get',
        'configmaps',
        '-n',
        'default',
        '-w',
      ])
      await watch.waitFor(/term-c/)
      // Nothing has left yet: the batch waits an hour.
      expect(lists).toEqual([])
      expect(await server.stop()).toBe(0)
      await watch.exited
    } finally {
      await server.destroy()
    }
    const sent = lists.flatMap((l) => l.items)
    const logged = readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Event)
    for (const events of [sent, logged]) {
      for (const n of ['a', 'b', 'c']) {
        const create = events.filter(
          (e) => e.verb === 'create' && e.objectRef?.name === `term-${n}`,
        )
        expect(create.map((e) => e.stage)).toEqual(['ResponseComplete'])
        const id = create[0]!.auditID
        expect(events.filter((e) => e.auditID === id).map((e) => e.stage)).toEqual([
          'RequestReceived',
          'ResponseComplete',
        ])
      }
      const watchEvents = events.filter((e) => e.verb === 'watch')
      expect(watchEvents.map((e) => e.stage)).toEqual([
        'RequestReceived',
        'ResponseStarted',
        'ResponseComplete',
      ])
    }
    expect(sent).toEqual(logged)
  })
})

// Zero idle cost at the edge: a cluster made through the management API, with 10 watches open (half of
// them asking for bookmarks, as informers do), lets its Durable Object alone. Nothing the object does is
// logged but through its activity lines (ClusterStore's ACTIVITY_LOG_PREFIX, printed by npm start at
// EDGE_LOG_LEVEL=log, kept by LocalServer in any case), which are read from the Worker's output without
// waking it. The watchers still get
// kube's bookmarks once a minute, answered by the Worker, and the next write's event after the object
// woke up for it. Edge only: Node mode has no object to hibernate.
import { request as httpsRequest } from 'node:https'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { backgroundKubectl, KUBECTL, run, type BackgroundKubectl } from '../helpers/process'
import { LocalServer } from './harness'

const NAME = 'idle'
/** The window without any activity: longer than kube's bookmark interval (1 minute). */
const QUIET_MS = 70_000

let server: LocalServer
let kubeconfig: string
let token: string
let ca: Buffer

const activity = () =>
  server.output
    .split('\n')
    .filter((l) => l.includes(`object activity: cluster ${NAME}:`))
    .map((l) => l.slice(l.indexOf('object activity:')))

/** A watch as client-go's reflector opens it: allowWatchBookmarks, its lines as they come. */
function rawWatch(path: string): {
  lines: () => string[]
  close: () => void
  status: Promise<number>
} {
  let buf = ''
  let resolveStatus!: (n: number) => void
  const status = new Promise<number>((r) => (resolveStatus = r))
  const req = httpsRequest(
    {
      host: '127.0.0.1',
      port: server.port,
      path: `/clusters/${NAME}${path}`,
      ca,
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    },
    (res) => {
      resolveStatus(res.statusCode ?? 0)
      res.on('data', (d: Buffer) => (buf += d))
      res.on('error', () => {})
    },
  )
  req.on('error', () => {})
  req.end()
  return {
    lines: () => buf.split('\n').filter(Boolean),
    close: () => req.destroy(),
    status,
  }
}

async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

beforeAll(async () => {
  process.env.EDGE_LOG_LEVEL = 'log'
  server = await LocalServer.start()
  await server.kubectl(['create', '-f', '-'], {
    input: `apiVersion: tenancy.edge-apiserver.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: ${NAME}\n`,
  })
  await server.k('wait', '--for=condition=Ready', `cluster/${NAME}`, '--timeout=60s')
  const data = await server.k(
    'get',
    'secret',
    '-n',
    'kube-system',
    `cluster-${NAME}-admin-kubeconfig`,
    '-o',
    'jsonpath={.data.kubeconfig}',
  )
  const text = Buffer.from(data, 'base64').toString('utf8')
  kubeconfig = join(server.stateDir, `${NAME}.kubeconfig`)
  writeFileSync(kubeconfig, text)
  const parsed = parse(text)
  token = parsed.users[0].user.token
  ca = Buffer.from(parsed.clusters[0].cluster['certificate-authority-data'], 'base64')
}, 180_000)
afterAll(async () => {
  await server?.dispose()
})

describe('an idle cluster with open watches', () => {
  it('lets its object alone for longer than a bookmark interval, and wakes for the next write', async () => {
    const k = async (...args: string[]) => {
      const r = await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args])
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`)
      return r.stdout
    }
    await k('create', 'configmap', 'before', '--from-literal=a=1')
    const rv = JSON.parse(await k('get', 'configmap', 'before', '-o', 'json')).metadata
      .resourceVersion as string
    const raw = Array.from({ length: 5 }, () =>
      rawWatch(
        `/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`,
      ),
    )
    const kubectl: BackgroundKubectl[] = Array.from({ length: 5 }, () =>
      backgroundKubectl(kubeconfig, ['get', 'configmaps', '-w', '-o', 'name']),
    )
    try {
      for (const w of raw) expect(await w.status).toBe(200)
      for (const w of kubectl) await w.waitFor(/configmap\/before/)

      // Settle: whatever the requests above started (metrics flushes, the loops' work) ends.
      let seen = activity().length
      let quietSince = Date.now()
      await until(
        () => {
          const n = activity().length
          if (n !== seen) [seen, quietSince] = [n, Date.now()]
          return Date.now() - quietSince > 15_000
        },
        90_000,
        'the object to settle',
      )
      const before = activity()
      await new Promise((r) => setTimeout(r, QUIET_MS))
      expect(activity().slice(before.length)).toEqual([])
      // Kube's bookmarks kept coming (about once a minute), without asking the object.
      for (const w of raw) expect(w.lines().map((l) => JSON.parse(l).type)).toContain('BOOKMARK')

      await k('create', 'configmap', 'after', '--from-literal=b=2')
      const woke = activity().slice(before.length)
      expect(woke.length).toBeGreaterThan(0)
      for (const w of kubectl) await w.waitFor(/configmap\/after/)
      await until(
        () => raw.every((w) => w.lines().some((l) => l.includes('"name":"after"'))),
        10_000,
        'the raw watchers to see the write',
      )
      for (const w of raw) {
        const added = w
          .lines()
          .map((l) => JSON.parse(l))
          .find((e) => e.type === 'ADDED')
        expect(added.object.metadata.name).toBe('after')
      }
      // eslint-disable-next-line no-console
      console.log(
        `idle cluster: activity on the write after ${QUIET_MS} ms idle: ${woke.join('; ')}`,
      )
    } finally {
      for (const w of raw) w.close()
      for (const w of kubectl) w.kill()
    }
  }, 300_000)
})

// What every cluster of a deployment has, not only the default one, for clusters made through the
// management API and driven by real kubectl through the admin kubeconfigs their Secrets hold: /metrics
// with that cluster's requests only (scraped with `kubectl get --raw`, parsed by promtool); snapshots of
// its own keys through `npm run snapshot` with its kubeconfig, restored in place at the edge and moved into
// an etcd under its Node-mode prefix; and its extension API servers, reached as the default cluster's are
// (in Node mode over the process's transport: the APIService's caBundle and the front-proxy certificate).
// test/node/e2e/tenancy-services.test.ts runs the same against Node mode on etcd.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd } from '../helpers/etcd'
import {
  registration,
  startExtensionServer,
  type ExtensionServer,
} from '../helpers/extension-server'
import { KUBECTL, run } from '../helpers/process'
import { createCA } from '../../src/node/pki'
import { tenantEtcdPrefix } from '../../src/node/tenants'
import { createClusters, kubectlIn } from '../helpers/tenancy'
import { LocalServer } from './harness'
import { snapshotOk } from './snapshot-cli'

const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool'

let server: LocalServer
let wardle: ExtensionServer
const kubeconfigs: Record<string, string> = {}

/** kubectl against a cluster made through the management API, as its admin. */
const { at, atOk } = kubectlIn(kubeconfigs)

/**
 * kubectl get --raw of a path of a cluster: --raw takes the path as the whole request URI (client-go's
 * RequestURI), past the /clusters/<name> of the kubeconfig's server, so the path names the cluster itself.
 */
const raw = (cluster: string, path: string) =>
  atOk(cluster, 'get', '--raw', `/clusters/${cluster}${path}`)

const WARDLE_SVC = { namespace: 'wardle', name: 'api' }
const WARDLE_GV = 'wardle.example.com/v1alpha1'

beforeAll(async () => {
  // Before the server: the Worker's fetch takes the extension server's CA from the runtime's start.
  wardle = await startExtensionServer('tenancy-wardle', WARDLE_SVC, (req) =>
    (req.url ?? '').split('?')[0] === `/apis/${WARDLE_GV}`
      ? {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: WARDLE_GV,
          resources: [
            {
              name: 'flunders',
              singularName: 'flunder',
              namespaced: true,
              kind: 'Flunder',
              verbs: ['get', 'list'],
            },
          ],
        }
      : undefined,
  )
  server = await LocalServer.start()
  Object.assign(
    kubeconfigs,
    await createClusters(server.kubeconfig, ['team-a', 'team-b'], server.stateDir),
  )
}, 180_000)
afterAll(async () => {
  await server?.dispose()
  await wardle?.close()
})

/** Sample lines by their full series text (name and labels) → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

/** The series of one metric that name a resource. */
const seriesOf = (text: string, metric: string, resource: string) =>
  [...samples(text).keys()].filter(
    (k) => k.startsWith(`${metric}{`) && k.includes(`resource="${resource}"`),
  )

const requestSeries = (verb: string, scope: string, code: number, resource: string) =>
  `apiserver_request_total{code="${code}",component="apiserver",dry_run="",group="",resource="${resource}",` +
  `scope="${scope}",subresource="",verb="${verb}",version="v1"}`

/** What promtool says of an exposition beyond the names kube-apiserver itself uses (which it flags too). */
async function promtoolFindings(text: string): Promise<{ code: number; findings: string[] }> {
  const r = await run(PROMTOOL, ['check', 'metrics'], { input: text })
  const kubeNames = new Set(['authenticated_user_requests', 'authentication_attempts'])
  const findings = (r.stdout + r.stderr)
    .split('\n')
    .filter((l) => l.trim() && !kubeNames.has(l.split(' ')[0]!))
  return { code: r.code, findings }
}

describe('/metrics of each cluster', () => {
  it("shows a cluster's own requests only, under kube's names and labels; the default cluster's at bare /metrics", async () => {
    // Requests each cluster alone gets: podtemplates in team-a, resourcequotas in team-b.
    for (let i = 0; i < 3; i++) {
      const r = await at('team-a', 'get', 'podtemplate', 'absent')
      expect(r.stderr).toBe('Error from server (NotFound): podtemplates "absent" not found\n')
    }
    for (let i = 0; i < 2; i++) await atOk('team-b', 'get', 'resourcequotas', '-A')
    await atOk('team-b', 'create', 'configmap', 'only-in-b')

    // Each cluster at /clusters/<name>/metrics, with its own credential: the default cluster's is
    // nothing there.
    const a = await raw('team-a', '/metrics')
    const b = await raw('team-b', '/metrics')
    const refused = await server.kubectl(['get', '--raw', '/clusters/team-a/metrics'])
    expect(refused.stderr).toBe('error: You must be logged in to the server (Unauthorized)\n')
    const d = await server.k('get', '--raw', '/metrics')

    expect(samples(a).get(requestSeries('GET', 'resource', 404, 'podtemplates'))).toBe(3)
    expect(samples(b).get(requestSeries('LIST', 'cluster', 200, 'resourcequotas'))).toBe(2)
    expect(samples(b).get(requestSeries('POST', 'resource', 201, 'configmaps'))).toBe(1)
    for (const [text, absent] of [
      [a, 'resourcequotas'],
      [b, 'podtemplates'],
      [d, 'podtemplates'],
      [d, 'resourcequotas'],
    ] as const) {
      expect(seriesOf(text, 'apiserver_request_total', absent)).toEqual([])
      expect(seriesOf(text, 'apiserver_request_duration_seconds_count', absent)).toEqual([])
      // Node mode counts each resource's keys at scrape time (a count-only range, kube's listWithCount).
      const storageCalls = seriesOf(text, 'etcd_requests_total', absent)
      expect(storageCalls.filter((k) => !k.includes('operation="listWithCount"'))).toEqual([])
    }
    // The storage calls behind them, in the same cluster's series.
    expect(
      samples(a).get('etcd_requests_total{group="",operation="get",resource="podtemplates"}'),
    ).toBeGreaterThanOrEqual(3)
    // Each cluster's stored objects are its own store's.
    const configmaps = (cluster: string) =>
      atOk(cluster, 'get', 'configmaps', '-A', '-o', 'name').then(
        (out) => out.trim().split('\n').length,
      )
    expect(samples(b).get('apiserver_storage_objects{resource="configmaps"}')).toBe(
      await configmaps('team-b'),
    )
    expect(samples(a).get('apiserver_storage_objects{resource="configmaps"}')).toBe(
      await configmaps('team-a'),
    )
    // The admission of team-b's create, in team-b's series only.
    const admitted = (text: string) =>
      [...samples(text).keys()].filter((k) =>
        k.startsWith('apiserver_admission_step_admission_duration_seconds_count{'),
      )
    expect(admitted(b).length).toBeGreaterThan(0)
    expect(admitted(a)).toEqual([])

    for (const text of [a, b, d]) {
      const { code, findings } = await promtoolFindings(text)
      expect(findings).toEqual([])
      expect([0, 3]).toContain(code) // 3: lint findings only (kube's own names), no parse error (1)
    }
  })

  it('serves /metrics/slis per cluster: the health checks a cluster was asked for', async () => {
    await raw('team-a', '/readyz')
    const a = await raw('team-a', '/metrics/slis')
    const b = await raw('team-b', '/metrics/slis')
    expect(a).toMatch(
      /^kubernetes_healthchecks_total\{name="etcd",status="success",type="readyz"\} 1$/m,
    )
    expect(b).not.toContain('type="readyz"')
  })
})

/** A snapshot file's header and its records' keys. */
function readSnapshotFile(path: string): {
  header: { cluster: string; source: string }
  keys: string[]
} {
  const lines = readFileSync(path, 'utf8').trim().split('\n')
  return {
    header: JSON.parse(lines[0]!),
    keys: lines.slice(1, -1).map((l) => (JSON.parse(l) as { key: string }).key),
  }
}

describe('snapshots of each cluster', () => {
  it("saves a cluster's own keys only, through its kubeconfig; Node mode restores them under its prefix", async () => {
    await atOk('team-a', 'create', 'namespace', 'snap-a')
    await atOk('team-a', 'create', 'configmap', 'in-a', '-n', 'snap-a', '--from-literal=k=a')
    await atOk('team-b', 'create', 'configmap', 'in-b', '--from-literal=k=b')
    await server.k('create', 'configmap', 'in-default', '--from-literal=k=d')

    const file = join(server.stateDir, 'team-a.snapshot')
    const saved = await snapshotOk('save', file, '--kubeconfig', kubeconfigs['team-a']!)
    expect(saved).toMatch(/save: \d+\/\d+ objects/)
    const { header, keys } = readSnapshotFile(file)
    expect(header.cluster).toBe(server.runtime === 'node' ? tenantEtcdPrefix('team-a') : 'team-a')
    expect(keys).toContain('/registry/configmaps/snap-a/in-a')
    expect(keys).toContain('/registry/namespaces/snap-a')
    expect(keys.filter((k) => /\/(in-b|in-default|only-in-b)$/.test(k))).toEqual([])
    // The Cluster objects and their Secrets are the default cluster's.
    expect(keys.filter((k) => k.includes('tenancy.edge-apiserver.dev'))).toEqual([])

    const verified = await snapshotOk('verify', file, '--kubeconfig', kubeconfigs['team-a']!)
    expect(verified).toMatch(/verify: \d+ objects in \d+ resources match/)

    // Node mode restores as for the default cluster: into a fresh etcd before a server serves it, under
    // the cluster's own prefix, every revision kept. (The edge restores in place: the next test.)
    if (server.runtime !== 'node') return
    const etcd = await startEtcd()
    try {
      const restored = await snapshotOk(
        'restore',
        file,
        '--etcd-servers',
        etcd.endpoints.join(','),
        '--etcd-prefix',
        tenantEtcdPrefix('team-a'),
      )
      expect(restored).toMatch(/verify: \d+ objects in \d+ resources match/)
    } finally {
      await etcd.stop()
    }
  }, 300_000)

  it('restores a cluster in place (edge), leaving other clusters and its own credentials as they were', async () => {
    const file = join(server.stateDir, 'team-a-in-place.snapshot')
    await snapshotOk('save', file, '--kubeconfig', kubeconfigs['team-a']!)
    const restore = () =>
      at('team-a', 'create', '--raw', '/clusters/team-a/storage/snapshot', '-f', file)
    if (server.runtime === 'node') {
      // etcd takes no revisions from a client under a running server, for this cluster as for the
      // default one: the path answers as kube-apiserver does a verb it lacks.
      const r = await restore()
      expect(r.stderr).toContain('Error from server (MethodNotAllowed)')
      return
    }
    await atOk('team-a', 'create', 'configmap', 'dropped', '-n', 'snap-a')
    await atOk('team-b', 'create', 'configmap', 'kept-in-b')
    const before = await atOk('team-b', 'get', 'configmaps', '-A', '-o', 'name')
    const r = await restore()
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toMatchObject({ cluster: 'team-a' })
    expect((await at('team-a', 'get', 'configmap', 'dropped', '-n', 'snap-a')).stderr).toBe(
      'Error from server (NotFound): configmaps "dropped" not found\n',
    )
    // Its admin credential (its settings are not among its keys) still works, and its data is back.
    expect(await atOk('team-a', 'get', 'configmap', 'in-a', '-n', 'snap-a', '-o', 'name')).toBe(
      'configmap/in-a\n',
    )
    expect(await atOk('team-b', 'get', 'configmaps', '-A', '-o', 'name')).toBe(before)
    expect(await server.k('get', 'configmap', 'in-default', '-o', 'name')).toBe(
      'configmap/in-default\n',
    )
  }, 300_000)

  it("is for that cluster's admins only", async () => {
    const r = await server.kubectl(['get', '--raw', '/clusters/team-a/storage/snapshot'])
    expect(r.stderr).toBe('error: You must be logged in to the server (Unauthorized)\n')
  })
})

describe('extension API servers of each cluster', () => {
  it('proxies to the APIServices of the cluster asked, over the transport the default cluster uses', async () => {
    await atOk('team-a', 'create', 'namespace', WARDLE_SVC.namespace)
    const r = await run(KUBECTL, ['--kubeconfig', kubeconfigs['team-a']!, 'apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: registration(wardle, WARDLE_SVC, 'wardle.example.com', 'v1alpha1'),
      }),
    })
    expect(r.stderr).toBe('')
    // Polled with requests: at the edge no timer runs, requests touching the aggregator run its checks.
    const available = () =>
      atOk(
        'team-a',
        'get',
        'apiservice',
        'v1alpha1.wardle.example.com',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Available")].status}',
      )
    for (let i = 0; i < 150 && (await available()) !== 'True'; i++)
      await new Promise((r) => setTimeout(r, 200))
    expect(await available()).toBe('True')
    const before = wardle.seen.length
    const doc = JSON.parse(await raw('team-a', `/apis/${WARDLE_GV}`))
    expect(doc).toMatchObject({ kind: 'APIResourceList', groupVersion: WARDLE_GV })
    // The request proxied for the user (not an availability check, which runs as the aggregator).
    const seen = wardle.seen
      .slice(before)
      .find((s) => s.path.startsWith(`/apis/${WARDLE_GV}`) && s.user !== 'system:kube-aggregator')!
    // Its own admin, in the front-proxy headers; Node mode presents --proxy-client-cert-file for every
    // cluster, the Worker's fetch none.
    const admin = await atOk(
      'team-a',
      'auth',
      'whoami',
      '-o',
      'jsonpath={.status.userInfo.username}',
    )
    expect(seen.user).toBe(admin)
    expect(seen.authorization).toBeUndefined()
    if (server.runtime === 'node') expect(seen.clientCN).toBe('front-proxy-client')
    else expect(seen.clientCN).toBeUndefined()
    // Another cluster has no such group.
    const b = await at('team-b', 'get', '--raw', `/clusters/team-b/apis/${WARDLE_GV}`)
    expect(b.stderr).toBe(
      'Error from server (NotFound): the server could not find the requested resource\n',
    )
  })

  it("verifies a cluster's extension server against its APIService's caBundle (Node mode)", async () => {
    await raw('team-a', `/apis/${WARDLE_GV}`)
    const other = Buffer.from(createCA('not-the-wardle-ca').certPem).toString('base64')
    await atOk(
      'team-a',
      'patch',
      'apiservice',
      'v1alpha1.wardle.example.com',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { caBundle: other } }),
    )
    let last = { code: 0, stdout: '', stderr: '' }
    for (let i = 0; i < 50; i++) {
      last = await at('team-a', 'get', '--raw', `/clusters/team-a/apis/${WARDLE_GV}`)
      if (server.runtime !== 'node' || last.code !== 0) break
      await new Promise((r) => setTimeout(r, 200))
    }
    if (server.runtime === 'node') {
      expect(last.stderr).toBe(
        'Error from server (ServiceUnavailable): the server is currently unable to handle the request\n',
      )
    } else {
      // The Worker's fetch takes no CA per call: the runtime's roots (here NODE_EXTRA_CA_CERTS) decide.
      expect(last.code).toBe(0)
    }
  })
})

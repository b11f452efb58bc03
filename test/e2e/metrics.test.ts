// /metrics as an operator scrapes it: RBAC's system:monitoring role lets a service account in, promtool
// parses the output, counters move by exactly the requests the real kubectl made, and a real Prometheus
// server (Debian's package) scrapes the server with a bearer token and the cluster CA.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, LocalServer, run } from './harness'

const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus'
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool'
/** The edge flushes each isolate's counts at most this long after a request (src/metrics/cluster.ts). */
const FLUSH_WAIT_MS = 1500

let server: LocalServer
let token: string

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'serviceaccount', 'prometheus', '-n', 'kube-system')
  await server.k('create', 'serviceaccount', 'nosy', '-n', 'kube-system')
  // kube's bootstrap policy grants /metrics to the system:monitoring ClusterRole.
  await server.k(
    'create',
    'clusterrolebinding',
    'prometheus-monitoring',
    '--clusterrole=system:monitoring',
    '--serviceaccount=kube-system:prometheus',
  )
  token = (await server.k('create', 'token', 'prometheus', '-n', 'kube-system')).trim()
}, 180_000)
afterAll(async () => {
  await server?.dispose()
})

async function scrape(path = '/metrics'): Promise<string> {
  const r = await server.request('GET', path, undefined, { Authorization: `Bearer ${token}` })
  expect(r.status, r.body).toBe(200)
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
  return r.body
}

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

function delta(
  before: Map<string, number>,
  after: Map<string, number>,
  prefix: string,
): Map<string, number> {
  const out = new Map<string, number>()
  for (const [k, v] of after) {
    if (!k.startsWith(prefix)) continue
    const d = v - (before.get(k) ?? 0)
    if (d !== 0) out.set(k, d)
  }
  return out
}

const requestSeries = (verb: string, scope: string, code: number, resource = 'configmaps') =>
  `apiserver_request_total{code="${code}",component="apiserver",dry_run="",group="",resource="${resource}",` +
  `scope="${scope}",subresource="",verb="${verb}",version="v1"}`

describe('/metrics', () => {
  it('is served to system:monitoring and forbidden to a service account without it', async () => {
    const nosy = (await server.k('create', 'token', 'nosy', '-n', 'kube-system')).trim()
    const denied = await server.request('GET', '/metrics', undefined, {
      Authorization: `Bearer ${nosy}`,
    })
    expect(denied.status).toBe(403)
    expect(JSON.parse(denied.body).message).toBe(
      'forbidden: User "system:serviceaccount:kube-system:nosy" cannot get path "/metrics"',
    )
    const text = await scrape()
    expect(text).toContain(
      '# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out',
    )
    expect(text).toContain('# TYPE apiserver_request_duration_seconds histogram')
    expect(text).toMatch(/^apiserver_storage_objects\{resource="namespaces"\} [1-9]/m)
    const slis = await scrape('/metrics/slis')
    expect(slis).not.toContain('apiserver_request_total')
  })

  it('moves apiserver_request_total by exactly the requests kubectl made', async () => {
    const before = samples(await scrape())
    for (let i = 0; i < 3; i++) await server.k('get', 'configmaps', '-n', 'default')
    await server.k('create', 'configmap', 'metrics-a', '-n', 'default', '--from-literal=a=1')
    await server.k('create', 'configmap', 'metrics-b', '-n', 'default', '--from-literal=a=1')
    const missing = await server.kubectl(['get', 'configmap', 'metrics-none', '-n', 'default'])
    expect(missing.code).not.toBe(0)
    const manifest = server.file(
      'metrics-c.yaml',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metrics-c\n  namespace: default\ndata:\n  a: "1"\n',
    )
    await server.k('apply', '--server-side', '-f', manifest)
    await new Promise((r) => setTimeout(r, FLUSH_WAIT_MS))
    const after = samples(await scrape())

    expect(Object.fromEntries(delta(before, after, 'apiserver_request_total{'))).toEqual(
      expect.objectContaining({
        [requestSeries('LIST', 'namespace', 200)]: 3,
        [requestSeries('POST', 'resource', 201)]: 2,
        [requestSeries('GET', 'resource', 404)]: 1,
        [requestSeries('APPLY', 'resource', 201)]: 1,
      }),
    )
    const configmaps = [...delta(before, after, 'apiserver_request_total{')].filter(([k]) =>
      k.includes('resource="configmaps"'),
    )
    expect(configmaps).toHaveLength(4)
    const durations = delta(before, after, 'apiserver_request_duration_seconds_count{')
    expect(
      durations.get(
        'apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="configmaps",' +
          'scope="namespace",subresource="",verb="LIST",version="v1"}',
      ),
    ).toBe(3)
    const objects = 'apiserver_storage_objects{resource="configmaps"}'
    expect(after.get(objects)! - before.get(objects)!).toBe(3)
    const creates = 'etcd_requests_total{group="",operation="create",resource="configmaps"}'
    expect(after.get(creates)! - (before.get(creates) ?? 0)).toBe(3)
    // Each of the three creates passed both admission steps and every enabled plugin of each.
    const steps = delta(before, after, 'apiserver_admission_step_admission_duration_seconds_count{')
    expect(
      steps.get(
        'apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="false",type="admit"}',
      ),
    ).toBe(3)
    expect(
      steps.get(
        'apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="false",type="validate"}',
      ),
    ).toBe(3)
    const plugin = delta(
      before,
      after,
      'apiserver_admission_controller_admission_duration_seconds_count{',
    )
    expect(
      plugin.get(
        'apiserver_admission_controller_admission_duration_seconds_count{name="NamespaceLifecycle",operation="CREATE",rejected="false",type="admit"}',
      ),
    ).toBe(3)
  })

  it('observes the bytes of each GET response in apiserver_response_sizes', async () => {
    const before = samples(await scrape())
    const r = await server.request('GET', '/api/v1/namespaces/default/configmaps/kube-root-ca.crt')
    expect(r.status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, FLUSH_WAIT_MS))
    const after = samples(await scrape())
    const series =
      'apiserver_response_sizes_sum{component="apiserver",group="",resource="configmaps",scope="resource",' +
      'subresource="",verb="GET",version="v1"}'
    expect(after.get(series)! - (before.get(series) ?? 0)).toBe(Buffer.byteLength(r.body))
  })

  it('counts a watch when it ends, and each event it sent', async () => {
    const before = samples(await scrape())
    // A watch from resourceVersion 0 starts with every object as ADDED, and ends after timeoutSeconds.
    const w = await server.request(
      'GET',
      '/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0&timeoutSeconds=2',
    )
    const events = w.body.split('\n').filter((l) => l.trim()).length
    expect(events).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, FLUSH_WAIT_MS))
    const after = samples(await scrape())
    const d = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0)
    expect(d('apiserver_watch_events_total{group="",kind="ConfigMap",version="v1"}')).toBe(events)
    expect(d('apiserver_watch_events_sizes_count{group="",kind="ConfigMap",version="v1"}')).toBe(
      events,
    )
    expect(d('apiserver_watch_events_sizes_sum{group="",kind="ConfigMap",version="v1"}')).toBe(
      Buffer.byteLength(w.body),
    )
    expect(d(requestSeries('WATCH', 'namespace', 200))).toBe(1)
    const longRunning =
      'apiserver_longrunning_requests{component="apiserver",group="",resource="configmaps",scope="namespace",' +
      'subresource="",verb="WATCH",version="v1"}'
    expect(after.get(longRunning) ?? 0).toBe(0)
    expect(
      after.get('apiserver_registered_watchers{group="",kind="ConfigMap",version="v1"}') ?? 0,
    ).toBe(0)
  })

  it('counts each event the watch cache takes in once, however many watches it feeds', async () => {
    const list = await server.request('GET', '/api/v1/namespaces/default/secrets')
    const rv = JSON.parse(list.body).metadata.resourceVersion
    const before = samples(await scrape())
    // Three watches of Secrets (other tests count ConfigMap requests) share one Store watch (per process, or per Worker isolate).
    const watches = [0, 1, 2].map(() =>
      server.request(
        'GET',
        `/api/v1/namespaces/default/secrets?watch=1&resourceVersion=${rv}&timeoutSeconds=3`,
      ),
    )
    await new Promise((r) => setTimeout(r, 1000))
    await server.k('create', 'secret', 'generic', 'cached-1', '-n', 'default')
    await server.k('create', 'secret', 'generic', 'cached-2', '-n', 'default')
    for (const w of await Promise.all(watches))
      expect(w.body.split('\n').filter((l) => l.includes('"ADDED"'))).toHaveLength(2)
    await new Promise((r) => setTimeout(r, FLUSH_WAIT_MS))
    const after = samples(await scrape())
    const d = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0)
    expect(d('apiserver_watch_events_total{group="",kind="Secret",version="v1"}')).toBe(6)
    expect(d('apiserver_watch_cache_events_received_total{group="",resource="secrets"}')).toBe(2)
    expect(
      after.get('apiserver_watch_cache_initializations_total{group="",resource="secrets"}'),
    ).toBeGreaterThanOrEqual(1)
  })

  it('passes promtool check metrics; its only lint findings are names kube-apiserver itself uses', async () => {
    const text = await scrape()
    const r = await run(PROMTOOL, ['check', 'metrics'], { input: text })
    const findings = (r.stdout + r.stderr).split('\n').filter((l) => l.trim())
    // kube's own counters without the _total suffix, which promtool flags in kube-apiserver's output too.
    const kubeNames = new Set(['authenticated_user_requests', 'authentication_attempts'])
    for (const f of findings) expect(kubeNames.has(f.split(' ')[0]!), f).toBe(true)
    expect([0, 3]).toContain(r.code) // 3: lint findings only, no parse error (1)
  })

  it('is scraped by a real Prometheus server with a bearer token and the cluster CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-prometheus-'))
    const port = await freePort()
    writeFileSync(join(dir, 'token'), token)
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s }',
        'scrape_configs:',
        '- job_name: apiserver',
        '  scheme: https',
        `  authorization: { credentials_file: ${join(dir, 'token')} }`,
        `  tls_config: { ca_file: ${join(server.stateDir, 'pki', 'ca.crt')} }`,
        `  static_configs: [ { targets: ['127.0.0.1:${server.port}'] } ]`,
        '',
      ].join('\n'),
    )
    const prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let log = ''
    prom.stderr!.on('data', (d) => (log += d))
    try {
      const query = async (q: string) => {
        const res = await fetch(
          `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`,
        )
        return (await res.json()) as {
          data: { result: { metric: Record<string, string>; value: [number, string] }[] }
        }
      }
      let series: { metric: Record<string, string>; value: [number, string] }[] = []
      for (let i = 0; i < 40 && !series.length; i++) {
        await new Promise((r) => setTimeout(r, 500))
        series = await query('apiserver_request_total{resource="configmaps",verb="POST"}').then(
          (r) => r.data.result,
          () => [],
        )
      }
      expect(series, log).not.toHaveLength(0)
      expect(series[0]!.metric).toMatchObject({
        job: 'apiserver',
        code: '201',
        scope: 'resource',
        component: 'apiserver',
      })
      expect(Number(series[0]!.value[1])).toBe(2)
      const up = await query('up{job="apiserver"}')
      expect(up.data.result[0]!.value[1]).toBe('1')
    } finally {
      prom.kill('SIGTERM')
      await new Promise((r) => prom.once('exit', r))
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})

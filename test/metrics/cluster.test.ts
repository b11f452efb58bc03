// The edge's cluster-wide counts (src/metrics/cluster.ts) with several isolates, which `npm start` cannot
// show (workerd runs one isolate locally): each isolate below has its own registry, as each Worker isolate
// has, and they flush to one real ClusterStore on workerd (Miniflare).
import type { Context } from 'hono'
import type { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiserverMetrics, type ApiserverMetrics } from '../../src/metrics/apiserver'
import { ClusterMetrics, type ClusterMetricsStub } from '../../src/metrics/cluster'
import { KeyResources } from '../../src/metrics/store'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { DurableStore } from '../../src/storage/durable/client'
import { clusterStub, startMiniflare } from '../storage/harness'

let mf: Miniflare
beforeAll(async () => {
  mf = await startMiniflare()
})
afterAll(async () => {
  await mf?.dispose()
})

function metricsStub(cluster: string): ClusterMetricsStub {
  const rpc =
    (method: string) =>
    async (...args: unknown[]) => {
      const res = await mf.dispatchFetch(`http://store.test/rpc/${cluster}/${method}`, {
        method: 'POST',
        body: JSON.stringify(args),
      })
      if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`)
      return (await res.json()) as never
    }
  return { recordMetrics: rpc('recordMetrics'), scrapeMetrics: rpc('scrapeMetrics') }
}

const registry = new Registry(builtinResources)
const keys = new KeyResources(registry)
const context = { env: {} } as unknown as Context
const LIST = ['LIST', '', '', 'v1', 'configmaps', '', 'namespace', 'apiserver']
const WATCH = ['WATCH', '', 'v1', 'configmaps', '', 'namespace', 'apiserver']

function isolate(
  cluster: string,
  stub = metricsStub(cluster),
): { m: ApiserverMetrics; edge: ClusterMetrics } {
  const m = apiserverMetrics()
  return { m, edge: new ClusterMetrics(() => stub, m) }
}

async function scrape(cluster: string): Promise<string> {
  const { edge } = isolate(cluster)
  const [r] = await edge.collect(context, new DurableStore(clusterStub(mf, cluster)), keys)
  return r!.render()
}

describe('cluster-wide metrics at the edge', () => {
  it('adds up the counts of every isolate, each counted once, whichever isolate is scraped', async () => {
    const cluster = `metrics-${crypto.randomUUID()}`
    const a = isolate(cluster)
    const b = isolate(cluster)
    for (let i = 0; i < 3; i++) a.m.requestTotal.inc([...LIST, '200'])
    a.m.requestDuration.observe(LIST, 0.003)
    b.m.requestTotal.inc([...LIST, '200'], 2)
    b.m.requestDuration.observe(LIST, 0.3)
    b.m.longRunning.inc(WATCH)
    await a.edge.flush({})
    await b.edge.flush({})
    // Flushing again sends nothing twice.
    await a.edge.flush({})
    const text = await scrape(cluster)
    expect(text).toContain(
      'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",' +
        'scope="namespace",subresource="",verb="LIST",version="v1"} 5\n',
    )
    expect(text).toMatch(/apiserver_request_duration_seconds_bucket\{[^}]*le="0\.005"\} 1\n/)
    expect(text).toMatch(/apiserver_request_duration_seconds_bucket\{[^}]*le="0\.4"\} 2\n/)
    expect(text).toMatch(/apiserver_request_duration_seconds_sum\{[^}]*\} 0\.303\n/)
    // The watch b holds is in flight in the cluster, whoever scrapes.
    expect(text).toMatch(/^apiserver_longrunning_requests\{[^}]*verb="WATCH"[^}]*\} 1$/m)

    b.m.longRunning.dec(WATCH)
    b.m.requestTotal.inc([...LIST, '200'])
    await b.edge.flush({})
    const later = await scrape(cluster)
    expect(later).toMatch(/^apiserver_request_total\{[^}]*verb="LIST"[^}]*\} 6$/m)
    expect(later).not.toContain('apiserver_longrunning_requests{')
  })

  it('keeps the counts of a flush that failed and sends them with the next one', async () => {
    const cluster = `metrics-${crypto.randomUUID()}`
    const real = metricsStub(cluster)
    let down = true
    const flaky: ClusterMetricsStub = {
      recordMetrics: (...args) =>
        down ? Promise.reject(new Error('object unreachable')) : real.recordMetrics(...args),
      scrapeMetrics: (...args) => real.scrapeMetrics(...args),
    }
    const a = isolate(cluster, flaky)
    a.m.requestTotal.inc([...LIST, '200'], 4)
    const errors = console.error
    console.error = () => {}
    try {
      await a.edge.flush({})
    } finally {
      console.error = errors
    }
    down = false
    a.m.requestTotal.inc([...LIST, '200'])
    await a.edge.flush({})
    expect(await scrape(cluster)).toMatch(/^apiserver_request_total\{[^}]*verb="LIST"[^}]*\} 5$/m)
  })

  it("counts the cluster's stored objects per resource from the object's own tables", async () => {
    const cluster = `metrics-${crypto.randomUUID()}`
    const store = new DurableStore(clusterStub(mf, cluster))
    await store.create('/registry/configmaps/default/a', '{}')
    await store.create('/registry/configmaps/kube-system/b', '{}')
    await store.create('/registry/deployments/default/c', '{}')
    const text = await scrape(cluster)
    expect(text).toContain('apiserver_storage_objects{resource="configmaps"} 2\n')
    expect(text).toContain('apiserver_storage_objects{resource="deployments.apps"} 1\n')
    expect(text).toContain('apiserver_storage_objects{resource="secrets"} 0\n')
  })
})

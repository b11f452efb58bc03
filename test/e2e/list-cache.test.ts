// Consistent LISTs answered from memory, through the real kubectl and @kubernetes/client-node: every LIST
// right after a write has it, pages included, and kube's apiserver_cache_list_total counts the LISTs
// memory answered. At the edge the watch cache answers them while a watch of the resource is open in the
// isolate (src/api/watch-cache.ts, withListsFromCache), a first page too; Node mode's etcd mirror
// (src/storage/etcd/mirror.ts) answers those without a limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { backgroundKubectl, LocalServer, metricValue } from './harness'

/** The edge flushes each isolate's counts about a second after a request (src/metrics/cluster.ts). */
const FLUSH_WAIT_MS = 1500

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'ns', 'lc')
})
afterAll(async () => {
  await server?.dispose()
})

/** apiserver_cache_list_total of ConfigMaps once it is at least `atLeast` (or as it is after ~15 s). */
async function listedFromCache(atLeast = 0): Promise<number> {
  let n = 0
  for (let i = 0; i < 10 && (i === 0 || n < atLeast); i++) {
    await new Promise((r) => setTimeout(r, FLUSH_WAIT_MS))
    n = await metricValue(
      server,
      'apiserver_cache_list_total{group="",index="",resource="configmaps"}',
    )
  }
  return n
}

describe('consistent LISTs from the watch cache', () => {
  it('lists every write made just before, from memory, while a watch of the resource is open', async () => {
    const watch = backgroundKubectl(server.kubeconfig, [
      'get',
      'cm',
      '-A',
      '-w',
      '--watch-only',
      '-v=6',
    ])
    await watch.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    const before = await listedFromCache()
    const kc = new KubeConfig()
    kc.loadFromFile(server.kubeconfig)
    const api = kc.makeApiClient(CoreV1Api)
    // An informer's first LIST: the whole resource in one read, which the edge's cache fills in with.
    await api.listConfigMapForAllNamespaces()
    const made: string[] = []
    for (let i = 0; i < 5; i++) {
      made.push(`c${i}`)
      await server.k('create', 'cm', `c${i}`, '-n', 'lc', `--from-literal=v=${i}`)
      // kubectl's LIST (limit=500) and client-node's (no limit), each right after the write.
      const names = (await server.k('get', 'cm', '-n', 'lc', '-o', 'name')).trim().split('\n')
      expect(names.filter((n) => n.startsWith('configmap/c'))).toEqual(
        made.map((n) => `configmap/${n}`),
      )
      const items = (await api.listNamespacedConfigMap({ namespace: 'lc' })).items
      expect(items.filter((x) => x.metadata?.name?.startsWith('c')).map((x) => x.data?.v)).toEqual(
        made.map((_, j) => String(j)),
      )
    }
    await api.patchNamespacedConfigMap({
      namespace: 'lc',
      name: 'c0',
      body: [{ op: 'replace', path: '/data/v', value: 'changed' }],
    })
    await server.k('delete', 'cm', 'c1', '-n', 'lc')
    const after = (await api.listNamespacedConfigMap({ namespace: 'lc' })).items
    expect(after.find((x) => x.metadata?.name === 'c0')?.data?.v).toBe('changed')
    expect(after.some((x) => x.metadata?.name === 'c1')).toBe(false)
    // Pages of 2: the first from memory, the rest from the store at its revision, each item once.
    const paged = await server.kubectl([
      'get',
      'cm',
      '-n',
      'lc',
      '-o',
      'name',
      '--chunk-size=2',
      '-v=6',
    ])
    expect(
      paged.stdout
        .trim()
        .split('\n')
        .filter((n) => n.startsWith('configmap/c')),
    ).toEqual(['c0', 'c2', 'c3', 'c4'].map((n) => `configmap/${n}`))
    expect(paged.stderr).toMatch(/continue=/)
    // From memory: client-node's LISTs (no limit), the informer-like first one too in Node mode (at the
    // edge it filled the cache in); at the edge also kubectl's (limit=500) and the paged walk's first page.
    const expected = server.runtime === 'node' ? 7 : 12
    expect((await listedFromCache(before + expected)) - before).toBe(expected)
    watch.kill()
  })
})

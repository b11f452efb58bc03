// Many watchers of one resource at once, through real clients: @kubernetes/client-node informers (with and
// without a label selector) and kubectl get -w. They share one Store watch (the watch cache): in Node mode
// one etcd watch per process, at the edge one WebSocket to the Durable Object per Worker isolate, held by
// one of the watches' requests and handed on when that one ends; either way each must see every change,
// in order, selector transitions included. And without the cache (--watch-cache=false), as before it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { backgroundKubectl, LocalServer, metricValue } from './harness'

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'ns', 'fan')
})
afterAll(async () => {
  await server?.dispose()
})

async function eventually<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn()
  for (let i = 0; i < 300 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100))
    v = await fn()
  }
  return v
}

const INFORMERS = 30

/** kubectl get -w of the namespace's ConfigMaps, its events only. */
const watch = () =>
  backgroundKubectl(server.kubeconfig, [
    'get',
    'cm',
    '-n',
    'fan',
    '-w',
    '--output-watch-events',
    '--watch-only',
    '-v=6',
  ])

describe('watch fan-out', () => {
  it('every informer and kubectl get -w of a resource sees each change in order', async () => {
    const kc = new KubeConfig()
    kc.loadFromFile(server.kubeconfig)
    const api = kc.makeApiClient(CoreV1Api)
    const path = '/api/v1/namespaces/fan/configmaps'
    const informers = Array.from({ length: INFORMERS }, (_, i) => {
      const selector = i % 2 === 1 ? 'team=blue' : undefined
      const seen: string[] = []
      const informer = makeInformer<V1ConfigMap>(
        kc,
        path,
        () => api.listNamespacedConfigMap({ namespace: 'fan', labelSelector: selector }),
        selector,
      )
      const name = (o: V1ConfigMap) => o.metadata?.name
      informer.on('add', (o) => seen.push(`add ${name(o)}`))
      informer.on('update', (o) => seen.push(`update ${name(o)} ${o.data?.v ?? ''}`))
      informer.on('delete', (o) => seen.push(`delete ${name(o)}`))
      return { informer, seen, selector }
    })
    await Promise.all(informers.map((x) => x.informer.start()))
    const kubectls = [0, 1, 2].map(() =>
      backgroundKubectl(server.kubeconfig, [
        'get',
        'cm',
        '-n',
        'fan',
        '-l',
        'team=blue',
        '-w',
        '--output-watch-events',
        '--watch-only',
        '-v=6',
      ]),
    )
    for (const w of kubectls) await w.waitForLog(/configmaps\?.*watch=true.* 200 OK/)

    const patch = (name: string, body: object) =>
      api.patchNamespacedConfigMap({ namespace: 'fan', name, body: [body] })
    await api.createNamespacedConfigMap({
      namespace: 'fan',
      body: { metadata: { name: 'a', labels: { team: 'red' } }, data: { v: '1' } },
    })
    await api.createNamespacedConfigMap({
      namespace: 'fan',
      body: { metadata: { name: 'b', labels: { team: 'blue' } }, data: { v: '1' } },
    })
    await patch('a', { op: 'replace', path: '/metadata/labels/team', value: 'blue' }) // a enters
    await patch('b', { op: 'replace', path: '/data/v', value: '2' })
    await patch('a', { op: 'replace', path: '/metadata/labels/team', value: 'red' }) // a leaves
    await api.deleteNamespacedConfigMap({ namespace: 'fan', name: 'b' })

    const all = ['add a', 'add b', 'update a 1', 'update b 2', 'update a 1', 'delete b']
    const blue = ['add b', 'add a', 'update b 2', 'delete a', 'delete b']
    for (const x of informers) {
      const want = x.selector ? blue : all
      const seen = await eventually(
        () => x.seen.filter((s) => !s.includes('kube-root-ca')),
        (s) => s.length >= want.length,
      )
      expect(seen).toEqual(want)
    }
    for (const w of kubectls) {
      await w.waitFor(/DELETED\s+b\s+1\s+\d+s\n/) // the whole line: output may arrive mid-line
      w.kill()
      // Table rows (kubectl's own request): the columns once, then one row per event.
      expect(w.output()).toMatch(
        /^EVENT\s+NAME\s+DATA\s+AGE\nADDED\s+b\s+1\s+\d+s\nADDED\s+a\s+1\s+\d+s\nMODIFIED\s+b\s+1\s+\d+s\nDELETED\s+a\s+1\s+\d+s\nDELETED\s+b\s+1\s+\d+s\n$/,
      )
    }
    await Promise.all(informers.map((x) => x.informer.stop()))
  })

  it('keeps every other watch fed when the one that opened the shared Store watch ends', async () => {
    // At the edge the first watch's request holds the isolate's WebSocket to the object; in Node mode
    // the process holds the etcd watch.
    const first = watch()
    await first.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    const others = [watch(), watch()]
    for (const w of others) await w.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    await server.k('create', 'cm', 'h1', '-n', 'fan')
    // kubectl's rows: EVENT NAME DATA AGE, the whole line (output may arrive mid-line).
    const row = (event: string, name: string) => new RegExp(`${event}\\s+${name}\\s+0\\s+\\d+s\\n`)
    for (const w of [first, ...others]) await w.waitFor(row('ADDED', 'h1'))
    first.kill()
    await server.k('create', 'cm', 'h2', '-n', 'fan')
    await server.k('delete', 'cm', 'h1', '-n', 'fan')
    for (const w of others) await w.waitFor(row('DELETED', 'h1'))
    // A watch that comes after joins what is there now.
    const late = watch()
    await late.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    await server.k('delete', 'cm', 'h2', '-n', 'fan')
    for (const w of [...others, late]) await w.waitFor(row('DELETED', 'h2'))
    for (const w of [...others, late]) w.kill()
    const events = (w: (typeof others)[number]) =>
      w
        .output()
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(/\s+/).slice(0, 2).join(' '))
    for (const w of others)
      expect(events(w)).toEqual(['ADDED h1', 'ADDED h2', 'DELETED h1', 'DELETED h2'])
    expect(events(late)).toEqual(['DELETED h2'])
  })

  // Last: it restarts the server without the cache.
  it('with --watch-cache=false each watch has a Store watch of its own, and sees the same', async () => {
    await server.restart(['--watch-cache=false'])
    const received = () =>
      metricValue(
        server,
        'apiserver_watch_cache_events_received_total{group="",resource="configmaps"}',
      )
    const before = await received()
    const watches = [watch(), watch()]
    for (const w of watches) await w.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    await server.k('create', 'cm', 'u1', '-n', 'fan')
    await server.k('delete', 'cm', 'u1', '-n', 'fan')
    for (const w of watches) await w.waitFor(/DELETED\s+u1\s+0\s+\d+s\n/)
    for (const w of watches) {
      w.kill()
      expect(w.output()).toMatch(
        /^EVENT\s+NAME\s+DATA\s+AGE\nADDED\s+u1\s+0\s+\d+s\nDELETED\s+u1\s+0\s+\d+s\n$/,
      )
    }
    // At the edge counts reach /metrics through the cluster's object, flushed every second.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await received()).toBe(before)
  })
})

// Snapshots and restores of a cluster through `npm run snapshot` against `npm start` (the edge: the
// snapshot through GET /storage/snapshot, the restore through POST /storage/snapshot into a fresh Durable
// Object), compared with the real kubectl; test/node/e2e/snapshot.test.ts runs the same against Node
// mode, where the restore goes into a fresh etcd in revision order before its server starts.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { backgroundKubectl, LocalServer } from './harness'
import { snapshotOk } from './snapshot-cli'

let server: LocalServer
let twin: LocalServer | undefined

beforeAll(async () => {
  server = await LocalServer.start()
}, 180_000)
afterAll(async () => {
  await twin?.dispose()
  await server?.dispose()
})

const CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

/**
 * Every object of every listable resource, as kubectl prints them, in a stable order. Left out: what a
 * server keeps about itself and rewrites for its own address (the `kubernetes` Service's endpoints,
 * which list this server's port), as kube-apiserver's own endpoints do not move either.
 */
async function everything(s: LocalServer): Promise<Record<string, unknown>[]> {
  const names = (await s.k('api-resources', '--verbs=list', '-o', 'name')).trim().split('\n')
  const list = JSON.parse(await s.k('get', names.join(','), '-A', '-o', 'json')) as {
    items: {
      kind: string
      metadata: { namespace?: string; name: string }
    }[]
  }
  const own = (o: (typeof list.items)[number]) =>
    o.metadata.namespace === 'default' &&
    o.metadata.name.startsWith('kubernetes') &&
    (o.kind === 'Endpoints' || o.kind === 'EndpointSlice')
  const id = (o: (typeof list.items)[number]) =>
    `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`
  return list.items
    .filter((o) => !own(o))
    .sort((a, b) => id(a).localeCompare(id(b))) as unknown as Record<string, unknown>[]
}

interface FileRecord {
  key: string
  mod_revision: number
}

function readFile(path: string): { header: { revision: number }; records: FileRecord[] } {
  const lines = readFileSync(path, 'utf8').trim().split('\n')
  return {
    header: JSON.parse(lines[0]!),
    records: lines.slice(1, -1).map((l) => JSON.parse(l) as FileRecord),
  }
}

describe('snapshot and restore', () => {
  it('keeps every object byte for byte with its resourceVersion, and answers older watches 410 Gone', async () => {
    await server.k('create', 'namespace', 'snap')
    await server.k('create', 'configmap', 'plain', '-n', 'snap', '--from-literal=k=välue\n2')
    await server.k('create', 'secret', 'generic', 's', '-n', 'snap', '--from-literal=password=p')
    await server.k('create', 'deployment', 'web', '-n', 'snap', '--image=nginx', '--replicas=2')
    await server.k('apply', '-f', server.file('crd.yaml', CRD))
    await server.k('wait', '--for=condition=Established', 'crd/widgets.example.com')
    await server.k(
      'apply',
      '-f',
      server.file(
        'widget.yaml',
        'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: snap}\nspec: {size: 3}\n',
      ),
    )
    await server.k('label', 'configmap', 'plain', '-n', 'snap', 'changed=yes')
    await server.k('delete', 'secret', 's', '-n', 'snap')

    const file = join(server.stateDir, 'cluster.snapshot')
    const before = await everything(server)
    const saved = await snapshotOk('save', file, '--kubeconfig', server.kubeconfig)
    expect(saved).toMatch(/save: \d+\/\d+ objects, [\d.]+ MB, \d+ objects\/s, [\d.]+ MB\/s in/)
    // Nothing written since: the listing before is the snapshot's state.
    expect(await everything(server)).toEqual(before)
    const { header, records } = readFile(file)
    expect(records.every((r) => r.mod_revision <= header.revision)).toBe(true)

    let restoreOutput = ''
    twin = await server.restoredTwin(async (target) => {
      restoreOutput = await snapshotOk(
        'restore',
        file,
        ...(target.kubeconfig
          ? ['--kubeconfig', target.kubeconfig]
          : ['--etcd-servers', target.etcdServers!.join(',')]),
      )
    })
    expect(restoreOutput).toMatch(/verify: \d+ objects in \d+ resources match/)
    expect(await everything(twin)).toEqual(before)
    const cm = JSON.parse(await twin.k('get', 'configmap', 'plain', '-n', 'snap', '-o', 'json'))
    expect(cm.data).toEqual({ k: 'välue\n2' })
    expect(cm.metadata.labels).toEqual({ changed: 'yes' })
    expect((await twin.kubectl(['get', 'widgets', '-n', 'snap', '-o', 'name'])).stdout).toBe(
      'widget.example.com/w1\n',
    )

    // A watch that needs events from before the snapshot's revision: that history is gone, as after an
    // etcd restore. (etcd still serves a watch from revision - 1: the write at the revision itself is there.)
    const watch = await twin.request(
      'GET',
      `/api/v1/namespaces/snap/configmaps?watch=1&resourceVersion=${header.revision - 2}&timeoutSeconds=5`,
    )
    expect(watch.status).toBe(200)
    const event = JSON.parse(watch.body.trim().split('\n')[0]!)
    expect(event).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired' },
    })
    // Writes go on past the snapshot's revision.
    await twin.k('create', 'configmap', 'after', '-n', 'snap')
    const after = JSON.parse(await twin.k('get', 'configmap', 'after', '-n', 'snap', '-o', 'json'))
    expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(header.revision)
  }, 300_000)

  it('taken under a write load, holds exactly the objects written up to its revision', async () => {
    await server.k('create', 'namespace', 'load')
    const created: { name: string; rv: number }[] = []
    let stop = false
    let afterSnapshot = 0
    const writer = (async () => {
      for (let i = 0; !stop || afterSnapshot < 5; i++) {
        const body = JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `c${i}` },
          data: { i: String(i) },
        })
        const r = await server.request('POST', '/api/v1/namespaces/load/configmaps', body)
        if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`)
        created.push({ name: `c${i}`, rv: Number(JSON.parse(r.body).metadata.resourceVersion) })
        if (stop) afterSnapshot++
      }
    })()
    while (created.length < 5) await new Promise((r) => setTimeout(r, 50))
    const file = join(server.stateDir, 'load.snapshot')
    await snapshotOk('save', file, '--kubeconfig', server.kubeconfig)
    stop = true
    await writer
    const { header, records } = readFile(file)
    expect(records.every((r) => r.mod_revision <= header.revision)).toBe(true)
    const inFile = new Map(
      records
        .filter((r) => r.key.startsWith('/registry/configmaps/load/'))
        .map((r) => [r.key.slice('/registry/configmaps/load/'.length), r.mod_revision]),
    )
    const expected = created.filter((c) => c.rv <= header.revision)
    expect(expected.length).toBeGreaterThanOrEqual(5)
    expect(created.length).toBeGreaterThan(expected.length) // writes went on past it
    expect(
      new Map(expected.filter((c) => c.name !== 'kube-root-ca.crt').map((c) => [c.name, c.rv])),
    ).toEqual(new Map([...inFile].filter(([name]) => name !== 'kube-root-ca.crt')))
  }, 300_000)

  it('restored in place at the edge, ends open watches and puts the cluster back as the snapshot had it', async () => {
    const file = join(server.stateDir, 'in-place.snapshot')
    if (server.runtime === 'node') {
      // etcd cannot take revisions from a client under a running server: the restore goes to a fresh
      // etcd before the server starts, and the path answers as kube-apiserver does a verb it lacks.
      await snapshotOk('save', file, '--kubeconfig', server.kubeconfig)
      const r = await server.request('POST', '/storage/snapshot', readFileSync(file))
      expect(r.status).toBe(405)
      return
    }
    await server.k('create', 'namespace', 'inplace')
    await server.k('create', 'configmap', 'kept', '-n', 'inplace')
    const before = await everything(server)
    await snapshotOk('save', file, '--kubeconfig', server.kubeconfig)
    await server.k('create', 'configmap', 'dropped', '-n', 'inplace')
    // Ordinary writes past the snapshot: resourceVersions clients have seen, which the restore must
    // never hand out again.
    for (let i = 0; i < 3; i++)
      await server.k('label', 'configmap', 'dropped', '-n', 'inplace', `step=${i}`, '--overwrite')
    // The list's resourceVersion (kubectl get -o json prints a List without one).
    const listRv = async () =>
      Number(
        JSON.parse((await server.request('GET', '/api/v1/namespaces/inplace/configmaps')).body)
          .metadata.resourceVersion,
      )
    const rv = await listRv()
    expect(rv).toBeGreaterThan(0)
    const started = Date.now()
    const watch = server.request(
      'GET',
      `/api/v1/namespaces/inplace/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=60`,
    )
    const getW = backgroundKubectl(server.kubeconfig, [
      ...['get', 'configmaps', '-n', 'inplace', '-w', '--output-watch-events', '--watch-only'],
      '-v=6',
    ])
    await getW.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
    // An informer (list, then watch, relist on 410) across the restore, as client-go's reflector.
    const kc = new KubeConfig()
    kc.loadFromFile(server.kubeconfig)
    const api = kc.makeApiClient(CoreV1Api)
    const seen: string[] = []
    const informer = makeInformer<V1ConfigMap>(kc, '/api/v1/namespaces/inplace/configmaps', () =>
      api.listNamespacedConfigMap({ namespace: 'inplace' }),
    )
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`))
    informer.on('error', () => setTimeout(() => informer.start().catch(() => {}), 500))
    await informer.start()
    await new Promise((r) => setTimeout(r, 1000))
    await snapshotOk('restore', file, '--kubeconfig', server.kubeconfig, '--verify=false')
    const ended = await watch
    expect(ended.status).toBe(200)
    expect(Date.now() - started).toBeLessThan(30_000) // closed by the restore, not by its timeout
    // kubectl get -w ends with its watch, as against kube-apiserver when etcd is restored under it.
    expect(await Promise.race([getW.exited, new Promise((r) => setTimeout(r, 30_000))])).toBe(0)

    // A client that goes on watching from what it saw is told to relist, in kube's words, ...
    const again = await server.request(
      'GET',
      `/api/v1/namespaces/inplace/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=5`,
    )
    expect(JSON.parse(again.body.trim().split('\n')[0]!)).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired' },
    })
    expect(JSON.parse(again.body.trim().split('\n')[0]!).object.message).toMatch(
      /^too old resource version: \d+ \(\d+\)$/,
    )
    // ... and the informer did: the object the restore took away is gone from its cache.
    for (let i = 0; i < 300 && !seen.includes('delete dropped'); i++)
      await new Promise((r) => setTimeout(r, 100))
    await informer.stop()
    expect(seen).toContain('delete dropped')
    expect(informer.list('inplace').map((o) => o.metadata?.name)).not.toContain('dropped')
    // The revision went on past every resourceVersion handed out before, and so do later writes.
    const rvAfter = await listRv()
    expect(rvAfter).toBeGreaterThan(rv)
    await server.k('create', 'configmap', 'later', '-n', 'inplace')
    const later = JSON.parse(
      await server.k('get', 'configmap', 'later', '-n', 'inplace', '-o', 'json'),
    )
    expect(Number(later.metadata.resourceVersion)).toBeGreaterThan(rvAfter)
    await server.k('delete', 'configmap', 'later', '-n', 'inplace')
    expect(
      (await server.kubectl(['get', 'configmap', 'dropped', '-n', 'inplace'])).stderr,
    ).toContain('Error from server (NotFound): configmaps "dropped" not found')
    expect(await everything(server)).toEqual(before)

    // The same snapshot again, now older than the cluster's revision and than the restore before it:
    // taken the same way, and the revision goes on again.
    const restored = await snapshotOk('restore', file, '--kubeconfig', server.kubeconfig)
    const at = Number(/restore: \d+ objects at revision (\d+)/.exec(restored)?.[1])
    expect(at).toBeGreaterThan(Number(later.metadata.resourceVersion))
    expect(restored).toMatch(/verify: \d+ objects in \d+ resources match/)
    expect(await everything(server)).toEqual(before)
  }, 300_000)

  it('is for admins only: others are refused the path as kube-apiserver refuses a non-resource URL', async () => {
    const r = await server.kubectl(['get', '--raw', '/storage/snapshot', '--as=jane'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'Error from server (Forbidden): forbidden: User "jane" cannot get path "/storage/snapshot"',
    )
  })

  it('point-in-time restore: a dry run at the edge, and what the runtime can do', async () => {
    const time = new Date().toISOString()
    const dry = await server.request(
      'POST',
      `/storage/point-in-time-restore?time=${encodeURIComponent(time)}&dryRun=All`,
    )
    const restore = await server.request(
      'POST',
      `/storage/point-in-time-restore?time=${encodeURIComponent(time)}`,
    )
    if (server.runtime === 'node') {
      // etcd keeps no history to go back to: kube-apiserver's answer to a verb a path does not serve.
      expect(dry.status).toBe(405)
      expect(restore.status).toBe(405)
      return
    }
    expect(dry.status).toBe(200)
    const answer = JSON.parse(dry.body)
    expect(answer.dryRun).toBe(true)
    expect(answer.revision).toBeGreaterThan(1)
    expect(answer.revision).toBeLessThanOrEqual(answer.currentRevision)
    // wrangler dev's workerd keeps no history of an object's storage.
    expect(answer.bookmarkError).toBe(
      "This Durable Object's storage back-end does not implement point-in-time recovery.",
    )
    expect(restore.status).toBe(400)
    expect(JSON.parse(restore.body).message).toContain(
      `point-in-time restore to ${time} is not possible: This Durable Object's storage back-end does not implement point-in-time recovery.`,
    )
  })
})

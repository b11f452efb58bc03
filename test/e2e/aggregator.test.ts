// The aggregation layer through the real kubectl against `npm start`: APIServices of our own group versions
// (autoregister), and two extension API servers served by this test on loopback HTTPS. They are stand-ins,
// not the real programs: one answers metrics.k8s.io/v1beta1 as metrics-server documents it (NodeMetrics,
// PodMetrics), so that `kubectl top` works; the other serves a custom group (wardle.example.com, as
// kube's sample-apiserver) with get, list, watch and create.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  registration,
  startExtensionServer,
  type ExtensionServer,
} from '../helpers/extension-server'
import { backgroundKubectl, LocalServer } from './harness'

type Obj = Record<string, any>

const METRICS_SVC = { namespace: 'kube-system', name: 'metrics-server' }
const WARDLE_SVC = { namespace: 'wardle', name: 'api' }
const METRICS_GV = 'metrics.k8s.io/v1beta1'
const WARDLE_GV = 'wardle.example.com/v1alpha1'
const NOW = new Date().toISOString().replace(/\.\d+Z$/, 'Z')

let server: LocalServer
let metrics: ExtensionServer
let wardle: ExtensionServer

// metrics-server's API (k8s.io/metrics/pkg/apis/metrics/v1beta1): NodeMetrics and PodMetrics, read-only.
function metricsHandler(req: IncomingMessage): Obj | undefined {
  const path = (req.url ?? '').split('?')[0]!
  const base = `/apis/${METRICS_GV}`
  const node = (name: string) => ({
    kind: 'NodeMetrics',
    apiVersion: METRICS_GV,
    metadata: { name, creationTimestamp: NOW },
    timestamp: NOW,
    window: '10.5s',
    usage: { cpu: '250m', memory: '1Gi' },
  })
  const pod = (name: string, namespace: string) => ({
    kind: 'PodMetrics',
    apiVersion: METRICS_GV,
    metadata: { name, namespace, creationTimestamp: NOW },
    timestamp: NOW,
    window: '10.5s',
    containers: [{ name: 'app', usage: { cpu: '7m', memory: '42Mi' } }],
  })
  if (path === base)
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: METRICS_GV,
      resources: [
        {
          name: 'nodes',
          singularName: '',
          namespaced: false,
          kind: 'NodeMetrics',
          verbs: ['get', 'list'],
        },
        {
          name: 'pods',
          singularName: '',
          namespaced: true,
          kind: 'PodMetrics',
          verbs: ['get', 'list'],
        },
      ],
    }
  if (path === `${base}/nodes`)
    return { kind: 'NodeMetricsList', apiVersion: METRICS_GV, metadata: {}, items: [node('n1')] }
  if (path === `${base}/nodes/n1`) return node('n1')
  let m = /^\/apis\/metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/pods$/.exec(path)
  if (m)
    return {
      kind: 'PodMetricsList',
      apiVersion: METRICS_GV,
      metadata: {},
      items: m[1] === 'top' ? [pod('web', 'top')] : [],
    }
  m = /^\/apis\/metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path)
  if (m && m[1] === 'top' && m[2] === 'web') return pod('web', 'top')
  if (path === '/openapi/v2')
    return {
      swagger: '2.0',
      info: { title: 'metrics-server', version: 'v0.7.2' },
      paths: { [`${base}/nodes`]: { get: { operationId: 'listMetricsV1beta1NodeMetrics' } } },
      definitions: {
        'io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics': {
          type: 'object',
          'x-kubernetes-group-version-kind': [
            { group: 'metrics.k8s.io', version: 'v1beta1', kind: 'NodeMetrics' },
          ],
        },
      },
    }
  return undefined
}

// A sample-apiserver-like group: Flunders, kept in memory, with a watch that streams each create.
const flunders = new Map<string, Obj>()
let flunderRV = 1
const watchers = new Set<{ ns?: string; res: ServerResponse }>()

function wardleHandler(
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
): Obj | undefined | 'streaming' {
  const url = new URL(req.url ?? '', 'https://x')
  const path = url.pathname
  const base = `/apis/${WARDLE_GV}`
  if (path === base)
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: WARDLE_GV,
      resources: [
        {
          name: 'flunders',
          singularName: 'flunder',
          namespaced: true,
          kind: 'Flunder',
          verbs: ['create', 'get', 'list', 'watch'],
        },
      ],
    }
  if (path === '/openapi/v3')
    return {
      paths: {
        [`apis/${WARDLE_GV}`]: { serverRelativeURL: `/openapi/v3/apis/${WARDLE_GV}?hash=F1` },
      },
    }
  if (path === `/openapi/v3/apis/${WARDLE_GV}`) {
    const gvk = [{ group: 'wardle.example.com', version: 'v1alpha1', kind: 'Flunder' }]
    const fieldValidation = { name: 'fieldValidation', in: 'query', schema: { type: 'string' } }
    return {
      openapi: '3.0.0',
      info: { title: 'wardle', version: 'v1alpha1' },
      paths: {
        [`${base}/namespaces/{namespace}/flunders`]: {
          post: { 'x-kubernetes-group-version-kind': gvk, parameters: [fieldValidation] },
        },
        [`${base}/namespaces/{namespace}/flunders/{name}`]: {
          patch: { 'x-kubernetes-group-version-kind': gvk, parameters: [fieldValidation] },
        },
      },
      components: {
        schemas: {
          'io.k8s.sample-apiserver.pkg.apis.wardle.v1alpha1.Flunder': {
            type: 'object',
            'x-kubernetes-group-version-kind': gvk,
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: { type: 'object', properties: { reference: { type: 'string' } } },
            },
          },
        },
      },
    }
  }
  const m =
    /^\/apis\/wardle\.example\.com\/v1alpha1\/(?:namespaces\/([^/]+)\/)?flunders(?:\/([^/]+))?$/.exec(
      path,
    )
  if (!m) return undefined
  const [, ns, name] = m
  if (req.method === 'POST' && ns && !name) {
    const obj = JSON.parse(body) as Obj
    obj.metadata = {
      ...obj.metadata,
      namespace: ns,
      uid: `uid-${flunderRV}`,
      resourceVersion: String(++flunderRV),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    }
    flunders.set(`${ns}/${obj.metadata.name}`, obj)
    for (const w of watchers)
      if (!w.ns || w.ns === ns) w.res.write(JSON.stringify({ type: 'ADDED', object: obj }) + '\n')
    res.writeHead(201, { 'content-type': 'application/json' })
    res.end(JSON.stringify(obj))
    return 'streaming'
  }
  if (req.method !== 'GET') return undefined
  if (name) return flunders.get(`${ns}/${name}`)
  const items = [...flunders.values()].filter((f) => !ns || f.metadata.namespace === ns)
  if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    const w = { ns, res }
    watchers.add(w)
    res.on('close', () => watchers.delete(w))
    if (!url.searchParams.get('resourceVersion'))
      for (const f of items) res.write(JSON.stringify({ type: 'ADDED', object: f }) + '\n')
    return 'streaming'
  }
  return {
    kind: 'FlunderList',
    apiVersion: WARDLE_GV,
    metadata: { resourceVersion: String(flunderRV) },
    items,
  }
}

beforeAll(async () => {
  metrics = await startExtensionServer('metrics-server', METRICS_SVC, metricsHandler)
  wardle = await startExtensionServer('wardle', WARDLE_SVC, wardleHandler)
  server = await LocalServer.start()
  await mustApply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'wardle' } })
  await mustApply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'top' } })
  for (const o of registration(metrics, METRICS_SVC, 'metrics.k8s.io', 'v1beta1'))
    await mustApply(o)
  for (const o of registration(wardle, WARDLE_SVC, 'wardle.example.com', 'v1alpha1'))
    await mustApply(o)
  await waitForAvailable('v1beta1.metrics.k8s.io')
  await waitForAvailable('v1alpha1.wardle.example.com')
}, 180_000)

afterAll(async () => {
  for (const w of watchers) w.res.end()
  await server?.dispose()
  await metrics?.close()
  await wardle?.close()
})

async function mustApply(obj: unknown): Promise<void> {
  const r = await server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) })
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`)
}

async function apiservice(name: string): Promise<Obj | undefined> {
  const r = await server.kubectl(['get', 'apiservice', name, '-o', 'json'])
  return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
}

const available = (a: Obj | undefined) =>
  (a?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === 'Available')

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await get()
  for (let i = 0; i < 150 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 200))
    v = await get()
  }
  if (!ok(v)) throw new Error(`${what}: never happened; last: ${JSON.stringify(v)}`)
  return v
}

const waitForAvailable = (name: string) =>
  waitFor(
    `${name} Available`,
    () => apiservice(name),
    (a) => available(a)?.status === 'True',
  )

describe('APIServices of the server itself', () => {
  it('registers every built-in group version as kube does, Local and Available', async () => {
    const apps = await waitForAvailable('v1.apps')
    expect(apps!.metadata.labels).toEqual({
      'kube-aggregator.kubernetes.io/automanaged': 'onstart',
    })
    // service is a nil pointer without omitempty, which kube writes as null.
    expect(apps!.spec).toEqual({
      service: null,
      group: 'apps',
      version: 'v1',
      groupPriorityMinimum: 17800,
      versionPriority: 15,
    })
    expect(available(apps)).toMatchObject({
      status: 'True',
      reason: 'Local',
      message: 'Local APIServices are always available',
    })
    const core = await waitForAvailable('v1.')
    // The legacy group's APIService has no group (omitempty), as kube-apiserver's v1. has none.
    expect(core!.spec).toEqual({
      service: null,
      version: 'v1',
      groupPriorityMinimum: 18000,
      versionPriority: 1,
    })
  })

  it('prints NAME, SERVICE, AVAILABLE and AGE with kubectl get apiservices', async () => {
    const out = await server.k('get', 'apiservices')
    const lines = out.trim().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+SERVICE\s+AVAILABLE\s+AGE$/)
    expect(out).toMatch(/\nv1\.apps\s+Local\s+True\s+\d+s\n/)
    expect(out).toMatch(/\nv1beta1\.metrics\.k8s\.io\s+kube-system\/metrics-server\s+True\s+\d+s\n/)
  })

  it("creates a CRD's APIService, synced always, and removes it with the CRD", async () => {
    await mustApply({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gizmos.toys.example.com' },
      spec: {
        group: 'toys.example.com',
        scope: 'Namespaced',
        names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object' } },
          },
          {
            name: 'v2',
            served: false,
            storage: false,
            schema: { openAPIV3Schema: { type: 'object' } },
          },
        ],
      },
    })
    const a = await waitForAvailable('v1.toys.example.com')
    expect(a!.metadata.labels).toEqual({ 'kube-aggregator.kubernetes.io/automanaged': 'true' })
    expect(a!.spec).toEqual({
      service: null,
      group: 'toys.example.com',
      version: 'v1',
      groupPriorityMinimum: 1000,
      versionPriority: 100,
    })
    expect(await apiservice('v2.toys.example.com')).toBeUndefined()
    await server.k('delete', 'crd', 'gizmos.toys.example.com')
    await waitFor(
      'APIService removed',
      () => apiservice('v1.toys.example.com'),
      (x) => !x,
    )
  })

  it("validates an APIService with kube's messages", async () => {
    const r = await server.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1.wrong.example.com' },
        spec: {
          group: 'bad.example.com',
          version: 'v1',
          groupPriorityMinimum: 0,
          versionPriority: 5000,
        },
      }),
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'The APIService "v1.wrong.example.com" is invalid: \n* metadata.name: Invalid value: "v1.wrong.example.com": must be `spec.version+"."+spec.group`: "v1.bad.example.com"\n* spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000\n* spec.versionPriority: Invalid value: 5000: must be positive and less than 1000',
    )
  })
})

describe('metrics.k8s.io through a stand-in metrics-server', () => {
  beforeAll(async () => {
    await mustApply({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      status: { capacity: { cpu: '2', memory: '4Gi' }, allocatable: { cpu: '2', memory: '4Gi' } },
    })
  })

  it('kubectl top nodes', async () => {
    const r = await server.kubectl(['top', 'nodes'])
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^NAME\s+CPU\(cores\)\s+CPU\(%\)\s+MEMORY\(bytes\)\s+MEMORY\(%\)\s*\n/)
    expect(r.stdout).toMatch(/\nn1\s+250m\s+12%\s+1024Mi\s+25%\s*\n/)
  })

  it('kubectl top pods', async () => {
    const r = await server.kubectl(['top', 'pods', '-n', 'top'])
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\nweb\s+7m\s+42Mi\s*\n$/)
  })

  it('kubectl get --raw reaches the extension server, with the user in front-proxy headers', async () => {
    const before = metrics.seen.length
    const doc = JSON.parse(
      await server.k('get', '--raw', `/apis/${METRICS_GV}/namespaces/top/pods/web`),
    )
    expect(doc).toMatchObject({ kind: 'PodMetrics', metadata: { name: 'web', namespace: 'top' } })
    const seen = metrics.seen
      .slice(before)
      .find((s) => s.path.startsWith(`/apis/${METRICS_GV}/namespaces/top`))!
    expect(seen.user).toBe(server.runtime === 'node' ? 'kubernetes-admin' : 'admin')
    expect(seen.groups).toContain('system:masters')
    expect(seen.groups).toContain('system:authenticated')
    // The aggregator consumed the credential; it does not travel on.
    expect(seen.authorization).toBeUndefined()
    // Node mode presents --proxy-client-cert-file; the Worker's fetch can present no client certificate.
    if (server.runtime === 'node') expect(seen.clientCN).toBe('front-proxy-client')
    else expect(seen.clientCN).toBeUndefined()
  })

  it('authorizes here before proxying, and passes an impersonated user with groups and extra', async () => {
    await server.k(
      'create',
      'clusterrolebinding',
      'alice-admin',
      '--clusterrole=cluster-admin',
      '--user=alice',
    )
    const path = `/apis/${METRICS_GV}/namespaces/top/pods/web`
    const before = metrics.seen.length
    const denied = await server.request('GET', path, undefined, { 'Impersonate-User': 'bob' })
    expect(denied.status).toBe(403)
    expect(JSON.parse(denied.body).message).toBe(
      'pods.metrics.k8s.io "web" is forbidden: User "bob" cannot get resource "pods" in API group "metrics.k8s.io" in the namespace "top"',
    )
    expect(metrics.seen.slice(before).some((s) => s.path.startsWith(path))).toBe(false)
    const res = await waitFor(
      'alice allowed',
      () =>
        server.request('GET', path, undefined, {
          'Impersonate-User': 'alice',
          'Impersonate-Group': 'devs',
          'Impersonate-Extra-Scopes': 'view',
        }),
      (r) => r.status === 200,
    )
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'PodMetrics' })
    const seen = metrics.seen.filter((s) => s.path.startsWith(path)).at(-1)!
    expect(seen.user).toBe('alice')
    expect(seen.groups).toEqual(['devs', 'system:authenticated'])
    expect(seen.extra).toEqual({ scopes: ['view'] })
    expect(seen.headerNames.filter((h) => h.startsWith('impersonate-'))).toEqual([])
  })

  it("lists the extension server's group in legacy and aggregated discovery", async () => {
    const apis = JSON.parse(await server.k('get', '--raw', '/apis')) as Obj
    const group = (apis.groups as Obj[]).find((g) => g.name === 'metrics.k8s.io')
    expect(group).toEqual({
      name: 'metrics.k8s.io',
      versions: [{ groupVersion: METRICS_GV, version: 'v1beta1' }],
      preferredVersion: { groupVersion: METRICS_GV, version: 'v1beta1' },
    })
    // apiregistration's group first, as kube-aggregator lists it.
    expect(apis.groups[0].name).toBe('apiregistration.k8s.io')
    const res = await server.request('GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    })
    const agg = JSON.parse(res.body.toString()) as Obj
    const metricsGroup = (agg.items as Obj[]).find((i) => i.metadata.name === 'metrics.k8s.io')!
    expect(metricsGroup.versions[0].resources).toEqual([
      {
        resource: 'nodes',
        responseKind: { group: 'metrics.k8s.io', version: 'v1beta1', kind: 'NodeMetrics' },
        scope: 'Cluster',
        singularResource: '',
        verbs: ['get', 'list'],
      },
      {
        resource: 'pods',
        responseKind: { group: 'metrics.k8s.io', version: 'v1beta1', kind: 'PodMetrics' },
        scope: 'Namespaced',
        singularResource: '',
        verbs: ['get', 'list'],
      },
    ])
    const resources = await server.k('api-resources', '--api-group=metrics.k8s.io')
    expect(resources).toMatch(/\nnodes\s+metrics\.k8s\.io\/v1beta1\s+false\s+NodeMetrics\n/)
    expect(resources).toMatch(/\npods\s+metrics\.k8s\.io\/v1beta1\s+true\s+PodMetrics\n/)
  })

  it("merges the extension server's OpenAPI into /openapi/v2", async () => {
    const v2 = JSON.parse(await server.k('get', '--raw', '/openapi/v2')) as Obj
    expect(v2.definitions['io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics']).toBeDefined()
    expect(v2.definitions['io.k8s.api.core.v1.Pod']).toBeDefined()
    expect(v2.paths[`/apis/${METRICS_GV}/nodes`]).toBeDefined()
    // client-go's protobuf form of the merged document too.
    const pb = await server.request('GET', '/openapi/v2', undefined, {
      Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
    })
    expect(pb.status).toBe(200)
    expect(
      pb.raw.includes(Buffer.from('io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics')),
    ).toBe(true)
  })
})

describe('a custom group through a stand-in extension server', () => {
  const flunder = (name: string) => ({
    apiVersion: WARDLE_GV,
    kind: 'Flunder',
    metadata: { name, namespace: 'wardle' },
    spec: { reference: 'x' },
  })

  it('creates, gets and lists Flunders with kubectl', async () => {
    const c = await server.kubectl(['create', '-f', '-'], { input: JSON.stringify(flunder('f1')) })
    expect(c.stderr).toBe('')
    expect(c.stdout).toBe('flunder.wardle.example.com/f1 created\n')
    const got = JSON.parse(await server.k('get', 'flunder', 'f1', '-n', 'wardle', '-o', 'json'))
    expect(got).toMatchObject({ kind: 'Flunder', metadata: { name: 'f1', namespace: 'wardle' } })
    expect(await server.k('get', 'flunders', '-n', 'wardle', '-o', 'name')).toBe(
      'flunder.wardle.example.com/f1\n',
    )
    expect(await server.k('get', 'flunders', '-n', 'wardle')).toMatch(/^NAME\s+AGE\nf1\s+\d+s\n$/)
  })

  it('watches Flunders through the proxy as they are created', async () => {
    const w = backgroundKubectl(server.kubeconfig, [
      'get',
      'flunders',
      '-n',
      'wardle',
      '--watch',
      '-o',
      'name',
    ])
    try {
      await w.waitFor(/flunder\.wardle\.example\.com\/f1/)
      const c = await server.kubectl(['create', '-f', '-'], {
        input: JSON.stringify(flunder('f2')),
      })
      expect(c.code).toBe(0)
      await w.waitFor(/flunder\.wardle\.example\.com\/f2/)
    } finally {
      w.kill()
    }
  })

  it("serves the extension server's OpenAPI v3 document under our root", async () => {
    const root = JSON.parse(await server.k('get', '--raw', '/openapi/v3')) as Obj
    expect(root.paths[`apis/${WARDLE_GV}`]).toEqual({
      serverRelativeURL: `/openapi/v3/apis/${WARDLE_GV}?hash=F1`,
    })
    expect(root.paths['apis/apps/v1']).toBeDefined()
    const doc = JSON.parse(await server.k('get', '--raw', `/openapi/v3/apis/${WARDLE_GV}`)) as Obj
    expect(doc.info).toEqual({ title: 'wardle', version: 'v1alpha1' })
  })
})

describe('unavailable and removed APIServices', () => {
  it('marks an APIService without endpoints unavailable and answers 503 service unavailable', async () => {
    await mustApply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nowhere', namespace: 'wardle' },
      spec: { ports: [{ name: 'https', port: 443 }] },
    })
    await mustApply({
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1.nowhere.example.com' },
      spec: {
        group: 'nowhere.example.com',
        version: 'v1',
        service: { namespace: 'wardle', name: 'nowhere' },
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 100,
        versionPriority: 10,
      },
    })
    const a = await waitFor(
      'unavailable',
      () => apiservice('v1.nowhere.example.com'),
      (x) => available(x)?.status === 'False',
    )
    expect(available(a)).toMatchObject({
      reason: 'EndpointsNotFound',
      message: 'cannot find endpoints for service/nowhere in "wardle"',
    })
    expect(await server.k('get', 'apiservice', 'v1.nowhere.example.com')).toMatch(
      /\nv1\.nowhere\.example\.com\s+wardle\/nowhere\s+False \(EndpointsNotFound\)\s+\d+s\n/,
    )
    const res = await server.request('GET', '/apis/nowhere.example.com/v1')
    expect(res.status).toBe(503)
    expect(res.body.toString()).toBe('service unavailable\n')
    const r = await server.kubectl(['get', '--raw', '/apis/nowhere.example.com/v1'])
    expect(r.stderr).toContain(
      'Error from server (ServiceUnavailable): the server is currently unable to handle the request',
    )
    await server.k('delete', 'apiservice', 'v1.nowhere.example.com')
  })

  it('marks an APIService whose server does not serve its group version FailedDiscoveryCheck', async () => {
    await mustApply({
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1.other.example.com' },
      spec: {
        group: 'other.example.com',
        version: 'v1',
        service: { ...WARDLE_SVC, port: 443 },
        caBundle: wardle.caBundle,
        groupPriorityMinimum: 100,
        versionPriority: 10,
      },
    })
    const a = await waitFor(
      'unavailable',
      () => apiservice('v1.other.example.com'),
      (x) => available(x)?.status === 'False',
    )
    const url = `https://127.0.0.1:${wardle.port}/apis/other.example.com/v1`
    expect(available(a)).toMatchObject({
      reason: 'FailedDiscoveryCheck',
      message: `failing or missing response from ${url}: bad status from ${url}: 404`,
    })
    await server.k('delete', 'apiservice', 'v1.other.example.com')
  })

  it("verifies the extension server against the APIService's caBundle", async () => {
    const name = 'v1beta1.metrics.k8s.io'
    const patch = (caBundle: string) =>
      server.k(
        'patch',
        'apiservice',
        name,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { caBundle } }),
      )
    await patch(wardle.caBundle)
    try {
      const res = await waitFor(
        'the new caBundle in use',
        () => server.request('GET', `/apis/${METRICS_GV}/nodes`),
        (r) => server.runtime !== 'node' || r.status === 503,
      )
      if (server.runtime === 'node') {
        expect(res.body).toBe(
          'tls: failed to verify certificate: x509: certificate signed by unknown authority\n',
        )
      } else {
        // The Worker's fetch takes no CA per call: the runtime's roots (here NODE_EXTRA_CA_CERTS) decide.
        expect(res.status).toBe(200)
      }
    } finally {
      await patch(metrics.caBundle)
    }
  })

  it('removes the group from discovery when its APIService is deleted', async () => {
    await server.k('delete', 'apiservice', 'v1alpha1.wardle.example.com')
    const apis = JSON.parse(await server.k('get', '--raw', '/apis')) as Obj
    expect((apis.groups as Obj[]).some((g) => g.name === 'wardle.example.com')).toBe(false)
    const res = await server.request('GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    })
    const agg = JSON.parse(res.body.toString()) as Obj
    expect((agg.items as Obj[]).some((i) => i.metadata.name === 'wardle.example.com')).toBe(false)
    // kubectl's discovery cache still knows flunders; api-resources reads discovery afresh.
    expect(await server.k('api-resources', '--api-group=wardle.example.com')).toMatch(
      /^NAME\s+SHORTNAMES\s+APIVERSION\s+NAMESPACED\s+KIND\n$/,
    )
    const r = await server.kubectl(['get', 'flunders', '-n', 'wardle'])
    expect(r.stderr).toContain('the server doesn\'t have a resource type "flunders"')
  })
})

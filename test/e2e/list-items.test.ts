// A list of a built-in kind carries apiVersion and kind on the list only, as kube-apiserver's does (its
// items are converted typed objects whose TypeMeta is cleared; kubernetes/kubernetes#3030): the raw
// answer of every kind of LIST, through the real kubectl (which fills them in again for -o json, as it
// does against kube) and raw requests. Custom resources' items, watch events, Table rows with
// includeObject=Object and PartialObjectMetadataList items keep theirs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'

type Obj = Record<string, any>

let server: LocalServer
const NS = 'list-items'
const CMS = `/api/v1/namespaces/${NS}/configmaps`

const widgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.items.example.com}
spec:
  group: items.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

async function raw(path: string): Promise<Obj> {
  return JSON.parse(await server.k('get', '--raw', path))
}

function expectNoTypeMeta(items: Obj[]): void {
  expect(items.length).toBeGreaterThan(0)
  for (const item of items) {
    expect(item).not.toHaveProperty('kind')
    expect(item).not.toHaveProperty('apiVersion')
    expect(item.metadata.name).toBeTruthy()
  }
}

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'ns', NS)
  for (let i = 0; i < 5; i++) {
    await server.k('create', 'configmap', `cm-${i}`, '-n', NS, `--from-literal=i=${i}`)
    await server.k('label', 'configmap', `cm-${i}`, '-n', NS, `parity=${i % 2 ? 'odd' : 'even'}`)
  }
  await server.k('apply', '-f', server.file('widget-crd.yaml', widgetCRD))
  await server.k('wait', '--for=condition=Established', 'crd/widgets.items.example.com')
  for (const name of ['w1', 'w2']) {
    const r = await server.kubectl(['apply', '-n', NS, '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'items.example.com/v1',
        kind: 'Widget',
        metadata: { name },
        spec: { size: 1 },
      }),
    })
    expect(r.code, r.stderr).toBe(0)
  }
}, 120_000)
afterAll(async () => {
  await server?.dispose()
})

describe('list items', () => {
  it('kubectl get -o json shows kind and apiVersion on each item, filled in by kubectl as against kube', async () => {
    const out = JSON.parse(await server.k('get', 'cm', '-n', NS, '-l', 'parity', '-o', 'json'))
    expect(out.kind).toBe('List')
    expect(out.items.map((o: Obj) => [o.kind, o.apiVersion, o.metadata.name])).toEqual([
      ['ConfigMap', 'v1', 'cm-0'],
      ['ConfigMap', 'v1', 'cm-1'],
      ['ConfigMap', 'v1', 'cm-2'],
      ['ConfigMap', 'v1', 'cm-3'],
      ['ConfigMap', 'v1', 'cm-4'],
    ])
    // kubectl's pages (--chunk-size) put the items together the same way.
    const paged = JSON.parse(
      await server.k('get', 'cm', '-n', NS, '-l', 'parity', '--chunk-size=2', '-o', 'json'),
    )
    expect(paged.items).toEqual(out.items)
  })

  it('a plain, filtered and paginated LIST of a built-in kind answers items without kind and apiVersion', async () => {
    const plain = await raw(CMS)
    expect([plain.kind, plain.apiVersion]).toEqual(['ConfigMapList', 'v1'])
    expectNoTypeMeta(plain.items)
    // The item is the GET's object less its TypeMeta.
    const one = await raw(`${CMS}/cm-0`)
    const { kind, apiVersion, ...asItem } = one
    expect([kind, apiVersion]).toEqual(['ConfigMap', 'v1'])
    expect(plain.items.find((o: Obj) => o.metadata.name === 'cm-0')).toEqual(asItem)

    expectNoTypeMeta((await raw(`${CMS}?labelSelector=parity%3Dodd`)).items)
    expectNoTypeMeta((await raw(`${CMS}?fieldSelector=metadata.name%3Dcm-3`)).items)
    const page = await raw(`${CMS}?limit=2`)
    expectNoTypeMeta(page.items)
    expectNoTypeMeta(
      (await raw(`${CMS}?limit=2&continue=${encodeURIComponent(page.metadata.continue)}`)).items,
    )
    expectNoTypeMeta((await raw(`${CMS}?limit=1&labelSelector=parity%3Deven`)).items)
    expectNoTypeMeta((await raw('/api/v1/namespaces')).items)
    expectNoTypeMeta((await raw('/apis/rbac.authorization.k8s.io/v1/clusterroles')).items)
    // Computed on each read (componentstatuses).
    const cs = await raw('/api/v1/componentstatuses')
    expect(cs.kind).toBe('ComponentStatusList')
    expectNoTypeMeta(cs.items)
  })

  it('custom resources keep kind and apiVersion on every item', async () => {
    const widgets = `/apis/items.example.com/v1/namespaces/${NS}/widgets`
    for (const path of [
      widgets,
      `${widgets}?limit=1`,
      `${widgets}?fieldSelector=metadata.name%3Dw2`,
    ]) {
      const list = await raw(path)
      expect(list.kind).toBe('WidgetList')
      expect(list.items.length).toBeGreaterThan(0)
      for (const item of list.items)
        expect([item.kind, item.apiVersion]).toEqual(['Widget', 'items.example.com/v1'])
    }
  })

  it('PartialObjectMetadataList items and Table rows keep the kind kube sets on them', async () => {
    const partial = await server.request('GET', CMS, undefined, {
      Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
    })
    const items = JSON.parse(partial.body).items as Obj[]
    expect(items.length).toBe(6)
    for (const item of items)
      expect([item.kind, item.apiVersion]).toEqual(['PartialObjectMetadata', 'meta.k8s.io/v1'])

    const table = await server.request('GET', `${CMS}?includeObject=Object`, undefined, {
      Accept: 'application/json;as=Table;g=meta.k8s.io;v=v1',
    })
    const rows = JSON.parse(table.body).rows as Obj[]
    expect(rows.length).toBe(6)
    for (const row of rows)
      expect([row.object.kind, row.object.apiVersion]).toEqual(['ConfigMap', 'v1'])
  })

  it('watch events of a built-in kind carry kind and apiVersion in the object', async () => {
    const res = await server.request(
      'GET',
      `${CMS}?watch=true&labelSelector=parity%3Dodd&timeoutSeconds=1`,
    )
    const events = res.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e: Obj) => [e.type, e.object.kind, e.object.apiVersion])).toEqual([
      ['ADDED', 'ConfigMap', 'v1'],
      ['ADDED', 'ConfigMap', 'v1'],
    ])
  })
})

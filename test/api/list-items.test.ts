// The items of a list of a built-in kind carry no apiVersion and kind, as kube-apiserver's do (its typed
// list items are converted objects with TypeMeta cleared; kubernetes/kubernetes#3030); custom resources'
// items keep both, and so do watch events, Table rows with includeObject=Object and
// PartialObjectMetadataList items. Every way a list is answered is checked here.
import { beforeAll, describe, expect, it } from 'vitest'
import { makeApp } from '../helpers/app'

type Obj = Record<string, any>

const CMS = '/api/v1/namespaces/default/configmaps'
let t: ReturnType<typeof makeApp>

async function get(path: string, accept?: string): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { authorization: 'Bearer admin-token' }
  if (accept) headers.accept = accept
  const res = await t.app.request(path, { headers })
  return { status: res.status, body: await res.text() }
}

async function list(path: string): Promise<Obj> {
  const res = await get(path)
  expect(res.status, res.body).toBe(200)
  return JSON.parse(res.body)
}

function expectNoTypeMeta(items: Obj[]): void {
  expect(items.length).toBeGreaterThan(0)
  for (const item of items) {
    expect(Object.keys(item)).not.toContain('kind')
    expect(Object.keys(item)).not.toContain('apiVersion')
    // metadata first, as kube's encoder writes a typed object (other code's writes keep their order).
    if (item.metadata.name !== 'raw') expect(Object.keys(item)[0]).toBe('metadata')
  }
}

beforeAll(async () => {
  t = makeApp()
  for (let i = 0; i < 4; i++) {
    const res = await t.call('POST', CMS, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, labels: { app: i % 2 ? 'odd' : 'even' } },
      data: { i: String(i) },
    })
    expect(res.status).toBe(201)
  }
  // Written by other code (keys in another order, a resourceVersion of its own): the long way round.
  await t.store.create(
    '/registry/configmaps/default/raw',
    JSON.stringify({
      data: { a: 'b' },
      metadata: { name: 'raw', namespace: 'default', resourceVersion: '1' },
      kind: 'ConfigMap',
      apiVersion: 'v1',
    }),
  )
})

describe('items of a list of a built-in kind', () => {
  it('carry no apiVersion and kind in a plain list, stored text or not, and match GET otherwise', async () => {
    const body = await list(CMS)
    expect([body.kind, body.apiVersion]).toEqual(['ConfigMapList', 'v1'])
    expectNoTypeMeta(body.items)
    expect(body.items.map((o: Obj) => o.metadata.name)).toContain('raw')
    for (const item of body.items) {
      const one = JSON.parse((await get(`${CMS}/${item.metadata.name}`)).body)
      expect([one.kind, one.apiVersion]).toEqual(['ConfigMap', 'v1'])
      const { kind: _k, apiVersion: _a, ...rest } = one
      expect(item).toEqual(rest)
    }
  })

  it('carry none in filtered, paginated and YAML lists', async () => {
    const byLabel = await list(`${CMS}?labelSelector=app%3Dodd`)
    expect(byLabel.items.map((o: Obj) => o.metadata.name)).toEqual(['cm-1', 'cm-3'])
    expectNoTypeMeta(byLabel.items)
    expectNoTypeMeta((await list(`${CMS}?fieldSelector=metadata.name%3Dcm-2`)).items)

    const page = await list(`${CMS}?limit=2`)
    expectNoTypeMeta(page.items)
    const next = await list(`${CMS}?limit=2&continue=${encodeURIComponent(page.metadata.continue)}`)
    expectNoTypeMeta(next.items)
    const filteredPage = await list(`${CMS}?limit=1&labelSelector=app%3Deven`)
    expect(filteredPage.metadata.continue).toBeTruthy()
    expectNoTypeMeta(filteredPage.items)

    const yaml = await get(`${CMS}?labelSelector=app%3Dodd`, 'application/yaml')
    expect(yaml.status).toBe(200)
    expect(yaml.body).toMatch(/^kind: ConfigMapList\napiVersion: v1\n/m)
    expect(yaml.body).toMatch(/^items:\n {2}- metadata:\n/m)
    expect(yaml.body.match(/^ {0,4}(kind|apiVersion):/gm)).toEqual(['kind:', 'apiVersion:'])
  })

  it('carry none in lists of cluster-scoped kinds, of kinds served by conversion, and of computed kinds', async () => {
    expectNoTypeMeta((await list('/api/v1/namespaces')).items)
    expectNoTypeMeta((await list('/apis/rbac.authorization.k8s.io/v1/clusterroles?limit=3')).items)
    // events.k8s.io/v1 is a converted view of core/v1 Events.
    const ev = await t.call('POST', '/apis/events.k8s.io/v1/namespaces/default/events', {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'e1' },
      eventTime: '2026-01-01T00:00:00.000000Z',
      reportingController: 'example.com/ctl',
      reportingInstance: 'i1',
      action: 'Act',
      reason: 'Why',
      type: 'Normal',
      regarding: { kind: 'ConfigMap', namespace: 'default', name: 'cm-0' },
    })
    expect(ev.status, ev.text).toBe(201)
    expectNoTypeMeta((await list('/apis/events.k8s.io/v1/namespaces/default/events')).items)
    expectNoTypeMeta((await list('/api/v1/namespaces/default/events')).items)
    // componentstatuses are computed on each read (virtual-read.ts).
    const cs = await list('/api/v1/componentstatuses')
    expect(cs.kind).toBe('ComponentStatusList')
    expectNoTypeMeta(cs.items)
    expectNoTypeMeta(
      (await list('/api/v1/componentstatuses?fieldSelector=metadata.name%3Detcd-0')).items,
    )
  })

  it('carry none in the list a DELETE of the collection answers with', async () => {
    for (const name of ['gone-1', 'gone-2'])
      await t.call('POST', CMS, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, labels: { gone: 'yes' } },
      })
    const res = await t.call('DELETE', `${CMS}?labelSelector=gone%3Dyes`)
    expect(res.status).toBe(200)
    expect(res.json.kind).toBe('ConfigMapList')
    expect(res.json.items.map((o: Obj) => o.metadata.name)).toEqual(['gone-1', 'gone-2'])
    expectNoTypeMeta(res.json.items)
  })

  it('keep PartialObjectMetadata as kind in a PartialObjectMetadataList, as kube sets it on each item', async () => {
    for (const path of [CMS, `${CMS}?labelSelector=app%3Dodd`]) {
      const res = await get(
        path,
        'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
      )
      const body = JSON.parse(res.body)
      expect(body.kind).toBe('PartialObjectMetadataList')
      expect(body.items.length).toBeGreaterThan(0)
      for (const item of body.items)
        expect([item.kind, item.apiVersion]).toEqual(['PartialObjectMetadata', 'meta.k8s.io/v1'])
    }
  })

  it("keep the object's kind in Table rows with includeObject=Object, PartialObjectMetadata with Metadata", async () => {
    const table = 'application/json;as=Table;g=meta.k8s.io;v=v1'
    const withObject = JSON.parse((await get(`${CMS}?includeObject=Object`, table)).body)
    expect(withObject.rows.length).toBeGreaterThan(0)
    for (const row of withObject.rows)
      expect([row.object.kind, row.object.apiVersion]).toEqual(['ConfigMap', 'v1'])
    const withMetadata = JSON.parse((await get(CMS, table)).body)
    for (const row of withMetadata.rows)
      expect([row.object.kind, row.object.apiVersion]).toEqual([
        'PartialObjectMetadata',
        'meta.k8s.io/v1',
      ])
  })

  it('keep their kind in watch events, the initial ADDED ones included', async () => {
    const res = await t.app.request(`${CMS}?watch=true&labelSelector=app%3Dodd`, {
      headers: { authorization: 'Bearer admin-token' },
    })
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    while (text.split('\n').length < 3) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    await reader.cancel()
    const events = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e) => [e.type, e.object.kind, e.object.apiVersion])).toEqual([
      ['ADDED', 'ConfigMap', 'v1'],
      ['ADDED', 'ConfigMap', 'v1'],
    ])
  })
})

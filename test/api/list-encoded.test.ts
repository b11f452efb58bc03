// A plain JSON list writes stored objects out without parsing them (RegistryStore.listJSON); a list with a
// selector parses every object. Both must give the same items, whatever the stored text looks like.
import { describe, expect, it } from 'vitest'
import { customResourceTypes } from '../../src/apiextensions/custom-resource'
import type { CRD } from '../../src/apiextensions/types'
import { RegistryStore } from '../../src/registry/store'
import { makeApp } from '../helpers/app'
import { MemoryStore } from '../helpers/memory-store'

describe('LIST as stored JSON text', () => {
  it('answers the same items as a list that parses each object', async () => {
    const { call, store } = makeApp()
    const cm = (name: string, extra: Record<string, unknown> = {}) =>
      call('POST', '/api/v1/namespaces/default/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name },
        ...extra,
      })
    for (let i = 0; i < 12; i++)
      expect((await cm(`cm-${i}`, { data: { k: `v"${i}\\` } })).status).toBe(201)
    // Keys in another order, a value that looks like a resourceVersion, a resourceVersion sent on create.
    expect(
      (
        await call('POST', '/api/v1/namespaces/default/configmaps', {
          data: { x: '"resourceVersion":"1"' },
          kind: 'ConfigMap',
          apiVersion: 'v1',
          metadata: { name: 'odd' },
        })
      ).status,
    ).toBe(201)
    expect(
      (await cm('with-rv', { metadata: { name: 'with-rv', resourceVersion: '' } })).status,
    ).toBe(201)

    // Written by other code: keys in another order, and a stale resourceVersion that must not win.
    await store.create(
      '/registry/configmaps/default/raw',
      JSON.stringify({
        data: { a: 'b' },
        metadata: { name: 'raw', namespace: 'default', resourceVersion: '1' },
        kind: 'ConfigMap',
        apiVersion: 'v1',
      }),
    )

    const plain = await call('GET', '/api/v1/namespaces/default/configmaps')
    const parsed = await call(
      'GET',
      '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.namespace%3Ddefault',
    )
    expect(plain.status).toBe(200)
    expect(plain.json).toEqual(parsed.json)
    expect(plain.json.items).toHaveLength(15)
    for (const item of plain.json.items) {
      expect(item.metadata.resourceVersion).toMatch(/^[1-9]\d*$/)
      const one = await call('GET', `/api/v1/namespaces/default/configmaps/${item.metadata.name}`)
      // A list's items carry no apiVersion and kind (test/api/list-items.test.ts).
      const { apiVersion: _a, kind: _k, ...asItem } = one.json
      expect(item).toEqual(asItem)
    }
    expect(
      plain.json.items.find((o: { metadata: { name: string } }) => o.metadata.name === 'raw')
        .metadata.resourceVersion,
    ).not.toBe('1')
  })

  it('pages with continue and remainingItemCount as the parsing list does', async () => {
    const { call } = makeApp()
    for (let i = 0; i < 7; i++)
      await call('POST', '/api/v1/namespaces/default/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}` },
      })
    const page = await call('GET', '/api/v1/namespaces/default/configmaps?limit=3')
    expect(page.json.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual([
      'cm-0',
      'cm-1',
      'cm-2',
    ])
    expect(page.json.metadata.remainingItemCount).toBe(4)
    const next = await call(
      'GET',
      `/api/v1/namespaces/default/configmaps?limit=3&continue=${encodeURIComponent(page.json.metadata.continue)}`,
    )
    expect(next.json.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual([
      'cm-3',
      'cm-4',
      'cm-5',
    ])
    expect(next.json.metadata.resourceVersion).toBe(page.json.metadata.resourceVersion)
  })
})

describe('LIST as stored JSON text, custom resources', () => {
  // v1 is the storage version and has no defaults; v2 defaults spec.unit. Objects of v1 can go out as stored;
  // v2 reads, and objects stored in an older version, must come out converted and defaulted.
  const crd: CRD = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
            },
          },
        },
        {
          name: 'v2',
          served: true,
          storage: false,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: {
                    size: { type: 'integer' },
                    unit: { type: 'string', default: 'cm' },
                  },
                },
              },
            },
          },
        },
      ],
    },
    status: { storedVersions: ['v0', 'v1'], conditions: [{ type: 'Established', status: 'True' }] },
  } as CRD

  it('answers what the parsing list answers, in every served version', async () => {
    const store = new MemoryStore()
    const types = customResourceTypes(crd)
    const of = (v: string) =>
      new RegistryStore(
        types.find((t) => t.version === v)!,
        store,
      )
    for (const n of ['a', 'b'])
      await of('v1').create(
        'default',
        { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: n }, spec: { size: 1 } },
        { dryRun: false, warnings: [] },
      )
    // Stored while an older version was the storage version.
    await store.create(
      '/registry/example.com/gadgets/default/old',
      JSON.stringify({
        apiVersion: 'example.com/v0',
        kind: 'Gadget',
        metadata: { name: 'old', namespace: 'default' },
        spec: { size: 2 },
      }),
    )

    for (const v of ['v1', 'v2']) {
      const asText = await of(v).listJSON('default')
      const parsed = await of(v).list('default')
      expect(asText.items.map((t) => JSON.parse(new TextDecoder().decode(t)))).toEqual(parsed.items)
      expect(parsed.items.map((o) => o.apiVersion)).toEqual([
        `example.com/${v}`,
        `example.com/${v}`,
        `example.com/${v}`,
      ])
    }
    const v2 = await of('v2').list('default')
    expect(v2.items.map((o) => (o.spec as { unit?: string }).unit)).toEqual(['cm', 'cm', 'cm'])
  })
})

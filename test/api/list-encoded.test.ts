// A plain JSON list writes stored objects out without parsing them (RegistryStore.listJSON); a list with a
// selector parses every object. Both must give the same items, whatever the stored text looks like.
import { describe, expect, it } from 'vitest'
import { makeApp } from '../helpers/app'

describe('LIST as stored JSON text', () => {
  it('answers the same items as a list that parses each object', async () => {
    const { call, store } = makeApp()
    const cm = (name: string, extra: Record<string, unknown> = {}) =>
      call('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, ...extra })
    for (let i = 0; i < 12; i++) expect((await cm(`cm-${i}`, { data: { k: `v"${i}\\` } })).status).toBe(201)
    // Keys in another order, a value that looks like a resourceVersion, a resourceVersion sent on create.
    expect((await call('POST', '/api/v1/namespaces/default/configmaps', { data: { x: '"resourceVersion":"1"' }, kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'odd' } })).status).toBe(201)
    expect((await cm('with-rv', { metadata: { name: 'with-rv', resourceVersion: '' } })).status).toBe(201)

    // Written by other code: keys in another order, and a stale resourceVersion that must not win.
    await store.create('/registry/configmaps/default/raw', JSON.stringify({ data: { a: 'b' }, metadata: { name: 'raw', namespace: 'default', resourceVersion: '1' }, kind: 'ConfigMap', apiVersion: 'v1' }))

    const plain = await call('GET', '/api/v1/namespaces/default/configmaps')
    const parsed = await call('GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.namespace%3Ddefault')
    expect(plain.status).toBe(200)
    expect(plain.json).toEqual(parsed.json)
    expect(plain.json.items).toHaveLength(15)
    for (const item of plain.json.items) {
      expect(item.metadata.resourceVersion).toMatch(/^[1-9]\d*$/)
      const one = await call('GET', `/api/v1/namespaces/default/configmaps/${item.metadata.name}`)
      expect(item).toEqual(one.json)
    }
    expect(plain.json.items.find((o: { metadata: { name: string } }) => o.metadata.name === 'raw').metadata.resourceVersion).not.toBe('1')
  })

  it('pages with continue and remainingItemCount as the parsing list does', async () => {
    const { call } = makeApp()
    for (let i = 0; i < 7; i++) await call('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` } })
    const page = await call('GET', '/api/v1/namespaces/default/configmaps?limit=3')
    expect(page.json.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['cm-0', 'cm-1', 'cm-2'])
    expect(page.json.metadata.remainingItemCount).toBe(4)
    const next = await call('GET', `/api/v1/namespaces/default/configmaps?limit=3&continue=${encodeURIComponent(page.json.metadata.continue)}`)
    expect(next.json.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['cm-3', 'cm-4', 'cm-5'])
    expect(next.json.metadata.resourceVersion).toBe(page.json.metadata.resourceVersion)
  })
})

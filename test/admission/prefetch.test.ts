// Admission's reads of other objects (webhook and policy configurations, the namespace, quotas, limit ranges)
// go to the store together: on the edge each round trip is an RPC to the Durable Object.
import { describe, expect, it } from 'vitest'
import { makeApp } from '../helpers/app'

describe('admission prefetch', () => {
  it('reads what the default plugins need in one store round trip per write', async () => {
    const { call, store, ns } = makeApp()
    expect((await ns('p')).status).toBe(201)
    await call('POST', '/api/v1/namespaces/p/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'warm' },
    })
    const before = store.reads
    const created = await call('POST', '/api/v1/namespaces/p/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm' },
    })
    expect(created.status).toBe(201)
    expect(store.reads - before).toBe(1)
  })

  it('still answers as each plugin would: a write into a missing namespace is refused', async () => {
    const { call } = makeApp()
    const r = await call('POST', '/api/v1/namespaces/missing/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm' },
    })
    expect(r.status).toBe(404)
    expect(r.json.message).toBe('namespaces "missing" not found')
  })
})

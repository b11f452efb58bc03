// Admission's ObjectReader: one Store read per object or prefix in a request, and every caller gets objects
// of its own, which it may change without another plugin seeing it.
import { describe, expect, it } from 'vitest'
import { ObjectReader } from '../../src/admission/reader'
import type { Store } from '../../src/storage/store'
import { MemoryStore } from '../helpers/memory-store'

const ns = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name },
  status: { phase: 'Active' },
})
const limitRange = (name: string) => ({
  apiVersion: 'v1',
  kind: 'LimitRange',
  metadata: { name, namespace: 'team' },
})

/** A MemoryStore that counts its reads. */
async function countingStore(): Promise<{
  store: Store
  backing: MemoryStore
  reads: () => number
}> {
  const backing = new MemoryStore()
  await backing.create('/registry/namespaces/team', JSON.stringify(ns('team')))
  for (const n of ['a', 'b'])
    await backing.create(`/registry/limitranges/team/${n}`, JSON.stringify(limitRange(n)))
  let reads = 0
  const store = new Proxy(backing, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (typeof v !== 'function') return v
      if (prop === 'get' || prop === 'list' || prop === 'readBatch') reads++
      return v.bind(target)
    },
  }) as Store
  return { store, backing, reads: () => reads }
}

describe('ObjectReader', () => {
  it('reads an object once, and gives each caller its own copy with the stored revision', async () => {
    const { store, reads } = await countingStore()
    const reader = new ObjectReader(store)
    const first = await reader.get('namespaces', '', 'team')
    const second = await reader.get('namespaces', '', 'team')
    expect(reads()).toBe(1)
    expect(first).toEqual(second)
    expect(first!.metadata!.resourceVersion).toMatch(/^\d+$/)
    ;(first as { status: { phase: string } }).status.phase = 'Terminating'
    first!.metadata!.labels = { changed: 'yes' }
    const third = await reader.getWithRevision('namespaces', '', 'team')
    expect((third!.object as { status: { phase: string } }).status.phase).toBe('Active')
    expect(third!.object.metadata!.labels).toBeUndefined()
    expect(String(third!.modRevision)).toBe(third!.object.metadata!.resourceVersion)
    expect(reads()).toBe(1)
  })

  it('lists a prefix once, prefetched or not, and each caller may change what it got', async () => {
    const { store, reads } = await countingStore()
    const reader = new ObjectReader(store)
    reader.prefetch([{ list: ['limitranges', 'team'] }, { get: ['namespaces', '', 'team'] }])
    const listed = await reader.list('limitranges', 'team')
    expect(listed.map((o) => o.metadata!.name)).toEqual(['a', 'b'])
    listed[0]!.metadata!.name = 'changed'
    listed.pop()
    const again = await reader.listWithRevisions('limitranges', 'team')
    expect(again.map((s) => s.object.metadata!.name)).toEqual(['a', 'b'])
    expect(await reader.get('namespaces', '', 'team')).toMatchObject({ metadata: { name: 'team' } })
    expect(reads()).toBe(1) // the one batch read
  })

  it('reads again when asked for a fresh copy, and remembers that one', async () => {
    const { store, backing, reads } = await countingStore()
    const reader = new ObjectReader(store)
    await reader.get('namespaces', '', 'team')
    const current = await backing.get('/registry/namespaces/team')
    await backing.update(
      '/registry/namespaces/team',
      JSON.stringify({ ...ns('team'), metadata: { name: 'team', labels: { new: 'label' } } }),
      current.kv!.modRevision,
    )
    expect((await reader.get('namespaces', '', 'team'))!.metadata!.labels).toBeUndefined()
    const fresh = await reader.getWithRevision('namespaces', '', 'team', true)
    expect(fresh!.object.metadata!.labels).toEqual({ new: 'label' })
    expect((await reader.get('namespaces', '', 'team'))!.metadata!.labels).toEqual({ new: 'label' })
    expect(reads()).toBe(2)
  })
})

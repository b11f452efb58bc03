// Continue tokens: pinned to the first page's revision, and 410 Expired with an inconsistent token once
// that revision is compacted (kube-apiserver's etcd3 store behaviour).
import { describe, expect, it } from 'vitest'
import { decodeContinue, RegistryStore } from '../../src/registry/store'
import { builtinResources } from '../../src/registry/builtin'
import { StatusError } from '../../src/server/errors'
import { MemoryStore } from '../helpers/memory-store'

const configmaps = builtinResources.find((t) => t.resource === 'configmaps' && t.group === '')!
const ctx = { dryRun: false, warnings: [] }

async function seeded(n: number) {
  const store = new MemoryStore()
  const rs = new RegistryStore(configmaps, store)
  for (let i = 0; i < n; i++) await rs.create('default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}` } }, ctx)
  return { store, rs }
}

describe('continue tokens', () => {
  it('pins later pages to the first page\'s revision and counts what remains', async () => {
    const { rs } = await seeded(5)
    const first = await rs.list('default', { limit: 2 })
    expect(first.items.map((o) => o.metadata?.name)).toEqual(['c0', 'c1'])
    expect(first.remainingItemCount).toBe(3)
    expect(decodeContinue(first.continue!)).toEqual({ rv: Number(first.resourceVersion), start: 'c1' })
    const second = await rs.list('default', { limit: 2, continue: first.continue })
    expect(second.items.map((o) => o.metadata?.name)).toEqual(['c2', 'c3'])
    expect(second.resourceVersion).toBe(first.resourceVersion)
  })

  it('answers 410 Expired with an inconsistent continue token once the revision is compacted', async () => {
    const { store, rs } = await seeded(5)
    const first = await rs.list('default', { limit: 2 })
    // A write elsewhere moves the revision on, so compaction can pass the one the token reads at.
    await store.put('/registry/configmaps/elsewhere/x', { metadata: { name: 'x' } })
    await store.compact(Number(first.resourceVersion) + 1)
    const err = await rs.list('default', { limit: 2, continue: first.continue }).catch((e) => e)
    expect(err).toBeInstanceOf(StatusError)
    const status = (err as StatusError).toStatus()
    expect(status).toMatchObject({ code: 410, reason: 'Expired' })
    expect(status.message).toMatch(/^The provided continue parameter is too old to display a consistent list result\./)
    const resume = (status.metadata as { continue: string }).continue
    expect(decodeContinue(resume)).toEqual({ rv: -1, start: 'c1' })
    const rest = await rs.list('default', { continue: resume })
    expect(rest.items.map((o) => o.metadata?.name)).toEqual(['c2', 'c3', 'c4'])
  })

  it('rejects a token that is not one of ours with 400', async () => {
    const { rs } = await seeded(1)
    await expect(rs.list('default', { continue: 'garbage!' })).rejects.toMatchObject({ code: 400 })
  })
})

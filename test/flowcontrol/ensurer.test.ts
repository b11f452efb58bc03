// The APF configuration's maintenance, as kube's ensurer does it on every start: mandatory objects are
// restored, suggested ones follow `apf.kubernetes.io/autoupdate-spec`, and objects marked for automatic
// update that the bootstrap set no longer names are removed.
import { beforeEach, describe, expect, it } from 'vitest'
import { ensureAPFBootstrapConfiguration } from '../../src/flowcontrol/ensurer'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject, RequestContext } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'

const registry = new Registry(builtinResources)
const ctx = (): RequestContext => ({
  dryRun: false,
  warnings: [],
  user: { username: 'admin', groups: ['system:masters'] },
})
let store: MemoryStore
let fs: RegistryStore
let pl: RegistryStore

beforeEach(async () => {
  store = new MemoryStore()
  fs = new RegistryStore(
    registry.lookup('flowcontrol.apiserver.k8s.io', 'v1', 'flowschemas')!,
    store,
  )
  pl = new RegistryStore(
    registry.lookup('flowcontrol.apiserver.k8s.io', 'v1', 'prioritylevelconfigurations')!,
    store,
  )
  await ensureAPFBootstrapConfiguration(registry, store)
})

const edit = (rs: RegistryStore, name: string, change: (o: any) => void) =>
  rs.update(
    undefined,
    name,
    (cur) => {
      const next = structuredClone(cur!) as any
      change(next)
      return next as KubeObject
    },
    ctx(),
  )
const names = async (rs: RegistryStore) =>
  (await rs.list(undefined)).items.map((o) => o.metadata!.name).sort()

describe('ensureAPFBootstrapConfiguration', () => {
  it('creates the mandatory and suggested objects, annotated for automatic update', async () => {
    expect(await names(pl)).toEqual([
      'catch-all',
      'exempt',
      'global-default',
      'leader-election',
      'node-high',
      'system',
      'workload-high',
      'workload-low',
    ])
    expect(await names(fs)).toHaveLength(13)
    const exempt = (await fs.get(undefined, 'exempt')) as any
    expect(exempt.metadata.annotations).toEqual({ 'apf.kubernetes.io/autoupdate-spec': 'true' })
    expect(exempt.metadata.generation).toBe(1)
  })

  it('restores a suggested spec marked "true", and leaves one marked "false"', async () => {
    await edit(pl, 'workload-high', (o) => (o.spec.limited.nominalConcurrencyShares = 7))
    await edit(pl, 'workload-low', (o) => {
      o.spec.limited.nominalConcurrencyShares = 9
      o.metadata.annotations['apf.kubernetes.io/autoupdate-spec'] = 'false'
    })
    await ensureAPFBootstrapConfiguration(registry, store)
    const high = (await pl.get(undefined, 'workload-high')) as any
    expect(high.spec.limited.nominalConcurrencyShares).toBe(40)
    const low = (await pl.get(undefined, 'workload-low')) as any
    expect(low.spec.limited.nominalConcurrencyShares).toBe(9)
  })

  it('without the annotation, updates only an object never edited (generation 1)', async () => {
    await edit(fs, 'service-accounts', (o) => {
      delete o.metadata.annotations
      o.spec.matchingPrecedence = 8000
    })
    await ensureAPFBootstrapConfiguration(registry, store)
    const edited = (await fs.get(undefined, 'service-accounts')) as any
    expect(edited.spec.matchingPrecedence).toBe(8000)
    expect(edited.metadata.annotations).toBeUndefined()
  })

  it('recreates deleted objects and restores a mandatory one whatever its annotation says', async () => {
    await fs.delete(undefined, 'catch-all', {}, ctx())
    await pl.delete(undefined, 'global-default', {}, ctx())
    await edit(fs, 'exempt', (o) => {
      o.metadata.annotations['apf.kubernetes.io/autoupdate-spec'] = 'false'
      o.spec.distinguisherMethod = { type: 'ByUser' }
    })
    // The operator may tune the exempt level's spec.exempt.
    await edit(pl, 'exempt', (o) => (o.spec.exempt.nominalConcurrencyShares = 10))
    await ensureAPFBootstrapConfiguration(registry, store)
    expect(await names(fs)).toContain('catch-all')
    expect(await names(pl)).toContain('global-default')
    const exempt = (await fs.get(undefined, 'exempt')) as any
    expect(exempt.spec.distinguisherMethod).toBeUndefined()
    expect(exempt.metadata.annotations['apf.kubernetes.io/autoupdate-spec']).toBe('true')
    expect(((await pl.get(undefined, 'exempt')) as any).spec.exempt.nominalConcurrencyShares).toBe(
      10,
    )
  })

  it('removes objects marked "true" that the bootstrap set does not name, and keeps the others', async () => {
    const mine = (name: string, annotations?: Record<string, string>) => ({
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'PriorityLevelConfiguration',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec: { type: 'Limited', limited: { limitResponse: { type: 'Reject' } } },
    })
    await pl.create(
      undefined,
      mine('retired', { 'apf.kubernetes.io/autoupdate-spec': 'true' }),
      ctx(),
    )
    await pl.create(undefined, mine('users-own'), ctx())
    await ensureAPFBootstrapConfiguration(registry, store)
    const all = await names(pl)
    expect(all).not.toContain('retired')
    expect(all).toContain('users-own')
  })
})

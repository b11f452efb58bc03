// The Cluster kind the default cluster installs: a deployment whose CRD predates a field gets it on its
// next start, as kube-apiserver's bootstrap reconciles its own objects; one already current is left alone.
import { describe, expect, it } from 'vitest'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { CLUSTERS_CRD, ensureClusterAPI } from '../../src/tenancy/api'
import { MemoryStore } from '../helpers/memory-store'

const KEY =
  '/registry/apiextensions.k8s.io/customresourcedefinitions/clusters.tenancy.edge-apiserver.dev'
type Version = { schema: { openAPIV3Schema: { properties: { spec: Record<string, unknown> } } } }
const specSchema = (value: string) =>
  (JSON.parse(value).spec.versions as Version[])[0]!.schema.openAPIV3Schema.properties.spec

describe('ensureClusterAPI', () => {
  it('gives a CRD from before spec.resetAt this release’s schema, and writes nothing when current', async () => {
    const store = new MemoryStore()
    const registry = new Registry(builtinResources)
    const old = structuredClone(CLUSTERS_CRD) as typeof CLUSTERS_CRD & {
      spec: { versions: Version[] }
    }
    old.spec.versions[0]!.schema.openAPIV3Schema.properties.spec = {
      type: 'object',
      description: 'Nothing to set yet.',
    }
    await ensureClusterAPI(registry, store)
    const { kv: created } = await store.get(KEY)
    // An older deployment's CRD, as it was stored.
    const stale = JSON.parse(created!.value)
    stale.spec.versions = old.spec.versions
    await store.update(KEY, JSON.stringify(stale), created!.modRevision)

    await ensureClusterAPI(registry, store)
    const { kv: updated } = await store.get(KEY)
    expect(specSchema(updated!.value)).toMatchObject({
      type: 'object',
      properties: { resetAt: { type: 'string' } },
    })

    await ensureClusterAPI(registry, store)
    expect((await store.get(KEY)).kv!.modRevision).toBe(updated!.modRevision)
  })
})

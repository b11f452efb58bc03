// A cluster made through the management API is bootstrapped on its first request in an isolate; once a
// release's bootstrap has run to the end in it, later isolates read one key instead of reconciling RBAC and
// APF again on the request path.
import { describe, expect, it } from 'vitest'
import { installAuthResources } from '../../src/auth/server-auth'
import { BOOTSTRAP_MARKER_KEY, bootstrapClusterOnce } from '../../src/controllers/bootstrap'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import type { KeyValue } from '../../src/storage/store'
import { MemoryStore } from '../helpers/memory-store'

function registry() {
  const r = new Registry(builtinResources)
  installAuthResources(r)
  return r
}

/** Counts the store calls a bootstrap makes. */
function counting(store: MemoryStore) {
  const calls: string[] = []
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        calls.push(String(prop))
        return v.apply(target, args)
      }
    },
  })
  return { store: proxy, calls }
}

describe('bootstrapClusterOnce', () => {
  it('writes every FlowSchema’s Dangling condition, so a first request has none to write', async () => {
    const backing = new MemoryStore()
    await bootstrapClusterOnce(registry(), backing)
    const schemas = await backing.list('/registry/flowschemas/')
    expect(schemas.kvs.length).toBeGreaterThan(10)
    for (const kv of schemas.kvs) {
      const fs = JSON.parse(kv.value)
      const level = fs.spec.priorityLevelConfiguration.name
      expect(fs.status.conditions).toEqual([
        expect.objectContaining({
          type: 'Dangling',
          status: 'False',
          reason: 'Found',
          message: `This FlowSchema references the PriorityLevelConfiguration object named "${level}" and it exists`,
        }),
      ])
    }
  })

  it('bootstraps a new cluster, then reads only its marker', async () => {
    const backing = new MemoryStore()
    await bootstrapClusterOnce(registry(), backing)
    const roles = await backing.list('/registry/clusterroles/')
    expect(roles.kvs.map((kv: KeyValue) => kv.key)).toContain(
      '/registry/clusterroles/cluster-admin',
    )
    expect((await backing.get('/registry/namespaces/kube-system')).kv).toBeDefined()
    const marker = (await backing.get(BOOTSTRAP_MARKER_KEY)).kv
    expect(marker?.value).toMatch(/^v1-[0-9a-f]+$/)

    const { store, calls } = counting(backing)
    await bootstrapClusterOnce(registry(), store)
    expect(calls).toEqual(['get'])
  })

  it('reconciles again when the marker is of another release', async () => {
    const backing = new MemoryStore()
    await bootstrapClusterOnce(registry(), backing)
    const marker = (await backing.get(BOOTSTRAP_MARKER_KEY)).kv!
    await backing.update(BOOTSTRAP_MARKER_KEY, 'v1-older', marker.modRevision)
    await backing.delete('/registry/clusterroles/view')
    await bootstrapClusterOnce(registry(), backing)
    expect((await backing.get('/registry/clusterroles/view')).kv).toBeDefined()
    expect((await backing.get(BOOTSTRAP_MARKER_KEY)).kv?.value).toBe(marker.value)
  })
})

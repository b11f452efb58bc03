// The provisioner's share of the control loops' scheduling: a Cluster is provisioned at once, not after the
// coalescing delay other writes wait for (a test's beforeEach, kubectl wait, wait on it).
import { describe, expect, it } from 'vitest'
import { COALESCE_MS, ControllerManager } from '../../src/controllers/manager'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import type { StoreEvent } from '../../src/storage/store'
import { CLUSTERS_KEY_PREFIX } from '../../src/tenancy/api'
import type { Tenants } from '../../src/tenancy/controller'
import { MemoryStore } from '../helpers/memory-store'

const tenants: Tenants = {
  settings: async () => undefined,
  provision: async () => {},
  destroy: async () => {},
  reset: async () => {},
}

const put = (key: string, obj: object): StoreEvent => ({
  type: 'put',
  kv: { key, value: JSON.stringify(obj), createRevision: 2, modRevision: 2, version: 1 },
})

describe('the provisioner', () => {
  it('asks to run at once for a Cluster write, and after COALESCE_MS for other work', () => {
    const manager = new ControllerManager(new MemoryStore(), new Registry(builtinResources), {
      provisioning: { tenants, externalURL: 'https://127.0.0.1:6443' },
    })
    const cluster = {
      apiVersion: 'tenancy.edge-apiserver.dev/v1alpha1',
      kind: 'Cluster',
      metadata: { name: 'team-a', uid: 'u1' },
    }
    expect(manager.observe(put(`${CLUSTERS_KEY_PREFIX}team-a`, cluster))).toBe(0)
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', uid: 'u2' } }
    expect(manager.observe(put('/registry/namespaces/x', ns))).toBe(COALESCE_MS)
  })
})

import { describe, expect, it } from 'vitest'
import { StatusError } from '../../src/server/errors'
import { ipKey, nodePortKey } from '../../src/registry/builtin/allocator'
import { create, kind } from './helpers'
import { MemoryStore } from '../helpers/memory-store'

const services = kind('', 'services')
const svc = (name: string, spec: Record<string, unknown>) =>
  create(services, {
    metadata: { name, namespace: 'default' },
    spec: { ports: [{ port: 80 }], ...spec },
  }).obj

async function rejection(p: Promise<unknown>): Promise<StatusError> {
  try {
    await p
  } catch (e) {
    return e as StatusError
  }
  throw new Error('expected a rejection')
}

describe('service allocation', () => {
  it('allocates a cluster IP from 10.96.0.0/12 and records it under /registry/ipaddresses', async () => {
    const store = new MemoryStore()
    const s = svc('web', {})
    await services.strategy.beforeCreate!(s, store)
    const ip = (s.spec as any).clusterIP as string
    expect(ip).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/)
    expect((s.spec as any).clusterIPs).toEqual([ip])
    const stored = JSON.parse(store.data.get(ipKey(ip))!.value)
    expect(stored).toMatchObject({
      kind: 'IPAddress',
      spec: { parentRef: { resource: 'services', namespace: 'default', name: 'web' } },
    })
  })

  it('honours a requested IP and refuses it when taken, as kube words it', async () => {
    const store = new MemoryStore()
    await services.strategy.beforeCreate!(svc('a', { clusterIP: '10.96.0.5' }), store)
    const err = await rejection(
      services.strategy.beforeCreate!(svc('b', { clusterIP: '10.96.0.5' }), store),
    )
    expect(err.code).toBe(422)
    expect(err.details?.causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec.clusterIPs',
        message: expect.stringMatching(
          /: failed to allocate IP 10\.96\.0\.5: provided IP is already allocated$/,
        ),
      },
    ])
    const outside = await rejection(
      services.strategy.beforeCreate!(svc('c', { clusterIP: '192.168.0.1' }), store),
    )
    expect(outside.message).toContain(
      'the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12',
    )
  })

  it('allocates nothing for a headless service', async () => {
    const store = new MemoryStore()
    const s = svc('h', { clusterIP: 'None' })
    await services.strategy.beforeCreate!(s, store)
    expect((s.spec as any).clusterIPs).toEqual(['None'])
    expect(store.data.size).toBe(0)
  })

  it('allocates node ports in 30000-32767 and rejects a taken or out-of-range one', async () => {
    const store = new MemoryStore()
    const s = svc('np', { type: 'NodePort' })
    await services.strategy.beforeCreate!(s, store)
    const port = (s.spec as any).ports[0].nodePort
    expect(port).toBeGreaterThanOrEqual(30000)
    expect(port).toBeLessThanOrEqual(32767)
    const taken = await rejection(
      services.strategy.beforeCreate!(
        svc('np2', { type: 'NodePort', ports: [{ port: 80, nodePort: port }] }),
        store,
      ),
    )
    expect(taken.message).toBe(
      `Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: ${port}: provided port is already allocated`,
    )
    const range = await rejection(
      services.strategy.beforeCreate!(
        svc('np3', { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }),
        store,
      ),
    )
    expect(range.message).toBe(
      'Service "np3" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
    )
    // The failed creates gave back the cluster IPs they took.
    expect(
      [...store.data.keys()].filter((k) => k.startsWith('/registry/ipaddresses/')),
    ).toHaveLength(1)
  })

  it('hands out distinct whole ports', async () => {
    const store = new MemoryStore()
    const ports = new Set<number>()
    for (let i = 0; i < 50; i++) {
      const s = svc(`s${i}`, { type: 'NodePort', clusterIP: 'None' })
      await services.strategy.beforeCreate!(s, store)
      ports.add((s.spec as any).ports[0].nodePort)
    }
    expect(ports.size).toBe(50)
    for (const p of ports) expect(Number.isInteger(p)).toBe(true)
  })

  it('releases what it took once the service is deleted', async () => {
    const store = new MemoryStore()
    const s = svc('gone', { type: 'NodePort' })
    await services.strategy.beforeCreate!(s, store)
    await services.strategy.afterDelete!(s, store)
    expect(store.data.size).toBe(0)
    expect(store.data.has(nodePortKey((s.spec as any).ports[0].nodePort))).toBe(false)
  })
})

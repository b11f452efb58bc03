// How the APF configuration follows the API: driven by requests and writes, never by a clock. An idle
// server reads nothing; a busy one reads both kinds at most once per CONFIG_MAX_STALENESS_MS and decodes
// nothing that did not change; a FlowSchema written elsewhere takes effect within that bound, one written
// through this process on the next request.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  CONFIG_MAX_STALENESS_MS,
  ENSURE_INTERVAL_MS,
  FlowControl,
} from '../../src/flowcontrol/controller'
import { ensureAPFBootstrapConfiguration } from '../../src/flowcontrol/ensurer'
import { flowcontrolMetricsIn } from '../../src/metrics/flowcontrol'
import { Registry as MetricsRegistry } from '../../src/metrics/registry'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject } from '../../src/registry/types'
import { parseRequestInfo } from '../../src/server/filters/request-info'
import type { Store } from '../../src/storage/store'
import { MemoryStore } from '../helpers/memory-store'

const registry = new Registry(builtinResources)
const GROUP = 'flowcontrol.apiserver.k8s.io'
const ctx = () => ({
  dryRun: false,
  warnings: [],
  user: { username: 'admin', groups: ['system:masters'] },
})
const jane = { username: 'jane', groups: ['system:authenticated'] }
const pods = parseRequestInfo('GET', new URL('https://h/api/v1/namespaces/default/pods'))

/** The store with every call counted by method (what reaches etcd or the Durable Object). */
function counted(store: Store): { store: Store; calls: Record<string, number> } {
  const calls: Record<string, number> = {}
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1
        return v.apply(target, args)
      }
    },
  })
  return { store: proxy, calls }
}

const janeSchema = (level: string): KubeObject => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'FlowSchema',
  metadata: { name: 'jane' },
  spec: {
    priorityLevelConfiguration: { name: level },
    matchingPrecedence: 100,
    distinguisherMethod: { type: 'ByUser' },
    rules: [
      {
        subjects: [{ kind: 'User', user: { name: 'jane' } }],
        resourceRules: [
          {
            verbs: ['*'],
            apiGroups: ['*'],
            resources: ['*'],
            namespaces: ['*'],
          },
        ],
      },
    ],
  },
})

let now: number
let memory: MemoryStore
let fc: FlowControl
let flowSchemas: RegistryStore

beforeEach(async () => {
  vi.useFakeTimers()
  now = 0
  memory = new MemoryStore()
  await ensureAPFBootstrapConfiguration(registry, memory)
  fc = new FlowControl({
    serverConcurrencyLimit: 600,
    requestWaitLimitMs: 15_000,
    now: () => now,
    metrics: flowcontrolMetricsIn(new MetricsRegistry()),
  })
  flowSchemas = new RegistryStore(registry.lookup(GROUP, 'v1', 'flowschemas')!, memory)
})
afterEach(() => {
  vi.useRealTimers()
})

const levelOf = () => fc.classify(jane, pods).priorityLevel.metadata.name

describe('APF configuration refresh', () => {
  it('reads the store on the first request and never again while no request comes (no timer)', async () => {
    const { store, calls } = counted(memory)
    await fc.refresh(registry, store)
    // One read of both kinds (and the first FlowSchema statuses, the Dangling conditions, written).
    expect(calls.readBatch).toBe(1)
    expect(calls.list).toBeUndefined()
    const after = { ...calls }
    expect(vi.getTimerCount()).toBe(0)
    // An hour without requests: nothing runs, nothing reads.
    await vi.advanceTimersByTimeAsync(3_600_000)
    now += 3_600_000
    expect(calls).toEqual(after)
  })

  it('reads at most once per CONFIG_MAX_STALENESS_MS under requests, and decodes nothing unchanged', async () => {
    // The first read writes the FlowSchemas' statuses; the next one takes those in.
    await fc.refresh(registry, memory)
    now = CONFIG_MAX_STALENESS_MS
    await fc.refresh(registry, memory)
    await vi.runAllTimersAsync()
    const { store, calls } = counted(memory)
    const start = now
    now += 1
    await fc.refresh(registry, store)
    expect(calls).toEqual({})
    const before = fc.dumpPriorityLevels()
    // A request every 100 ms for just under the bound: no read.
    for (let t = start + 100; t < start + CONFIG_MAX_STALENESS_MS; t += 100) {
      now = t
      await fc.refresh(registry, store)
    }
    expect(calls).toEqual({})
    now = start + CONFIG_MAX_STALENESS_MS
    await fc.refresh(registry, store)
    await vi.runAllTimersAsync()
    // One round trip for both kinds; nothing changed, so no FlowSchema status is written either.
    expect(calls).toEqual({ readBatch: 1 })
    expect(fc.dumpPriorityLevels()).toBe(before)
    // Up to a minute after start, a request every 100 ms: a read per bound, and the ensurer's pass
    // (a LIST of each kind) once the minute is up.
    for (let t = now + 100; t <= ENSURE_INTERVAL_MS; t += 100) {
      now = t
      await fc.refresh(registry, store)
      await vi.runAllTimersAsync()
    }
    expect(calls.readBatch).toBe(ENSURE_INTERVAL_MS / CONFIG_MAX_STALENESS_MS - 1)
    expect(calls.list).toBe(2)
    expect(calls.update).toBeUndefined()
  })

  it('takes a FlowSchema written through another process within CONFIG_MAX_STALENESS_MS', async () => {
    await fc.refresh(registry, memory)
    expect(levelOf()).toBe('global-default')
    await flowSchemas.create(undefined, janeSchema('workload-low'), ctx())
    now = CONFIG_MAX_STALENESS_MS - 1
    await fc.refresh(registry, memory)
    expect(levelOf()).toBe('global-default')
    now = CONFIG_MAX_STALENESS_MS
    await fc.refresh(registry, memory)
    // The read runs beside the request that started it; it has ended by the next one.
    await vi.runAllTimersAsync()
    expect(levelOf()).toBe('workload-low')
  })

  it('takes a write answered here on the very next request, which waits for it', async () => {
    const { store, calls } = counted(memory)
    await fc.refresh(registry, store)
    await flowSchemas.create(undefined, janeSchema('workload-low'), ctx())
    fc.noteWrite()
    now = 1
    await fc.refresh(registry, store)
    expect(levelOf()).toBe('workload-low')
    expect(calls.readBatch).toBe(2)

    await flowSchemas.update(
      undefined,
      'jane',
      (cur) => ({ ...cur!, spec: janeSchema('system').spec }),
      ctx(),
    )
    fc.noteWrite()
    now = 2
    await fc.refresh(registry, store)
    expect(levelOf()).toBe('system')

    await flowSchemas.delete(undefined, 'jane', {}, ctx())
    fc.noteWrite()
    now = 3
    await fc.refresh(registry, store)
    expect(levelOf()).toBe('global-default')
    // Then back to the staleness bound: no read until it passes.
    now = 4
    await fc.refresh(registry, store)
    expect(calls.readBatch).toBe(4)
  })

  it('does not let a read that began before a write answered here stand for it', async () => {
    // A read in flight (its store answers late) when the write is noted.
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const slow: Store = Object.create(memory)
    slow.readBatch = async (reads) => {
      const answer = await memory.readBatch(reads)
      await gate
      return answer
    }
    await fc.refresh(registry, memory)
    now = CONFIG_MAX_STALENESS_MS
    await fc.refresh(registry, slow) // starts the slow read, does not wait for it
    await flowSchemas.create(undefined, janeSchema('workload-low'), ctx())
    fc.noteWrite()
    now += 1
    await fc.refresh(registry, memory)
    expect(levelOf()).toBe('workload-low')
    // The older read ends last and changes nothing.
    release()
    await vi.runAllTimersAsync()
    await Promise.resolve()
    expect(levelOf()).toBe('workload-low')
  })
})

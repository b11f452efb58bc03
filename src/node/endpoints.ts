// kube-apiserver's lease endpoint reconciler (pkg/controlplane/reconcilers/lease.go): every server
// keeps a lease under /registry/masterleases/<advertise-address> alive, and the `kubernetes` Endpoints
// and EndpointSlice in default list the addresses of the servers whose leases are live, sorted. A
// server going away removes its own lease and reconciles; one that crashes drops out when its lease
// runs out. etcd leases are not used: the lease's expiry is in its value, and every server ignores and
// deletes expired ones, so the reconciler only needs the Store interface.
import type { Registry } from '../registry/registry'
import { RegistryStore } from '../registry/store'
import type { KubeObject, RequestContext } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import { isStoreError, type Store } from '../storage/store'
import { errorText } from '../util/errors'

/** kube's defaults: leases live 15 s (--endpoint-reconciler lease TTL), refreshed every 10 s. */
export const LEASE_TTL_MS = 15_000
export const RECONCILE_INTERVAL_MS = 10_000
const LEASES_PREFIX = '/registry/masterleases/'

const ctx = (): RequestContext => ({
  dryRun: false,
  warnings: [],
  user: { username: 'system:apiserver', groups: ['system:masters'] },
})

export interface EndpointReconciler {
  /** Once now (so the endpoints carry this server before it serves), then on a timer. */
  start(): Promise<void>
  /** Removes this server's lease and its address from the endpoints (kube's RemoveEndpoints at shutdown). */
  stop(): Promise<void>
}

interface LeaseValue {
  ip: string
  /** ms since the epoch. */
  expires: number
}

export function leaseEndpointReconciler(opts: {
  registry: Registry
  store: Store
  ip: string
  port: number
  log?: (msg: string) => void
}): EndpointReconciler {
  const { registry, store, ip, port } = opts
  const lookup = (group: string, resource: string) => {
    const t = registry.lookup(group, 'v1', resource)
    if (!t) throw new Error(`endpoint reconciler: ${resource} is not served`)
    return new RegistryStore(t, store)
  }
  const endpoints = lookup('', 'endpoints')
  const slices = lookup('discovery.k8s.io', 'endpointslices')
  const family = ip.includes(':') ? 'IPv6' : 'IPv4'
  let timer: ReturnType<typeof setInterval> | undefined
  let running: Promise<void> = Promise.resolve()

  async function writeLease(): Promise<void> {
    const key = LEASES_PREFIX + ip
    const value = JSON.stringify({ ip, expires: Date.now() + LEASE_TTL_MS } satisfies LeaseValue)
    for (;;) {
      const { kv } = await store.get(key)
      try {
        if (kv) await store.update(key, value, kv.modRevision)
        else await store.create(key, value)
        return
      } catch (e) {
        if (
          !isStoreError(e, 'Conflict') &&
          !isStoreError(e, 'KeyExists') &&
          !isStoreError(e, 'NotFound')
        )
          throw e
      }
    }
  }

  /** The live servers' addresses, sorted; expired leases are deleted on the way. */
  async function liveAddresses(): Promise<string[]> {
    const { kvs } = await store.list(LEASES_PREFIX)
    const now = Date.now()
    const ips: string[] = []
    for (const kv of kvs) {
      let lease: LeaseValue | undefined
      try {
        lease = JSON.parse(kv.value) as LeaseValue
      } catch {
        /* not ours: treat as expired */
      }
      if (lease && lease.expires > now) {
        ips.push(lease.ip)
        continue
      }
      try {
        await store.delete(kv.key, kv.modRevision)
      } catch (e) {
        if (!isStoreError(e, 'NotFound') && !isStoreError(e, 'Conflict')) throw e
      }
    }
    return ips.sort()
  }

  function desiredEndpoints(ips: string[]): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: {
        name: 'kubernetes',
        namespace: 'default',
        labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
      },
      subsets: ips.length
        ? [
            {
              addresses: ips.map((a) => ({ ip: a })),
              ports: [{ name: 'https', port, protocol: 'TCP' }],
            },
          ]
        : [],
    }
  }

  function desiredSlice(ips: string[]): KubeObject {
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kubernetes',
        namespace: 'default',
        labels: { 'kubernetes.io/service-name': 'kubernetes' },
      },
      addressType: family,
      endpoints: ips.map((a) => ({ addresses: [a], conditions: { ready: true } })),
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    }
  }

  /** Writes `want`'s content fields over the stored object when they differ (creating it when absent). */
  async function ensure(rs: RegistryStore, want: KubeObject, fields: string[]): Promise<void> {
    let current: KubeObject | undefined
    try {
      current = await rs.get('default', 'kubernetes')
    } catch (e) {
      if (!isStatusErrorReason(e, 'NotFound')) throw e
    }
    if (!current) {
      try {
        await rs.create('default', want, ctx())
        return
      } catch (e) {
        if (!isStatusErrorReason(e, 'AlreadyExists')) throw e
      }
    }
    const same = (o: KubeObject | undefined) =>
      !!o &&
      fields.every(
        (f) =>
          JSON.stringify((o as Record<string, unknown>)[f] ?? null) ===
          JSON.stringify((want as Record<string, unknown>)[f] ?? null),
      ) &&
      JSON.stringify(o.metadata?.labels ?? {}) ===
        JSON.stringify({ ...(o.metadata?.labels ?? {}), ...want.metadata!.labels })
    if (same(current)) return
    await rs.update(
      'default',
      'kubernetes',
      (cur) => {
        const next = structuredClone(cur ?? want)
        for (const f of fields)
          (next as Record<string, unknown>)[f] = (want as Record<string, unknown>)[f]
        next.metadata = {
          ...next.metadata,
          labels: { ...(next.metadata?.labels ?? {}), ...want.metadata!.labels },
        }
        return next
      },
      ctx(),
    )
  }

  async function reconcile(withSelf: boolean): Promise<void> {
    if (withSelf) await writeLease()
    const ips = await liveAddresses()
    await ensure(endpoints, desiredEndpoints(ips), ['subsets'])
    await ensure(slices, desiredSlice(ips), ['addressType', 'endpoints', 'ports'])
  }

  const tick = () => {
    running = running
      .then(() => reconcile(true))
      .catch((e) => opts.log?.(`endpoint reconciler: ${errorText(e)}`))
  }

  return {
    async start() {
      await reconcile(true)
      timer = setInterval(tick, RECONCILE_INTERVAL_MS)
      timer.unref?.()
    },
    async stop() {
      if (timer) clearInterval(timer)
      await running
      try {
        const { kv } = await store.get(LEASES_PREFIX + ip)
        if (kv) await store.delete(kv.key, kv.modRevision)
        await reconcile(false)
      } catch (e) {
        opts.log?.(`endpoint reconciler: removing ${ip}: ${errorText(e)}`)
      }
    },
  }
}

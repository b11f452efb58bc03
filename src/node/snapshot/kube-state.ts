// What of a kube-apiserver cluster does not move to another server: state kube-apiserver keeps about
// itself, which the target's own servers write for themselves, and events past their TTL.
import type { KeyValue } from '../../storage/store'
import { storedJson } from '../../storage/storage-codec'

/** kube-apiserver's --event-ttl default. */
export const DEFAULT_EVENT_TTL_MS = 60 * 60 * 1000

export interface SkipRule {
  /** Why it does not move, as the import lists it. */
  reason: string
  matches(kv: KeyValue, now: number): boolean
}

function eventTime(kv: KeyValue): number | undefined {
  let obj: {
    lastTimestamp?: string
    eventTime?: string
    series?: { lastObservedTime?: string }
    metadata?: { creationTimestamp?: string }
  }
  try {
    obj = JSON.parse(storedJson(kv.key, kv.value))
  } catch {
    return undefined // encrypted, or not an object: kept
  }
  const t =
    obj.series?.lastObservedTime ??
    obj.lastTimestamp ??
    obj.eventTime ??
    obj.metadata?.creationTimestamp
  const ms = t ? Date.parse(t) : NaN
  return Number.isNaN(ms) ? undefined : ms
}

export function kubeApiserverSkipRules(eventTtlMs = DEFAULT_EVENT_TTL_MS): SkipRule[] {
  return [
    {
      // The master-count endpoint reconciler's leases: one per kube-apiserver, by its IP.
      reason: "kube-apiserver's master leases (/registry/masterleases/)",
      matches: (kv) => kv.key.startsWith('/registry/masterleases/'),
    },
    {
      // APIServerIdentity: each kube-apiserver's own lease, renewed by it alone.
      reason: "kube-apiserver's identity leases (kube-system/apiserver-*)",
      matches: (kv) => kv.key.startsWith('/registry/leases/kube-system/apiserver-'),
    },
    {
      // The endpoints of the `kubernetes` Service list kube-apiserver's own addresses; the target's
      // servers publish theirs.
      reason: "the kubernetes Service's endpoints (kube-apiserver's own addresses)",
      matches: (kv) =>
        kv.key === '/registry/services/endpoints/default/kubernetes' ||
        kv.key === '/registry/endpointslices/default/kubernetes',
    },
    {
      // kube-apiserver writes events with an etcd lease of --event-ttl; one past it is as good as gone.
      reason: 'events past their TTL',
      matches: (kv, now) => {
        if (!kv.key.startsWith('/registry/events/')) return false
        const t = eventTime(kv)
        return t !== undefined && t + eventTtlMs < now
      },
    },
  ]
}

/** Counts what a filter left out, per reason. */
export class SkipCounter {
  readonly counts = new Map<string, number>()

  constructor(
    private readonly rules: SkipRule[],
    private readonly now = Date.now(),
  ) {}

  keep(kv: KeyValue): boolean {
    for (const r of this.rules) {
      if (r.matches(kv, this.now)) {
        this.counts.set(r.reason, (this.counts.get(r.reason) ?? 0) + 1)
        return false
      }
    }
    return true
  }

  get total(): number {
    let n = 0
    for (const c of this.counts.values()) n += c
    return n
  }
}

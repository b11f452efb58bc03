// The APIServices of the server's own group versions, kept as kube-apiserver keeps them: the autoregister
// controller (kube-aggregator/pkg/controllers/autoregister) with the built-in group versions synced on start
// and the CRD-served ones synced always (pkg/controlplane/controller/crdregistration), and the local
// availability controller (controllers/status/local) that marks every APIService without a service Available.
// Remote APIServices' availability needs calls out of the cluster's store, so it is checked elsewhere
// (src/aggregator/availability.ts).
import { apiservices } from '../registry/builtin/apiregistration'
import type { Registry } from '../registry/registry'
import type { KubeObject } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import {
  apiServiceName,
  builtinPriority,
  CRD_PRIORITY,
  type APIServicePriority,
} from '../aggregator/priorities'
import { isGoneOrSkipped, nowTimestamp, type ControllerContext, type SyncResult } from './context'
import { CRD_PREFIX, parse } from './resources'

export const APISERVICES_PREFIX = '/registry/apiregistration.k8s.io/apiservices/'
/** autoregister's label: "onstart" (synced once when the server starts) or "true" (synced always). */
export const AUTO_MANAGED_LABEL = 'kube-aggregator.kubernetes.io/automanaged'

type Obj = Record<string, any>

interface Desired {
  group: string
  version: string
  priority: APIServicePriority
  mode: 'onstart' | 'true'
}

/** What one manager remembers between syncs: the onstart APIServices it already synced once. */
export class AutoRegisterState {
  readonly syncedOnStart = new Set<string>()
}

/** The group versions this server serves itself, each with the APIService kube would register for it. */
async function desiredAPIServices(
  c: ControllerContext,
  registry: Registry,
): Promise<Map<string, Desired>> {
  const out = new Map<string, Desired>()
  for (const { group, versions } of registry.groupVersions()) {
    for (const version of versions) {
      const priority = builtinPriority(group, version)
      // The aggregator's own group has no APIService; unknown group versions are skipped as kube skips them.
      if (!priority || group === 'apiregistration.k8s.io') continue
      out.set(apiServiceName(group, version), { group, version, priority, mode: 'onstart' })
    }
  }
  let after: string | undefined
  for (;;) {
    const page = await c.store.list(CRD_PREFIX, { limit: 500, after })
    for (const kv of page.kvs) {
      const crd = parse(kv.value) as Obj | undefined
      const group: string | undefined = crd?.spec?.group
      if (!group) continue
      for (const v of (crd!.spec.versions ?? []) as Obj[]) {
        if (!v.served || !v.name) continue
        const name = apiServiceName(group, v.name)
        if (!out.has(name))
          out.set(name, { group, version: v.name, priority: CRD_PRIORITY, mode: 'true' })
      }
    }
    if (!page.more || !page.kvs.length) break
    after = page.kvs[page.kvs.length - 1]!.key
  }
  return out
}

function specOf(d: Desired): Obj {
  return {
    // Group is omitempty: the legacy group's APIService (v1.) has none, as kube-apiserver writes it.
    ...(d.group ? { group: d.group } : {}),
    version: d.version,
    groupPriorityMinimum: d.priority.group,
    versionPriority: d.priority.version,
  }
}

const sameSpec = (cur: Obj, want: Obj) =>
  !cur.service &&
  (cur.group ?? '') === (want.group ?? '') &&
  cur.version === want.version &&
  cur.groupPriorityMinimum === want.groupPriorityMinimum &&
  cur.versionPriority === want.versionPriority &&
  !cur.caBundle &&
  !cur.insecureSkipTLSVerify

/**
 * autoregister's checkAPIService for every APIService at once: create what is desired and missing (an onstart
 * one only once), update a managed one whose spec drifted, delete a managed one no longer desired; an
 * APIService without the label belongs to its user and is left alone. Then every local APIService is
 * marked Available.
 */
export async function syncAPIServices(
  c: ControllerContext,
  registry: Registry,
  state: AutoRegisterState,
): Promise<SyncResult> {
  const desired = await desiredAPIServices(c, registry)
  const rs = c.registryStore(apiservices)
  const current = new Map<string, Obj>()
  let after: string | undefined
  for (;;) {
    const page = await c.store.list(APISERVICES_PREFIX, { limit: 500, after })
    for (const kv of page.kvs) {
      const obj = parse(kv.value) as Obj | undefined
      if (obj?.metadata?.name) current.set(obj.metadata.name, obj)
    }
    if (!page.more || !page.kvs.length) break
    after = page.kvs[page.kvs.length - 1]!.key
  }

  for (const [name, want] of desired) {
    const cur = current.get(name)
    const onceDone = want.mode === 'onstart' && state.syncedOnStart.has(name)
    if (!cur) {
      if (onceDone) continue
      try {
        await rs.create(
          undefined,
          {
            apiVersion: 'apiregistration.k8s.io/v1',
            kind: 'APIService',
            metadata: { name, labels: { [AUTO_MANAGED_LABEL]: want.mode } },
            spec: specOf(want),
          },
          c.request,
        )
      } catch (e) {
        if (!isStatusErrorReason(e, 'AlreadyExists')) throw e
      }
    } else {
      const label = cur.metadata?.labels?.[AUTO_MANAGED_LABEL]
      // Unmanaged (the user's), or an onstart one that was not there when the server started.
      const managed = label === 'true' || (label === 'onstart' && !onceDone)
      if (managed && (!sameSpec(cur.spec ?? {}, specOf(want)) || label !== want.mode)) {
        await updateIgnoringRaces(
          rs,
          name,
          (o) => {
            o.spec = specOf(want)
            o.metadata.labels = { ...o.metadata.labels, [AUTO_MANAGED_LABEL]: want.mode }
          },
          c,
        )
      }
    }
    if (want.mode === 'onstart') state.syncedOnStart.add(name)
  }

  for (const [name, cur] of current) {
    if (desired.has(name)) continue
    const label = cur.metadata?.labels?.[AUTO_MANAGED_LABEL]
    const onceDone = state.syncedOnStart.has(`deleted:${name}`)
    if (label === 'true' || (label === 'onstart' && !onceDone)) {
      state.syncedOnStart.add(`deleted:${name}`)
      try {
        await rs.delete(undefined, name, {}, c.request)
      } catch (e) {
        if (!isGoneOrSkipped(e)) throw e
      }
      current.delete(name)
    }
  }

  // The local availability controller: a local APIService is always available.
  for (const [name, cur] of current) {
    if (cur.spec?.service) continue
    const cond = ((cur.status?.conditions ?? []) as Obj[]).find((x) => x.type === 'Available')
    if (cond?.status === 'True' && cond.reason === 'Local') continue
    await updateIgnoringRaces(
      rs,
      name,
      (o) => {
        if (o.spec?.service) return
        setAvailableCondition(
          o,
          {
            status: 'True',
            reason: 'Local',
            message: 'Local APIServices are always available',
          },
          c.now(),
        )
      },
      c,
      'status',
    )
  }
}

/** apihelper.SetAPIServiceCondition: replaces the condition of its type, keeping the transition time when the status stays. */
export function setAvailableCondition(
  o: Obj,
  cond: { status: string; reason: string; message: string },
  now: number,
): void {
  const status = (o.status ??= {})
  const conditions = (status.conditions ??= []) as Obj[]
  const i = conditions.findIndex((x) => x.type === 'Available')
  const old = i >= 0 ? conditions[i] : undefined
  const next = {
    type: 'Available',
    status: cond.status,
    lastTransitionTime:
      old && old.status === cond.status ? old.lastTransitionTime : nowTimestamp(now),
    reason: cond.reason,
    message: cond.message,
  }
  if (i >= 0) conditions[i] = next
  else conditions.push(next)
}

async function updateIgnoringRaces(
  rs: ReturnType<ControllerContext['registryStore']>,
  name: string,
  change: (o: Obj) => void,
  c: ControllerContext,
  subresource: '' | 'status' = '',
): Promise<void> {
  try {
    await rs.update(
      undefined,
      name,
      (cur) => {
        const o = structuredClone(cur!) as Obj
        change(o)
        return o as KubeObject
      },
      c.request,
      subresource,
    )
  } catch (e) {
    if (!isGoneOrSkipped(e)) throw e
  }
}

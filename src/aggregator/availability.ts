// The Available condition of remote APIServices, as kube-aggregator 1.32's AvailableConditionController
// (controllers/status/remote) sets it: the Service must exist, a ClusterIP Service must listen on the port and
// have ready endpoints for it, and a discovery GET of /apis/<group>/<version> through the resolved address
// must answer 2xx or 3xx, as system:kube-aggregator in system:masters; the status is written only when it
// changed. It calls out of the cluster, so it runs in the Node process (a loop, src/node/) and in the Worker
// (when requests reach the aggregator, src/server/app.ts), never in the cluster's Durable Object.
import { apiservices } from '../registry/builtin/apiregistration'
import { RegistryStore } from '../registry/store'
import type { KubeObject } from '../registry/types'
import { isStatusErrorReason } from '../server/errors'
import type { Store } from '../storage/store'
import { setAvailableCondition } from '../controllers/apiservices'
import { controllerRequest } from '../controllers/context'
import { isRemote, type APIService, type APIServiceTable } from './apiservices'
import { resolveService, ResolveError, type AggregatorOptions } from './proxy'
import { errorText } from '../util/errors'

type Obj = Record<string, any>

export interface AvailableCondition {
  status: 'True' | 'False' | 'Unknown'
  reason: string
  message: string
}

const DISCOVERY_TIMEOUT_MS = 5000

async function read(store: Store, key: string): Promise<Obj | undefined> {
  const { kv } = await store.get(key)
  return kv ? (JSON.parse(kv.value) as Obj) : undefined
}

/** The condition a remote APIService should carry now. */
export async function checkAvailability(
  store: Store,
  a: APIService,
  opts: AggregatorOptions,
): Promise<AvailableCondition> {
  const ref = a.spec.service!
  const where = `service/${ref.name} in "${ref.namespace}"`
  const port = ref.port ?? 443
  let service: Obj | undefined
  try {
    service = await read(store, `/registry/services/specs/${ref.namespace}/${ref.name}`)
  } catch (e) {
    return {
      status: 'Unknown',
      reason: 'ServiceAccessError',
      message: `${where} cannot be checked due to: ${errorText(e)}`,
    }
  }
  if (!service)
    return { status: 'False', reason: 'ServiceNotFound', message: `${where} is not present` }
  if ((service.spec?.type ?? 'ClusterIP') === 'ClusterIP') {
    const svcPort = ((service.spec?.ports ?? []) as Obj[]).find((p) => p.port === port)
    if (!svcPort)
      return {
        status: 'False',
        reason: 'ServicePortError',
        message: `${where} is not listening on port ${port}`,
      }
    const portName: string = svcPort.name ?? ''
    const endpoints = await read(store, `/registry/services/endpoints/${ref.namespace}/${ref.name}`)
    if (!endpoints)
      return {
        status: 'False',
        reason: 'EndpointsNotFound',
        message: `cannot find endpoints for ${where}`,
      }
    const ready = ((endpoints.subsets ?? []) as Obj[]).some(
      (s) =>
        (s.addresses ?? []).length > 0 &&
        ((s.ports ?? []) as Obj[]).some((p) => (p.name ?? '') === portName),
    )
    if (!ready)
      return {
        status: 'False',
        reason: 'MissingEndpoints',
        message: `endpoints for ${where} have no addresses with port name "${portName}"`,
      }
  }
  let lastError: string | undefined
  let host: string
  try {
    host = await resolveService(store, ref, opts.endpointRouting)
  } catch (e) {
    if (!(e instanceof ResolveError)) throw e
    return { status: 'False', reason: 'FailedDiscoveryCheck', message: e.message }
  }
  const discoveryURL = `https://${host}${a.metadata.name === 'v1.' ? '/api/v1' : `/apis/${a.spec.group}/${a.spec.version}`}`
  const ctl = new AbortController()
  const timer = setTimeout(() => ctl.abort(), DISCOVERY_TIMEOUT_MS)
  try {
    const headers = new Headers({ 'X-Remote-User': 'system:kube-aggregator' })
    headers.append('X-Remote-Group', 'system:masters')
    const res = await opts.fetch({
      url: discoveryURL,
      method: 'GET',
      headers,
      body: null,
      // A best-effort GET that verifies nothing: whoever owns the network can only lie about status.
      insecureSkipTLSVerify: true,
      serverName: `${ref.name}.${ref.namespace}.svc`,
      signal: ctl.signal,
    })
    await res.body?.cancel()
    if (res.status < 200 || res.status >= 300)
      lastError = `bad status from ${discoveryURL}: ${res.status}`
  } catch (e) {
    lastError = ctl.signal.aborted
      ? `timed out waiting for ${discoveryURL}`
      : `Get "${discoveryURL}": ${errorText(e)}`
  } finally {
    clearTimeout(timer)
  }
  if (lastError)
    return {
      status: 'False',
      reason: 'FailedDiscoveryCheck',
      message: `failing or missing response from ${discoveryURL}: ${lastError}`,
    }
  return { status: 'True', reason: 'Passed', message: 'all checks passed' }
}

/** Checks every remote APIService and writes the conditions that changed. */
export class AvailabilityChecker {
  private lastSync = 0
  private running: Promise<void> | undefined
  private again = false
  /** When this isolate or process last checked each APIService. */
  private checkedAt = new Map<string, number>()

  constructor(
    private readonly table: APIServiceTable,
    private readonly opts: AggregatorOptions,
    private readonly log: (msg: string) => void = (m) => console.error(m),
  ) {}

  /** Whether a sync is older than `ms` (or never ran in this isolate or process). */
  due(ms: number): boolean {
    return Date.now() - this.lastSync >= ms
  }

  /** Whether this APIService was checked here within the last `ms`. */
  checkedWithin(name: string, ms: number): boolean {
    const at = this.checkedAt.get(name)
    return at !== undefined && Date.now() - at < ms
  }

  /**
   * One pass over every remote APIService. A call while a pass runs shares it, and another pass follows,
   * so that a write the running pass may have read too early is looked at again.
   */
  syncAll(store: Store): Promise<void> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          this.again = false
          const all = await this.table.refreshAll(store)
          for (const a of all) if (isRemote(a)) await this.syncOne(store, a)
          this.lastSync = Date.now()
        } while (this.again)
      } finally {
        this.running = undefined
      }
    })()
    return this.running
  }

  async syncOne(store: Store, a: APIService): Promise<void> {
    this.checkedAt.set(a.metadata.name, Date.now())
    let cond: AvailableCondition
    try {
      cond = await checkAvailability(store, a, this.opts)
    } catch (e) {
      this.log(`APIService ${a.metadata.name}: availability check failed: ${errorText(e)}`)
      return
    }
    const cur = a.status?.conditions?.find((c) => c.type === 'Available')
    if (
      cur &&
      cur.status === cond.status &&
      cur.reason === cond.reason &&
      cur.message === cond.message
    )
      return
    if (cond.status !== (cur?.status ?? 'Unknown'))
      this.log(
        `changing APIService availability: name=${a.metadata.name} newStatus=${cond.status} reason=${cond.reason} message=${JSON.stringify(cond.message)}`,
      )
    try {
      const { object } = await new RegistryStore(apiservices, store).update(
        undefined,
        a.metadata.name,
        (current) => {
          const o = structuredClone(current!) as Obj
          if (!o.spec?.service) return o as KubeObject
          setAvailableCondition(o, cond, Date.now())
          return o as KubeObject
        },
        controllerRequest(),
        'status',
      )
      this.table.remember(object as unknown as APIService)
    } catch (e) {
      if (!isStatusErrorReason(e, 'NotFound') && !isStatusErrorReason(e, 'Conflict')) throw e
    }
  }
}

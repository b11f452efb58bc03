// The aggregation layer of one server (kube-aggregator's APIAggregator): which group versions extension
// servers serve, their requests proxied, their discovery and OpenAPI merged into ours, and the availability
// checks of their APIServices.
import { aggregatedFromResourceList } from '../api/discovery'
import type { Registry } from '../registry/registry'
import type { UserInfo } from '../registry/types'
import type { Store } from '../storage/store'
import {
  APIServiceTable,
  isAvailable,
  isRemote,
  orderedGroups,
  type APIService,
  type GroupVersions,
} from './apiservices'
import { AvailabilityChecker } from './availability'
import { proxyToAPIService, resolveService, type AggregatorOptions } from './proxy'
import { errorText } from '../util/errors'

/** How long an extension server's discovery or OpenAPI document is served from memory. */
const DOCUMENT_TTL_MS = 5000
const DOCUMENT_TIMEOUT_MS = 5000
const INLINE_RECHECK_MS = 10_000

type Obj = Record<string, any>

interface CachedDocument {
  at: number
  resourceVersion?: string
  body?: Obj
}

const APIS_PATH = /^\/apis\/([^/]+)\/([^/]+)(\/|$)/

export class Aggregator {
  readonly table = new APIServiceTable()
  readonly availability: AvailabilityChecker
  private documents = new Map<string, CachedDocument>()

  constructor(
    private readonly registry: Registry,
    readonly opts: AggregatorOptions,
  ) {
    this.availability = new AvailabilityChecker(this.table, opts)
  }

  /**
   * The remote APIService a path under /apis/<group>/<version> belongs to. The server's own groups (built-in
   * or CRD) are served here and never looked up.
   */
  async remoteFor(store: Store, path: string): Promise<APIService | undefined> {
    const m = APIS_PATH.exec(path)
    if (!m) return undefined
    const [, group, version] = m as unknown as [string, string, string]
    if (this.registry.all().some((t) => t.group === group && t.version === version))
      return undefined
    return this.table.remoteFor(store, group, version)
  }

  /**
   * The request, proxied. Where requests drive the availability checks (the Worker), an APIService not seen
   * available is checked first, at most once per recheck interval, so that a new one answers at once and
   * clients retrying an unavailable one do not each cause a check.
   */
  async proxy(
    req: Request,
    url: URL,
    user: UserInfo,
    apiService: APIService,
    store: Store,
  ): Promise<Response> {
    let a = apiService
    if (
      !isAvailable(a) &&
      (this.opts.checkOnRequests ?? true) &&
      !this.availability.checkedWithin(a.metadata.name, INLINE_RECHECK_MS)
    ) {
      await this.availability.syncOne(store, a)
      a = (await this.table.remoteFor(store, a.spec.group, a.spec.version)) ?? a
    }
    if (!isRemote(a)) throw new Error('not a remote APIService')
    return proxyToAPIService(req, url, user, a, isAvailable(a), store, this.opts)
  }

  /** Every group, the extension servers' included, in discovery order. */
  async served(store: Store): Promise<{ groups: GroupVersions[]; remote: APIService[] }> {
    const remote = (await this.table.refreshAll(store)).filter(isRemote)
    return { groups: orderedGroups(this.registry.groupVersions(), remote), remote }
  }

  /** Extension servers' resources per "<group>/<version>", for aggregated discovery. */
  async remoteResources(
    store: Store,
    remote: APIService[],
  ): Promise<Map<string, Record<string, unknown>[] | undefined>> {
    const out = new Map<string, Record<string, unknown>[] | undefined>()
    await Promise.all(
      remote.map(async (a) => {
        const { group, version } = a.spec
        const doc = isAvailable(a)
          ? await this.document(store, a, `/apis/${group}/${version}`)
          : undefined
        out.set(
          `${group}/${version}`,
          doc ? aggregatedFromResourceList(group, version, doc) : undefined,
        )
      }),
    )
    return out
  }

  /** Extension servers' /openapi/v2 documents (one per Service), for the merged /openapi/v2. */
  async openAPIV2Documents(store: Store, remote: APIService[]): Promise<Obj[]> {
    const byService = new Map<string, APIService>()
    for (const a of remote)
      if (isAvailable(a)) byService.set(`${a.spec.service!.namespace}/${a.spec.service!.name}`, a)
    const docs = await Promise.all(
      [...byService.values()].map((a) => this.document(store, a, '/openapi/v2')),
    )
    return docs.filter((d): d is Obj => !!d)
  }

  /** The entries of extension servers' /openapi/v3 roots for their own group versions. */
  async openAPIV3Paths(
    store: Store,
    remote: APIService[],
  ): Promise<Record<string, { serverRelativeURL: string }>> {
    const out: Record<string, { serverRelativeURL: string }> = {}
    for (const a of remote) {
      if (!isAvailable(a)) continue
      const root = await this.document(store, a, '/openapi/v3')
      const key = `apis/${a.spec.group}/${a.spec.version}`
      const entry = root?.paths?.[key]
      if (entry?.serverRelativeURL) out[key] = { serverRelativeURL: entry.serverRelativeURL }
    }
    return out
  }

  /** A GET of an extension server's own document, as system:kube-aggregator; undefined when it fails. */
  private async document(store: Store, a: APIService, path: string): Promise<Obj | undefined> {
    const key = `${a.metadata.name}|${path}`
    const hit = this.documents.get(key)
    if (
      hit &&
      hit.resourceVersion === a.metadata.resourceVersion &&
      Date.now() - hit.at < DOCUMENT_TTL_MS
    )
      return hit.body
    const ref = a.spec.service!
    const ctl = new AbortController()
    const timer = setTimeout(() => ctl.abort(), DOCUMENT_TIMEOUT_MS)
    let body: Obj | undefined
    try {
      const host = await resolveService(store, ref, this.opts.endpointRouting)
      const headers = new Headers({
        Accept: 'application/json',
        'X-Remote-User': 'system:kube-aggregator',
      })
      headers.append('X-Remote-Group', 'system:masters')
      const res = await this.opts.fetch({
        url: `https://${host}${path}`,
        method: 'GET',
        headers,
        body: null,
        caBundle: a.spec.caBundle ? atob(a.spec.caBundle) : undefined,
        insecureSkipTLSVerify: a.spec.insecureSkipTLSVerify,
        serverName: `${ref.name}.${ref.namespace}.svc`,
        signal: ctl.signal,
      })
      if (res.ok) body = (await res.json()) as Obj
      else await res.body?.cancel()
    } catch (e) {
      console.error(`APIService ${a.metadata.name}: GET ${path}: ${errorText(e)}`)
    } finally {
      clearTimeout(timer)
    }
    this.documents.set(key, { at: Date.now(), resourceVersion: a.metadata.resourceVersion, body })
    return body
  }

  /** Fetches an extension server's /openapi/v3/<path> for a client (the URL our root handed out). */
  async openAPIV3Document(store: Store, req: Request, url: URL): Promise<Response | undefined> {
    const m = /^\/openapi\/v3\/apis\/([^/]+)\/([^/]+)$/.exec(url.pathname)
    if (!m) return undefined
    const a = await this.table.remoteFor(store, m[1]!, m[2]!)
    if (!a || !isAvailable(a)) return undefined
    const system = { username: 'system:kube-aggregator', groups: ['system:masters'] }
    return proxyToAPIService(req, url, system, a, true, store, this.opts)
  }
}

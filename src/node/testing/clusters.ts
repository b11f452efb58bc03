// Clusters for tests: each one a cluster of the started server made through its management API (a
// tenancy.edge-apiserver.dev Cluster in the default cluster, its own Durable Object), so that every test
// can have a new, empty one without starting anything; reset() empties one (spec.resetAt), dispose()
// deletes it. Users with groups are the admin impersonating them (why: README, "Testing library").
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { parse } from 'yaml'
import { Client, type ClusterAccess, type Obj } from './access'
import { loadCRDs, type CRDSource } from './crds'
import {
  clientKubeConfig,
  kubeconfigFor,
  writeKubeconfig,
  type Identity,
  type Kubeconfig,
} from './kubeconfig'

const CLUSTERS = '/apis/tenancy.edge-apiserver.dev/v1alpha1/clusters'
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'

/** A kubeconfig as a file (for kubectl, or a process under test) and as an object. */
export interface KubeconfigFile {
  path: string
  object: Kubeconfig
}

/** Someone the cluster's RBAC applies to: a user, with groups. */
export interface TestUser {
  name: string
  groups: string[]
  kubeconfig: KubeconfigFile
  /** A client-node KubeConfig acting as this user. */
  kubeConfig(): KubeConfig
}

/** A cluster a test talks to: its server URL and admin credentials, users, CRDs. */
export class TestClusterAccess {
  readonly url: string
  readonly kubeconfig: KubeconfigFile
  /** The admin's requests (system:masters). */
  readonly client: Client
  /** The kubeconfig files written for it. */
  protected readonly files: string[] = []

  constructor(
    /** The cluster's name ("default" for the server's own). */
    readonly name: string,
    readonly access: ClusterAccess,
    /** Where its kubeconfig files go. */
    protected readonly dir: string,
  ) {
    this.url = access.server
    this.client = new Client(access)
    const object = kubeconfigFor(name, access)
    const path = join(dir, `${name}.kubeconfig`)
    writeKubeconfig(path, object)
    this.files.push(path)
    this.kubeconfig = { path, object }
  }

  /** A client-node KubeConfig acting as the cluster's admin. */
  kubeConfig(): KubeConfig {
    return clientKubeConfig(this.kubeconfig.object)
  }

  /**
   * A user with these groups, for RBAC tests: the cluster's admin impersonating them (kubectl's `as` and
   * `as-groups`), so the server authorizes each request as that user, with exactly those groups and
   * system:authenticated, as kube-apiserver does an impersonated request.
   */
  user(name: string, groups: string[] = []): TestUser {
    const identity: Identity = { user: name, groups: [...groups, 'system:authenticated'] }
    const object = kubeconfigFor(this.name, this.access, identity)
    const path = join(this.dir, `${this.name}-user-${this.files.length}.kubeconfig`)
    writeKubeconfig(path, object)
    this.files.push(path)
    return {
      name,
      groups: identity.groups!,
      kubeconfig: { path, object },
      kubeConfig: () => clientKubeConfig(object),
    }
  }

  /**
   * Creates (or replaces) the CRDs in these files (YAML, several documents, or JSON) or texts and waits
   * until each is Established and listed by discovery. Returns them as stored.
   */
  loadCRDs(...sources: CRDSource[]): Promise<Obj[]> {
    return loadCRDs(this.client, sources)
  }

  /** Closes its kept-alive connections. */
  close(): void {
    this.client.close()
  }
}

/** A cluster of its own for a test (newCluster). */
export class TestCluster extends TestClusterAccess {
  private lastReset = 0

  constructor(
    name: string,
    access: ClusterAccess,
    dir: string,
    private readonly management: Client,
  ) {
    super(name, access, dir)
  }

  /**
   * Empties the cluster back to a new cluster's state (objects, CRDs, RBAC; open watches end), keeping
   * its URL and credentials: a new spec.resetAt, then until status.resetAt says it is done.
   */
  async reset(timeoutMs = 30_000): Promise<void> {
    const crds = await this.client.json('GET', CRDS)
    // A new value each time, even within one millisecond.
    this.lastReset = Math.max(Date.now(), this.lastReset + 1)
    const resetAt = new Date(this.lastReset).toISOString()
    const patched = await this.management.json(
      'PATCH',
      `${CLUSTERS}/${this.name}`,
      { spec: { resetAt } },
      'application/merge-patch+json',
    )
    if (patched.status?.resetAt === resetAt) return
    await this.management.watch(
      `${CLUSTERS}?watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${this.name}`)}` +
        `&resourceVersion=${patched.metadata.resourceVersion}`,
      (type, o) => {
        if (type === 'DELETED') throw new Error(`cluster ${this.name} was deleted`)
        return o.status?.resetAt === resetAt ? true : undefined
      },
      timeoutMs,
    )
    await this.untilNotServed(crds.items as Obj[], timeoutMs)
  }

  /**
   * The server keeps a CRD's served types for up to a second after it last read the CRD (see
   * src/apiextensions/serving.ts), and the reset did not go through it: until then the cluster would
   * still take objects of a CRD it no longer has.
   */
  private async untilNotServed(crds: Obj[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (const crd of crds) {
      const { group, names, scope } = crd.spec as Obj
      for (const v of (crd.spec.versions as Obj[]).filter((v) => v.served)) {
        const path =
          scope === 'Namespaced'
            ? `/apis/${group}/${v.name}/namespaces/default/${names.plural}?limit=1`
            : `/apis/${group}/${v.name}/${names.plural}?limit=1`
        while ((await this.client.request('GET', path)).status !== 404) {
          if (Date.now() > deadline)
            throw new Error(
              `${names.plural}.${group} is still served ${timeoutMs} ms after the reset`,
            )
          await new Promise((r) => setTimeout(r, 25))
        }
      }
    }
  }

  /** Deletes the cluster (its data and credentials) and returns once it is gone. */
  async dispose(timeoutMs = 30_000): Promise<void> {
    this.close()
    const path = `${CLUSTERS}/${this.name}`
    const a = await this.management.request('DELETE', path)
    if (a.status === 404) return this.removeFiles()
    if (a.status !== 200 && a.status !== 202)
      throw new Error(`DELETE ${path}: ${a.status} ${a.body}`)
    const deleting = JSON.parse(a.body) as Obj
    // The answer is the Cluster with its deletionTimestamp while its finalizer holds it.
    if (deleting.kind === 'Cluster' && deleting.metadata?.deletionTimestamp) {
      await this.management.watch(
        `${CLUSTERS}?watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${this.name}`)}` +
          `&resourceVersion=${deleting.metadata.resourceVersion}`,
        (type) => (type === 'DELETED' ? true : undefined),
        timeoutMs,
      )
    }
    this.removeFiles()
  }

  private removeFiles(): void {
    for (const p of this.files.splice(0)) rmSync(p, { force: true })
  }
}

/** What a started server offers for its clusters (EdgeServer has these). */
export interface ClusterTools {
  /** A client-node KubeConfig acting as the default cluster's admin. */
  kubeConfig(): KubeConfig
  /** A user with groups in the default cluster (see TestClusterAccess.user). */
  user(name: string, groups?: string[]): TestUser
  /** Loads CRDs into the default cluster (see TestClusterAccess.loadCRDs). */
  loadCRDs(...sources: CRDSource[]): Promise<Obj[]>
  /** A new, empty cluster of this server's, Ready: for a test's beforeEach. */
  newCluster(opts?: NewClusterOptions): Promise<TestCluster>
}

/** The tools of a server whose default cluster's admin is `access`; close() ends their connections. */
export function clusterTools(access: ClusterAccess, dir: string): ClusterTools & { close(): void } {
  let cluster: TestClusterAccess | undefined
  const defaultCluster = () => (cluster ??= new TestClusterAccess('default', access, dir))
  return {
    kubeConfig: () => defaultCluster().kubeConfig(),
    user: (name, groups) => defaultCluster().user(name, groups),
    loadCRDs: (...sources) => defaultCluster().loadCRDs(...sources),
    newCluster: (opts) => newCluster(defaultCluster().client, dir, opts),
    close: () => cluster?.close(),
  }
}

export interface NewClusterOptions {
  /** A DNS label; a random one by default. */
  name?: string
  timeoutMs?: number
}

/**
 * Makes a cluster through the management API of the server `management` is the default cluster's admin
 * of, and returns once it is Ready, with its own admin kubeconfig (from its Secret).
 */
export async function newCluster(
  management: Client,
  dir: string,
  opts: NewClusterOptions = {},
): Promise<TestCluster> {
  const name = opts.name ?? `t-${randomBytes(5).toString('hex')}`
  const timeoutMs = opts.timeoutMs ?? 30_000
  const created = await management.json('POST', CLUSTERS, {
    apiVersion: 'tenancy.edge-apiserver.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name },
  })
  const ready = await management.watch(
    `${CLUSTERS}?watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}` +
      `&resourceVersion=${created.metadata.resourceVersion}`,
    (type, o) => {
      if (type === 'DELETED') throw new Error(`cluster ${name} was deleted`)
      const c = (o.status?.conditions as Obj[] | undefined)?.find((x) => x.type === 'Ready')
      if (c?.status === 'True') return o
      if (c?.status === 'False') throw new Error(`cluster ${name}: ${c.reason}: ${c.message}`)
      return undefined
    },
    timeoutMs,
  )
  const ref = ready.status.adminKubeconfigSecret as { namespace: string; name: string }
  const secret = await management.json(
    'GET',
    `/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`,
  )
  const config = parse(Buffer.from(secret.data.kubeconfig, 'base64').toString('utf8')) as Obj
  const cluster = config.clusters[0].cluster as Obj
  const caData = cluster['certificate-authority-data'] as string | undefined
  const access: ClusterAccess = {
    server: cluster.server,
    ca:
      caData && cluster.server.startsWith('https:')
        ? Buffer.from(caData, 'base64').toString('utf8')
        : undefined,
    token: config.users[0].user.token,
  }
  return new TestCluster(name, access, dir, management)
}

// The control loops at the edge: the ClusterStore Durable Object hands each committed write to the manager
// and runs it from its alarm, a moment after the writes that need it (coalesced), and resyncs it on start
// and on every compaction tick. The loops read and write the object's own tables: no outbound I/O (but for
// csrapproving's SubjectAccessReviews when the Webhook authorization mode is on).
import { loadCertificateAuthority, type CertificateAuthority } from '../auth/certificate-authority'
import { authOptionsFromEnv, ServerAuth } from '../auth/server-auth'
import { tryParseGoDuration } from '../go/duration'
import type { Registry } from '../registry/registry'
import {
  ClusterStore,
  type BackgroundWork,
  type ClusterStoreEnv,
} from '../storage/durable/cluster-store'
import { LocalStore } from '../storage/durable/local-store'
import type { StoreEvent } from '../storage/store'
import { TransformingStore, withEncryption } from '../storage/value'
import type { ClusterSigner } from '../auth/certificate-authority'
import { DEFAULT_CLUSTER_SIGNING_DURATION_MS } from './certificates'
import { COALESCE_MS, ControllerManager } from './manager'
import { DEFAULT_CLUSTER } from '../server/cluster'
import { bootstrapClusterOnce } from './bootstrap'
import { edgeTenants } from '../tenancy/edge'
import { clusterEnv } from '../tenancy/settings'
import { errorText } from '../util/errors'

export interface ControllersEnv extends ClusterStoreEnv {
  /**
   * The cluster CA (PEM), published in every namespace as the kube-root-ca.crt ConfigMap. A Worker secret
   * or var; npm start passes the serving CA it writes into the state dir (<state-dir>/pki/ca.crt).
   */
  CLUSTER_CA_CERT?: string
  /**
   * csrsigning's CA, kube-controller-manager's --cluster-signing-key-file and -cert-file: a private key (PEM:
   * PKCS#8, PKCS#1 or SEC 1) as a Worker secret, with its certificate (CLUSTER_CA_CERT when not given). npm
   * start passes the serving CA's key, which the certificates that CA signs are verified with.
   */
  CLUSTER_SIGNING_KEY?: string
  CLUSTER_SIGNING_CERT?: string
  /** --cluster-signing-duration, a Go duration (8760h0m0s when unset). */
  CLUSTER_SIGNING_DURATION?: string
  /** The Worker's encryption at rest configuration (src/worker.ts): the loops read Secrets too. */
  ENCRYPTION_PROVIDER_CONFIG?: string
  /** The clusters' objects: the default cluster's loops provision the others (src/tenancy). */
  CLUSTER?: DurableObjectNamespace<ClusterStore>
  /**
   * Where the deployment is reached (https://host), for the server URL of the clusters made through the
   * management API; npm start sets it. Without it a new Cluster is not Ready.
   */
  EXTERNAL_URL?: string
}

/**
 * The ClusterStore class the Worker exports: the store, with the control loops in its alarm. Each object is
 * one cluster, with a registry of its own (its CRDs are its own); a cluster made through the management API
 * runs its loops with its own settings, and the default cluster's loops provision the others.
 */
export function withControllers(newRegistry: () => Registry): typeof ClusterStore {
  return class ClusterStoreWithControllers extends ClusterStore {
    /**
     * kube-apiserver's post-start hooks for a new cluster (namespaces, the kubernetes Service, RBAC policy,
     * APF objects), over the object's own tables: no request of the cluster pays for them.
     */
    protected override async prepareTenant(): Promise<void> {
      if (!this.tenant) return
      const env = clusterEnv(this.env as ControllersEnv, this.tenant.settings)
      const registry = newRegistry()
      const store = withEncryption(new LocalStore(this), env.ENCRYPTION_PROVIDER_CONFIG, registry, {
        source: 'ENCRYPTION_PROVIDER_CONFIG',
      })
      await bootstrapClusterOnce(registry, store)
    }

    protected override startBackground(): BackgroundWork | undefined {
      const deployment = this.env as ControllersEnv
      const name = this.ctx.id.name
      const isDefault = name ? name === DEFAULT_CLUSTER : !this.tenant
      // An object no provisioner has made a cluster yet has nothing to run.
      if (!isDefault && !this.tenant) return undefined
      const env = this.tenant ? clusterEnv(deployment, this.tenant.settings) : deployment
      const registry = newRegistry()
      const ca = env.CLUSTER_CA_CERT?.trim()
      let store
      try {
        store = withEncryption(new LocalStore(this), env.ENCRYPTION_PROVIDER_CONFIG, registry, {
          source: 'ENCRYPTION_PROVIDER_CONFIG',
        })
      } catch (e) {
        // The Worker refuses every request with the same message; the loops have nothing to do meanwhile.
        console.error(`ClusterStore control loops not started: ${errorText(e)}`)
        return undefined
      }
      // A PEM file ends with a newline; secrets and env files tend to lose it.
      // csrapproving's SubjectAccessReviews go to the authorizer the Worker's requests are authorized by,
      // reading the same RBAC objects from this object's tables.
      let authorizer
      try {
        authorizer = new ServerAuth(
          authOptionsFromEnv(env as unknown as Record<string, unknown>),
        ).authorizer(store)
      } catch (e) {
        console.error(`ClusterStore control loops: csrapproving not started: ${errorText(e)}`)
      }
      const manager = new ControllerManager(store, registry, {
        rootCA: ca ? `${ca}\n` : undefined,
        authorizer,
        signer: clusterSigner(env),
        provisioning:
          isDefault && deployment.CLUSTER
            ? {
                tenants: edgeTenants(deployment.CLUSTER),
                externalURL: deployment.EXTERNAL_URL,
                servingCA: ca,
              }
            : undefined,
      })
      return store instanceof TransformingStore ? new DecryptingWork(manager, store) : manager
    }
  }
}

function clusterSigner(env: ControllersEnv): ClusterSigner | undefined {
  const key = env.CLUSTER_SIGNING_KEY?.trim()
  const cert = (env.CLUSTER_SIGNING_CERT ?? env.CLUSTER_CA_CERT)?.trim()
  if (!key || !cert) return undefined
  const durationMs = env.CLUSTER_SIGNING_DURATION
    ? tryParseGoDuration(env.CLUSTER_SIGNING_DURATION)
    : DEFAULT_CLUSTER_SIGNING_DURATION_MS
  if (durationMs === undefined || durationMs <= 0) {
    console.error(
      `ClusterStore control loops: CLUSTER_SIGNING_DURATION: invalid duration ${JSON.stringify(env.CLUSTER_SIGNING_DURATION)}; csrsigning not started`,
    )
    return undefined
  }
  let loaded: Promise<CertificateAuthority> | undefined
  return {
    ca: () =>
      (loaded ??= loadCertificateAuthority(`${cert}\n`, `${key}\n`).catch((e) => {
        loaded = undefined
        throw new Error(`CLUSTER_SIGNING_KEY / CLUSTER_SIGNING_CERT: ${errorText(e)}`)
      })),
    durationMs,
  }
}

/**
 * The loops see each committed write as it is stored; an encrypted one is decrypted first, which takes a wait
 * that observe() may not make, so such writes (and every one after, to keep their order) are held until the
 * next run.
 */
class DecryptingWork implements BackgroundWork {
  private pending: StoreEvent[] = []

  constructor(
    private readonly manager: ControllerManager,
    private readonly store: TransformingStore,
  ) {}

  observe(event: StoreEvent): number | undefined {
    if (event.type === 'progress') return undefined
    const needs =
      this.store.needsTransform(event.kv) ||
      (event.prevKv !== undefined && this.store.needsTransform(event.prevKv))
    if (!needs && this.pending.length === 0) return this.manager.observe(event)
    this.pending.push(event)
    return COALESCE_MS
  }

  async run(opts: { resync: boolean }): Promise<number | undefined> {
    while (this.pending.length) {
      const event = this.pending.shift()!
      try {
        this.manager.observe(await this.store.readEvent(event))
      } catch (e) {
        console.error(
          `ClusterStore control loops: cannot read a write to ${event.type === 'progress' ? '' : event.kv.key}: ${errorText(e)}`,
        )
      }
    }
    const next = await this.manager.run(opts)
    // Writes the loops made themselves in this run may be waiting here.
    return this.pending.length ? Math.min(next ?? COALESCE_MS, COALESCE_MS) : next
  }
}

// The control loops at the edge: the ClusterStore Durable Object hands each committed write to the manager
// and runs it from its alarm, a moment after the writes that need it (coalesced), and resyncs it on start
// and on every compaction tick. The loops read and write the object's own tables: no outbound I/O.
import type { Registry } from '../registry/registry'
import { ClusterStore, type BackgroundWork, type ClusterStoreEnv } from '../storage/durable/cluster-store'
import { LocalStore } from '../storage/durable/local-store'
import { ControllerManager } from './manager'

export interface ControllersEnv extends ClusterStoreEnv {
  /**
   * The cluster CA (PEM), published in every namespace as the kube-root-ca.crt ConfigMap. A Worker secret
   * or var; npm start passes the serving CA it writes into the state dir (<state-dir>/pki/ca.crt).
   */
  CLUSTER_CA_CERT?: string
}

/** The ClusterStore class the Worker exports: the store, with the control loops in its alarm. */
export function withControllers(registry: Registry): typeof ClusterStore {
  return class ClusterStoreWithControllers extends ClusterStore {
    protected override startBackground(): BackgroundWork {
      const ca = (this.env as ControllersEnv).CLUSTER_CA_CERT?.trim()
      // A PEM file ends with a newline; secrets and env files tend to lose it.
      return new ControllerManager(new LocalStore(this), registry, { rootCA: ca ? `${ca}\n` : undefined })
    }
  }
}

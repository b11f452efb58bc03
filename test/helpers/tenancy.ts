// Clusters made through the management API as a user makes them: kubectl create a Cluster, wait until it
// is Ready, and take its admin kubeconfig from its Secret in the default cluster.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RunResult } from './process'

export const clusterManifest = (name: string) => `apiVersion: tenancy.edge-apiserver.dev/v1alpha1
kind: Cluster
metadata:
  name: ${name}
`

interface DefaultCluster {
  readonly stateDir: string
  kubectl(args: string[], opts?: { input?: string }): Promise<RunResult>
  k(...args: string[]): Promise<string>
}

/** Creates the clusters and returns the path of each one's admin kubeconfig, written into the state dir. */
export async function createClusters(
  server: DefaultCluster,
  names: string[],
): Promise<Record<string, string>> {
  const created = await server.kubectl(['create', '-f', '-'], {
    input: names.map(clusterManifest).join('---\n'),
  })
  if (created.code !== 0) throw new Error(`kubectl create Cluster failed: ${created.stderr}`)
  const kubeconfigs: Record<string, string> = {}
  for (const name of names) {
    await server.k('wait', '--for=condition=Ready', `cluster/${name}`, '--timeout=60s')
    const data = await server.k(
      'get',
      'secret',
      '-n',
      'kube-system',
      `cluster-${name}-admin-kubeconfig`,
      '-o',
      'jsonpath={.data.kubeconfig}',
    )
    kubeconfigs[name] = join(server.stateDir, `${name}.kubeconfig`)
    writeFileSync(kubeconfigs[name], Buffer.from(data, 'base64'))
  }
  return kubeconfigs
}

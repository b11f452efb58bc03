// Clusters made through the management API as a user makes them: kubectl create a Cluster, wait until it
// is Ready, and take its admin kubeconfig from its Secret in the default cluster.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { KUBECTL, run } from './process'

export const clusterManifest = (name: string) => `apiVersion: tenancy.edge-apiserver.dev/v1alpha1
kind: Cluster
metadata:
  name: ${name}
`

/**
 * Creates the clusters through the default cluster's admin kubeconfig and returns the path of each one's
 * admin kubeconfig, written into `dir`.
 */
export async function createClusters(
  kubeconfig: string,
  names: string[],
  dir: string,
): Promise<Record<string, string>> {
  const kubectl = async (args: string[], input?: string) => {
    const r = await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { input })
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.stdout
  }
  await kubectl(['create', '-f', '-'], names.map(clusterManifest).join('---\n'))
  const kubeconfigs: Record<string, string> = {}
  for (const name of names) {
    await kubectl(['wait', '--for=condition=Ready', `cluster/${name}`, '--timeout=60s'])
    const data = await kubectl([
      'get',
      'secret',
      '-n',
      'kube-system',
      `cluster-${name}-admin-kubeconfig`,
      '-o',
      'jsonpath={.data.kubeconfig}',
    ])
    kubeconfigs[name] = join(dir, `${name}-${Math.random().toString(36).slice(2)}.kubeconfig`)
    writeFileSync(kubeconfigs[name], Buffer.from(data, 'base64'))
  }
  return kubeconfigs
}

/** kubectl against the clusters of `kubeconfigs` as their admins: `at` answers, `atOk` must succeed. */
export function kubectlIn(kubeconfigs: Record<string, string>) {
  const at = (cluster: string, ...args: string[]) =>
    run(KUBECTL, ['--kubeconfig', kubeconfigs[cluster]!, ...args])
  const atOk = async (cluster: string, ...args: string[]) => {
    const r = await at(cluster, ...args)
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} in ${cluster}: ${r.stderr}`)
    return r.stdout
  }
  return { at, atOk }
}

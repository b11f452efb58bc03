// A cluster made through the management API and served by a Node-mode server, deleted by another server
// on the same etcd: this one stops serving it at once (it watches the cluster's settings key), not when
// it next checks the Cluster (every 5 s, and only once the Cluster itself is gone). The other server's
// deletion is played by what it does to etcd (NodeTenants.destroy: one range delete of the cluster's
// prefix, its settings included), so that which server's loop deletes it is not left to chance.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { KUBECTL, run } from '../helpers/process'
import { NodeServer } from './harness'

describe('a cluster another Node-mode server deleted', () => {
  let etcd: EtcdCluster
  let a: NodeServer

  beforeAll(async () => {
    etcd = await startEtcd()
    a = await NodeServer.start(etcd.endpoints)
  }, 120_000)
  afterAll(async () => {
    await a?.destroy()
    await etcd?.stop()
  })

  const ok = async (r: Promise<{ code: number; stdout: string; stderr: string }>) => {
    const res = await r
    if (res.code !== 0) throw new Error(res.stderr)
    return res.stdout
  }

  it('is not served here from the moment its data and settings are gone', async () => {
    const manifest = join(a.stateDir, 'cluster.yaml')
    writeFileSync(
      manifest,
      'apiVersion: tenancy.edge-apiserver.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: short-lived\n',
    )
    await ok(a.kubectl('create', '-f', manifest))
    await ok(a.kubectl('wait', '--for=condition=Ready', 'cluster/short-lived', '--timeout=60s'))
    const data = await ok(
      a.kubectl(
        'get',
        'secret',
        '-n',
        'kube-system',
        'cluster-short-lived-admin-kubeconfig',
        '-o',
        'jsonpath={.data.kubeconfig}',
      ),
    )
    const kubeconfig = join(a.stateDir, 'short-lived.kubeconfig')
    writeFileSync(kubeconfig, Buffer.from(data, 'base64'))
    const asAdmin = (...args: string[]) => run(KUBECTL, ['--kubeconfig', kubeconfig, ...args])
    const raw = '/clusters/short-lived/api/v1/namespaces'
    expect(await ok(asAdmin('get', 'namespaces', '-o', 'name'))).toContain('namespace/kube-system')

    // The other server's deletion, as etcd sees it. The Cluster in the default cluster is still there
    // (its finalizer is removed after), so only the settings key tells this server.
    await ok(
      run('etcdctl', [
        `--endpoints=${etcd.endpoints.join(',')}`,
        'del',
        '--prefix',
        '/edge-apiserver/clusters/short-lived/',
      ]),
    )
    const deleted = Date.now()
    let r = await asAdmin('get', '--raw', raw)
    while (r.code === 0 && Date.now() - deleted < 10_000) {
      await new Promise((res) => setTimeout(res, 50))
      r = await asAdmin('get', '--raw', raw)
    }
    expect(r.stderr).toBe(
      'Error from server (NotFound): the server could not find the requested resource\n',
    )
    // At once, not after a recheck.
    expect(Date.now() - deleted).toBeLessThan(1_500)
  }, 180_000)
})

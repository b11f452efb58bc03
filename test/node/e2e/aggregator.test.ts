// test/e2e/aggregator.test.ts, unchanged, against Node mode on etcd, started with kube-apiserver's
// aggregator flags: --enable-aggregator-routing (the stand-ins are reached at their Endpoints on loopback)
// and --proxy-client-cert-file/--proxy-client-key-file, a front-proxy client certificate as kubeadm makes
// one (CN front-proxy-client), which the stand-ins see presented.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => {
  const { aggregatorFlags, NodeModeLocalServer } = await import('../harness')
  const flags = aggregatorFlags()
  return {
    ...(await importOriginal<typeof import('../../e2e/harness')>()),
    LocalServer: {
      start: (stateDir?: string, args: string[] = []) =>
        NodeModeLocalServer.start(stateDir, [...flags, ...args]),
    },
  }
})

await import('../../e2e/aggregator.test')

// test/e2e/tenancy-services.test.ts, unchanged, against Node mode on etcd, started with kube-apiserver's
// aggregator flags: --enable-aggregator-routing (the stand-ins are reached at their Endpoints on loopback)
// and --proxy-client-cert-file/--proxy-client-key-file, a front-proxy client certificate as kubeadm makes
// one (CN front-proxy-client), which the stand-in sees presented by the aggregator of every cluster,
// not only the default one's.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { vi } from 'vitest'
import { createCA, signCertificate } from '../../../src/node/pki'

vi.mock('../../e2e/harness', async (importOriginal) => {
  const { NodeModeLocalServer } = await import('../harness')
  const dir = mkdtempSync(join(tmpdir(), 'edge-front-proxy-'))
  const ca = createCA('front-proxy-ca')
  const client = signCertificate(ca, {
    subject: { commonName: 'front-proxy-client' },
    usage: 'client',
  })
  writeFileSync(join(dir, 'front-proxy-client.crt'), client.certPem)
  writeFileSync(join(dir, 'front-proxy-client.key'), client.keyPem)
  const flags = [
    '--enable-aggregator-routing=true',
    `--proxy-client-cert-file=${join(dir, 'front-proxy-client.crt')}`,
    `--proxy-client-key-file=${join(dir, 'front-proxy-client.key')}`,
  ]
  return {
    ...(await importOriginal<typeof import('../../e2e/harness')>()),
    LocalServer: {
      start: (stateDir?: string, args: string[] = []) =>
        NodeModeLocalServer.start(stateDir, [...flags, ...args]),
    },
  }
})

await import('../../e2e/tenancy-services.test')

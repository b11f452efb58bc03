// The admin kubeconfig written to the state dir: the server's URL, the serving CA, and a client
// certificate (with its key) embedded as data, so the file alone is enough for kubectl.
import { writeFileSync } from 'node:fs'
import { stringify } from 'yaml'

export interface KubeconfigOptions {
  server: string
  /** The serving CA, PEM; without it clients use their system roots. */
  caPem?: string
  clientCertPem: string
  clientKeyPem: string
  cluster?: string
  user?: string
}

const b64 = (pem: string) => Buffer.from(pem).toString('base64')

export function kubeconfig(o: KubeconfigOptions): string {
  const cluster = o.cluster ?? 'edge-apiserver'
  const user = o.user ?? 'admin'
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster,
        cluster: {
          server: o.server,
          ...(o.caPem ? { 'certificate-authority-data': b64(o.caPem) } : {}),
        },
      },
    ],
    users: [
      {
        name: user,
        user: {
          'client-certificate-data': b64(o.clientCertPem),
          'client-key-data': b64(o.clientKeyPem),
        },
      },
    ],
    contexts: [{ name: cluster, context: { cluster, user, namespace: 'default' } }],
    'current-context': cluster,
    preferences: {},
  })
}

export function writeKubeconfig(path: string, o: KubeconfigOptions): void {
  writeFileSync(path, kubeconfig(o), { mode: 0o600 })
}

// Kubeconfigs the testing library hands out: as an object, as a file kubectl reads, and as a ready
// @kubernetes/client-node KubeConfig.
import { KubeConfig, type User } from '@kubernetes/client-node'
import { writeFileSync } from 'node:fs'
import type { OutgoingHttpHeaders } from 'node:http'
import { stringify } from 'yaml'
import type { ClusterAccess } from './access'

/** A kubeconfig (clientcmd's v1 Config) with one cluster, one user and one context. */
export interface Kubeconfig {
  apiVersion: 'v1'
  kind: 'Config'
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[]
  users: {
    name: string
    user: { token: string; as?: string; 'as-groups'?: string[] }
  }[]
  contexts: { name: string; context: { cluster: string; user: string; namespace?: string } }[]
  'current-context': string
}

/** Who a kubeconfig acts as: the cluster's admin, or a user it impersonates (with these groups). */
export interface Identity {
  user?: string
  groups?: string[]
}

export function kubeconfigFor(
  cluster: string,
  access: ClusterAccess,
  identity: Identity = {},
): Kubeconfig {
  const userName = identity.user ? `${identity.user}@${cluster}` : `admin@${cluster}`
  const user: Kubeconfig['users'][number]['user'] = { token: access.token }
  if (identity.user) user.as = identity.user
  if (identity.groups?.length) user['as-groups'] = [...identity.groups]
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster,
        cluster: {
          server: access.server,
          ...(access.ca
            ? { 'certificate-authority-data': Buffer.from(access.ca).toString('base64') }
            : {}),
        },
      },
    ],
    users: [{ name: userName, user }],
    contexts: [{ name: userName, context: { cluster, user: userName, namespace: 'default' } }],
    'current-context': userName,
  }
}

export function writeKubeconfig(path: string, config: Kubeconfig): void {
  writeFileSync(path, stringify(config), { mode: 0o600 })
}

/**
 * A client-node KubeConfig of the kubeconfig. client-node reads a user's `as` but not `as-groups`, so the
 * groups are sent by an authenticator of this KubeConfig (Impersonate-Group, as kubectl sends them).
 */
export function clientKubeConfig(config: Kubeconfig): KubeConfig {
  const kc = new KubeConfig()
  // client-node refuses plain HTTP unless told to skip TLS verification, of which there is none over HTTP.
  const plain = structuredClone(config)
  for (const c of plain.clusters)
    if (c.cluster.server.startsWith('http:'))
      (c.cluster as Record<string, unknown>)['insecure-skip-tls-verify'] = true
  kc.loadFromString(JSON.stringify(plain))
  const groups = new Map(
    config.users.filter((u) => u.user['as-groups']).map((u) => [u.name, u.user['as-groups']!]),
  )
  if (groups.size) kc.addAuthenticator(new ImpersonatedGroups(groups))
  return kc
}

/** client-node's Authenticator (not exported by its index). */
class ImpersonatedGroups {
  constructor(private readonly groups: Map<string, string[]>) {}

  isAuthProvider(user: User): boolean {
    return this.groups.has(user.name)
  }

  async applyAuthentication(
    user: User,
    opts: { headers?: OutgoingHttpHeaders | readonly string[] },
  ) {
    // client-node always passes an object of headers (or none yet).
    if (!opts.headers || Array.isArray(opts.headers)) opts.headers = {}
    const headers = opts.headers as OutgoingHttpHeaders
    // client-node's requests go through fetch, which joins the lines into one comma-separated value; this
    // server reads the groups of Impersonate-Group as a comma-separated list (kube-apiserver reads one
    // group per line: there a joined value would name one group).
    headers['Impersonate-Group'] = this.groups.get(user.name)!
  }
}

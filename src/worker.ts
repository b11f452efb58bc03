// The edge entry: the Hono app as the Worker's fetch handler, and the ClusterStore Durable Object class.
import { buildApp } from './server/app'
import { Registry } from './registry/registry'
import { builtinResources } from './registry/builtin'
import { clusterStore } from './storage/durable/client'
import { parseTokenFile, TokenFileAuthenticator, type Authenticator } from './server/filters/authentication'
import { bootstrapCluster } from './controllers/bootstrap'
import type { ClusterStore } from './storage/durable/cluster-store'

export { ClusterStore } from './storage/durable/cluster-store'

export interface Env {
  CLUSTER: DurableObjectNamespace<ClusterStore>
  /** --token-auth-file contents, from a Worker secret (the local state dir in development). */
  TOKEN_AUTH_FILE?: string
  /** "false" turns off anonymous requests (kube-apiserver --anonymous-auth=false); on by default, as there. */
  ANONYMOUS_AUTH?: string
}

const registry = new Registry(builtinResources)
let tokenAuth: { source: string; authenticator: Authenticator } | undefined

function authenticators(env: Env): Authenticator[] {
  const source = env.TOKEN_AUTH_FILE ?? ''
  if (tokenAuth?.source !== source) tokenAuth = { source, authenticator: new TokenFileAuthenticator(parseTokenFile(source)) }
  return [tokenAuth.authenticator]
}

const app = buildApp({
  registry,
  store: (env) => clusterStore(env as Env),
  authenticators: (env) => authenticators(env as Env),
  anonymous: (env) => (env as Env).ANONYMOUS_AUTH !== 'false',
  ready: (store) => bootstrapCluster(registry, store),
})

export default app

// Which cluster serves the request (src/server/cluster.ts): resolved once, before anything else, and its
// store for this request, with the cluster's bootstrap run first.
import type { MiddlewareHandler } from 'hono'
import { respondError } from '../../api/negotiation'
import type { Store } from '../../storage/store'
import { notFoundPath } from '../errors'

/** The cluster the request names, or a 404 Status when there is none by that name. */
export function withCluster<C>(
  resolve: (req: Request, env: unknown) => Promise<C | undefined>,
): MiddlewareHandler<{ Variables: { cluster: C } }> {
  return async (c, next) => {
    const cluster = await resolve(c.req.raw, c.env)
    if (!cluster) return respondError(notFoundPath(), c.req.header('accept'))
    c.set('cluster', cluster)
    await next()
  }
}

/** The cluster's store for this request, once the cluster is ready to serve (its bootstrap has run). */
export function withClusterStore<C>(
  storeOf: (cluster: C, env: unknown) => Store,
  ready: (cluster: C, store: Store) => Promise<void>,
): MiddlewareHandler<{ Variables: { cluster: C; store: Store } }> {
  return async (c, next) => {
    const cluster = c.get('cluster')
    const store = storeOf(cluster, c.env)
    c.set('store', store)
    await ready(cluster, store)
    await next()
  }
}

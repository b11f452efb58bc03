// Each filter of the request path on its own, in an app of two routes: what it sets for the handler, and
// the Status it answers with instead when the request goes no further.
import { Hono, type MiddlewareHandler } from 'hono'
import { describe, expect, it } from 'vitest'
import { respondError } from '../../src/api/negotiation'
import { apiserverMetrics } from '../../src/metrics/apiserver'
import type { Authorizer } from '../../src/auth/authorizer'
import type { UserInfo } from '../../src/registry/types'
import { toStatusError } from '../../src/server/errors'
import {
  parseTokenFile,
  TokenFileAuthenticator,
  withAuthentication,
} from '../../src/server/filters/authentication'
import { allowAuthenticated, withAuthorization } from '../../src/server/filters/authorization'
import { withCluster } from '../../src/server/filters/cluster'
import { withImpersonation } from '../../src/server/filters/impersonation'
import { withRequestInfo } from '../../src/server/filters/request-info'

const clusterMetrics = apiserverMetrics()

/** An app of the filters given and two routes that answer what the filters set. */
function twoRoutes(...filters: MiddlewareHandler<any>[]) {
  const app = new Hono<any>()
  app.onError((err) => respondError(toStatusError(err)))
  for (const f of filters) app.use('*', f)
  app.get('/api/v1/namespaces/:ns/pods', (c) =>
    c.json({ cluster: c.get('cluster'), info: c.get('info'), user: c.get('user') }),
  )
  app.get('/healthz', (c) => c.json({ user: c.get('user') }))
  return app
}

const tokens = new TokenFileAuthenticator(
  parseTokenFile('admin-token,admin,1,"system:masters"\nalice-token,alice,2,"devs"\n'),
)
const authentication = (anonymous: boolean, authorizer: Authorizer = allowAuthenticated) =>
  withAuthentication({
    authenticators: () => [tokens],
    anonymous: () => anonymous,
    authContext: () => ({ authorizer }),
    metrics: () => clusterMetrics,
  })
const get = (app: Hono<any>, path: string, headers: Record<string, string> = {}) =>
  app.request(path, { headers })
/** The JSON a route or a Status answered. */
const json = async (r: Response | Promise<Response>) =>
  (await (await r).json()) as Record<string, any>

/** Allows only what the admin asks, and alice to list pods. */
const adminOrAlicePods: Authorizer = {
  async authorize(a) {
    if (a.user.username === 'admin') return { decision: 'Allow', reason: '' }
    if (a.user.username === 'alice' && a.resource === 'pods' && a.verb === 'list')
      return { decision: 'Allow', reason: '' }
    return { decision: 'NoOpinion', reason: '' }
  },
}

describe('withCluster', () => {
  it('sets the cluster the request names, and answers 404 for one there is none of', async () => {
    const app = twoRoutes(
      withCluster(async (req) =>
        new URL(req.url).searchParams.get('c') === 'a' ? 'A' : undefined,
      ),
    )
    expect((await get(app, '/healthz?c=a')).status).toBe(200)
    expect(await json(get(app, '/api/v1/namespaces/x/pods?c=a'))).toMatchObject({
      cluster: 'A',
    })
    const missing = await get(app, '/healthz?c=b')
    expect(missing.status).toBe(404)
    expect(await json(missing)).toMatchObject({
      reason: 'NotFound',
      message: 'the server could not find the requested resource',
    })
  })
})

describe('withRequestInfo', () => {
  it('says what the request is about', async () => {
    const app = twoRoutes(withRequestInfo())
    const body = await json(get(app, '/api/v1/namespaces/x/pods?watch=true'))
    expect(body.info).toMatchObject({
      isResourceRequest: true,
      verb: 'watch',
      namespace: 'x',
      resource: 'pods',
    })
  })
})

describe('withAuthentication', () => {
  it('names the user of a known token, with system:authenticated', async () => {
    const app = twoRoutes(authentication(false))
    const body = await json(get(app, '/healthz', { authorization: 'Bearer alice-token' }))
    expect(body.user).toEqual({
      username: 'alice',
      uid: '2',
      groups: ['devs', 'system:authenticated'],
    })
  })

  it('answers 401 for an unknown token, anonymous or not, and for none where anonymous is off', async () => {
    for (const anonymous of [true, false]) {
      const r = await get(twoRoutes(authentication(anonymous)), '/healthz', {
        authorization: 'Bearer nope',
      })
      expect(r.status).toBe(401)
      expect(await json(r)).toMatchObject({ reason: 'Unauthorized', message: 'Unauthorized' })
    }
    expect((await get(twoRoutes(authentication(false)), '/healthz')).status).toBe(401)
  })

  it('lets a request without a credential in as system:anonymous where anonymous is on', async () => {
    const body = await json(get(twoRoutes(authentication(true)), '/healthz'))
    expect(body.user).toEqual({ username: 'system:anonymous', groups: ['system:unauthenticated'] })
  })
})

describe('withImpersonation', () => {
  const app = twoRoutes(authentication(false, adminOrAlicePods), withImpersonation())

  it('acts as the impersonated user once the requester may impersonate it', async () => {
    const body = await json(
      get(app, '/healthz', { authorization: 'Bearer admin-token', 'Impersonate-User': 'bob' }),
    )
    expect((body.user as UserInfo).username).toBe('bob')
  })

  it("answers kube's 403 when the requester may not", async () => {
    const r = await get(app, '/healthz', {
      authorization: 'Bearer alice-token',
      'Impersonate-User': 'bob',
    })
    expect(r.status).toBe(403)
    expect((await json(r)).message).toBe(
      'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
    )
  })
})

describe('withAuthorization', () => {
  const app = twoRoutes(
    withRequestInfo(),
    authentication(false, adminOrAlicePods),
    withAuthorization(),
  )

  it('lets through what the authorizer allows', async () => {
    const r = await get(app, '/api/v1/namespaces/x/pods', { authorization: 'Bearer alice-token' })
    expect(r.status).toBe(200)
  })

  it("answers what it does not with kube's Forbidden Status", async () => {
    const r = await get(app, '/healthz', { authorization: 'Bearer alice-token' })
    expect(r.status).toBe(403)
    expect(await json(r)).toMatchObject({
      reason: 'Forbidden',
      message: 'forbidden: User "alice" cannot get path "/healthz"',
    })
  })
})

// Authenticators that trust something outside the cluster: an OIDC provider, a token webhook, Cloudflare's
// verified client certificates, and a front proxy vouching for users in headers.
import { createServer, type Server } from 'node:http'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CloudflareClientCertAuthenticator,
  parseDN,
  RequestHeaderAuthenticator,
  type TLSClientAuth,
} from '../../src/auth/client-cert'
import { OIDCAuthenticator } from '../../src/auth/oidc'
import { ServerAuth } from '../../src/auth/server-auth'
import { WebhookTokenAuthenticator } from '../../src/auth/webhook-token'
import { authenticateRequest } from '../../src/server/filters/authentication'
import { MemoryStore } from '../helpers/memory-store'

function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer(handler)
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }),
    )
  })
}

describe('OIDC', () => {
  let provider: { server: Server; url: string }
  let key: CryptoKey
  let fetches = 0
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256')
    key = pair.privateKey
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
    provider = await listen((req, res) => {
      fetches++
      res.setHeader('content-type', 'application/json')
      if (req.url === '/.well-known/openid-configuration')
        res.end(JSON.stringify({ issuer: provider.url, jwks_uri: `${provider.url}/keys` }))
      else if (req.url === '/keys') res.end(JSON.stringify({ keys: [jwk] }))
      else {
        res.statusCode = 404
        res.end('{}')
      }
    })
  })
  afterAll(() => provider.server.close())

  const idToken = (
    claims: Record<string, unknown>,
    opts: { aud?: string; exp?: string | number; iss?: string } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(opts.iss ?? provider.url)
      .setAudience(opts.aud ?? 'kubernetes')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '1h')
      .sign(key)

  it("maps verified ID tokens to users with kube's default prefixes", async () => {
    const oidc = new OIDCAuthenticator({
      issuerURL: provider.url,
      clientID: 'kubernetes',
      groupsClaim: 'groups',
      groupsPrefix: 'oidc:',
    })
    const r = await oidc.authenticateToken(await idToken({ sub: 'alice', groups: ['devs', 'ops'] }))
    expect(r).toEqual({
      user: { username: `${provider.url}#alice`, groups: ['oidc:devs', 'oidc:ops'] },
    })
    const byEmail = new OIDCAuthenticator({
      issuerURL: provider.url,
      clientID: 'kubernetes',
      usernameClaim: 'email',
    })
    expect(
      (await byEmail.authenticateToken(
        await idToken({ sub: 'x', email: 'a@example.com', email_verified: true }),
      ))!.user.username,
    ).toBe('a@example.com')
    await expect(
      byEmail.authenticateToken(
        await idToken({ sub: 'x', email: 'a@example.com', email_verified: false }),
      ),
    ).rejects.toThrow('oidc: email not verified')
    const noPrefix = new OIDCAuthenticator({
      issuerURL: provider.url,
      clientID: 'kubernetes',
      usernamePrefix: '-',
    })
    expect((await noPrefix.authenticateToken(await idToken({ sub: 'bob' })))!.user.username).toBe(
      'bob',
    )
  })

  it("refuses other audiences, expired tokens and unmet required claims, and leaves other issuers' tokens alone", async () => {
    const oidc = new OIDCAuthenticator({
      issuerURL: provider.url,
      clientID: 'kubernetes',
      requiredClaims: { hd: 'example.com' },
    })
    await expect(
      oidc.authenticateToken(await idToken({ sub: 'a', hd: 'example.com' }, { aud: 'other' })),
    ).rejects.toThrow('oidc: verify token: oidc: expected audience "kubernetes" got ["other"]')
    await expect(
      oidc.authenticateToken(
        await idToken(
          { sub: 'a', hd: 'example.com' },
          { exp: Math.floor(Date.now() / 1000) - 600 },
        ),
      ),
    ).rejects.toThrow('oidc: verify token: oidc: token is expired')
    await expect(oidc.authenticateToken(await idToken({ sub: 'a' }))).rejects.toThrow(
      'oidc: required claim hd not present in ID token',
    )
    expect(
      await oidc.authenticateToken(
        await idToken({ sub: 'a' }, { iss: 'https://elsewhere.example' }),
      ),
    ).toBeUndefined()
    expect(await oidc.authenticateToken('not-a-jwt')).toBeUndefined()
  })

  it('fetches the discovery document and keys once, not per request', async () => {
    const oidc = new OIDCAuthenticator({ issuerURL: provider.url, clientID: 'kubernetes' })
    const before = fetches
    for (let i = 0; i < 5; i++) await oidc.authenticateToken(await idToken({ sub: `u${i}` }))
    expect(fetches - before).toBe(2)
  })
})

describe('webhook token authentication', () => {
  it('asks the webhook with a TokenReview and caches the answer', async () => {
    const seen: unknown[] = []
    const hook = await listen((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        const review = JSON.parse(body)
        seen.push({ auth: req.headers.authorization, review })
        const ok = review.spec.token === 'good'
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            status: ok
              ? { authenticated: true, user: { username: 'hooked', groups: ['g'] } }
              : { authenticated: false, error: 'unknown token' },
          }),
        )
      })
    })
    try {
      const w = new WebhookTokenAuthenticator({ url: hook.url, bearerToken: 'hook-secret' })
      expect(await w.authenticateToken('good', ['api'])).toEqual({
        user: { username: 'hooked', groups: ['g'] },
        audiences: ['api'],
      })
      expect(await w.authenticateToken('good', ['api'])).toBeDefined()
      expect(seen).toEqual([
        {
          auth: 'Bearer hook-secret',
          review: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token: 'good', audiences: ['api'] },
          },
        },
      ])
      await expect(w.authenticateToken('bad', [])).rejects.toThrow('unknown token')
    } finally {
      hook.server.close()
    }
  })
})

function withCf(tls: TLSClientAuth, headers: Record<string, string> = {}): Request {
  const req = new Request('https://edge.example/api', { headers })
  Object.defineProperty(req, 'cf', { value: { tlsClientAuth: tls } })
  return req
}
const verifiedCert = (subject: string): TLSClientAuth => ({
  certPresented: '1',
  certVerified: 'SUCCESS',
  certRevoked: '0',
  certSubjectDNRFC2253: subject,
  certIssuerDNRFC2253: 'CN=edge-ca',
})

describe('client certificates through Cloudflare mTLS', () => {
  it('parses RFC 2253 names, escapes included', () => {
    expect(parseDN('CN=alice,O=devs,O=a\\,b')).toEqual([
      ['CN', 'alice'],
      ['O', 'devs'],
      ['O', 'a,b'],
    ])
  })

  it('uses the CN as the user and O values as groups, and refuses certificates that did not verify', async () => {
    const a = new CloudflareClientCertAuthenticator({ issuerDNs: ['CN=edge-ca'] })
    expect(await a.authenticate(withCf(verifiedCert('CN=alice,O=devs,O=system:masters')))).toEqual({
      username: 'alice',
      groups: ['devs', 'system:masters'],
    })
    const failed = withCf({
      ...verifiedCert('CN=mallory'),
      certVerified: 'FAILED:unable to get local issuer certificate',
    })
    expect(await a.authenticate(failed)).toBeUndefined()
    expect(await authenticateRequest(failed, [a], true)).toEqual({
      rejected: true,
      presented: true,
    })
    expect(
      await a.authenticate(withCf({ ...verifiedCert('CN=eve'), certRevoked: '1' })),
    ).toBeUndefined()
    expect(
      await a.authenticate(
        withCf({ ...verifiedCert('CN=eve'), certIssuerDNRFC2253: 'CN=other-ca' }),
      ),
    ).toBeUndefined()
    expect(
      await authenticateRequest(withCf({ certPresented: '0', certVerified: 'NONE' }), [a], true),
    ).toMatchObject({ user: { username: 'system:anonymous' } })
  })
})

describe('front proxy request headers', () => {
  const proxy = new RequestHeaderAuthenticator({ allowedNames: ['front-proxy'] })
  const headers = {
    'x-remote-user': 'carol',
    'x-remote-group': 'devs, ops',
    'x-remote-extra-scopes': 'read',
    'x-remote-extra-acme.com%2Fproject': 'p1',
  }

  it('trusts the headers only from a verified proxy certificate with an allowed name', async () => {
    expect(await proxy.authenticate(withCf(verifiedCert('CN=front-proxy'), headers))).toEqual({
      username: 'carol',
      groups: ['devs', 'ops'],
      extra: { scopes: ['read'], 'acme.com/project': ['p1'] },
    })
    expect(
      await authenticateRequest(withCf(verifiedCert('CN=someone-else'), headers), [proxy], true),
    ).toEqual({ rejected: true, presented: true })
    expect(
      await authenticateRequest(new Request('https://edge.example/', { headers }), [proxy], true),
    ).toEqual({ rejected: true, presented: true })
  })

  it('is wired by ServerAuth from bindings', async () => {
    const auth = new ServerAuth({
      requestHeader: { allowedNames: ['front-proxy'] },
      clientCertificates: {},
    })
    const chain = auth.authenticators(new MemoryStore())
    expect(
      (await authenticateRequest(withCf(verifiedCert('CN=front-proxy'), headers), chain, false))
        .user?.username,
    ).toBe('carol')
    expect(
      (await authenticateRequest(withCf(verifiedCert('CN=dave,O=devs')), chain, false)).user,
    ).toEqual({ username: 'dave', groups: ['devs', 'system:authenticated'] })
  })
})

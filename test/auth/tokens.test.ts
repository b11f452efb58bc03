import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto'
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { bootstrapTokens } from '../../src/auth/bootstrap-token'
import { loadSigningKey, type SigningKey } from '../../src/auth/serviceaccount/keys'
import { fillServiceAccountToken } from '../../src/auth/serviceaccount/legacy-tokens'
import { tokenRequestSubresource } from '../../src/auth/serviceaccount/token-request'
import { encodeBase64, ServiceAccountTokens } from '../../src/auth/serviceaccount/tokens'
import type { KubeObject, RequestContext } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'

const ISSUER = 'https://kubernetes.default.svc.cluster.local'

function pkcs8(type: 'ec' | 'rsa'): string {
  const { privateKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  return privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
}

/** kube's keyIDFromPublicKey, computed independently with node:crypto. */
function kubeKeyId(pem: string): string {
  const der = createPublicKey(pem).export({ format: 'der', type: 'spki' })
  return createHash('sha256').update(der).digest('base64url')
}

async function setup(key: SigningKey) {
  const store = new MemoryStore()
  await store.put('/registry/namespaces/demo', { metadata: { name: 'demo' } })
  const sa = await store.put('/registry/serviceaccounts/demo/bot', {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'bot', namespace: 'demo' },
  })
  const tokens = new ServiceAccountTokens({ key, issuers: [ISSUER] })
  const ctx: RequestContext = {
    dryRun: false,
    warnings: [],
    auth: {
      authorizer: { authorize: async () => ({ decision: 'Allow', reason: '' }) },
      serviceAccountTokens: tokens,
    },
  }
  return { store, sa: sa as KubeObject, tokens, ctx }
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return (e as Error).message
  }
  throw new Error('expected a rejection')
}

describe('signing keys', () => {
  it("load from PKCS#8 PEM (EC and RSA) and JWK, with kube's key id", async () => {
    for (const type of ['ec', 'rsa'] as const) {
      const pem = pkcs8(type)
      const key = await loadSigningKey(pem)
      expect(key.alg).toBe(type === 'ec' ? 'ES256' : 'RS256')
      expect(key.kid).toBe(kubeKeyId(pem))
      expect(key.publicJwk).not.toHaveProperty('d')
      expect(key.publicJwk).toMatchObject({ use: 'sig', kid: key.kid, alg: key.alg })
    }
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const fromJwk = await loadSigningKey(JSON.stringify(privateKey.export({ format: 'jwk' })))
    expect(fromJwk.kid).toBe(
      kubeKeyId(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
    )
  })

  it('refuse a public key or garbage', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await expect(
      loadSigningKey(JSON.stringify(publicKey.export({ format: 'jwk' }))),
    ).rejects.toThrow(/no private part/)
    await expect(loadSigningKey('hello')).rejects.toThrow(/PKCS#8/)
  })
})

describe('bound service account tokens', () => {
  let key: SigningKey
  beforeAll(async () => {
    key = await loadSigningKey(pkcs8('ec'))
  })

  it("carry kube's claims and verify independently against the published JWKS", async () => {
    const { sa, tokens } = await setup(key)
    const { token, expiration } = await tokens.issueBound(
      { namespace: 'demo', serviceaccount: { name: 'bot', uid: sa.metadata!.uid! } },
      [ISSUER],
      3600,
    )
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: key.kid })
    const claims = decodeJwt(token)
    expect(claims).toMatchObject({
      iss: ISSUER,
      sub: 'system:serviceaccount:demo:bot',
      aud: [ISSUER],
      'kubernetes.io': {
        namespace: 'demo',
        serviceaccount: { name: 'bot', uid: sa.metadata!.uid },
      },
    })
    expect(claims.exp! - claims.iat!).toBe(3600)
    expect(claims.nbf).toBe(claims.iat)
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/)
    expect(expiration.getTime()).toBe(claims.exp! * 1000)
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: tokens.publicKeys() }), {
      issuer: ISSUER,
      audience: ISSUER,
    })
    expect(payload.sub).toBe('system:serviceaccount:demo:bot')
  })

  it('authenticate as the service account while it exists with the same uid', async () => {
    const { store, sa, tokens } = await setup(key)
    const { token } = await tokens.issueBound(
      { namespace: 'demo', serviceaccount: { name: 'bot', uid: sa.metadata!.uid! } },
      [ISSUER],
      3600,
    )
    const res = await tokens.authenticate(token, [ISSUER], store)
    expect(res!.user).toMatchObject({
      username: 'system:serviceaccount:demo:bot',
      uid: sa.metadata!.uid,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:demo'],
    })
    expect(res!.user.extra!['authentication.kubernetes.io/credential-id'][0]).toMatch(/^JTI=/)
    expect(res!.audiences).toEqual([ISSUER])

    const fresh = new ServiceAccountTokens({ key, issuers: [ISSUER] }) // no success cache
    await store.put('/registry/serviceaccounts/demo/bot', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'bot', namespace: 'demo', uid: 'another-uid' },
    })
    expect(await rejection(fresh.authenticate(token, [ISSUER], store))).toBe(
      `service account UID (another-uid) does not match claim (${sa.metadata!.uid})`,
    )
    await store.delete('/registry/serviceaccounts/demo/bot')
    expect(await rejection(fresh.authenticate(token, [ISSUER], store))).toBe(
      'serviceaccounts "bot" not found',
    )
  })

  it('are refused when expired, for another audience, tampered, unsigned or signed by another key', async () => {
    const { store, sa, tokens } = await setup(key)
    const claims = { namespace: 'demo', serviceaccount: { name: 'bot', uid: sa.metadata!.uid! } }
    const old = await tokens.issueBound(claims, [ISSUER], 600, new Date(Date.now() - 3600_000))
    expect(await rejection(tokens.authenticate(old.token, [ISSUER], store))).toBe(
      'service account token has expired',
    )

    const other = await tokens.issueBound(claims, ['vault'], 3600)
    expect(await rejection(tokens.authenticate(other.token, [ISSUER], store))).toBe(
      `token audiences ["vault"] is invalid for the target audiences ["${ISSUER}"]`,
    )
    expect((await tokens.authenticate(other.token, ['vault'], store))!.user.username).toBe(
      'system:serviceaccount:demo:bot',
    )

    const good = await tokens.issueBound(claims, [ISSUER], 3600)
    const [h, p, s] = good.token.split('.')
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
    payload['kubernetes.io'].serviceaccount.name = 'admin'
    const tampered = [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.')
    await expect(tokens.authenticate(tampered, [ISSUER], store)).rejects.toThrow()

    const unsigned = new UnsecuredJWT({ 'kubernetes.io': claims })
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setExpirationTime('1h')
      .encode()
    expect(decodeProtectedHeader(unsigned).alg).toBe('none')
    await expect(tokens.authenticate(unsigned, [ISSUER], store)).rejects.toThrow()

    const foreign = await loadSigningKey(pkcs8('ec'))
    const forged = await new SignJWT({ 'kubernetes.io': claims })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setSubject('system:serviceaccount:demo:bot')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(foreign.privateKey)
    await expect(tokens.authenticate(forged, [ISSUER], store)).rejects.toThrow()

    // Another issuer's tokens are not ours to judge.
    const elsewhere = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://accounts.example.com')
      .sign(foreign.privateKey)
    expect(await tokens.authenticate(elsewhere, [ISSUER], store)).toBeUndefined()
  })

  it('stop working when the pod they are bound to is gone', async () => {
    const { store, tokens, ctx } = await setup(key)
    const pod = await store.put('/registry/pods/demo/web', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'demo' },
      spec: { serviceAccountName: 'bot' },
    })
    const out = await tokenRequestSubresource.create(
      { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web' } } },
      { store, ctx, namespace: 'demo', name: 'bot' },
    )
    const token = (out.status as { token: string }).token
    expect(decodeJwt(token)['kubernetes.io']).toMatchObject({
      pod: { name: 'web', uid: (pod.metadata as { uid: string }).uid },
    })
    const res = await tokens.authenticate(token, [ISSUER], store)
    expect(res!.user.extra).toMatchObject({ 'authentication.kubernetes.io/pod-name': ['web'] })
    await store.delete('/registry/pods/demo/web')
    const fresh = new ServiceAccountTokens({ key, issuers: [ISSUER] })
    expect(await rejection(fresh.authenticate(token, [ISSUER], store))).toBe(
      'service account token has been invalidated',
    )
  })
})

describe('TokenRequest', () => {
  let key: SigningKey
  beforeAll(async () => {
    key = await loadSigningKey(pkcs8('ec'))
  })

  it('defaults audiences and an hour of validity, and echoes the request', async () => {
    const { store, ctx } = await setup(key)
    const out = await tokenRequestSubresource.create(
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} },
      { store, ctx, namespace: 'demo', name: 'bot' },
    )
    expect(out).toMatchObject({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: 'bot', namespace: 'demo' },
      spec: { audiences: [ISSUER], expirationSeconds: 3600, boundObjectRef: null },
    })
    const status = out.status as { token: string; expirationTimestamp: string }
    expect(Date.parse(status.expirationTimestamp) / 1000).toBe(decodeJwt(status.token).exp)
  })

  it('answers bad requests the way kube-apiserver does', async () => {
    const { store, ctx } = await setup(key)
    const create = (spec: unknown, name = 'bot') =>
      rejection(
        tokenRequestSubresource.create({ spec } as KubeObject, {
          store,
          ctx,
          namespace: 'demo',
          name,
        }),
      )
    expect(await create({ expirationSeconds: 60 })).toBe(
      'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
    )
    expect(await create({}, 'nobody')).toBe('serviceaccounts "nobody" not found')
    expect(await create({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'ghost' } })).toBe(
      'pods "ghost" not found',
    )
    expect(
      await create({ boundObjectRef: { kind: 'ConfigMap', apiVersion: 'v1', name: 'x' } }),
    ).toBe('cannot bind token to object of type /v1, Kind=ConfigMap')
    await store.put('/registry/pods/demo/other', {
      metadata: { name: 'other', namespace: 'demo' },
      spec: { serviceAccountName: 'default' },
    })
    expect(await create({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'other' } })).toBe(
      'cannot bind token for serviceaccount "bot" to pod running with serviceaccount "default"',
    )
    const secret = await store.put('/registry/secrets/demo/s', {
      metadata: { name: 's', namespace: 'demo' },
    })
    expect(
      await create({
        boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: 's', uid: 'stale' },
      }),
    ).toBe(
      'Operation cannot be fulfilled on Secret "s": the UID in the bound object reference (stale) does not match the UID in record. The object might have been deleted and then recreated',
    )
    expect((secret.metadata as { uid: string }).uid).not.toBe('stale')
  })
})

describe('legacy service account token Secrets', () => {
  it('get a token that authenticates while the Secret and the service account exist', async () => {
    const key = await loadSigningKey(pkcs8('rsa'))
    const { store, sa, tokens, ctx } = await setup(key)
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: {
        name: 'bot-token',
        namespace: 'demo',
        uid: 'secret-uid',
        annotations: { 'kubernetes.io/service-account.name': 'bot' },
      },
    }
    await fillServiceAccountToken(secret, store, ctx)
    const data = secret.data as Record<string, string>
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'namespace', 'token'])
    expect(Buffer.from(data.namespace, 'base64').toString()).toBe('demo')
    expect(secret.metadata!.annotations!['kubernetes.io/service-account.uid']).toBe(
      sa.metadata!.uid,
    )
    const token = Buffer.from(data.token, 'base64').toString()
    expect(decodeJwt(token)).toEqual({
      iss: 'kubernetes/serviceaccount',
      sub: 'system:serviceaccount:demo:bot',
      'kubernetes.io/serviceaccount/namespace': 'demo',
      'kubernetes.io/serviceaccount/secret.name': 'bot-token',
      'kubernetes.io/serviceaccount/service-account.name': 'bot',
      'kubernetes.io/serviceaccount/service-account.uid': sa.metadata!.uid,
    })
    await store.put('/registry/secrets/demo/bot-token', secret)
    expect((await tokens.authenticate(token, [ISSUER], store))!.user.username).toBe(
      'system:serviceaccount:demo:bot',
    )
    await store.delete('/registry/secrets/demo/bot-token')
    const fresh = new ServiceAccountTokens({ key, issuers: [ISSUER] })
    expect(await rejection(fresh.authenticate(token, [ISSUER], store))).toBe(
      'service account token has been invalidated',
    )
  })

  it('leave other Secrets, and Secrets of missing service accounts, alone', async () => {
    const key = await loadSigningKey(pkcs8('ec'))
    const { store, ctx } = await setup(key)
    const opaque: KubeObject = {
      type: 'Opaque',
      metadata: { name: 'x', namespace: 'demo' },
      data: {},
    }
    await fillServiceAccountToken(opaque, store, ctx)
    expect(opaque.data).toEqual({})
    const orphan: KubeObject = {
      type: 'kubernetes.io/service-account-token',
      metadata: {
        name: 'y',
        namespace: 'demo',
        annotations: { 'kubernetes.io/service-account.name': 'nobody' },
      },
    }
    await fillServiceAccountToken(orphan, store, ctx)
    expect(orphan.data).toBeUndefined()
  })
})

describe('bootstrap tokens', () => {
  async function bootstrapSecret(store: MemoryStore, data: Record<string, string>) {
    const enc = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, encodeBase64(v)]))
    await store.put('/registry/secrets/kube-system/bootstrap-token-abcdef', {
      metadata: { name: 'bootstrap-token-abcdef', namespace: 'kube-system' },
      type: 'bootstrap.kubernetes.io/token',
      data: enc,
    })
  }

  it('authenticate as system:bootstrap:<id> with the extra groups', async () => {
    const store = new MemoryStore()
    await bootstrapSecret(store, {
      'token-id': 'abcdef',
      'token-secret': '0123456789abcdef',
      'usage-bootstrap-authentication': 'true',
      'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
      expiration: new Date(Date.now() + 3600_000).toISOString(),
    })
    const a = bootstrapTokens(() => store)
    expect(await a.authenticateToken('abcdef.0123456789abcdef', [])).toEqual({
      user: {
        username: 'system:bootstrap:abcdef',
        groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token'],
      },
    })
    expect(await a.authenticateToken('abcdef.0123456789abcdee', [])).toBeUndefined()
    expect(await a.authenticateToken('not-a-bootstrap-token', [])).toBeUndefined()
  })

  it('refuse expired tokens and tokens not meant for authentication', async () => {
    const store = new MemoryStore()
    const a = bootstrapTokens(() => store)
    await bootstrapSecret(store, {
      'token-id': 'abcdef',
      'token-secret': '0123456789abcdef',
      'usage-bootstrap-authentication': 'true',
      expiration: '2000-01-01T00:00:00Z',
    })
    expect(await a.authenticateToken('abcdef.0123456789abcdef', [])).toBeUndefined()
    await bootstrapSecret(store, {
      'token-id': 'abcdef',
      'token-secret': '0123456789abcdef',
      'usage-bootstrap-signing': 'true',
    })
    expect(await a.authenticateToken('abcdef.0123456789abcdef', [])).toBeUndefined()
  })
})

// Service account tokens (pkg/serviceaccount): bound tokens as TokenRequest issues them and legacy tokens as the
// tokens controller puts into kubernetes.io/service-account-token Secrets, and the authenticator that accepts
// both once the service account (and the object a token is bound to) still exists with the same uid.
import {
  SignJWT,
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JWK,
  type JWTPayload,
} from 'jose'
import type { KubeObject, UserInfo } from '../../registry/types'
import type { Store } from '../../storage/store'
import { serviceAccountGroups, serviceAccountUsername } from '../rbac/rules'
import { TokenRejected, type TokenAuthenticator, type TokenResult } from '../token'
import type { SigningKey } from './keys'

export const LEGACY_ISSUER = 'kubernetes/serviceaccount'
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local'
const LEEWAY_SECONDS = 60

export const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name'
export const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid'
export const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name'
export const EXTRA_NODE_UID = 'authentication.kubernetes.io/node-uid'
export const EXTRA_CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id'

export interface ObjectRef {
  name: string
  uid: string
}

/** The private claims of a bound token ("kubernetes.io"). */
export interface KubernetesClaims {
  namespace: string
  serviceaccount: ObjectRef
  pod?: ObjectRef
  secret?: ObjectRef
  node?: ObjectRef
  warnafter?: number
}

export interface ServiceAccountTokenConfig {
  key?: SigningKey
  /** Further public keys accepted for verification (keys being rotated out). */
  extraPublicKeys?: JWK[]
  /** --service-account-issuer: the first signs, all are accepted. */
  issuers: string[]
  /** --api-audiences: what a token must be for to authenticate to this server; defaults to the issuers. */
  apiAudiences?: string[]
  /** --service-account-max-token-expiration, seconds; 0 or unset: no maximum. */
  maxExpirationSeconds?: number
  /** --service-account-jwks-uri; default: https://<the request's host>/openid/v1/jwks. */
  jwksUri?: string
}

/** The etcd keys of the objects a token refers to (kube-apiserver's layout: nodes live under "minions"). */
export const objectKeys = {
  serviceAccount: (ns: string, name: string) => `/registry/serviceaccounts/${ns}/${name}`,
  secret: (ns: string, name: string) => `/registry/secrets/${ns}/${name}`,
  pod: (ns: string, name: string) => `/registry/pods/${ns}/${name}`,
  node: (name: string) => `/registry/minions/${name}`,
}

export async function readObject(store: Store, key: string): Promise<KubeObject | undefined> {
  const { kv } = await store.get(key)
  return kv ? (JSON.parse(kv.value) as KubeObject) : undefined
}

/** A deleted-but-finalizing object counts as gone once it has been deleting for longer than the leeway. */
function goneSince(obj: KubeObject, nowSeconds: number): boolean {
  const ts = obj.metadata?.deletionTimestamp
  return !!ts && Date.parse(ts) / 1000 < nowSeconds - LEEWAY_SECONDS
}

export class ServiceAccountTokens {
  readonly issuers: string[]
  readonly apiAudiences: string[]
  private jwks: ReturnType<typeof createLocalJWKSet>
  private cache = new Map<string, { result: TokenResult; until: number }>()

  constructor(readonly config: ServiceAccountTokenConfig) {
    this.issuers = config.issuers.length ? config.issuers : [DEFAULT_ISSUER]
    this.apiAudiences = config.apiAudiences?.length ? config.apiAudiences : this.issuers
    this.jwks = createLocalJWKSet({ keys: this.publicKeys() })
  }

  get canSign(): boolean {
    return !!this.config.key
  }

  publicKeys(): JWK[] {
    return [
      ...(this.config.key ? [this.config.key.publicJwk] : []),
      ...(this.config.extraPublicKeys ?? []),
    ]
  }

  private signer(): SigningKey {
    if (!this.config.key) throw new Error('no service account signing key is configured')
    return this.config.key
  }

  /** A bound token (token.Claims + the JWT generator): iss, sub, aud, exp, iat, nbf, jti and the kubernetes.io claims. */
  async issueBound(
    claims: KubernetesClaims,
    audiences: string[],
    expirationSeconds: number,
    now = new Date(),
  ): Promise<{ token: string; expiration: Date }> {
    const key = this.signer()
    const iat = Math.floor(now.getTime() / 1000)
    const exp = iat + expirationSeconds
    const priv: Record<string, unknown> = { namespace: claims.namespace }
    if (claims.node) priv.node = claims.node
    if (claims.pod) priv.pod = claims.pod
    if (claims.secret) priv.secret = claims.secret
    priv.serviceaccount = claims.serviceaccount
    if (claims.warnafter) priv.warnafter = claims.warnafter
    const token = await new SignJWT({ 'kubernetes.io': priv })
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer(this.issuers[0])
      .setSubject(serviceAccountUsername(claims.namespace, claims.serviceaccount.name))
      .setAudience(audiences)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(crypto.randomUUID())
      .sign(key.privateKey)
    return { token, expiration: new Date(exp * 1000) }
  }

  /** A legacy token for a kubernetes.io/service-account-token Secret: no audience, no expiry (legacy.go's claims). */
  async issueLegacy(
    namespace: string,
    serviceAccount: ObjectRef,
    secretName: string,
  ): Promise<string> {
    const key = this.signer()
    return new SignJWT({
      'kubernetes.io/serviceaccount/namespace': namespace,
      'kubernetes.io/serviceaccount/secret.name': secretName,
      'kubernetes.io/serviceaccount/service-account.name': serviceAccount.name,
      'kubernetes.io/serviceaccount/service-account.uid': serviceAccount.uid,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer(LEGACY_ISSUER)
      .setSubject(serviceAccountUsername(namespace, serviceAccount.name))
      .sign(key.privateKey)
  }

  /** The authenticator over this issuer's tokens, reading service accounts and bound objects from the store. */
  authenticator(store: () => Store): TokenAuthenticator {
    return { authenticateToken: (token, audiences) => this.authenticate(token, audiences, store()) }
  }

  async authenticate(
    token: string,
    audiences: string[],
    store: Store,
  ): Promise<TokenResult | undefined> {
    if (token.split('.').length !== 3) return undefined
    let unverified: JWTPayload
    try {
      unverified = decodeJwt(token)
    } catch {
      return undefined
    }
    const legacy = unverified.iss === LEGACY_ISSUER
    if (!legacy && !this.issuers.includes(unverified.iss ?? '')) return undefined

    const cacheKey = `${audiences.join(',')}\u0000${token}`
    const now = Date.now()
    const hit = this.cache.get(cacheKey)
    if (hit && hit.until > now) return hit.result

    const result = legacy
      ? await this.verifyLegacy(token, store)
      : await this.verifyBound(token, audiences, store)
    // kube-apiserver caches successful token authentications for 10s (the cached token authenticator).
    this.cache.set(cacheKey, { result, until: now + 10_000 })
    if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value!)
    return result
  }

  private async verify(token: string, opts: { issuer: string | string[] }): Promise<JWTPayload> {
    const algorithms = ['RS256', 'ES256', 'ES384', 'ES512']
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        ...opts,
        algorithms,
        clockTolerance: LEEWAY_SECONDS,
      })
      return payload
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired)
        throw new TokenRejected('service account token has expired')
      if (e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'nbf')
        throw new TokenRejected('service account token is not valid yet')
      throw new TokenRejected('go-jose/go-jose: error in cryptographic primitive')
    }
  }

  private async verifyBound(
    token: string,
    audiences: string[],
    store: Store,
  ): Promise<TokenResult> {
    const payload = await this.verify(token, { issuer: this.issuers })
    const tokenAuds = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? [])
    const wanted = audiences.length ? audiences : this.apiAudiences
    const shared = tokenAuds.filter((a) => wanted.includes(a))
    if (!shared.length)
      throw new TokenRejected(
        `token audiences ${goQuote(tokenAuds)} is invalid for the target audiences ${goQuote(wanted)}`,
      )
    const k = payload['kubernetes.io'] as KubernetesClaims | undefined
    if (!k?.namespace || !k.serviceaccount?.name)
      throw new TokenRejected(
        'service account token claims could not be validated due to unexpected private claim',
      )
    const nowS = Math.floor(Date.now() / 1000)
    const ns = k.namespace
    const sa = await readObject(store, objectKeys.serviceAccount(ns, k.serviceaccount.name))
    if (!sa) throw new TokenRejected(`serviceaccounts "${k.serviceaccount.name}" not found`)
    if (goneSince(sa, nowS))
      throw new TokenRejected(`service account ${ns}/${k.serviceaccount.name} has been deleted`)
    if (sa.metadata?.uid !== k.serviceaccount.uid)
      throw new TokenRejected(
        `service account UID (${sa.metadata?.uid}) does not match claim (${k.serviceaccount.uid})`,
      )
    if (k.secret) {
      const secret = await readObject(store, objectKeys.secret(ns, k.secret.name))
      if (!secret || goneSince(secret, nowS))
        throw new TokenRejected('service account token has been invalidated')
      if (secret.metadata?.uid !== k.secret.uid)
        throw new TokenRejected(
          `secret UID (${secret.metadata?.uid}) does not match service account secret ref claim (${k.secret.uid})`,
        )
    }
    if (k.pod) {
      const pod = await readObject(store, objectKeys.pod(ns, k.pod.name))
      if (!pod || goneSince(pod, nowS))
        throw new TokenRejected('service account token has been invalidated')
      if (pod.metadata?.uid !== k.pod.uid)
        throw new TokenRejected(
          `pod UID (${pod.metadata?.uid}) does not match service account pod ref claim (${k.pod.uid})`,
        )
    }
    if (k.node && !k.pod) {
      const node = await readObject(store, objectKeys.node(k.node.name))
      if (!node || goneSince(node, nowS))
        throw new TokenRejected('service account token has been invalidated')
      if (node.metadata?.uid !== k.node.uid)
        throw new TokenRejected(
          `node UID (${node.metadata?.uid}) does not match service account node ref claim (${k.node.uid})`,
        )
    }
    const user: UserInfo = {
      username: serviceAccountUsername(ns, k.serviceaccount.name),
      uid: k.serviceaccount.uid,
      groups: serviceAccountGroups(ns),
    }
    const extra: Record<string, string[]> = {}
    if (k.pod) {
      extra[EXTRA_POD_NAME] = [k.pod.name]
      extra[EXTRA_POD_UID] = [k.pod.uid]
    }
    if (k.node) {
      extra[EXTRA_NODE_NAME] = [k.node.name]
      extra[EXTRA_NODE_UID] = [k.node.uid]
    }
    if (payload.jti) extra[EXTRA_CREDENTIAL_ID] = [`JTI=${payload.jti}`]
    if (Object.keys(extra).length) user.extra = extra
    return { user, audiences: shared }
  }

  private async verifyLegacy(token: string, store: Store): Promise<TokenResult> {
    const payload = await this.verify(token, { issuer: LEGACY_ISSUER })
    const ns = payload['kubernetes.io/serviceaccount/namespace'] as string | undefined
    const secretName = payload['kubernetes.io/serviceaccount/secret.name'] as string | undefined
    const saName = payload['kubernetes.io/serviceaccount/service-account.name'] as
      string | undefined
    const saUid = payload['kubernetes.io/serviceaccount/service-account.uid'] as string | undefined
    if (!ns || !secretName || !saName || !saUid)
      throw new TokenRejected('service account token claims could not be validated')
    if (payload.sub !== serviceAccountUsername(ns, saName))
      throw new TokenRejected('sub claim does not match the service account')
    const secret = await readObject(store, objectKeys.secret(ns, secretName))
    if (!secret) throw new TokenRejected('service account token has been invalidated')
    if (secret.metadata?.deletionTimestamp)
      throw new TokenRejected(`token ${secretName} has been deleted`)
    const stored = (secret.data as Record<string, string> | undefined)?.token
    if (!stored || decodeBase64(stored) !== token)
      throw new TokenRejected(`token does not match the token in secret ${ns}/${secretName}`)
    const sa = await readObject(store, objectKeys.serviceAccount(ns, saName))
    if (!sa) throw new TokenRejected(`serviceaccounts "${saName}" not found`)
    if (sa.metadata?.deletionTimestamp)
      throw new TokenRejected(`service account ${ns}/${saName} has been deleted`)
    if (sa.metadata?.uid !== saUid)
      throw new TokenRejected(
        `service account UID (${sa.metadata?.uid}) does not match claim (${saUid})`,
      )
    return {
      user: {
        username: serviceAccountUsername(ns, saName),
        uid: saUid,
        groups: serviceAccountGroups(ns),
      },
    }
  }
}

/** Go's %q of a []string: ["a" "b"]. */
export function goQuote(xs: string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`
}

export function decodeBase64(s: string): string {
  try {
    const bin = atob(s)
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0))
    return new TextDecoder().decode(bytes)
  } catch {
    return ''
  }
}

export function encodeBase64(s: string): string {
  const bytes = new TextEncoder().encode(s)
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin)
}

// External OpenID Connect identity providers (kube-apiserver's --oidc-* flags, plugin/pkg/authenticator/token/oidc):
// ID tokens from the configured issuer for the configured client id, verified against the issuer's JWKS
// (discovered from /.well-known/openid-configuration, fetched and cached with jose), mapped to a user through the
// username and groups claims and their prefixes.
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose'
import type { UserInfo } from '../registry/types'
import { goQuote } from './serviceaccount/tokens'
import { TokenRejected, type TokenAuthenticator } from './token'
import { errorText } from '../util/errors'

export interface OIDCOptions {
  issuerURL: string
  clientID: string
  /** --oidc-username-claim, default sub. */
  usernameClaim?: string
  /** --oidc-username-prefix; unset: "<issuer>#" unless the claim is email; "-": none. */
  usernamePrefix?: string
  groupsClaim?: string
  groupsPrefix?: string
  /** --oidc-required-claim key=value pairs. */
  requiredClaims?: Record<string, string>
  /** --oidc-signing-algs, default RS256. */
  signingAlgs?: string[]
  /** For tests and Node mode's custom CA: how to fetch the discovery document and keys. */
  fetch?: typeof fetch
}

type KeySet = ReturnType<typeof createRemoteJWKSet>

export class OIDCAuthenticator implements TokenAuthenticator {
  private keys?: Promise<KeySet>
  private readonly usernamePrefix: string

  constructor(readonly options: OIDCOptions) {
    const claim = options.usernameClaim ?? 'sub'
    const prefix = options.usernamePrefix
    this.usernamePrefix =
      prefix === '-'
        ? ''
        : prefix !== undefined && prefix !== ''
          ? prefix
          : claim === 'email'
            ? ''
            : `${options.issuerURL}#`
  }

  /** The issuer's JWKS, found through its discovery document once, then cached and refreshed by jose. */
  private keySet(): Promise<KeySet> {
    this.keys ??= (async () => {
      const doFetch = this.options.fetch ?? fetch
      const url = `${this.options.issuerURL.replace(/\/$/, '')}/.well-known/openid-configuration`
      const res = await doFetch(url, { headers: { accept: 'application/json' } })
      if (!res.ok) throw new Error(`fetching ${url}: ${res.status}`)
      const doc = (await res.json()) as { issuer?: string; jwks_uri?: string }
      if (doc.issuer !== this.options.issuerURL)
        throw new Error(
          `oidc: issuer did not match the issuer returned by provider, expected "${this.options.issuerURL}" got "${doc.issuer}"`,
        )
      if (!doc.jwks_uri) throw new Error('oidc: the provider has no jwks_uri')
      const f = this.options.fetch
      return createRemoteJWKSet(
        new URL(doc.jwks_uri),
        f ? { [customFetch]: (url, init) => f(url, init) } : {},
      )
    })().catch((e) => {
      this.keys = undefined
      throw e
    })
    return this.keys
  }

  async authenticateToken(token: string): Promise<{ user: UserInfo } | undefined> {
    let unverified: JWTPayload
    try {
      unverified = decodeJwt(token)
    } catch {
      return undefined
    }
    if (unverified.iss !== this.options.issuerURL) return undefined
    let keys: KeySet
    try {
      keys = await this.keySet()
    } catch (e) {
      throw new TokenRejected(`oidc: authenticator not initialized: ${errorText(e)}`)
    }
    let claims: JWTPayload
    try {
      ;({ payload: claims } = await jwtVerify(token, keys, {
        issuer: this.options.issuerURL,
        audience: this.options.clientID,
        algorithms: this.options.signingAlgs ?? ['RS256'],
      }))
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired)
        throw new TokenRejected('oidc: verify token: oidc: token is expired')
      if (e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'aud') {
        const got = typeof unverified.aud === 'string' ? [unverified.aud] : (unverified.aud ?? [])
        throw new TokenRejected(
          `oidc: verify token: oidc: expected audience "${this.options.clientID}" got ${goQuote(got)}`,
        )
      }
      throw new TokenRejected(`oidc: verify token: ${errorText(e)}`)
    }
    for (const [k, v] of Object.entries(this.options.requiredClaims ?? {})) {
      if (!(k in claims))
        throw new TokenRejected(`oidc: required claim ${k} not present in ID token`)
      if (claims[k] !== v)
        throw new TokenRejected(
          `oidc: required claim ${k}'s value doesn't match. Expected: ${v}, Got: ${String(claims[k])}`,
        )
    }
    const claim = this.options.usernameClaim ?? 'sub'
    const username = claims[claim]
    if (typeof username !== 'string')
      throw new TokenRejected(`oidc: parse username claims "${claim}": claim not present`)
    if (claim === 'email' && 'email_verified' in claims && claims.email_verified !== true)
      throw new TokenRejected('oidc: email not verified')
    const user: UserInfo = { username: this.usernamePrefix + username, groups: [] }
    const gc = this.options.groupsClaim
    if (gc && gc in claims) {
      const raw = claims[gc]
      const groups =
        typeof raw === 'string'
          ? [raw]
          : Array.isArray(raw) && raw.every((g) => typeof g === 'string')
            ? (raw as string[])
            : undefined
      if (!groups)
        throw new TokenRejected(
          `oidc: parse groups claim "${gc}": claim is not a string or an array of strings`,
        )
      user.groups = groups.map((g) => (this.options.groupsPrefix ?? '') + g)
    }
    return { user }
  }
}

// Bearer token authenticators (k8s.io/apiserver/pkg/authentication/authenticator.Token) and the union of them
// that the request authenticator and TokenReview share.
import type { UserInfo } from '../registry/types'
import { bearerToken, type Authenticator } from '../server/filters/authentication'
import { errorText } from '../util/errors'

export interface TokenResult {
  user: UserInfo
  /** The audiences the token was valid for (those it shares with the ones asked for). */
  audiences?: string[]
}

export interface TokenAuthenticator {
  /**
   * undefined: not this authenticator's kind of token. A token of its kind that fails verification throws,
   * with a message safe to show in TokenReview status.error.
   */
  authenticateToken(token: string, audiences: string[]): Promise<TokenResult | undefined>
}

export class TokenRejected extends Error {
  override name = 'TokenRejected'
}

export interface TokenChainResult {
  result?: TokenResult
  errors: string[]
}

/** The union token authenticator: the first that accepts the token wins; failures are collected for TokenReview. */
export async function authenticateToken(
  chain: TokenAuthenticator[],
  token: string,
  audiences: string[],
): Promise<TokenChainResult> {
  const errors: string[] = []
  for (const a of chain) {
    try {
      const result = await a.authenticateToken(token, audiences)
      if (result) return { result, errors }
    } catch (e) {
      errors.push(errorText(e))
    }
  }
  return { errors }
}

/** The Authenticator for Authorization: Bearer headers over a token chain; rejections are logged, never the token. */
export function bearerAuthenticator(
  chain: TokenAuthenticator[],
  audiences: () => string[],
): Authenticator {
  return {
    async authenticate(req) {
      const token = bearerToken(req)
      if (!token) return undefined
      const { result, errors } = await authenticateToken(chain, token, audiences())
      if (!result && errors.length)
        console.warn(`Unable to authenticate the request: ${errors.join('; ')}`)
      return result?.user
    },
  }
}

/** --token-auth-file tokens: audience-agnostic, as kube-apiserver treats them. */
export function staticTokens(tokens: Map<string, UserInfo>): TokenAuthenticator {
  return {
    async authenticateToken(token) {
      const user = tokens.get(token)
      return user ? { user } : undefined
    },
  }
}

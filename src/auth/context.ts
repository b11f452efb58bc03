// What the server knows about authentication and authorization for one request, handed to the kinds that need
// it: the access reviews ask the authorizer, TokenReview the token authenticators, TokenRequest the issuer.
import type { Authorizer } from './authorizer'
import type { RuleResolver } from './rbac/authorizer'
import type { ServiceAccountTokens } from './serviceaccount/tokens'
import type { TokenChainResult } from './token'

export interface AuthContext {
  authorizer: Authorizer
  /** The RBAC rule resolver, when RBAC is among the authorization modes (escalation checks). */
  rbac?: RuleResolver
  /** The server's token authenticators, as TokenReview runs them. */
  authenticateToken?(token: string, audiences: string[]): Promise<TokenChainResult>
  /** The audiences a token must be for to authenticate to this server (--api-audiences). */
  apiAudiences?: string[]
  serviceAccountTokens?: ServiceAccountTokens
  /** The CA bundle written into legacy service account token Secrets (ca.crt). */
  rootCA?: string
}

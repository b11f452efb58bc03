// Webhook token authentication (--authentication-token-webhook-config-file): a TokenReview POSTed to a
// configured URL decides; answers are cached for the configured ttl (kube's default: two minutes).
import type { UserInfo } from '../registry/types'
import { TokenRejected, type TokenAuthenticator, type TokenResult } from './token'
import { errorText } from '../util/errors'

export interface WebhookTokenOptions {
  url: string
  /** Sent as Authorization: Bearer to the webhook. */
  bearerToken?: string
  cacheTTLms?: number
  timeoutMs?: number
  fetch?: typeof fetch
  /** --authentication-token-webhook-version (the TokenReview's shape is the same in both). Default v1. */
  version?: 'v1' | 'v1beta1'
}

interface TokenReviewStatus {
  authenticated?: boolean
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }
  audiences?: string[]
  error?: string
}

export class WebhookTokenAuthenticator implements TokenAuthenticator {
  private cache = new Map<string, { result: TokenResult | undefined; until: number }>()

  constructor(readonly options: WebhookTokenOptions) {}

  async authenticateToken(token: string, audiences: string[]): Promise<TokenResult | undefined> {
    const key = `${audiences.join(',')}\u0000${token}`
    const now = Date.now()
    const hit = this.cache.get(key)
    if (hit && hit.until > now) return hit.result

    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    }
    if (this.options.bearerToken) headers.authorization = `Bearer ${this.options.bearerToken}`
    const review = {
      apiVersion: `authentication.k8s.io/${this.options.version ?? 'v1'}`,
      kind: 'TokenReview',
      spec: { token, audiences },
    }
    let status: TokenReviewStatus
    try {
      const res = await (this.options.fetch ?? fetch)(this.options.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(review),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      })
      if (!res.ok) throw new Error(`the webhook answered ${res.status}`)
      status = ((await res.json()) as { status?: TokenReviewStatus }).status ?? {}
    } catch (e) {
      throw new TokenRejected(`webhook token authenticator: ${errorText(e)}`)
    }
    let result: TokenResult | undefined
    if (status.authenticated && status.user?.username) {
      const u = status.user
      const user: UserInfo = { username: u.username!, groups: u.groups ?? [] }
      if (u.uid) user.uid = u.uid
      if (u.extra && Object.keys(u.extra).length) user.extra = u.extra
      result = { user, audiences: status.audiences?.length ? status.audiences : audiences }
    }
    this.cache.set(key, { result, until: now + (this.options.cacheTTLms ?? 120_000) })
    if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value!)
    if (!result && status.error) throw new TokenRejected(status.error)
    return result
  }
}

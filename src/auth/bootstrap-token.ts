// Bootstrap tokens (plugin/pkg/auth/authenticator/token/bootstrap): "<id>.<secret>" matching a
// bootstrap.kubernetes.io/token Secret named bootstrap-token-<id> in kube-system that allows authentication and
// has not expired. The user is system:bootstrap:<id> in system:bootstrappers plus the Secret's auth-extra-groups.
import type { Store } from '../storage/store'
import { decodeBase64, readObject } from './serviceaccount/tokens'
import { TokenRejected, type TokenAuthenticator } from './token'

const TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/
const EXTRA_GROUP = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/
export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token'

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

export function bootstrapTokens(store: () => Store): TokenAuthenticator {
  return {
    async authenticateToken(token) {
      const m = TOKEN.exec(token)
      if (!m) return undefined
      const [, id, secretPart] = m
      const secret = await readObject(
        store(),
        `/registry/secrets/kube-system/bootstrap-token-${id}`,
      )
      if (
        !secret ||
        secret.metadata?.deletionTimestamp ||
        secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE
      )
        return undefined
      const raw = (secret.data ?? {}) as Record<string, string>
      const data = (k: string) => (raw[k] === undefined ? '' : decodeBase64(raw[k]))
      if (!constantTimeEqual(data('token-secret'), secretPart) || data('token-id') !== id)
        return undefined
      const expiration = data('expiration')
      if (expiration && !(Date.parse(expiration) > Date.now())) return undefined
      if (data('usage-bootstrap-authentication') !== 'true') return undefined
      const extra = data('auth-extra-groups')
        .split(',')
        .map((g) => g.trim())
        .filter(Boolean)
      for (const g of extra) {
        if (!EXTRA_GROUP.test(g))
          throw new TokenRejected(
            `bootstrap-token-${id}: auth-extra-groups contains an invalid group name "${g}"`,
          )
      }
      return {
        user: { username: `system:bootstrap:${id}`, groups: ['system:bootstrappers', ...extra] },
      }
    },
  }
}

// Authenticators in a chain (kube-apiserver's union authenticator): the first that recognises the
// credential decides; a credential nobody accepts is 401, never a fall-through to anonymous.
import type { Context, MiddlewareHandler } from 'hono'
import { respondError } from '../../api/negotiation'
import type { RequestAudit } from '../../audit/request'
import type { AuthContext } from '../../auth/context'
import { compressUsername, type ApiserverMetrics } from '../../metrics/apiserver'
import type { UserInfo } from '../../registry/types'
import { unauthorized } from '../errors'

export interface Authenticator {
  /** undefined: this authenticator does not recognise the credential. Throws nothing for bad input. */
  authenticate(req: Request): Promise<UserInfo | undefined>
  /** The request carries this authenticator's kind of credential (a client certificate, X-Remote-User), so
   * that if nobody accepts it the answer is 401 rather than anonymous. Bearer tokens are always one. */
  presented?(req: Request): boolean
}

export interface AuthenticationResult {
  user?: UserInfo
  /** A credential was presented and none of the authenticators accepted it. */
  rejected: boolean
  /** The request carried a credential (for authentication_attempts: a refused one is an "error"). */
  presented?: boolean
}

export async function authenticateRequest(
  req: Request,
  chain: Authenticator[],
  anonymous: boolean,
): Promise<AuthenticationResult> {
  const hasCredential =
    (req.headers.get('authorization') ?? '').trim() !== '' || chain.some((a) => a.presented?.(req))
  for (const a of chain) {
    const user = await a.authenticate(req)
    if (user) return { user: withAuthenticatedGroup(user), rejected: false, presented: true }
  }
  if (hasCredential) return { rejected: true, presented: true }
  if (anonymous)
    return {
      user: { username: 'system:anonymous', groups: ['system:unauthenticated'] },
      rejected: false,
    }
  return { rejected: true }
}

function withAuthenticatedGroup(user: UserInfo): UserInfo {
  return user.groups.includes('system:authenticated')
    ? user
    : { ...user, groups: [...user.groups, 'system:authenticated'] }
}

export function bearerToken(req: Request): string | undefined {
  const h = req.headers.get('authorization') ?? ''
  const m = /^Bearer\s+(.+)$/i.exec(h.trim())
  return m ? m[1].trim() : undefined
}

/**
 * The --token-auth-file format: CSV lines `token,user,uid,"group1,group2"`, blank lines and # comments ignored.
 */
export function parseTokenFile(text: string): Map<string, UserInfo> {
  const tokens = new Map<string, UserInfo>()
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const fields = parseCsvLine(line)
    if (fields.length < 3)
      throw new Error(`token file: line "${line.slice(0, 20)}..." has fewer than 3 fields`)
    const [token, username, uid, groups] = fields
    tokens.set(token, {
      username,
      uid,
      groups: groups
        ? groups
            .split(',')
            .map((g) => g.trim())
            .filter(Boolean)
        : [],
    })
  }
  return tokens
}

function parseCsvLine(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"'
        i++
      } else if (ch === '"') quoted = false
      else cur += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  out.push(cur)
  return out
}

export class TokenFileAuthenticator implements Authenticator {
  constructor(private readonly tokens: Map<string, UserInfo>) {}
  async authenticate(req: Request): Promise<UserInfo | undefined> {
    const token = bearerToken(req)
    return token ? this.tokens.get(token) : undefined
  }
}

export interface AuthenticationOptions {
  /** The request's cluster's authenticators, in kube-apiserver's order. */
  authenticators(c: Context): Authenticator[]
  /** --anonymous-auth of the request's cluster. */
  anonymous(c: Context): boolean
  /** The authorizer and the rest of the auth machinery of the request's cluster. */
  authContext(c: Context): AuthContext | Promise<AuthContext>
  /** The series of the request's cluster, which its authentication metrics go to. */
  metrics(c: Context): ApiserverMetrics
}

type AuthenticationVariables = { user: UserInfo; auth: AuthContext; audit?: RequestAudit }

/**
 * WithAuthentication: the user the request's credential names (anonymous when it has none and the cluster
 * allows it), else kube's 401 Status; with its metrics, and the audit event begun for that user. Sets the
 * cluster's auth machinery for the filters after it.
 */
export function withAuthentication(
  o: AuthenticationOptions,
): MiddlewareHandler<{ Variables: AuthenticationVariables }> {
  return async (c, next) => {
    const started = performance.now()
    const auth = await authenticateRequest(c.req.raw, o.authenticators(c), o.anonymous(c))
    // WithAuthentication's metrics: "error" when a credential was refused, "failure" when there was none.
    const result = auth.user ? 'success' : auth.presented ? 'error' : 'failure'
    const metrics = o.metrics(c)
    metrics.authenticationAttempts.inc([result])
    metrics.authenticationDuration.observe([result], (performance.now() - started) / 1000)
    if (!auth.user) return respondError(unauthorized(), c.req.header('accept'))
    c.get('audit')?.begin(auth.user)
    metrics.authenticatedUserRequests.inc([compressUsername(auth.user.username)])
    c.set('user', auth.user)
    c.set('auth', await o.authContext(c))
    await next()
  }
}

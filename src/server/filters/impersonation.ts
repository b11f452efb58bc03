// The impersonation filter (k8s.io/apiserver's WithImpersonation): Impersonate-User, -Group, -Uid and
// -Extra-<key> headers switch the request's user once the requester is allowed to impersonate each of them.
import type { MiddlewareHandler } from 'hono'
import { forbiddenError, type Attributes, type Authorizer } from '../../auth/authorizer'
import {
  serviceAccountGroups,
  serviceAccountUsername,
  splitServiceAccountUsername,
} from '../../auth/rbac/rules'
import type { UserInfo } from '../../registry/types'
import { StatusError } from '../errors'

const USER = 'impersonate-user'
const GROUP = 'impersonate-group'
const UID = 'impersonate-uid'
const EXTRA_PREFIX = 'impersonate-extra-'

interface ImpersonationRequest {
  kind: 'ServiceAccount' | 'User' | 'Group' | 'UserExtra' | 'UID'
  name: string
  namespace?: string
  extraKey?: string
}

/** All values of a header: Fetch joins repeated headers with ", ", which is how Go's Header holds them too. */
function headerValues(headers: Headers, name: string): string[] {
  const v = headers.get(name)
  if (v === null) return []
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/** Extra keys arrive percent-encoded in header names (kubectl escapes what a header name may not carry). */
function unescapeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key)
  } catch {
    return key
  }
}

export function impersonationRequests(
  headers: Headers,
  names: Iterable<string> = headers.keys(),
): ImpersonationRequest[] {
  const out: ImpersonationRequest[] = []
  const requestedUser = headers.get(USER) ?? ''
  if (requestedUser) {
    const sa = splitServiceAccountUsername(requestedUser)
    out.push(
      sa
        ? { kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace }
        : { kind: 'User', name: requestedUser },
    )
  }
  const groups = headerValues(headers, GROUP)
  for (const g of groups) out.push({ kind: 'Group', name: g })
  let hasExtra = false
  for (const name of extraHeaderNames(names)) {
    hasExtra = true
    const key = unescapeExtraKey(name.toLowerCase().slice(EXTRA_PREFIX.length))
    for (const value of headerValues(headers, name))
      out.push({ kind: 'UserExtra', name: value, extraKey: key })
  }
  const uid = headers.get(UID) ?? ''
  if (uid) out.push({ kind: 'UID', name: uid })
  if ((groups.length || hasExtra || uid) && !requestedUser) {
    const described = out.map((r) => `{${r.kind} ${r.namespace ?? ''} ${r.name}}`).join(' ')
    throw new StatusError(
      500,
      'InternalError',
      `Internal error occurred: requested [${described}] without impersonating a user`,
    )
  }
  return out
}

/** The Impersonate-Extra- header names, lower case, once each, in the order Fetch's Headers lists them. */
function extraHeaderNames(names: Iterable<string>): string[] {
  const out = new Set<string>()
  for (const name of names) {
    const lower = name.toLowerCase()
    if (lower.startsWith(EXTRA_PREFIX)) out.add(lower)
  }
  return [...out].sort()
}

/**
 * The request's header names without building Fetch's Headers: @hono/node-server answers get() from
 * Node's own header table and builds an undici Headers (every header appended, then sorted) the first
 * time names are listed, a few percent of a request's CPU for a check that almost always finds none.
 */
function headerNames(c: { env: unknown; req: { raw: Request } }): Iterable<string> {
  const raw = (c.env as { incoming?: { rawHeaders?: unknown } } | undefined)?.incoming?.rawHeaders
  if (!Array.isArray(raw)) return c.req.raw.headers.keys()
  return raw.filter((_, i) => i % 2 === 0) as string[]
}

/** The user the request acts as: the authenticated one, or whom it impersonates once each part is authorized. */
export async function impersonate(
  headers: Headers,
  requestor: UserInfo,
  authorizer: Authorizer,
  names?: Iterable<string>,
): Promise<UserInfo> {
  const requests = impersonationRequests(headers, names)
  if (!requests.length) return requestor
  // Groups given explicitly are the whole truth (system:authenticated included or not); a service account
  // without them gets its fixed groups.
  const groupsSpecified = headerValues(headers, GROUP).length > 0
  let username = ''
  let uid = ''
  const groups: string[] = []
  const extra: Record<string, string[]> = {}
  for (const r of requests) {
    const a: Attributes = {
      user: requestor,
      verb: 'impersonate',
      isResourceRequest: true,
      path: '',
      apiGroup: r.kind === 'UserExtra' || r.kind === 'UID' ? 'authentication.k8s.io' : '',
      apiVersion: 'v1',
      namespace: r.namespace ?? '',
      resource: '',
      subresource: '',
      name: r.name,
    }
    switch (r.kind) {
      case 'ServiceAccount':
        a.resource = 'serviceaccounts'
        username = serviceAccountUsername(r.namespace!, r.name)
        if (!groupsSpecified) groups.push(...serviceAccountGroups(r.namespace!))
        break
      case 'User':
        a.resource = 'users'
        username = r.name
        break
      case 'Group':
        a.resource = 'groups'
        groups.push(r.name)
        break
      case 'UserExtra':
        a.resource = 'userextras'
        a.subresource = r.extraKey!
        ;(extra[r.extraKey!] ??= []).push(r.name)
        break
      case 'UID':
        a.resource = 'uids'
        uid = r.name
        break
    }
    const { decision, reason } = await authorizer.authorize(a)
    if (decision !== 'Allow') throw forbiddenError(a, reason)
  }
  if (username !== 'system:anonymous') {
    if (!groups.includes('system:authenticated') && !groups.includes('system:unauthenticated'))
      groups.push('system:authenticated')
  } else if (!groups.includes('system:unauthenticated')) {
    groups.push('system:unauthenticated')
  }
  const user: UserInfo = { username, groups }
  if (uid) user.uid = uid
  if (Object.keys(extra).length) user.extra = extra
  return user
}

type ImpersonationVariables = {
  user: UserInfo
  auth: { authorizer: Authorizer }
  audit?: { impersonated(user: UserInfo): void }
}

/** WithImpersonation: the request acts as the user its Impersonate-* headers name, once each is allowed. */
export function withImpersonation(): MiddlewareHandler<{ Variables: ImpersonationVariables }> {
  return async (c, next) => {
    const requestor = c.get('user')
    const user = await impersonate(
      c.req.raw.headers,
      requestor,
      c.get('auth').authorizer,
      headerNames(c),
    )
    if (user !== requestor) {
      c.get('audit')?.impersonated(user)
      c.set('user', user)
    }
    await next()
  }
}

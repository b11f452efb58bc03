// Client certificates at the edge and the front proxy that may vouch for users.
// Cloudflare's mTLS (API Shield / Access) verifies the certificate and hands its details to the Worker as
// request.cf.tlsClientAuth; as kube-apiserver's x509 authenticator does, the subject's CN is the user and its
// O values are the groups. A front proxy (--requestheader-*) is trusted only when its own verified certificate
// has an allowed CN; then X-Remote-User/-Group/-Uid/-Extra-* name the user. Anyone else sending those headers
// gets 401, never a wider identity.
import type { UserInfo } from '../registry/types'
import type { Authenticator } from '../server/filters/authentication'

export interface TLSClientAuth {
  certPresented?: string
  certVerified?: string
  certRevoked?: string
  certSubjectDN?: string
  certSubjectDNRFC2253?: string
  certIssuerDN?: string
  certIssuerDNRFC2253?: string
}

export function tlsClientAuth(req: Request): TLSClientAuth | undefined {
  const cf = (req as Request & { cf?: { tlsClientAuth?: TLSClientAuth } }).cf
  return cf?.tlsClientAuth ?? undefined
}

/** An RFC 2253 distinguished name as attribute/value pairs (escaped commas, plus signs and quotes honoured). */
export function parseDN(dn: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  let cur = ''
  const parts: string[] = []
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i]
    if (ch === '\\' && i + 1 < dn.length) {
      cur += dn[++i]
      continue
    }
    if (ch === ',' || ch === '+') {
      parts.push(cur)
      cur = ''
      continue
    }
    cur += ch
  }
  parts.push(cur)
  for (const p of parts) {
    const eq = p.indexOf('=')
    if (eq <= 0) continue
    out.push([p.slice(0, eq).trim().toUpperCase(), p.slice(eq + 1).trim()])
  }
  return out
}

function subjectOf(auth: TLSClientAuth): { cn: string; orgs: string[] } {
  const dn = parseDN(auth.certSubjectDNRFC2253 || auth.certSubjectDN || '')
  return {
    cn: dn.find(([k]) => k === 'CN')?.[1] ?? '',
    orgs: dn.filter(([k]) => k === 'O').map(([, v]) => v),
  }
}

/** A certificate Cloudflare verified, not revoked, from an allowed issuer (when issuers are configured). */
function verified(auth: TLSClientAuth | undefined, issuerDNs: string[] | undefined): boolean {
  if (
    !auth ||
    auth.certPresented !== '1' ||
    auth.certVerified !== 'SUCCESS' ||
    auth.certRevoked === '1'
  )
    return false
  if (issuerDNs?.length && !issuerDNs.includes(auth.certIssuerDNRFC2253 || auth.certIssuerDN || ''))
    return false
  return true
}

export interface ClientCertOptions {
  /** Accept certificates from these issuers only (RFC 2253 DNs); unset: whatever Cloudflare's mTLS trusts. */
  issuerDNs?: string[]
}

/** The x509 authenticator over Cloudflare mTLS: a presented certificate that does not verify is 401. */
export class CloudflareClientCertAuthenticator implements Authenticator {
  constructor(readonly options: ClientCertOptions = {}) {}

  presented(req: Request): boolean {
    return tlsClientAuth(req)?.certPresented === '1'
  }

  async authenticate(req: Request): Promise<UserInfo | undefined> {
    const auth = tlsClientAuth(req)
    if (!verified(auth, this.options.issuerDNs)) {
      if (auth?.certPresented === '1')
        console.warn(
          `Unable to authenticate the request: client certificate not accepted (${auth.certVerified})`,
        )
      return undefined
    }
    const { cn, orgs } = subjectOf(auth!)
    if (!cn) return undefined
    return { username: cn, groups: orgs }
  }
}

export interface RequestHeaderOptions extends ClientCertOptions {
  /** --requestheader-allowed-names: the proxy certificate CNs to trust. Empty: no proxy is trusted. */
  allowedNames: string[]
  usernameHeaders?: string[]
  uidHeaders?: string[]
  groupHeaders?: string[]
  extraHeaderPrefixes?: string[]
}

const values = (headers: Headers, name: string) =>
  (headers.get(name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

export class RequestHeaderAuthenticator implements Authenticator {
  private readonly usernameHeaders: string[]
  private readonly uidHeaders: string[]
  private readonly groupHeaders: string[]
  private readonly extraPrefixes: string[]

  constructor(readonly options: RequestHeaderOptions) {
    const lower = (xs: string[] | undefined, d: string[]) =>
      (xs?.length ? xs : d).map((x) => x.toLowerCase())
    this.usernameHeaders = lower(options.usernameHeaders, ['x-remote-user'])
    this.uidHeaders = lower(options.uidHeaders, ['x-remote-uid'])
    this.groupHeaders = lower(options.groupHeaders, ['x-remote-group'])
    this.extraPrefixes = lower(options.extraHeaderPrefixes, ['x-remote-extra-'])
  }

  /** Any identity header counts as a credential: from an untrusted client it is refused, not ignored. */
  presented(req: Request): boolean {
    return this.usernameHeaders.some((h) => req.headers.has(h))
  }

  async authenticate(req: Request): Promise<UserInfo | undefined> {
    const username = this.usernameHeaders.map((h) => req.headers.get(h)?.trim()).find((v) => v)
    if (!username) return undefined
    const auth = tlsClientAuth(req)
    const proxy = verified(auth, this.options.issuerDNs) ? subjectOf(auth!).cn : ''
    if (!proxy || !this.options.allowedNames.includes(proxy)) {
      console.warn(
        `Unable to authenticate the request: ${this.usernameHeaders[0]} sent by a client that is not a trusted front proxy`,
      )
      return undefined
    }
    return this.fromHeaders(req)
  }

  /** The user the headers name, once the front proxy's certificate is trusted (by whoever checked it). */
  fromHeaders(req: Request): UserInfo | undefined {
    const username = this.usernameHeaders.map((h) => req.headers.get(h)?.trim()).find((v) => v)
    if (!username) return undefined
    const user: UserInfo = {
      username,
      groups: this.groupHeaders.flatMap((h) => values(req.headers, h)),
    }
    const uid = this.uidHeaders.map((h) => req.headers.get(h)?.trim()).find((v) => v)
    if (uid) user.uid = uid
    const extra: Record<string, string[]> = {}
    for (const [name, value] of req.headers) {
      const prefix = this.extraPrefixes.find((p) => name.toLowerCase().startsWith(p))
      if (!prefix) continue
      let key = name.toLowerCase().slice(prefix.length)
      try {
        key = decodeURIComponent(key)
      } catch {
        /* keep as sent */
      }
      ;(extra[key] ??= []).push(
        ...value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
    }
    if (Object.keys(extra).length) user.extra = extra
    return user
  }
}

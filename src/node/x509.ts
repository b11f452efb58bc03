// x509 client-certificate authentication (k8s.io/apiserver/pkg/authentication/request/x509): the TLS
// handshake verified the chain against --client-ca-file; the certificate's CN is the user name and its
// O values are the groups. The request reaches the app with the TLS socket in the node adapter's env.
import { X509Certificate } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { PeerCertificate, TLSSocket } from 'node:tls'
import type { RequestHeaderAuthenticator } from '../auth/client-cert'
import type { Authenticator } from '../server/filters/authentication'
import type { UserInfo } from '../registry/types'

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2'

/** The node adapter's bindings (@hono/node-server passes { incoming, outgoing } as the app's env). */
export interface NodeBindings {
  incoming: IncomingMessage
}

export function tlsSocket(env: unknown): TLSSocket | undefined {
  const socket = (env as NodeBindings | undefined)?.incoming?.socket as TLSSocket | undefined
  return socket && typeof socket.getPeerCertificate === 'function' ? socket : undefined
}

function peerCertificate(socket: TLSSocket | undefined): PeerCertificate | undefined {
  const cert = socket?.getPeerCertificate()
  return cert && Object.keys(cert).length > 0 ? cert : undefined
}

function values(v: string | string[] | undefined): string[] {
  if (v === undefined) return []
  return Array.isArray(v) ? v : [v]
}

/** The certificates of a PEM bundle (--client-ca-file, --requestheader-client-ca-file). */
export function certificateBundle(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (b) => new X509Certificate(b),
  )
}

/**
 * The handshake verified the peer's chain against every CA the server trusts (the client CA and the front
 * proxy's CA): which of them issued it decides what it may do, as kube verifies each against its own pool.
 */
function issuedByOneOf(socket: TLSSocket | undefined, cas: X509Certificate[]): boolean {
  if (!socket?.authorized || !cas.length) return false
  const leaf = socket.getPeerX509Certificate()
  if (!leaf) return false
  const cert = peerCertificate(socket)
  if (cert?.ext_key_usage !== undefined && !cert.ext_key_usage.includes(CLIENT_AUTH_OID))
    return false
  return cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))
}

/**
 * A client certificate was presented that does not verify against the client CA (another CA's, expired,
 * not for client auth), and is not a front proxy's naming a user: kube-apiserver answers 401 whatever
 * else the request carries (its x509 authenticator fails, which fails the union).
 */
export function rejectedClientCertificate(
  socket: TLSSocket | undefined,
  clientCAs: X509Certificate[],
  frontProxy?: NodeRequestHeaderAuthenticator,
): boolean {
  const cert = peerCertificate(socket)
  if (!cert) return false
  if (issuedByOneOf(socket, clientCAs)) return false
  return !frontProxy?.vouches()
}

export class ClientCertificateAuthenticator implements Authenticator {
  constructor(
    private readonly socket: TLSSocket | undefined,
    private readonly clientCAs: X509Certificate[],
  ) {}

  /** A certificate no CA of this authenticator issued is then a refused credential: 401, not anonymous. */
  presented(): boolean {
    return peerCertificate(this.socket) !== undefined
  }

  async authenticate(): Promise<UserInfo | undefined> {
    const cert = peerCertificate(this.socket)
    if (!cert || !issuedByOneOf(this.socket, this.clientCAs)) return undefined
    const [username] = values(cert.subject?.CN)
    if (!username) return undefined // CommonNameUserConversion: no CN, no user
    return { username, groups: values(cert.subject?.O) }
  }
}

export interface FrontProxyConfig {
  /** --requestheader-client-ca-file */
  cas: X509Certificate[]
  /** --requestheader-allowed-names; empty: any certificate from the CA. */
  allowedNames: string[]
  /** --requestheader-username-headers, lower case. */
  usernameHeaders: string[]
  /** Reads the user from the other --requestheader-* headers. */
  headers: RequestHeaderAuthenticator
}

/**
 * --requestheader-*: a client certificate from --requestheader-client-ca-file, with a CN in
 * --requestheader-allowed-names (any, when that is empty), lets the headers name the user
 * (k8s.io/apiserver/pkg/authentication/request/headerrequest).
 */
export class NodeRequestHeaderAuthenticator implements Authenticator {
  constructor(
    private readonly incoming: IncomingMessage,
    private readonly cfg: FrontProxyConfig,
  ) {}

  private get socket(): TLSSocket | undefined {
    return tlsSocket({ incoming: this.incoming })
  }

  /** The peer is a front proxy this server trusts and it names a user. */
  vouches(): boolean {
    const named = this.cfg.usernameHeaders.some(
      (h) => String(this.incoming.headers[h] ?? '').trim() !== '',
    )
    if (!named || !issuedByOneOf(this.socket, this.cfg.cas)) return false
    const [cn] = values(peerCertificate(this.socket)?.subject?.CN)
    return !this.cfg.allowedNames.length || (cn !== undefined && this.cfg.allowedNames.includes(cn))
  }

  async authenticate(req: Request): Promise<UserInfo | undefined> {
    return this.vouches() ? this.cfg.headers.fromHeaders(req) : undefined
  }
}

// x509 client-certificate authentication (k8s.io/apiserver/pkg/authentication/request/x509): the TLS
// handshake verified the chain against --client-ca-file; the certificate's CN is the user name and its
// O values are the groups. The request reaches the app with the TLS socket in the node adapter's env.
import type { IncomingMessage } from 'node:http'
import type { PeerCertificate, TLSSocket } from 'node:tls'
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

/**
 * A client certificate was presented that does not verify against the client CA (another CA's, expired,
 * not for client auth): kube-apiserver answers 401 whatever else the request carries.
 */
export function rejectedClientCertificate(socket: TLSSocket | undefined): boolean {
  const cert = peerCertificate(socket)
  if (!cert) return false
  if (!socket!.authorized) return true
  return cert.ext_key_usage !== undefined && !cert.ext_key_usage.includes(CLIENT_AUTH_OID)
}

export class ClientCertificateAuthenticator implements Authenticator {
  constructor(private readonly socket: TLSSocket | undefined) {}

  async authenticate(): Promise<UserInfo | undefined> {
    const cert = peerCertificate(this.socket)
    if (!cert || !this.socket!.authorized || rejectedClientCertificate(this.socket)) return undefined
    const [username] = values(cert.subject?.CN)
    if (!username) return undefined // CommonNameUserConversion: no CN, no user
    return { username, groups: values(cert.subject?.O) }
  }
}

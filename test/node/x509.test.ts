// The generated PKI and x509 client-certificate authentication over a real TLS connection.
import { X509Certificate } from 'node:crypto'
import { request, createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCA, signCertificate, type KeyPair } from '../../src/node/pki'
import {
  ClientCertificateAuthenticator,
  rejectedClientCertificate,
  tlsSocket,
} from '../../src/node/x509'

let servingCA: KeyPair
let clientCA: KeyPair
let otherCA: KeyPair
let server: Server
let port: number

beforeAll(async () => {
  servingCA = createCA('serving-ca')
  clientCA = createCA('client-ca')
  otherCA = createCA('other-ca')
  const serving = signCertificate(servingCA, {
    subject: { commonName: 'kube-apiserver' },
    usage: 'server',
    hosts: ['localhost', '127.0.0.1'],
  })
  server = createServer(
    {
      key: serving.keyPem,
      cert: serving.certPem,
      ca: clientCA.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    async (req, res) => {
      const socket = tlsSocket({ incoming: req })
      const cas = [new X509Certificate(clientCA.certPem)]
      const user = await new ClientCertificateAuthenticator(socket, cas).authenticate()
      res.end(
        JSON.stringify({ user: user ?? null, rejected: rejectedClientCertificate(socket, cas) }),
      )
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  port = (server.address() as AddressInfo).port
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

function call(client?: KeyPair): Promise<{ user: unknown; rejected: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: servingCA.certPem,
        cert: client?.certPem,
        key: client?.keyPem,
      },
      (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve(JSON.parse(body)))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('generated certificates', () => {
  it('makes a CA and leaf certificates with the names and usages asked for', () => {
    const ca = new X509Certificate(servingCA.certPem)
    expect(ca.ca).toBe(true)
    expect(ca.subject).toBe('CN=serving-ca')
    const leaf = new X509Certificate(
      signCertificate(servingCA, {
        subject: { commonName: 'x' },
        usage: 'server',
        hosts: ['localhost', '10.96.0.1'],
      }).certPem,
    )
    expect(leaf.ca).toBe(false)
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:10.96.0.1')
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1'])
    expect(leaf.verify(ca.publicKey)).toBe(true)
    expect(leaf.checkIssued(ca)).toBe(true)
  })
})

describe('x509 client-certificate authentication', () => {
  it('takes the user from CN and the groups from O', async () => {
    const admin = signCertificate(clientCA, {
      subject: { commonName: 'jane', organizations: ['system:masters', 'devs'] },
      usage: 'client',
    })
    expect(await call(admin)).toEqual({
      user: { username: 'jane', groups: ['system:masters', 'devs'] },
      rejected: false,
    })
  })

  it('recognises nobody without a certificate', async () => {
    expect(await call()).toEqual({ user: null, rejected: false })
  })

  it('rejects a certificate from another CA, and one not meant for client auth', async () => {
    const stranger = signCertificate(otherCA, {
      subject: { commonName: 'mallory', organizations: ['system:masters'] },
      usage: 'client',
    })
    expect(await call(stranger)).toEqual({ user: null, rejected: true })
    const serverCert = signCertificate(clientCA, {
      subject: { commonName: 'svc' },
      usage: 'server',
      hosts: ['localhost'],
    })
    expect(await call(serverCert)).toEqual({ user: null, rejected: true })
  })
})

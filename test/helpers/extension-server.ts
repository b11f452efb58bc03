// Stand-ins for extension API servers, served by the tests on loopback HTTPS: not metrics-server or a
// k8s.io/apiserver build, but small servers answering what those answer, so that the aggregation layer is
// exercised by the real kubectl through the real server. Each records who the aggregator said the user was
// (the X-Remote-* headers, read line by line as Go's http.Header keeps them) and the client certificate it
// presented.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCA, signCertificate } from '../../src/node/pki'

type Obj = Record<string, any>

export interface SeenRequest {
  method: string
  path: string
  user?: string
  groups: string[]
  extra: Record<string, string[]>
  /** The CommonName of the client certificate presented, if one was. */
  clientCN?: string
  authorization?: string
  /** The names of the headers received, lower-cased. */
  headerNames: string[]
}

export interface ExtensionServer {
  port: number
  /** The serving CA, base64 PEM as an APIService's caBundle takes it. */
  caBundle: string
  seen: SeenRequest[]
  close(): Promise<void>
}

export type Handler = (
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
) => Obj | undefined | 'streaming'

/**
 * Serves `handle` with a certificate for 127.0.0.1 and <service>.<namespace>.svc from a fresh CA. The CA
 * also goes to NODE_EXTRA_CA_CERTS (the Worker's fetch cannot take a caBundle per call; `npm start` hands
 * it to workerd), so start it before the API server.
 */
export async function startExtensionServer(
  name: string,
  service: { namespace: string; name: string },
  handle: Handler,
): Promise<ExtensionServer> {
  const ca = createCA(`${name}-ca`)
  const leaf = signCertificate(ca, {
    subject: { commonName: name },
    usage: 'server',
    hosts: ['127.0.0.1', `${service.name}.${service.namespace}.svc`],
  })
  const dir = mkdtempSync(join(tmpdir(), `edge-${name}-`))
  writeFileSync(join(dir, 'ca.pem'), ca.certPem)
  const savedExtraCA = process.env.NODE_EXTRA_CA_CERTS
  // More than one stand-in: their CAs together.
  const bundle = join(dir, 'bundle.pem')
  writeFileSync(bundle, (savedExtraCA ? readFileSync(savedExtraCA, 'utf8') : '') + ca.certPem)
  process.env.NODE_EXTRA_CA_CERTS = bundle

  const seen: SeenRequest[] = []
  const server: Server = createServer(
    { key: leaf.keyPem, cert: leaf.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        const lines = (h: string) => {
          const out: string[] = []
          for (let i = 0; i < req.rawHeaders.length; i += 2)
            if (req.rawHeaders[i]!.toLowerCase() === h) out.push(req.rawHeaders[i + 1]!)
          return out
        }
        const extra: Record<string, string[]> = {}
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          const k = req.rawHeaders[i]!.toLowerCase()
          if (k.startsWith('x-remote-extra-'))
            (extra[decodeURIComponent(k.slice('x-remote-extra-'.length))] ??= []).push(
              req.rawHeaders[i + 1]!,
            )
        }
        const cert = (req.socket as TLSSocket).getPeerCertificate?.()
        seen.push({
          method: req.method ?? 'GET',
          path: req.url ?? '',
          user: lines('x-remote-user')[0],
          groups: lines('x-remote-group'),
          extra,
          clientCN: cert && cert.subject ? String(cert.subject.CN) : undefined,
          authorization: req.headers.authorization,
          headerNames: Object.keys(req.headers),
        })
        let answer: Obj | undefined | 'streaming'
        try {
          answer = handle(req, body, res)
        } catch (e) {
          res.writeHead(500, { 'content-type': 'text/plain' })
          res.end(String(e))
          return
        }
        if (answer === 'streaming') return
        if (answer === undefined) {
          res.writeHead(404, { 'content-type': 'application/json' })
          res.end(
            JSON.stringify({
              kind: 'Status',
              apiVersion: 'v1',
              status: 'Failure',
              message: 'the server could not find the requested resource',
              reason: 'NotFound',
              code: 404,
            }),
          )
          return
        }
        const status =
          typeof answer.code === 'number' && answer.kind === 'Status' ? answer.code : 200
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(answer))
      })
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  let closed = false
  return {
    port: (server.address() as AddressInfo).port,
    caBundle: Buffer.from(ca.certPem).toString('base64'),
    seen,
    async close() {
      if (closed) return
      closed = true
      await new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      })
      if (savedExtraCA === undefined) delete process.env.NODE_EXTRA_CA_CERTS
      else process.env.NODE_EXTRA_CA_CERTS = savedExtraCA
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The Service (no selector), its Endpoints at 127.0.0.1:<port> and the APIService that registers it. */
export function registration(
  ext: ExtensionServer,
  service: { namespace: string; name: string },
  group: string,
  version: string,
): Obj[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service.name, namespace: service.namespace },
      spec: { ports: [{ name: 'https', port: 443, targetPort: ext.port }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: service.name, namespace: service.namespace },
      subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: ext.port }] }],
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: `${version}.${group}` },
      spec: {
        group,
        version,
        service: { namespace: service.namespace, name: service.name, port: 443 },
        caBundle: ext.caBundle,
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ]
}

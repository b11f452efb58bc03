// A webhook served by the test on loopback HTTPS, for admission and conversion webhooks reached through the
// real server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCA, signCertificate } from '../../src/node/pki'

type Obj = Record<string, any>

export interface WebhookServer {
  /** https://127.0.0.1:port, without a path. */
  url: string
  /** The CA that signed the server's certificate, base64 PEM as a clientConfig's caBundle takes it. */
  caBundle: string
  /** Stops serving at once (the port refuses from then on) and undoes NODE_EXTRA_CA_CERTS; safe to call twice. */
  close(): Promise<void>
}

/**
 * Serves `handle` (the JSON request body and the URL path in, the JSON answer out) with a certificate from a
 * fresh CA. Start it before the API server: the CA is given to webhooks as caBundle (Node mode), but the
 * Worker's fetch cannot take a CA per call, so it also goes to the local runtime through NODE_EXTRA_CA_CERTS,
 * which `npm start` passes on to workerd when it starts.
 */
export async function startWebhookServer(
  name: string,
  handle: (body: Obj, path: string) => Obj,
): Promise<WebhookServer> {
  const ca = createCA(`${name}-webhook-ca`)
  const leaf = signCertificate(ca, {
    subject: { commonName: 'webhook' },
    usage: 'server',
    hosts: ['127.0.0.1'],
  })
  const dir = mkdtempSync(join(tmpdir(), `edge-${name}-webhook-`))
  writeFileSync(join(dir, 'ca.pem'), ca.certPem)
  const savedExtraCA = process.env.NODE_EXTRA_CA_CERTS
  process.env.NODE_EXTRA_CA_CERTS = join(dir, 'ca.pem')

  const server = createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const answer = handle(JSON.parse(body) as Obj, (req.url ?? '').split('?')[0])
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(answer))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))

  let closed = false
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caBundle: Buffer.from(ca.certPem).toString('base64'),
    async close() {
      if (closed) return
      closed = true
      await new Promise<void>((r) => {
        server.close(() => r())
        // Kept-alive connections would otherwise keep answering after close().
        server.closeAllConnections()
      })
      if (savedExtraCA === undefined) delete process.env.NODE_EXTRA_CA_CERTS
      else process.env.NODE_EXTRA_CA_CERTS = savedExtraCA
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

// Admission webhook calls in Node mode: HTTPS verified against the webhook's caBundle (the Worker's fetch can
// only use the platform's roots), with the Service's DNS name as the TLS server name for service references.
import { request } from 'node:https'
import type { WebhookFetch } from '../admission/webhook/client'

export const nodeWebhookFetch: WebhookFetch = (call) =>
  new Promise((resolve, reject) => {
    const url = new URL(call.url)
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, */*',
          'Content-Length': Buffer.byteLength(call.body),
        },
        // Without a caBundle, the system roots verify, as kube-apiserver does.
        ...(call.caBundle ? { ca: call.caBundle } : {}),
        ...(call.serverName ? { servername: call.serverName } : {}),
        signal: call.signal,
        timeout: call.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded')))
    req.on('error', (e: NodeJS.ErrnoException) => {
      // Go's wording for the usual transport failures, as kube's errors show them.
      if (e.code === 'ECONNREFUSED')
        reject(new Error(`dial tcp ${url.host}: connect: connection refused`))
      else if (
        e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
        e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
        e.code === 'SELF_SIGNED_CERT_IN_CHAIN'
      )
        reject(
          new Error(
            'tls: failed to verify certificate: x509: certificate signed by unknown authority',
          ),
        )
      else reject(e)
    })
    req.end(call.body)
  })

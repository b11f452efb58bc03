// edge-apiserver/testing: the edge server (src/worker.ts on workerd, the Durable Objects with SQLite) started
// on Miniflare from the calling Node process, for tests that want a real API server, as controller-runtime's
// envtest gives Go. It is `npm start` without wrangler's child process: the same wrangler.toml, the same
// state dir (src/node/dev-state.ts), the same listener in front of workerd (src/node/dev-front.ts).
// That listener runs on the caller's event loop: a synchronous call that waits on the server
// (execFileSync('kubectl', ...)) never gets its answer; run clients asynchronously.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { Server } from 'node:https'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { startDevFront } from '../dev-front'
import {
  ensureCredentials,
  workerEnv,
  writeAdminKubeconfig,
  type Kubeconfig,
  type ServerSettings,
} from '../dev-state'
import { workerBundle, workerConfig } from './worker'
import { clusterTools, type ClusterTools } from './clusters'

export type { Kubeconfig, ServerSettings }
export type { TestCluster, TestClusterAccess, TestUser, NewClusterOptions } from './clusters'

export interface StartOptions extends ServerSettings {
  /**
   * Where the credentials (admin token, tokens.csv for more users, service account key, pki/) and the admin
   * kubeconfig live, made on first use and kept: the layout of npm start's --state-dir. Default: a new
   * temporary directory, removed by dispose().
   */
  stateDir?: string
  /**
   * A directory for the Durable Objects' SQLite files, kept across servers started on it. Default: none,
   * a temporary one that dispose() removes. (wrangler dev --persist-to DIR, so npm start's state dir,
   * keeps them in DIR/v3/do: a server started on that directory serves the same clusters.)
   */
  persist?: string
  /** The loopback port to serve on. Default: any free one. */
  port?: number
  /**
   * "https" (the default) with the state dir's CA, as kube-apiserver always serves; "http" on loopback for
   * clients that cannot take a custom CA (the token is still required, as over HTTPS).
   */
  protocol?: 'https' | 'http'
  /** Each line the Worker logs (console.log, console.error, ...) as it comes, with its level. */
  onLog?: (line: string, level: string) => void
  /**
   * CA certificates (PEM) the Worker trusts beyond the public ones when it calls out: admission and audit
   * webhooks, aggregated APIs. Those in the file NODE_EXTRA_CA_CERTS names when start() is called are
   * trusted too, as a workerd started as a child process then would.
   */
  trustedCertificates?: string[]
}

/** Also: newCluster(), user(), loadCRDs(), kubeConfig() (./clusters.ts). */
export interface EdgeServer extends ClusterTools {
  /** https://127.0.0.1:port (or http://). */
  readonly url: string
  readonly port: number
  readonly stateDir: string
  /** The admin kubeconfig (system:masters, bearer token) as a file, for kubectl --kubeconfig... */
  readonly kubeconfigPath: string
  /** ...and as an object (KubeConfig.loadFromOptions takes it). */
  readonly kubeconfig: Kubeconfig
  /** The admin's bearer token. */
  readonly token: string
  /** The serving CA (PEM) that clients verify the server with over HTTPS. */
  readonly caCert: string
  /** What the Worker has logged so far, a line each. */
  readonly output: string
  /** Stops serving, stops workerd and removes what start() made for itself. */
  dispose(): Promise<void>
}

/** Starts a server and waits until it answers /readyz. */
export async function start(options: StartOptions = {}): Promise<EdgeServer> {
  const ownsStateDir = options.stateDir === undefined
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'edge-apiserver-'))
  const protocol = options.protocol ?? 'https'
  let front: Server | undefined
  let mf: Miniflare | undefined
  let output = ''
  let disposed: Promise<void> | undefined
  let tools: ReturnType<typeof clusterTools> | undefined
  const dispose = () =>
    (disposed ??= (async () => {
      tools?.close()
      if (front) {
        const closed = new Promise((r) => front!.close(r))
        front.closeAllConnections()
        await closed
      }
      await mf?.dispose()
      if (ownsStateDir) rmSync(stateDir, { recursive: true, force: true })
    })())

  try {
    const credentials = ensureCredentials(stateDir)
    // The listener first: the Worker is told the address clients reach it at (EXTERNAL_URL).
    let upstreamPort = 0
    front = await startDevFront({
      port: options.port ?? 0,
      ...(protocol === 'https'
        ? { key: credentials.serving.keyPem, cert: credentials.serving.certPem }
        : {}),
      upstreamPort: () => upstreamPort,
    })
    const port = (front.address() as AddressInfo).port
    const url = `${protocol}://127.0.0.1:${port}`
    const env = workerEnv(credentials, url, options)
    const { kubeconfigPath, kubeconfig } = writeAdminKubeconfig(credentials, url)

    const config = workerConfig()
    mf = new Miniflare({
      host: '127.0.0.1',
      port: 0,
      // No Request.cf download (wrangler dev is started with CLOUDFLARE_CF_FETCH_ENABLED=false too).
      cf: false,
      logRequests: false,
      // Without a directory, Miniflare keeps the objects' SQLite files in a temporary one of its own that
      // dispose() removes.
      durableObjectsPersist: options.persist ?? false,
      handleStructuredLogs: ({ level, message }: { level: string; message: string }) => {
        output += message + '\n'
        options.onLog?.(message, level)
      },
      workers: [
        {
          name: config.name,
          modules: [{ type: 'ESModule', path: 'worker.mjs', contents: await workerBundle() }],
          compatibilityDate: config.compatibilityDate,
          compatibilityFlags: config.compatibilityFlags,
          durableObjects: config.durableObjects,
          bindings: { ...config.vars, ...env },
          outboundService: {
            network: {
              // Miniflare's own outbound network, but for the CAs: it reads NODE_EXTRA_CA_CERTS once, when it
              // is imported, and a test sets it for the webhook servers it starts later.
              allow: ['public', 'private', '240.0.0.0/4'],
              deny: [],
              tlsOptions: {
                trustBrowserCas: true,
                trustedCertificates: [
                  ...extraCACertificates(),
                  ...(options.trustedCertificates ?? []),
                ],
              },
            },
          },
        },
      ],
    })
    upstreamPort = Number((await mf.ready).port)
    await untilReady(url, credentials.ca.certPem)
    tools = clusterTools(
      {
        server: url,
        ca: protocol === 'https' ? credentials.ca.certPem : undefined,
        token: credentials.token,
      },
      stateDir,
    )

    return {
      ...tools,
      url,
      port,
      stateDir,
      kubeconfigPath,
      kubeconfig,
      token: credentials.token,
      caCert: credentials.ca.certPem,
      get output() {
        return output
      },
      dispose,
    }
  } catch (e) {
    await dispose().catch(() => {})
    throw e
  }
}

function extraCACertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (!file) return []
  try {
    return (
      readFileSync(file, 'utf8').match(
        /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
      ) ?? []
    )
  } catch {
    return [] // as Node does with a file it cannot read
  }
}

/** Polls /readyz (as npm start does before it says it serves) until it answers 200. */
async function untilReady(url: string, ca: string): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    if ((await readyz(url, ca)) === 200) return
    if (Date.now() > deadline) throw new Error(`edge-apiserver at ${url} was not ready within 60s`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

function readyz(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsRequest : httpRequest
    const req = get(`${url}/readyz`, { ca, timeout: 5000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
    req.on('timeout', () => {
      req.destroy()
      resolve(0)
    })
    req.end()
  })
}

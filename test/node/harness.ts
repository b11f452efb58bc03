// Starts Node mode the way a user does (the built dist/node.js with kube-apiserver flags) and talks
// to it with the real kubectl, etcdctl, or a raw HTTPS request with a chosen client certificate.
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { createCA, signCertificate } from '../../src/node/pki'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import {
  freePort,
  httpsRequest,
  KUBECTL,
  run,
  type HttpsResponse,
  type RunResult,
} from '../helpers/process'

export const ROOT = resolve(__dirname, '..', '..')
export const ETCDCTL = process.env.ETCDCTL ?? 'etcdctl'
export { KUBECTL, run, type RunResult }

let built: Promise<void> | undefined

/** `npm run build:node`, once per test process. */
export function buildNode(): Promise<void> {
  built ??= run('npm', ['run', 'build:node', '--silent'], { cwd: ROOT, timeoutMs: 120_000 }).then(
    (r) => {
      if (r.code !== 0) throw new Error(`npm run build:node failed:\n${r.stdout}${r.stderr}`)
    },
  )
  return built
}

export interface ClientCert {
  cert: string
  key: string
}

export class NodeServer {
  private child?: ChildProcess
  private stopping = false
  output = ''
  readonly kubeconfig: string

  private constructor(
    readonly port: number,
    readonly stateDir: string,
    public args: string[],
    private readonly cwd = ROOT,
  ) {
    this.kubeconfig = join(stateDir, 'kubeconfig')
  }

  /**
   * Starts dist/node.js with exactly `args` (no flags of the harness's), in `cwd`, where the default
   * --state-dir (.local/node) then lands; `port` is the --secure-port among them.
   */
  static async startExactly(args: string[], port: number, cwd: string): Promise<NodeServer> {
    const server = new NodeServer(port, join(cwd, '.local', 'node'), args, cwd)
    await server.boot()
    return server
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`
  }

  /** Starts dist/node.js against etcd and waits until it says it serves (the kubeconfig is written by then). */
  static async start(
    etcdServers: string[],
    extra: string[] = [],
    stateDir = mkdtempSync(join(tmpdir(), 'edge-node-e2e-')),
  ): Promise<NodeServer> {
    const port = await freePort()
    const server = new NodeServer(port, stateDir, [
      `--etcd-servers=${etcdServers.join(',')}`,
      `--secure-port=${port}`,
      `--state-dir=${stateDir}`,
      ...extra,
    ])
    await server.boot()
    return server
  }

  async boot(): Promise<void> {
    await buildNode()
    this.output = ''
    this.stopping = false
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'node.js'), ...this.args], {
      cwd: this.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`Node mode did not become ready:\n${this.output}`)),
        60_000,
      )
      child.stdout!.on('data', (d) => {
        this.output += d
        if (/is serving at .*\n/.test(this.output)) {
          clearTimeout(timer)
          res()
        }
      })
      child.stderr!.on('data', (d) => (this.output += d))
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        rej(new Error(`Node mode exited with ${code}:\n${this.output}`))
        // After it was ready, an exit nobody asked for shows up in a later test as a refused
        // connection; the server's own last words are what explain it.
        if (!this.stopping)
          process.stderr.write(
            `Node mode exited unasked (code ${code}, signal ${signal}); its last output:\n${this.output.slice(-8000)}\n`,
          )
      })
    })
  }

  /** SIGTERM, and the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return child?.exitCode ?? null
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    this.stopping = true
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }

  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.stateDir, { recursive: true, force: true })
  }

  kubectl(...args: string[]): Promise<RunResult> {
    return run(KUBECTL, ['--kubeconfig', this.kubeconfig, ...args])
  }

  /** The serving CA and the admin's client certificate, from the written kubeconfig. */
  credentials(): { ca: string } & ClientCert {
    const cfg = parse(readFileSync(this.kubeconfig, 'utf8')) as {
      clusters: { cluster: { 'certificate-authority-data': string } }[]
      users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[]
    }
    const d = (s: string) => Buffer.from(s, 'base64').toString()
    return {
      ca: d(cfg.clusters[0]!.cluster['certificate-authority-data']),
      cert: d(cfg.users[0]!.user['client-certificate-data']),
      key: d(cfg.users[0]!.user['client-key-data']),
    }
  }

  /** One HTTPS request with a client certificate (or none), as this server's CA trusts it. */
  request(
    path: string,
    client?: ClientCert,
    opts: { method?: string; body?: unknown; ca?: string } = {},
  ): Promise<{ status: number; body: string }> {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body)
    return new Promise((res, rej) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method: opts.method ?? 'GET',
          ca: opts.ca ?? this.credentials().ca,
          cert: client?.cert,
          key: client?.key,
          headers:
            body === undefined
              ? {}
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (r) => {
          let body = ''
          r.on('data', (d) => (body += d))
          r.on('end', () => res({ status: r.statusCode ?? 0, body }))
          r.on('error', rej)
        },
      )
      req.on('error', rej)
      req.end(body)
    })
  }

  /** A watch stream: its lines as they come, and how it ended ('end' for a clean close). */
  watch(
    path: string,
    client: ClientCert & { ca?: string },
  ): { lines: string[]; ended: Promise<'end' | 'error'>; firstLine: Promise<void> } {
    const lines: string[] = []
    let first: () => void = () => {}
    const firstLine = new Promise<void>((r) => {
      first = r
    })
    const ended = new Promise<'end' | 'error'>((res) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          ca: client.ca ?? this.credentials().ca,
          cert: client.cert,
          key: client.key,
        },
        (r) => {
          let buf = ''
          r.on('data', (d) => {
            buf += d
            let i
            while ((i = buf.indexOf('\n')) >= 0) {
              lines.push(buf.slice(0, i))
              buf = buf.slice(i + 1)
              first()
            }
          })
          r.on('end', () => res('end'))
          r.on('error', () => res('error'))
          r.on('aborted', () => res('error'))
        },
      )
      req.on('error', () => res('error'))
      req.end()
    })
    return { lines, ended, firstLine }
  }
}

/**
 * test/e2e/harness.ts's LocalServer, over Node mode on an etcd of its own: lets the kubectl end-to-end
 * suite run unchanged against Node mode (test/node/kubectl-suite.test.ts).
 */
export class NodeModeLocalServer {
  readonly runtime = 'node' as const
  private constructor(
    private readonly etcd: EtcdCluster,
    private readonly server: NodeServer,
  ) {}

  static async start(_stateDir?: string, args: string[] = []): Promise<NodeModeLocalServer> {
    const etcd = await startEtcd()
    try {
      // kubeadm's --allow-privileged=true: the suites create privileged pods for PodSecurity to judge.
      return new NodeModeLocalServer(
        etcd,
        await NodeServer.start(etcd.endpoints, ['--allow-privileged=true', ...args]),
      )
    } catch (e) {
      await etcd.stop()
      throw e
    }
  }

  get kubeconfig(): string {
    return this.server.kubeconfig
  }
  /** What the server has printed so far. */
  get output(): string {
    return this.server.output
  }
  get url(): string {
    return this.server.url
  }
  get stateDir(): string {
    return this.server.stateDir
  }
  get port(): number {
    return this.server.port
  }

  boot(): Promise<void> {
    return this.server.boot()
  }
  async stop(): Promise<void> {
    await this.server.stop()
  }

  /** Stops and starts again on the same etcd and state dir, with these flags instead of the extra ones given before. */
  async restart(args: string[]): Promise<void> {
    await this.server.stop()
    this.server.args = [
      ...this.server.args.filter((a) => /^--(etcd-servers|secure-port|state-dir)=/.test(a)),
      ...args,
    ]
    await this.server.boot()
  }

  /** Every value the cluster holds in etcd now, as etcdctl prints them. */
  async storage(): Promise<Buffer> {
    const r = await run(ETCDCTL, [
      `--endpoints=${this.etcd.endpoints.join(',')}`,
      'get',
      '--prefix',
      '', // every key: kube's /registry and the other clusters' prefixes (src/node/tenants.ts)
    ])
    if (r.code !== 0) throw new Error(`etcdctl get failed: ${r.stderr}`)
    return Buffer.from(r.stdout)
  }

  async dispose(): Promise<void> {
    await this.server.destroy()
    await this.etcd.stop()
  }

  /**
   * A second server with this one's CA and credentials on an etcd of its own, into which `restore`
   * puts a snapshot before the server starts (etcd cannot be given revisions under a running server).
   */
  async restoredTwin(
    restore: (target: { kubeconfig?: string; etcdServers?: string[] }) => Promise<void>,
  ): Promise<NodeModeLocalServer> {
    const etcd = await startEtcd()
    try {
      await restore({ etcdServers: etcd.endpoints })
      const dir = mkdtempSync(join(tmpdir(), 'edge-node-e2e-'))
      cpSync(this.server.stateDir, dir, { recursive: true })
      const args = this.server.args.filter(
        (a) => !/^--(etcd-servers|secure-port|state-dir)=/.test(a),
      )
      return new NodeModeLocalServer(etcd, await NodeServer.start(etcd.endpoints, args, dir))
    } catch (e) {
      await etcd.stop()
      throw e
    }
  }

  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(KUBECTL, ['--kubeconfig', this.kubeconfig, ...args], opts)
  }

  async k(...args: string[]): Promise<string> {
    const r = await this.kubectl(args)
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.stdout
  }

  /**
   * A raw HTTPS request as the admin, by client certificate; with an Authorization header of the
   * caller's, without the certificate (x509 comes first in kube-apiserver's authenticator chain).
   */
  request(
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<HttpsResponse> {
    const creds = this.server.credentials()
    const asCaller = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')
    return httpsRequest({
      port: this.port,
      method,
      path,
      ca: creds.ca,
      ...(asCaller ? {} : { cert: creds.cert, key: creds.key }),
      body,
      headers,
    })
  }

  /** Writes a file (a manifest, say) into the state dir and returns its path. */
  file(name: string, text: string): string {
    const p = join(this.stateDir, name)
    writeFileSync(p, text)
    return p
  }
}

/**
 * kube-apiserver's aggregator flags as kubeadm sets them: --enable-aggregator-routing (extension servers
 * reached at their Endpoints on loopback) and a front-proxy client certificate (CN front-proxy-client,
 * signed by a CA of its own) for --proxy-client-cert-file/--proxy-client-key-file.
 */
export function aggregatorFlags(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'edge-front-proxy-'))
  const ca = createCA('front-proxy-ca')
  const client = signCertificate(ca, {
    subject: { commonName: 'front-proxy-client' },
    usage: 'client',
  })
  writeFileSync(join(dir, 'front-proxy-client.crt'), client.certPem)
  writeFileSync(join(dir, 'front-proxy-client.key'), client.keyPem)
  return [
    '--enable-aggregator-routing=true',
    `--proxy-client-cert-file=${join(dir, 'front-proxy-client.crt')}`,
    `--proxy-client-key-file=${join(dir, 'front-proxy-client.key')}`,
  ]
}

// A real etcd for tests: /usr/bin/etcd on free loopback ports with a temporary data dir, stopped
// (and its data removed) by stop(). Members of a cluster share one initial-cluster line.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { freePort } from './process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd'

export interface EtcdMember {
  name: string
  /** http://127.0.0.1:<port> (https:// with TLS) */
  clientUrl: string
  peerUrl: string
  dataDir: string
  /** SIGKILL, keeping the data dir (a crash). */
  kill(): Promise<void>
  /** Starts it again on the same ports and data. */
  start(): Promise<void>
}

export interface EtcdCluster {
  members: EtcdMember[]
  /** Every member's client URL. */
  endpoints: string[]
  stop(): Promise<void>
}

export interface EtcdOptions {
  members?: number
  /** etcd's --experimental-watch-progress-notify-interval (etcd's default is 10m). */
  progressNotifyInterval?: string
  /** Serve clients over TLS with this certificate, and require client certificates from this CA. */
  tls?: { certFile: string; keyFile: string; clientCAFile: string }
}

/** A free loopback TCP port (bound once and released; etcd binds it right after). */
class Member implements EtcdMember {
  private proc: ChildProcess | undefined
  private output = ''

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly args: string[],
    /** Plain HTTP /health, also when clients need TLS. */
    private readonly metricsUrl: string,
  ) {}

  async start(): Promise<void> {
    this.output = ''
    const proc = spawn(ETCD_BIN, this.args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8_000)
    }
    proc.stdout!.on('data', keep)
    proc.stderr!.on('data', keep)
    // No skip when etcd is missing, on CI or off it: Node mode is half of what npm test checks.
    proc.on('error', (e: NodeJS.ErrnoException) => {
      this.output += `\n${e.message}`
      if (e.code === 'ENOENT')
        this.output += `\nNode-mode tests need etcd: apt-get install etcd-server, or set ETCD_BIN`
    })
    await this.waitHealthy()
  }

  async kill(): Promise<void> {
    const p = this.proc
    this.proc = undefined
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve())
      p.kill('SIGKILL')
    })
  }

  private async waitHealthy(): Promise<void> {
    const deadline = Date.now() + 30_000
    for (;;) {
      const p = this.proc
      if (!p || p.exitCode !== null || p.signalCode !== null)
        throw new Error(`etcd ${this.name} exited before it was ready:\n${this.output}`)
      try {
        const res = await fetch(`${this.metricsUrl}/health`)
        const body = (await res.json()) as { health?: string }
        if (res.ok && body.health === 'true') return
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline)
        throw new Error(
          `etcd ${this.name} at ${this.clientUrl} did not become healthy within 30s:\n${this.output}`,
        )
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/**
 * A new etcd cluster on free loopback ports. A port found free can be taken by another test file's
 * process before etcd binds it: then the cluster starts again on other ports.
 */
export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnPorts(opts)
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(String(e))) throw e
    }
  }
}

async function startEtcdOnPorts(opts: EtcdOptions): Promise<EtcdCluster> {
  const n = opts.members ?? 1
  const root = mkdtempSync(join(tmpdir(), 'edge-etcd-'))
  const specs: { name: string; client: number; peer: number; metrics: number }[] = []
  for (let i = 0; i < n; i++)
    specs.push({
      name: `m${i}`,
      client: await freePort(),
      peer: await freePort(),
      metrics: await freePort(),
    })
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',')
  const members = specs.map((s) => {
    const clientUrl = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${s.client}`
    const metricsUrl = `http://127.0.0.1:${s.metrics}`
    const peerUrl = `http://127.0.0.1:${s.peer}`
    const dataDir = join(root, s.name)
    const args = [
      '--name',
      s.name,
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      root,
      '--listen-metrics-urls',
      metricsUrl,
      '--logger',
      'zap',
      '--log-level',
      'error',
    ]
    if (opts.tls) {
      args.push(
        '--cert-file',
        opts.tls.certFile,
        '--key-file',
        opts.tls.keyFile,
        '--client-cert-auth',
        '--trusted-ca-file',
        opts.tls.clientCAFile,
      )
    }
    if (opts.progressNotifyInterval)
      args.push('--experimental-watch-progress-notify-interval', opts.progressNotifyInterval)
    return new Member(s.name, clientUrl, peerUrl, dataDir, args, metricsUrl)
  })
  const stop = async () => {
    for (const m of members) await m.kill()
    rmSync(root, { recursive: true, force: true })
  }
  try {
    // Members of a new cluster wait for each other: start them together.
    await Promise.all(members.map((m) => m.start()))
  } catch (e) {
    await stop()
    throw e
  }
  return { members, endpoints: members.map((m) => m.clientUrl), stop }
}

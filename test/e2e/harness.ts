// Starts the edge server as a user or a test does and drives it with the real kubectl: LocalServer runs it
// in this process through edge-apiserver/testing (Miniflare), NpmStartServer as `npm start` does, a
// process tree of its own, for the tests of npm start itself. Both keep npm start's state dir layout.
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { settingsFromArgs } from '../../src/node/dev-state'
import { start, type EdgeServer } from '../../src/node/testing'
import {
  backgroundKubectl,
  freePort,
  httpsRequest,
  KUBECTL,
  portForward,
  run,
  type HttpsResponse,
  type RunResult,
} from '../helpers/process'

const ROOT = resolve(__dirname, '..', '..')
export { backgroundKubectl, KUBECTL, portForward, run, freePort, type RunResult }

/** What both ways of starting the edge server share: a state dir, its credentials, kubectl. */
abstract class StateDirServer {
  /** Which runtime serves: a test of a runtime's own limits asserts what each one answers. */
  readonly runtime: 'workerd' | 'node' = 'workerd'
  readonly kubeconfig: string
  readonly url: string

  /** npm start's flags beyond --port and --state-dir (restart() changes them). */
  protected args: string[] = []

  constructor(
    readonly port: number,
    readonly stateDir: string,
    private readonly ownsStateDir: boolean,
  ) {
    this.kubeconfig = join(stateDir, 'kubeconfig')
    this.url = `https://127.0.0.1:${port}`
  }

  /** What the Worker (and, under npm start, wrangler) has printed since the last boot. */
  abstract readonly output: string
  abstract boot(): Promise<void>
  abstract stop(): Promise<void>
  /** A server of the same kind on another port and state dir. */
  protected abstract twin(port: number, stateDir: string): StateDirServer

  /** Stops and starts again on the same state, with these flags. */
  async restart(args: string[]): Promise<void> {
    await this.stop()
    this.args = args
    await this.boot()
  }

  /**
   * Every byte the cluster's store holds at rest: the Durable Object's SQLite files (and their write-ahead
   * logs) under the state dir, as they lie on disk.
   */
  async storage(): Promise<Buffer> {
    const dir = join(this.stateDir, 'workerd')
    return Buffer.concat(
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => readFileSync(join(e.parentPath, e.name))),
    )
  }

  async dispose(): Promise<void> {
    await this.stop()
    if (this.ownsStateDir) rmSync(this.stateDir, { recursive: true, force: true })
  }

  /**
   * A second server with this one's CA and credentials and an empty cluster of its own (a fresh Durable
   * Object), into which `restore` puts a snapshot through the server's kubeconfig.
   */
  async restoredTwin(
    restore: (target: { kubeconfig?: string; etcdServers?: string[] }) => Promise<void>,
  ): Promise<StateDirServer> {
    const dir = mkdtempSync(join(tmpdir(), 'edge-apiserver-e2e-'))
    cpSync(this.stateDir, dir, {
      recursive: true,
      filter: (src) => !/[/\\](workerd|logs)$/.test(src),
    })
    const twin = this.twin(await freePort(), dir)
    twin.args = this.args
    await twin.boot()
    await restore({ kubeconfig: twin.kubeconfig })
    return twin
  }

  /** A raw HTTPS request as the admin (or with the given headers), for what kubectl checks client-side. */
  request(
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<HttpsResponse> {
    const token = readFileSync(join(this.stateDir, 'admin-token'), 'utf8').trim()
    const ca = readFileSync(join(this.stateDir, 'pki', 'ca.crt'))
    return httpsRequest({
      port: this.port,
      method,
      path,
      ca,
      body,
      headers: { Authorization: `Bearer ${token}`, ...headers },
    })
  }

  /** Writes a file (a manifest, say) into the state dir and returns its path. */
  file(name: string, text: string): string {
    const p = join(this.stateDir, name)
    writeFileSync(p, text)
    return p
  }

  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(KUBECTL, ['--kubeconfig', this.kubeconfig, ...args], opts)
  }

  /** kubectl that must succeed; returns stdout. */
  async k(...args: string[]): Promise<string> {
    const r = await this.kubectl(args)
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.stdout
  }
}

/**
 * The edge server in this process (edge-apiserver/testing on Miniflare), on a state dir laid out as npm
 * start's, its Durable Objects' SQLite files where wrangler dev keeps them (<state-dir>/workerd/v3/do) so
 * that it restarts on them; npm start's flags as arguments.
 */
export class LocalServer extends StateDirServer {
  private server?: EdgeServer
  private lastOutput = ''

  /** Starts on a free port with a fresh (or the given) state dir and waits until it answers. */
  static async start(stateDir?: string, args: string[] = []): Promise<LocalServer> {
    const dir = stateDir ?? mkdtempSync(join(tmpdir(), 'edge-apiserver-e2e-'))
    const server = new LocalServer(await freePort(), dir, !stateDir)
    server.args = args
    await server.boot()
    return server
  }

  get output(): string {
    return this.server?.output ?? this.lastOutput
  }

  async boot(): Promise<void> {
    this.server = await start({
      stateDir: this.stateDir,
      persist: join(this.stateDir, 'workerd', 'v3', 'do'),
      port: this.port,
      ...settingsFromArgs(this.args),
    })
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.lastOutput = server.output
    this.server = undefined
    await server.dispose()
  }

  protected twin(port: number, stateDir: string): LocalServer {
    return new LocalServer(port, stateDir, true)
  }

  override async restoredTwin(
    restore: (target: { kubeconfig?: string; etcdServers?: string[] }) => Promise<void>,
  ): Promise<LocalServer> {
    return (await super.restoredTwin(restore)) as LocalServer
  }
}

/**
 * `npm start` itself (scripts/start.mjs: wrangler dev, workerd, the HTTPS listener), a process tree of its
 * own: for the tests of what npm start does and prints.
 */
export class NpmStartServer extends StateDirServer {
  private child?: ChildProcess
  /** What npm start has printed so far (the Worker's console output among it). */
  output = ''

  /** Starts `npm start` on a free port with a fresh (or the given) state dir and waits until it says it serves. */
  static async start(stateDir?: string, args: string[] = []): Promise<NpmStartServer> {
    const dir = stateDir ?? mkdtempSync(join(tmpdir(), 'edge-apiserver-e2e-'))
    const server = new NpmStartServer(await freePort(), dir, !stateDir)
    server.args = args
    await server.boot()
    return server
  }

  async boot(): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'scripts', 'start.mjs'),
        '--port',
        String(this.port),
        '--state-dir',
        this.stateDir,
        ...this.args,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
        detached: true,
      },
    )
    this.child = child
    this.output = ''
    await new Promise<void>((res, rej) => {
      const onData = (d: Buffer) => {
        this.output += d
        if (this.output.includes('export KUBECONFIG=')) res()
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', (d) => (this.output += d))
      child.on('exit', (code) => rej(new Error(`npm start exited with ${code}:\n${this.output}`)))
      setTimeout(() => rej(new Error(`npm start did not become ready:\n${this.output}`)), 120_000)
    })
  }

  async stop(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    try {
      process.kill(-child.pid!, 'SIGTERM')
    } catch {
      /* gone */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      /* gone */
    }
    this.child = undefined
  }

  protected twin(port: number, stateDir: string): NpmStartServer {
    return new NpmStartServer(port, stateDir, true)
  }
}

/** A series' value in the server's /metrics as the admin's kubectl reads it (0 while it is absent). */
export async function metricValue(
  server: { k(...args: string[]): Promise<string> },
  series: string,
): Promise<number> {
  const line = (await server.k('get', '--raw', '/metrics'))
    .split('\n')
    .find((l) => l.startsWith(`${series} `))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

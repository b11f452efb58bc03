// Running the real command-line tools the tests drive, raw HTTPS requests for what kubectl checks
// client-side, and loopback ports for servers.
import { spawn } from 'node:child_process'
import { request } from 'node:https'
import { createServer } from 'node:net'

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.on('error', rej)
    child.on('close', (code) => {
      clearTimeout(timer)
      res({ code: code ?? -1, stdout, stderr })
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** A kubectl left running (get -w, wait), whose output a test waits for while it changes what kubectl watches. */
export interface BackgroundKubectl {
  output(): string
  /** What it wrote to stderr so far (kubectl's errors and retries). */
  log(): string
  /** Its exit code, once it exits. */
  exited: Promise<number>
  kill(signal?: NodeJS.Signals): void
  /** Waits up to 30s for stdout to match. */
  waitFor(re: RegExp): Promise<void>
  /** Waits up to 30s for stderr to match: where -v=6 logs the watch request, so a test writes only once it is open. */
  waitForLog(re: RegExp): Promise<void>
}

export function backgroundKubectl(kubeconfig: string, args: string[]): BackgroundKubectl {
  const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)))
  const poll = async (text: () => string, re: RegExp) => {
    for (let i = 0; i < 300 && !re.test(text()); i++) await new Promise((r) => setTimeout(r, 100))
    if (!re.test(text())) throw new Error(`never saw ${re} in:\n${text()}\n${err}`)
  }
  return {
    output: () => out,
    log: () => err,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => child.kill(signal),
    waitFor: (re) => poll(() => out, re),
    waitForLog: (re) => poll(() => err, re),
  }
}

/** A port nothing listens on now, on 127.0.0.1. */
/**
 * `kubectl port-forward -n <namespace> <target> <local>:<remotePort>` on a free local port, once kubectl
 * says it is forwarding (killed if it never does).
 */
export async function portForward(
  kubeconfig: string,
  namespace: string,
  target: string,
  remotePort: number,
): Promise<{ local: number; pf: BackgroundKubectl }> {
  const local = await freePort()
  const pf = backgroundKubectl(kubeconfig, [
    'port-forward',
    '-n',
    namespace,
    target,
    `${local}:${remotePort}`,
  ])
  try {
    await pf.waitFor(/Forwarding from 127\.0\.0\.1/)
  } catch (e) {
    pf.kill()
    throw e
  }
  return { local, pf }
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => res(port))
    })
  })
}

/** body is the response as UTF-8 text; raw, its bytes (for binary answers such as protobuf). */
export interface HttpsResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  raw: Buffer
}

/** One HTTPS request to 127.0.0.1 that trusts `ca`, optionally with a client certificate. */
export function httpsRequest(opts: {
  port: number
  method: string
  path: string
  ca: string | Buffer
  cert?: string
  key?: string
  headers?: Record<string, string>
  body?: string | Buffer
}): Promise<HttpsResponse> {
  const { body } = opts
  return new Promise((res, rej) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: opts.port,
        path: opts.path,
        method: opts.method,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        headers: {
          Accept: 'application/json',
          // Framed explicitly: Node sends a DELETE body without Content-Length or chunking otherwise.
          ...(body !== undefined
            ? {
                'Content-Type': 'application/json',
                'Content-Length': String(Buffer.byteLength(body)),
              }
            : {}),
          ...opts.headers,
        },
      },
      (r) => {
        const chunks: Buffer[] = []
        r.on('data', (d: Buffer) => chunks.push(d))
        r.on('end', () => {
          const raw = Buffer.concat(chunks)
          res({ status: r.statusCode ?? 0, headers: r.headers, body: raw.toString('utf8'), raw })
        })
      },
    )
    req.on('error', rej)
    req.end(body)
  })
}

// The node agent (`edge-apiserver-agent`, bin/) carrying kubectl's kubelet streams to a node the server
// cannot dial: Node "tunnel-node" lists a non-routable address (192.0.2.1, TEST-NET-1) and its kubelet
// (the stand-in, test/helpers/kubelet-standin.ts) listens on loopback where only the agent reaches it. The
// agent dials out to the server as system:node:tunnel-node with a bearer token, and presents its own
// kubelet client certificate to the kubelet. Other nodes' identities, the admin and anonymous requests
// cannot open that node's tunnel.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { parse as parseYAML } from 'yaml'
import { createCA, signCertificate } from '../../src/node/pki'
import { startAgent } from '../../src/node/agent/agent'
import { startKubeletStandin, type KubeletStandin } from '../helpers/kubelet-standin'
import { backgroundKubectl, LocalServer, portForward } from './harness'
import { createServer as createHTTPServer, type Server as HTTPServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const ROOT = resolve(__dirname, '..', '..')
const NS = 'tunnelled'
const NODE = 'tunnel-node'
const TOKENS = {
  [NODE]: 'tunnel-node-token-0123456789',
  'other-node': 'other-node-token-0123456789',
}

let server: LocalServer
let kubelet: KubeletStandin
let dir: string
let serverCA: string
let agent: ChildProcess | undefined
let web: HTTPServer
let webPort: number
let agentLog = ''

/** Starts the shipped command, as a node's operator would, and waits until its tunnel is up. */
async function startAgentCommand(): Promise<void> {
  agentLog = ''
  agent = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'edge-apiserver-agent.mjs'),
      `--server=https://127.0.0.1:${server.port}`,
      `--token=${TOKENS[NODE]}`,
      `--certificate-authority=${serverCA}`,
      `--node-name=${NODE}`,
      `--kubelet-url=https://127.0.0.1:${kubelet.port}`,
      `--kubelet-certificate-authority=${join(dir, 'kubelet-ca.crt')}`,
      `--kubelet-client-certificate=${join(dir, 'agent-client.crt')}`,
      `--kubelet-client-key=${join(dir, 'agent-client.key')}`,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  agent.stdout!.on('data', (d) => (agentLog += d))
  agent.stderr!.on('data', (d) => (agentLog += d))
  for (let i = 0; i < 300 && !/connected to/.test(agentLog); i++)
    await new Promise((r) => setTimeout(r, 100))
  if (!/connected to/.test(agentLog)) throw new Error(`the agent did not connect:\n${agentLog}`)
}

async function mustApply(obj: unknown): Promise<void> {
  const r = await server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) })
  if (r.code !== 0) throw new Error(r.stderr)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edge-agent-tunnel-'))
  kubelet = await startKubeletStandin(NODE, '127.0.0.1')
  writeFileSync(join(dir, 'kubelet-ca.crt'), kubelet.caPem)
  const clientCA = createCA('agent-client-ca')
  const client = signCertificate(clientCA, {
    subject: { commonName: 'edge-apiserver-agent', organizations: ['system:masters'] },
    usage: 'client',
  })
  writeFileSync(join(dir, 'agent-client.crt'), client.certPem)
  writeFileSync(join(dir, 'agent-client.key'), client.keyPem)
  // Each node's token (kube-apiserver's --token-auth-file): user system:node:<name> in system:nodes.
  const tokens = Object.entries(TOKENS)
    .map(([n, t]) => `${t},system:node:${n},uid-${n},"system:nodes"`)
    .join('\n')
  const stateDir = join(dir, 'state')
  // npm start adds <state-dir>/tokens.csv to its token file; Node mode takes --token-auth-file.
  rmSync(stateDir, { recursive: true, force: true })
  await import('node:fs').then((fs) => fs.mkdirSync(stateDir, { recursive: true }))
  writeFileSync(join(stateDir, 'tokens.csv'), tokens + '\n')
  writeFileSync(join(dir, 'tokens.csv'), tokens + '\n')
  server = await LocalServer.start(stateDir)
  if (server.runtime === 'node')
    await server.restart([`--token-auth-file=${join(dir, 'tokens.csv')}`])
  const kubeconfig = parseYAML(readFileSync(server.kubeconfig, 'utf8'))
  serverCA = join(dir, 'server-ca.crt')
  writeFileSync(
    serverCA,
    Buffer.from(kubeconfig.clusters[0].cluster['certificate-authority-data'], 'base64'),
  )

  await server.k('create', 'namespace', NS)
  await mustApply({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } })
  // An address nothing routes to: only the tunnel reaches this kubelet.
  await server.k(
    'patch',
    'node',
    NODE,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      },
    }),
  )
  await mustApply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: NS },
    spec: { nodeName: NODE, containers: [{ name: 'app', image: 'busybox' }] },
  })
  // kubectl port-forward wants a Running pod.
  await server.k(
    'patch',
    'pod',
    'web',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { phase: 'Running' } }),
  )
  kubelet.addPod(NS, 'web', ['app'])
  // What the pod serves on its port (the stand-in forwards to it on this machine).
  web = createHTTPServer((req, res) => res.end(`${req.method} ${req.url}`))
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()))
  webPort = (web.address() as AddressInfo).port
  for (const line of ['first line', 'second line']) kubelet.log(NS, 'web', 'app', line)
  await startAgentCommand()
}, 240_000)

afterAll(async () => {
  agent?.kill('SIGTERM')
  await new Promise((r) => web?.close(r))
  await server?.dispose()
  await kubelet?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A tunnel upgrade as any client would try it: the server's status and its Status message. */
function tryTunnel(
  node: string,
  auth: { token?: string; admin?: boolean },
): Promise<{ status: number; message: string }> {
  const headers: Record<string, string> = {}
  let cert: string | undefined
  let key: string | undefined
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`
  if (auth.admin) {
    const user = parseYAML(readFileSync(server.kubeconfig, 'utf8')).users[0].user
    if (user.token) headers.Authorization = `Bearer ${user.token}`
    else {
      cert = Buffer.from(user['client-certificate-data'], 'base64').toString()
      key = Buffer.from(user['client-key-data'], 'base64').toString()
    }
  }
  return new Promise((res, rej) => {
    const ws = new WebSocket(`wss://127.0.0.1:${server.port}/tunnel/v1/nodes/${node}`, {
      headers,
      ca: readFileSync(serverCA),
      cert,
      key,
    })
    ws.on('open', () => {
      ws.terminate()
      res({ status: 101, message: '' })
    })
    ws.on('unexpected-response', (_req, r) => {
      let body = ''
      r.on('data', (d) => (body += d))
      r.on('end', () => res({ status: r.statusCode ?? 0, message: JSON.parse(body).message }))
    })
    ws.on('error', rej)
  })
}

describe('node agent tunnel', () => {
  it('lets only the node itself open its tunnel', async () => {
    const other = await tryTunnel(NODE, { token: TOKENS['other-node'] })
    expect(other.status).toBe(403)
    expect(other.message).toBe(
      `forbidden: User "system:node:other-node" cannot get path "/tunnel/v1/nodes/${NODE}": can only open the tunnel of the requesting node`,
    )
    // The admin may do anything the authorizer allows, but is no node.
    const admin = await tryTunnel(NODE, { admin: true })
    expect(admin.status).toBe(403)
    expect(admin.message).toMatch(
      new RegExp(
        `^forbidden: User ".+" cannot get path "/tunnel/v1/nodes/${NODE}": only node "${NODE}" \\(user system:node:${NODE} in group system:nodes\\) may open its tunnel$`,
      ),
    )
    const anonymous = await tryTunnel(NODE, {})
    expect(anonymous).toEqual({
      status: 403,
      message: `forbidden: User "system:anonymous" cannot get path "/tunnel/v1/nodes/${NODE}"`,
    })
    const bad = await tryTunnel(NODE, { token: 'not-a-token' })
    expect(bad).toEqual({ status: 401, message: 'Unauthorized' })
    // The agent says why it gave up.
    const refused = startAgent({
      server: `https://127.0.0.1:${server.port}`,
      nodeName: NODE,
      token: TOKENS['other-node'],
      serverCAPem: readFileSync(serverCA, 'utf8'),
      log: () => {},
    })
    await expect(refused.connected).rejects.toThrow(
      `the server refused the tunnel (403): forbidden: User "system:node:other-node" cannot get path`,
    )
    await refused.stop()
  })

  it('kubectl logs and logs -f reach a kubelet the server cannot dial', async () => {
    expect(await server.k('logs', '-n', NS, 'web')).toBe('first line\nsecond line\n')
    expect(await server.k('logs', '-n', NS, 'web', '--tail=1')).toBe('second line\n')
    const follow = backgroundKubectl(server.kubeconfig, ['logs', '-f', '-n', NS, 'web'])
    try {
      await follow.waitFor(/second line\n/)
      kubelet.log(NS, 'web', 'app', 'through the tunnel')
      await follow.waitFor(/through the tunnel\n/)
    } finally {
      follow.kill()
    }
    // The kubelet was asked by the agent, with the agent's client certificate.
    const asked = kubelet.requests.filter((r) => r.path.startsWith(`/containerLogs/${NS}/web/app`))
    expect(asked.at(-1)!.clientCN).toBe('edge-apiserver-agent')
  })

  it('kubectl exec relays stdout, stderr, the exit code and stdin', async () => {
    const r = await server.kubectl([
      'exec',
      '-n',
      NS,
      'web',
      '--',
      'sh',
      '-c',
      'echo to stdout; echo to stderr >&2; exit 3',
    ])
    expect(r.stdout).toBe('to stdout\n')
    expect(r.stderr).toContain('to stderr\n')
    expect(r.code).toBe(3)
    const i = await server.kubectl(
      ['exec', '-i', '-n', NS, 'web', '--', 'sh', '-c', 'cat; echo done'],
      { input: 'hello\nworld\n' },
    )
    expect(i).toMatchObject({ code: 0, stdout: 'hello\nworld\ndone\n' })
  })

  it('kubectl port-forward carries requests through the forwarded port', async () => {
    const { local, pf } = await portForward(server.kubeconfig, NS, 'pod/web', webPort)
    try {
      const res = await fetch(`http://127.0.0.1:${local}/through/the/agent`)
      expect(await res.text()).toBe('GET /through/the/agent')
      const again = await fetch(`http://127.0.0.1:${local}/second`)
      expect(await again.text()).toBe('GET /second')
    } finally {
      pf.kill()
    }
  })

  it('an agent that restarts gets its node’s tunnel back', async () => {
    agent!.kill('SIGTERM')
    await new Promise((r) => agent!.once('exit', r))
    await startAgentCommand()
    expect(await server.k('logs', '-n', NS, 'web', '--tail=1')).toBe('through the tunnel\n')
  })

  // A peer going away ends its stream, never the server: kubectl killed (its socket reset) and the
  // agent killed (the tunnel reset) while an exec streams through the tunnel.
  it('a kubectl or an agent killed mid-exec leaves the server serving', async () => {
    const ticking = ['sh', '-c', 'echo started; while :; do echo tick; sleep 0.01; done']
    const exec = () =>
      backgroundKubectl(server.kubeconfig, ['exec', '-i', '-n', NS, 'web', '--', ...ticking])
    const first = exec()
    await first.waitFor(/tick\n/)
    first.kill('SIGKILL')
    await first.exited
    const second = exec()
    try {
      await second.waitFor(/tick\n/)
      agent!.kill('SIGKILL')
      await new Promise((r) => agent!.once('exit', r))
      expect(await second.exited).not.toBe(0)
    } finally {
      second.kill('SIGKILL')
    }
    expect(await server.k('get', '--raw', '/readyz')).toBe('ok')
    expect(await server.k('get', 'pod', 'web', '-n', NS, '-o', 'name')).toBe('pod/web\n')
    await startAgentCommand()
    expect(await server.k('exec', '-n', NS, 'web', '--', 'echo', 'again')).toBe('again\n')
  })
})

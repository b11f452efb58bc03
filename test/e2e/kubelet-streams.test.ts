// Logs, exec, attach, cp and the proxy subresources through the server to a kubelet, with the real
// kubectl: a kubelet stand-in (test/helpers/kubelet-standin.ts) serves over TLS as the kubelet of Node
// "standin-node", registered with its address and port. The server reaches it at the Node's preferred
// address (InternalIP, this machine's non-loopback address: kube does not proxy nodes/proxy to loopback)
// and status.daemonEndpoints.kubeletEndpoint.Port. Node mode presents --kubelet-client-certificate and
// verifies the stand-in with --kubelet-certificate-authority; the Worker trusts the stand-in's CA through
// the runtime's store (NODE_EXTRA_CA_CERTS) and, without an mTLS binding locally, presents no certificate.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCA, signCertificate } from '../../src/node/pki'
import { startKubeletStandin, type KubeletStandin } from '../helpers/kubelet-standin'
import { backgroundKubectl, freePort, LocalServer, portForward } from './harness'

const NS = 'streams'
const NODE = 'standin-node'
let server: LocalServer
let kubelet: KubeletStandin
let dir: string
let savedExtraCA: string | undefined
let web: Server
let webPort: number
let deadPort: number

/** This machine's first non-loopback IPv4 address (kube refuses to proxy to loopback). */
function machineAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  throw new Error('this test needs a non-loopback IPv4 address on the machine')
}

const applyObj = (obj: unknown) =>
  server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) })

async function mustApply(obj: unknown): Promise<void> {
  const r = await applyObj(obj)
  if (r.code !== 0) throw new Error(r.stderr)
}

function pod(
  name: string,
  nodeName: string | undefined,
  containers: string[],
  init: string[] = [],
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      ...(init.length ? { initContainers: init.map((n) => ({ name: n, image: 'busybox' })) } : {}),
      containers: containers.map((n) => ({
        name: n,
        image: 'busybox',
        ports: [{ containerPort: 8080 }],
      })),
    },
  }
}

function node(name: string, address: string, port: number) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: {
      addresses: [{ type: 'InternalIP', address }],
      daemonEndpoints: { kubeletEndpoint: { Port: port } },
    },
  }
}

async function registerNode(name: string, address: string, port: number): Promise<void> {
  await mustApply({ apiVersion: 'v1', kind: 'Node', metadata: { name } })
  const status = JSON.stringify({ status: node(name, address, port).status })
  await server.k('patch', 'node', name, '--subresource=status', '--type=merge', '-p', status)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edge-kubelet-streams-'))
  kubelet = await startKubeletStandin(NODE, machineAddress())
  // The Worker's fetch verifies the kubelet with the runtime's trust store: npm start passes this on.
  writeFileSync(join(dir, 'kubelet-ca.crt'), kubelet.caPem)
  savedExtraCA = process.env.NODE_EXTRA_CA_CERTS
  process.env.NODE_EXTRA_CA_CERTS = join(dir, 'kubelet-ca.crt')
  const clientCA = createCA('kubelet-client-ca')
  const client = signCertificate(clientCA, {
    subject: { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'] },
    usage: 'client',
  })
  writeFileSync(join(dir, 'kubelet-client.crt'), client.certPem)
  writeFileSync(join(dir, 'kubelet-client.key'), client.keyPem)
  deadPort = await freePort()
  // What the pods serve, for pods/proxy and services/proxy: a page with links and a redirect.
  web = createServer((req, res) => {
    if (req.url === '/moved') {
      res.writeHead(302, { Location: '/landing' })
      return res.end()
    }
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(
      `<html><a href="/docs/index.html">docs</a> <img src="logo.png"> ${req.method} ${req.url}</html>`,
    )
  })
  await new Promise<void>((r) => web.listen(0, '0.0.0.0', () => r()))
  webPort = (web.address() as AddressInfo).port

  server = await LocalServer.start()
  if (server.runtime === 'node') {
    await server.restart([
      `--kubelet-client-certificate=${join(dir, 'kubelet-client.crt')}`,
      `--kubelet-client-key=${join(dir, 'kubelet-client.key')}`,
      `--kubelet-certificate-authority=${join(dir, 'kubelet-ca.crt')}`,
    ])
  }
  await server.k('create', 'namespace', NS)
  await registerNode(NODE, kubelet.host, kubelet.port)
  await registerNode('dead-node', '127.0.0.1', deadPort)
  for (const p of [
    pod('web', NODE, ['app']),
    pod('multi', NODE, ['a', 'b'], ['init']),
    pod('pending', undefined, ['app']),
    pod('ghost', 'dead-node', ['app']),
  ])
    await mustApply(p)
  await server.k(
    'patch',
    'pod',
    'web',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: { phase: 'Running', podIP: kubelet.host, podIPs: [{ ip: kubelet.host }] },
    }),
  )
  kubelet.addPod(NS, 'web', ['app'])
  kubelet.addPod(NS, 'multi', ['a', 'b', 'init'], { a: ['from the last run'] })
  for (const line of ['first line', 'second line', 'third line'])
    kubelet.log(NS, 'web', 'app', line)
}, 180_000)

afterAll(async () => {
  await server?.dispose()
  await kubelet?.close()
  await new Promise((r) => web?.close(r))
  if (savedExtraCA === undefined) delete process.env.NODE_EXTRA_CA_CERTS
  else process.env.NODE_EXTRA_CA_CERTS = savedExtraCA
  rmSync(dir, { recursive: true, force: true })
})

describe('pods/log', () => {
  it('kubectl logs reads the container log from the kubelet, with its options', async () => {
    expect(await server.k('logs', '-n', NS, 'web')).toBe('first line\nsecond line\nthird line\n')
    expect(await server.k('logs', '-n', NS, 'web', '--tail=1')).toBe('third line\n')
    expect(await server.k('logs', '-n', NS, 'web', '--limit-bytes=8')).toBe('first li')
    const stamped = await server.k('logs', '-n', NS, 'web', '--timestamps', '--tail=1')
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z third line\n$/)
    expect(await server.k('logs', '-n', NS, 'multi', '-c', 'a', '--previous')).toBe(
      'from the last run\n',
    )
    const asked = kubelet.requests.filter((r) => r.path.startsWith(`/containerLogs/${NS}/web/app`))
    expect(asked.map((r) => r.path)).toContain(`/containerLogs/${NS}/web/app?limitBytes=8`)
    // Node mode presents --kubelet-client-certificate; the Worker has no mTLS binding locally.
    expect(asked.at(-1)!.clientCN).toBe(
      server.runtime === 'node' ? 'kube-apiserver-kubelet-client' : undefined,
    )
  })

  it('kubectl logs -f streams lines as the kubelet writes them', async () => {
    const follow = backgroundKubectl(server.kubeconfig, ['logs', '-f', '-n', NS, 'web'])
    try {
      await follow.waitFor(/third line\n/)
      kubelet.log(NS, 'web', 'app', 'written later')
      await follow.waitFor(/written later\n/)
    } finally {
      follow.kill()
    }
  })

  it("answers kube's errors for the container, the options and the kubelet's refusals", async () => {
    const raw = (path: string) =>
      server.kubectl(['get', '--raw', `/api/v1/namespaces/${NS}/${path}`])
    let r = await raw('pods/multi/log')
    expect(r.stderr).toContain(
      'Error from server (BadRequest): a container name must be specified for pod multi, choose one of: [a b] or one of the init containers: [init]',
    )
    r = await raw('pods/web/log?container=nope')
    expect(r.stderr).toContain(
      'Error from server (BadRequest): container nope is not valid for pod web',
    )
    r = await raw('pods/web/log?tailLines=-1')
    expect(r.stderr).toContain(
      'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
    )
    r = await raw('pods/web/log?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z')
    expect(r.stderr).toContain('at most one of `sinceTime` or `sinceSeconds` may be specified')
    r = await raw('pods/nothere/log')
    expect(r.stderr).toContain('Error from server (NotFound): pods "nothere" not found')
    // Not yet scheduled: no location, so an empty log (kube's LogLocation).
    r = await raw('pods/pending/log')
    expect(r).toMatchObject({ code: 0, stdout: '' })
    r = await server.kubectl(['logs', '-n', NS, 'web', '--previous'])
    expect(r.stderr).toContain(
      'Error from server (BadRequest): previous terminated container "app" in pod "web" not found',
    )
  })
})

describe('pods/exec and pods/attach', () => {
  it('kubectl exec relays stdout, stderr and the exit code (v5 error channel)', async () => {
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
    const ok = await server.kubectl(['exec', '-n', NS, 'web', '--', 'true'])
    expect(ok).toMatchObject({ code: 0, stdout: '' })
    const upgrade = kubelet.requests
      .filter((q) => q.path.startsWith(`/exec/${NS}/web/app?`))
      .at(-1)!
    expect(upgrade.path).toBe(`/exec/${NS}/web/app?command=true&stderr=1&stdout=1`)
    expect(upgrade.headers['sec-websocket-protocol']).toContain('v5.channel.k8s.io')
  })

  it('kubectl exec -i passes stdin and its end', async () => {
    const r = await server.kubectl(
      ['exec', '-i', '-n', NS, 'web', '--', 'sh', '-c', 'cat; echo done'],
      {
        input: 'hello\nworld\n',
      },
    )
    expect(r).toMatchObject({ code: 0, stdout: 'hello\nworld\ndone\n' })
  })

  it('kubectl cp copies into the container and back (tar over exec)', async () => {
    const inPod = mkdtempSync(join(tmpdir(), 'edge-standin-container-'))
    try {
      writeFileSync(join(dir, 'payload.txt'), 'bytes to copy\n'.repeat(1000))
      let r = await server.kubectl([
        'cp',
        join(dir, 'payload.txt'),
        `${NS}/web:${inPod}/payload.txt`,
      ])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(readFileSync(join(inPod, 'payload.txt'), 'utf8')).toBe('bytes to copy\n'.repeat(1000))
      r = await server.kubectl(['cp', `${NS}/web:${inPod}/payload.txt`, join(dir, 'back.txt')])
      expect(r.code).toBe(0)
      expect(readFileSync(join(dir, 'back.txt'), 'utf8')).toBe('bytes to copy\n'.repeat(1000))
    } finally {
      rmSync(inPod, { recursive: true, force: true })
    }
  })

  it("kubectl attach -i writes to the container's main process and shows its output", async () => {
    const r = await server.kubectl(['attach', '-i', '-n', NS, 'web', '-c', 'app'], {
      input: 'typed into cat\n',
    })
    expect(r.stdout).toContain('typed into cat\n')
    expect(r.code).toBe(0)
    expect(await server.k('logs', '-n', NS, 'web', '--tail=1')).toBe('typed into cat\n')
  })

  it('a pod without a node, and a request without an upgrade, are refused as kube refuses them', async () => {
    let r = await server.kubectl(['exec', '-n', NS, 'pending', '--', 'true'])
    expect(r.stderr).toContain('pod pending does not have a host assigned')
    const res = await server.request('POST', `/api/v1/namespaces/${NS}/pods/web/exec?command=true`)
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body).message).toBe('Upgrade request required')
  })
})

describe('authorization', () => {
  beforeAll(async () => {
    await server.k('create', 'serviceaccount', 'reader', '-n', NS)
    await server.k(
      'create',
      'role',
      'pod-reader',
      '-n',
      NS,
      '--verb=get,list',
      '--resource=pods,pods/exec',
    )
    await server.k(
      'create',
      'rolebinding',
      'reader',
      '-n',
      NS,
      '--role=pod-reader',
      `--serviceaccount=${NS}:reader`,
    )
  })

  it('a user without pods/log is forbidden, and so is another node reading a pod log', async () => {
    const reader = `--as=system:serviceaccount:${NS}:reader`
    let r = await server.kubectl(['logs', '-n', NS, 'web', reader])
    expect(r.stderr).toContain(
      `pods "web" is forbidden: User "system:serviceaccount:${NS}:reader" cannot get resource "pods/log" in API group "" in the namespace "${NS}"`,
    )
    // The Node authorizer grants a kubelet no pods/log (kubelets serve logs, they do not read them).
    r = await server.kubectl([
      'logs',
      '-n',
      NS,
      'web',
      '--as=system:node:other-node',
      '--as-group=system:nodes',
    ])
    expect(r.stderr).toContain(
      `pods "web" is forbidden: User "system:node:other-node" cannot get resource "pods/log" in API group "" in the namespace "${NS}"`,
    )
  })

  it('exec over WebSocket also needs create on pods/exec', async () => {
    const reader = `--as=system:serviceaccount:${NS}:reader`
    const r = await server.kubectl(['exec', '-n', NS, 'web', reader, '--', 'true'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      `pods "web" is forbidden: User "system:serviceaccount:${NS}:reader" cannot create resource "pods/exec" in API group "" in the namespace "${NS}"`,
    )
  })
})

describe('a dead kubelet', () => {
  it('gives an error at once, not a hang', async () => {
    const started = Date.now()
    let r = await server.kubectl(['logs', '-n', NS, 'ghost'], { timeoutMs: 20_000 })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      `Get "https://127.0.0.1:${deadPort}/containerLogs/${NS}/ghost/app": dial tcp 127.0.0.1:${deadPort}: `,
    )
    r = await server.kubectl(['exec', '-n', NS, 'ghost', '--', 'true'], { timeoutMs: 20_000 })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(`error dialing backend: dial tcp 127.0.0.1:${deadPort}: `)
    expect(Date.now() - started).toBeLessThan(15_000)
    if (server.runtime === 'node') expect(r.stderr).toContain('connect: connection refused')
  })
})

describe('proxy subresources', () => {
  it('nodes/proxy reaches the kubelet', async () => {
    expect(await server.k('get', '--raw', `/api/v1/nodes/${NODE}/proxy/healthz`)).toBe('ok')
    const pods = JSON.parse(await server.k('get', '--raw', `/api/v1/nodes/${NODE}/proxy/pods`))
    expect(pods.items.map((p: any) => p.metadata.name)).toContain('web')
  })

  it('kubectl proxy + services/proxy reaches an endpoint, with links and redirects rewritten', async () => {
    await mustApply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo', namespace: NS },
      spec: { ports: [{ name: 'http', port: 80, targetPort: webPort }] },
    })
    await mustApply({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'echo', namespace: NS },
      subsets: [{ addresses: [{ ip: kubelet.host }], ports: [{ name: 'http', port: webPort }] }],
    })
    const port = await freePort()
    const proxy = backgroundKubectl(server.kubeconfig, ['proxy', `--port=${port}`])
    try {
      await proxy.waitFor(/Starting to serve/)
      const base = `http://127.0.0.1:${port}/api/v1/namespaces/${NS}/services/echo:http/proxy`
      let res = await fetch(`${base}/some/path?q=1`)
      expect(res.status).toBe(200)
      const html = await res.text()
      expect(html).toContain('GET /some/path?q=1')
      expect(html).toContain(
        `href="/api/v1/namespaces/${NS}/services/echo:http/proxy/docs/index.html"`,
      )
      expect(html).toContain('src="logo.png"')
      res = await fetch(`${base}/moved`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(res.headers.get('location')).toBe(
        `/api/v1/namespaces/${NS}/services/echo:http/proxy/landing`,
      )
      res = await fetch(`${base}/form`, { method: 'POST', body: 'x' })
      expect(await res.text()).toContain('POST /form')
    } finally {
      proxy.kill()
    }
  })

  it('pods/proxy reaches the pod IP and its port', async () => {
    const out = await server.k(
      'get',
      '--raw',
      `/api/v1/namespaces/${NS}/pods/web:${webPort}/proxy/hello`,
    )
    expect(out).toContain('GET /hello')
  })
})

describe('pods/portforward', () => {
  it('kubectl port-forward carries a request through the forwarded port', async () => {
    const { local, pf } = await portForward(server.kubeconfig, NS, 'pod/web', webPort)
    try {
      const res = await fetch(`http://127.0.0.1:${local}/through/the/tunnel`)
      expect(await res.text()).toContain('GET /through/the/tunnel')
      const again = await fetch(`http://127.0.0.1:${local}/second`)
      expect(await again.text()).toContain('GET /second')
      // kubectl's WebSocket (SPDY tunnelled) was accepted: the kubelet was asked for SPDY/3.1 only.
      const asked = kubelet.requests.filter((q) => q.path.startsWith(`/portForward/${NS}/web`))
      expect(asked.length).toBeGreaterThan(0)
      for (const q of asked)
        expect(q.headers).toMatchObject({
          upgrade: 'SPDY/3.1',
          'x-stream-protocol-version': 'portforward.k8s.io',
        })
    } finally {
      pf.kill()
    }
  })
})

// kube-apiserver outlives any peer: a client or a kubelet whose connection resets while bytes flow ends
// that one stream, never the server.
describe('a peer that goes away mid-stream', () => {
  const ticking = ['sh', '-c', 'echo started; while :; do echo tick; sleep 0.01; done']

  async function stillServing(): Promise<void> {
    expect(await server.k('get', '--raw', '/readyz')).toBe('ok')
    expect(await server.k('get', 'pod', 'web', '-n', NS, '-o', 'name')).toBe('pod/web\n')
  }

  it('a kubectl killed during exec, attach or port-forward (its socket reset)', async () => {
    for (const args of [
      ['exec', '-i', '-n', NS, 'web', '--', ...ticking],
      ['exec', '-n', NS, 'web', '--', ...ticking],
    ]) {
      const exec = backgroundKubectl(server.kubeconfig, args)
      await exec.waitFor(/tick\n/)
      // SIGKILL with unread bytes in its socket: the kernel answers the server with a reset.
      exec.kill('SIGKILL')
      await exec.exited
    }
    const attach = backgroundKubectl(server.kubeconfig, ['attach', '-i', '-n', NS, 'web'])
    await new Promise((r) => setTimeout(r, 500))
    for (let i = 0; i < 50; i++) kubelet.log(NS, 'web', 'app', `attached ${i}`)
    attach.kill('SIGKILL')
    await attach.exited

    const { local, pf } = await portForward(server.kubeconfig, NS, 'pod/web', webPort)
    const inFlight = fetch(`http://127.0.0.1:${local}/${'x'.repeat(4000)}`).catch(() => {})
    pf.kill('SIGKILL')
    await pf.exited
    await inFlight
    await stillServing()
  })

  it('a kubelet that resets its connections during exec and port-forward', async () => {
    const exec = backgroundKubectl(server.kubeconfig, [
      'exec',
      '-i',
      '-n',
      NS,
      'web',
      '--',
      ...ticking,
    ])
    try {
      await exec.waitFor(/tick\n/)
      kubelet.resetConnections()
      expect(await exec.exited).not.toBe(0)
    } finally {
      exec.kill('SIGKILL')
    }

    const { local, pf } = await portForward(server.kubeconfig, NS, 'pod/web', webPort)
    try {
      const res = await fetch(`http://127.0.0.1:${local}/before`)
      expect(await res.text()).toContain('GET /before')
      kubelet.resetConnections()
      await fetch(`http://127.0.0.1:${local}/after`).catch(() => {})
    } finally {
      pf.kill('SIGKILL')
    }
    await stillServing()
    // The next exec dials the kubelet afresh.
    expect(await server.k('exec', '-n', NS, 'web', '--', 'echo', 'again')).toBe('again\n')
  })
})

// edge-apiserver/testing's start(): the Worker on Miniflare in this process, configured from wrangler.toml
// as wrangler dev configures it, driven by the real kubectl and by plain fetch.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { start, type EdgeServer } from '../../src/node/testing'
import { PACKAGE_ROOT, workerConfig } from '../../src/node/testing/worker'
import { KUBECTL, run } from '../helpers/process'

const dir = mkdtempSync(join(tmpdir(), 'edge-apiserver-testing-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const kubectl = (s: EdgeServer, ...args: string[]) =>
  run(KUBECTL, ['--kubeconfig', s.kubeconfigPath, ...args])

describe('wrangler.toml', () => {
  it('is read as wrangler reads it for wrangler dev', async () => {
    const wrangler = await import('wrangler')
    const theirs = wrangler.unstable_getMiniflareWorkerOptions(join(PACKAGE_ROOT, 'wrangler.toml'))
    const ours = workerConfig()
    expect(ours.compatibilityDate).toBe(theirs.workerOptions.compatibilityDate)
    expect(ours.compatibilityFlags).toEqual(theirs.workerOptions.compatibilityFlags)
    expect(ours.durableObjects).toEqual(theirs.workerOptions.durableObjects)
    expect(ours.vars).toEqual(theirs.workerOptions.bindings ?? {})
    expect(join(PACKAGE_ROOT, ours.main)).toBe(theirs.main)
    expect(ours.loaders['.sql']).toBe('text')
  })
})

describe('two servers at once', () => {
  let a: EdgeServer
  let b: EdgeServer
  beforeAll(async () => {
    ;[a, b] = await Promise.all([start(), start()])
  })
  afterAll(async () => {
    await Promise.all([a?.dispose(), b?.dispose()])
  })

  it('each has its own address, credentials and cluster', async () => {
    expect(a.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(a.url).not.toBe(b.url)
    expect(a.token).not.toBe(b.token)
    expect(await kubectl(a, 'create', 'namespace', 'only-in-a')).toMatchObject({
      code: 0,
      stdout: 'namespace/only-in-a created\n',
    })
    expect((await kubectl(b, 'get', 'namespace', 'only-in-a')).stderr).toBe(
      'Error from server (NotFound): namespaces "only-in-a" not found\n',
    )
    // a's credentials are not b's.
    const r = await run(KUBECTL, [
      '--kubeconfig',
      b.kubeconfigPath,
      '--token',
      a.token,
      'get',
      'namespaces',
    ])
    expect(r.stderr).toBe('error: You must be logged in to the server (Unauthorized)\n')
  })

  it('gives the admin kubeconfig as a file and as the object in it', () => {
    expect(parse(readFileSync(a.kubeconfigPath, 'utf8'))).toEqual(a.kubeconfig)
    const cluster = a.kubeconfig.clusters[0]!.cluster
    expect(cluster.server).toBe(a.url)
    expect(Buffer.from(cluster['certificate-authority-data']!, 'base64').toString()).toBe(a.caCert)
    expect(a.kubeconfig.users[0]!.user.token).toBe(a.token)
  })

  it('removes the state dir it made, and stops serving, on dispose', async () => {
    const c = await start()
    expect(existsSync(c.kubeconfigPath)).toBe(true)
    await c.dispose()
    expect(existsSync(c.stateDir)).toBe(false)
    await expect(fetch(`${c.url.replace('https:', 'http:')}/readyz`)).rejects.toMatchObject({
      cause: { code: 'ECONNREFUSED' },
    })
  })
})

describe('plain HTTP on loopback', () => {
  let s: EdgeServer
  beforeAll(async () => {
    s = await start({ protocol: 'http' })
  })
  afterAll(async () => {
    await s?.dispose()
  })

  it('serves the token bearer and refuses the anonymous as over HTTPS', async () => {
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(s.kubeconfig.clusters[0]!.cluster['certificate-authority-data']).toBeUndefined()
    const admin = await fetch(`${s.url}/api/v1/namespaces`, {
      headers: { Authorization: `Bearer ${s.token}` },
    })
    expect(admin.status).toBe(200)
    const names = ((await admin.json()) as { items: { metadata: { name: string } }[] }).items.map(
      (n) => n.metadata.name,
    )
    expect(names).toContain('kube-system')
    const anonymous = await fetch(`${s.url}/api/v1/namespaces`)
    expect(anonymous.status).toBe(403)
    expect(((await anonymous.json()) as { message: string }).message).toBe(
      'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope',
    )
  })
})

describe('storage', () => {
  it('is kept in the directory given, and starts empty without one', async () => {
    const stateDir = join(dir, 'kept')
    const persist = join(dir, 'kept-objects')
    const first = await start({ stateDir, persist })
    await kubectl(first, 'create', 'namespace', 'kept')
    await first.dispose()
    expect(existsSync(stateDir)).toBe(true)

    // One server at a time on a state dir: each writes its kubeconfig there.
    const again = await start({ stateDir, persist })
    const fresh = await start({ stateDir: join(dir, 'fresh') })
    try {
      expect((await kubectl(again, 'get', 'namespace', 'kept', '-o', 'name')).stdout).toBe(
        'namespace/kept\n',
      )
      expect((await kubectl(fresh, 'get', 'namespace', 'kept')).stderr).toBe(
        'Error from server (NotFound): namespaces "kept" not found\n',
      )
    } finally {
      await Promise.all([again.dispose(), fresh.dispose()])
    }
  })
})

describe("the Worker's output and npm start's flags", () => {
  let s: EdgeServer
  const logged: string[] = []
  beforeAll(async () => {
    const policy = join(dir, 'policy.yaml')
    writeFileSync(
      policy,
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: "", resources: [configmaps]}]\n',
    )
    s = await start({
      auditPolicyFile: policy,
      disableAdmissionPlugins: ['NamespaceLifecycle'],
      onLog: (line) => logged.push(line),
    })
  })
  afterAll(async () => {
    await s?.dispose()
  })

  it('keeps what the Worker logs and hands each line to onLog', async () => {
    await kubectl(s, 'create', 'configmap', 'audited')
    const events = () => s.output.split('\n').filter((l) => l.startsWith('{"kind":"Event"'))
    for (let i = 0; i < 100 && !events().some((l) => l.includes('"name":"audited"')); i++)
      await new Promise((r) => setTimeout(r, 50))
    const event = JSON.parse(events().find((l) => l.includes('"name":"audited"'))!)
    expect(event).toMatchObject({
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      verb: 'create',
      objectRef: { resource: 'configmaps', name: 'audited', namespace: 'default' },
    })
    expect(logged).toContain(events().find((l) => l.includes('"name":"audited"')))
  })

  it('takes the admission plugins to turn off', async () => {
    // Without NamespaceLifecycle a namespace that does not exist is no reason to refuse.
    const r = await kubectl(s, 'create', 'configmap', 'nowhere', '-n', 'no-such-namespace')
    expect(r).toMatchObject({ code: 0, stdout: 'configmap/nowhere created\n' })
  })
})

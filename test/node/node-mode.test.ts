// Node mode end to end: dist/node.js on a real etcd, driven by the real kubectl over HTTPS with the
// client certificate from the kubeconfig it writes, and checked in etcd with etcdctl.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCA, signCertificate } from '../../src/node/pki'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'
import { freePort, httpsRequest } from '../helpers/process'
import { buildNode, ETCDCTL, KUBECTL, NodeServer, ROOT, run } from './harness'

async function eventually<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await f()
    if (v !== undefined) return v
    if (i >= 150) throw new Error(`${what}: not reached`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe('Node mode on a real etcd', () => {
  let etcd: EtcdCluster
  let server: NodeServer
  const files = mkdtempSync(join(tmpdir(), 'edge-node-files-'))
  const tokenFile = join(files, 'tokens.csv')

  beforeAll(async () => {
    writeFileSync(tokenFile, 'sekret-token,jane,1001,"system:masters"\n')
    etcd = await startEtcd()
    server = await NodeServer.start(etcd.endpoints, [`--token-auth-file=${tokenFile}`])
  })
  afterAll(async () => {
    await server?.destroy()
    await etcd?.stop()
    rmSync(files, { recursive: true, force: true })
  })

  it('writes an admin kubeconfig that kubectl uses over HTTPS with a client certificate', async () => {
    const ns = await server.kubectl('get', 'namespaces', '-o', 'name')
    expect(ns.stderr).toBe('')
    expect(ns.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        'namespace/default',
        'namespace/kube-system',
        'namespace/kube-public',
      ]),
    )
    const cfg = server.credentials()
    expect(cfg.ca).toContain('BEGIN CERTIFICATE')
    expect(cfg.cert).toContain('BEGIN CERTIFICATE')
  })

  it('creates and gets a configmap with kubectl, stored as JSON under /registry in etcd', async () => {
    const created = await server.kubectl(
      'create',
      'configmap',
      'e2e-cm',
      '--from-literal=greeting=hello',
    )
    expect(created.stdout.trim()).toBe('configmap/e2e-cm created')
    const got = await server.kubectl(
      'get',
      'configmap',
      'e2e-cm',
      '-o',
      'jsonpath={.data.greeting}',
    )
    expect(got.stdout).toBe('hello')

    const raw = await run(
      ETCDCTL,
      [
        `--endpoints=${etcd.endpoints.join(',')}`,
        'get',
        '/registry/configmaps/default/e2e-cm',
        '--print-value-only',
      ],
      {
        env: { ETCDCTL_API: '3' },
      },
    )
    expect(raw.code).toBe(0)
    const stored = JSON.parse(raw.stdout)
    expect(stored).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'e2e-cm', namespace: 'default' },
      data: { greeting: 'hello' },
    })
    expect(stored.metadata.resourceVersion).toBeUndefined()
  })

  it('runs the control loops: each namespace gets its default service account and kube-root-ca.crt', async () => {
    const ca = await eventually('kube-root-ca.crt in default', async () => {
      const r = await server.kubectl(
        'get',
        'configmap',
        'kube-root-ca.crt',
        '-n',
        'default',
        '-o',
        'jsonpath={.data.ca\\.crt}',
      )
      return r.code === 0 && r.stdout ? r.stdout : undefined
    })
    expect(ca.trim()).toBe(server.credentials().ca.trim())
    const sa = await eventually('the default service account', async () => {
      const r = await server.kubectl(
        'get',
        'serviceaccount',
        'default',
        '-n',
        'kube-system',
        '-o',
        'name',
      )
      return r.code === 0 ? r.stdout.trim() : undefined
    })
    expect(sa).toBe('serviceaccount/default')
  })

  it('reports etcd in /readyz?verbose', async () => {
    const res = await server.request('/readyz?verbose', server.credentials())
    expect(res.status).toBe(200)
    expect(res.body).toContain('[+]etcd ok')
  })

  it('answers a client certificate from another CA with a 401 Unauthorized Status', async () => {
    const stranger = signCertificate(createCA('not-the-client-ca'), {
      subject: { commonName: 'mallory', organizations: ['system:masters'] },
      usage: 'client',
    })
    const res = await server.request('/api/v1/namespaces', {
      cert: stranger.certPem,
      key: stranger.keyPem,
    })
    expect(res.status).toBe(401)
    expect(JSON.parse(res.body)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    })
  })

  it('authenticates bearer tokens from --token-auth-file, and answers an unknown one with 401', async () => {
    const asToken = (token: string) =>
      run(KUBECTL, [
        '--kubeconfig=/dev/null',
        `--server=${server.url}`,
        `--certificate-authority=${join(server.stateDir, 'pki', 'ca.crt')}`,
        `--token=${token}`,
        'get',
        'namespace',
        'default',
        '-o',
        'name',
      ])
    expect((await asToken('sekret-token')).stdout.trim()).toBe('namespace/default')
    const bad = await asToken('not-a-token')
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain('error: You must be logged in to the server (Unauthorized)')
  })

  it('impersonates a user with extras read from the raw header names, and refuses extras alone', async () => {
    const { ca, cert, key } = server.credentials()
    const review = (headers: Record<string, string>) =>
      httpsRequest({
        port: server.port,
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        ca,
        cert,
        key,
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'SelfSubjectReview',
          metadata: {},
        }),
      })
    const as = await review({
      'Impersonate-User': 'bob',
      'Impersonate-Group': 'devs',
      'Impersonate-Extra-Scopes': 'view, edit',
      'impersonate-extra-reason%2Fwhy': 'oncall',
    })
    expect(as.status).toBe(201)
    expect(JSON.parse(as.body).status.userInfo).toEqual({
      username: 'bob',
      groups: ['devs', 'system:authenticated'],
      extra: { 'reason/why': ['oncall'], scopes: ['view', 'edit'] },
    })
    const alone = await review({ 'Impersonate-Extra-Scopes': 'view' })
    expect(alone.status).toBe(500)
    expect(JSON.parse(alone.body).message).toBe(
      'Internal error occurred: requested [{UserExtra  view}] without impersonating a user',
    )
  })

  it('refuses an unknown --authorization-mode in one line', async () => {
    await buildNode()
    const r = await run(
      process.execPath,
      ['dist/node.js', '--authorization-mode=Bogus', `--state-dir=${server.stateDir}/bogus`],
      { cwd: ROOT },
    )
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^Error: --authorization-mode: unsupported authorization mode "Bogus"/),
    ])
  })

  it('exits with a one-line error when etcd is unreachable at start', async () => {
    await buildNode()
    const port = await freePort()
    const r = await run(
      process.execPath,
      [
        'dist/node.js',
        `--etcd-servers=http://127.0.0.1:${port}`,
        '--etcd-start-timeout=1s',
        `--secure-port=${await freePort()}`,
        `--state-dir=${server.stateDir}/unreachable`,
      ],
      { cwd: ROOT },
    )
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(
      new RegExp(`^Error: cannot reach etcd at http://127\\.0\\.0\\.1:${port}: `),
    )
  })

  it('ends watches with a clean close and exits 0 on SIGTERM', async () => {
    const second = await NodeServer.start(etcd.endpoints)
    try {
      const admin = second.credentials()
      const w = second.watch(
        '/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0',
        admin,
      )
      const made = await second.kubectl('create', 'configmap', 'e2e-watched')
      expect(made.stdout.trim()).toBe('configmap/e2e-watched created')
      await eventually('the watch event', async () =>
        w.lines.some((l) => l.includes('"e2e-watched"')) ? true : undefined,
      )
      expect(await second.stop()).toBe(0)
      expect(await w.ended).toBe('end')
      // Another server on the same etcd has the object.
      expect(
        (await server.kubectl('get', 'configmap', 'e2e-watched', '-o', 'name')).stdout.trim(),
      ).toBe('configmap/e2e-watched')
    } finally {
      await second.destroy()
    }
  })
})

describe('Node mode while etcd goes away and comes back', () => {
  let etcd: EtcdCluster
  let server: NodeServer
  const CM = '/api/v1/namespaces/default/configmaps'
  const raw = (method: string, path: string, body?: unknown) => {
    const c = server.credentials()
    const text = body === undefined ? undefined : JSON.stringify(body)
    return httpsRequest({
      port: server.port,
      method,
      path,
      ca: c.ca,
      cert: c.cert,
      key: c.key,
      body: text,
      headers: text ? { 'Content-Type': 'application/json' } : {},
    })
  }
  // kube-apiserver's timeout filter: the Status without kind or apiVersion, as text (Go's json.Encoder).
  const READ_TIMEOUT =
    '{"metadata":{},"status":"Failure","message":"Timeout: request did not complete within the allotted timeout","reason":"Timeout","details":{},"code":504}\n'
  // The write handlers' finisher, through the error negotiation: a full Status.
  const WRITE_TIMEOUT = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    reason: 'Timeout',
    details: {},
    code: 504,
    message:
      'Timeout: request did not complete within requested timeout - context deadline exceeded',
  }

  beforeAll(async () => {
    etcd = await startEtcd()
    // A short --request-timeout, so that requests give up on etcd within the test's time; longer than the
    // etcd health check's 2 s, so that /readyz answers before its own deadline, as with kube's defaults.
    server = await NodeServer.start(etcd.endpoints, ['--request-timeout=3s'])
  })
  afterAll(async () => {
    await server?.destroy()
    await etcd?.stop()
  })

  it("answers kube-apiserver's timeouts while etcd is down, then serves again without a restart, losing nothing", async () => {
    for (let i = 0; i < 5; i++) {
      expect(
        (
          await server.kubectl(
            'create',
            'configmap',
            `before-outage-${i}`,
            `--from-literal=k=v${i}`,
          )
        ).stdout.trim(),
      ).toBe(`configmap/before-outage-${i} created`)
    }
    await etcd.members[0]!.kill()

    const ready = await server.request('/readyz?verbose', server.credentials())
    expect(ready.status).toBe(500)
    expect(ready.body).toContain('[-]etcd failed')

    for (const path of [`${CM}/before-outage-0`, CM]) {
      const read = await raw('GET', path)
      expect(read.status).toBe(504)
      expect(read.headers['content-type']).toBe('text/plain; charset=utf-8')
      expect(read.body).toBe(READ_TIMEOUT)
    }
    const writes = [
      await raw('POST', CM, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'during-outage' },
      }),
      await raw('PUT', `${CM}/before-outage-1`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'before-outage-1' },
        data: { k: 'put' },
      }),
      await raw('DELETE', `${CM}/before-outage-2`),
    ]
    for (const w of writes) {
      expect(w.status).toBe(504)
      expect(JSON.parse(w.body)).toEqual(WRITE_TIMEOUT)
    }

    // What kubectl prints: client-go cannot decode the timeout filter's answer, and says so in its own words.
    const get = await server.kubectl('get', 'configmap', 'before-outage-0')
    expect(get.code).toBe(1)
    expect(get.stderr).toBe(
      'Error from server (Timeout): the server was unable to return a response in the time allotted, but may still be processing the request (get configmaps before-outage-0)\n',
    )
    // kubectl patch reads the object first.
    const patch = await server.kubectl(
      'patch',
      'configmap',
      'before-outage-3',
      '-p',
      '{"data":{"k":"patched"}}',
    )
    expect(patch.code).toBe(1)
    expect(patch.stderr).toBe(
      'Error from server (Timeout): the server was unable to return a response in the time allotted, but may still be processing the request (get configmaps before-outage-3)\n',
    )
    const del = await server.kubectl('delete', 'configmap', 'before-outage-4')
    expect(del.code).toBe(1)
    expect(del.stderr).toBe(
      'Error from server (Timeout): Timeout: request did not complete within requested timeout - context deadline exceeded\n',
    )

    await etcd.members[0]!.start()
    const back = await eventually('kubectl get after etcd is back', async () => {
      const r = await server.kubectl(
        'get',
        'configmaps',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.data.k} {end}',
      )
      return r.code === 0 ? r.stdout : undefined
    })
    // Every object written before is there as it was; nothing the outage refused was done.
    expect(
      back
        .trim()
        .split(' ')
        .filter((e) => e.startsWith('before-outage') || e.startsWith('during')),
    ).toEqual([0, 1, 2, 3, 4].map((i) => `before-outage-${i}=v${i}`))
    expect((await server.kubectl('create', 'configmap', 'after-outage')).stdout.trim()).toBe(
      'configmap/after-outage created',
    )
    expect((await server.request('/readyz', server.credentials())).status).toBe(200)
  }, 120_000)
})

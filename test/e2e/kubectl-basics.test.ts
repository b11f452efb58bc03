// The foundation's done-when list, through the real kubectl against `npm start`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalServer } from './harness'

let server: LocalServer

beforeAll(async () => {
  server = await LocalServer.start()
})
afterAll(async () => {
  await server?.dispose()
})

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata:
  name: apply-ns
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: apply-ns
  labels: {app: web, tier: front}
data:
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: apply-ns
stringData:
  password: hunter2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apply-ns
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: nginx:1.27}]
`

describe('kubectl against npm start', () => {
  it('lists the bootstrap namespaces', async () => {
    const out = await server.k('get', 'ns')
    expect(out).toMatch(/^NAME\s+STATUS\s+AGE/)
    for (const ns of ['default', 'kube-node-lease', 'kube-public', 'kube-system'])
      expect(out).toMatch(new RegExp(`^${ns}\\s+Active\\s+\\d+s`, 'm'))
  })

  it('serves discovery that kubectl api-resources and api-versions read', async () => {
    const resources = await server.k('api-resources')
    expect(resources).toMatch(/^configmaps\s+cm\s+v1\s+true\s+ConfigMap$/m)
    expect(resources).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m)
    expect(resources).toMatch(/^namespaces\s+ns\s+v1\s+false\s+Namespace$/m)
    const versions = (await server.k('api-versions')).trim().split('\n')
    expect(versions).toEqual(
      expect.arrayContaining([
        'v1',
        'apps/v1',
        'batch/v1',
        'rbac.authorization.k8s.io/v1',
        'coordination.k8s.io/v1',
      ]),
    )
  })

  it('creates built-in kinds imperatively', async () => {
    expect(await server.k('create', 'ns', 'imp')).toBe('namespace/imp created\n')
    expect(await server.k('create', 'configmap', 'cm1', '-n', 'imp', '--from-literal=a=b')).toBe(
      'configmap/cm1 created\n',
    )
    expect(
      await server.k('create', 'secret', 'generic', 's1', '-n', 'imp', '--from-literal=x=y'),
    ).toBe('secret/s1 created\n')
    expect(await server.k('create', 'deployment', 'web', '-n', 'imp', '--image=nginx')).toBe(
      'deployment.apps/web created\n',
    )
    expect(
      await server.k('create', 'service', 'clusterip', 'svc', '-n', 'imp', '--tcp=80:8080'),
    ).toBe('service/svc created\n')
    expect(await server.k('create', 'job', 'j', '-n', 'imp', '--image=busybox')).toBe(
      'job.batch/j created\n',
    )
    expect(await server.k('get', 'secret', 's1', '-n', 'imp', '-o', 'jsonpath={.data.x}')).toBe(
      Buffer.from('y').toString('base64'),
    )
    const svc = await server.k('get', 'svc', 'svc', '-n', 'imp')
    expect(svc).toMatch(/^svc\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m)
  })

  it('applies a multi-document manifest client-side, and again after an edit', async () => {
    const file = join(server.stateDir, 'manifest.yaml')
    writeFileSync(file, MANIFEST)
    expect(await server.k('apply', '-f', file)).toBe(
      'namespace/apply-ns created\nconfigmap/settings created\nsecret/creds created\ndeployment.apps/web created\n',
    )
    writeFileSync(file, MANIFEST.replace('color: blue', 'color: green'))
    // stringData is write-only, so kube-apiserver too reports a Secret applied from stringData as configured every time.
    expect(await server.k('apply', '-f', file)).toBe(
      'namespace/apply-ns unchanged\nconfigmap/settings configured\nsecret/creds configured\ndeployment.apps/web unchanged\n',
    )
    expect(
      await server.k('get', 'cm', 'settings', '-n', 'apply-ns', '-o', 'jsonpath={.data.color}'),
    ).toBe('green')
  })

  it('prints -o yaml, json, wide, name and jsonpath', async () => {
    const yaml = await server.k('get', 'cm', 'settings', '-n', 'apply-ns', '-o', 'yaml')
    expect(yaml).toMatch(/^apiVersion: v1\ndata:\n {2}color: green\nkind: ConfigMap\nmetadata:/)
    expect(yaml).toMatch(/resourceVersion: "\d+"/)
    expect(yaml).toMatch(/uid: [0-9a-f-]{36}/)
    const json = JSON.parse(await server.k('get', 'deploy', 'web', '-n', 'apply-ns', '-o', 'json'))
    expect(json).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'apply-ns', generation: 1 },
    })
    expect(json.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
    })
    const wide = await server.k('get', 'deploy', '-n', 'apply-ns', '-o', 'wide')
    expect(wide).toMatch(
      /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/m,
    )
    expect(wide).toMatch(/^web\s+0\/1\s+0\s+0\s+\d+s\s+nginx\s+nginx:1\.27\s+app=web$/m)
    // kube-root-ca.crt is published into every namespace, as kube-controller-manager does.
    expect(await server.k('get', 'cm,secret', '-n', 'apply-ns', '-o', 'name')).toBe(
      'configmap/kube-root-ca.crt\nconfigmap/settings\nsecret/creds\n',
    )
    expect(await server.k('get', 'ns', 'apply-ns', '-o', 'jsonpath={.status.phase}')).toBe('Active')
  })

  it('selects by label and field', async () => {
    await server.k('create', 'ns', 'sel')
    for (const [name, app] of [
      ['a1', 'b'],
      ['a2', 'c'],
      ['a3', 'd'],
    ]) {
      await server.k('create', 'configmap', name, '-n', 'sel')
      await server.k('label', 'cm', name, '-n', 'sel', `app=${app}`)
    }
    const out = await server.k('get', 'cm', '-n', 'sel', '--show-labels', '-l', 'app in (b,c)')
    expect(out).toMatch(/^NAME\s+DATA\s+AGE\s+LABELS$/m)
    expect(out).toMatch(/^a1\s+0\s+\d+s\s+app=b$/m)
    expect(out).toMatch(/^a2\s+0\s+\d+s\s+app=c$/m)
    expect(out).not.toMatch(/^a3/m)
    expect(
      await server.k(
        'get',
        'cm',
        '-n',
        'sel',
        '--field-selector',
        'metadata.name=a3',
        '-o',
        'name',
      ),
    ).toBe('configmap/a3\n')
    expect(
      await server.k(
        'get',
        'cm',
        '-A',
        '--field-selector',
        'metadata.namespace=sel,metadata.name!=a1,metadata.name!=kube-root-ca.crt',
        '-o',
        'name',
      ),
    ).toBe('configmap/a2\nconfigmap/a3\n')
    const bad = await server.kubectl(['get', 'cm', '-n', 'sel', '-l', 'a in (b'])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain("unable to parse requirement: found '', expected: ',' or ')'")
    const badField = await server.kubectl(['get', 'pods', '--field-selector', 'spec.foo=bar'])
    expect(badField.stderr).toBe(
      'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field selector "spec.foo=bar": field label not supported: spec.foo\n',
    )
  })

  it('pages with --chunk-size over more objects than one chunk', async () => {
    await server.k('create', 'ns', 'chunks')
    for (let i = 0; i < 7; i++) await server.k('create', 'configmap', `c${i}`, '-n', 'chunks')
    const r = await server.kubectl(['get', 'cm', '-n', 'chunks', '--chunk-size=2', '-v=6'])
    expect(r.code).toBe(0)
    expect(
      r.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'kube-root-ca.crt'])
    expect((r.stderr.match(/configmaps\?(continue=[^&\s]+&)?limit=2 200 OK/g) ?? []).length).toBe(4)
  })

  it('describes, labels, annotates, scales, patches and replaces', async () => {
    const describe = await server.k('describe', 'cm', 'settings', '-n', 'apply-ns')
    expect(describe).toMatch(/^Name:\s+settings$/m)
    expect(describe).toMatch(/^Namespace:\s+apply-ns$/m)
    expect(describe).toMatch(/^color:\n----\ngreen$/m)
    expect(await server.k('label', 'cm', 'settings', '-n', 'apply-ns', 'extra=1')).toBe(
      'configmap/settings labeled\n',
    )
    expect(await server.k('annotate', 'cm', 'settings', '-n', 'apply-ns', 'note=hello')).toBe(
      'configmap/settings annotated\n',
    )
    expect(await server.k('scale', 'deploy', 'web', '-n', 'apply-ns', '--replicas=3')).toBe(
      'deployment.apps/web scaled\n',
    )
    expect(
      await server.k(
        'get',
        'deploy',
        'web',
        '-n',
        'apply-ns',
        '-o',
        'jsonpath={.spec.replicas}/{.metadata.generation}',
      ),
    ).toBe('3/2')
    expect(
      await server.k(
        'patch',
        'cm',
        'settings',
        '-n',
        'apply-ns',
        '--type=merge',
        '-p',
        '{"data":{"size":"L"}}',
      ),
    ).toBe('configmap/settings patched\n')
    expect(
      await server.k(
        'patch',
        'cm',
        'settings',
        '-n',
        'apply-ns',
        '--type=json',
        '-p',
        '[{"op":"remove","path":"/data/color"}]',
      ),
    ).toBe('configmap/settings patched\n')
    expect(
      await server.k('get', 'cm', 'settings', '-n', 'apply-ns', '-o', 'jsonpath={.data}'),
    ).toBe('{"size":"L"}')
    const current = JSON.parse(
      await server.k('get', 'cm', 'settings', '-n', 'apply-ns', '-o', 'json'),
    )
    current.data = { replaced: 'yes' }
    expect(
      await server
        .kubectl(['replace', '-f', '-'], { input: JSON.stringify(current) })
        .then((r) => r.stdout),
    ).toBe('configmap/settings replaced\n')
    // The same body again carries a resourceVersion that is now stale.
    const stale = await server.kubectl(['replace', '-f', '-'], { input: JSON.stringify(current) })
    expect(stale.stderr).toBe(
      'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "settings": the object has been modified; please apply your changes to the latest version and try again\n',
    )
  })

  it("deletes, and then answers NotFound with kube-apiserver's message", async () => {
    await server.k('create', 'configmap', 'doomed', '-n', 'default')
    expect(await server.k('delete', 'cm', 'doomed')).toBe('configmap "doomed" deleted\n')
    const r = await server.kubectl(['get', 'cm', 'doomed'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('Error from server (NotFound): configmaps "doomed" not found\n')
    const d = await server.kubectl(['delete', 'deploy', 'nothere'])
    expect(d.stderr).toBe('Error from server (NotFound): deployments.apps "nothere" not found\n')
  })

  it('answers readyz, livez and healthz as kube-apiserver does', async () => {
    expect(await server.k('get', '--raw', '/readyz?verbose')).toMatch(
      /^\[\+\]ping ok\n\[\+\]log ok\n\[\+\]etcd ok\n(\[\+\][^\n]+ ok\n)*readyz check passed\n$/,
    )
    expect(await server.k('get', '--raw', '/livez?verbose&exclude=etcd')).toContain(
      '[+]etcd excluded: ok',
    )
    expect(await server.k('get', '--raw', '/healthz')).toBe('ok')
    expect(await server.k('get', '--raw', '/livez/ping')).toBe('ok')
  })

  it("rejects bad input with kube-apiserver's Status and stores nothing", async () => {
    const badName = await server.kubectl(['create', 'configmap', 'Bad_Name'])
    expect(badName.stderr).toContain(
      'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character',
    )
    const noNs = await server.kubectl(['create', 'configmap', 'x', '-n', 'does-not-exist'])
    expect(noNs.stderr).toContain('namespaces "does-not-exist" not found')
    const unknownKind = await server.kubectl(['apply', '--validate=false', '-f', '-'], {
      input: 'apiVersion: v1\nkind: Gizmo\nmetadata:\n  name: g\n',
    })
    expect(unknownKind.stderr).toContain('no matches for kind "Gizmo" in version "v1"')
    const malformed = await server.kubectl([
      'get',
      '--raw',
      '/api/v1/namespaces/default/configmaps',
      '-v=0',
    ])
    expect(malformed.code).toBe(0)
    const list = await server.k('get', 'cm', '-n', 'default', '-o', 'name')
    expect(list).not.toContain('Bad_Name')
  })

  it('keeps every object across a restart on the same state dir', async () => {
    const before = await server.k('get', 'cm,secret,deploy,svc', '-A', '-o', 'name')
    const rv = await server.k(
      'get',
      'cm',
      'settings',
      '-n',
      'apply-ns',
      '-o',
      'jsonpath={.metadata.resourceVersion}',
    )
    await server.stop()
    await server.boot()
    expect(await server.k('get', 'cm,secret,deploy,svc', '-A', '-o', 'name')).toBe(before)
    expect(
      await server.k(
        'get',
        'cm',
        'settings',
        '-n',
        'apply-ns',
        '-o',
        'jsonpath={.metadata.resourceVersion}',
      ),
    ).toBe(rv)
    expect(await server.k('create', 'configmap', 'after-restart')).toBe(
      'configmap/after-restart created\n',
    )
    const newRv = Number(
      await server.k('get', 'cm', 'after-restart', '-o', 'jsonpath={.metadata.resourceVersion}'),
    )
    expect(newRv).toBeGreaterThan(Number(rv))
  })
})

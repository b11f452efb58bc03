// kubectl apply (client-side and server-side), diff, edit, explain and field validation through the real
// kubectl against `npm start` (the Worker on workerd): what kubectl needs OpenAPI, strategic merge patch,
// managed fields and server-side apply for.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KUBECTL, LocalServer, run, type RunResult } from './harness'

let server: LocalServer

const kubectl = (...args: string[]): Promise<RunResult> => server.kubectl(args)
const file = (name: string, text: string): string => server.file(name, text)
const jsonOf = async (...args: string[]) =>
  JSON.parse(await server.k(...args, '--show-managed-fields', '-o', 'json'))

const deployment = (opts: { replicas: number; containers: [string, string][]; extra?: string }) => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${opts.replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
${opts.containers.map(([name, image]) => `      - name: ${name}\n        image: ${image}`).join('\n')}
${opts.extra ?? ''}`

const MANIFEST = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: credentials
stringData:
  password: hunter2
---
${deployment({
  replicas: 2,
  containers: [
    ['a', 'nginx:1.25'],
    ['b', 'busybox:1'],
    ['c', 'redis:7'],
  ],
})}`

beforeAll(async () => {
  server = await LocalServer.start()
}, 180_000)

afterAll(async () => {
  await server?.dispose()
})

describe('client-side kubectl apply', () => {
  it('applies a multi-document manifest with the default (strict) validation', async () => {
    const r = await kubectl('apply', '-f', file('m1.yaml', MANIFEST))
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(
      'configmap/settings created\nsecret/credentials created\ndeployment.apps/web created\n',
    )
    const d = await jsonOf('get', 'deployment', 'web')
    expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain(
      '"replicas":2',
    )
    expect(
      d.metadata.managedFields.map(
        (m: { manager: string; operation: string }) => `${m.manager}/${m.operation}`,
      ),
    ).toEqual(['kubectl-client-side-apply/Update'])
  })

  it('kubectl diff shows an edit without applying it', async () => {
    const edited = file(
      'm2.yaml',
      deployment({
        replicas: 3,
        containers: [
          ['c', 'redis:7.2'],
          ['a', 'nginx:1.25'],
        ],
      }),
    )
    const r = await kubectl('diff', '-f', edited)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^-  replicas: 2$/m)
    expect(r.stdout).toMatch(/^\+  replicas: 3$/m)
    expect(r.stdout).toMatch(/^-      - image: busybox:1$/m)
    expect((await jsonOf('get', 'deployment', 'web')).spec.replicas).toBe(2)
  })

  it('re-applies an edit that drops one container and reorders the others: containers merge by name', async () => {
    const r = await kubectl('apply', '-f', join(server.stateDir, 'm2.yaml'))
    expect(r.stdout).toBe('deployment.apps/web configured\n')
    const d = await jsonOf('get', 'deployment', 'web')
    expect(d.spec.replicas).toBe(3)
    expect(
      d.spec.template.spec.containers.map(
        (c: { name: string; image: string }) => `${c.name}=${c.image}`,
      ),
    ).toEqual(['c=redis:7.2', 'a=nginx:1.25'])
    // Defaults filled in at creation survive the patch.
    expect(d.spec.template.spec.containers[1].imagePullPolicy).toBe('IfNotPresent')
  })

  it('kubectl edit with a scripted editor patches the object and records kubectl-edit', async () => {
    const editor = file('editor.sh', '#!/bin/sh\nsed -i "s/replicas: 3/replicas: 4/" "$1"\n')
    const r = await run(KUBECTL, ['--kubeconfig', server.kubeconfig, 'edit', 'deployment', 'web'], {
      env: { EDITOR: `sh ${editor}` },
    })
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('deployment.apps/web edited\n')
    const d = await jsonOf('get', 'deployment', 'web')
    expect(d.spec.replicas).toBe(4)
    const edit = d.metadata.managedFields.find(
      (m: { manager: string }) => m.manager === 'kubectl-edit',
    )
    expect(edit.fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } })
  })
})

describe('server-side apply', () => {
  it('takes over from client-side apply, conflicts with another manager, and wins with --force-conflicts', async () => {
    const r1 = await kubectl(
      'apply',
      '--server-side',
      '-f',
      file(
        'ssa.yaml',
        deployment({
          replicas: 4,
          containers: [
            ['c', 'redis:7.2'],
            ['a', 'nginx:1.25'],
          ],
        }),
      ),
    )
    expect(r1.stderr).toBe('')
    expect(r1.stdout).toBe('deployment.apps/web serverside-applied\n')

    const scaler = file(
      'scaler.yaml',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 7\n',
    )
    const conflict = await kubectl('apply', '--server-side', '--field-manager=scaler', '-f', scaler)
    expect(conflict.code).toBe(1)
    // kubectl-edit set the same value kubectl applied: both own the field.
    expect(conflict.stderr).toContain(
      'error: Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\nconflicts with "kubectl-edit" using apps/v1:\n- .spec.replicas\n',
    )
    expect((await jsonOf('get', 'deployment', 'web')).spec.replicas).toBe(4)

    const forced = await kubectl(
      'apply',
      '--server-side',
      '--field-manager=scaler',
      '--force-conflicts',
      '-f',
      scaler,
    )
    expect(forced.stdout).toBe('deployment.apps/web serverside-applied\n')
    const d = await jsonOf('get', 'deployment', 'web')
    expect(d.spec.replicas).toBe(7)
    const byManager = Object.fromEntries(
      d.metadata.managedFields.map((m: { manager: string; fieldsV1: unknown }) => [
        m.manager,
        m.fieldsV1,
      ]),
    )
    expect(byManager.scaler).toEqual({ 'f:spec': { 'f:replicas': {} } })
    expect(byManager.kubectl['f:spec']['f:replicas']).toBeUndefined()
  })

  it('a server-side dry run changes nothing', async () => {
    const r = await kubectl(
      'apply',
      '--server-side',
      '--force-conflicts',
      '--dry-run=server',
      '-f',
      file('dry.yaml', deployment({ replicas: 9, containers: [['a', 'nginx:1.27']] })),
    )
    expect(r.stdout).toBe('deployment.apps/web serverside-applied (server dry run)\n')
    expect((await jsonOf('get', 'deployment', 'web')).spec.replicas).toBe(7)
  })
})

describe('explain and field validation', () => {
  it('kubectl explain reads the published schema', async () => {
    const out = await server.k('explain', 'deployment.spec.replicas')
    expect(out).toContain('KIND:       Deployment')
    expect(out).toContain('FIELD: replicas <integer>')
    const containers = await server.k('explain', 'deployment.spec.template.spec.containers')
    expect(containers).toContain('FIELD: containers <[]Container>')
    expect(containers).toMatch(/^ {2}name\t<string> -required-$/m)
  })

  it("kubectl create of a misspelled field fails with kube-apiserver's strict decoding error and stores nothing", async () => {
    const bad = file(
      'bad.yaml',
      deployment({ replicas: 1, containers: [['a', 'nginx']] })
        .replace('name: web', 'name: typo')
        .replace('  replicas: 1', '  replicaz: 1'),
    )
    const r = await kubectl('create', '-f', bad)
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(
      'Error from server (BadRequest): error when creating "' +
        bad +
        '": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"',
    )
    expect((await kubectl('get', 'deployment', 'typo')).code).toBe(1)
  })

  it('--validate=warn creates the object without the unknown field and prints a warning', async () => {
    const bad = file(
      'warn.yaml',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warned\ndata:\n  a: "1"\nbogus: true\n',
    )
    const r = await kubectl('create', '--validate=warn', '-f', bad)
    expect(r.stderr).toBe('Warning: unknown field "bogus"\n')
    expect(r.stdout).toBe('configmap/warned created\n')
    expect((await jsonOf('get', 'configmap', 'warned')).bogus).toBeUndefined()
  })
})

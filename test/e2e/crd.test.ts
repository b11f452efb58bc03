// CustomResourceDefinitions through the real kubectl against `npm start`: the real-world CRDs under
// test/fixtures/crds (cert-manager, Prometheus Operator, Argo CD), their custom resources (create, list, get with
// printer columns, watch, merge/json/strategic patch, schema and CEL validation, scale, field selectors,
// explain), and deleting a CRD with its objects.
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KUBECTL, LocalServer, type RunResult } from './harness'

const CRDS = resolve(__dirname, '..', 'fixtures', 'crds')

let server: LocalServer
const kubectl = (...args: string[]): Promise<RunResult> => server.kubectl(args)
const file = (name: string, text: string): string => server.file(name, text)

function applyServerSide(path: string): Promise<string> {
  return server.k('apply', '--server-side', '-f', path)
}

const crontabCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct], categories: [all]}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    selectableFields:
    - jsonPath: .spec.cronSpec
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - {rule: "self.replicas <= 10", message: "replicas must be at most 10"}
            - {rule: "self.image == oldSelf.image", message: "image is immutable"}
            properties:
              cronSpec: {type: string, pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'}
              image: {type: string}
              replicas: {type: integer, default: 1, minimum: 0}
          status:
            type: object
            properties:
              replicas: {type: integer}
`

const crontab = (name: string, spec: string) => `
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: ${name}, namespace: default}
spec: ${spec}
`

beforeAll(async () => {
  server = await LocalServer.start()
})
afterAll(async () => {
  await server?.dispose()
})

describe('real-world CustomResourceDefinitions', () => {
  it('applies every CRD under test/fixtures/crds and establishes it', async () => {
    const files = readdirSync(CRDS)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
    expect(files.length).toBe(8)
    for (const f of files) await applyServerSide(join(CRDS, f))
    const crds = JSON.parse(await server.k('get', 'crd', '-o', 'json')).items as any[]
    expect(crds.map((c) => c.metadata.name)).toEqual(
      expect.arrayContaining([
        'certificates.cert-manager.io',
        'issuers.cert-manager.io',
        'clusterissuers.cert-manager.io',
        'servicemonitors.monitoring.coreos.com',
        'prometheusrules.monitoring.coreos.com',
        'prometheuses.monitoring.coreos.com',
        'applications.argoproj.io',
        'appprojects.argoproj.io',
      ]),
    )
    for (const c of crds) {
      const conditions = Object.fromEntries(
        c.status.conditions.map((x: any) => [x.type, [x.status, x.reason]]),
      )
      expect(conditions).toEqual({
        NamesAccepted: ['True', 'NoConflicts'],
        Established: ['True', 'InitialNamesAccepted'],
      })
      expect(c.status.acceptedNames.kind).toBe(c.spec.names.kind)
      expect(c.status.storedVersions).toEqual([c.spec.versions.find((v: any) => v.storage).name])
    }
    const resources = await server.k('api-resources', '--api-group=cert-manager.io')
    expect(resources).toMatch(
      /certificates\s+cert,certs\s+cert-manager.io\/v1\s+true\s+Certificate/,
    )
  })

  it('creates, lists and shows a Certificate with its printer columns', async () => {
    await server.k(
      'create',
      '-f',
      file(
        'cert.yaml',
        `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: example, namespace: default}
spec:
  secretName: example-tls
  dnsNames: [example.com]
  issuerRef: {name: ca-issuer, kind: Issuer}
`,
      ),
    )
    const table = await server.k('get', 'certificates')
    expect(table.split('\n')[0]).toMatch(/^NAME\s+READY\s+SECRET\s+AGE$/)
    expect(table).toMatch(/^example\s+example-tls\s+\d+s$/m)
    const wide = await server.k('get', 'cert', 'example', '-o', 'wide')
    expect(wide.split('\n')[0]).toMatch(
      /^NAME\s+READY\s+SECRET\s+ISSUER\s+STATUS\s+EXPIRATION\s+AGE$/,
    )
    const obj = JSON.parse(await server.k('get', 'certs', 'example', '-o', 'json'))
    expect(obj).toMatchObject({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { generation: 1 },
      spec: { secretName: 'example-tls' },
    })
  })

  it('patches a custom resource with merge and JSON patches, and answers a strategic merge patch with 415', async () => {
    await server.k(
      'patch',
      'cert',
      'example',
      '--type=merge',
      '-p',
      '{"spec":{"secretName":"merged"}}',
    )
    await server.k(
      'patch',
      'cert',
      'example',
      '--type=json',
      '-p',
      '[{"op":"add","path":"/spec/duration","value":"2160h"}]',
    )
    const obj = JSON.parse(await server.k('get', 'cert', 'example', '-o', 'json'))
    expect(obj.spec).toMatchObject({ secretName: 'merged', duration: '2160h' })
    expect(obj.metadata.generation).toBe(3)
    const r = await kubectl(
      'patch',
      'cert',
      'example',
      '--type=strategic',
      '-p',
      '{"spec":{"secretName":"x"}}',
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    )
  })

  it("rejects an object its schema does not allow with kube-apiserver's message", async () => {
    const r = await kubectl(
      'patch',
      'cert',
      'example',
      '--type=merge',
      '-p',
      '{"spec":{"dnsNames":"example.com","issuerRef":null}}',
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('The Certificate "example" is invalid')
    expect(r.stderr).toContain(
      'spec.dnsNames: Invalid value: "string": spec.dnsNames in body must be of type array: "string"',
    )
    expect(r.stderr).toContain('spec.issuerRef: Required value')
    const missing = await kubectl(
      'create',
      '-f',
      file(
        'bad-cert.yaml',
        `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bad, namespace: default}
spec: {dnsNames: [a.example.com]}
`,
      ),
    )
    expect(missing.stderr).toContain('The Certificate "bad" is invalid: ')
    expect(missing.stderr).toContain('spec.issuerRef: Required value')
    expect(missing.stderr).toContain('spec.secretName: Required value')
  })

  it('serves cluster-scoped custom resources and explains their fields', async () => {
    await server.k(
      'create',
      '-f',
      file(
        'issuer.yaml',
        `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
`,
      ),
    )
    expect(await server.k('get', 'clusterissuers')).toMatch(/^selfsigned\s+\d+s$/m)
    expect((await kubectl('get', 'clusterissuers', '-n', 'default', 'selfsigned')).code).toBe(0)
    const explain = await server.k('explain', 'certificate.spec.secretName')
    expect(explain).toContain('KIND:       Certificate')
    expect(explain).toContain('FIELD: secretName <string>')
  })

  it('watches custom resources with kubectl get -w', async () => {
    const child = spawn(
      KUBECTL,
      ['--kubeconfig', server.kubeconfig, 'get', 'servicemonitors', '-n', 'default', '-w'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    try {
      // Give kubectl time to list and start its watch.
      await new Promise((r) => setTimeout(r, 3000))
      await server.k(
        'create',
        '-f',
        file(
          'sm.yaml',
          `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http}]
`,
        ),
      )
      for (let i = 0; i < 300 && !/web/.test(out); i++) await new Promise((r) => setTimeout(r, 100))
      expect(out).toMatch(/^web\s+\d+s$/m)
    } finally {
      child.kill('SIGTERM')
    }
  })

  it('deletes a custom resource', async () => {
    expect(await server.k('delete', 'cert', 'example')).toContain(
      'certificate.cert-manager.io "example" deleted',
    )
    const r = await kubectl('get', 'cert', 'example')
    expect(r.stderr).toContain('certificates.cert-manager.io "example" not found')
  })
})

describe('a CRD of our own', () => {
  it('serves every version, defaults, scales, selects by selectable fields and runs CEL rules', async () => {
    await server.k('create', '-f', file('crontab-crd.yaml', crontabCRD))
    await server.k(
      'create',
      '-f',
      file('ct.yaml', crontab('my-cron', '{cronSpec: "* * * * */5", image: my-image}')),
    )
    expect(await server.k('get', 'ct')).toMatch(/^my-cron\s+\* \* \* \* \*\/5\s+1\s+\d+s$/m)
    // category "all"
    expect(await server.k('get', 'all')).toContain('crontab.stable.example.com/my-cron')
    const beta = JSON.parse(
      await server.k('get', 'crontabs.v1beta1.stable.example.com', 'my-cron', '-o', 'json'),
    )
    expect(beta.apiVersion).toBe('stable.example.com/v1beta1')
    expect(beta.spec.replicas).toBe(1)

    await server.k('scale', 'ct', 'my-cron', '--replicas=3')
    expect(await server.k('get', 'ct', 'my-cron', '-o', 'jsonpath={.spec.replicas}')).toBe('3')
    const cel = await kubectl('scale', 'ct', 'my-cron', '--replicas=30')
    expect(cel.stderr).toContain(
      'The CronTab "my-cron" is invalid: spec: Invalid value: "object": replicas must be at most 10',
    )
    const transition = await kubectl(
      'patch',
      'ct',
      'my-cron',
      '--type=merge',
      '-p',
      '{"spec":{"image":"other"}}',
    )
    expect(transition.stderr).toContain('spec: Invalid value: "object": image is immutable')
    const pattern = await kubectl(
      'create',
      '-f',
      file('ct-bad.yaml', crontab('bad', '{cronSpec: "never", image: x}')),
    )
    expect(pattern.stderr).toContain(
      'spec.cronSpec: Invalid value: "never": spec.cronSpec in body should match',
    )

    expect(
      await server.k('get', 'ct', '--field-selector', 'spec.cronSpec=* * * * */5', '-o', 'name'),
    ).toBe('crontab.stable.example.com/my-cron\n')
    const badField = await kubectl('get', 'ct', '--field-selector', 'spec.image=x')
    expect(badField.stderr).toContain('field label not supported: spec.image')

    // status changes only through the status subresource
    await server.k('patch', 'ct', 'my-cron', '--type=merge', '-p', '{"status":{"replicas":5}}')
    expect(await server.k('get', 'ct', 'my-cron', '-o', 'jsonpath={.status.replicas}')).toBe('')
    await server.k(
      'patch',
      'ct',
      'my-cron',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"replicas":2}}',
    )
    expect(await server.k('get', 'ct', 'my-cron', '-o', 'jsonpath={.status.replicas}')).toBe('2')
  })

  it('deleting the CRD deletes its custom resources and its discovery', async () => {
    await server.k(
      'create',
      '-f',
      file('ct2.yaml', crontab('other', '{cronSpec: "* * * * *", image: x}')),
    )
    expect(await server.k('delete', 'crd', 'crontabs.stable.example.com')).toContain('deleted')
    expect((await kubectl('get', 'crd', 'crontabs.stable.example.com')).stderr).toContain(
      'not found',
    )
    const gone = await kubectl('get', 'ct')
    expect(gone.code).not.toBe(0)
    expect(gone.stderr).toMatch(
      /the server doesn't have a resource type "ct"|could not find the requested resource/,
    )
    // The same CRD again starts with no objects left over from before.
    await server.k('create', '-f', file('crontab-crd.yaml', crontabCRD))
    expect((await kubectl('get', 'ct', '-A')).stderr).toContain('No resources found')
  })

  it("rejects an invalid CRD with kube-apiserver's messages", async () => {
    const r = await kubectl(
      'create',
      '-f',
      file(
        'bad-crd.yaml',
        `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Galaxy
  names: {plural: gadgets, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {properties: {size: {type: integer}}}
`,
      ),
    )
    expect(r.stderr).toContain('The CustomResourceDefinition "widgets.example.com" is invalid')
    expect(r.stderr).toContain(
      'metadata.name: Invalid value: "widgets.example.com": must be spec.names.plural+"."+spec.group',
    )
    expect(r.stderr).toContain(
      'spec.scope: Unsupported value: "Galaxy": supported values: "Cluster", "Namespaced"',
    )
    expect(r.stderr).toContain('must have exactly one version marked as storage version')
    expect(r.stderr).toContain(
      'spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields',
    )
  })
})

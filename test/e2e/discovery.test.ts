// Discovery and OpenAPI as kube-apiserver serves them, through real clients against `npm start`:
// storageVersionHash read by kubectl get --raw and by @kubernetes/client-node's discovery call, the
// /openapi/v2 protobuf that kubectl explain --output=plaintext-openapiv2 fetches through client-go's
// discovery client, and kube's descriptions in what kubectl explain prints.
import { createHash } from 'node:crypto'
import { ApisApi, CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import protobuf from 'protobufjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'

let server: LocalServer
type Any = Record<string, any>

beforeAll(async () => {
  server = await LocalServer.start()
})
afterAll(async () => {
  await server?.dispose()
})

// kube's StorageVersionHash, computed here independently of the server.
const hash = (gvk: string) =>
  createHash('sha256').update(gvk).digest().subarray(0, 8).toString('base64')
const resources = async (path: string): Promise<Map<string, Any>> =>
  new Map(
    (JSON.parse(await server.k('get', '--raw', path)).resources as Any[]).map((r) => [r.name, r]),
  )

const crd = (storage: 'v1' | 'v1beta1') => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.hash.example.com
spec:
  group: hash.example.com
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
  - name: v1
    served: true
    storage: ${storage === 'v1'}
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
    subresources: { status: {} }
  - name: v1beta1
    served: true
    storage: ${storage === 'v1beta1'}
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
    subresources: { status: {} }
`

describe('storageVersionHash', () => {
  it('is in /api/v1 and /apis/<group>/<version> with the values kube-apiserver publishes, on no subresource', async () => {
    const core = await resources('/api/v1')
    // The values of kube's pkg/controlplane/storageversionhashdata.
    expect(core.get('configmaps')!.storageVersionHash).toBe('qFsyl6wFWjQ=')
    expect(core.get('pods')!.storageVersionHash).toBe('xPOwRZ+Yhw8=')
    expect(core.get('namespaces')!.storageVersionHash).toBe('Q3oi5N2YM8M=')
    for (const [name, r] of core)
      if (name.includes('/')) expect(r.storageVersionHash, name).toBeUndefined()
    expect((await resources('/apis/apps/v1')).get('deployments')!.storageVersionHash).toBe(
      '8aSe+NMegvE=',
    )
    // events.k8s.io Events are stored as core v1 Events.
    expect((await resources('/apis/events.k8s.io/v1')).get('events')!.storageVersionHash).toBe(
      'r2yiGXH7wu8=',
    )
    // Never stored: no hash.
    expect(
      (await resources('/apis/authorization.k8s.io/v1')).get('subjectaccessreviews')!
        .storageVersionHash,
    ).toBeUndefined()
  })

  it('is not in aggregated discovery, whose APIResourceDiscovery has no such field', async () => {
    const r = await server.request('GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    })
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).items.length).toBeGreaterThan(5)
    expect(r.body).not.toContain('storageVersionHash')
  })

  it("of a custom resource is its CRD's storage version's, in every served version, and follows a storage change", async () => {
    await server.k('apply', '-f', server.file('widgets-crd.yaml', crd('v1beta1')))
    await server.k('wait', '--for=condition=Established', 'crd/widgets.hash.example.com')
    for (const v of ['v1', 'v1beta1']) {
      const list = await resources(`/apis/hash.example.com/${v}`)
      expect(list.get('widgets')!.storageVersionHash, v).toBe(
        hash('hash.example.com/v1beta1/Widget'),
      )
      expect(list.get('widgets/status')!.storageVersionHash, v).toBeUndefined()
    }
    await server.k('apply', '-f', server.file('widgets-crd.yaml', crd('v1')))
    await expect
      .poll(
        async () =>
          (await resources('/apis/hash.example.com/v1beta1')).get('widgets')!.storageVersionHash,
      )
      .toBe(hash('hash.example.com/v1/Widget'))
  })

  it('reaches @kubernetes/client-node through its discovery calls', async () => {
    const kc = new KubeConfig()
    kc.loadFromFile(server.kubeconfig)
    const core = await kc.makeApiClient(CoreV1Api).getAPIResources()
    expect(core.resources.find((r) => r.name === 'configmaps')!.storageVersionHash).toBe(
      'qFsyl6wFWjQ=',
    )
    expect(core.resources.find((r) => r.name === 'pods/status')!.storageVersionHash).toBeUndefined()
    const groups = await kc.makeApiClient(ApisApi).getAPIVersions()
    expect(groups.groups.some((g) => g.name === 'apps')).toBe(true)
  })
})

describe('/openapi/v2', () => {
  const PB = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
  const PB_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'

  it("kubectl explain --output=plaintext-openapiv2 reads it as protobuf and prints kube's description", async () => {
    const r = await server.kubectl([
      'explain',
      'configmap.data',
      '--output=plaintext-openapiv2',
      '-v=8',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`Accept: ${PB}`)
    expect(r.stderr).toContain(`Content-Type: ${PB_TYPE}`)
    expect(r.stdout).toContain('FIELD:    data <map[string]string>')
    expect(r.stdout.replace(/\s+/g, ' ')).toContain(
      "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    )
  })

  it('is JSON by default and for JSON clients, protobuf under either name, 406 with no body otherwise', async () => {
    const json = await server.request('GET', '/openapi/v2', undefined, { Accept: '' })
    expect(json.status).toBe(200)
    expect(json.headers['content-type']).toBe('application/json')
    const doc = JSON.parse(json.body)
    expect(doc.swagger).toBe('2.0')
    for (const accept of [PB, PB_TYPE, `application/json;q=0.5, ${PB}`]) {
      const r = await server.request('GET', '/openapi/v2', undefined, { Accept: accept })
      expect(r.status, accept).toBe(200)
      expect(r.headers['content-type'], accept).toBe(PB_TYPE)
      expect(r.headers.etag, accept).toBe(json.headers.etag)
      const root = new protobuf.Root().loadSync(
        new URL('../fixtures/openapiv2/OpenAPIv2.proto', import.meta.url).pathname,
        { keepCase: true },
      )
      const Document = root.lookupType('openapi.v2.Document')
      const decoded = Document.toObject(Document.decode(r.raw)) as Any
      expect(decoded.swagger).toBe('2.0')
      expect(decoded.paths.path.length).toBe(Object.keys(doc.paths).length)
      expect(decoded.definitions.additional_properties.length).toBe(
        Object.keys(doc.definitions).length,
      )
    }
    for (const accept of ['application/*', '*/*', `application/json, ${PB}`]) {
      const r = await server.request('GET', '/openapi/v2', undefined, { Accept: accept })
      expect(r.headers['content-type'], accept).toBe('application/json')
    }
    const refused = await server.request('GET', '/openapi/v2', undefined, { Accept: 'text/html' })
    expect(refused.status).toBe(406)
    expect(refused.body).toBe('')
    const unchanged = await server.request('GET', '/openapi/v2', undefined, {
      Accept: PB,
      'If-None-Match': json.headers.etag as string,
    })
    expect(unchanged.status).toBe(304)
  })
})

describe('kubectl explain', () => {
  it("prints kube's field descriptions from /openapi/v3", async () => {
    const out = (await server.k('explain', 'configmap.data')).replace(/\s+/g, ' ')
    expect(out).toContain('FIELD: data <map[string]string>')
    expect(out).toContain(
      "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field.",
    )
    const pod = (await server.k('explain', 'pods.spec.restartPolicy')).replace(/\s+/g, ' ')
    expect(pod).toContain(
      'Restart policy for all containers within the pod. One of Always, OnFailure, Never.',
    )
  })
})

// edge-apiserver/testing's clusters, users and CRDs, driven with the real kubectl and @kubernetes/client-node:
// a new cluster per test from one started server, reset and dispose; users with groups under RBAC; CRDs
// loaded from files and usable at once.
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
} from '@kubernetes/client-node'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { start, type EdgeServer, type TestCluster } from '../../src/node/testing'
import { KUBECTL, run } from '../helpers/process'

let server: EdgeServer
beforeAll(async () => {
  server = await start()
})
afterAll(() => server?.dispose())

const kubectl = async (kubeconfig: string, ...args: string[]) => {
  const r = await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args])
  return r
}
const kubectlOk = async (kubeconfig: string, ...args: string[]) => {
  const r = await kubectl(kubeconfig, ...args)
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
const namesOf = (items: { metadata?: { name?: string } }[]) =>
  items.map((i) => i.metadata?.name).sort()

const WIDGETS_YAML = `# two CRDs in one file, as a chart's crds/ directory often has
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: { type: object, properties: { size: { type: integer } } }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  scope: Cluster
  names: { plural: gizmos, singular: gizmo, kind: Gizmo }
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`
const SPROCKETS_JSON = JSON.stringify({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'sprockets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'sprockets', singular: 'sprocket', kind: 'Sprocket' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    ],
  },
})

describe('a new cluster per test', () => {
  let cluster: TestCluster
  beforeEach(async () => {
    cluster = await server.newCluster()
  })
  afterEach(() => cluster?.dispose())

  it('is Ready and bootstrapped, for kubectl and client-node alike', async () => {
    expect(cluster.url).toBe(`${server.url}/clusters/${cluster.name}`)
    expect(await kubectlOk(cluster.kubeconfig.path, 'get', 'ns', '-o', 'name')).toBe(
      'namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n',
    )
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api)
    expect(namesOf((await core.listNamespace()).items)).toEqual([
      'default',
      'kube-node-lease',
      'kube-public',
      'kube-system',
    ])
    // The object form is a kubeconfig client-node loads as it is.
    const kc = new KubeConfig()
    kc.loadFromString(JSON.stringify(cluster.kubeconfig.object))
    expect(kc.getCurrentCluster()?.server).toBe(cluster.url)
  })

  it('is its own: what one test writes, the next cluster does not have', async () => {
    const other = await server.newCluster()
    try {
      await kubectlOk(cluster.kubeconfig.path, 'create', 'configmap', 'mine')
      const r = await kubectl(other.kubeconfig.path, 'get', 'configmap', 'mine')
      expect(r.stderr).toBe('Error from server (NotFound): configmaps "mine" not found\n')
      expect((await kubectl(server.kubeconfigPath, 'get', 'configmap', 'mine')).stderr).toBe(
        'Error from server (NotFound): configmaps "mine" not found\n',
      )
    } finally {
      await other.dispose()
    }
  })

  it('reset() empties it and keeps its kubeconfig working', async () => {
    await cluster.loadCRDs({ text: WIDGETS_YAML })
    await kubectlOk(cluster.kubeconfig.path, 'create', 'namespace', 'scratch')
    await kubectlOk(cluster.kubeconfig.path, 'create', 'configmap', 'before')
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api)
    const custom = cluster.kubeConfig().makeApiClient(CustomObjectsApi)
    const widget = {
      group: 'example.com',
      version: 'v1',
      namespace: 'default',
      plural: 'widgets',
      body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: {} },
    }
    await custom.createNamespacedCustomObject(widget)
    await cluster.reset()
    // Its CRDs are gone from what the server serves at once, not only from its store.
    const refused = await custom.createNamespacedCustomObject(widget).catch((e: unknown) => e)
    expect((refused as ApiException<string>).code).toBe(404)
    expect(await kubectlOk(cluster.kubeconfig.path, 'get', 'ns', '-o', 'name')).toBe(
      'namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n',
    )
    expect(await kubectlOk(cluster.kubeconfig.path, 'get', 'crd', '-o', 'name')).toBe('')
    expect(namesOf((await core.listNamespacedConfigMap({ namespace: 'default' })).items)).toEqual(
      expect.not.arrayContaining(['before']),
    )
    // A second reset works as the first.
    await kubectlOk(cluster.kubeconfig.path, 'create', 'configmap', 'again')
    await cluster.reset()
    expect((await kubectl(cluster.kubeconfig.path, 'get', 'configmap', 'again')).stderr).toBe(
      'Error from server (NotFound): configmaps "again" not found\n',
    )
  })

  it('dispose() deletes it: its kubeconfig reaches nothing any more', async () => {
    const doomed = await server.newCluster()
    await doomed.dispose()
    const r = await kubectl(doomed.kubeconfig.path, 'get', 'ns')
    expect(r.code).not.toBe(0)
    expect(
      await kubectlOk(
        server.kubeconfigPath,
        'get',
        'clusters.tenancy.edge-apiserver.dev',
        '-o',
        'name',
      ),
    ).not.toContain(doomed.name)
  })
})

describe('users with groups', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await server.newCluster()
    const rbac = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: configmap-reader }
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: readers-read-configmaps }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: configmap-reader }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: Group, name: readers }
`
    const r = await run(KUBECTL, ['--kubeconfig', cluster.kubeconfig.path, 'apply', '-f', '-'], {
      input: rbac,
    })
    expect(r.stderr).toBe('')
  })
  afterAll(() => cluster?.dispose())

  it('are who the server authorizes, with kubectl', async () => {
    const alice = cluster.user('alice', ['readers'])
    const bob = cluster.user('bob', ['writers'])
    expect(
      JSON.parse(await kubectlOk(alice.kubeconfig.path, 'auth', 'whoami', '-o', 'json')).status
        .userInfo,
    ).toEqual({ username: 'alice', groups: ['readers', 'system:authenticated'] })
    expect(await kubectlOk(alice.kubeconfig.path, 'get', 'configmaps', '-o', 'name')).toBe(
      'configmap/kube-root-ca.crt\n',
    )
    expect((await kubectl(alice.kubeconfig.path, 'create', 'configmap', 'x')).stderr).toBe(
      'error: failed to create configmap: configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "default"\n',
    )
    expect((await kubectl(bob.kubeconfig.path, 'get', 'configmaps')).stderr).toBe(
      'Error from server (Forbidden): configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"\n',
    )
  })

  it('are who the server authorizes, with client-node', async () => {
    const alice = cluster.user('alice', ['readers']).kubeConfig()
    const core = alice.makeApiClient(CoreV1Api)
    expect(namesOf((await core.listNamespacedConfigMap({ namespace: 'default' })).items)).toEqual([
      'kube-root-ca.crt',
    ])
    const refused = await core
      .createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'x' } } })
      .catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ApiException)
    expect((refused as ApiException<string>).code).toBe(403)
    const review = await alice.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: 'list', resource: 'configmaps' } } },
    })
    expect(review.status?.allowed).toBe(true)
    // Without the group, the same user may not.
    const plain = cluster.user('alice').kubeConfig().makeApiClient(CoreV1Api)
    const denied = await plain
      .listNamespacedConfigMap({ namespace: 'default' })
      .catch((e: unknown) => e)
    expect((denied as ApiException<string>).code).toBe(403)
  })
})

describe('loading CRDs', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await server.newCluster()
  })
  afterAll(() => cluster?.dispose())

  it('loads YAML with several documents and JSON from files, Established and served at once', async () => {
    const yamlFile = join(server.stateDir, 'widgets.yaml')
    const jsonFile = join(server.stateDir, 'sprockets.json')
    writeFileSync(yamlFile, WIDGETS_YAML)
    writeFileSync(jsonFile, SPROCKETS_JSON)
    const crds = await cluster.loadCRDs(yamlFile, jsonFile)
    expect(crds.map((c) => c.metadata.name)).toEqual([
      'widgets.example.com',
      'gizmos.example.com',
      'sprockets.example.com',
    ])
    for (const crd of crds)
      expect(crd.status.conditions).toContainEqual(
        expect.objectContaining({ type: 'Established', status: 'True' }),
      )
    // client-node at once, then kubectl (which reads discovery).
    const custom = cluster.kubeConfig().makeApiClient(CustomObjectsApi)
    await custom.createNamespacedCustomObject({
      group: 'example.com',
      version: 'v1',
      namespace: 'default',
      plural: 'widgets',
      body: {
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w1' },
        spec: { size: 3 },
      },
    })
    expect(await kubectlOk(cluster.kubeconfig.path, 'get', 'widgets', '-o', 'name')).toBe(
      'widget.example.com/w1\n',
    )
    expect(await kubectlOk(cluster.kubeconfig.path, 'get', 'gizmos,sprockets', '-o', 'name')).toBe(
      '',
    )
    // Loading again replaces them (a changed file between test files).
    await cluster.loadCRDs(yamlFile)
  })

  it('refuses a file with something other than CRDs in it, naming it', async () => {
    const file = join(server.stateDir, 'mixed.yaml')
    writeFileSync(
      file,
      WIDGETS_YAML + '---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n',
    )
    await expect(cluster.loadCRDs(file)).rejects.toThrow(
      `${file}: ConfigMap c is not an apiextensions.k8s.io/v1 CustomResourceDefinition`,
    )
  })

  it('loads into the default cluster too', async () => {
    await server.loadCRDs({ text: SPROCKETS_JSON })
    expect(
      await kubectlOk(server.kubeconfigPath, 'get', 'crd', 'sprockets.example.com', '-o', 'name'),
    ).toBe('customresourcedefinition.apiextensions.k8s.io/sprockets.example.com\n')
  })
})

describe('over plain HTTP', () => {
  let plain: EdgeServer
  beforeAll(async () => {
    plain = await start({ protocol: 'http' })
  })
  afterAll(() => plain?.dispose())

  it('makes clusters client-node reaches without a CA, the token still required', async () => {
    const cluster = await plain.newCluster()
    try {
      expect(cluster.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/clusters\//)
      expect(cluster.kubeconfig.object.clusters[0]!.cluster).toEqual({ server: cluster.url })
      const core = cluster.kubeConfig().makeApiClient(CoreV1Api)
      expect((await core.readNamespace({ name: 'kube-system' })).metadata?.name).toBe('kube-system')
      // Without the token it is anonymous (403, as kube-apiserver answers), with a wrong one 401.
      const anonymous = await fetch(`${cluster.url}/api/v1/namespaces`)
      expect(anonymous.status).toBe(403)
      expect(((await anonymous.json()) as { message: string }).message).toBe(
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope',
      )
      const wrong = await fetch(`${cluster.url}/api/v1/namespaces`, {
        headers: { Authorization: 'Bearer not-the-token' },
      })
      expect(wrong.status).toBe(401)
      // kubectl sends no bearer token to an http:// server: there it is anonymous.
      expect((await kubectl(cluster.kubeconfig.path, 'get', 'ns', 'default')).stderr).toMatch(
        /Error from server \(Forbidden\): unknown\n$/,
      )
    } finally {
      await cluster.dispose()
    }
  })
})

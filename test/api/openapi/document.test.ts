import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { openapiV2Document, openapiV3Document } from '../../../src/api/openapi/document'
import { builtinResources } from '../../../src/registry/builtin'
import { Registry } from '../../../src/registry/registry'

const registry = new Registry(builtinResources)
type Any = Record<string, any>

// kubectl's query_param_verifier_v3.go: the PATCH operation whose x-kubernetes-group-version-kind is the
// kind, with a parameter named fieldValidation.
function supportsQueryParam(
  doc: Any,
  gvk: { group: string; version: string; kind: string },
  param: string,
): boolean {
  for (const item of Object.values(doc.paths as Any)) {
    const op = item.patch
    if (!op) continue
    const g = op['x-kubernetes-group-version-kind']
    if (g?.group !== gvk.group || g?.version !== gvk.version || g?.kind !== gvk.kind) continue
    return (op.parameters as Any[]).some((p) => p.name === param)
  }
  return false
}

describe('OpenAPI v3 group-version documents', () => {
  it('is up to date with the kubernetes-models declarations it is derived from', () => {
    execFileSync(process.execPath, ['scripts/gen-builtin-schemas.mjs', '--check'], {
      stdio: 'pipe',
    })
  })

  it('lets kubectl find fieldValidation on the PATCH of every served kind', () => {
    for (const { group, versions } of registry.groupVersions()) {
      for (const version of versions) {
        const doc = openapiV3Document(registry, group, version)!
        for (const t of registry
          .all()
          .filter((x) => x.group === group && x.version === version && x.verbs.includes('patch'))) {
          expect(
            supportsQueryParam(doc, { group, version, kind: t.kind }, 'fieldValidation'),
            `${group}/${version} ${t.kind}`,
          ).toBe(true)
        }
      }
    }
  })

  it('serves the paths and operations kube-apiserver serves for a namespaced kind', () => {
    const doc = openapiV3Document(registry, 'apps', 'v1') as Any
    const item = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']
    expect(Object.keys(item).sort()).toEqual(['delete', 'get', 'parameters', 'patch', 'put'])
    expect(item.patch.operationId).toBe('patchAppsV1NamespacedDeployment')
    expect(item.patch['x-kubernetes-action']).toBe('patch')
    expect(item.patch.parameters.map((p: Any) => p.name)).toEqual([
      'dryRun',
      'fieldManager',
      'fieldValidation',
      'force',
    ])
    expect(Object.keys(item.patch.requestBody.content)).toEqual([
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
    ])
    expect(item.parameters.map((p: Any) => p.name)).toEqual(['name', 'namespace', 'pretty'])
    expect(doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments'].post.operationId).toBe(
      'createAppsV1NamespacedDeployment',
    )
    expect(doc.paths['/apis/apps/v1/deployments'].get.operationId).toBe(
      'listAppsV1DeploymentForAllNamespaces',
    )
    expect(
      doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].patch[
        'x-kubernetes-group-version-kind'
      ],
    ).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' })
    expect(doc.paths['/apis/apps/v1/']).toBeDefined()
  })

  it('publishes component schemas with the kind, patch strategies and list types', () => {
    const doc = openapiV3Document(registry, 'apps', 'v1') as Any
    const s = doc.components.schemas
    expect(s['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', version: 'v1', kind: 'Deployment' },
    ])
    expect(s['io.k8s.api.apps.v1.DeploymentList']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', version: 'v1', kind: 'DeploymentList' },
    ])
    const containers = s['io.k8s.api.core.v1.PodSpec'].properties.containers
    expect(containers).toMatchObject({
      type: 'array',
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: { $ref: '#/components/schemas/io.k8s.api.core.v1.Container' },
    })
    expect(
      s['io.k8s.api.core.v1.Container'].properties.ports['x-kubernetes-list-map-keys'],
    ).toEqual(['containerPort', 'protocol'])
    expect(s['io.k8s.api.apps.v1.DeploymentSpec'].properties.replicas).toMatchObject({
      type: 'integer',
      format: 'int32',
      description: expect.any(String),
    })
    // A described reference is wrapped in allOf, as kube-apiserver's v3 documents do.
    expect(s['io.k8s.api.apps.v1.DeploymentSpec'].properties.template.allOf).toEqual([
      { $ref: '#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec' },
    ])
    expect(
      s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.finalizers[
        'x-kubernetes-list-type'
      ],
    ).toBe('set')
    // Every reference resolves inside the document.
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[^"]+/g)!
    for (const r of refs) expect(s[r.slice('#/components/schemas/'.length)], r).toBeDefined()
  })

  it('answers undefined for a group-version nothing is served in', () => {
    expect(openapiV3Document(registry, 'nope.example.com', 'v1')).toBeUndefined()
  })
})

describe('OpenAPI v2', () => {
  it('carries every path with body parameters and definitions references', () => {
    const doc = openapiV2Document(registry) as Any
    expect(doc.swagger).toBe('2.0')
    const patch = doc.paths['/api/v1/namespaces/{namespace}/configmaps/{name}'].patch
    expect(patch.parameters[0]).toMatchObject({
      name: 'body',
      in: 'body',
      schema: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' },
    })
    expect(patch.parameters.map((p: Any) => p.name)).toContain('fieldValidation')
    const refs = JSON.stringify(doc).match(/#\/definitions\/[^"]+/g)!
    for (const r of refs) expect(doc.definitions[r.slice('#/definitions/'.length)], r).toBeDefined()
  })
})

// Wording checked against kube-apiserver's own document (kubernetes/kubernetes api/openapi-spec/swagger.json).
const UNDESCRIBED_IN_KUBE = new Set(['CertificateSigningRequest.metadata'])

describe("kube's descriptions in /openapi/v2", () => {
  const doc = openapiV2Document(registry) as Any
  const params = (op: Any, path: Any) =>
    Object.fromEntries(
      [...(path.parameters ?? []), ...(op.parameters ?? [])].map((p: Any) => [
        p.name,
        p.description,
      ]),
    )

  it('describes fields and kinds as kube does', () => {
    const cm = doc.definitions['io.k8s.api.core.v1.ConfigMap']
    expect(cm.description).toBe('ConfigMap holds configuration data for pods to consume.')
    expect(cm.properties.data.description).toBe(
      "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
    )
    expect(cm.properties.kind.description).toMatch(
      /^Kind is a string value representing the REST resource this object represents\./,
    )
    expect(
      doc.definitions['io.k8s.api.core.v1.ServiceSpec'].properties.externalTrafficPolicy
        .description,
    ).toContain('\n\nPossible enum values:\n - `"Cluster"` routes traffic to all endpoints.')
    const list = doc.definitions['io.k8s.api.core.v1.ConfigMapList']
    expect(list.description).toBe(
      'ConfigMapList is a resource containing a list of ConfigMap objects.',
    )
    expect(list.properties.items.description).toBe('Items is the list of ConfigMaps.')
    // Every property of every published built-in kind is described, as in kube's document.
    const kinds = registry
      .all()
      .filter(
        (t) =>
          !t.custom &&
          doc.definitions[
            `io.k8s.api.${t.group ? t.group.split('.')[0] : 'core'}.${t.version}.${t.kind}`
          ],
      )
    expect(kinds.length).toBeGreaterThan(30)
    for (const t of kinds) {
      const def =
        doc.definitions[
          `io.k8s.api.${t.group ? t.group.split('.')[0] : 'core'}.${t.version}.${t.kind}`
        ]
      expect(def.description, t.kind).toBeTruthy()
      for (const [f, p] of Object.entries(def.properties as Any)) {
        // kube's own document leaves these undescribed (no doc comment on the Go field).
        if (UNDESCRIBED_IN_KUBE.has(`${t.kind}.${f}`))
          expect(p.description, `${t.kind}.${f}`).toBeUndefined()
        else expect(p.description, `${t.kind}.${f}`).toBeTruthy()
      }
    }
  })

  it("names and describes operations and their parameters as kube's generated ones", () => {
    const item = doc.paths['/api/v1/namespaces/{namespace}/configmaps/{name}']
    expect(item.get.operationId).toBe('readCoreV1NamespacedConfigMap')
    expect(item.get.description).toBe('read the specified ConfigMap')
    expect(item.patch.description).toBe('partially update the specified ConfigMap')
    expect(params(item.get, item)).toMatchObject({
      name: 'name of the ConfigMap',
      namespace: 'object name and auth scope, such as for teams and projects',
      pretty:
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
    })
    expect(params(item.patch, item).fieldManager).toMatch(
      /This field is required for apply requests \(application\/apply-patch\) but optional for non-apply patch types/,
    )
    expect(params(item.put, item).fieldManager).toBe(
      'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.',
    )
    const collection = doc.paths['/api/v1/namespaces/{namespace}/configmaps']
    expect(collection.get.operationId).toBe('listCoreV1NamespacedConfigMap')
    expect(collection.get.description).toBe('list or watch objects of kind ConfigMap')
    expect(params(collection.get, collection).timeoutSeconds).toBe(
      'Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.',
    )
    expect(
      doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status'].get.description,
    ).toBe('read status of the specified Deployment')
    expect(
      doc.paths['/apis/apps/v1/watch/namespaces/{namespace}/deployments'].get.description,
    ).toBe(
      "watch individual changes to a list of Deployment. deprecated: use the 'watch' parameter with a list operation instead.",
    )
  })
})

import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { openapiV2Document, openapiV3Document } from '../../../src/api/openapi/document'
import { builtinResources } from '../../../src/registry/builtin'
import { Registry } from '../../../src/registry/registry'

const registry = new Registry(builtinResources)
type Any = Record<string, any>

// kubectl's query_param_verifier_v3.go: the PATCH operation whose x-kubernetes-group-version-kind is the
// kind, with a parameter named fieldValidation.
function supportsQueryParam(doc: Any, gvk: { group: string; version: string; kind: string }, param: string): boolean {
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
    execFileSync(process.execPath, ['scripts/gen-builtin-schemas.mjs', '--check'], { stdio: 'pipe' })
  })

  it('lets kubectl find fieldValidation on the PATCH of every served kind', () => {
    for (const { group, versions } of registry.groupVersions()) {
      for (const version of versions) {
        const doc = openapiV3Document(registry, group, version)!
        for (const t of registry.all().filter((x) => x.group === group && x.version === version && x.verbs.includes('patch'))) {
          expect(supportsQueryParam(doc, { group, version, kind: t.kind }, 'fieldValidation'), `${group}/${version} ${t.kind}`).toBe(true)
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
    expect(item.patch.parameters.map((p: Any) => p.name)).toEqual(['dryRun', 'fieldManager', 'fieldValidation', 'force'])
    expect(Object.keys(item.patch.requestBody.content)).toEqual([
      'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml',
    ])
    expect(item.parameters.map((p: Any) => p.name)).toEqual(['name', 'namespace', 'pretty'])
    expect(doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments'].post.operationId).toBe('createAppsV1NamespacedDeployment')
    expect(doc.paths['/apis/apps/v1/deployments'].get.operationId).toBe('listAppsV1DeploymentForAllNamespaces')
    expect(doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].patch['x-kubernetes-group-version-kind']).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' })
    expect(doc.paths['/apis/apps/v1/']).toBeDefined()
  })

  it('publishes component schemas with the kind, patch strategies and list types', () => {
    const doc = openapiV3Document(registry, 'apps', 'v1') as Any
    const s = doc.components.schemas
    expect(s['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', version: 'v1', kind: 'Deployment' }])
    expect(s['io.k8s.api.apps.v1.DeploymentList']['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', version: 'v1', kind: 'DeploymentList' }])
    const containers = s['io.k8s.api.core.v1.PodSpec'].properties.containers
    expect(containers).toMatchObject({
      type: 'array', 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'],
      items: { $ref: '#/components/schemas/io.k8s.api.core.v1.Container' },
    })
    expect(s['io.k8s.api.core.v1.Container'].properties.ports['x-kubernetes-list-map-keys']).toEqual(['containerPort', 'protocol'])
    expect(s['io.k8s.api.apps.v1.DeploymentSpec'].properties.replicas).toMatchObject({ type: 'integer', format: 'int32', description: expect.any(String) })
    // A described reference is wrapped in allOf, as kube-apiserver's v3 documents do.
    expect(s['io.k8s.api.apps.v1.DeploymentSpec'].properties.template.allOf).toEqual([{ $ref: '#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec' }])
    expect(s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.finalizers['x-kubernetes-list-type']).toBe('set')
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
    expect(patch.parameters[0]).toMatchObject({ name: 'body', in: 'body', schema: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' } })
    expect(patch.parameters.map((p: Any) => p.name)).toContain('fieldValidation')
    const refs = JSON.stringify(doc).match(/#\/definitions\/[^"]+/g)!
    for (const r of refs) expect(doc.definitions[r.slice('#/definitions/'.length)], r).toBeDefined()
  })
})

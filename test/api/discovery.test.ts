import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { aggregatedDiscovery, apiResourceList, storageVersionHash } from '../../src/api/discovery'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'

const registry = new Registry(builtinResources)
type Any = Record<string, any>

// What kube-apiserver publishes: kubernetes/kubernetes pkg/controlplane/storageversionhashdata/data.go, the
// table kube's integration tests hold its discovery to ("shouldn't change unless we intentionally change the
// storage version of a resource"). events.k8s.io Events are core v1 Events in storage; autoscaling/v1
// HorizontalPodAutoscalers are stored as autoscaling/v2.
const KUBE: Record<string, string> = {
  'v1/configmaps': 'qFsyl6wFWjQ=',
  'v1/endpoints': 'fWeeMqaN/OA=',
  'v1/events': 'r2yiGXH7wu8=',
  'v1/limitranges': 'EBKMFVe6cwo=',
  'v1/namespaces': 'Q3oi5N2YM8M=',
  'v1/nodes': 'XwShjMxG9Fs=',
  'v1/persistentvolumeclaims': 'QWTyNDq0dC4=',
  'v1/persistentvolumes': 'HN/zwEC+JgM=',
  'v1/pods': 'xPOwRZ+Yhw8=',
  'v1/podtemplates': 'LIXB2x4IFpk=',
  'v1/replicationcontrollers': 'Jond2If31h0=',
  'v1/resourcequotas': '8uhSgffRX6w=',
  'v1/secrets': 'S6u1pOWzb84=',
  'v1/serviceaccounts': 'pbx9ZvyFpBE=',
  'v1/services': '0/CO1lhkEBI=',
  'autoscaling/v1/horizontalpodautoscalers': 'qwQve8ut294=',
  'autoscaling/v2/horizontalpodautoscalers': 'qwQve8ut294=',
  'batch/v1/jobs': 'mudhfqk/qZY=',
  'batch/v1/cronjobs': 'sd5LIXh4Fjs=',
  'certificates.k8s.io/v1/certificatesigningrequests': '95fRKMXA+00=',
  'coordination.k8s.io/v1/leases': 'gqkMMb/YqFM=',
  'discovery.k8s.io/v1/endpointslices': 'qgS0xkrxYAI=',
  'networking.k8s.io/v1/networkpolicies': 'YpfwF18m1G8=',
  'networking.k8s.io/v1/ingresses': '39NQlfNR+bo=',
  'networking.k8s.io/v1/ingressclasses': 'l/iqIbDgFyQ=',
  'node.k8s.io/v1/runtimeclasses': 'WQTu1GL3T2Q=',
  'policy/v1/poddisruptionbudgets': 'EVWiDmWqyJw=',
  'rbac.authorization.k8s.io/v1/clusterrolebindings': '48tpQ8gZHFc=',
  'rbac.authorization.k8s.io/v1/clusterroles': 'bYE5ZWDrJ44=',
  'rbac.authorization.k8s.io/v1/rolebindings': 'eGsCzGH6b1g=',
  'rbac.authorization.k8s.io/v1/roles': '7FuwZcIIItM=',
  'scheduling.k8s.io/v1/priorityclasses': '1QwjyaZjj3Y=',
  'storage.k8s.io/v1/csidrivers': 'hL6j/rwBV5w=',
  'storage.k8s.io/v1/csinodes': 'Pe62DkZtjuo=',
  'storage.k8s.io/v1/storageclasses': 'K+m6uJwbjGY=',
  'storage.k8s.io/v1/csistoragecapacities': 'xeVl+2Ly1kE=',
  'storage.k8s.io/v1/volumeattachments': 'tJx/ezt6UDU=',
  'apps/v1/controllerrevisions': '85nkx63pcBU=',
  'apps/v1/daemonsets': 'dd7pWHUlMKQ=',
  'apps/v1/deployments': '8aSe+NMegvE=',
  'apps/v1/replicasets': 'P1RzHs8/mWQ=',
  'apps/v1/statefulsets': 'H+vl74LkKdo=',
  'admissionregistration.k8s.io/v1/mutatingwebhookconfigurations': 'Sqi0GUgDaX0=',
  'admissionregistration.k8s.io/v1/validatingwebhookconfigurations': 'B0wHjQmsGNk=',
  'admissionregistration.k8s.io/v1/validatingadmissionpolicies': '6OxvlMmQ6is=',
  'admissionregistration.k8s.io/v1/validatingadmissionpolicybindings': 'v9715VZqakg=',
  'events.k8s.io/v1/events': 'r2yiGXH7wu8=',
  'flowcontrol.apiserver.k8s.io/v1/flowschemas': 'GJVAJZSZBIw=',
  'flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations': 'Kir5PVfvNeI=',
}
// Resources kube publishes without a hash (the same file's NoStorageVersionHash): never stored.
const KUBE_NONE = [
  'v1/bindings',
  'v1/componentstatuses',
  'authentication.k8s.io/v1/selfsubjectreviews',
  'authentication.k8s.io/v1/tokenreviews',
  'authorization.k8s.io/v1/localsubjectaccessreviews',
  'authorization.k8s.io/v1/selfsubjectaccessreviews',
  'authorization.k8s.io/v1/selfsubjectrulesreviews',
  'authorization.k8s.io/v1/subjectaccessreviews',
]

async function served(): Promise<Map<string, Any>> {
  const out = new Map<string, Any>()
  for (const { group, versions } of registry.groupVersions()) {
    for (const version of versions) {
      const list = (await apiResourceList(registry, group, version))!
      for (const r of list.resources as Any[]) out.set(`${list.groupVersion}/${r.name}`, r)
    }
  }
  return out
}

describe('storageVersionHash', () => {
  it("is kube's hash of <group>/<version>/<kind>: the first 8 bytes of its SHA-256, base64", async () => {
    for (const gvk of [
      '/v1/ConfigMap',
      'apps/v1/Deployment',
      'stable.example.com/v1beta1/CronTab',
    ]) {
      const [group, version, kind] = gvk.split('/')
      const expected = createHash('sha256').update(gvk).digest().subarray(0, 8).toString('base64')
      expect(await storageVersionHash(group, version, kind)).toBe(expected)
    }
  })

  it('is what kube-apiserver publishes for every resource both serve', async () => {
    const ours = await served()
    const both = Object.keys(KUBE).filter((k) => ours.has(k))
    expect(both.length).toBeGreaterThan(30)
    for (const k of both) expect(ours.get(k)!.storageVersionHash, k).toBe(KUBE[k])
    for (const k of KUBE_NONE.filter((x) => ours.has(x)))
      expect(ours.get(k)!.storageVersionHash, k).toBeUndefined()
  })

  it('is on every stored resource and on no subresource', async () => {
    const ours = await served()
    for (const [k, r] of ours) {
      const type = registry
        .all()
        .find((t) => `${t.group ? `${t.group}/` : ''}${t.version}/${t.resource}` === k)
      if (r.name.includes('/')) expect(r.storageVersionHash, k).toBeUndefined()
      else if (type?.virtualCreate || type?.virtualRead)
        expect(r.storageVersionHash, k).toBeUndefined()
      else expect(r.storageVersionHash, k).toMatch(/^[A-Za-z0-9+/]{11}=$/)
    }
  })

  it('is not in aggregated discovery, whose APIResourceDiscovery has no such field', () => {
    for (const v of ['v2', 'v2beta1']) {
      const doc = aggregatedDiscovery(registry, true, v) as Any
      expect(JSON.stringify(doc)).not.toContain('storageVersionHash')
    }
  })
})

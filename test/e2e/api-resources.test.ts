// `kubectl api-resources` against kube-apiserver 1.32's default API, so that nothing is silently missing:
// the list below is what kubectl prints for a kube-apiserver 1.32 started with its defaults (GA groups and
// versions only: beta APIs added since 1.24 are off by default), from the v1.32 API reference's groups and
// kinds. Each row is compared whole (name, short names, preferred version, scope, kind). Also the one kind of
// that list that is computed rather than stored: componentstatuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer } from './harness'

const KUBE_1_32 = `
NAME                                SHORTNAMES   APIVERSION                        NAMESPACED   KIND
bindings                                         v1                                true         Binding
componentstatuses                   cs           v1                                false        ComponentStatus
configmaps                          cm           v1                                true         ConfigMap
endpoints                           ep           v1                                true         Endpoints
events                              ev           v1                                true         Event
limitranges                         limits       v1                                true         LimitRange
namespaces                          ns           v1                                false        Namespace
nodes                               no           v1                                false        Node
persistentvolumeclaims              pvc          v1                                true         PersistentVolumeClaim
persistentvolumes                   pv           v1                                false        PersistentVolume
pods                                po           v1                                true         Pod
podtemplates                                     v1                                true         PodTemplate
replicationcontrollers              rc           v1                                true         ReplicationController
resourcequotas                      quota        v1                                true         ResourceQuota
secrets                                          v1                                true         Secret
serviceaccounts                     sa           v1                                true         ServiceAccount
services                            svc          v1                                true         Service
mutatingwebhookconfigurations                    admissionregistration.k8s.io/v1   false        MutatingWebhookConfiguration
validatingadmissionpolicies                      admissionregistration.k8s.io/v1   false        ValidatingAdmissionPolicy
validatingadmissionpolicybindings                admissionregistration.k8s.io/v1   false        ValidatingAdmissionPolicyBinding
validatingwebhookconfigurations                  admissionregistration.k8s.io/v1   false        ValidatingWebhookConfiguration
customresourcedefinitions           crd,crds     apiextensions.k8s.io/v1           false        CustomResourceDefinition
apiservices                                      apiregistration.k8s.io/v1         false        APIService
controllerrevisions                              apps/v1                           true         ControllerRevision
daemonsets                          ds           apps/v1                           true         DaemonSet
deployments                         deploy       apps/v1                           true         Deployment
replicasets                         rs           apps/v1                           true         ReplicaSet
statefulsets                        sts          apps/v1                           true         StatefulSet
selfsubjectreviews                               authentication.k8s.io/v1          false        SelfSubjectReview
tokenreviews                                     authentication.k8s.io/v1          false        TokenReview
localsubjectaccessreviews                        authorization.k8s.io/v1           true         LocalSubjectAccessReview
selfsubjectaccessreviews                         authorization.k8s.io/v1           false        SelfSubjectAccessReview
selfsubjectrulesreviews                          authorization.k8s.io/v1           false        SelfSubjectRulesReview
subjectaccessreviews                             authorization.k8s.io/v1           false        SubjectAccessReview
horizontalpodautoscalers            hpa          autoscaling/v2                    true         HorizontalPodAutoscaler
cronjobs                            cj           batch/v1                          true         CronJob
jobs                                             batch/v1                          true         Job
certificatesigningrequests          csr          certificates.k8s.io/v1            false        CertificateSigningRequest
leases                                           coordination.k8s.io/v1            true         Lease
endpointslices                                   discovery.k8s.io/v1               true         EndpointSlice
events                              ev           events.k8s.io/v1                  true         Event
flowschemas                                      flowcontrol.apiserver.k8s.io/v1   false        FlowSchema
prioritylevelconfigurations                      flowcontrol.apiserver.k8s.io/v1   false        PriorityLevelConfiguration
ingressclasses                                   networking.k8s.io/v1              false        IngressClass
ingresses                           ing          networking.k8s.io/v1              true         Ingress
networkpolicies                     netpol       networking.k8s.io/v1              true         NetworkPolicy
runtimeclasses                                   node.k8s.io/v1                    false        RuntimeClass
poddisruptionbudgets                pdb          policy/v1                         true         PodDisruptionBudget
clusterrolebindings                              rbac.authorization.k8s.io/v1      false        ClusterRoleBinding
clusterroles                                     rbac.authorization.k8s.io/v1      false        ClusterRole
rolebindings                                     rbac.authorization.k8s.io/v1      true         RoleBinding
roles                                            rbac.authorization.k8s.io/v1      true         Role
priorityclasses                     pc           scheduling.k8s.io/v1              false        PriorityClass
csidrivers                                       storage.k8s.io/v1                 false        CSIDriver
csinodes                                         storage.k8s.io/v1                 false        CSINode
csistoragecapacities                             storage.k8s.io/v1                 true         CSIStorageCapacity
storageclasses                      sc           storage.k8s.io/v1                 false        StorageClass
volumeattachments                                storage.k8s.io/v1                 false        VolumeAttachment
`

/** kubectl api-resources' table as rows of its five columns, split at the header's column starts. */
function parseTable(text: string): string[][] {
  const lines = text.split('\n').filter((l) => l.trim())
  const header = lines[0]!
  const starts = ['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'].map((h) =>
    header.indexOf(h),
  )
  expect(starts.every((s) => s >= 0)).toBe(true)
  return lines
    .slice(1)
    .map((l) => starts.map((s, i) => l.slice(s, starts[i + 1] ?? undefined).trim()))
}

/** This project's own API: the management API of the clusters a deployment serves (src/tenancy). */
const OWN = `
NAME       SHORTNAMES   APIVERSION                            NAMESPACED   KIND
clusters                tenancy.edge-apiserver.dev/v1alpha1   false        Cluster
`

const key = (row: string[]) => `${row[0]} ${row[2]}`

let server: LocalServer
beforeAll(async () => {
  server = await LocalServer.start()
}, 120_000)
afterAll(async () => {
  await server?.dispose()
})

describe('kubectl api-resources', () => {
  it("lists kube-apiserver 1.32's default resources, each as kube does, and this project's own", async () => {
    const want = new Map([...parseTable(KUBE_1_32), ...parseTable(OWN)].map((r) => [key(r), r]))
    const got = new Map(parseTable(await server.k('api-resources')).map((r) => [key(r), r]))
    const missing = [...want.keys()].filter((k) => !got.has(k))
    const extra = [...got.keys()].filter((k) => !want.has(k))
    const different = [...got].filter(
      ([k, r]) => want.has(k) && r.join('|') !== want.get(k)!.join('|'),
    )
    expect({ missing, extra, different }).toEqual({ missing: [], extra: [], different: [] })
  })
})

// `kubectl api-versions` of a kube-apiserver 1.32 started with its defaults: every GA group version, and no
// beta or alpha one (those added since 1.24 are off by default; flowcontrol's v1beta3 went in 1.32). Kube serves
// HorizontalPodAutoscaler in autoscaling/v1 and v2 alike: api-resources shows only the preferred v2, this list
// shows both.
const KUBE_1_32_VERSIONS = `
admissionregistration.k8s.io/v1
apiextensions.k8s.io/v1
apiregistration.k8s.io/v1
apps/v1
authentication.k8s.io/v1
authorization.k8s.io/v1
autoscaling/v1
autoscaling/v2
batch/v1
certificates.k8s.io/v1
coordination.k8s.io/v1
discovery.k8s.io/v1
events.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1
networking.k8s.io/v1
node.k8s.io/v1
policy/v1
rbac.authorization.k8s.io/v1
scheduling.k8s.io/v1
storage.k8s.io/v1
v1
`

describe('kubectl api-versions', () => {
  it("lists kube-apiserver 1.32's default group versions, and this project's own", async () => {
    const want = [
      ...KUBE_1_32_VERSIONS.trim().split('\n'),
      'tenancy.edge-apiserver.dev/v1alpha1',
    ].sort()
    const got = (await server.k('api-versions')).trim().split('\n')
    expect(got).toEqual(want)
  })
})

describe('componentstatuses', () => {
  it('lists etcd, the scheduler and the controller-manager as kube 1.32 does, with its deprecation warning', async () => {
    const r = await server.kubectl(['get', 'componentstatuses'])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('Warning: v1 ComponentStatus is deprecated in v1.19+\n')
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+MESSAGE\s+ERROR$/)
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual([
      'NAME',
      'controller-manager',
      'etcd-0',
      'scheduler',
    ])
    expect(lines[2]).toMatch(/^etcd-0\s+Healthy\s+ok\s*$/)
    // Nothing answers kube's default secure ports of the two components here: the prober's failure is
    // their message, as kube shows it.
    expect(lines[1]).toMatch(
      /^controller-manager\s+Unhealthy\s+Get "https:\/\/127\.0\.0\.1:10257\/healthz": \S/,
    )
    expect(lines[3]).toMatch(
      /^scheduler\s+Unhealthy\s+Get "https:\/\/127\.0\.0\.1:10259\/healthz": \S/,
    )
  })

  it('gets one by name, and answers NotFound for others', async () => {
    const cs = JSON.parse(await server.k('get', 'cs', 'etcd-0', '-o', 'json'))
    expect(cs).toEqual({
      kind: 'ComponentStatus',
      apiVersion: 'v1',
      metadata: { name: 'etcd-0' },
      conditions: [{ type: 'Healthy', status: 'True', message: 'ok' }],
    })
    const r = await server.kubectl(['get', 'cs', 'nope'])
    expect(r.stderr).toContain('Error from server (NotFound): componentstatus "nope" not found')
  })

  it('filters the list by field selector and refuses writes', async () => {
    const list = JSON.parse(
      await server.k('get', 'cs', '--field-selector', 'metadata.name=etcd-0', '-o', 'json'),
    )
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual([
      'etcd-0',
    ])
    const r = await server.kubectl(['delete', 'cs', 'etcd-0'])
    expect(r.stderr).toContain(
      'Error from server (MethodNotAllowed): delete is not supported on resources of kind "componentstatuses"',
    )
  })
})

// application/vnd.kubernetes.protobuf responses, decoded with protobufjs against kube's generated.proto files
// (test/fixtures/proto), not with the server's own encoder: every built-in kind served, GET and LIST, compared
// with the JSON answers; PartialObjectMetadata; watch frames; errors as a protobuf Status; content
// negotiation for custom resources; and kubectl's typed clients, which ask for protobuf.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { LocalServer } from './harness'
import {
  decodeEnvelope,
  decodeObject,
  decodeWatchFrames,
  withoutEmpty,
} from '../helpers/kube-proto'

const PB = 'application/vnd.kubernetes.protobuf'
const NS = 'pbwire'
let server: LocalServer

function bodyOf(r: { raw: Buffer }): Uint8Array {
  return new Uint8Array(r.raw)
}

function opensslCSR(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pbwire-csr-'))
  const key = join(dir, 'k.pem')
  const csr = join(dir, 'r.csr')
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key])
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=pbwire', '-out', csr])
  return readFileSync(csr).toString('base64')
}

const podSpec = { containers: [{ name: 'c', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] }
const template = { metadata: { labels: { app: 'pb' } }, spec: podSpec }
const selector = { matchLabels: { app: 'pb' } }
const webhook = {
  name: 'pb.example.com',
  clientConfig: { url: 'https://pb.example.com/hook' },
  rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
  sideEffects: 'None',
  admissionReviewVersions: ['v1'],
  failurePolicy: 'Ignore',
}

/** One object of every stored built-in kind that a fresh server may not hold yet, by resource. */
function manifests(): Record<string, Record<string, unknown>> {
  const m = (
    apiVersion: string,
    kind: string,
    rest: Record<string, unknown>,
    namespaced = true,
  ) => ({
    apiVersion,
    kind,
    metadata: { name: 'pb', ...(namespaced ? { namespace: NS } : {}), labels: { app: 'pb' } },
    ...rest,
  })
  return {
    pods: m('v1', 'Pod', { spec: podSpec }),
    nodes: m('v1', 'Node', { spec: { podCIDR: '10.0.0.0/24' } }, false),
    persistentvolumes: m(
      'v1',
      'PersistentVolume',
      {
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          hostPath: { path: '/tmp/pb' },
        },
      },
      false,
    ),
    persistentvolumeclaims: m('v1', 'PersistentVolumeClaim', {
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    }),
    podtemplates: m('v1', 'PodTemplate', { template }),
    replicationcontrollers: m('v1', 'ReplicationController', {
      spec: { replicas: 0, selector: { app: 'pb' }, template },
    }),
    resourcequotas: m('v1', 'ResourceQuota', {
      spec: { hard: { pods: '10', 'limits.cpu': '2500m' } },
    }),
    limitranges: m('v1', 'LimitRange', {
      spec: { limits: [{ type: 'Container', default: { cpu: '500m' } }] },
    }),
    configmaps: m('v1', 'ConfigMap', { data: { a: 'b' }, binaryData: { bin: 'AAEC' } }),
    secrets: m('v1', 'Secret', { data: { token: 'c2VjcmV0' }, type: 'Opaque' }),
    events: m('v1', 'Event', {
      involvedObject: { kind: 'Pod', name: 'pb', namespace: NS },
      reason: 'Tested',
      message: 'protobuf',
      count: 3,
      firstTimestamp: '2026-01-02T03:04:05Z',
      lastTimestamp: '2026-01-02T03:04:06Z',
    }),
    services: m('v1', 'Service', {
      spec: { selector: { app: 'pb' }, ports: [{ port: 80, targetPort: 'http' }] },
    }),
    endpoints: m('v1', 'Endpoints', {
      subsets: [{ addresses: [{ ip: '10.1.2.3' }], ports: [{ port: 80 }] }],
    }),
    serviceaccounts: m('v1', 'ServiceAccount', { automountServiceAccountToken: false }),
    deployments: m('apps/v1', 'Deployment', {
      spec: {
        replicas: 0,
        selector,
        template,
        strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      },
    }),
    replicasets: m('apps/v1', 'ReplicaSet', { spec: { replicas: 0, selector, template } }),
    statefulsets: m('apps/v1', 'StatefulSet', {
      spec: { replicas: 0, serviceName: 'pb', selector, template },
    }),
    daemonsets: m('apps/v1', 'DaemonSet', { spec: { selector, template } }),
    controllerrevisions: m('apps/v1', 'ControllerRevision', { revision: 2, data: { any: 'json' } }),
    jobs: m('batch/v1', 'Job', {
      spec: { suspend: true, template: { spec: { ...podSpec, restartPolicy: 'Never' } } },
    }),
    cronjobs: m('batch/v1', 'CronJob', {
      spec: {
        schedule: '*/5 * * * *',
        suspend: true,
        jobTemplate: { spec: { template: { spec: { ...podSpec, restartPolicy: 'Never' } } } },
      },
    }),
    horizontalpodautoscalers: m('autoscaling/v2', 'HorizontalPodAutoscaler', {
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'pb' },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
          },
        ],
      },
    }),
    leases: m('coordination.k8s.io/v1', 'Lease', {
      spec: {
        holderIdentity: 'pb',
        leaseDurationSeconds: 15,
        renewTime: '2026-01-02T03:04:05.123456Z',
      },
    }),
    'events.k8s.io/events': m('events.k8s.io/v1', 'Event', {
      eventTime: '2026-01-02T03:04:05.000001Z',
      reportingController: 'pb.example.com/tester',
      reportingInstance: 'tester-1',
      action: 'Test',
      reason: 'Tested',
      regarding: { kind: 'Pod', name: 'pb', namespace: NS },
      type: 'Normal',
    }),
    endpointslices: m('discovery.k8s.io/v1', 'EndpointSlice', {
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.1.2.3'], conditions: { ready: true } }],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    }),
    ingresses: m('networking.k8s.io/v1', 'Ingress', {
      spec: {
        rules: [
          {
            host: 'pb.example.com',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 'pb', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    }),
    ingressclasses: m(
      'networking.k8s.io/v1',
      'IngressClass',
      { spec: { controller: 'pb.example.com/c' } },
      false,
    ),
    networkpolicies: m('networking.k8s.io/v1', 'NetworkPolicy', {
      spec: { podSelector: selector, ingress: [{ ports: [{ port: 'http' }] }] },
    }),
    poddisruptionbudgets: m('policy/v1', 'PodDisruptionBudget', {
      spec: { minAvailable: '50%', selector },
    }),
    storageclasses: m(
      'storage.k8s.io/v1',
      'StorageClass',
      { provisioner: 'pb.example.com/p' },
      false,
    ),
    csidrivers: m('storage.k8s.io/v1', 'CSIDriver', { spec: { attachRequired: false } }, false),
    csinodes: m(
      'storage.k8s.io/v1',
      'CSINode',
      {
        spec: { drivers: [{ name: 'pb.example.com', nodeID: 'n1', topologyKeys: ['zone'] }] },
      },
      false,
    ),
    csistoragecapacities: m('storage.k8s.io/v1', 'CSIStorageCapacity', {
      storageClassName: 'pb',
      capacity: '10Gi',
    }),
    volumeattachments: m(
      'storage.k8s.io/v1',
      'VolumeAttachment',
      {
        spec: {
          attacher: 'pb.example.com',
          nodeName: 'pb',
          source: { persistentVolumeName: 'pb' },
        },
      },
      false,
    ),
    certificatesigningrequests: m(
      'certificates.k8s.io/v1',
      'CertificateSigningRequest',
      {
        spec: {
          request: opensslCSR(),
          signerName: 'example.com/pb',
          usages: ['client auth'],
        },
      },
      false,
    ),
    runtimeclasses: m('node.k8s.io/v1', 'RuntimeClass', { handler: 'runc' }, false),
    priorityclasses: m(
      'scheduling.k8s.io/v1',
      'PriorityClass',
      { value: 7, description: 'pb' },
      false,
    ),
    roles: m('rbac.authorization.k8s.io/v1', 'Role', {
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    }),
    rolebindings: m('rbac.authorization.k8s.io/v1', 'RoleBinding', {
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pb' },
      subjects: [{ kind: 'User', name: 'pb', apiGroup: 'rbac.authorization.k8s.io' }],
    }),
    mutatingwebhookconfigurations: m(
      'admissionregistration.k8s.io/v1',
      'MutatingWebhookConfiguration',
      {
        webhooks: [{ ...webhook, namespaceSelector: { matchLabels: { pb: 'never' } } }],
      },
      false,
    ),
    validatingwebhookconfigurations: m(
      'admissionregistration.k8s.io/v1',
      'ValidatingWebhookConfiguration',
      { webhooks: [{ ...webhook, namespaceSelector: { matchLabels: { pb: 'never' } } }] },
      false,
    ),
    validatingadmissionpolicies: m(
      'admissionregistration.k8s.io/v1',
      'ValidatingAdmissionPolicy',
      {
        spec: {
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: [''],
                apiVersions: ['v1'],
                operations: ['CREATE'],
                resources: ['nothing'],
              },
            ],
          },
          validations: [{ expression: 'true' }],
        },
      },
      false,
    ),
    validatingadmissionpolicybindings: m(
      'admissionregistration.k8s.io/v1',
      'ValidatingAdmissionPolicyBinding',
      { spec: { policyName: 'pb', validationActions: ['Deny'] } },
      false,
    ),
    // A CRD whose schema has every JSON-valued and recursive form JSONSchemaProps carries.
    customresourcedefinitions: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gadgets.pbwalk.example.com' },
      spec: {
        group: 'pbwalk.example.com',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    'x-kubernetes-validations': [{ rule: 'self.size <= 10', message: 'big' }],
                    properties: {
                      size: { type: 'integer', minimum: 0, maximum: 10, default: 1 },
                      mode: { type: 'string', enum: ['a', 'b'] },
                      tags: { type: 'array', items: { type: 'string' } },
                      labels: { type: 'object', additionalProperties: { type: 'string' } },
                      port: { 'x-kubernetes-int-or-string': true },
                      extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                    },
                  },
                },
              },
            },
            subresources: {
              status: {},
              scale: { specReplicasPath: '.spec.size', statusReplicasPath: '.status.size' },
            },
            selectableFields: [{ jsonPath: '.spec.mode' }],
          },
        ],
      },
    },
  }
}

/** Kinds that are only created (reviews, bindings), one body each, by resource or resource/subresource. */
function createOnly(): Record<string, Record<string, unknown>> {
  const attrs = { namespace: NS, verb: 'get', resource: 'pods' }
  return {
    bindings: {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'pb-bound', namespace: NS },
      target: { kind: 'Node', name: 'pb-node' },
    },
    'pods/binding': {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'pb-bound2', namespace: NS },
      target: { kind: 'Node', name: 'pb-node' },
    },
    'pods/eviction': {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'pb-evicted', namespace: NS },
    },
    'serviceaccounts/token': {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['pb'], expirationSeconds: 600 },
    },
    tokenreviews: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: 'not-a-token' },
    },
    selfsubjectreviews: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    selfsubjectaccessreviews: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: attrs },
    },
    subjectaccessreviews: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: 'pb', groups: ['system:authenticated'], resourceAttributes: attrs },
    },
    localsubjectaccessreviews: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'LocalSubjectAccessReview',
      metadata: { namespace: NS },
      spec: { user: 'pb', resourceAttributes: attrs },
    },
    selfsubjectrulesreviews: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      spec: { namespace: NS },
    },
  }
}

// Subresources that are no API object (a log's text, exec/attach/port-forward streams, a proxy), which have
// no protobuf in kube; every other one answers an object to a GET, a PUT or a POST.
const STREAM_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward', 'proxy'])

interface Resource {
  path: string
  name: string
  namespaced: boolean
  apiVersion: string
  kind: string
  verbs: string[]
  subresources: { name: string; kind: string; group?: string; version?: string; verbs: string[] }[]
}

/**
 * Every built-in resource served, from discovery: every served version of every group (not only the
 * preferred one), with its subresources; the groups of custom resources aside.
 */
async function servedResources(): Promise<Resource[]> {
  const json = async (path: string) => JSON.parse((await server.request('GET', path)).body)
  const crds = await json('/apis/apiextensions.k8s.io/v1/customresourcedefinitions')
  const custom = new Set(crds.items.map((c: { spec: { group: string } }) => c.spec.group))
  const versions: [string, string][] = [['/api/v1', 'v1']]
  for (const g of (await json('/apis')).groups) {
    if (custom.has(g.name)) continue
    for (const v of g.versions) versions.push([`/apis/${v.groupVersion}`, v.groupVersion])
  }
  const out: Resource[] = []
  for (const [path, apiVersion] of versions) {
    const list = (await json(path)).resources
    for (const r of list) {
      if (r.name.includes('/')) continue
      const subresources = list
        .filter((s: { name: string }) => s.name.startsWith(`${r.name}/`))
        .map((s: Resource['subresources'][number]) => ({ ...s, name: s.name.split('/')[1] }))
      out.push({ path, apiVersion, subresources, ...r })
    }
  }
  return out
}

/**
 * POSTs a JSON body with a protobuf-only Accept: the answer is the kind created, or the Success Status a
 * Binding and an Eviction answer, in protobuf.
 */
async function createdInProtobuf(path: string, body: Record<string, unknown>, kind: string) {
  const r = await server.request('POST', path, JSON.stringify(body), {
    'Content-Type': 'application/json',
    Accept: PB,
  })
  expect(r.status, `POST ${path}: ${r.body}`).toBeGreaterThanOrEqual(200)
  expect(r.status, `POST ${path}: ${r.body}`).toBeLessThan(300)
  expect(r.headers['content-type']).toBe(PB)
  const obj = decodeObject(bodyOf(r))
  if (obj.kind === 'Status') expect(obj.status, `POST ${path}`).toBe('Success')
  else expect(obj.kind, `POST ${path}`).toBe(kind)
}

/** A Binding or an Eviction names a fresh unscheduled Pod of its own. */
async function forScratchPod(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (body.kind !== 'Binding' && body.kind !== 'Eviction') return body
  const name = await scratchPod()
  return { ...body, metadata: { ...(body.metadata as object), name } }
}

let scratchPods = 0
async function scratchPod(): Promise<string> {
  const name = `pb-scratch-${++scratchPods}`
  const c = await server.request(
    'POST',
    `/api/v1/namespaces/${NS}/pods`,
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: podSpec }),
    { 'Content-Type': 'application/json' },
  )
  expect(c.status, c.body).toBe(201)
  return name
}

/** The collection path of a resource in the namespace the test uses. */
function collectionOf(r: Resource, apiVersion = r.apiVersion): string {
  const base = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`
  return `${base}${r.namespaced ? `/namespaces/${NS}` : ''}/${r.name}`
}

beforeAll(async () => {
  server = await LocalServer.start()
  await server.k('create', 'namespace', NS)
}, 180_000)
afterAll(async () => {
  await server?.dispose()
})

describe('protobuf responses for every built-in kind', () => {
  it("answers a protobuf-only Accept in protobuf for every built-in resource in discovery, decoded with kube's .proto", async () => {
    const resources = await servedResources()
    const all = manifests()
    const creates = createOnly()
    const kinds = new Set<string>()
    const watched: Resource[] = []
    for (const r of resources) {
      if (!r.verbs.includes('list')) {
        // A kind that is only created: its answer to a protobuf-only client.
        const body = creates[r.name]
        expect(body, `a body to create ${r.apiVersion} ${r.name}`).toBeDefined()
        await createdInProtobuf(collectionOf(r), await forScratchPod(body), r.kind)
        kinds.add(`${r.apiVersion} ${r.kind}`)
        continue
      }
      const collection = collectionOf(r)
      const manifest =
        all[r.path.startsWith('/apis/events.k8s.io') ? `events.k8s.io/${r.name}` : r.name]
      const listed = JSON.parse((await server.request('GET', collection)).body)
      // The manifest's object when there is one (the other tests use it), else what the server holds.
      const names = (listed.items ?? []).map((i: { metadata: { name: string } }) => i.metadata.name)
      const wanted = (manifest?.metadata as { name?: string } | undefined)?.name
      if (manifest && !names.includes(wanted)) {
        // Created through the manifest's own version (one group version may read what another wrote).
        const c = await server.request(
          'POST',
          collectionOf(r, manifest.apiVersion as string),
          JSON.stringify(manifest),
          { 'Content-Type': 'application/json' },
        )
        expect(c.status, `${r.name}: ${c.body}`).toBe(201)
      }
      expect(manifest ?? names[0], `a manifest for ${r.name}`).toBeDefined()
      const name = wanted ?? names[0]
      const path = `${collection}/${name}`

      // Controllers may write an object just created (a PodDisruptionBudget's status) between the two
      // reads: compare the two forms of one resourceVersion.
      let json: { metadata: { resourceVersion: string } }
      let pb: Awaited<ReturnType<typeof server.request>>
      for (let i = 0; ; i++) {
        json = JSON.parse((await server.request('GET', path)).body)
        pb = await server.request('GET', path, undefined, { Accept: PB })
        expect(pb.status, `${r.apiVersion} ${r.name}: ${pb.body}`).toBe(200)
        const rv = (decodeObject(bodyOf(pb)) as typeof json).metadata?.resourceVersion
        if (rv === json.metadata?.resourceVersion || i === 5) break
      }
      expect(pb.headers['content-type']).toBe(PB)
      const env = decodeEnvelope(bodyOf(pb))
      expect([env.apiVersion, env.kind, env.contentType, env.contentEncoding]).toEqual([
        r.apiVersion,
        r.kind,
        '',
        '',
      ])
      expect(withoutEmpty(decodeObject(bodyOf(pb))), `${r.apiVersion} ${r.kind}`).toEqual(
        withoutEmpty(json),
      )

      const jsonList = JSON.parse((await server.request('GET', collection)).body)
      // The same snapshot (any write in between moves a list's resourceVersion); a computed list
      // (componentstatuses) has none.
      const rv = jsonList.metadata.resourceVersion
      const at = rv ? `?resourceVersion=${rv}&resourceVersionMatch=Exact` : ''
      const pbList = await server.request('GET', `${collection}${at}`, undefined, { Accept: PB })
      expect(pbList.status, `${r.apiVersion} ${r.name} list: ${pbList.body}`).toBe(200)
      expect(pbList.headers['content-type']).toBe(PB)
      const decoded = decodeObject(bodyOf(pbList))
      expect(decoded.kind).toBe(`${r.kind}List`)
      // Items carry no TypeMeta in either (runtime.Unknown types only the list; JSON as kube's).
      for (const item of jsonList.items) expect(Object.keys(item)).not.toContain('kind')
      expect(withoutEmpty(decoded), `${r.kind}List`).toEqual(withoutEmpty(jsonList))

      for (const sub of r.subresources) {
        if (STREAM_SUBRESOURCES.has(sub.name)) continue
        if (sub.verbs.includes('get')) {
          const s = await server.request('GET', `${path}/${sub.name}`, undefined, { Accept: PB })
          expect(s.status, `${r.name}/${sub.name}: ${s.body}`).toBe(200)
          expect(s.headers['content-type']).toBe(PB)
          const obj = decodeObject(bodyOf(s)) as { kind: string; metadata: { name: string } }
          expect([obj.kind, obj.metadata.name]).toEqual([sub.kind, name])
          continue
        }
        if (sub.verbs.includes('update')) {
          // namespaces/finalize: the object put back as it is.
          const current = (await server.request('GET', path)).body
          const u = await server.request('PUT', `${path}/${sub.name}`, current, {
            'Content-Type': 'application/json',
            Accept: PB,
          })
          expect(u.status, `${r.name}/${sub.name}: ${u.body}`).toBe(200)
          expect(decodeObject(bodyOf(u))).toMatchObject({ kind: sub.kind, metadata: { name } })
          continue
        }
        // Everything else is created: an Eviction, a Binding, a TokenRequest.
        const body = creates[`${r.name}/${sub.name}`]
        expect(body, `a body to create ${r.apiVersion} ${r.name}/${sub.name}`).toBeDefined()
        const bound = await forScratchPod(body)
        const target = r.name === 'pods' ? (bound.metadata as { name: string }).name : name
        await createdInProtobuf(`${collection}/${target}/${sub.name}`, bound, sub.kind)
      }
      if (r.verbs.includes('watch')) watched.push(r)
      kinds.add(`${r.apiVersion} ${r.kind}`)
    }

    // A watch of each, from its current objects: every frame a WatchEvent of the kind in protobuf.
    for (let i = 0; i < watched.length; i += 8) {
      await Promise.all(
        watched.slice(i, i + 8).map(async (r) => {
          const w = await server.request(
            'GET',
            `${collectionOf(r)}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1`,
            undefined,
            { Accept: PB },
          )
          expect(w.status, `watch ${r.apiVersion} ${r.name}: ${w.body}`).toBe(200)
          expect(w.headers['content-type']).toBe(`${PB};stream=watch`)
          const events = decodeWatchFrames(bodyOf(w))
          expect(
            events
              .filter((e) => e.type === 'ADDED')
              .map((e) => [e.object.apiVersion, e.object.kind]),
            `watch ${r.apiVersion} ${r.name}`,
          ).toContainEqual([r.apiVersion, r.kind])
          expect(events.at(-1)?.type).toBe('BOOKMARK')
        }),
      )
    }
    // The other tests of this file count the namespace's Pods.
    for (let i = 1; i <= scratchPods; i++)
      await server.request(
        'DELETE',
        `/api/v1/namespaces/${NS}/pods/pb-scratch-${i}?gracePeriodSeconds=0`,
      )
    // The kinds the server serves: at least those of kube's default API this server implements.
    expect(kinds.size).toBeGreaterThanOrEqual(55)
    // A computed read, kube-aggregator's and apiextensions-apiserver's kinds (not in kubectl's binary),
    // and a kind that is only created.
    expect(kinds).toContain('v1 ComponentStatus')
    expect(kinds).toContain('apiregistration.k8s.io/v1 APIService')
    expect(kinds).toContain('apiextensions.k8s.io/v1 CustomResourceDefinition')
    expect(kinds).toContain('authorization.k8s.io/v1 SubjectAccessReview')
  }, 360_000)

  it('answers create, update, patch and delete in protobuf, and takes protobuf-only Accept for writes', async () => {
    const cm = `/api/v1/namespaces/${NS}/configmaps`
    const headers = { 'Content-Type': 'application/json', Accept: PB }
    const c = await server.request(
      'POST',
      cm,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'w' },
        data: { k: 'v' },
      }),
      headers,
    )
    expect(c.status).toBe(201)
    expect(decodeObject(bodyOf(c))).toMatchObject({ kind: 'ConfigMap', data: { k: 'v' } })
    const p = await server.request('PATCH', `${cm}/w`, JSON.stringify({ data: { k: 'w' } }), {
      ...headers,
      'Content-Type': 'application/merge-patch+json',
    })
    expect(p.status).toBe(200)
    const patched = decodeObject(bodyOf(p)) as { metadata: Record<string, unknown> }
    expect(patched).toMatchObject({ data: { k: 'w' } })
    const u = await server.request(
      'PUT',
      `${cm}/w`,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: patched.metadata, data: {} }),
      headers,
    )
    expect(u.status).toBe(200)
    expect(withoutEmpty(decodeObject(bodyOf(u)).data)).toBeUndefined()
    const d = await server.request('DELETE', `${cm}/w`, undefined, { Accept: PB })
    expect(d.status).toBe(200)
    expect(decodeObject(bodyOf(d))).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Success',
      details: { name: 'w', kind: 'configmaps' },
    })
  })

  it('serves PartialObjectMetadata and PartialObjectMetadataList in protobuf, and Table only in JSON', async () => {
    const pods = `/api/v1/namespaces/${NS}/pods`
    const list = await server.request('GET', pods, undefined, {
      Accept: `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json`,
    })
    expect(list.headers['content-type']).toBe(PB)
    const decoded = decodeObject(bodyOf(list)) as {
      kind: string
      items: { metadata: { name: string } }[]
    }
    expect(decoded.kind).toBe('PartialObjectMetadataList')
    expect(decoded.items.map((i) => i.metadata.name)).toEqual(['pb'])
    const one = await server.request('GET', `${pods}/pb`, undefined, {
      Accept: `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1`,
    })
    expect(decodeObject(bodyOf(one))).toMatchObject({
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: { name: 'pb', namespace: NS, labels: { app: 'pb' } },
    })
    // meta.k8s.io/v1beta1 too: its PartialObjectMetadata is v1's message, its list a message of its own.
    const betaList = await server.request('GET', pods, undefined, {
      Accept: `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1`,
    })
    expect(betaList.headers['content-type']).toBe(PB)
    expect(decodeObject(bodyOf(betaList))).toMatchObject({
      apiVersion: 'meta.k8s.io/v1beta1',
      kind: 'PartialObjectMetadataList',
      items: [{ metadata: { name: 'pb', namespace: NS } }],
    })
    const betaOne = await server.request('GET', `${pods}/pb`, undefined, {
      Accept: `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1`,
    })
    expect(decodeObject(bodyOf(betaOne))).toMatchObject({
      apiVersion: 'meta.k8s.io/v1beta1',
      kind: 'PartialObjectMetadata',
      metadata: { name: 'pb', labels: { app: 'pb' } },
    })
    // client-go's metadata client writes with this Accept too: the answer is the object's metadata.
    const metadataClient = `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json`
    const patched = await server.request(
      'PATCH',
      `${pods}/pb`,
      JSON.stringify({ metadata: { labels: { patched: 'yes' } } }),
      { 'Content-Type': 'application/merge-patch+json', Accept: metadataClient },
    )
    expect(patched.status, patched.body).toBe(200)
    expect(decodeObject(bodyOf(patched))).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { name: 'pb', labels: { app: 'pb', patched: 'yes' } },
    })
    expect(decodeObject(bodyOf(patched)).spec).toBeUndefined()
    // A transform that does not fit the answer: kube's 406, the Go type as %T prints it.
    const listAsOne = await server.request('GET', pods, undefined, { Accept: metadataClient })
    expect(listAsOne.status).toBe(406)
    // Errors are negotiated without transforms (ErrorNegotiated): only the plain JSON clause fits.
    expect(listAsOne.headers['content-type']).toBe('application/json')
    expect(JSON.parse(listAsOne.body).message).toBe(
      'you requested PartialObjectMetadata, but the requested object is a list (*v1.PodList)',
    )
    const oneAsList = await server.request('GET', `${pods}/pb`, undefined, {
      Accept: `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`,
    })
    expect(oneAsList.status).toBe(406)
    expect(JSON.parse(oneAsList.body).message).toBe(
      'you requested PartialObjectMetadataList, but the requested object is not a list (*v1.Pod)',
    )
    const table = await server.request('GET', pods, undefined, {
      Accept: `${PB};as=Table;g=meta.k8s.io;v=v1,application/json;as=Table;g=meta.k8s.io;v=v1`,
    })
    expect(table.headers['content-type']).toBe('application/json')
    expect(JSON.parse(table.body).kind).toBe('Table')
    const tableOnly = await server.request('GET', pods, undefined, {
      Accept: `${PB};as=Table;g=meta.k8s.io;v=v1`,
    })
    expect(tableOnly.status).toBe(406)
    expect(JSON.parse(tableOnly.body).message).toBe(
      `only the following media types are accepted: application/json, application/yaml, ${PB}`,
    )
  })

  it('negotiates a computed read (componentstatuses) as any get and list', async () => {
    const cs = '/api/v1/componentstatuses'
    const names = JSON.parse((await server.request('GET', cs)).body).items.map(
      (i: { metadata: { name: string } }) => i.metadata.name,
    )
    expect(names.length).toBeGreaterThan(0)
    const metadataList = await server.request('GET', cs, undefined, {
      Accept: `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`,
    })
    expect(metadataList.headers['content-type']).toBe(PB)
    const decoded = decodeObject(bodyOf(metadataList)) as {
      kind: string
      items: { metadata: { name: string } }[]
    }
    expect(decoded.kind).toBe('PartialObjectMetadataList')
    expect(decoded.items.map((i) => i.metadata.name)).toEqual(names)
    const one = await server.request('GET', `${cs}/${names[0]}`, undefined, {
      Accept: `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1`,
    })
    expect(decodeObject(bodyOf(one))).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { name: names[0] },
    })
    const listAsOne = await server.request('GET', cs, undefined, {
      Accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    })
    expect(listAsOne.status).toBe(406)
    expect(JSON.parse(listAsOne.body).message).toBe(
      'you requested PartialObjectMetadata, but the requested object is a list (*v1.ComponentStatusList)',
    )
    const oneAsList = await server.request('GET', `${cs}/${names[0]}`, undefined, {
      Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
    })
    expect(oneAsList.status).toBe(406)
    expect(JSON.parse(oneAsList.body).message).toBe(
      'you requested PartialObjectMetadataList, but the requested object is not a list (*v1.ComponentStatus)',
    )
    const table = await server.request('GET', cs, undefined, {
      Accept: 'application/json;as=Table;g=meta.k8s.io;v=v1',
    })
    expect(JSON.parse(table.body).rows.map((r: { cells: string[] }) => r.cells[0])).toEqual(names)
  })

  it('answers errors as a protobuf Status to a protobuf client', async () => {
    const r = await server.request('GET', `/api/v1/namespaces/${NS}/configmaps/absent`, undefined, {
      Accept: `${PB}, application/json`,
    })
    expect(r.status).toBe(404)
    expect(r.headers['content-type']).toBe(PB)
    expect(withoutEmpty(decodeObject(bodyOf(r)))).toEqual({
      apiVersion: 'v1',
      kind: 'Status',
      status: 'Failure',
      message: 'configmaps "absent" not found',
      reason: 'NotFound',
      details: { name: 'absent', kind: 'configmaps' },
      code: 404,
    })
    const refused = await server.request('GET', '/api/v1/namespaces', undefined, {
      Accept: PB,
      Authorization: 'Bearer not-a-token',
    })
    expect(refused.status).toBe(401)
    expect(decodeObject(bodyOf(refused))).toMatchObject({
      kind: 'Status',
      reason: 'Unauthorized',
      code: 401,
    })
    const unknownPath = await server.request('GET', '/api/v1/nothings', undefined, { Accept: PB })
    expect(unknownPath.status).toBe(404)
    expect(decodeObject(bodyOf(unknownPath))).toMatchObject({ kind: 'Status', code: 404 })
  })
})

describe('protobuf watch streams', () => {
  it('frames each event with a 4-byte length and a WatchEvent whose object is enveloped', async () => {
    const cm = `/api/v1/namespaces/${NS}/configmaps`
    const rv = JSON.parse((await server.request('GET', cm)).body).metadata.resourceVersion
    const watch = server.request(
      'GET',
      `${cm}?watch=1&resourceVersion=${rv}&timeoutSeconds=3`,
      undefined,
      { Accept: `${PB}, application/json` },
    )
    await new Promise((r) => setTimeout(r, 800))
    await server.k('create', 'configmap', 'watched', '-n', NS, '--from-literal=x=1')
    await server.k('label', 'configmap', 'watched', '-n', NS, 'seen=yes')
    await server.k('delete', 'configmap', 'watched', '-n', NS)
    const r = await watch
    expect(r.headers['content-type']).toBe(`${PB};stream=watch`)
    const events = decodeWatchFrames(bodyOf(r))
    expect(
      events.map((e) => [e.type, e.object.kind, (e.object.metadata as { name: string }).name]),
    ).toEqual([
      ['ADDED', 'ConfigMap', 'watched'],
      ['MODIFIED', 'ConfigMap', 'watched'],
      ['DELETED', 'ConfigMap', 'watched'],
    ])
    expect(events[1].object).toMatchObject({
      data: { x: '1' },
      metadata: { labels: { seen: 'yes' } },
    })
  })

  it('sends the initial events and the bookmark that ends them', async () => {
    const r = await server.request(
      'GET',
      `/api/v1/namespaces/${NS}/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1`,
      undefined,
      { Accept: PB },
    )
    const events = decodeWatchFrames(bodyOf(r))
    expect(events[0]).toMatchObject({
      type: 'ADDED',
      object: { kind: 'Pod', metadata: { name: 'pb' } },
    })
    const bookmark = events.find((e) => e.type === 'BOOKMARK')!
    expect(bookmark.object).toMatchObject({
      kind: 'Pod',
      metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } },
    })
  })

  it("serves a metadata informer's watch as PartialObjectMetadata, bookmarks included", async () => {
    const r = await server.request(
      'GET',
      `/api/v1/namespaces/${NS}/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1`,
      undefined,
      {
        Accept: `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json`,
      },
    )
    expect(r.headers['content-type']).toBe(`${PB};stream=watch`)
    const events = decodeWatchFrames(bodyOf(r))
    expect(events.map((e) => [e.type, e.object.apiVersion, e.object.kind])).toContainEqual([
      'ADDED',
      'meta.k8s.io/v1',
      'PartialObjectMetadata',
    ])
    expect(events.at(-1)).toMatchObject({
      type: 'BOOKMARK',
      object: {
        kind: 'PartialObjectMetadata',
        metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } },
      },
    })
    expect(new Set(events.map((e) => e.object.kind))).toEqual(new Set(['PartialObjectMetadata']))
    const beta = await server.request(
      'GET',
      `/api/v1/namespaces/${NS}/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1`,
      undefined,
      { Accept: `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1` },
    )
    expect(beta.headers['content-type']).toBe(`${PB};stream=watch`)
    expect(
      decodeWatchFrames(bodyOf(beta)).map((e) => [e.type, e.object.apiVersion, e.object.kind]),
    ).toContainEqual(['ADDED', 'meta.k8s.io/v1beta1', 'PartialObjectMetadata'])
  })

  it('refuses a YAML watch with the stream media types', async () => {
    const r = await server.request('GET', `/api/v1/namespaces/${NS}/pods?watch=1`, undefined, {
      Accept: 'application/yaml',
    })
    expect(r.status).toBe(406)
    // The refusal itself is negotiated as any error is: YAML for this client.
    expect(r.headers['content-type']).toBe('application/yaml')
    expect(parseYaml(r.body).message).toBe(
      `only the following media types are accepted: application/json;stream=watch, ${PB};stream=watch`,
    )
  })
})

describe('custom resources', () => {
  it("answer JSON to client-go's Accept, 406 to protobuf alone, and PartialObjectMetadataList in protobuf", async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.pb.example.com' },
      spec: {
        group: 'pb.example.com',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        scope: 'Namespaced',
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
    }
    await server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) })
    await server.k('wait', '--for=condition=Established', 'crd/widgets.pb.example.com')
    const widgets = `/apis/pb.example.com/v1/namespaces/${NS}/widgets`
    const c = await server.request(
      'POST',
      widgets,
      JSON.stringify({ apiVersion: 'pb.example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
      { 'Content-Type': 'application/json' },
    )
    expect(c.status, c.body).toBe(201)
    const mixed = await server.request('GET', `${widgets}/w`, undefined, {
      Accept: `${PB},application/json`,
    })
    expect(mixed.headers['content-type']).toBe('application/json')
    // kube's CR scopes leave protobuf out of their StandardSerializers, so a GET, a LIST and a WATCH (and
    // a Table, JSON and YAML only) refuse a protobuf-only client in negotiation: 406 naming every media type
    // of the CR serializer, which has protobuf (for PartialObjectMetadata). The refusal is an error,
    // negotiated as every error is (ErrorNegotiated, no transforms): a protobuf Status.
    for (const [path, accept] of [
      [`${widgets}/w`, PB],
      [widgets, PB],
      [`${widgets}?watch=1&timeoutSeconds=1`, PB],
    ]) {
      const only = await server.request('GET', path, undefined, { Accept: accept })
      expect(only.status, `${path} ${accept}`).toBe(406)
      expect(only.headers['content-type']).toBe(PB)
      expect(withoutEmpty(decodeObject(bodyOf(only)))).toEqual({
        apiVersion: 'v1',
        kind: 'Status',
        status: 'Failure',
        reason: 'NotAcceptable',
        message: `only the following media types are accepted: application/json, application/yaml, ${PB}`,
        code: 406,
      })
    }
    // A Table asked for in protobuf alone: no serializer fits the error either (ErrorNegotiated negotiates
    // without transforms), so WriteRawJSON writes it, indented.
    const table = await server.request('GET', widgets, undefined, {
      Accept: `${PB};as=Table;g=meta.k8s.io;v=v1`,
    })
    expect(table.status).toBe(406)
    expect(table.headers['content-type']).toBe('application/json')
    expect(table.body).toBe(
      JSON.stringify(
        {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `only the following media types are accepted: application/json, application/yaml, ${PB}`,
          reason: 'NotAcceptable',
          code: 406,
        },
        null,
        2,
      ),
    )
    const meta = await server.request('GET', widgets, undefined, {
      Accept: `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`,
    })
    expect(meta.headers['content-type']).toBe(PB)
    expect(decodeObject(bodyOf(meta))).toMatchObject({
      kind: 'PartialObjectMetadataList',
      items: [{ metadata: { name: 'w', namespace: NS } }],
    })
    const metaBeta = await server.request('GET', widgets, undefined, {
      Accept: `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1`,
    })
    expect(metaBeta.headers['content-type']).toBe(PB)
    expect(decodeObject(bodyOf(metaBeta))).toMatchObject({
      apiVersion: 'meta.k8s.io/v1beta1',
      kind: 'PartialObjectMetadataList',
      items: [{ metadata: { name: 'w', namespace: NS } }],
    })
  }, 60_000)
})

describe('kubectl', () => {
  it('asks for protobuf with its typed clients and reads the protobuf answers, errors included', async () => {
    const r = await server.kubectl([
      'create',
      'configmap',
      'typed',
      '-n',
      NS,
      '--from-literal=a=b',
      '-v=8',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('Accept: application/vnd.kubernetes.protobuf,application/json')
    expect(r.stderr).toMatch(
      /Response Status: 201 Created[\s\S]*Content-Type: application\/vnd\.kubernetes\.protobuf/,
    )
    expect(r.stdout).toContain('configmap/typed created')
    const again = await server.kubectl(['create', 'configmap', 'typed', '-n', NS, '-v=8'])
    expect(again.stderr).toMatch(
      /Response Status: 409 Conflict[\s\S]*Content-Type: application\/vnd\.kubernetes\.protobuf/,
    )
    expect(again.stderr).toContain(
      'error: failed to create configmap: configmaps "typed" already exists',
    )
    const can = await server.kubectl(['auth', 'can-i', 'list', 'pods', '-v=8'])
    expect(can.stderr).toMatch(
      /selfsubjectaccessreviews[\s\S]*Content-Type: application\/vnd\.kubernetes\.protobuf/,
    )
    expect(can.stdout.trim()).toBe('yes')
    // kubectl drain: cordon (a patch), the node's pods (a LIST), an Eviction each, all through typed clients.
    await server.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'pb-drained' } }),
    })
    await server.kubectl(['create', '-n', NS, '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'on-node' },
        spec: { ...podSpec, nodeName: 'pb-drained' },
      }),
    })
    const drain = await server.kubectl([
      'drain',
      'pb-drained',
      '--force',
      '--grace-period=0',
      '--timeout=60s',
      '-v=8',
    ])
    expect(drain.code, drain.stderr).toBe(0)
    expect(drain.stderr).toMatch(
      /eviction[\s\S]*Content-Type: application\/vnd\.kubernetes\.protobuf/,
    )
    expect(drain.stdout).toContain(`pod/on-node evicted`)
    expect(drain.stdout).toContain('node/pb-drained drained')
    await server.k('create', 'serviceaccount', 'pb-token', '-n', NS)
    expect((await server.k('create', 'token', 'pb-token', '-n', NS)).trim()).toMatch(/^eyJ/)
  })
})

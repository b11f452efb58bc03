// Clusters made through the management API (tenancy.edge-apiserver.dev/v1alpha1 Cluster in the default
// cluster), used side by side with real kubectl through the admin kubeconfigs their Secrets hold: nothing of
// one (objects, CRDs, credentials, service account tokens, watches) is visible in another, and a deleted
// cluster's data and credentials are gone.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backgroundKubectl, KUBECTL, run } from '../helpers/process'
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server'
import { clusterManifest, createClusters, kubectlIn } from '../helpers/tenancy'
import { LocalServer } from './harness'

let server: LocalServer
let webhook: WebhookServer
const kubeconfigs: Record<string, string> = {}

/** kubectl against a cluster made through the management API, as its admin. */
const { at, atOk } = kubectlIn(kubeconfigs)
/** kubectl against a cluster with another credential: a token from somewhere else. */
const withToken = (cluster: string, token: string, ...args: string[]) =>
  run(KUBECTL, ['--kubeconfig', kubeconfigs[cluster]!, '--token', token, ...args])

beforeAll(async () => {
  // Before the server: the Worker's fetch takes the webhook's CA from the runtime's start.
  webhook = await startWebhookServer('tenancy-e2e', (review) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: review.request.uid, allowed: false, status: { message: 'denied by team-a' } },
  }))
  server = await LocalServer.start()
  Object.assign(
    kubeconfigs,
    await createClusters(server.kubeconfig, ['team-a', 'team-b'], server.stateDir),
  )
}, 180_000)
afterAll(async () => {
  await server?.dispose()
  await webhook?.close()
})

describe('the Cluster API', () => {
  it('lists clusters with kubectl get, with their readiness and server', async () => {
    const out = await server.k('get', 'clusters')
    const lines = out.trim().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+READY\s+SERVER\s+AGE$/)
    expect(lines[1]).toMatch(
      new RegExp(
        `^team-a\\s+True\\s+https://127\\.0\\.0\\.1:${server.port}/clusters/team-a\\s+\\d+s$`,
      ),
    )
    expect(await server.k('api-resources', '--api-group=tenancy.edge-apiserver.dev')).toMatch(
      /clusters\s+tenancy\.edge-apiserver\.dev\/v1alpha1\s+false\s+Cluster/,
    )
  })

  it('refuses a name that is no DNS label, as a path segment could not carry it', async () => {
    const r = await server.kubectl(['create', '-f', '-'], { input: clusterManifest('a.b') })
    expect(r.stderr).toBe(
      `The Cluster "a.b" is invalid: metadata.name: Invalid value: "a.b": metadata.name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'\n`,
    )
  })
})

describe('two clusters side by side', () => {
  it('each starts as a new cluster of its own, bootstrapped', async () => {
    expect(await atOk('team-a', 'get', 'ns', '-o', 'name')).toContain('namespace/kube-system')
    expect(
      await atOk('team-b', 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.groups}'),
    ).toContain('system:masters')
  })

  it('keeps objects of one out of the others', async () => {
    await atOk('team-a', 'create', 'configmap', 'only-in-a', '--from-literal=team=a')
    const b = await at('team-b', 'get', 'configmap', 'only-in-a')
    expect(b.stderr).toBe('Error from server (NotFound): configmaps "only-in-a" not found\n')
    const d = await server.kubectl(['get', 'configmap', 'only-in-a'])
    expect(d.stderr).toBe('Error from server (NotFound): configmaps "only-in-a" not found\n')
  })

  it('serves a CRD of one cluster in that cluster only', async () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
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
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`
    const r = await run(KUBECTL, ['--kubeconfig', kubeconfigs['team-a']!, 'apply', '-f', '-'], {
      input: crd,
    })
    expect(r.code).toBe(0)
    await atOk('team-a', 'wait', '--for=condition=Established', 'crd/widgets.example.com')
    expect(await atOk('team-a', 'api-resources', '--api-group=example.com', '-o', 'name')).toBe(
      'widgets.example.com\n',
    )
    expect(await atOk('team-b', 'api-resources', '--api-group=example.com', '-o', 'name')).toBe('')
    expect(await server.k('api-resources', '--api-group=example.com', '-o', 'name')).toBe('')
    const get = await at('team-b', 'get', 'widgets')
    expect(get.stderr).toBe(`error: the server doesn't have a resource type "widgets"\n`)
  })

  it('calls the admission webhooks of the cluster written to, and no other cluster’s', async () => {
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'deny-configmaps' },
      webhooks: [
        {
          name: 'deny.team-a.example.com',
          clientConfig: { url: `${webhook.url}/validate`, caBundle: webhook.caBundle },
          rules: [
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['configmaps'],
            },
          ],
          objectSelector: { matchLabels: { hooked: 'yes' } },
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
        },
      ],
    }
    const created = await run(
      KUBECTL,
      ['--kubeconfig', kubeconfigs['team-a']!, 'create', '-f', '-'],
      {
        input: JSON.stringify(config),
      },
    )
    expect(created.code).toBe(0)
    const labelled = (name: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, labels: { hooked: 'yes' } },
      })
    const inA = await run(KUBECTL, ['--kubeconfig', kubeconfigs['team-a']!, 'create', '-f', '-'], {
      input: labelled('hooked'),
    })
    expect(inA.stderr).toBe(
      'Error from server: error when creating "STDIN": admission webhook "deny.team-a.example.com" denied the request: denied by team-a\n',
    )
    const inB = await run(KUBECTL, ['--kubeconfig', kubeconfigs['team-b']!, 'create', '-f', '-'], {
      input: labelled('hooked'),
    })
    expect(inB).toMatchObject({ code: 0, stdout: 'configmap/hooked created\n' })
    const inDefault = await server.kubectl(['create', '-f', '-'], { input: labelled('hooked') })
    expect(inDefault).toMatchObject({ code: 0, stdout: 'configmap/hooked created\n' })
  })

  it('takes a credential of one cluster for nothing in another: 401', async () => {
    const tokenOf = (cluster: string) =>
      /token: (\S+)/.exec(readFileSync(kubeconfigs[cluster]!, 'utf8'))![1]!
    const unauthorized = 'error: You must be logged in to the server (Unauthorized)\n'
    expect((await withToken('team-b', tokenOf('team-a'), 'get', 'ns')).stderr).toBe(unauthorized)
    // The default cluster's admin (a token at the edge, a client certificate of its CA in Node mode) in a
    // cluster, and a cluster's admin token in the default cluster.
    expect(
      (await server.kubectl(['--server', `${server.url}/clusters/team-a`, 'get', 'ns'])).stderr,
    ).toBe(unauthorized)
    expect(
      (
        await run(KUBECTL, [
          '--kubeconfig',
          kubeconfigs['team-a']!,
          '--server',
          server.url,
          'get',
          'ns',
        ])
      ).stderr,
    ).toBe(unauthorized)

    // A service account token is the issuing cluster's: its audience and signing key are no other's.
    await atOk('team-a', 'create', 'serviceaccount', 'robot')
    await atOk('team-b', 'create', 'serviceaccount', 'robot')
    await atOk(
      'team-a',
      'create',
      'clusterrolebinding',
      'robot-view',
      '--clusterrole=view',
      '--serviceaccount=default:robot',
    )
    const saToken = (await atOk('team-a', 'create', 'token', 'robot')).trim()
    expect(
      (await withToken('team-a', saToken, 'get', 'configmaps', '-o', 'name')).stdout,
    ).toContain('configmap/only-in-a')
    expect((await withToken('team-b', saToken, 'get', 'configmaps')).stderr).toBe(unauthorized)
    // And RBAC of one cluster grants nothing in another: b's robot has no binding there.
    const bToken = (await atOk('team-b', 'create', 'token', 'robot')).trim()
    expect((await withToken('team-b', bToken, 'get', 'configmaps')).stderr).toBe(
      'Error from server (Forbidden): configmaps is forbidden: User "system:serviceaccount:default:robot" cannot list resource "configmaps" in API group "" in the namespace "default"\n',
    )
  })

  it('watches in one cluster see that cluster’s writes only', async () => {
    const w = backgroundKubectl(kubeconfigs['team-b']!, [
      'get',
      'configmaps',
      '-w',
      '--watch-only',
      '--output-watch-events',
      '-v=6',
    ])
    try {
      await w.waitForLog(/configmaps\?.*watch=true.* 200 OK/)
      await atOk('team-a', 'create', 'configmap', 'a-write')
      await server.k('create', 'configmap', 'default-write')
      await atOk('team-b', 'create', 'configmap', 'b-write')
      await w.waitFor(/ADDED\s+b-write\s/)
      expect(w.output()).not.toMatch(/a-write|default-write/)
    } finally {
      w.kill()
    }
  })
})

describe('resetting a cluster', () => {
  it('empties it to a new cluster’s state on a new spec.resetAt, keeping its credentials', async () => {
    await atOk('team-b', 'create', 'configmap', 'before-reset')
    await atOk('team-b', 'create', 'namespace', 'scratch')
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { plural: gadgets, singular: gadget, kind: Gadget }
  versions:
  - name: v1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`
    const created = await run(
      KUBECTL,
      ['--kubeconfig', kubeconfigs['team-b']!, 'create', '-f', '-'],
      {
        input: crd,
      },
    )
    expect(created.stderr).toBe('')
    const before = await atOk(
      'team-b',
      'get',
      'configmap',
      'before-reset',
      '-o',
      'jsonpath={.metadata.resourceVersion}',
    )
    const fresh = (await atOk('team-b', 'get', 'ns', '-o', 'name')).replace(
      'namespace/scratch\n',
      '',
    )

    const resetAt = '2026-12-05T04:40:00Z'
    await server.k(
      'patch',
      'cluster',
      'team-b',
      '--type=merge',
      '-p',
      `{"spec":{"resetAt":"${resetAt}"}}`,
    )
    await server.k(
      'wait',
      `--for=jsonpath={.status.resetAt}=${resetAt}`,
      'cluster/team-b',
      '--timeout=30s',
    )

    expect((await at('team-b', 'get', 'configmap', 'before-reset')).stderr).toBe(
      'Error from server (NotFound): configmaps "before-reset" not found\n',
    )
    expect(await atOk('team-b', 'get', 'ns', '-o', 'name')).toBe(fresh)
    expect(await atOk('team-b', 'get', 'crd', '-o', 'name')).toBe('')
    expect(await atOk('team-b', 'get', 'clusterrole', 'cluster-admin', '-o', 'name')).toBe(
      'clusterrole.rbac.authorization.k8s.io/cluster-admin\n',
    )
    // Its revisions went on: a new object's resourceVersion is past every one handed out before.
    await atOk('team-b', 'create', 'configmap', 'after-reset')
    const after = await atOk(
      'team-b',
      'get',
      'configmap',
      'after-reset',
      '-o',
      'jsonpath={.metadata.resourceVersion}',
    )
    expect(Number(after)).toBeGreaterThan(Number(before))
    // The same spec.resetAt again empties nothing.
    await server.k(
      'patch',
      'cluster',
      'team-b',
      '--type=merge',
      '-p',
      `{"spec":{"resetAt":"${resetAt}"}}`,
    )
    expect(await atOk('team-b', 'get', 'configmap', 'after-reset', '-o', 'name')).toBe(
      'configmap/after-reset\n',
    )
    expect(await atOk('team-a', 'get', 'configmap', 'only-in-a', '-o', 'name')).toBe(
      'configmap/only-in-a\n',
    )
  })
})

describe('deleting a cluster', () => {
  it('deletes everything it stored and its credentials, then the Cluster', async () => {
    const marker = 'team-b-marker-6f1d2c'
    await atOk('team-b', 'create', 'configmap', 'marked', `--from-literal=m=${marker}`)
    expect((await server.storage()).includes(marker)).toBe(true)
    await server.k('delete', 'cluster', 'team-b', '--timeout=60s')
    const gone = await server.kubectl(['get', 'cluster', 'team-b'])
    expect(gone.stderr).toBe(
      'Error from server (NotFound): clusters.tenancy.edge-apiserver.dev "team-b" not found\n',
    )
    const secret = await server.kubectl([
      'get',
      'secret',
      '-n',
      'kube-system',
      'cluster-team-b-admin-kubeconfig',
    ])
    expect(secret.stderr).toBe(
      'Error from server (NotFound): secrets "cluster-team-b-admin-kubeconfig" not found\n',
    )
    expect((await server.storage()).includes(marker)).toBe(false)
    // Its kubeconfig now points at nothing (an isolate that served it finds out within seconds); the
    // other cluster goes on.
    await expect
      .poll(async () => (await at('team-b', 'get', 'configmaps')).stderr, { timeout: 10_000 })
      .toMatch(
        /Error from server \(NotFound\): (.*: )?the server could not find the requested resource\n$/,
      )
    expect(await atOk('team-a', 'get', 'configmap', 'only-in-a', '-o', 'name')).toBe(
      'configmap/only-in-a\n',
    )
  })
})

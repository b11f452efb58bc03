import { createServer } from 'node:http'
import { beforeEach, describe, expect, it } from 'vitest'
import type { Attributes } from '../../src/auth/authorizer'
import { NodeAuthorizer, nodeIdentity } from '../../src/auth/node-authorizer'
import { WebhookAuthorizer } from '../../src/auth/webhook-authorizer'
import type { UserInfo } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'

const kubelet: UserInfo = {
  username: 'system:node:n1',
  groups: ['system:nodes', 'system:authenticated'],
}
const a = (over: Partial<Attributes>, user = kubelet): Attributes => ({
  user,
  verb: 'get',
  isResourceRequest: true,
  path: '',
  apiGroup: '',
  apiVersion: 'v1',
  namespace: 'default',
  resource: 'secrets',
  subresource: '',
  name: '',
  ...over,
})

describe('Node authorizer', () => {
  let store: MemoryStore
  let z: ReturnType<NodeAuthorizer['forStore']>
  beforeEach(async () => {
    store = new MemoryStore()
    z = new NodeAuthorizer().forStore(store)
    await store.put('/registry/pods/default/web', {
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        nodeName: 'n1',
        serviceAccountName: 'web-sa',
        imagePullSecrets: [{ name: 'pull' }],
        containers: [
          {
            name: 'c',
            env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'k' } } }],
            envFrom: [{ configMapRef: { name: 'env-cm' } }],
          },
        ],
        volumes: [
          { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
          { name: 'p', projected: { sources: [{ secret: { name: 'projected' } }] } },
        ],
      },
    })
    await store.put('/registry/pods/default/elsewhere', {
      metadata: { name: 'elsewhere', namespace: 'default' },
      spec: { nodeName: 'n2', volumes: [{ name: 's', secret: { secretName: 'other' } }] },
    })
    await store.put('/registry/persistentvolumeclaims/default/data', {
      metadata: { name: 'data', namespace: 'default' },
      spec: { volumeName: 'pv-1' },
    })
    await store.put('/registry/persistentvolumes/pv-1', {
      metadata: { name: 'pv-1' },
      spec: { claimRef: { namespace: 'default', name: 'data' } },
    })
  })

  it('knows a node only by system:node:<name> in system:nodes', () => {
    expect(nodeIdentity(kubelet)).toBe('n1')
    expect(nodeIdentity({ username: 'system:node:n1', groups: [] })).toBeUndefined()
    expect(nodeIdentity({ username: 'bob', groups: ['system:nodes'] })).toBeUndefined()
  })

  it('lets a node read what the pods bound to it use, and nothing else', async () => {
    for (const name of ['pull', 'env-secret', 'projected'])
      expect((await z.authorize(a({ name }))).decision).toBe('Allow')
    expect(await z.authorize(a({ name: 'other' }))).toEqual({
      decision: 'NoOpinion',
      reason: "no relationship found between node 'n1' and this object",
    })
    expect((await z.authorize(a({ resource: 'configmaps', name: 'env-cm' }))).decision).toBe(
      'Allow',
    )
    expect(
      (await z.authorize(a({ resource: 'persistentvolumeclaims', name: 'data' }))).decision,
    ).toBe('Allow')
    expect(
      (await z.authorize(a({ resource: 'persistentvolumes', namespace: '', name: 'pv-1' })))
        .decision,
    ).toBe('Allow')
    expect(
      (
        await z.authorize(
          a({ resource: 'serviceaccounts', subresource: 'token', verb: 'create', name: 'web-sa' }),
        )
      ).decision,
    ).toBe('Allow')
    expect(
      (
        await z.authorize(
          a({ resource: 'serviceaccounts', subresource: 'token', verb: 'create', name: 'default' }),
        )
      ).decision,
    ).toBe('NoOpinion')
    expect(await z.authorize(a({ verb: 'list' }))).toEqual({
      decision: 'NoOpinion',
      reason: 'No Object name found',
    })
    expect(await z.authorize(a({ verb: 'delete', name: 'pull' }))).toEqual({
      decision: 'NoOpinion',
      reason: 'can only read resources of this type',
    })
  })

  it('lets a node get the VolumeAttachments for it and keep only its own CSINode', async () => {
    await store.put('/registry/volumeattachments/va-mine', {
      metadata: { name: 'va-mine' },
      spec: { attacher: 'd.example.com', nodeName: 'n1', source: { persistentVolumeName: 'pv-1' } },
    })
    await store.put('/registry/volumeattachments/va-other', {
      metadata: { name: 'va-other' },
      spec: { attacher: 'd.example.com', nodeName: 'n2', source: { persistentVolumeName: 'pv-2' } },
    })
    const va = (over: Partial<Attributes>) =>
      a({ apiGroup: 'storage.k8s.io', resource: 'volumeattachments', namespace: '', ...over })
    expect((await z.authorize(va({ name: 'va-mine' }))).decision).toBe('Allow')
    expect(await z.authorize(va({ name: 'va-other' }))).toEqual({
      decision: 'NoOpinion',
      reason: "no relationship found between node 'n1' and this object",
    })
    expect(await z.authorize(va({ verb: 'list' }))).toEqual({
      decision: 'NoOpinion',
      reason: 'can only get individual resources of this type',
    })
    const csinode = (over: Partial<Attributes>) =>
      a({ apiGroup: 'storage.k8s.io', resource: 'csinodes', namespace: '', ...over })
    expect((await z.authorize(csinode({ verb: 'update', name: 'n1' }))).decision).toBe('Allow')
    expect((await z.authorize(csinode({ verb: 'create' }))).decision).toBe('Allow')
    expect(await z.authorize(csinode({ verb: 'update', name: 'n2' }))).toEqual({
      decision: 'NoOpinion',
      reason: 'can only access CSINode with the same name as the requesting node',
    })
    // What the system:node role grants for TLS bootstrap, runtime classes, CSI drivers and evictions, and no binding.
    const rule = async (over: Partial<Attributes>) =>
      (await z.authorize(a({ namespace: '', ...over }))).decision
    expect(
      await rule({
        apiGroup: 'certificates.k8s.io',
        resource: 'certificatesigningrequests',
        verb: 'create',
      }),
    ).toBe('Allow')
    expect(
      await rule({
        apiGroup: 'certificates.k8s.io',
        resource: 'certificatesigningrequests',
        verb: 'watch',
      }),
    ).toBe('Allow')
    expect(
      await rule({
        apiGroup: 'certificates.k8s.io',
        resource: 'certificatesigningrequests',
        subresource: 'approval',
        verb: 'update',
        name: 'x',
      }),
    ).toBe('NoOpinion')
    expect(await rule({ apiGroup: 'node.k8s.io', resource: 'runtimeclasses', verb: 'list' })).toBe(
      'Allow',
    )
    expect(await rule({ apiGroup: 'storage.k8s.io', resource: 'csidrivers', verb: 'watch' })).toBe(
      'Allow',
    )
    expect(
      await rule({
        resource: 'pods',
        subresource: 'eviction',
        verb: 'create',
        namespace: 'default',
        name: 'web',
      }),
    ).toBe('Allow')
    expect(
      await rule({
        resource: 'pods',
        subresource: 'binding',
        verb: 'create',
        namespace: 'default',
        name: 'web',
      }),
    ).toBe('NoOpinion')
  })

  it('lets a node keep only its own lease, and falls back to the system:node rules', async () => {
    const lease = (name: string, namespace = 'kube-node-lease') =>
      a({ apiGroup: 'coordination.k8s.io', resource: 'leases', namespace, name, verb: 'update' })
    expect((await z.authorize(lease('n1'))).decision).toBe('Allow')
    expect((await z.authorize(lease('n2'))).reason).toBe(
      'can only access node lease with the same name as the requesting node',
    )
    expect((await z.authorize(lease('n1', 'default'))).reason).toBe(
      'can only access leases in the "kube-node-lease" system namespace',
    )
    expect((await z.authorize(a({ resource: 'pods', verb: 'list' }))).decision).toBe('Allow')
    expect(
      (await z.authorize(a({ resource: 'nodes', verb: 'create', namespace: '' }))).decision,
    ).toBe('Allow')
    expect(
      (await z.authorize(a({ resource: 'nodes', verb: 'delete', namespace: '', name: 'n1' })))
        .decision,
    ).toBe('NoOpinion')
    expect(await z.authorize(a({ name: 'pull' }, { username: 'bob', groups: [] }))).toEqual({
      decision: 'NoOpinion',
      reason: '',
    })
  })
})

describe('Webhook authorizer', () => {
  it('sends a SubjectAccessReview, follows the answer and caches it', async () => {
    const bodies: any[] = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        const sar = JSON.parse(body)
        bodies.push(sar)
        const allowed = sar.spec.resourceAttributes?.verb === 'get'
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            status: allowed
              ? { allowed: true, reason: 'ok by hook' }
              : { allowed: false, denied: true, reason: 'no by hook' },
          }),
        )
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    try {
      const hook = new WebhookAuthorizer({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      })
      const bob = { username: 'bob', groups: ['devs'] }
      expect(await hook.authorize(a({ name: 'x' }, bob))).toEqual({
        decision: 'Allow',
        reason: 'ok by hook',
      })
      expect(await hook.authorize(a({ name: 'x' }, bob))).toEqual({
        decision: 'Allow',
        reason: 'ok by hook',
      })
      expect(await hook.authorize(a({ name: 'x', verb: 'delete' }, bob))).toEqual({
        decision: 'Deny',
        reason: 'no by hook',
      })
      expect(bodies).toHaveLength(2)
      expect(bodies[0]).toEqual({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          resourceAttributes: {
            namespace: 'default',
            verb: 'get',
            version: 'v1',
            resource: 'secrets',
            name: 'x',
          },
          user: 'bob',
          groups: ['devs'],
        },
      })
    } finally {
      server.close()
    }
    const unreachable = new WebhookAuthorizer({ url: 'http://127.0.0.1:1', timeoutMs: 2000 })
    const r = await unreachable.authorize(a({ name: 'x' }))
    expect(r.decision).toBe('NoOpinion')
    expect(r.error).toMatch(/^error contacting the authorization webhook/)
  })
})

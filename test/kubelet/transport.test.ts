// The kubelet seam: the Node's address chosen as kube's NodeConnectionInfoGetter chooses it, and a
// transport registered for a node (the agent tunnel's way in) used instead of the direct one, even for a
// Node without an address the direct transport could dial.
import { describe, expect, it } from 'vitest'
import { kubeletNode, NoPreferredAddressError } from '../../src/kubelet/node-address'
import {
  KubeletDialError,
  KubeletTransports,
  type KubeletClient,
  type KubeletNode,
  type KubeletRequest,
  type KubeletTransport,
} from '../../src/kubelet/transport'
import { makeApp } from '../helpers/app'

const TYPES = ['Hostname', 'InternalDNS', 'InternalIP', 'ExternalDNS', 'ExternalIP']

describe('kubeletNode', () => {
  const node = (addresses: object[], port?: number) => ({
    metadata: { name: 'n1' },
    status: {
      addresses,
      ...(port ? { daemonEndpoints: { kubeletEndpoint: { Port: port } } } : {}),
    },
  })

  it('takes the first address of the first preferred type, and the kubelet port or 10250', () => {
    const n = node([
      { type: 'ExternalIP', address: '203.0.113.9' },
      { type: 'InternalIP', address: '10.0.0.9' },
    ])
    expect(kubeletNode(n, TYPES)).toEqual({ name: 'n1', host: '10.0.0.9', port: 10250 })
    expect(kubeletNode(n, ['ExternalIP', 'InternalIP'])).toMatchObject({ host: '203.0.113.9' })
    expect(kubeletNode(node([{ type: 'Hostname', address: 'n1' }], 10255), TYPES)).toEqual({
      name: 'n1',
      host: 'n1',
      port: 10255,
    })
  })

  it("answers kube's NoMatchError when no address fits", () => {
    expect(() =>
      kubeletNode(node([{ type: 'ExternalIP', address: '203.0.113.9' }]), ['InternalIP']),
    ).toThrow(
      new NoPreferredAddressError(
        'no preferred addresses found; known addresses: [{ExternalIP 203.0.113.9}]',
      ),
    )
  })
})

/** A transport that answers every log request itself and records what it was asked. */
class RecordingTransport implements KubeletTransport {
  asked: { node: KubeletNode; req: KubeletRequest }[] = []
  async request(node: KubeletNode, req: KubeletRequest): Promise<Response> {
    this.asked.push({ node, req })
    return new Response(`log of ${node.name}\n`, { headers: { 'Content-Type': 'text/plain' } })
  }
  async upgrade(): Promise<never> {
    throw new KubeletDialError('not used')
  }
}

const refusing: KubeletTransport = {
  request: async (node) => {
    throw new KubeletDialError(`dial tcp ${node.host}:${node.port}: connect: connection refused`)
  },
  upgrade: async () => {
    throw new KubeletDialError('refused')
  },
}

function client(transports: KubeletTransports): KubeletClient {
  return {
    transports,
    preferredAddressTypes: TYPES,
    endpoints: refusing,
    respondUpgraded: () => new Response(null, { status: 204 }),
  }
}

describe('KubeletTransports', () => {
  it('uses the transport a chooser gives for its node, and the direct one for the others', async () => {
    const tunnel = new RecordingTransport()
    const transports = new KubeletTransports(refusing).use((node) =>
      node.name === 'behind-nat' ? tunnel : undefined,
    )
    const { call, sa } = makeApp({ kubelet: client(transports) })
    await sa('default')
    for (const name of ['behind-nat', 'reachable'])
      await call('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name },
        status:
          name === 'reachable'
            ? { addresses: [{ type: 'InternalIP', address: '192.0.2.7' }] }
            : { addresses: [] },
      })
    for (const [pod, nodeName] of [
      ['a', 'behind-nat'],
      ['b', 'reachable'],
    ])
      await call('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod },
        spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
      })

    const viaTunnel = await call('GET', '/api/v1/namespaces/default/pods/a/log?tailLines=2')
    expect(viaTunnel).toMatchObject({ status: 200, text: 'log of behind-nat\n' })
    expect(tunnel.asked[0].req.path).toBe('/containerLogs/default/a/c?tailLines=2')
    expect(tunnel.asked[0].node).toEqual({ name: 'behind-nat', host: '', port: 0 })

    const direct = await call('GET', '/api/v1/namespaces/default/pods/b/log')
    expect(direct.status).toBe(500)
    expect(direct.json.message).toBe(
      'Get "https://192.0.2.7:10250/containerLogs/default/b/c": dial tcp 192.0.2.7:10250: connect: connection refused',
    )
  })

  it("without a transport for it, a Node with no preferred address gets kube's error", async () => {
    const { call, sa } = makeApp({ kubelet: client(new KubeletTransports(refusing)) })
    await sa('default')
    await call('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'bare' },
    })
    await call('POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { nodeName: 'bare', containers: [{ name: 'c', image: 'busybox' }] },
    })
    const r = await call('GET', '/api/v1/namespaces/default/pods/p/log')
    expect(r.status).toBe(500)
    expect(r.json.message).toBe('no preferred addresses found; known addresses: []')
  })
})

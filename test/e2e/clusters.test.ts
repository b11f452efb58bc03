// A cluster addressed by path, as kcp's kubeconfigs do: kubectl with `--server https://host/clusters/<name>`
// works unchanged, and the bare paths stay the default cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backgroundKubectl } from '../helpers/process'
import { LocalServer } from './harness'

let server: LocalServer
let atDefault: (...args: string[]) => ReturnType<LocalServer['kubectl']>

beforeAll(async () => {
  server = await LocalServer.start()
  atDefault = (...args) => server.kubectl(['--server', `${server.url}/clusters/default`, ...args])
})
afterAll(async () => {
  await server?.dispose()
})

describe('the default cluster under /clusters/default', () => {
  it('is the cluster of the bare paths: kubectl writes through one and reads through the other', async () => {
    expect((await atDefault('create', 'configmap', 'by-path', '--from-literal=k=v')).code).toBe(0)
    expect(await server.k('get', 'configmap', 'by-path', '-o', 'jsonpath={.data.k}')).toBe('v')
    const r = await atDefault('get', 'namespaces', '-o', 'name')
    expect(r.stdout).toContain('namespace/kube-system')
  })

  it('serves discovery, OpenAPI and explain under the prefix', async () => {
    const resources = await atDefault('api-resources', '--api-group=apps', '-o', 'name')
    expect(resources.stdout.split('\n')).toContain('deployments.apps')
    const explain = await atDefault('explain', 'deployment.spec.replicas')
    expect(explain.code).toBe(0)
    expect(explain.stdout).toContain('replicas')
  })

  it('watches under the prefix', async () => {
    const watch = backgroundKubectl(server.kubeconfig, [
      '--server',
      `${server.url}/clusters/default`,
      'get',
      'configmaps',
      '-w',
      '--watch-only',
      '--output-watch-events',
      '-v=6',
    ])
    try {
      await watch.waitForLog(
        /clusters\/default\/api\/v1\/namespaces\/default\/configmaps\?.*watch=true.* 200 OK/,
      )
      await server.k('create', 'configmap', 'watched')
      await watch.waitFor(/ADDED\s+watched\s/)
    } finally {
      watch.kill()
    }
  })

  it('answers 404 for a cluster there is none of, as for any unknown path', async () => {
    for (const name of ['nope', 'Not_A_Name']) {
      const r = await server.kubectl(['get', '--raw', `/clusters/${name}/api/v1/namespaces`])
      expect(r.code).not.toBe(0)
      expect(r.stderr).toBe(
        'Error from server (NotFound): the server could not find the requested resource\n',
      )
    }
  })
})

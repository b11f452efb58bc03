// The controller against a real API server with vitest: a server per file, a new cluster per test.
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node'
import { start } from 'edge-apiserver/testing'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { startWidgetController } from '../src/controller.js'

const CRDS = new URL('../crds/widget.yaml', import.meta.url).pathname
const widgets = { group: 'example.com', version: 'v1', namespace: 'default', plural: 'widgets' }
const widget = (name, spec) => ({
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name },
  spec,
})

let server, cluster, controller, core, custom
beforeAll(async () => {
  server = await start()
})
afterAll(() => server.dispose())
beforeEach(async () => {
  cluster = await server.newCluster()
  await cluster.loadCRDs(CRDS)
  controller = startWidgetController(cluster.kubeConfig())
  await controller.ready
  core = cluster.kubeConfig().makeApiClient(CoreV1Api)
  custom = cluster.kubeConfig().makeApiClient(CustomObjectsApi)
})
afterEach(async () => {
  await controller.stop()
  await cluster.dispose()
})

/** The data of the Widget's ConfigMap, or undefined while there is none. */
const configMapData = (name) =>
  core.readNamespacedConfigMap({ name: `widget-${name}`, namespace: 'default' }).then(
    (cm) => cm.data,
    (e) => {
      if (e.code === 404) return undefined
      throw e
    },
  )

it('writes a ConfigMap for each Widget', async () => {
  await custom.createNamespacedCustomObject({
    ...widgets,
    body: widget('w1', { color: 'blue', size: 3 }),
  })
  await expect.poll(() => configMapData('w1')).toEqual({ color: 'blue', size: '3' })
})

it('follows a Widget as it changes', async () => {
  await custom.createNamespacedCustomObject({ ...widgets, body: widget('w2', { color: 'red' }) })
  await expect.poll(() => configMapData('w2')).toEqual({ color: 'red', size: '1' })
  // client-node sends a JSON patch (application/json-patch+json) by default.
  await custom.patchNamespacedCustomObject({
    ...widgets,
    name: 'w2',
    body: [{ op: 'replace', path: '/spec/color', value: 'green' }],
  })
  await expect.poll(() => configMapData('w2')).toEqual({ color: 'green', size: '1' })
})

it('leaves its ConfigMap to go with the Widget (the garbage collector deletes what it owns)', async () => {
  await custom.createNamespacedCustomObject({ ...widgets, body: widget('w3', { color: 'black' }) })
  await expect.poll(() => configMapData('w3')).toBeDefined()
  await custom.deleteNamespacedCustomObject({ ...widgets, name: 'w3' })
  await expect.poll(() => configMapData('w3')).toBeUndefined()
})

it('starts each test in an empty cluster', async () => {
  const list = await custom.listNamespacedCustomObject(widgets)
  expect(list.items).toEqual([])
})

it('refuses a Widget its CRD’s schema refuses', async () => {
  const refused = await custom
    .createNamespacedCustomObject({ ...widgets, body: widget('bad', { size: 0 }) })
    .catch((e) => e)
  expect(refused.code).toBe(422)
})

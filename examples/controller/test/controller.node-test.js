// The same controller under Node's own test runner (node --test): a server per file, a cluster per test.
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node'
import { start } from 'edge-apiserver/testing'
import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startWidgetController } from '../src/controller.js'

const CRDS = new URL('../crds/widget.yaml', import.meta.url).pathname
const widgets = { group: 'example.com', version: 'v1', namespace: 'default', plural: 'widgets' }

let server, cluster, controller
before(async () => {
  server = await start()
})
after(() => server.dispose())
beforeEach(async () => {
  cluster = await server.newCluster()
  await cluster.loadCRDs(CRDS)
  controller = startWidgetController(cluster.kubeConfig())
  await controller.ready
})
afterEach(async () => {
  await controller.stop()
  await cluster.dispose()
})

/** Polls `read` until `ok` holds (node:test has no expect.poll). */
async function eventually(read, ok, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (ok(v)) return v
    if (Date.now() > deadline) assert.fail(`still ${JSON.stringify(v)} after ${timeoutMs} ms`)
    await sleep(20)
  }
}

test('writes a ConfigMap for each Widget', async () => {
  const custom = cluster.kubeConfig().makeApiClient(CustomObjectsApi)
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api)
  await custom.createNamespacedCustomObject({
    ...widgets,
    body: {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w1' },
      spec: { color: 'blue' },
    },
  })
  const data = await eventually(
    () =>
      core.readNamespacedConfigMap({ name: 'widget-w1', namespace: 'default' }).then(
        (c) => c.data,
        () => undefined,
      ),
    (d) => d !== undefined,
  )
  assert.deepEqual(data, { color: 'blue', size: '1' })
})

test('starts each test in an empty cluster', async () => {
  const custom = cluster.kubeConfig().makeApiClient(CustomObjectsApi)
  assert.deepEqual((await custom.listNamespacedCustomObject(widgets)).items, [])
})

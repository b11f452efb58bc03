// The controller under test: for every Widget (example.com/v1) it keeps a ConfigMap `widget-<name>` in
// the Widget's namespace with the Widget's spec, owned by the Widget, so that Kubernetes' garbage collector
// deletes it with the Widget. Level-triggered, from an informer, as controllers written with client-go are.
import { CoreV1Api, CustomObjectsApi, makeInformer } from '@kubernetes/client-node'

/** Starts the controller; returns stop(). `ready` resolves once the informer has listed. */
export function startWidgetController(kubeConfig, { namespace = 'default' } = {}) {
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const custom = kubeConfig.makeApiClient(CustomObjectsApi)
  const informer = makeInformer(
    kubeConfig,
    `/apis/example.com/v1/namespaces/${namespace}/widgets`,
    () =>
      custom.listNamespacedCustomObject({
        group: 'example.com',
        version: 'v1',
        namespace,
        plural: 'widgets',
      }),
  )
  const reconcile = (widget) =>
    writeConfigMap(core, widget).catch((e) =>
      console.error(`widget ${widget.metadata.name}: ${e.message}`),
    )
  informer.on('add', reconcile)
  informer.on('update', reconcile)
  // A watch that fails (the server went away a moment, a cluster was reset) is started again.
  let stopped = false
  informer.on('error', () =>
    setTimeout(() => {
      if (!stopped) informer.start().catch(() => {})
    }, 200),
  )
  const ready = informer.start()
  return {
    ready,
    stop: () => {
      stopped = true
      return informer.stop()
    },
  }
}

async function writeConfigMap(core, widget) {
  const { name, namespace, uid } = widget.metadata
  const body = {
    metadata: {
      name: `widget-${name}`,
      namespace,
      labels: { 'example.com/widget': name },
      ownerReferences: [
        {
          apiVersion: 'example.com/v1',
          kind: 'Widget',
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    data: { color: widget.spec.color, size: String(widget.spec.size ?? 1) },
  }
  try {
    await core.replaceNamespacedConfigMap({ name: body.metadata.name, namespace, body })
  } catch (e) {
    if (e.code !== 404) throw e
    await core.createNamespacedConfigMap({ namespace, body })
  }
}

// v1 ComponentStatus (pkg/registry/core/componentstatus): computed on every read, never stored. As kube
// 1.32 lists them: etcd-0 (the storage's own health, its etcd client's probe in kube; here the Store's
// current revision, a real etcd round trip in Node mode and the cluster's Durable Object at the edge),
// and the scheduler and controller-manager probed at https://127.0.0.1:10259/healthz and :10257/healthz,
// the default secure ports kube still assumes, whatever runs there.
import { notFound } from '../../server/errors'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'
import type { HTTPProbe, KubeObject, VirtualReadRequest } from '../types'
import { errorText } from '../../util/errors'

/** componentstatus' probeTimeOut. */
const PROBE_TIMEOUT_MS = 20_000

type Check = (
  req: VirtualReadRequest,
) => Promise<{ healthy: boolean; message: string; error: string }>

/** HttpServer.DoServerCheck over kube's HTTP prober: the body when 2xx/3xx, the failure otherwise. */
function httpCheck(url: string): Check {
  return async ({ probe }) => {
    if (!probe) return { healthy: false, message: '', error: 'no HTTP prober in this runtime' }
    let res
    try {
      res = await (probe as HTTPProbe)(url, PROBE_TIMEOUT_MS)
    } catch (e) {
      // The prober reports a transport error as its output, not as an error.
      return { healthy: false, message: errorText(e), error: '' }
    }
    if (res.status >= 400)
      return {
        healthy: false,
        message: `HTTP probe failed with statuscode: ${res.status}`,
        error: '',
      }
    return { healthy: true, message: res.body, error: '' }
  }
}

/** EtcdServer.DoServerCheck: "ok", or the prober's error. */
const etcdCheck: Check = async ({ store }) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([
      store.currentRevision(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('context deadline exceeded')), PROBE_TIMEOUT_MS)
      }),
    ])
    return { healthy: true, message: 'ok', error: '' }
  } catch (e) {
    return { healthy: false, message: '', error: errorText(e) }
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

const SERVERS: Record<string, Check> = {
  'controller-manager': httpCheck('https://127.0.0.1:10257/healthz'),
  'etcd-0': etcdCheck,
  scheduler: httpCheck('https://127.0.0.1:10259/healthz'),
}

async function componentStatus(name: string, req: VirtualReadRequest): Promise<KubeObject> {
  const r = await SERVERS[name]!(req)
  const condition: Obj = { type: 'Healthy', status: r.healthy ? 'True' : 'False' }
  if (r.message) condition.message = r.message
  if (r.error) condition.error = r.error
  return {
    kind: 'ComponentStatus',
    apiVersion: 'v1',
    metadata: { name },
    conditions: [condition],
  }
}

export const componentstatuses = defineKind({
  group: '',
  version: 'v1',
  resource: 'componentstatuses',
  kind: 'ComponentStatus',
  namespaced: false,
  shortNames: ['cs'],
  verbs: ['get', 'list'],
  schema: 'CoreV1ComponentStatus',
  deprecationWarning: 'v1 ComponentStatus is deprecated in v1.19+',
  virtualRead: {
    async get(name, req) {
      if (!Object.hasOwn(SERVERS, name))
        throw notFound({ group: '', resource: 'componentstatus' }, name)
      return componentStatus(name, req)
    },
    list: (req) =>
      Promise.all(
        Object.keys(SERVERS)
          .sort()
          .map((n) => componentStatus(n, req)),
      ),
  },
  strategy: {
    printer: printer(
      [
        col('Status', 'string', 'Status of the component conditions'),
        col('Message', 'string', 'Message of the component conditions'),
        col('Error', 'string', 'Error of the component conditions'),
      ],
      (o) => {
        const c = ((o.conditions ?? []) as Obj[]).find((x) => x.type === 'Healthy')
        if (!c) return ['Unknown', '', '']
        return [c.status === 'True' ? 'Healthy' : 'Unhealthy', c.message ?? '', c.error ?? '']
      },
      { age: 'none' },
    ),
  },
})

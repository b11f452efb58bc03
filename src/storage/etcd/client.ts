// The etcd v3 client as kube-apiserver configures its own (storagebackend/factory/etcd3.go): every
// endpoint, optional TLS, unlimited receive size for large lists, a deadline on unary calls.
import { readFileSync } from 'node:fs'
import { Etcd3, type IOptions } from 'etcd3'

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>

const NO_CANCEL = Object.freeze({ signal: new AbortController().signal, attempt: 0 })

/**
 * A call straight through: no retries and no circuit breaker in the client. etcd3's defaults answer every
 * call "circuit breaker is open" for seconds after three failures, also once etcd is back; EtcdStore
 * waits for etcd itself, as clientv3 (WaitForReady) does for kube-apiserver.
 */
const PASS_THROUGH = {
  // async: a callback that throws at once (etcd3's markFailed passes one) rejects, as cockatiel's policies do.
  // One context for every call: nothing aborts it, and an AbortController per call cost ~19 µs of a GET.
  execute: async (fn: (ctx: { signal: AbortSignal; attempt: number }) => unknown) => fn(NO_CANCEL),
} as unknown as Policy

export interface EtcdClientOptions {
  /** --etcd-servers: URLs or host:port pairs. */
  endpoints: string[]
  /** --etcd-cafile, --etcd-certfile, --etcd-keyfile */
  caFile?: string
  certFile?: string
  keyFile?: string
  /** Deadline of each unary call; watches have none. */
  requestTimeoutMs?: number
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** Reconnect quickly once etcd is back: the watch stream's backoff tops out at this. */
const MAX_WATCH_BACKOFF_MS = 2_000

interface Backoff {
  duration: number
  next(): Backoff
}
function watchBackoff(ms: number): Backoff {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, MAX_WATCH_BACKOFF_MS)) }
}

export function etcdClient(opts: EtcdClientOptions): Etcd3 {
  if (opts.endpoints.length === 0)
    throw new Error('--etcd-servers must name at least one etcd endpoint')
  const tls =
    opts.caFile !== undefined ||
    opts.certFile !== undefined ||
    opts.endpoints.some((e) => e.startsWith('https://'))
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined))
    throw new Error('--etcd-certfile and --etcd-keyfile go together')
  const timeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const options: IOptions = {
    hosts: opts.endpoints,
    grpcOptions: { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // etcd3 types this as a backoff but uses it as a factory of backoffs (WatchManager calls next() first).
    faultHandling: {
      host: () => PASS_THROUGH,
      global: PASS_THROUGH,
      watchBackoff: { next: () => watchBackoff(100) } as unknown as NonNullable<
        IOptions['faultHandling']
      >['watchBackoff'],
    },
  }
  if (tls) {
    options.credentials = {
      rootCertificate: opts.caFile ? readFileSync(opts.caFile) : (undefined as unknown as Buffer),
      ...(opts.certFile
        ? { certChain: readFileSync(opts.certFile), privateKey: readFileSync(opts.keyFile!) }
        : {}),
    }
  }
  return new Etcd3(options)
}

// Audit backends (k8s.io/apiserver/pkg/audit's Backend and plugin/pkg/audit/*): each receives an event
// once per stage, already written as JSON, so that what one stage wrote stays as it was while the request
// goes on. Edge-safe: the log file backend is Node mode's (src/node/audit-log.ts).
import { eventListJSON } from './event'
import { errorText } from '../util/errors'

export interface AuditBackend {
  /** Sink.ProcessEvents; false when the event could not be taken (a full buffer). */
  processEvents(events: string[]): boolean
  /** Sends what is buffered now; resolves once it is sent (or given up). */
  flush?(): Promise<void>
  /** Resolves once everything taken so far is sent, when its batch leaves (the Worker waits for it). */
  delivered?(): Promise<void>
  /** Stops taking events and delivers everything taken (Node mode's SIGTERM). */
  shutdown?(): Promise<void>
  /** Its plugin name in apiserver_audit_error_total: log, webhook. */
  readonly name: string
}

/** union.New: every backend gets every event. */
export class UnionBackend implements AuditBackend {
  readonly name = 'union'
  constructor(readonly backends: AuditBackend[]) {}
  processEvents(events: string[]): boolean {
    let ok = true
    for (const b of this.backends) ok = b.processEvents(events) && ok
    return ok
  }
  async flush(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.flush?.()))
  }
  async delivered(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.delivered?.()))
  }
  async shutdown(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.shutdown?.()))
  }
}

/** Lines written somewhere synchronously: the log backend's JSON format, one event per line. */
export class LineBackend implements AuditBackend {
  readonly name = 'log'
  constructor(private readonly write: (line: string) => void) {}
  processEvents(events: string[]): boolean {
    for (const e of events) this.write(e)
    return true
  }
}

export interface BatchConfig {
  /** --audit-webhook-batch-buffer-size: events held before new ones are dropped. */
  bufferSize: number
  /** --audit-webhook-batch-max-size: events in one EventList. */
  maxBatchSize: number
  /** --audit-webhook-batch-max-wait: how long a batch below the max size waits. */
  maxBatchWaitMs: number
  /** --audit-webhook-batch-throttle-*: batches sent per second (qps 0: no throttle). */
  throttleQPS: number
  throttleBurst: number
  /** --audit-webhook-initial-backoff: the first retry's wait (then x1.5, five tries in all). */
  initialBackoffMs: number
}

/** kube's defaults for the webhook's batch mode (options.NewAuditOptions). */
export const DEFAULT_WEBHOOK_BATCH: BatchConfig = {
  bufferSize: 10000,
  maxBatchSize: 400,
  maxBatchWaitMs: 30_000,
  throttleQPS: 10,
  throttleBurst: 15,
  initialBackoffMs: 10_000,
}

export interface WebhookTarget {
  url: string
  bearerToken?: string
  fetch: typeof fetch
}

/** How many times kube's webhook backend tries a batch (wait.Backoff's Steps) and how the wait grows. */
const WEBHOOK_TRIES = 5
const BACKOFF_FACTOR = 1.5

/**
 * The webhook backend in batch mode (plugin/pkg/audit/buffered over plugin/pkg/audit/webhook): events queue
 * in a bounded buffer; a batch leaves when it reaches maxBatchSize or its first event has waited
 * maxBatchWaitMs, as one EventList POSTed with the kubeconfig's credentials, retried with backoff, and
 * dropped (logged) after the last try, as kube's does.
 */
export class BufferedWebhookBackend implements AuditBackend {
  readonly name = 'webhook'
  private buffer: string[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private sending: Promise<void> = Promise.resolve()
  private tokens: number
  private lastRefill = Date.now()
  private stopped = false
  private waiters: (() => void)[] = []

  constructor(
    private readonly target: WebhookTarget,
    private readonly cfg: BatchConfig = DEFAULT_WEBHOOK_BATCH,
    private readonly log: (msg: string) => void = (m) => console.error(m),
    /** Errors to count (apiserver_audit_error_total{plugin="webhook"}). */
    private readonly onError: (events: number) => void = () => {},
  ) {
    this.tokens = cfg.throttleBurst
  }

  processEvents(events: string[]): boolean {
    if (this.stopped) return false
    for (const e of events) {
      if (this.buffer.length >= this.cfg.bufferSize) {
        // bufferedBackend.ProcessEvents: a full buffer drops the event (an error counted) rather than
        // block or fail the request.
        this.log(
          "Error in audit plugin 'buffered' affecting 1 audit events: audit buffer queue blocked",
        )
        this.onError(1)
        continue
      }
      this.buffer.push(e)
    }
    if (this.buffer.length >= this.cfg.maxBatchSize) this.sendBatches(true)
    if (this.buffer.length && this.timer === undefined)
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.sendBatches(false)
      }, this.cfg.maxBatchWaitMs)
    return true
  }

  /** Everything buffered is sent now; resolves when every batch so far has been delivered or given up. */
  flush(): Promise<void> {
    this.sendBatches(false)
    return this.sending
  }

  delivered(): Promise<void> {
    if (!this.buffer.length) return this.sending
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  async shutdown(): Promise<void> {
    await this.flush()
    this.stopped = true
  }

  /** Sends the full batches held, or (fullOnly false) everything held. */
  private sendBatches(fullOnly: boolean): void {
    if (!fullOnly && this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    while (this.buffer.length >= (fullOnly ? this.cfg.maxBatchSize : 1)) {
      const batch = this.buffer.splice(0, this.cfg.maxBatchSize)
      // Batches go one after another, as kube's single sending goroutine sends them.
      this.sending = this.sending.then(() => this.send(batch))
    }
    // Waiters' events are all on their way only once nothing is held.
    if (this.buffer.length) return
    const waiters = this.waiters
    this.waiters = []
    if (waiters.length) void this.sending.then(() => waiters.forEach((w) => w()))
  }

  private async throttle(): Promise<void> {
    if (this.cfg.throttleQPS <= 0) return
    for (;;) {
      const now = Date.now()
      this.tokens = Math.min(
        this.cfg.throttleBurst,
        this.tokens + ((now - this.lastRefill) / 1000) * this.cfg.throttleQPS,
      )
      this.lastRefill = now
      if (this.tokens >= 1) {
        this.tokens -= 1
        return
      }
      await new Promise((r) => setTimeout(r, ((1 - this.tokens) / this.cfg.throttleQPS) * 1000))
    }
  }

  private async send(batch: string[]): Promise<void> {
    await this.throttle()
    const body = eventListJSON(batch)
    let wait = this.cfg.initialBackoffMs
    let last = ''
    for (let attempt = 1; attempt <= WEBHOOK_TRIES; attempt++) {
      try {
        const res = await this.target.fetch(this.target.url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json, */*',
            ...(this.target.bearerToken
              ? { Authorization: `Bearer ${this.target.bearerToken}` }
              : {}),
          },
          body,
        })
        await res.text().catch(() => '')
        if (res.status >= 200 && res.status < 300) return
        last = `the server responded with the status code ${res.status}`
        // kube's rest client retries only what may pass on a retry: 5xx and 429.
        if (res.status < 500 && res.status !== 429) break
      } catch (e) {
        last = errorText(e)
      }
      if (attempt < WEBHOOK_TRIES && !this.stopped) {
        await new Promise((r) => setTimeout(r, wait))
        wait *= BACKOFF_FACTOR
      } else break
    }
    this.log(`Error in audit plugin 'webhook' affecting ${batch.length} audit events: ${last}`)
    this.onError(batch.length)
  }
}

/**
 * A webhook kubeconfig's target for the edge (AUDIT_WEBHOOK_CONFIG): the current context's server and
 * bearer token; the Worker's fetch verifies with the platform's roots, so a CA in it is not used.
 */
export function parseWebhookKubeconfig(cfg: Record<string, unknown>): {
  url: string
  bearerToken?: string
} {
  type Named<T> = { name: string } & T
  const clusters = (cfg.clusters ?? []) as Named<{ cluster: Record<string, unknown> }>[]
  const users = (cfg.users ?? []) as Named<{ user: Record<string, unknown> }>[]
  const contexts = (cfg.contexts ?? []) as Named<{ context: { cluster?: string; user?: string } }>[]
  const current = cfg['current-context'] as string | undefined
  const context = current ? contexts.find((c) => c.name === current)?.context : undefined
  if (current && !context)
    throw new Error(
      `invalid configuration: context was not found for specified context: ${current}`,
    )
  const cluster = context
    ? clusters.find((c) => c.name === context.cluster)?.cluster
    : clusters.length === 1
      ? clusters[0]!.cluster
      : undefined
  const user = context
    ? users.find((u) => u.name === context.user)?.user
    : users.length === 1
      ? users[0]!.user
      : undefined
  const server = cluster?.server
  if (typeof server !== 'string' || !server)
    throw new Error('invalid configuration: no server found for cluster')
  return {
    url: server,
    bearerToken: typeof user?.token === 'string' ? user.token : undefined,
  }
}

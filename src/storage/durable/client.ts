// The Worker side of the ClusterStore: Store calls as Durable Object RPC, watches over a hibernatable
// WebSocket (protocol.ts has the wire format). Runs on workerd and, in tests, on Node against a
// Miniflare stub, so it uses nothing but the stub and the WebSocket it hands back.
import {
  StoreError,
  type BatchRead,
  type BatchReadResult,
  type KeyValue,
  type ListOptions,
  type Store,
  type StoreEvent,
  type WatchOptions,
} from '../store'
import type { ClusterStore } from './cluster-store'
import { LruMap } from '../../util/lru'
import {
  ACK_STEP,
  isAdmissionRead,
  type AdmissionMark,
  CLOSE_RESTARTED,
  CLOSE_SLOW,
  decodeEvent,
  watchUrl,
  type CompactResult,
  type Failure,
  type GetResult,
  type LastChangeResult,
  type ListResult,
  type ServerMessage,
  type WriteResult,
} from './protocol'

/** The socket a watch response carries: workerd's WebSocket, or Miniflare's in Node. */
export interface WatchSocket {
  accept(): void
  send(message: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void
  addEventListener(type: 'error', listener: (event: unknown) => void): void
}

/** What DurableStore needs of a ClusterStore stub; a DurableObjectStub<ClusterStore> is one. */
export interface ClusterStoreStub {
  get(key: string): Promise<GetResult>
  list(prefix: string, opts?: ListOptions): Promise<ListResult>
  readBatch(
    reads: BatchRead[],
  ): Promise<{ results: BatchReadResult[]; revision: number; am?: AdmissionMark }>
  create(key: string, value: string): Promise<WriteResult>
  update(key: string, value: string, expectModRevision: number): Promise<WriteResult>
  delete(key: string, expectModRevision?: number): Promise<WriteResult>
  compact(revision: number): Promise<CompactResult>
  currentRevision(): Promise<number>
  lastChange(prefix: string, after: number): Promise<LastChangeResult>
  fetch(
    url: string,
    init: { headers: Record<string, string> },
  ): Promise<{ status: number; webSocket?: WatchSocket | null; text(): Promise<string> }>
}

export class DurableStore implements Store {
  /**
   * cluster: the object's name, under which this isolate keeps the admission reads it made (see
   * AdmissionReads); none: every read goes to the object.
   */
  constructor(
    private readonly stub: ClusterStoreStub,
    private readonly cluster?: string,
  ) {}

  async get(key: string): Promise<{ kv?: KeyValue; revision: number }> {
    const r = await this.stub.get(key)
    this.heard(r.am)
    return r.kv ? { kv: copyKv(r.kv), revision: r.revision } : { revision: r.revision }
  }

  async list(
    prefix: string,
    opts?: ListOptions,
  ): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number }> {
    const r = ok(prefix, await this.stub.list(prefix, opts))
    this.heard(r.am)
    return { kvs: r.kvs.map(copyKv), revision: r.revision, more: r.more, count: r.count }
  }

  async readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }> {
    const cache =
      this.cluster !== undefined &&
      reads.every((r) => isAdmissionRead('key' in r ? r.key : r.prefix)) &&
      admissionReads.of(this.cluster)
    const key = cache ? JSON.stringify(reads) : ''
    const known = cache ? cache.get(key) : undefined
    if (known) return copyBatch(known)
    const r = await this.stub.readBatch(reads)
    this.heard(r.am)
    const out = { results: r.results.map(copyResult), revision: r.revision }
    if (cache && r.am) cache.set(key, r.am, copyBatch(out))
    return out
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const r = ok(key, await this.stub.create(key, value))
    this.heard(r.am)
    return copyKv(r.kv)
  }

  async update(key: string, value: string, expectModRevision: number): Promise<KeyValue> {
    const r = ok(key, await this.stub.update(key, value, expectModRevision))
    this.heard(r.am)
    return copyKv(r.kv)
  }

  async delete(key: string, expectModRevision?: number): Promise<KeyValue> {
    const r = ok(key, await this.stub.delete(key, expectModRevision))
    this.heard(r.am)
    return copyKv(r.kv)
  }

  private heard(mark: AdmissionMark | undefined): void {
    if (mark && this.cluster !== undefined) admissionReads.of(this.cluster).heard(mark)
  }

  async compact(revision: number): Promise<void> {
    ok('', await this.stub.compact(revision))
  }

  currentRevision(): Promise<number> {
    return this.stub.currentRevision()
  }

  async lastChange(prefix: string, after: number): Promise<{ revision: number; last?: number }> {
    const r = ok(prefix, await this.stub.lastChange(prefix, after))
    return r.last === undefined ? { revision: r.revision } : { revision: r.revision, last: r.last }
  }

  /**
   * Events after afterRevision under prefix until signal aborts or the consumer stops. Throws
   * StoreError('Compacted') when the history is gone. Ends without an error when the store drops a
   * watcher that fell behind (the consumer starts a new watch, as client-go does when kube-apiserver
   * ends one); other unexpected closes throw.
   */
  async *watch(
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    opts: WatchOptions = {},
  ): AsyncGenerator<StoreEvent> {
    if (signal.aborted) return
    const res = await this.stub.fetch(watchUrl(prefix, afterRevision), {
      headers: { Upgrade: 'websocket' },
    })
    const ws = res.webSocket
    if (res.status !== 101 || !ws)
      throw new Error(`watch ${prefix}: HTTP ${res.status}: ${await res.text()}`)
    ws.accept()
    const inbox = new Inbox()
    // Bookmarks are answered here, at the revision this watch has been sent everything up to, without
    // asking the store: a question would wake an idle cluster's object from hibernation once a minute per
    // watcher. The revision moves with each event and with the progress the store sends on its own (on
    // each compaction tick, so a watcher's bookmark is never one that compaction has passed).
    let seen = afterRevision
    const progress = opts.progressIntervalMs
      ? new Ticker(opts.progressIntervalMs, () => inbox.push(LOCAL_PROGRESS))
      : undefined
    ws.addEventListener('message', (e) => {
      progress?.reset() // progress is only asked for when nothing else arrives
      inbox.push(
        typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data as ArrayBuffer),
      )
    })
    ws.addEventListener('close', (e) => inbox.end(e))
    ws.addEventListener('error', () => inbox.end({ code: 1006, reason: 'WebSocket error' }))
    const onAbort = () => inbox.abort()
    signal.addEventListener('abort', onAbort)
    progress?.reset()
    let unacked = 0
    try {
      for (;;) {
        const next = await inbox.next()
        if (next === undefined) return // aborted
        if (next === LOCAL_PROGRESS) {
          if (seen > 0) yield { type: 'progress', revision: seen }
          continue
        }
        if (typeof next !== 'string') return closedByStore(prefix, next.code, next.reason)
        const msg = JSON.parse(next) as ServerMessage
        if (msg.t === 'x') throw new StoreError(msg.c, prefix, undefined, msg.r)
        if (msg.t === 'c') return closedByStore(prefix, msg.c, msg.m)
        if (msg.t === 'p') {
          seen = Math.max(seen, msg.r)
          yield { type: 'progress', revision: msg.r }
        } else {
          for (const e of msg.e) {
            if (signal.aborted) return
            const event = decodeEvent(e)
            if (event.type !== 'progress') seen = Math.max(seen, event.kv.modRevision)
            yield event
          }
        }
        // Acknowledge only what the consumer took, so a slow consumer slows the DO's sending rather than
        // piling events up here.
        unacked += next.length
        if (unacked >= ACK_STEP) {
          send(ws, `{"t":"a","n":${unacked}}`)
          unacked = 0
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      progress?.stop()
      try {
        ws.close(1000, 'watch ended')
      } catch {
        // already closed
      }
    }
  }
}

/** The Store for a cluster: its ClusterStore object is named after it. */
export function clusterStore(
  env: { CLUSTER: DurableObjectNamespace<ClusterStore> },
  cluster = 'default',
): Store {
  return new DurableStore(env.CLUSTER.getByName(cluster), cluster)
}

/**
 * How long after the object last answered an isolate still answers admission reads from what it read:
 * a change made meanwhile by another isolate or by the object's own control loops is seen at the latest
 * this late (kube-apiserver's admission plugins read informer caches, which lag behind etcd too; the
 * RBAC snapshot here is trusted as long, src/auth/rbac/authorizer.ts). Every answer of the object, to
 * any request of this isolate, says whether they are still current.
 */
export const ADMISSION_READS_MAX_STALENESS_MS = 1000

/**
 * One cluster's admission reads in this isolate: the batches read, each with the mark the object gave
 * with it, and the newest mark heard from the object (with when). A batch is answered again while its
 * mark is the newest heard, heard within ADMISSION_READS_MAX_STALENESS_MS.
 */
class AdmissionReads {
  private mark: AdmissionMark = { epoch: '', rev: -1 }
  private heardAt = -Infinity
  private readonly batches = new LruMap<
    string,
    { mark: AdmissionMark; batch: { results: BatchReadResult[]; revision: number } }
  >(64)

  heard(mark: AdmissionMark): void {
    // Answers of one epoch may arrive out of order: the mark only moves forward within one. Another
    // epoch (a restore, a new instance) replaces it, and no batch of the old one matches again.
    if (mark.epoch === this.mark.epoch && mark.rev < this.mark.rev) return
    this.mark = mark
    this.heardAt = Date.now()
  }

  get(key: string): { results: BatchReadResult[]; revision: number } | undefined {
    const known = this.batches.get(key)
    if (!known) return undefined
    const current =
      known.mark.epoch === this.mark.epoch &&
      known.mark.rev === this.mark.rev &&
      Date.now() - this.heardAt <= ADMISSION_READS_MAX_STALENESS_MS
    return current ? known.batch : undefined
  }

  set(key: string, mark: AdmissionMark, batch: { results: BatchReadResult[]; revision: number }) {
    this.batches.set(key, { mark, batch })
  }
}

/** Per cluster; as many as the app keeps clusters' contexts (src/server/app.ts). */
const admissionReads = new (class {
  private readonly clusters = new LruMap<string, AdmissionReads>(256)

  of(cluster: string): AdmissionReads {
    let reads = this.clusters.get(cluster)
    if (!reads) this.clusters.set(cluster, (reads = new AdmissionReads()))
    return reads
  }
})()

/**
 * A watch the store ended: fine for a watcher dropped as too slow or cut off by a restart (the consumer
 * watches again from the last revision it took), an error otherwise.
 */
function closedByStore(prefix: string, code: number, reason: string): void {
  if (code !== CLOSE_SLOW && code !== CLOSE_RESTARTED)
    throw new Error(`watch ${prefix}: closed by the store (${code} ${reason})`)
}

function ok<T extends { ok: true }>(key: string, r: T | Failure): T {
  if (r.ok) return r
  throw new StoreError(r.code, key, r.current && copyKv(r.current), r.revision)
}

function copyResult(x: BatchReadResult): BatchReadResult {
  return { kvs: x.kvs.map(copyKv), more: x.more }
}

function copyBatch(b: { results: BatchReadResult[]; revision: number }) {
  return { results: b.results.map(copyResult), revision: b.revision }
}

// RPC results carry a disposer; hand callers plain pairs.
function copyKv(kv: KeyValue): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  }
}

function send(ws: WatchSocket, msg: string): void {
  try {
    ws.send(msg)
  } catch {
    // the close event ends the watch
  }
}

type Closed = { code: number; reason: string }
/** A bookmark is due (the watch's Ticker): answered from what the watch has seen, not by the store. */
const LOCAL_PROGRESS = 'local progress'

/** Messages in arrival order, then the close; abort() ends it at once. */
class Inbox {
  private items: (string | Closed)[] = []
  private waiter?: () => void
  private closed = false
  private aborted = false

  push(msg: string): void {
    if (this.closed) return
    this.items.push(msg)
    this.wake()
  }

  end(close: Closed): void {
    if (this.closed) return
    this.closed = true
    this.items.push({ code: close.code, reason: close.reason })
    this.wake()
  }

  abort(): void {
    this.aborted = true
    this.wake()
  }

  /** The next message or close, or undefined once aborted. */
  async next(): Promise<string | Closed | undefined> {
    while (!this.aborted && this.items.length === 0)
      await new Promise<void>((resolve) => (this.waiter = resolve))
    return this.aborted ? undefined : this.items.shift()
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }
}

/** Calls fn after `ms` of quiet; reset() restarts the wait. */
class Ticker {
  private timer?: ReturnType<typeof setTimeout>

  constructor(
    private readonly ms: number,
    private readonly fn: () => void,
  ) {}

  reset(): void {
    this.stop()
    this.timer = setTimeout(() => {
      this.fn()
      this.reset()
    }, this.ms)
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

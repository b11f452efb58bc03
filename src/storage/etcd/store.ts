// The Store over etcd v3, in kube-apiserver's layout (storage/etcd3/store.go): the key is the prefix
// plus the Store key, the value the object's JSON, writes are transactions comparing revisions, and
// resourceVersion is the key's mod revision.
import type { Etcd3, ICompare, IKeyValue, IRangeRequest, IResponseHeader, Watcher } from 'etcd3'
import {
  exceedsValueLimit,
  heldPairs,
  isByteString,
  StoreError,
  type BatchRead,
  type BatchReadResult,
  type KeyValue,
  type ListOptions,
  type Store,
  type StoreEvent,
  type WatchOptions,
  type WriteOptions,
} from '../store'
import {
  isCompactedError,
  isFutureRevisionError,
  isTooLargeError,
  isUnreachableError,
  wasNotSent,
} from './errors'
import { MirroredResource, revisionFeed, type MirrorClient, type RevisionFeed } from './mirror'
import {
  DEFAULT_HUB_LIMITS,
  WatchHub,
  type HubLimits,
  type WatchSink,
  type WatchSource,
} from './watch-hub'
import { errorText } from '../../util/errors'

/** Store keys begin with this; the configured --etcd-prefix takes its place in etcd. */
const STORE_ROOT = '/registry'
/** kube-apiserver's --request-timeout default: how long a read waits for etcd. */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** The write handlers' requestTimeoutUpperBound: a write waits at most this long. */
const WRITE_TIMEOUT_UPPER_BOUND_MS = 34_000

export interface EtcdStoreOptions {
  /** kube-apiserver's --etcd-prefix (default /registry). */
  prefix?: string
  hubLimits?: HubLimits
  /**
   * kube-apiserver's --request-timeout: how long a call waits for an unreachable etcd before it throws
   * StoreError 'Unreachable' (writes: at most 34 s).
   */
  requestTimeoutMs?: number
  /**
   * Answer consistent LISTs and batch reads from memory (mirror.ts), as kube-apiserver's watch cache
   * does (--watch-cache); false: every read goes to etcd.
   */
  mirror?: boolean
}

export class EtcdStore implements Store {
  readonly prefix: string
  private readonly hub: WatchHub
  /** The highest compaction revision seen; reads below it fail. */
  private compacted = 0
  private readonly readTimeoutMs: number
  private readonly writeTimeoutMs: number
  /** The resources kept in memory, by Store key prefix (/registry/<resource>/). */
  private readonly mirrored = new Map<string, MirroredResource>()
  private readonly loading = new Map<string, Promise<MirroredResource | undefined>>()
  private readonly feed?: RevisionFeed
  private readonly mirrorClient: MirrorClient
  /** The highest revision etcd has answered this store with: what its next batch read must see. */
  private seen = 0
  /** Reads answered from memory (consistent LISTs and batch reads), for tests and metrics. */
  readsFromMemory = 0

  constructor(
    readonly client: Etcd3,
    opts: EtcdStoreOptions = {},
  ) {
    this.prefix = (opts.prefix ?? STORE_ROOT).replace(/\/+$/, '')
    this.readTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.writeTimeoutMs = Math.min(this.readTimeoutMs, WRITE_TIMEOUT_UPPER_BOUND_MS)
    const source: WatchSource = {
      open: (prefix, after, sink) => this.openWatch(prefix, after, sink),
    }
    this.hub = new WatchHub(source, opts.hubLimits ?? DEFAULT_HUB_LIMITS)
    this.mirrorClient = {
      etcdPrefix: this.prefix + '/',
      event: (rest, kv) => this.mirrorEvent(rest, kv),
      reset: () => {
        this.mirrored.clear()
        this.loading.clear()
      },
    }
    if (opts.mirror) {
      this.feed = revisionFeed(client, () => this.currentRevision())
      this.feed.add(this.mirrorClient)
    }
  }

  /** How many etcd watches the store holds for its clients' watches, besides catch-up reads. */
  get watchFeeds(): number {
    return this.hub.feedCount
  }

  async get(key: string): Promise<{ kv?: KeyValue; revision: number }> {
    const res = await this.call(key, 'read', (options) =>
      this.client.kv.range({ key: this.etcdKey(key) }, options),
    )
    return {
      kv: res.kvs[0] ? this.keyValue(res.kvs[0]) : undefined,
      revision: this.saw(revisionOf(res.header)),
    }
  }

  async list(
    prefix: string,
    opts: ListOptions = {},
  ): Promise<{ kvs: KeyValue[]; revision: number; more: boolean; count: number }> {
    // kube's cacher answers a LIST without a resourceVersion to read at, a continue token or a limit
    // from memory (shouldDelegateList); everything else reads etcd.
    if (!opts.revision && opts.after === undefined && !opts.limit) {
      const cached = await this.listFromMirror(prefix)
      if (cached) return cached
    }
    const from = opts.after !== undefined && opts.after >= prefix ? opts.after + '\0' : prefix
    const req: IRangeRequest = {
      key: this.etcdKey(from),
      range_end: rangeEnd(this.etcdKey(prefix)),
    }
    if (opts.revision) req.revision = opts.revision
    if (opts.limit && opts.limit > 0) req.limit = opts.limit
    let res
    try {
      res = await this.call(prefix, 'read', (options) => this.client.kv.range(req, options))
    } catch (e) {
      throw await this.readError(e, prefix, opts.revision ?? 0)
    }
    this.saw(revisionOf(res.header))
    return {
      kvs: res.kvs.map((kv) => this.keyValue(kv)),
      revision: opts.revision || revisionOf(res.header),
      more: res.more,
      count: Number(res.count),
    }
  }

  async readBatch(reads: BatchRead[]): Promise<{ results: BatchReadResult[]; revision: number }> {
    return (await this.readBatchFromMirror(reads)) ?? this.readBatchFromEtcd(reads)
  }

  private async readBatchFromEtcd(
    reads: BatchRead[],
  ): Promise<{ results: BatchReadResult[]; revision: number }> {
    const ranges = reads.map((r): IRangeRequest => {
      if ('key' in r) return { key: this.etcdKey(r.key) }
      const req: IRangeRequest = {
        key: this.etcdKey(r.prefix),
        range_end: rangeEnd(this.etcdKey(r.prefix)),
      }
      if (r.limit && r.limit > 0) req.limit = r.limit
      return req
    })
    const res = await this.txn(
      '',
      { success: ranges.map((request_range) => ({ request_range })) },
      undefined,
      'read',
    )
    const results = res.responses.map(({ response_range }) => ({
      kvs: response_range!.kvs.map((kv) => this.keyValue(kv)),
      more: response_range!.more,
    }))
    return { results, revision: revisionOf(res.header) }
  }

  async create(key: string, value: string, opts?: WriteOptions): Promise<KeyValue> {
    this.checkSize(key, value)
    const k = this.etcdKey(key)
    const res = await this.txn(
      key,
      {
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: storedValue(value) } }],
        failure: [{ request_range: { key: k } }],
      },
      opts,
    )
    if (!res.succeeded) throw new StoreError('KeyExists', key, this.currentOf(res))
    const rev = revisionOf(res.header)
    return { key, value, createRevision: rev, modRevision: rev, version: 1 }
  }

  async update(
    key: string,
    value: string,
    expectModRevision: number,
    opts?: WriteOptions,
  ): Promise<KeyValue> {
    this.checkSize(key, value)
    const k = this.etcdKey(key)
    const res = await this.txn(
      key,
      {
        compare: [
          { key: k, target: 'Version', result: 'Greater', version: 0 },
          { key: k, target: 'Mod', result: 'Equal', mod_revision: expectModRevision },
        ],
        success: [{ request_put: { key: k, value: storedValue(value), prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      },
      opts,
    )
    if (!res.succeeded) {
      const current = this.currentOf(res)
      throw current ? new StoreError('Conflict', key, current) : new StoreError('NotFound', key)
    }
    const prev = res.responses[0]!.response_put.prev_kv
    return {
      key,
      value,
      createRevision: Number(prev.create_revision),
      modRevision: revisionOf(res.header),
      version: Number(prev.version) + 1,
    }
  }

  async delete(key: string, expectModRevision?: number, opts?: WriteOptions): Promise<KeyValue> {
    const k = this.etcdKey(key)
    const compare: ICompare[] = [{ key: k, target: 'Version', result: 'Greater', version: 0 }]
    if (expectModRevision !== undefined)
      compare.push({ key: k, target: 'Mod', result: 'Equal', mod_revision: expectModRevision })
    const res = await this.txn(
      key,
      {
        compare,
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      },
      opts,
    )
    if (!res.succeeded) {
      const current = this.currentOf(res)
      throw current ? new StoreError('Conflict', key, current) : new StoreError('NotFound', key)
    }
    const prev = this.keyValue(res.responses[0]!.response_delete_range.prev_kvs[0]!)
    return { ...prev, modRevision: revisionOf(res.header) }
  }

  watch(
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    opts?: WatchOptions,
  ): AsyncIterable<StoreEvent> {
    const hub = this.hub
    const current = () => this.currentRevision()
    return {
      async *[Symbol.asyncIterator]() {
        const rev = await current()
        if (afterRevision > rev) throw new StoreError('FutureRevision', prefix, undefined, rev)
        yield* hub.watch(prefix, afterRevision, signal, opts)
      },
    }
  }

  async compact(revision: number): Promise<void> {
    try {
      await this.call('', 'write', (options) => this.client.kv.compact({ revision }, options))
    } catch (e) {
      if (isCompactedError(e)) return // compacted there or later already (by this or another server)
      if (isFutureRevisionError(e))
        throw new StoreError('FutureRevision', '', undefined, await this.currentRevision())
      throw e
    }
    if (revision > this.compacted) this.compacted = revision
  }

  async currentRevision(): Promise<number> {
    const res = await this.call('', 'read', (options) =>
      this.client.kv.range({ key: this.etcdKey(STORE_ROOT), count_only: true }, options),
    )
    return this.saw(revisionOf(res.header))
  }

  /** The current revision, asked once without waiting for etcd: startup's probe, which says why it failed. */
  async probeRevision(): Promise<number> {
    const res = await this.client.kv.range({ key: this.etcdKey(STORE_ROOT), count_only: true })
    return revisionOf(res.header)
  }

  /** Ends every watch and closes the etcd connections. */
  close(): void {
    this.endWatches()
    this.feed?.close()
    this.client.close()
  }

  /** Ends every watch, keeping the connection for writes still in flight (shutdown's first step). */
  endWatches(): void {
    this.hub.close()
    this.feed?.remove(this.mirrorClient)
    this.mirrorClient.reset()
  }

  // ---- the mirror: consistent reads from memory ----

  private saw(revision: number): number {
    if (revision > this.seen) this.seen = revision
    return revision
  }

  /**
   * A consistent LIST from memory, as kube's cacher serves one (KEP-2340): etcd's current revision
   * first (a count-only range), then the mirror once it has every write up to it. Undefined: etcd
   * answers instead (no mirror of this prefix, or the feed is not there yet, as the cacher falls back
   * to etcd when it cannot catch up).
   */
  private async listFromMirror(
    prefix: string,
  ): Promise<Awaited<ReturnType<Store['list']>> | undefined> {
    if (!this.feed || !resourcePrefix(prefix)) return undefined
    const current = await this.currentRevision()
    const m = await this.mirrorOf(prefix)
    if (!m || !(await this.feed.reach(current)) || this.mirrored.get(resourcePrefix(prefix)!) !== m)
      return undefined
    const { kvs } = m.range(prefix, rangeEndOf(prefix))
    this.readsFromMemory++
    return { kvs, revision: this.feed.position, more: false, count: kvs.length, fromCache: true }
  }

  /**
   * Batch reads (admission's namespace, quotas, limit ranges, webhook configurations) from memory once
   * it holds every write etcd has answered this store with: kube's plugins read informers, which lag
   * behind etcd; this mirror reads what this server wrote, and anyone's write it has received. A key
   * it does not hold is read from etcd (kube's NamespaceLifecycle looks a namespace missing from its
   * informer up live).
   */
  private async readBatchFromMirror(
    reads: BatchRead[],
  ): Promise<{ results: BatchReadResult[]; revision: number } | undefined> {
    if (!this.feed) return undefined
    const wanted = reads.map((r) => ('key' in r ? r.key : r.prefix))
    if (!wanted.every((k) => resourcePrefix(k))) return undefined
    const mirrors = await Promise.all(wanted.map((k) => this.mirrorOf(k)))
    if (!(await this.feed.reach(this.seen))) return undefined
    const results: BatchReadResult[] = []
    for (let i = 0; i < reads.length; i++) {
      const r = reads[i]!
      const m = mirrors[i]
      if (!m || this.mirrored.get(resourcePrefix(wanted[i]!)!) !== m) return undefined
      if ('key' in r) {
        const kv = m.kvs.get(r.key)
        if (!kv) return undefined
        results.push({ kvs: [kv], more: false })
      } else {
        results.push(m.range(r.prefix, rangeEndOf(r.prefix), r.limit))
      }
    }
    this.readsFromMemory++
    return { results, revision: this.feed.position }
  }

  /** The key's pair in the mirror once it has every write etcd answered this store with. */
  async cached(key: string): Promise<KeyValue | undefined> {
    if (!this.feed) return undefined
    try {
      const m = await this.mirrorOf(key)
      if (!m || !(await this.feed.reach(this.seen))) return undefined
      if (this.mirrored.get(resourcePrefix(key)!) !== m) return undefined
      const kv = m.kvs.get(key)
      if (kv) this.readsFromMemory++
      return kv
    } catch {
      return undefined
    }
  }

  /** The mirror of the resource a key or prefix is under, read from etcd the first time. */
  private async mirrorOf(keyOrPrefix: string): Promise<MirroredResource | undefined> {
    const rp = resourcePrefix(keyOrPrefix)
    if (!rp || !this.feed) return undefined
    const have = this.mirrored.get(rp)
    if (have && !have.pending) return have
    let p = this.loading.get(rp)
    if (!p) {
      p = this.loadMirror(rp).finally(() => {
        if (this.loading.get(rp) === p) this.loading.delete(rp)
      })
      this.loading.set(rp, p)
    }
    return p
  }

  private async loadMirror(rp: string): Promise<MirroredResource | undefined> {
    const feed = this.feed!
    if (!(await feed.start())) return undefined
    // Everything up to `at` is read from etcd at `at`; what the feed brings meanwhile waits in pending.
    const at = feed.position
    const m = new MirroredResource()
    this.mirrored.set(rp, m)
    let res
    try {
      res = await this.call(rp, 'read', (options) =>
        this.client.kv.range(
          { key: this.etcdKey(rp), range_end: rangeEnd(this.etcdKey(rp)), revision: at },
          options,
        ),
      )
    } catch {
      if (this.mirrored.get(rp) === m) this.mirrored.delete(rp)
      return undefined
    }
    if (this.mirrored.get(rp) !== m) return undefined // the feed was reset meanwhile
    for (const kv of res.kvs) {
      const pair = this.keyValue(kv)
      heldPairs.add(pair)
      m.put(pair.key, pair)
    }
    for (const [key, kv] of m.pending!) {
      if (kv) m.put(key, kv)
      else m.delete(key)
    }
    m.pending = undefined
    return m
  }

  private mirrorEvent(rest: string, kv: IKeyValue | undefined): void {
    const key = STORE_ROOT + '/' + rest
    const rp = resourcePrefix(key)
    const m = rp && this.mirrored.get(rp)
    if (!m) return
    const pair = kv ? this.keyValue(kv) : undefined
    if (pair) heldPairs.add(pair)
    if (m.pending) {
      // Only what the initial read at its revision did not see.
      m.pending.push([key, pair])
      return
    }
    if (pair) m.put(key, pair)
    else m.delete(key)
  }

  // ---- etcd keys and values ----

  private etcdKey(key: string): Buffer {
    const rest = key.startsWith(STORE_ROOT) ? key.slice(STORE_ROOT.length) : key
    return Buffer.from(this.prefix + rest)
  }

  /** The etcd key of a Store key as text: what kube-apiserver authenticates an encrypted value with. */
  etcdKeyOf(key: string): string {
    return this.etcdKey(key).toString('utf8')
  }

  private storeKey(buf: Buffer): string {
    return STORE_ROOT + buf.toString('utf8').slice(this.prefix.length)
  }

  private keyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.storeKey(kv.key),
      value: kv.value ? valueOf(kv.value) : '',
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    }
  }

  private currentOf(res: {
    responses: { response_range: { kvs: IKeyValue[] } }[]
  }): KeyValue | undefined {
    const kv = res.responses[0]?.response_range?.kvs[0]
    return kv ? this.keyValue(kv) : undefined
  }

  /**
   * Refused here rather than by etcd: etcd3's client counts etcd's refusal as a recoverable failure, retries it
   * and, after three, opens its circuit breaker on every other request for seconds.
   */
  private checkSize(key: string, value: string): void {
    if (exceedsValueLimit(value)) throw new StoreError('TooLarge', key)
  }

  /** A write unless `mode` says it reads; it ends by `opts.deadline` (its request's) when that is sooner. */
  private async txn(
    key: string,
    req: Parameters<Etcd3['kv']['txn']>[0],
    opts?: WriteOptions,
    mode: 'read' | 'write' = 'write',
  ) {
    try {
      const res = await this.call(
        key,
        mode,
        (options) => this.client.kv.txn(req, options),
        opts?.deadline,
      )
      this.saw(revisionOf(res.header))
      return res
    } catch (e) {
      if (isTooLargeError(e)) throw new StoreError('TooLarge', key)
      throw e
    }
  }

  /**
   * One unary call that waits for an unreachable etcd, as kube-apiserver's clientv3 does (WaitForReady)
   * until the request's deadline: a read is sent again until then; a write only while it cannot have
   * been sent, since any other failure leaves its outcome unknown. Then StoreError 'Unreachable'.
   */
  private async call<T>(
    key: string,
    mode: 'read' | 'write',
    fn: (options: { deadline: number }) => Promise<T>,
    requestDeadline?: number,
  ): Promise<T> {
    const own = Date.now() + (mode === 'read' ? this.readTimeoutMs : this.writeTimeoutMs)
    const deadline = Math.min(own, requestDeadline ?? own)
    for (let backoff = 25; ; backoff = Math.min(backoff * 2, 1_000)) {
      try {
        // The request's deadline bounds the call, as kube-apiserver's request context bounds clientv3's.
        return await fn({ deadline })
      } catch (e) {
        if (!isUnreachableError(e)) throw e
        const again = (mode === 'read' || wasNotSent(e)) && Date.now() < deadline
        if (!again) throw new StoreError('Unreachable', key, undefined, undefined, errorText(e))
        await new Promise((r) => setTimeout(r, Math.min(backoff, deadline - Date.now())))
      }
    }
  }

  /** A failed read at `revision`: Compacted (with the compaction revision) or FutureRevision, else as it came. */
  private async readError(e: unknown, key: string, revision: number): Promise<unknown> {
    if (isCompactedError(e))
      return new StoreError('Compacted', key, undefined, await this.compactedRevision(revision))
    if (isFutureRevisionError(e))
      return new StoreError(
        'FutureRevision',
        key,
        undefined,
        await this.currentRevision().catch(() => undefined),
      )
    return e
  }

  /**
   * The revision etcd is compacted to, given one it refused. etcd does not say (its error has no
   * number), so find the oldest readable revision by bisection: about log2(current) cheap reads, only
   * on this error path.
   */
  private async compactedRevision(refused: number): Promise<number | undefined> {
    try {
      let lo = Math.max(refused + 1, this.compacted)
      let hi = await this.currentRevision()
      if (lo > hi) return undefined
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2)
        if (await this.readableAt(mid)) hi = mid
        else lo = mid + 1
      }
      if (lo > this.compacted) this.compacted = lo
      return lo
    } catch {
      return undefined
    }
  }

  private async readableAt(revision: number): Promise<boolean> {
    try {
      await this.client.kv.range({ key: this.etcdKey(STORE_ROOT), revision, count_only: true })
      return true
    } catch (e) {
      if (isCompactedError(e)) return false
      throw e
    }
  }

  // ---- watches ----

  /** One etcd watch (with previous values) feeding the hub; resumes where it left off across reconnects. */
  private openWatch(prefix: string, after: number, sink: WatchSink): { cancel(): void } {
    const start = this.etcdKey(prefix)
    const watcher: Watcher = this.client
      .watch()
      .inRange({ start, end: rangeEnd(start) })
      .withPreviousKV()
      .startRevision(String(after + 1))
      .watcher()
    let seen = after
    let done = false
    watcher.on('data', (res) => {
      if (done) return
      if (res.events.length === 0) {
        // A progress notification (--experimental-watch-progress-notify-interval): nothing more up to here.
        const rev = revisionOf(res.header)
        if (rev > seen) seen = rev
        sink.progress(rev)
        return
      }
      const events: StoreEvent[] = []
      for (const ev of res.events) {
        // etcd3's watcher has already stripped its namespace; ours is the full etcd key.
        const kv = this.keyValue(ev.kv)
        const prev = ev.prev_kv ? this.keyValue(ev.prev_kv) : undefined
        if (ev.type === 'Delete') {
          events.push({
            type: 'delete',
            kv: { ...(prev ?? kv), modRevision: kv.modRevision },
            prevKv: prev ?? kv,
          })
        } else {
          events.push(
            prev && kv.version > 1 ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv },
          )
        }
        if (kv.modRevision > seen) seen = kv.modRevision
      }
      sink.events(events)
    })
    // etcd3 resumes a dropped stream from the revision after the last response header, which can be
    // past events a catching-up watch has not received yet; resume from what was delivered instead.
    watcher.on('disconnected', () => {
      watcher.request.start_revision = String(seen + 1)
    })
    watcher.on('error', (err) => {
      if (done) return
      done = true
      // A cancelled watch does not say why in etcd 3.4 (nor the compact revision): ask etcd.
      void this.readableAt(seen + 1).then(
        async (ok) =>
          sink.fail(
            ok
              ? err
              : new StoreError(
                  'Compacted',
                  prefix,
                  undefined,
                  await this.compactedRevision(seen + 1),
                ),
          ),
        (e) => sink.fail(isCompactedError(e) ? new StoreError('Compacted', prefix) : e),
      )
    })
    return {
      cancel: () => {
        if (done) return
        done = true
        watcher.cancel().catch(() => {})
      },
    }
  }
}

/**
 * An encrypted value ("k8s:enc:..." and ciphertext, src/storage/value) or one in kube's protobuf envelope
 * ("k8s\0", as kube-apiserver stores built-in kinds) is bytes, which the Store carries as a byte string (a
 * character per byte) and etcd holds as they are, in kube-apiserver's layout; other values are UTF-8.
 */
const ENCRYPTED = Buffer.from('k8s:enc:')
const PROTOBUF = Buffer.from('k8s\0', 'latin1')
function storedValue(value: string): Buffer {
  return Buffer.from(value, isByteString(value) ? 'latin1' : 'utf8')
}
function valueOf(buf: Buffer): string {
  const bytes =
    buf.subarray(0, ENCRYPTED.length).equals(ENCRYPTED) ||
    buf.subarray(0, PROTOBUF.length).equals(PROTOBUF)
  return buf.toString(bytes ? 'latin1' : 'utf8')
}

/** The resource a Store key or prefix is under (/registry/<resource>/), which the mirror keeps whole. */
function resourcePrefix(keyOrPrefix: string): string | undefined {
  return /^\/registry\/[^/]+\//.exec(keyOrPrefix)?.[0]
}

/** prefixEnd for Store keys, as text (etcd's range end of a prefix). */
function rangeEndOf(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}

function revisionOf(header: IResponseHeader): number {
  return Number(header.revision)
}

/** The exclusive end of the range of keys that start with `prefix` (clientv3.GetPrefixRangeEnd). */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0]) // every key
}

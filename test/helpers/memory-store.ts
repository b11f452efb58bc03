// The in-memory Store for unit tests: etcd's revisions and key ranges, a compaction mark, a watch served
// from its log, and a hook that sees each committed write (as the ClusterStore hands writes to its
// background work). It throws what src/storage/store.ts says each method throws, as the real stores do.
import {
  exceedsValueLimit,
  StoreError,
  type BatchRead,
  type KeyValue,
  type ListOptions,
  type Store,
  type StoreEvent,
  type WatchOptions,
} from '../../src/storage/store'

export class MemoryStore implements Store {
  readonly data = new Map<string, KeyValue>()
  private log: StoreEvent[] = []
  private rev = 1
  private compacted = 0
  private wake: (() => void)[] = []
  /** Reads served, for tests of caching. */
  reads = 0
  /** Called synchronously with each committed write (the ClusterStore's observe). */
  onWrite?: (e: StoreEvent) => void

  async get(key: string) {
    this.reads++
    return { kv: this.data.get(key), revision: this.rev }
  }

  /** Reads at a revision replay the log up to it; one older than the compaction mark fails as etcd's would. */
  async list(prefix: string, opts: ListOptions = {}) {
    this.reads++
    if (opts.revision && opts.revision < this.compacted)
      throw new StoreError('Compacted', prefix, undefined, this.compacted)
    if (opts.revision && opts.revision > this.rev)
      throw new StoreError('FutureRevision', prefix, undefined, this.rev)
    const data = opts.revision && opts.revision < this.rev ? this.stateAt(opts.revision) : this.data
    const keys = [...data.keys()]
      .filter((k) => k.startsWith(prefix) && (opts.after === undefined || k > opts.after))
      .sort()
    const limited = opts.limit ? keys.slice(0, opts.limit) : keys
    return {
      kvs: limited.map((k) => data.get(k)!),
      revision: opts.revision || this.rev,
      more: limited.length < keys.length,
      count: keys.length,
    }
  }

  private stateAt(revision: number): Map<string, KeyValue> {
    const state = new Map<string, KeyValue>()
    for (const e of this.log) {
      if (e.type === 'progress' || e.kv.modRevision > revision) continue
      if (e.type === 'delete') state.delete(e.kv.key)
      else state.set(e.kv.key, e.kv)
    }
    return state
  }

  /** One read, as one round trip to a real store. */
  async readBatch(reads: BatchRead[]) {
    this.reads++
    const results = reads.map((r) => {
      if ('key' in r) {
        const kv = this.data.get(r.key)
        return { kvs: kv ? [kv] : [], more: false }
      }
      const keys = [...this.data.keys()].filter((k) => k.startsWith(r.prefix)).sort()
      const limited = r.limit ? keys.slice(0, r.limit) : keys
      return { kvs: limited.map((k) => this.data.get(k)!), more: limited.length < keys.length }
    })
    return { results, revision: this.rev }
  }

  async create(key: string, value: string) {
    if (exceedsValueLimit(value)) throw new StoreError('TooLarge', key)
    if (this.data.has(key)) throw new StoreError('KeyExists', key, this.data.get(key))
    const kv = { key, value, createRevision: this.rev + 1, modRevision: this.rev + 1, version: 1 }
    this.commit({ type: 'put', kv })
    return kv
  }

  async update(key: string, value: string, expectModRevision: number) {
    if (exceedsValueLimit(value)) throw new StoreError('TooLarge', key)
    const cur = this.data.get(key)
    if (!cur) throw new StoreError('NotFound', key)
    if (cur.modRevision !== expectModRevision) throw new StoreError('Conflict', key, cur)
    const kv = {
      key,
      value,
      createRevision: cur.createRevision,
      modRevision: this.rev + 1,
      version: cur.version + 1,
    }
    this.commit({ type: 'put', kv, prevKv: cur })
    return kv
  }

  async delete(key: string, expectModRevision?: number) {
    const cur = this.data.get(key)
    if (!cur) throw new StoreError('NotFound', key)
    if (expectModRevision !== undefined && cur.modRevision !== expectModRevision)
      throw new StoreError('Conflict', key, cur)
    const kv = { ...cur, modRevision: this.rev + 1 }
    this.commit({ type: 'delete', kv, prevKv: cur })
    return kv
  }

  async *watch(
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    opts: WatchOptions = {},
  ): AsyncIterable<StoreEvent> {
    if (afterRevision < this.compacted)
      throw new StoreError('Compacted', prefix, undefined, this.compacted)
    if (afterRevision > this.rev)
      throw new StoreError('FutureRevision', prefix, undefined, this.rev)
    let next = afterRevision
    while (!signal.aborted) {
      const events = this.log.filter(
        (e) => e.type !== 'progress' && e.kv.modRevision > next && e.kv.key.startsWith(prefix),
      )
      for (const e of events) {
        if (signal.aborted) return
        next = (e as { kv: KeyValue }).kv.modRevision
        yield e
      }
      if (!events.length) {
        // Each wait's listener and timer go with it: a long watch (the watch cache's) waits many times.
        let onAbort = () => {}
        let timer: ReturnType<typeof setTimeout> | undefined
        const woken = await new Promise<boolean>((resolve) => {
          onAbort = () => resolve(true)
          this.wake.push(() => resolve(true))
          signal.addEventListener('abort', onAbort, { once: true })
          if (opts.progressIntervalMs)
            timer = setTimeout(() => resolve(false), opts.progressIntervalMs)
        })
        signal.removeEventListener('abort', onAbort)
        clearTimeout(timer)
        // Nothing happened for a while: every event up to the current revision has been delivered.
        if (!woken && !signal.aborted) yield { type: 'progress', revision: this.rev }
      }
    }
  }

  async compact(revision: number) {
    if (revision > this.rev) throw new StoreError('FutureRevision', '', undefined, this.rev)
    this.compacted = Math.max(this.compacted, revision)
  }

  async currentRevision() {
    return this.rev
  }

  /** Calls of lastChange, for tests of the watch cache's consistent LISTs. */
  lastChanges = 0

  async lastChange(prefix: string, after: number) {
    this.lastChanges++
    if (after < this.compacted) throw new StoreError('Compacted', prefix, undefined, this.compacted)
    let last = 0
    for (const e of this.log)
      if (e.type !== 'progress' && e.kv.modRevision > after && e.kv.key.startsWith(prefix))
        last = Math.max(last, e.kv.modRevision)
    return { revision: this.rev, last }
  }

  /** Stores an object as JSON under its key, with uid and creationTimestamp. */
  async put(key: string, obj: Record<string, unknown>): Promise<Record<string, unknown>> {
    const meta = (obj.metadata ?? {}) as Record<string, unknown>
    const full = {
      ...obj,
      metadata: { uid: crypto.randomUUID(), creationTimestamp: '2024-01-01T00:00:00Z', ...meta },
    }
    const cur = this.data.get(key)
    if (cur) await this.update(key, JSON.stringify(full), cur.modRevision)
    else await this.create(key, JSON.stringify(full))
    return full
  }

  /** Keys under prefix (tests). */
  keys(prefix: string): string[] {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort()
  }

  /** The object at key, parsed (tests). */
  object(key: string): Record<string, any> | undefined {
    const kv = this.data.get(key)
    return kv && JSON.parse(kv.value)
  }

  private commit(e: Exclude<StoreEvent, { type: 'progress' }>): void {
    this.rev = e.kv.modRevision
    if (e.type === 'delete') this.data.delete(e.kv.key)
    else this.data.set(e.kv.key, e.kv)
    this.log.push(e)
    this.onWrite?.(e)
    const wake = this.wake
    this.wake = []
    for (const w of wake) w()
  }
}

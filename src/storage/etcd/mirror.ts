// What kube-apiserver's cacher keeps in memory beside its watch (storage/cacher's watchCache store, filled
// by a reflector): every object of a resource as of a known etcd revision, so that a consistent LIST is
// answered from memory once the cache has caught up with etcd ("consistent reads from cache", KEP-2340),
// and admission's reads of namespaces, quotas and webhook configurations cost no round trip, as kube's
// plugins read informers.
//
// One etcd watch of the whole keyspace per etcd client (per process), from which each EtcdStore (the
// default cluster and every tenant, each under its own prefix) takes its keys. Watching every key, not
// only a prefix, is what tells how far the cache is: etcd sends one watcher its events in revision
// order, so once an event at revision R has arrived every write up to R has, whoever made it. kube asks
// etcd for a progress notification instead (RequestWatchProgress), which etcd 3.4 answers correctly only
// from 3.4.31 on.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3'
import { CACHE_READ_WAIT_MS, type KeyValue } from '../store'
import { SortedPairs } from '../sorted-pairs'

export interface MirrorClient {
  /** The etcd key prefix of this client's keys ("<--etcd-prefix>/"). */
  readonly etcdPrefix: string
  /** An event on one of this client's keys (after the prefix). */
  event(key: string, kv: IKeyValue | undefined, revision: number): void
  /** The feed broke: everything mirrored is to be dropped. */
  reset(): void
}

/** The one watch of every key for an etcd client, and how far it has come. */
export class RevisionFeed {
  /** Every write to etcd up to this revision has been received. */
  position = 0
  private watcher?: Watcher
  private starting?: Promise<boolean>
  private connected = false
  private reconnecting = false
  private readonly clients = new Set<MirrorClient>()
  private waiters: { revision: number; resolve: (ok: boolean) => void }[] = []
  private closed = false

  constructor(
    private readonly client: Etcd3,
    private readonly currentRevision: () => Promise<number>,
  ) {}

  /** Whether reads may wait on the feed (it is watching, and not being reconnected). */
  get live(): boolean {
    return this.connected && !this.reconnecting && !this.closed
  }

  add(c: MirrorClient): void {
    this.clients.add(c)
  }

  remove(c: MirrorClient): void {
    this.clients.delete(c)
  }

  /** Starts the watch at the current revision; false when etcd cannot be asked for it now. */
  start(): Promise<boolean> {
    if (this.connected) return Promise.resolve(true)
    return (this.starting ??= this.begin().finally(() => (this.starting = undefined)))
  }

  private async begin(): Promise<boolean> {
    if (this.closed) return false
    let from: number
    try {
      from = await this.currentRevision()
    } catch {
      return false
    }
    if (this.closed || this.connected) return this.connected
    this.position = from
    const all = Buffer.from([0])
    const watcher = this.client
      .watch()
      .inRange({ start: all, end: all })
      .startRevision(String(from + 1))
      .watcher()
    this.watcher = watcher
    this.connected = true
    watcher.on('data', (res) => {
      if (this.watcher !== watcher) return
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision)
        const key = ev.kv.key.toString('utf8')
        for (const c of this.clients)
          if (key.startsWith(c.etcdPrefix))
            c.event(key.slice(c.etcdPrefix.length), ev.type === 'Delete' ? undefined : ev.kv, rev)
        if (rev > this.position) this.position = rev
      }
      this.wake()
    })
    // A dropped stream resumes after what was received (etcd3 would resume after its last header).
    watcher.on('disconnected', () => {
      if (this.watcher !== watcher) return
      this.reconnecting = true
      watcher.request.start_revision = String(this.position + 1)
      this.wakeAll(false)
    })
    watcher.on('connected', () => {
      if (this.watcher === watcher) this.reconnecting = false
    })
    watcher.on('error', () => this.fail(watcher))
    return true
  }

  /** The watch ended (compacted past it, cancelled by etcd): drop what is mirrored and start over on next use. */
  private fail(watcher: Watcher): void {
    if (this.watcher !== watcher) return
    this.watcher = undefined
    this.connected = false
    watcher.cancel().catch(() => {})
    for (const c of this.clients) c.reset()
    this.wakeAll(false)
  }

  /** Resolves true once every write up to `revision` has arrived; false after waitMs or if the feed breaks. */
  reach(revision: number, waitMs = CACHE_READ_WAIT_MS): Promise<boolean> {
    if (this.position >= revision) return Promise.resolve(true)
    if (!this.live) return Promise.resolve(false)
    return new Promise((resolve) => {
      const w = { revision, resolve }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        resolve(false)
      }, waitMs)
      timer.unref?.()
      w.resolve = (ok) => {
        clearTimeout(timer)
        resolve(ok)
      }
      this.waiters.push(w)
    })
  }

  private wake(): void {
    if (!this.waiters.length) return
    const still = []
    for (const w of this.waiters) {
      if (this.position >= w.revision) w.resolve(true)
      else still.push(w)
    }
    this.waiters = still
  }

  private wakeAll(ok: boolean): void {
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w.resolve(ok)
  }

  close(): void {
    this.closed = true
    this.connected = false
    const w = this.watcher
    this.watcher = undefined
    w?.cancel().catch(() => {})
    this.wakeAll(false)
  }
}

const feeds = new WeakMap<Etcd3, RevisionFeed>()

/** The process's feed for an etcd client, shared by every EtcdStore on that client. */
export function revisionFeed(client: Etcd3, currentRevision: () => Promise<number>): RevisionFeed {
  let f = feeds.get(client)
  if (!f) feeds.set(client, (f = new RevisionFeed(client, currentRevision)))
  return f
}

/** The pairs of one resource (a Store key prefix /registry/<resource>/), as etcd holds them. */
export class MirroredResource extends SortedPairs {
  /** Events that arrived while the initial read was in flight. */
  pending?: [string, KeyValue | undefined][] = []
}

// A chunked stream of WatchEvents fed by the Store's watch (kube-apiserver's handlers/watch.go with the
// cacher's selector semantics: an object entering or leaving the selector is ADDED or DELETED).
import { badRequest, StatusError, toStatusError } from '../../server/errors'
import { decode, decodeAll, parseResourceVersion, storageKey } from '../../registry/store'
import { interpretWatchError } from '../../registry/store-errors'
import { type KeyValue, type Store, type StoreEvent } from '../../storage/store'
import { groupVersion, type KubeObject, type ResourceType } from '../../registry/types'
import { selectorFilter } from '../list-filter'
import { negotiateWatch } from '../negotiation'
import { encodeProtobufObject, PROTOBUF_MEDIA_TYPE } from '../protobuf/envelope'
import { watchEventFrame } from '../protobuf/response'
import { partialObjectMetadata, parseIncludeObject, toTable } from '../table'
import { endpointFor, type Scope } from '../scope'
import {
  decodeListOptions,
  decodeTableOptions,
  validateListOptions,
  type ListOptions,
} from '../query'
import { escapeFieldValue, parseFieldSelector } from '../selectors/fields'
import { concatBytes } from '../../util/bytes'
import { SharedEvents, watchEventFor, type CacheWatchClient } from '../watch-cache'

const BOOKMARK_INTERVAL_MS = 60_000
const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end'
/** The recent events of this isolate (or process), shared by the watches that each read them. */
const sharedEvents = new SharedEvents()

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'

/**
 * kube-apiserver's --min-request-timeout (1800 s): a watch without timeoutSeconds ends after a random time
 * between it and twice it, to spread out the watches that start again.
 */
let minRequestTimeoutSeconds = 1800
export function setMinRequestTimeout(seconds: number): void {
  minRequestTimeoutSeconds = seconds
}

export async function watch(s: Scope): Promise<Response> {
  const target = negotiateWatch(
    s.req.headers.get('accept'),
    endpointFor(s, { table: true, metadata: true }),
  )
  const includeObject = parseIncludeObject(decodeTableOptions(s.query).includeObject)
  const options = watchedName(decodeListOptions(s.query), s.info.name)
  const filter = selectorFilter(s.type, options)
  validateListOptions(options)
  const {
    resourceVersion: rvParam,
    sendInitialEvents,
    allowWatchBookmarks: allowBookmarks,
  } = options
  const rv = parseResourceVersion(rvParam) ?? 0
  const timeoutMs = watchTimeoutMs(options.timeoutSeconds)
  // Without sendInitialEvents: resourceVersion unset or "0" starts with the current state; otherwise only changes after rv.
  const initialEvents = sendInitialEvents === undefined ? rv === 0 : sendInitialEvents
  const prefix = storageKey(s.type, s.namespace)

  const abort = new AbortController()
  s.req.signal?.addEventListener('abort', () => abort.abort())
  const timer = longTimeout(() => abort.abort(), timeoutMs)
  const encoder = new TextEncoder()
  const type = s.type

  const bookmark = (revision: number, annotations?: Record<string, string>): KubeObject => ({
    kind: type.kind,
    apiVersion: groupVersion(type),
    metadata: annotations
      ? { resourceVersion: String(revision), annotations }
      : { resourceVersion: String(revision) },
  })

  // One Store watch per resource for every watcher of this process or Worker isolate (the watch cache).
  const cacher = s.watchCache?.for(s.cluster, type, s.metrics)

  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      let columnsSent = false
      // kubectl get -w asks for Table rows; like kube-apiserver, only the first row carries the column definitions.
      const render = (t: WatchEventType, object: KubeObject, withColumns: boolean): unknown => {
        if (t === 'ERROR') return object
        // A metadata informer decodes every event as PartialObjectMetadata, its bookmarks too.
        if (t === 'BOOKMARK')
          return target.as && target.as !== 'Table'
            ? partialObjectMetadata(object, target.version)
            : object
        if (target.as === 'Table') {
          const table = toTable(
            type,
            [object],
            { resourceVersion: object.metadata?.resourceVersion },
            includeObject,
            target.version,
          )
          if (!withColumns) table.columnDefinitions = []
          return table
        }
        if (target.as) return partialObjectMetadata(object, target.version)
        return object
      }
      const frame = (
        t: WatchEventType,
        object: KubeObject,
        withColumns = !columnsSent,
      ): Uint8Array =>
        target.protobuf
          ? watchEventFrame(t, protobufObject(render(t, object, withColumns)))
          : encoder.encode(
              JSON.stringify({ type: t, object: render(t, object, withColumns) }) + '\n',
            )
      // The watched kind's series (handlers/watch.go: apiserver_watch_events_total and _sizes).
      const kindLabels = [type.group, type.version, type.kind]
      const metrics = s.metrics
      const counted = (t: WatchEventType, bytes: Uint8Array) => {
        metrics.watchEvents.inc(kindLabels)
        metrics.watchEventsSizes.observe(kindLabels, bytes.byteLength)
        if (target.as === 'Table' && t !== 'ERROR' && t !== 'BOOKMARK') columnsSent = true
        return bytes
      }
      const emit = (t: WatchEventType, bytes: Uint8Array) => controller.enqueue(counted(t, bytes))
      const send = (t: WatchEventType, object: KubeObject) => emit(t, frame(t, object))
      // Bytes are shared between watches asking for the same form; the Table's first row differs.
      const form = `${target.protobuf ? 'pb' : 'json'}|${target.as ?? ''}|${target.version ?? ''}|${includeObject}`
      const frameKey = (t: WatchEventType) =>
        `${form}|${t}|${target.as === 'Table' && !columnsSent ? 'columns' : ''}`
      // Chunks the client has not taken yet (the stream's queue, highWaterMark 1).
      const queued = () => 1 - (controller.desiredSize ?? 1)
      metrics.registeredWatchers.inc(kindLabels)
      try {
        let from = rv
        let known = false
        if (initialEvents) {
          const listed = await s.rs.list(s.namespace, {
            resourceVersion: rvParam && rvParam !== '0' ? rvParam : undefined,
          })
          for (const obj of listed.items) if (!filter || filter(obj)) send('ADDED', obj)
          from = Number(listed.resourceVersion)
          known = true
          if (sendInitialEvents)
            send('BOOKMARK', bookmark(from, { [INITIAL_EVENTS_END_ANNOTATION]: 'true' }))
        }
        if (cacher) {
          // The cacher offers events before this watch's pump writes them: whether a row carries the
          // Table's columns is decided as each is offered (the first one), not as it is written.
          let columnsOffered = columnsSent
          let withColumns = false
          const client: CacheWatchClient = {
            matches: filter,
            allowBookmarks: !!allowBookmarks,
            deadline: Date.now() + timeoutMs,
            frameKey: (t) => {
              withColumns = target.as === 'Table' && !columnsOffered
              if (withColumns) columnsOffered = true
              return `${form}|${t}|${withColumns ? 'columns' : ''}`
            },
            encode: (t, object) => frame(t, object, withColumns),
            // Several events waiting go out as one chunk: one write to the connection, not one each.
            write: (frames) => {
              if (frames.length === 1) emit(frames[0]!.type, frames[0]!.bytes)
              else controller.enqueue(concatBytes(...frames.map((f) => counted(f.type, f.bytes))))
              return queued()
            },
            bookmark: (revision) => {
              if (queued() <= 0) send('BOOKMARK', bookmark(revision))
            },
          }
          const joined = await cacher.join(s.store, from, client, abort.signal, known)
          if (joined) {
            const end = await joined.ended
            if (end.error !== undefined) throw end.error
            return
          }
        }
        const events = s.store.watch(prefix, from, abort.signal, {
          progressIntervalMs: allowBookmarks ? BOOKMARK_INTERVAL_MS : undefined,
        })
        for await (const ev of events) {
          if (ev.type !== 'progress' && !type.convertBatch) {
            // Decoded and encoded once for every watch of this isolate or process that receives it.
            const shared = sharedEvents.event(s.cluster, type, ev)
            const out = watchEventFor(shared, filter)
            if (!out) continue
            const key = frameKey(out.type)
            let bytes = (shared.frames ??= new Map()).get(key)
            if (!bytes) shared.frames.set(key, (bytes = frame(out.type, out.object())))
            emit(out.type, bytes)
            continue
          }
          const decodeKv =
            type.convertBatch && ev.type !== 'progress'
              ? await eventDecoder(type, ev, s.store)
              : (kv: KeyValue) => decode(type, kv)
          const out = translate(ev, filter, decodeKv)
          if (out === 'bookmark') {
            if (allowBookmarks && ev.type === 'progress') send('BOOKMARK', bookmark(ev.revision))
          } else if (out) {
            send(out.type, out.object)
          }
        }
      } catch (e) {
        if (!abort.signal.aborted) {
          const err = toStatusError(interpretWatchError(e, rv))
          try {
            send('ERROR', (err as StatusError).toStatus() as unknown as KubeObject)
          } catch {
            /* client already gone */
          }
        }
      } finally {
        metrics.registeredWatchers.dec(kindLabels)
        timer.clear()
        abort.abort()
        try {
          controller.close()
        } catch {
          /* cancelled */
        }
      }
    },
    cancel() {
      timer.clear()
      abort.abort()
    },
  })
  return new Response(stream, {
    status: 200,
    headers: {
      // handlers/watch.go: a stream other than JSON says so.
      'Content-Type': target.protobuf ? `${PROTOBUF_MEDIA_TYPE};stream=watch` : 'application/json',
      // kubectl asks for gzip; a compressed stream would be held back until it ends.
      'Content-Encoding': 'identity',
      'Cache-Control': 'no-cache, private',
    },
  })
}

function protobufObject(obj: unknown): Uint8Array {
  const bytes = encodeProtobufObject(obj as Record<string, unknown>)
  if (!bytes) throw new Error(`no protobuf message for ${(obj as KubeObject).kind}`)
  return bytes
}

/**
 * The deprecated /watch/<resource>/<name> path watches one object: kube's ListResource makes the name a
 * metadata.name field selector, and refuses a field selector that pins another name.
 */
function watchedName(options: ListOptions, name: string): ListOptions {
  if (!name) return options
  if (!options.fieldSelector)
    return { ...options, fieldSelector: `metadata.name=${escapeFieldValue(name)}` }
  if (parseFieldSelector(options.fieldSelector).requiresExactMatch('metadata.name') !== name) {
    throw badRequest("fieldSelector metadata.name doesn't match requested name")
  }
  return options
}

/**
 * How long a watch runs, as kube's ListResource computes it: time.Duration(timeoutSeconds) * time.Second,
 * which wraps around in int64 nanoseconds (so a timeout past ~292 years may come out negative: the watch
 * ends at once); zero or unset is the server's randomized default (--min-request-timeout, 30 min, x1-2).
 */
export function watchTimeoutMs(timeoutSeconds: bigint | undefined): number {
  const ns = timeoutSeconds === undefined ? 0n : BigInt.asIntN(64, timeoutSeconds * 1_000_000_000n)
  if (ns === 0n) return (minRequestTimeoutSeconds + Math.random() * minRequestTimeoutSeconds) * 1000
  return ns < 0n ? 0 : Number(ns / 1_000_000n)
}

/** setTimeout past 2^31-1 ms fires at once (workerd and Node alike): wait in steps that it takes. */
function longTimeout(fn: () => void, ms: number): { clear(): void } {
  const STEP = 2 ** 31 - 1
  const due = Date.now() + ms
  let handle: ReturnType<typeof setTimeout>
  const arm = () => {
    const left = due - Date.now()
    handle = left > STEP ? setTimeout(arm, STEP) : setTimeout(fn, Math.max(left, 0))
  }
  arm()
  return { clear: () => clearTimeout(handle) }
}

/** The objects of one event, converted together (one ConversionReview for the new and the previous object). */
async function eventDecoder(
  type: ResourceType,
  ev: StoreEvent,
  store: Store,
): Promise<(kv: KeyValue) => KubeObject> {
  if (ev.type === 'progress') return (kv) => decode(type, kv)
  const kvs = ev.type === 'delete' ? [deletedKv(ev)] : ev.prevKv ? [ev.kv, ev.prevKv] : [ev.kv]
  const objs = await decodeAll(type, kvs, store)
  const byKv = new Map(kvs.map((kv, i) => [`${kv.modRevision}\u0000${kv.value}`, objs[i]]))
  return (kv) => byKv.get(`${kv.modRevision}\u0000${kv.value}`)!
}

/** A delete event carries the last state in prevKv; the object it reports has the deletion's revision. */
function deletedKv(ev: StoreEvent & { type: 'delete' }): KeyValue {
  return { ...ev.prevKv, modRevision: ev.kv.modRevision }
}

/** `matches` undefined: no selector, every object matches. */
function translate(
  ev: StoreEvent,
  matches: ((o: KubeObject) => boolean) | undefined,
  decodeKv: (kv: {
    key: string
    value: string
    createRevision: number
    modRevision: number
    version: number
  }) => KubeObject,
): { type: WatchEventType; object: KubeObject } | 'bookmark' | undefined {
  if (ev.type === 'progress') return 'bookmark'
  if (ev.type === 'delete') {
    const last = decodeKv(deletedKv(ev))
    return !matches || matches(last) ? { type: 'DELETED', object: last } : undefined
  }
  const cur = decodeKv(ev.kv)
  // Without a selector the previous object decides nothing: decoding it was a third of each watcher's
  // work per update (every watcher of a write pays it, so it adds up to the fan-out's cost).
  if (!matches) return { type: ev.prevKv ? 'MODIFIED' : 'ADDED', object: cur }
  const curMatch = matches(cur)
  if (!ev.prevKv) return curMatch ? { type: 'ADDED', object: cur } : undefined
  const prev = decodeKv(ev.prevKv)
  const prevMatch = matches(prev)
  if (curMatch && prevMatch) return { type: 'MODIFIED', object: cur }
  if (curMatch) return { type: 'ADDED', object: cur }
  // cache_watcher.go: the previous object, the one the watcher selected, at the event's resourceVersion.
  if (prevMatch) return { type: 'DELETED', object: atRevision(prev, ev.kv.modRevision) }
  return undefined
}

function atRevision(obj: KubeObject, revision: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(revision) } }
}

// What travels between DurableStore (in the Worker) and the ClusterStore Durable Object. Imported by
// both sides, so it must not import 'cloudflare:workers'.
import type { KeyValue, StoreErrorCode, StoreEvent } from '../store'

// ---- RPC results ----------------------------------------------------------------------------------
// Failures are returned, not thrown: Workers RPC carries only an Error's message across, not the
// code, current pair or revision that StoreError needs. The client turns a Failure into a StoreError.

export interface Failure {
  ok: false
  code: StoreErrorCode
  /** Conflict and KeyExists: the pair as it is now. */
  current?: KeyValue
  /** Compacted: the compacted revision. FutureRevision: the current revision. */
  revision?: number
}
export type WriteResult = { ok: true; kv: KeyValue; am?: AdmissionMark } | Failure
export type ListResult =
  | {
      ok: true
      kvs: KeyValue[]
      revision: number
      more: boolean
      count: number
      am?: AdmissionMark
    }
  | Failure
export type CompactResult = { ok: true } | Failure
export type LastChangeResult = { ok: true; revision: number; last?: number } | Failure
/** A point-in-time restore's dry run (and what it would do). */
export interface PointInTimeAnswer {
  /** The time asked for, ms since the epoch. */
  time: number
  /** The revision current at that time (null: before the first write this object recorded a time for). */
  revision: number | null
  currentRevision: number
  /** The storage's bookmark for that time. */
  bookmark?: string
  /** Why there is no bookmark (the runtime does not keep the history, the time is out of the window). */
  bookmarkError?: string
}

export interface GetResult {
  kv?: KeyValue
  revision: number
  am?: AdmissionMark
}

// ---- What admission reads -------------------------------------------------------------------------
// A write's admission reads (src/admission/chain.ts prefetch: the namespace, its ResourceQuotas and
// LimitRanges, the webhook configurations and admission policies) come in one readBatch per write. The
// object answers every read and write with the mark of the last change under these prefixes, so that an
// isolate may answer the same batch again from what it read, while the mark it last heard is that one
// (src/storage/durable/client.ts): one round trip per write instead of two.

/** Key prefixes whose objects admission reads: a write under one moves the mark. */
export const ADMISSION_READ_PREFIXES = [
  '/registry/namespaces/',
  '/registry/resourcequotas/',
  '/registry/limitranges/',
  '/registry/mutatingwebhookconfigurations/',
  '/registry/validatingwebhookconfigurations/',
  '/registry/validatingadmissionpolicies/',
  '/registry/validatingadmissionpolicybindings/',
]

export function isAdmissionRead(keyOrPrefix: string): boolean {
  return ADMISSION_READ_PREFIXES.some((p) => keyOrPrefix.startsWith(p))
}

/**
 * The last change under ADMISSION_READ_PREFIXES: the revision of the write within an epoch, which a
 * wholesale change (a restore, a deleted cluster) or a new instance of the object starts anew.
 */
export interface AdmissionMark {
  epoch: string
  rev: number
}

// ---- Watch over a WebSocket -----------------------------------------------------------------------
// The Worker opens GET https://cluster/watch?prefix=<prefix>&after=<revision> with Upgrade: websocket.
// Each frame is one compact JSON text message:
//
//   DO → client  {"t":"e","e":[event, ...]}    events in revision order
//                {"t":"p","r":rev}             progress: every event <= rev under the prefix came before
//                                              (asked for, or sent unasked on each compaction tick)
//                {"t":"x","c":code,"r":rev}    a StoreError (Compacted, FutureRevision); the DO closes next
//                {"t":"c","c":code,"m":reason} the DO is closing the socket with this code (CLOSE_SLOW...)
//   client → DO  {"t":"p"}                     progress request, answered in order with {"t":"p"}
//                {"t":"a","n":size}            flow control: the consumer has taken `size` more of the stream
//
// An event is an array: [modRev, key, createRev, version, value, prevModRev?, prevValue?]
//   create  [R, key, R, 1, value]
//   update  [R, key, C, V, value, P, prevValue]     prevKv: {prevValue, C, P, V - 1}
//   delete  [R, key, C, V, null, P, prevValue]      kv: {prevValue, C, R, V}; prevKv: {prevValue, C, P, V}
//
// Errors and closes are said in-band before the close frame: a close event can come late (through
// Miniflare a client sees it only when the TCP connection ends, 10 s after the close frames).
//
// Sizes are counted in UTF-16 code units (string length), which both ends get for free.

export type WireEvent =
  | [modRev: number, key: string, createRev: number, version: number, value: string]
  | [
      modRev: number,
      key: string,
      createRev: number,
      version: number,
      value: string | null,
      prevModRev: number,
      prevValue: string,
    ]

export type ServerMessage =
  | { t: 'e'; e: WireEvent[] }
  | { t: 'p'; r: number }
  | { t: 'x'; c: StoreErrorCode; r?: number }
  | { t: 'c'; c: number; m: string }
export type ClientMessage = { t: 'p' } | { t: 'a'; n: number }

/** Close codes the DO uses; 1000 is a normal close by the client. */
export const CLOSE_ERROR = 4000 // after an {"t":"x"} message
/** The watcher did not take its events fast enough (kube-apiserver's cacher drops such a watcher too). */
export const CLOSE_SLOW = 4008
export const CLOSE_BAD_MESSAGE = 4003
/**
 * The object restarted while events were still to be sent to this live watcher: it cannot tell which of
 * them went out, so the client watches again from the last revision it received (as after CLOSE_SLOW).
 */
export const CLOSE_RESTARTED = 4009

/**
 * Data the DO may have sent to a live watcher that the consumer has not acknowledged. Past it the
 * watcher is closed with CLOSE_SLOW: workerd gives no bufferedAmount, and its outgoing queue is
 * unbounded. A catching-up watcher is paced by the same window instead of being closed.
 */
export const WATCH_WINDOW = 8 * 1024 * 1024
/** The client acknowledges consumed data in steps of this size: an ack per event would wake the DO per event. */
export const ACK_STEP = 1024 * 1024
/** A backlog message holds events up to about this size (at least one event). */
export const MAX_BATCH_SIZE = 1024 * 1024
export const MAX_BATCH_EVENTS = 1000

export function encodeEvent(kv: KeyValue, prev: KeyValue | undefined, deleted: boolean): WireEvent {
  if (!prev) return [kv.modRevision, kv.key, kv.createRevision, kv.version, kv.value]
  return [
    kv.modRevision,
    kv.key,
    kv.createRevision,
    kv.version,
    deleted ? null : kv.value,
    prev.modRevision,
    prev.value,
  ]
}

export function decodeEvent(e: WireEvent): StoreEvent {
  const [modRevision, key, createRevision, version, value] = e
  if (e.length === 5)
    return {
      type: 'put',
      kv: { key, value: value as string, createRevision, modRevision, version },
    }
  const [, , , , , prevModRevision, prevValue] = e
  if (value === null) {
    return {
      type: 'delete',
      kv: { key, value: prevValue, createRevision, modRevision, version },
      prevKv: { key, value: prevValue, createRevision, modRevision: prevModRevision, version },
    }
  }
  return {
    type: 'put',
    kv: { key, value, createRevision, modRevision, version },
    prevKv: {
      key,
      value: prevValue,
      createRevision,
      modRevision: prevModRevision,
      version: version - 1,
    },
  }
}

export function watchUrl(prefix: string, afterRevision: number): string {
  return `https://cluster/watch?prefix=${encodeURIComponent(prefix)}&after=${afterRevision}`
}

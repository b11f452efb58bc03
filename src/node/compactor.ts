// kube-apiserver's etcd compactor (storage/etcd3/compact.go): every interval, compact to the revision
// seen one interval ago, so watchers and paginated lists keep that much history. Several servers on one
// etcd take turns through a compare-and-swap on the version of compact_rev_key, as kube-apiserver does.
import type { EtcdStore } from '../storage/etcd/store'
import { errorText } from '../util/errors'

export const COMPACT_REV_KEY = 'compact_rev_key'

export interface Compactor {
  stop(): void
  /** One round now (tests). */
  tick(): Promise<void>
}

export function startCompactor(
  store: EtcdStore,
  intervalMs: number,
  log: (msg: string) => void = () => {},
  /** The lowest revision something in this process still reads at (a snapshot being taken), if any. */
  floor: () => number | undefined = () => undefined,
): Compactor {
  const key = Buffer.from(COMPACT_REV_KEY)
  // The version of compact_rev_key this server last saw, and the revision it saw then.
  let compactTime = 0
  let rev = 0
  let running: Promise<void> | undefined

  async function compactOnce(): Promise<void> {
    const res = await store.client.kv.txn({
      compare: [{ key, target: 'Version', result: 'Equal', version: compactTime }],
      success: [{ request_put: { key, value: Buffer.from(String(rev)) } }],
      failure: [{ request_range: { key } }],
    })
    const curRev = Number(res.header.revision)
    if (!res.succeeded) {
      // Another server compacted (or we restarted): take its turn count and start the interval over.
      compactTime = Number(res.responses[0]!.response_range.kvs[0]?.version ?? 0)
      rev = curRev
      return
    }
    compactTime++
    // Never past a snapshot this process is taking at a revision: it would fail half-way.
    const held = floor()
    const target = held !== undefined ? Math.min(rev, held) : rev
    rev = curRev
    if (target === 0) return // not on the first round: there is no revision from an interval ago yet
    await store.compact(target)
    log(`compacted etcd to revision ${target}`)
  }

  const tick = (): Promise<void> => {
    running ??= compactOnce()
      .catch((e) => log(`etcd compaction failed: ${errorText(e)}`))
      .finally(() => {
        running = undefined
      })
    return running
  }
  const timer = intervalMs > 0 ? setInterval(() => void tick(), intervalMs) : undefined
  timer?.unref()
  if (intervalMs > 0) void tick()
  return {
    stop: () => {
      if (timer) clearInterval(timer)
    },
    tick,
  }
}

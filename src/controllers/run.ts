// The control loops in a long-running process (Node mode): a full resync, then the store's watch of every key
// feeding the manager, with timers running due work and a periodic resync. A watch that ends or fails is
// followed by another resync, so nothing depends on having seen every event.
import type { Registry } from '../registry/registry'
import type { Store } from '../storage/store'
import { ControllerManager, type ControllerOptions } from './manager'
import { errorText } from '../util/errors'

/** kube-controller-manager's namespace controller resyncs every 5 minutes; the loops here do the same. */
export const DEFAULT_RESYNC_INTERVAL_MS = 5 * 60 * 1000
const WATCH_RETRY_MS = 1000

export interface RunningControllers {
  readonly manager: ControllerManager
  /** Ends the watch and the timers, after the sync in progress. */
  stop(): Promise<void>
}

export interface StartOptions extends ControllerOptions {
  resyncIntervalMs?: number
}

export function startControllers(
  store: Store,
  registry: Registry,
  opts: StartOptions = {},
): RunningControllers {
  const log = opts.log ?? ((msg: string) => console.error(msg))
  const manager = new ControllerManager(store, registry, { ...opts, log })
  const ctl = new AbortController()
  let timer: ReturnType<typeof setTimeout> | undefined
  let wakeAt = Infinity
  let running: Promise<void> | undefined
  let again = false
  let resyncDue = false

  const schedule = (ms: number) => {
    if (ctl.signal.aborted) return
    const at = Date.now() + ms
    if (timer !== undefined && wakeAt <= at) return
    if (timer !== undefined) clearTimeout(timer)
    wakeAt = at
    timer = setTimeout(tick, ms)
    ;(timer as { unref?: () => void }).unref?.()
  }
  const tick = () => {
    timer = undefined
    wakeAt = Infinity
    if (running) {
      again = true
      return
    }
    const resync = resyncDue
    resyncDue = false
    running = manager
      .run({ resync })
      .then(
        (next) => {
          if (next !== undefined) schedule(next)
        },
        (e) => {
          log(`controllers: ${errorText(e)}`)
          schedule(WATCH_RETRY_MS)
        },
      )
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          schedule(0)
        }
      })
  }

  const watching = (async () => {
    while (!ctl.signal.aborted) {
      try {
        const revision = await manager.resync()
        schedule(0)
        for await (const event of store.watch('/registry/', revision, ctl.signal)) {
          const ms = manager.observe(event)
          if (ms !== undefined) schedule(ms)
        }
      } catch (e) {
        if (ctl.signal.aborted) break
        log(`controllers: watch failed, resyncing: ${errorText(e)}`)
        await new Promise((r) => setTimeout(r, WATCH_RETRY_MS))
      }
    }
  })()

  const resyncEvery = opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS
  const resyncTimer =
    resyncEvery > 0
      ? setInterval(() => {
          resyncDue = true
          schedule(0)
        }, resyncEvery)
      : undefined
  ;(resyncTimer as { unref?: () => void } | undefined)?.unref?.()

  return {
    manager,
    async stop() {
      ctl.abort()
      if (timer !== undefined) clearTimeout(timer)
      if (resyncTimer !== undefined) clearInterval(resyncTimer)
      await running
      await watching
    },
  }
}

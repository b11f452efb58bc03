// Test Worker: the real ClusterStore with a small BackgroundWork that copies each key written under
// /registry/in/ to /registry/out/ from the alarm, through the in-object LocalStore: enough to see the
// seam the control loops use (observe on write, run from a coalesced alarm, compaction alongside).
import {
  ClusterStore as StoreObject,
  type BackgroundWork,
} from '../../src/storage/durable/cluster-store'
import { LocalStore } from '../../src/storage/durable/local-store'
import { isStoreError } from '../../src/storage/store'

export { default } from '../storage/worker'

export class ClusterStore extends StoreObject {
  protected override startBackground(): BackgroundWork {
    const store = new LocalStore(this)
    const pending = new Set<string>()
    let runs = 0
    return {
      observe(e) {
        if (e.type !== 'put' || !e.kv.key.startsWith('/registry/in/')) return undefined
        pending.add(e.kv.key)
        return 50
      },
      async run() {
        runs++
        for (const key of [...pending]) {
          pending.delete(key)
          const { kv } = await store.get(key)
          if (!kv) continue
          const out = key.replace('/registry/in/', '/registry/out/')
          try {
            await store.create(out, JSON.stringify({ value: kv.value, run: runs }))
          } catch (e) {
            if (!isStoreError(e, 'KeyExists')) throw e
          }
        }
        return undefined
      },
    }
  }
}

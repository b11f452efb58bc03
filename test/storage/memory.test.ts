// The Store contract against the in-memory store most unit tests run on (test/helpers/memory-store.ts),
// so that what they rely on is what the Durable Object and etcd do.
import { storeContract } from './contract'
import { MemoryStore } from '../helpers/memory-store'

storeContract('MemoryStore (unit tests)', async () => ({
  store: new MemoryStore(),
  cleanup: async () => {},
}))

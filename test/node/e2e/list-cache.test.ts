// test/e2e/list-cache.test.ts, unchanged, against Node mode on etcd: its LocalServer is swapped for one that
// starts etcd and dist/node.js (test/node/harness.ts), and the admin is a client certificate.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../e2e/harness')>()),
  LocalServer: (await import('../harness')).NodeModeLocalServer,
}))

await import('../../e2e/list-cache.test')

// test/e2e/flowcontrol.test.ts, unchanged, against Node mode on etcd: its LocalServer is swapped for one
// that starts etcd and dist/node.js (test/node/harness.ts) with the default 400 + 200 seats.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../e2e/harness')>()),
  LocalServer: (await import('../harness')).NodeModeLocalServer,
}))

await import('../../e2e/flowcontrol.test')

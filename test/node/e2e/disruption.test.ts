// test/e2e/disruption.test.ts, unchanged, against Node mode on etcd: its LocalServer is swapped for one that
// starts etcd and dist/node.js (test/node/harness.ts), where the disruption controller runs on timers over
// etcd's watch instead of the Durable Object's alarm.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../e2e/harness')>()),
  LocalServer: (await import('../harness')).NodeModeLocalServer,
}))

await import('../../e2e/disruption.test')

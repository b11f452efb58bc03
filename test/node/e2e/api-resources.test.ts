// test/e2e/api-resources.test.ts, unchanged, against Node mode on etcd.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../e2e/harness')>()),
  LocalServer: (await import('../harness')).NodeModeLocalServer,
}))

await import('../../e2e/api-resources.test')

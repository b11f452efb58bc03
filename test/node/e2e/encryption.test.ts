// test/e2e/encryption.test.ts, unchanged, against Node mode on etcd: --encryption-provider-config is kube's
// flag, and the store's bytes are what etcdctl gets.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../e2e/harness')>()),
  LocalServer: (await import('../harness')).NodeModeLocalServer,
}))

await import('../../e2e/encryption.test')

// test/e2e/agent-tunnel.test.ts, unchanged, against Node mode on etcd: the tunnel's server end is in the
// Node process (src/tunnel/registry.ts) rather than a NodeTunnel Durable Object.
import { vi } from 'vitest'

vi.mock('../../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../e2e/harness')>()),
  LocalServer: (await import('../harness')).NodeModeLocalServer,
}))

await import('../../e2e/agent-tunnel.test')

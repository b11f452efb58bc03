// The kubectl end-to-end suite written for `npm start` (test/e2e), run unchanged against Node mode on
// etcd: its LocalServer is swapped for one that starts etcd and dist/node.js. Opt in with
// EDGE_E2E_NODE=1 until that suite passes against npm start (it is being finished there).
import { it, vi } from 'vitest'

vi.mock('../e2e/harness', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../e2e/harness')>()),
  LocalServer: (await import('./harness')).NodeModeLocalServer,
}))

if (process.env.EDGE_E2E_NODE) {
  await import('../e2e/kubectl-basics.test')
} else {
  it.skip('runs test/e2e/kubectl-basics.test.ts against Node mode (EDGE_E2E_NODE=1)', () => {})
}

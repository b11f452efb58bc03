import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end suites start servers on loopback ports; run files one at a time on these 2-core machines.
    fileParallelism: false,
    globalSetup: ['test/global-setup.ts'],
  },
})

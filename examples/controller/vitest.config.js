import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.js'],
    // A server takes a second or two to start on a busy machine; a cluster per test, milliseconds.
    hookTimeout: 60_000,
  },
})

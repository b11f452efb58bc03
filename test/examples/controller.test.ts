// examples/controller (a controller written with @kubernetes/client-node, tested against
// edge-apiserver/testing with vitest and with node --test) runs as a user runs it: `npm test` in its
// directory, with the package as its dependency (the root's workspace: `npm ci` here links it and
// installs nothing more, its dependencies being this package's own).
import { join, resolve } from 'node:path'
import { beforeAll, expect, it } from 'vitest'
import { run } from '../helpers/process'

const ROOT = resolve(__dirname, '..', '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

beforeAll(async () => {
  // dist/testing.js (what `edge-apiserver/testing` resolves to) from this tree's sources: `npm ci` builds
  // it, but a working tree moves on after that.
  const built = await run(NPM, ['run', 'build:testing-js', '--silent'], { cwd: ROOT })
  expect(built.stderr).toBe('')
}, 120_000)

it('passes its own tests, under vitest and node --test', async () => {
  const r = await run(NPM, ['test'], {
    cwd: join(ROOT, 'examples', 'controller'),
    timeoutMs: 240_000,
    // Its vitest, not this one's: nothing of this run's environment is passed on.
    env: {
      VITEST: '',
      VITEST_MODE: '',
      VITEST_POOL_ID: '',
      VITEST_WORKER_ID: '',
      NODE_ENV: '',
      FORCE_COLOR: '0',
      NO_COLOR: '1',
    },
  })
  const out = r.stdout + r.stderr
  expect(out, out).toMatch(/Tests\s+5 passed \(5\)/)
  expect(out, out).toMatch(/# pass 2\n# fail 0/)
  expect(r.code, out).toBe(0)
}, 300_000)

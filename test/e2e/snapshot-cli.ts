// Runs `npm run snapshot` (src/node/snapshot/cli.ts) as a user does, built once per test file into a file
// of its own, so test files running at once do not write over each other's build; the build is removed
// when the file's tests end (each test file loads this module afresh).
import { existsSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll } from 'vitest'
import { run, type RunResult } from '../helpers/process'

const ROOT = resolve(__dirname, '..', '..')
const OUT = join(ROOT, 'dist', `snapshot-test-${process.pid}.js`)
let built: Promise<void> | undefined
afterAll(() => rmSync(OUT, { force: true }))

function build(): Promise<void> {
  built ??= run(
    join(ROOT, 'node_modules', '.bin', 'esbuild'),
    [
      'src/node/snapshot/cli.ts',
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--packages=external',
      `--outfile=${OUT}`,
      '--log-level=warning',
    ],
    { cwd: ROOT, timeoutMs: 120_000 },
  ).then((r) => {
    if (r.code !== 0 || !existsSync(OUT))
      throw new Error(`building the snapshot command failed: ${r.stderr}`)
  })
  return built
}

/** The snapshot command with these arguments; its stderr carries progress and the verification. */
export async function snapshotCommand(...args: string[]): Promise<RunResult> {
  await build()
  return run(process.execPath, [OUT, ...args], { cwd: ROOT, timeoutMs: 300_000 })
}

/** The same, failing the test with what it said unless it succeeded. */
export async function snapshotOk(...args: string[]): Promise<string> {
  const r = await snapshotCommand(...args)
  if (r.code !== 0)
    throw new Error(`snapshot ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`)
  return r.stderr
}

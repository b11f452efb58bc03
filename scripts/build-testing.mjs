#!/usr/bin/env node
// npm run build:testing (and prepare, so a fresh clone's npm ci has it): edge-apiserver/testing as
// dist/testing.js, and its declarations under dist/types. tsc writes the project's extensionless relative
// imports into the .d.ts files as they are; a consumer's TypeScript under node16/nodenext resolution only
// follows them with the extension, so it is added.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
await build({
  entryPoints: [join(root, 'src', 'node', 'testing', 'index.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile: join(root, 'dist', 'testing.js'),
  logLevel: 'warning',
})
// npm run build:testing-js: what running it needs, without the declarations (tsc takes seconds).
if (process.argv.includes('--js-only')) process.exit(0)
const types = join(root, 'dist', 'types')
rmSync(types, { recursive: true, force: true })
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.testing.json')], { stdio: 'inherit' })
for (const e of readdirSync(types, { recursive: true, withFileTypes: true })) {
  if (!e.isFile() || !e.name.endsWith('.d.ts')) continue
  const path = join(e.parentPath, e.name)
  const text = readFileSync(path, 'utf8')
  writeFileSync(path, text.replace(/(from '\.{1,2}\/[^']+?)(?<!\.js)'/g, "$1.js'"))
}

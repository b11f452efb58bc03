#!/usr/bin/env node
// edge-apiserver-agent: bundles the agent (src/node/agent/main.ts) once into dist/agent.js, as
// build:agent does, and runs it with this command's arguments.
import { existsSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'agent.js')
const entry = join(root, 'src', 'node', 'agent', 'main.ts')
if (!existsSync(out) || (existsSync(entry) && statSync(entry).mtimeMs > statSync(out).mtimeMs)) {
  const { build } = await import('esbuild')
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: out, logLevel: 'warning' })
}
await import(pathToFileURL(out).href)

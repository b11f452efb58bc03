#!/usr/bin/env node
// edge-apiserver-agent: bundles the agent (src/node/agent/main.ts) into dist/agent.js, as build:agent
// does (in a clone with its sources and esbuild; a tree without them runs the bundle it has), and runs it
// with this command's arguments.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'agent.js')
const entry = join(root, 'src', 'node', 'agent', 'main.ts')
if (existsSync(entry)) {
  const { build } = await import('esbuild')
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: out, logLevel: 'warning' })
}
await import(pathToFileURL(out).href)

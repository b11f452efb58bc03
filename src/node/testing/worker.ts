// The Worker as `wrangler dev` runs it, for Miniflare: its configuration read from wrangler.toml (the one
// source wrangler deploys from too) and src/worker.ts bundled as wrangler bundles it.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, version as esbuildVersion, type Loader } from 'esbuild'
import { parse } from 'smol-toml'

/** This package's root: where wrangler.toml and src/ are, from src/node/testing or from its bundle. */
export const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'wrangler.toml'))) {
    const up = dirname(dir)
    if (up === dir)
      throw new Error('edge-apiserver/testing: cannot find the package with wrangler.toml')
    dir = up
  }
  return dir
})()

/** What Miniflare needs of wrangler.toml. */
export interface WorkerConfig {
  name: string
  main: string
  compatibilityDate: string
  compatibilityFlags: string[]
  /** Binding name to class, SQLite-backed when a migration made it a new_sqlite_class (as wrangler does). */
  durableObjects: Record<string, { className: string; useSQLite: boolean }>
  /** [vars], as text (wrangler passes JSON values as JSON text bindings; ours are strings). */
  vars: Record<string, string>
  /** The [[rules]] as esbuild loaders by file extension ("**\/*.sql" Text: .sql as text). */
  loaders: Record<string, Loader>
}

interface WranglerToml {
  name?: string
  main?: string
  compatibility_date?: string
  compatibility_flags?: string[]
  durable_objects?: { bindings?: { name: string; class_name: string; script_name?: string }[] }
  migrations?: { new_sqlite_classes?: string[]; new_classes?: string[] }[]
  rules?: { type: string; globs: string[] }[]
  vars?: Record<string, unknown>
}

/** wrangler's module rule types as esbuild loaders, for the ones a glob of *.ext can say. */
const RULE_LOADERS: Record<string, Loader> = { Text: 'text', Data: 'binary' }
/** The rules wrangler adds after a project's own (its CompiledWasm one aside). */
const DEFAULT_RULES = [
  { type: 'Text', globs: ['**/*.txt', '**/*.html', '**/*.sql'] },
  { type: 'Data', globs: ['**/*.bin'] },
]

let config: WorkerConfig | undefined

export function workerConfig(): WorkerConfig {
  if (config) return config
  const toml = parse(readFileSync(join(PACKAGE_ROOT, 'wrangler.toml'), 'utf8')) as WranglerToml
  if (!toml.main || !toml.compatibility_date)
    throw new Error('wrangler.toml: main and compatibility_date are required')
  const sqlite = new Set((toml.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []))
  const loaders: Record<string, Loader> = {}
  // wrangler takes the first rule that matches, a project's before its own: the first is set last here.
  for (const rule of [...(toml.rules ?? []), ...DEFAULT_RULES].reverse()) {
    const loader = RULE_LOADERS[rule.type]
    if (!loader) throw new Error(`wrangler.toml: rules of type ${rule.type} are not supported here`)
    for (const glob of rule.globs) {
      const ext = /^\*\*\/\*(\.[\w.]+)$/.exec(glob)?.[1]
      if (!ext) throw new Error(`wrangler.toml: rule glob ${glob} is not of the form **/*.ext`)
      loaders[ext] = loader
    }
  }
  config = {
    name: toml.name ?? 'worker',
    main: toml.main,
    compatibilityDate: toml.compatibility_date,
    compatibilityFlags: toml.compatibility_flags ?? [],
    durableObjects: Object.fromEntries(
      (toml.durable_objects?.bindings ?? []).map((b) => {
        if (b.script_name) throw new Error(`wrangler.toml: ${b.name} names another script`)
        return [b.name, { className: b.class_name, useSQLite: sqlite.has(b.class_name) }]
      }),
    ),
    vars: Object.fromEntries(
      Object.entries(toml.vars ?? {}).map(([k, v]) => [
        k,
        typeof v === 'string' ? v : JSON.stringify(v),
      ]),
    ),
    loaders,
  }
  return config
}

let bundle: Promise<string> | undefined

/**
 * The Worker's entry bundled as wrangler bundles it for workerd (its build conditions and target, ES
 * modules, cloudflare:* left to the runtime), once per process: every server started in it shares it.
 * Bundling takes about a second, and each test file runs in a process of its own, so the bundle is kept
 * under node_modules/.cache/edge-apiserver with the size and mtime of every file it was made of, and used
 * again while none of them changed.
 */
export function workerBundle(): Promise<string> {
  bundle ??= cachedBundle()
  bundle.catch(() => (bundle = undefined))
  return bundle
}

const CACHE_DIR = join(PACKAGE_ROOT, 'node_modules', '.cache', 'edge-apiserver')

interface BundleStamp {
  esbuild: string
  /** Path (relative to the package) to "size:mtimeMs" of every input, wrangler.toml included. */
  inputs: Record<string, string>
}

function stampOf(path: string): string | undefined {
  try {
    const st = statSync(join(PACKAGE_ROOT, path))
    return `${st.size}:${st.mtimeMs}`
  } catch {
    return undefined
  }
}

async function cachedBundle(): Promise<string> {
  // One file, its first line the stamp, so that a process never pairs one bundle with another's stamp.
  const cachePath = join(CACHE_DIR, 'worker.mjs')
  try {
    const cached = readFileSync(cachePath, 'utf8')
    const stamp = JSON.parse(cached.slice(3, cached.indexOf('\n'))) as BundleStamp
    if (
      stamp.esbuild === esbuildVersion &&
      Object.entries(stamp.inputs).every(([path, s]) => stampOf(path) === s)
    )
      return cached
  } catch {
    /* none yet, or unreadable: bundle */
  }
  const c = workerConfig()
  const result = await build({
    entryPoints: [join(PACKAGE_ROOT, c.main)],
    absWorkingDir: PACKAGE_ROOT,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2024',
    keepNames: true,
    external: ['cloudflare:*'],
    define: { 'process.env.NODE_ENV': '"development"' },
    loader: c.loaders,
    logLevel: 'silent',
  })
  const inputs: Record<string, string> = {}
  for (const path of [...Object.keys(result.metafile.inputs), 'wrangler.toml']) {
    const s = stampOf(path)
    if (s) inputs[path] = s
  }
  const stamp: BundleStamp = { esbuild: esbuildVersion, inputs }
  const code = `// ${JSON.stringify(stamp)}\n${result.outputFiles[0]!.text}`
  // Another process may write it at once: each writes a file of its own and renames it into place.
  try {
    mkdirSync(CACHE_DIR, { recursive: true })
    const tmp = `${cachePath}.${process.pid}.${Date.now()}`
    writeFileSync(tmp, code)
    renameSync(tmp, cachePath)
  } catch {
    /* a read-only install: bundle every time */
  }
  return code
}

// Runs the real ClusterStore on workerd through Miniflare, driven from Node by the real DurableStore.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
import type { ClusterStoreStub } from '../../src/storage/durable/client'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The Worker's compatibility settings, from wrangler.toml, so the tests run what deploys. */
function compatibility(): { compatibilityDate: string; compatibilityFlags: string[] } {
  const toml = readFileSync(`${root}wrangler.toml`, 'utf8')
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1]
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? ''
  if (!date) throw new Error('wrangler.toml has no compatibility_date')
  return {
    compatibilityDate: date,
    compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]!),
  }
}

const bundles = new Map<string, Promise<string>>()

/** test/storage/worker.ts (or another test Worker) and the store, bundled as wrangler would (SQL files as text). */
function bundleWorker(entry = 'test/storage/worker.ts'): Promise<string> {
  let bundle = bundles.get(entry)
  if (!bundle)
    bundles.set(
      entry,
      (bundle = build({
        entryPoints: [`${root}${entry}`],
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'neutral',
        target: 'es2022',
        external: ['cloudflare:*'],
        loader: { '.sql': 'text' },
        logLevel: 'silent',
      }).then((r) => r.outputFiles[0]!.text)),
    )
  return bundle
}

export interface StartOptions {
  /** Keep Durable Object storage in this directory across instances. */
  persist?: string
  bindings?: Record<string, string>
  /** The test Worker to run, relative to the repository (default test/storage/worker.ts). */
  entry?: string
}

export async function startMiniflare(opts: StartOptions = {}): Promise<Miniflare> {
  const mf = new Miniflare({
    modules: [{ type: 'ESModule', path: 'worker.mjs', contents: await bundleWorker(opts.entry) }],
    ...compatibility(),
    durableObjects: { CLUSTER: { className: 'ClusterStore', useSQLite: true } },
    durableObjectsPersist: opts.persist ?? false,
    bindings: opts.bindings ?? {},
  })
  await mf.ready
  return mf
}

/** A ClusterStoreStub for the object named `cluster`, through the test Worker. */
export function clusterStub(mf: Miniflare, cluster: string): ClusterStoreStub {
  const base = `http://store.test`
  const name = encodeURIComponent(cluster)
  const rpc =
    (method: string) =>
    async (...args: unknown[]): Promise<never> => {
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop() // JSON would make them null
      const res = await mf.dispatchFetch(`${base}/rpc/${name}/${method}`, {
        method: 'POST',
        body: JSON.stringify(args),
      })
      if (!res.ok) throw new Error(`${method}: HTTP ${res.status}: ${await res.text()}`)
      return (await res.json()) as never
    }
  return {
    get: rpc('get'),
    list: rpc('list'),
    readBatch: rpc('readBatch'),
    create: rpc('create'),
    update: rpc('update'),
    delete: rpc('delete'),
    compact: rpc('compact'),
    currentRevision: rpc('currentRevision'),
    lastChange: rpc('lastChange'),
    fetch: async (url, init) => {
      const u = new URL(url)
      const res = await mf.dispatchFetch(`${base}/fetch/${name}${u.pathname}${u.search}`, init)
      return res as unknown as Awaited<ReturnType<ClusterStoreStub['fetch']>>
    },
  }
}

// npm run snapshot -- <command>: snapshots of a cluster, their restore, and moving a cluster between the
// edge, Node mode and kube-apiserver's etcd (docs/snapshot-format.md).
//
//   save FILE      [--kubeconfig K]                         through a running server's /storage/snapshot
//   save FILE      --etcd-servers URL [--etcd-prefix P]      straight from etcd (kube-apiserver's: an import)
//                  [--encryption-provider-config F] [--keep-apiserver-state] [--event-ttl 1h]
//   restore FILE   [--kubeconfig K]                         into a running edge cluster (replaces it)
//   restore FILE   --etcd-servers URL [--etcd-prefix P] [--renumber]   into an empty etcd prefix
//   verify FILE (--kubeconfig K | --etcd-servers URL ...)   per resource, counts and checksums against a live one
//   diff A B                                                the same between two files
//   inspect FILE                                            header, trailer and per resource counts
import { createReadStream, createWriteStream, readFileSync } from 'node:fs'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parse } from 'yaml'
import { etcdClient } from '../../storage/etcd/client'
import { EtcdStore } from '../../storage/etcd/store'
import { EtcdSnapshots } from '../../storage/etcd/snapshots'
import {
  isSnapshotKey,
  keyValueOf,
  readSnapshot,
  SNAPSHOT_KEY_ROOT,
} from '../../storage/snapshot/format'
import { compareDigests, SnapshotDigest, type ResourceDigest } from '../../storage/snapshot/digest'
import { snapshotStream, type SnapshotSource } from '../../storage/snapshot/stream'
import { parseGoDuration } from '../../go/duration'
import type { Store } from '../../storage/store'
import { Progress } from './progress'
import { restoreIntoEtcd } from './etcd-restore'
import { DEFAULT_EVENT_TTL_MS, kubeApiserverSkipRules, SkipCounter } from './kube-state'
import { errorText } from '../../util/errors'

const SNAPSHOT_PATH = '/storage/snapshot'

interface Args {
  positional: string[]
  flags: Map<string, string>
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = []
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) {
      positional.push(a)
      continue
    }
    const eq = a.indexOf('=')
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1))
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i])
    else flags.set(a.slice(2), 'true')
  }
  return { positional, flags }
}

// ---- a running server, through the kubeconfig's current context ----

interface Connection {
  url: URL
  options: RequestOptions
}

function connect(kubeconfigPath: string): Connection {
  const cfg = parse(readFileSync(kubeconfigPath, 'utf8')) as {
    'current-context': string
    contexts: { name: string; context: { cluster: string; user: string } }[]
    clusters: { name: string; cluster: Record<string, string | boolean> }[]
    users: { name: string; user: Record<string, string> }[]
  }
  const ctx = cfg.contexts.find((c) => c.name === cfg['current-context'])!.context
  const cluster = cfg.clusters.find((c) => c.name === ctx.cluster)!.cluster
  const user = cfg.users.find((u) => u.name === ctx.user)?.user ?? {}
  const data = (inline: unknown, file: unknown) =>
    typeof inline === 'string'
      ? Buffer.from(inline, 'base64')
      : typeof file === 'string'
        ? readFileSync(file)
        : undefined
  const headers: Record<string, string> = {}
  if (user.token) headers.Authorization = `Bearer ${user.token}`
  return {
    url: new URL(String(cluster.server)),
    options: {
      headers,
      ca: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
      cert: data(user['client-certificate-data'], user['client-certificate']),
      key: data(user['client-key-data'], user['client-key']),
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    },
  }
}

function call(
  conn: Connection,
  method: string,
  path: string,
  body?: NodeJS.ReadableStream,
  contentType?: string,
): Promise<IncomingMessage> {
  // Under the server's own path, as client-go puts a request under its base path: a kubeconfig of a
  // cluster at /clusters/<name> reaches that cluster's /storage/snapshot, not the default cluster's.
  const url = new URL(conn.url)
  url.pathname = conn.url.pathname.replace(/\/+$/, '') + path
  const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
    ...conn.options,
    method,
    headers: { ...conn.options.headers, ...(contentType ? { 'Content-Type': contentType } : {}) },
  })
  return new Promise((resolve, reject) => {
    req.on('response', resolve)
    req.on('error', reject)
    if (body) body.pipe(req)
    else req.end()
  })
}

async function failure(res: IncomingMessage, what: string): Promise<Error> {
  let text = ''
  for await (const c of res) text += c
  let message = text
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text
  } catch {
    // not a Status
  }
  return new Error(`${what}: HTTP ${res.statusCode}: ${message}`)
}

// ---- etcd straight ----

async function etcdStore(flags: Map<string, string>): Promise<{ store: Store; raw: EtcdStore }> {
  const client = etcdClient({
    endpoints: flags.get('etcd-servers')!.split(','),
    caFile: flags.get('etcd-cafile'),
    certFile: flags.get('etcd-certfile'),
    keyFile: flags.get('etcd-keyfile'),
    requestTimeoutMs: 60_000,
  })
  const raw = new EtcdStore(client, { prefix: flags.get('etcd-prefix') ?? '/registry' })
  const configFile = flags.get('encryption-provider-config')
  if (!configFile) return { store: raw, raw }
  // Values kube-apiserver encrypted are decrypted with its own EncryptionConfiguration; the file then
  // holds them in the clear, and the target encrypts them as its configuration says when they are next written.
  // Loaded only here: the registry's schemas are most of the command's start-up time.
  const { loadEncryptionConfiguration, TransformingStore } = await import('../../storage/value')
  const { storageResources } = await import('../../storage/value/transforming-store')
  const { Registry } = await import('../../registry/registry')
  const { builtinResources } = await import('../../registry/builtin')
  const transformers = loadEncryptionConfiguration(readFileSync(configFile, 'utf8'), configFile)
  const store = new TransformingStore(raw, transformers, {
    resourceOf: storageResources(new Registry(builtinResources).all()),
    authenticatedData: (key) => raw.etcdKeyOf(key),
  })
  return { store, raw }
}

// ---- the snapshot in a file ----

async function digestOfFile(
  file: string,
  withRevisions: boolean,
): Promise<Record<string, ResourceDigest>> {
  const d = new SnapshotDigest(withRevisions)
  for await (const item of readSnapshot(createReadStream(file, { highWaterMark: 1 << 20 })))
    if (item.type === 'records') for (const r of item.records) d.add(keyValueOf(r))
  return d.result()
}

async function digestOfStream(
  stream: AsyncIterable<Uint8Array>,
  withRevisions: boolean,
): Promise<Record<string, ResourceDigest>> {
  const d = new SnapshotDigest(withRevisions)
  for await (const item of readSnapshot(stream))
    if (item.type === 'records') for (const r of item.records) d.add(keyValueOf(r))
  return d.result()
}

/** A snapshot of the live cluster, read only to be compared. */
async function liveSnapshot(flags: Map<string, string>): Promise<AsyncIterable<Uint8Array>> {
  if (flags.has('etcd-servers')) {
    const { store, raw } = await etcdStore(flags)
    const stream = snapshotStream(new EtcdSnapshots(store), { cluster: '', source: 'etcd' })
    return (async function* () {
      try {
        for await (const c of stream as unknown as AsyncIterable<Uint8Array>) yield c
      } finally {
        raw.close()
      }
    })()
  }
  const res = await call(connect(kubeconfigOf(flags)), 'GET', SNAPSHOT_PATH)
  if (res.statusCode !== 200) throw await failure(res, 'snapshot')
  return res
}

function kubeconfigOf(flags: Map<string, string>): string {
  const k = flags.get('kubeconfig') ?? process.env.KUBECONFIG
  if (!k)
    throw new Error('--kubeconfig (or KUBECONFIG) names the server, or --etcd-servers the etcd')
  return k
}

/** Compares the file with the live cluster, per resource; prints and returns the differences. */
async function verify(
  file: string,
  flags: Map<string, string>,
  withRevisions: boolean,
): Promise<number> {
  const expected = await digestOfFile(file, withRevisions)
  const actual = await digestOfStream(await liveSnapshot(flags), withRevisions)
  return report(expected, actual, 'snapshot', 'cluster')
}

function report(
  a: Record<string, ResourceDigest>,
  b: Record<string, ResourceDigest>,
  aName: string,
  bName: string,
): number {
  const diffs = compareDigests(a, b)
  const resources = Object.keys(a).length
  const objects = Object.values(a).reduce((n, d) => n + d.count, 0)
  if (diffs.length === 0) {
    process.stderr.write(
      `verify: ${objects} objects in ${resources} resources match (counts and checksums)\n`,
    )
    return 0
  }
  for (const d of diffs)
    process.stderr.write(
      `verify: ${d.resource}: ${aName} ${d.source?.count ?? 0} objects ${d.source?.sha256.slice(0, 12) ?? '-'}, ` +
        `${bName} ${d.target?.count ?? 0} objects ${d.target?.sha256.slice(0, 12) ?? '-'}\n`,
    )
  process.stderr.write(`verify: ${diffs.length} resources differ\n`)
  return 1
}

// ---- commands ----

/** The source without what `skips` leaves out, counting what it reads for the progress line. */
function filtered(source: SnapshotSource, skips: SkipCounter, progress: Progress): SnapshotSource {
  return {
    beginSnapshot: async () => {
      const p = await source.beginSnapshot()
      progress.setTotal(p.count)
      return p
    },
    snapshotPage: async (revision, after, limit) => {
      // A page whose keys were all left out does not end the paging: the last key read carries it on.
      for (;;) {
        const page = await source.snapshotPage(revision, after, limit)
        progress.add(
          page.kvs.length,
          page.kvs.reduce((n, kv) => n + kv.value.length, 0),
        )
        const kvs = page.kvs.filter((kv) => skips.keep(kv))
        const last = page.kvs[page.kvs.length - 1]?.key
        if (kvs.length > 0 || !page.more || last === undefined)
          return { kvs, more: page.more, after: last }
        after = last
      }
    },
  }
}

async function save(file: string, flags: Map<string, string>): Promise<number> {
  const out = createWriteStream(file)
  let progress: Progress | undefined
  if (flags.has('etcd-servers')) {
    const { store, raw } = await etcdStore(flags)
    const keepApiserverState = flags.get('keep-apiserver-state') === 'true'
    const ttl = flags.has('event-ttl')
      ? parseGoDuration(flags.get('event-ttl')!)
      : DEFAULT_EVENT_TTL_MS
    const skips = new SkipCounter(keepApiserverState ? [] : kubeApiserverSkipRules(ttl))
    progress = new Progress('save', undefined)
    const source = filtered(new EtcdSnapshots(store), skips, progress)
    try {
      await pipeline(
        Readable.fromWeb(
          snapshotStream(source, {
            cluster: flags.get('etcd-prefix') ?? '/registry',
            source: 'etcd',
          }) as never,
        ),
        out,
      )
    } finally {
      raw.close()
    }
    progress.done()
    for (const [reason, n] of skips.counts) process.stderr.write(`save: skipped ${n}: ${reason}\n`)
    if (skips.total > 0) process.stderr.write(`save: skipped ${skips.total} in all\n`)
    return 0
  }
  const res = await call(connect(kubeconfigOf(flags)), 'GET', SNAPSHOT_PATH)
  if (res.statusCode !== 200) throw await failure(res, 'snapshot')
  progress = new Progress('save', undefined)
  let headerSeen = false
  res.on('data', (c: Buffer) => {
    if (!headerSeen) {
      const nl = c.indexOf(10)
      if (nl > 0) {
        headerSeen = true
        try {
          progress!.setTotal((JSON.parse(c.subarray(0, nl).toString()) as { count: number }).count)
        } catch {
          // the reader below says what is wrong with it
        }
      }
    }
    progress!.add(c.indexOf(10) >= 0 ? countLines(c) : 0, c.length)
  })
  await pipeline(res, out)
  progress.settle(Math.max(0, progress.count - 2)) // the header and trailer lines
  progress.done()
  return 0
}

function countLines(c: Buffer): number {
  let n = 0
  for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) n++
  return n
}

async function restore(file: string, flags: Map<string, string>): Promise<number> {
  const header = await firstLine(file)
  const progress = new Progress('restore', header.count)
  if (flags.has('etcd-servers')) {
    const { raw } = await etcdStore(flags)
    // An older file's records outside /registry/ (the server's own bookkeeping) stay out: under the
    // prefix they would read back as /registry/... keys that are no object of kube's.
    const leftOut = new Set<string>()
    try {
      const r = await restoreIntoEtcd(file, raw.client, {
        prefix: flags.get('etcd-prefix'),
        renumber: flags.get('renumber') === 'true',
        progress,
        transform: (kv) => {
          if (isSnapshotKey(kv.key)) return kv
          leftOut.add(kv.key)
          return undefined
        },
      })
      progress.done()
      leftOutLine(leftOut.size)
      process.stderr.write(
        `restore: ${r.count} objects at revision ${r.header.revision}` +
          (r.renumbered
            ? `, renumbered up to revision ${r.revision}\n`
            : `; etcd is at revision ${r.revision}\n`),
      )
      if (!r.renumbered && r.approximated > 0)
        process.stderr.write(
          `restore: ${r.approximated} keys kept their mod revision but not their create revision ` +
            'or version (etcd was past the first, or too few revisions lay between them)\n',
        )
      if (flags.get('verify') === 'false') return 0
      return await verify(file, flags, !r.renumbered)
    } finally {
      raw.close()
    }
  }
  const conn = connect(kubeconfigOf(flags))
  const body = createReadStream(file, { highWaterMark: 1 << 20 })
  body.on('data', (c) => progress.add(countLines(c as Buffer), c.length))
  const res = await call(
    conn,
    'POST',
    SNAPSHOT_PATH,
    body,
    'application/vnd.edge-apiserver.snapshot+jsonl',
  )
  if (res.statusCode !== 200) throw await failure(res, 'restore')
  let text = ''
  for await (const c of res) text += c
  const r = JSON.parse(text) as { count: number; revision: number; leftOut?: number }
  progress.settle(r.count)
  progress.done()
  leftOutLine(r.leftOut ?? 0)
  process.stderr.write(`restore: ${r.count} objects at revision ${r.revision}\n`)
  if (flags.get('verify') === 'false') return 0
  return await verify(file, flags, true)
}

function leftOutLine(n: number): void {
  if (n > 0)
    process.stderr.write(
      `restore: left out ${n} keys outside ${SNAPSHOT_KEY_ROOT} (the server's own bookkeeping, ` +
        'which the target keeps for itself)\n',
    )
}

async function firstLine(file: string): Promise<{ count: number; revision: number }> {
  for await (const item of readSnapshot(createReadStream(file, { highWaterMark: 1 << 16 })))
    if (item.type === 'header') return item.header
  throw new Error('snapshot: no header')
}

async function inspect(file: string): Promise<number> {
  const d = new SnapshotDigest(true)
  let header: unknown
  let trailer: unknown
  for await (const item of readSnapshot(createReadStream(file, { highWaterMark: 1 << 20 }))) {
    if (item.type === 'header') header = item.header
    else if (item.type === 'records') for (const r of item.records) d.add(keyValueOf(r))
    else trailer = item.trailer
  }
  const resources = Object.fromEntries(Object.entries(d.result()).map(([r, x]) => [r, x.count]))
  process.stdout.write(JSON.stringify({ header, trailer, resources }, null, 2) + '\n')
  return 0
}

const USAGE = `usage: npm run snapshot -- <save|restore|verify|diff|inspect> FILE [flags]
  save FILE     [--kubeconfig K] | --etcd-servers URL [--etcd-prefix /registry]
                [--encryption-provider-config F] [--keep-apiserver-state] [--event-ttl 1h]
  restore FILE  [--kubeconfig K] | --etcd-servers URL [--etcd-prefix /registry] [--renumber]
                [--verify=false]
  verify FILE   [--kubeconfig K] | --etcd-servers URL [--etcd-prefix /registry] [--renumbered]
  diff A B
  inspect FILE`

export async function main(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv)
  const [command, file, other] = positional
  if (!command || !file || flags.has('help')) {
    process.stderr.write(USAGE + '\n')
    return command ? 2 : flags.has('help') ? 0 : 2
  }
  switch (command) {
    case 'save':
      return save(file, flags)
    case 'restore':
      return restore(file, flags)
    case 'verify':
      return verify(file, flags, flags.get('renumbered') !== 'true')
    case 'diff':
      if (!other) break
      return report(await digestOfFile(file, true), await digestOfFile(other, true), file, other)
    case 'inspect':
      return inspect(file)
  }
  process.stderr.write(USAGE + '\n')
  return 2
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`error: ${errorText(e)}\n`)
    process.exit(1)
  },
)

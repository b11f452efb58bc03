// `npm run snapshot` straight against etcd: a save at one revision with the compacted revision found,
// a restore into a fresh etcd that gives every key its own mod revision back across gaps, the refusal of
// an etcd already past the snapshot's revisions, and --renumber for that case.
import { Etcd3 } from 'etcd3'
import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { snapshotCommand, snapshotOk } from '../e2e/snapshot-cli'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'

const dir = mkdtempSync(join(tmpdir(), 'edge-snapshot-etcd-'))
const clusters: EtcdCluster[] = []
const clients: Etcd3[] = []
afterAll(async () => {
  for (const c of clients) c.close()
  for (const e of clusters) await e.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function etcd(): Promise<{ endpoints: string; client: Etcd3 }> {
  const e = await startEtcd()
  clusters.push(e)
  const client = new Etcd3({ hosts: e.endpoints })
  clients.push(client)
  return { endpoints: e.endpoints.join(','), client }
}

async function revisions(client: Etcd3, prefix: string): Promise<Record<string, number>> {
  const r = await client.getAll().prefix(prefix).exec()
  return Object.fromEntries(r.kvs.map((kv) => [kv.key.toString(), Number(kv.mod_revision)]))
}

/** Each key's mod revision, create revision and version: all that etcd keeps of a key's history. */
async function histories(client: Etcd3, prefix: string): Promise<Record<string, number[]>> {
  const r = await client.getAll().prefix(prefix).exec()
  return Object.fromEntries(
    r.kvs.map((kv) => [
      kv.key.toString(),
      [Number(kv.mod_revision), Number(kv.create_revision), Number(kv.version)],
    ]),
  )
}

function fileOf(path: string) {
  const lines = readFileSync(path, 'utf8').trim().split('\n')
  return {
    header: JSON.parse(lines[0]!) as {
      revision: number
      compacted_revision: number
      count: number
    },
    records: lines.slice(1, -1).map((l) => JSON.parse(l) as { key: string; mod_revision: number }),
  }
}

let source: { endpoints: string; client: Etcd3 }
const file = join(dir, 'source.snapshot')

beforeAll(async () => {
  source = await etcd()
  const c = source.client
  for (let i = 0; i < 5; i++) await c.put(`/registry/configmaps/a/c${i}`).value(`{"i":${i}}`)
  await c.put('/registry/configmaps/a/c1').value('{"i":"one"}')
  await c.delete().key('/registry/configmaps/a/c2')
  await c.put('/other/outside').value('x') // not the cluster's
  const compactAt = Number((await c.get('/registry/configmaps/a/c3').exec()).kvs[0]!.mod_revision)
  await c.put('/registry/configmaps/a/c4').value('{"i":"four"}')
  await c.delete().key('/registry/configmaps/a/c0')
  await c.kv.compact({ revision: String(compactAt), physical: true })
  await snapshotOk('save', file, '--etcd-servers', source.endpoints)
}, 120_000)

describe('npm run snapshot against etcd', () => {
  it('saves the keys under the prefix as of one revision, with the compacted revision', async () => {
    const { header, records } = fileOf(file)
    const current = Number((await source.client.get('/x').exec()).header.revision)
    expect(header.revision).toBe(current)
    const c3 = (await revisions(source.client, '/registry/configmaps/a/c3'))[
      '/registry/configmaps/a/c3'
    ]
    expect(header.compacted_revision).toBe(c3)
    expect(records.map((r) => r.key)).toEqual([
      '/registry/configmaps/a/c1',
      '/registry/configmaps/a/c3',
      '/registry/configmaps/a/c4',
    ])
    expect(Object.fromEntries(records.map((r) => [r.key, r.mod_revision]))).toEqual(
      await revisions(source.client, '/registry/'),
    )
  })

  it('restores into a fresh etcd with every mod revision kept across the gaps, at the snapshot revision', async () => {
    const target = await etcd()
    const out = await snapshotOk('restore', file, '--etcd-servers', target.endpoints)
    expect(out).toMatch(/restore: 3\/3 objects, [\d.]+ MB, \d+ objects\/s/)
    expect(out).toContain('verify: 3 objects in 1 resources match (counts and checksums)')
    // c1 and c4 were written twice: their create revision and version come back too.
    const kept = await histories(source.client, '/registry/')
    expect(kept['/registry/configmaps/a/c1']![2]).toBe(2)
    expect(await histories(target.client, '/registry/')).toEqual(kept)
    const { header } = fileOf(file)
    const now = Number((await target.client.get('/x').exec()).header.revision)
    expect(now).toBe(header.revision) // the snapshot ended with deletes: the filler's delete lands on it
    expect((await target.client.getAll().prefix('/registry.').keys()).length).toBe(0)
    // The history before the snapshot is compacted.
    await expect(
      target.client
        .get('/registry/configmaps/a/c1')
        .revision(header.revision - 2)
        .exec(),
    ).rejects.toThrow(/compacted/)
    const same = await target.client.get('/registry/configmaps/a/c1').string()
    expect(same).toBe('{"i":"one"}')
  })

  it('refuses an etcd past the snapshot revisions, and --renumber gives the keys new ones', async () => {
    const target = await etcd()
    for (let i = 0; i < 10; i++) await target.client.put('/elsewhere').value(String(i))
    const refused = await snapshotCommand('restore', file, '--etcd-servers', target.endpoints)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      /error: etcd is at revision 11, not below the snapshot's first revision \d+: etcd cannot give keys revisions it has passed/,
    )
    expect(await revisions(target.client, '/registry/')).toEqual({})
    const out = await snapshotOk('restore', file, '--etcd-servers', target.endpoints, '--renumber')
    expect(out).toContain('verify: 3 objects in 1 resources match')
    const revs = await revisions(target.client, '/registry/')
    expect(Object.keys(revs)).toEqual([
      '/registry/configmaps/a/c1',
      '/registry/configmaps/a/c3',
      '/registry/configmaps/a/c4',
    ])
    expect(Math.min(...Object.values(revs))).toBeGreaterThan(11)
  })

  it('gives back the create revision and version of every key of a long history, in batches', async () => {
    // Many keys written, rewritten, deleted and created again, with writes outside the prefix in
    // between: the restore writes many at once, in whatever order etcd takes them, and every key
    // must come back with all three revisions of the source.
    const src = await etcd()
    const c = src.client
    const names = Array.from({ length: 60 }, (_, i) => `/registry/secrets/ns/s${i}`)
    for (let round = 0; round < 8; round++)
      for (let i = 0; i < names.length; i++) {
        const pick = (i * 7 + round * 13) % 10
        if (pick < 6) await c.put(names[i]!).value(`{"round":${round},"i":${i}}`)
        else if (pick < 8) await c.delete().key(names[i]!)
        else await c.put(`/elsewhere/${i % 3}`).value(String(round))
      }
    // Long stretches of writes the file has no record of: a key written over and over, and writes
    // outside the prefix. The restore fills them without order, between the writes it orders.
    for (let i = 0; i < 20; i++) await c.put('/registry/secrets/ns/hot').value(`{"n":${i}}`)
    for (let i = 0; i < 30; i++) await c.put('/elsewhere/x').value(String(i))
    await c.put('/registry/secrets/ns/s1').value('{"last":true}')
    const long = join(dir, 'long.snapshot')
    await snapshotOk('save', long, '--etcd-servers', src.endpoints)
    const target = await etcd()
    const out = await snapshotOk('restore', long, '--etcd-servers', target.endpoints)
    expect(out).not.toContain('kept their mod revision but not')
    const kept = await histories(c, '/registry/')
    expect(Object.values(kept).some(([mod, create]) => create < mod)).toBe(true)
    expect(await histories(target.client, '/registry/')).toEqual(kept)
    expect(await target.client.getAll().prefix('/registry/').strings()).toEqual(
      await c.getAll().prefix('/registry/').strings(),
    )
    const { header } = fileOf(long)
    const now = Number((await target.client.get('/x').exec()).header.revision)
    expect([header.revision, header.revision + 1]).toContain(now)
  })

  it('refuses a prefix that is not empty', async () => {
    const again = await snapshotCommand('restore', file, '--etcd-servers', source.endpoints)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(
      'error: etcd holds 3 keys under /registry/: restore into an empty prefix',
    )
  })
})

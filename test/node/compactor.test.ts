// kube-apiserver's compaction loop on a real etcd: each round compacts to the revision the previous
// round saw, and servers sharing one etcd take turns instead of each compacting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCompactor } from '../../src/node/compactor'
import { etcdClient } from '../../src/storage/etcd/client'
import { EtcdStore } from '../../src/storage/etcd/store'
import { EtcdSnapshots } from '../../src/storage/etcd/snapshots'
import { StoreError } from '../../src/storage/store'
import { startEtcd, type EtcdCluster } from '../helpers/etcd'

let etcd: EtcdCluster
beforeAll(async () => {
  etcd = await startEtcd()
})
afterAll(async () => {
  await etcd?.stop()
})

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (e) {
    return e instanceof StoreError ? e.code : String(e)
  }
}

describe('etcd compactor', () => {
  it('compacts to the revision seen one round earlier, and never on the first round', async () => {
    const a = new EtcdStore(etcdClient({ endpoints: etcd.endpoints }))
    const b = new EtcdStore(etcdClient({ endpoints: etcd.endpoints }))
    const log: string[] = []
    const ca = startCompactor(a, 0, (m) => log.push(`a: ${m}`))
    const cb = startCompactor(b, 0, (m) => log.push(`b: ${m}`))
    try {
      const p = '/registry/compactor/'
      const first = await a.create(`${p}x`, '1')
      await ca.tick() // first round: remembers the revision, compacts nothing
      await cb.tick() // the other server sees it is not its turn
      const second = await a.update(`${p}x`, '2', first.modRevision)
      expect(await code(a.list(p, { revision: first.modRevision }))).toBe('ok')

      await ca.tick() // compacts to what it saw in its first round (after `first`, plus its own marker write)
      expect(log.filter((l) => l.startsWith('a: compacted'))).toHaveLength(1)
      expect(await code(a.list(p, { revision: first.modRevision }))).toBe('Compacted')
      expect((await a.list(p, { revision: second.modRevision })).kvs.map((kv) => kv.value)).toEqual(
        ['2'],
      )

      await cb.tick() // b lost the race for this round: it only catches up on the turn count
      expect(log.filter((l) => l.startsWith('b: compacted'))).toHaveLength(0)
      expect(log.filter((l) => l.includes('failed'))).toEqual([])
    } finally {
      ca.stop()
      cb.stop()
      a.close()
      b.close()
    }
  })

  it('stays below the revision a snapshot is reading at until it has read its last page', async () => {
    const a = new EtcdStore(etcdClient({ endpoints: etcd.endpoints }))
    const snapshots = new EtcdSnapshots(a)
    const c = startCompactor(
      a,
      0,
      () => {},
      () => snapshots.compactionFloor(),
    )
    try {
      const p = '/registry/held/'
      for (let i = 0; i < 3; i++) await a.create(`${p}k${i}`, String(i))
      const point = await snapshots.beginSnapshot()
      const first = await snapshots.snapshotPage(point.revision, '', 1)
      expect(first.more).toBe(true)
      for (let i = 0; i < 3; i++) await a.create(`${p}later${i}`, String(i))
      await c.tick()
      await c.tick()
      await c.tick() // rounds that would compact past the snapshot's revision
      const rest = await snapshots.snapshotPage(point.revision, first.kvs[0]!.key, 10_000)
      expect(rest.more).toBe(false)
      expect(snapshots.compactionFloor()).toBeUndefined()
      await a.create(`${p}after`, 'x')
      await c.tick()
      await c.tick()
      expect(await code(a.list(p, { revision: point.revision }))).toBe('Compacted')
    } finally {
      c.stop()
      a.close()
    }
  })
})

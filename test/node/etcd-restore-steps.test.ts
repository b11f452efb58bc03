// The write plan of a Node-mode restore (src/node/snapshot/etcd-restore.ts): one write per revision,
// each key at its create revision, again at free revisions as its version says, last at its mod
// revision; throwaway writes where nothing is due.
import { describe, expect, it } from 'vitest'
import { restoreSteps, type RestoreStep } from '../../src/node/snapshot/etcd-restore'

function plan(
  records: { create: number; mod: number; version: number }[],
  from: number,
  to: number,
) {
  const cols = {
    length: records.length,
    create: records.map((r) => r.create),
    mod: records.map((r) => r.mod),
    version: records.map((r) => r.version),
  }
  const order = records.map((_, i) => i).sort((a, b) => records[a]!.mod - records[b]!.mod)
  const counts = { approximated: 0 }
  const steps: RestoreStep[] = [...restoreSteps(cols, order, from, to, counts)]
  // What etcd would hold after the writes: per key, its create revision, mod revision and version.
  const keys = records.map(() => ({ create: 0, mod: 0, version: 0 }))
  for (const s of steps)
    for (const op of s.ops) {
      const k = keys[op.index]!
      if (k.version === 0) k.create = s.revision
      k.mod = s.revision
      k.version++
    }
  return { steps, keys, approximated: counts.approximated }
}

describe('restore write plan', () => {
  it('writes one revision after another, with fillers where nothing is due', () => {
    const { steps, keys } = plan([{ create: 4, mod: 4, version: 1 }], 2, 6)
    expect(steps.map((s) => s.revision)).toEqual([2, 3, 4, 5, 6])
    expect(steps.map((s) => s.ops.length)).toEqual([0, 0, 1, 0, 0])
    expect(keys).toEqual([{ create: 4, mod: 4, version: 1 }])
  })

  it('gives each key its create revision and version back, the key due first served first', () => {
    // a needs one write in (2, 11), b one in (3, 5), c two in (6, 9); free are 4, 7, 8 and 10. Only
    // 4 fits b, so it must go to b although a was created first; 7 and 8 to c, 10 to a.
    const records = [
      { create: 2, mod: 11, version: 3 },
      { create: 3, mod: 5, version: 3 },
      { create: 6, mod: 9, version: 4 },
    ]
    const { keys, approximated } = plan(records, 2, 12)
    expect(approximated).toBe(0)
    expect(keys).toEqual(records)
  })

  it('counts the keys whose create revision etcd has passed, or whose versions do not fit', () => {
    const records = [
      { create: 1, mod: 5, version: 2 }, // created before the first revision it can write
      { create: 3, mod: 4, version: 5 }, // no revision between 3 and 4 for three more writes
      { create: 6, mod: 6, version: 1 },
    ]
    const { keys, approximated } = plan(records, 2, 7)
    expect(approximated).toBe(2)
    expect(keys.map((k) => k.mod)).toEqual([5, 4, 6])
    expect(keys[2]).toEqual(records[2])
  })
})

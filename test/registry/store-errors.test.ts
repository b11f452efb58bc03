// Store errors as API errors, per verb (kube's storeerr), and the generic store's writes that retry on a
// conflict until they win (GuaranteedUpdate), over the in-memory store with concurrent writers injected.
import { describe, expect, it } from 'vitest'
import { RegistryStore } from '../../src/registry/store'
import {
  interpretCreateError,
  interpretDeleteError,
  interpretGetError,
  interpretListError,
  interpretStrayStoreError,
  interpretUpdateError,
  interpretWatchError,
  storageErrorMessage,
} from '../../src/registry/store-errors'
import { StatusError } from '../../src/server/errors'
import { StoreError, type KeyValue, type WriteOptions } from '../../src/storage/store'
import type { KubeObject } from '../../src/registry/types'
import { MemoryStore } from '../helpers/memory-store'
import { ctx, kind } from './helpers'

const CM = { group: '', resource: 'configmaps' }
const KEY = '/registry/configmaps/default/x'
const kv: KeyValue = { key: KEY, value: '{}', createRevision: 2, modRevision: 5, version: 3 }

function status(e: unknown) {
  expect(e).toBeInstanceOf(StatusError)
  const s = (e as StatusError).toStatus()
  return { code: s.code, reason: s.reason, message: s.message, bare: (e as StatusError).bare }
}

const READ_TIMEOUT = {
  code: 504,
  reason: 'Timeout',
  message: 'Timeout: request did not complete within the allotted timeout',
  bare: true,
}
const WRITE_TIMEOUT = {
  code: 504,
  reason: 'Timeout',
  message: 'Timeout: request did not complete within requested timeout - context deadline exceeded',
  bare: false,
}
const TOO_LARGE = {
  code: 500,
  reason: 'InternalError',
  message: 'etcdserver: request is too large',
  bare: false,
}

describe('store errors interpreted per verb, as storeerr', () => {
  const unreachable = new StoreError(
    'Unreachable',
    KEY,
    undefined,
    undefined,
    'connect ECONNREFUSED',
  )

  it("get: NotFound is 404 with the name; an unreachable store is the timeout filter's bare 504", () => {
    expect(status(interpretGetError(new StoreError('NotFound', KEY), CM, 'x'))).toEqual({
      code: 404,
      reason: 'NotFound',
      message: 'configmaps "x" not found',
      bare: false,
    })
    expect(status(interpretGetError(unreachable, CM, 'x'))).toEqual(READ_TIMEOUT)
  })

  it("list: Compacted is 410 Expired, a future revision the watch cache's 504, unreachable the bare 504", () => {
    expect(
      status(interpretListError(new StoreError('Compacted', KEY, undefined, 9), CM, 3)),
    ).toEqual({
      code: 410,
      reason: 'Expired',
      message: 'too old resource version: 3 (9)',
      bare: false,
    })
    expect(status(interpretListError(new StoreError('FutureRevision', KEY), CM, 99))).toEqual({
      code: 504,
      reason: 'Timeout',
      message: 'Too large resource version: 99, current: unknown',
      bare: false,
    })
    expect(status(interpretListError(unreachable, CM, 0))).toEqual(READ_TIMEOUT)
  })

  it("create: KeyExists is 409 AlreadyExists, TooLarge etcd's 500, unreachable the finisher's 504", () => {
    expect(status(interpretCreateError(new StoreError('KeyExists', KEY, kv), CM, 'x'))).toEqual({
      code: 409,
      reason: 'AlreadyExists',
      message: 'configmaps "x" already exists',
      bare: false,
    })
    expect(status(interpretCreateError(new StoreError('TooLarge', KEY), CM, 'x'))).toEqual(
      TOO_LARGE,
    )
    expect(status(interpretCreateError(unreachable, CM, 'x'))).toEqual(WRITE_TIMEOUT)
  })

  it("update: Conflict is 409 with the storage error's text, NotFound 404, unreachable the finisher's 504", () => {
    expect(status(interpretUpdateError(new StoreError('Conflict', KEY, kv), CM, 'x'))).toEqual({
      code: 409,
      reason: 'Conflict',
      bare: false,
      message:
        'Operation cannot be fulfilled on configmaps "x": StorageError: resource version conflicts, Code: 3, Key: /registry/configmaps/default/x, ResourceVersion: 0, AdditionalErrorMsg: <nil>',
    })
    expect(status(interpretUpdateError(new StoreError('NotFound', KEY), CM, 'x'))).toEqual({
      code: 404,
      reason: 'NotFound',
      message: 'configmaps "x" not found',
      bare: false,
    })
    expect(status(interpretUpdateError(new StoreError('TooLarge', KEY), CM, 'x'))).toEqual(
      TOO_LARGE,
    )
    expect(status(interpretUpdateError(unreachable, CM, 'x'))).toEqual(WRITE_TIMEOUT)
  })

  it("delete: NotFound is 404, Conflict 409, unreachable the finisher's 504, never a raw 500", () => {
    expect(status(interpretDeleteError(new StoreError('NotFound', KEY), CM, 'x')).code).toBe(404)
    expect(
      status(interpretDeleteError(new StoreError('Conflict', KEY, kv), CM, 'x')),
    ).toMatchObject({ code: 409, reason: 'Conflict' })
    expect(status(interpretDeleteError(unreachable, CM, 'x'))).toEqual(WRITE_TIMEOUT)
  })

  it('watch: Compacted is 410 with the revisions, FutureRevision the 504, unreachable the bare 504', () => {
    expect(
      status(interpretWatchError(new StoreError('Compacted', KEY, undefined, 40), 7)),
    ).toMatchObject({ code: 410, reason: 'Expired', message: 'too old resource version: 7 (40)' })
    expect(status(interpretWatchError(new StoreError('FutureRevision', KEY), 70))).toMatchObject({
      code: 504,
      message: 'Too large resource version: 70, current: unknown',
    })
    expect(status(interpretWatchError(unreachable, 7))).toEqual(READ_TIMEOUT)
  })

  it("passes errors that are not the store's through, and names a stray one by the request's method", () => {
    const other = new Error('boom')
    for (const f of [
      interpretGetError,
      interpretCreateError,
      interpretUpdateError,
      interpretDeleteError,
    ])
      expect(f(other, CM, 'x')).toBe(other)
    expect(status(interpretStrayStoreError(unreachable, 'GET'))).toEqual(READ_TIMEOUT)
    expect(status(interpretStrayStoreError(unreachable, 'PATCH'))).toEqual(WRITE_TIMEOUT)
    expect(
      status(interpretStrayStoreError(new StoreError('Conflict', KEY, kv), 'DELETE')).code,
    ).toBe(500)
  })

  it("writes storage.StorageError's message as Go does", () => {
    expect(
      storageErrorMessage(
        'InvalidObj',
        KEY,
        'Precondition failed: UID in precondition: a, UID in object meta: b',
      ),
    ).toBe(
      'StorageError: invalid object, Code: 4, Key: /registry/configmaps/default/x, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: a, UID in object meta: b',
    )
  })
})

/** A MemoryStore where, before each of the next `races` writes to a key, another writer changes it first. */
class RacingStore extends MemoryStore {
  races = 0
  unreachable = false

  private async race(key: string): Promise<void> {
    if (this.races <= 0) return
    this.races--
    const cur = this.data.get(key)
    if (cur) {
      const obj = JSON.parse(cur.value)
      obj.data = { ...obj.data, [`racer${this.races}`]: 'x' }
      await super.update(key, JSON.stringify(obj), cur.modRevision)
    }
  }

  /** Before the next create of a key, another writer creates it first. */
  createRaces = 0

  override async create(key: string, value: string) {
    if (this.createRaces > 0) {
      this.createRaces--
      const theirs = JSON.parse(value)
      theirs.data = { theirs: 'first' }
      await super.create(key, JSON.stringify(theirs))
    }
    return super.create(key, value)
  }

  override async get(key: string) {
    if (this.unreachable)
      throw new StoreError('Unreachable', key, undefined, undefined, 'connect ECONNREFUSED')
    return super.get(key)
  }

  override async update(key: string, value: string, expectModRevision: number) {
    await this.race(key)
    return super.update(key, value, expectModRevision)
  }

  override async delete(key: string, expectModRevision?: number) {
    await this.race(key)
    return super.delete(key, expectModRevision)
  }
}

async function setup() {
  const store = new RacingStore()
  const rs = new RegistryStore(kind('', 'configmaps'), store)
  const created = await rs.create(
    'default',
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: '1' } },
    { ...ctx, warnings: [] },
  )
  return { store, rs, created }
}

const withData =
  (key: string) =>
  (cur: KubeObject | undefined): KubeObject => ({
    ...cur!,
    data: { ...(cur!.data as object), [key]: 'v' },
  })

describe('writes that retry until they win, as GuaranteedUpdate', () => {
  it('applies a patch over 25 concurrent writes in a row, keeping every one of them', async () => {
    const { store, rs } = await setup()
    store.races = 25
    const { object } = await rs.update('default', 'x', withData('mine'), { ...ctx, warnings: [] })
    expect(Object.keys(object.data as object)).toHaveLength(2 + 25)
    expect(store.races).toBe(0)
  })

  it('turns a create-on-update that another write beat into an update of what it created', async () => {
    const store = new RacingStore()
    const rs = new RegistryStore(kind('', 'configmaps'), store)
    store.createRaces = 1
    const apply = (cur: KubeObject | undefined): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      ...cur,
      metadata: { ...cur?.metadata, name: 'y' },
      data: { ...(cur?.data as object), mine: 'v' },
    })
    const { object, created } = await rs.update(
      'default',
      'y',
      apply,
      { ...ctx, warnings: [] },
      '',
      { forceAllowCreate: true },
    )
    expect(created).toBe(false)
    expect(object.data).toEqual({ theirs: 'first', mine: 'v' })
  })

  it('makes an update without resourceVersion, or with "0", unconditional, and retries it', async () => {
    const { store, rs } = await setup()
    for (const resourceVersion of [undefined, '', '0']) {
      store.races = 3
      const body = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', resourceVersion },
        data: { b: '2' },
      }
      const { object } = await rs.update(
        'default',
        'x',
        () => structuredClone(body) as KubeObject,
        { ...ctx, warnings: [] },
      )
      expect(object.data).toEqual({ b: '2' })
    }
  })

  it("fails an update whose resourceVersion is stale with kube's Conflict, and does not retry it", async () => {
    const { store, rs, created } = await setup()
    store.races = 1
    const body = { ...created, data: { c: '3' } }
    const err = await rs
      .update('default', 'x', () => structuredClone(body), { ...ctx, warnings: [] })
      .catch((e) => e)
    expect(status(err)).toMatchObject({
      code: 409,
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again',
    })
  })

  it("refuses an update without resourceVersion where the strategy forbids one, in kube's words", async () => {
    const store = new MemoryStore()
    const rs = new RegistryStore(
      kind('admissionregistration.k8s.io', 'validatingwebhookconfigurations'),
      store,
    )
    const vwc = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'w' },
      webhooks: [],
    }
    await rs.create(undefined, structuredClone(vwc), { ...ctx, warnings: [] })
    const err = await rs
      .update(undefined, 'w', () => structuredClone(vwc), { ...ctx, warnings: [] })
      .catch((e) => e)
    expect(status(err)).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message:
        'validatingwebhookconfigurations.admissionregistration.k8s.io "w" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
    })
  })

  it("fails a PUT whose uid is not the stored one with the storage precondition's Conflict", async () => {
    const { rs } = await setup()
    const err = await rs
      .update('default', 'x', (cur) => ({ ...cur! }), { ...ctx, warnings: [] }, '', {
        preconditions: { uid: 'not-it' },
      })
      .catch((e) => e)
    expect(status(err).code).toBe(409)
    expect(status(err).message).toMatch(
      /^Operation cannot be fulfilled on configmaps "x": StorageError: invalid object, Code: 4, Key: \/registry\/configmaps\/default\/x, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: not-it, UID in object meta: /,
    )
  })

  it("deletes through concurrent writes; a precondition fails first in rest.BeforeDelete's words, on a retry in the storage's", async () => {
    const { store, rs, created } = await setup()
    const early = await rs
      .delete('default', 'x', { preconditions: { uid: 'not-it' } }, { ...ctx, warnings: [] })
      .catch((e) => e)
    expect(status(early).message).toBe(
      `Operation cannot be fulfilled on ConfigMap "x": the UID in the precondition (not-it) does not match the UID in record (${created.metadata!.uid}). The object might have been deleted and then recreated`,
    )

    store.races = 1
    const rv = String((await rs.get('default', 'x')).metadata!.resourceVersion)
    const late = await rs
      .delete('default', 'x', { preconditions: { resourceVersion: rv } }, { ...ctx, warnings: [] })
      .catch((e) => e)
    expect(status(late).message).toBe(
      `Operation cannot be fulfilled on configmaps "x": StorageError: invalid object, Code: 4, Key: ${KEY}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: ResourceVersion in precondition: ${rv}, ResourceVersion in meta: ${Number(rv) + 1}`,
    )

    store.races = 20
    const { deleted } = await rs.delete('default', 'x', {}, { ...ctx, warnings: [] })
    expect(deleted).toBe(true)
    expect(store.data.has(KEY)).toBe(false)
  })

  it("answers every verb with kube's timeout when the store is out of reach, never a raw 500", async () => {
    const { store, rs } = await setup()
    store.unreachable = true
    expect(status(await rs.get('default', 'x').catch((e) => e))).toEqual(READ_TIMEOUT)
    expect(
      status(
        await rs.update('default', 'x', withData('y'), { ...ctx, warnings: [] }).catch((e) => e),
      ),
    ).toEqual(WRITE_TIMEOUT)
    expect(
      status(await rs.delete('default', 'x', {}, { ...ctx, warnings: [] }).catch((e) => e)),
    ).toEqual(WRITE_TIMEOUT)
  })
})

/** A MemoryStore with a mirror (Node mode's cached()) that stays where freeze() left it while etcd moves on. */
class BehindStore extends MemoryStore {
  private mirror = new Map<string, KeyValue>()
  freeze(): void {
    this.mirror = new Map(this.data)
  }
  async cached(key: string) {
    return this.mirror.get(key)
  }
}

describe('writes over a mirror behind etcd (updates start from it, as from kube’s watch cache)', () => {
  const c = () => ({ ...ctx, warnings: [] })
  async function behind(change: (rs: RegistryStore) => Promise<unknown>) {
    const store = new BehindStore()
    const rs = new RegistryStore(kind('', 'configmaps'), store)
    await rs.create(
      'default',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: '1' } },
      c(),
    )
    store.freeze()
    await change(rs)
    return { store, rs, now: await rs.get('default', 'x').catch(() => undefined) }
  }
  const touch = (rs: RegistryStore, finalizers?: string[]) =>
    rs.update(
      'default',
      'x',
      (cur) => ({ ...cur!, metadata: { ...cur!.metadata, finalizers }, data: { a: 'changed' } }),
      c(),
    )

  it('deletes with the resourceVersion etcd holds as its precondition, which the mirror has not seen', async () => {
    const { store, rs, now } = await behind((rs) => touch(rs))
    const rv = now!.metadata!.resourceVersion
    expect((await store.cached(KEY))!.modRevision).toBeLessThan(Number(rv))
    const { deleted } = await rs.delete(
      'default',
      'x',
      { preconditions: { resourceVersion: rv } },
      c(),
    )
    expect(deleted).toBe(true)
    expect(store.data.has(KEY)).toBe(false)
  })

  it('marks for deletion an object whose finalizer only etcd has', async () => {
    const { store, rs } = await behind((rs) => touch(rs, ['example.com/keep']))
    const { deleted, object } = await rs.delete('default', 'x', {}, c())
    expect(deleted).toBe(false)
    expect(object.metadata!.deletionTimestamp).toBeDefined()
    expect(JSON.parse(store.data.get(KEY)!.value).metadata.finalizers).toEqual(['example.com/keep'])
  })

  it('answers an object already marked with what etcd holds, not the mirror’s copy', async () => {
    const store = new BehindStore()
    const rs = new RegistryStore(kind('', 'configmaps'), store)
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }
    await rs.create(
      'default',
      { ...cm, metadata: { name: 'x', finalizers: ['example.com/keep'] } },
      c(),
    )
    await rs.delete('default', 'x', {}, c()) // marked
    store.freeze()
    const { object: now } = await rs.update(
      'default',
      'x',
      (cur) => ({ ...cur!, data: { a: 'changed' } }),
      c(),
    )
    const { deleted, object } = await rs.delete('default', 'x', {}, c())
    expect(deleted).toBe(false)
    expect(object.metadata!.resourceVersion).toBe(now.metadata!.resourceVersion)
    expect(object.data).toEqual({ a: 'changed' })
  })

  it('answers 404 for what etcd has deleted and the mirror still holds', async () => {
    const { rs } = await behind((rs) => rs.delete('default', 'x', {}, c()))
    const err = await rs.delete('default', 'x', {}, c()).catch((e) => e)
    expect(status(err)).toMatchObject({ code: 404, message: 'configmaps "x" not found' })
  })

  it("fails a precondition neither matches in rest.BeforeDelete's words, after reading etcd", async () => {
    const { store, rs, now } = await behind((rs) => touch(rs))
    const reads = store.reads
    const err = await rs
      .delete('default', 'x', { preconditions: { resourceVersion: '1' } }, c())
      .catch((e) => e)
    expect(status(err).message).toBe(
      `Operation cannot be fulfilled on ConfigMap "x": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (${now!.metadata!.resourceVersion}). The object might have been modified`,
    )
    expect(store.reads).toBe(reads + 1)
  })

  it('updates with the resourceVersion etcd holds, which the mirror has not seen', async () => {
    const { rs, now } = await behind((rs) => touch(rs))
    const { object } = await rs.update('default', 'x', () => ({ ...now!, data: { b: '2' } }), c())
    expect(object.data).toEqual({ b: '2' })
  })
})

describe("the request's deadline on every write", () => {
  it('reaches the store with each create, update and delete made for the request', async () => {
    const seen: (number | undefined)[] = []
    class Recording extends MemoryStore {
      override create(key: string, value: string, opts?: WriteOptions) {
        seen.push(opts?.deadline)
        return super.create(key, value)
      }
      override update(key: string, value: string, rev: number, opts?: WriteOptions) {
        seen.push(opts?.deadline)
        return super.update(key, value, rev)
      }
      override delete(key: string, rev?: number, opts?: WriteOptions) {
        seen.push(opts?.deadline)
        return super.delete(key, rev)
      }
    }
    const rs = new RegistryStore(kind('', 'configmaps'), new Recording())
    const c = { ...ctx, warnings: [], deadline: 1_234 }
    await rs.create('default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, c)
    await rs.update('default', 'x', withData('y'), c)
    await rs.delete('default', 'x', {}, c)
    expect(seen).toEqual([1_234, 1_234, 1_234])
  })
})

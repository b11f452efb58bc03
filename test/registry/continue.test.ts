// Continue tokens: pinned to the first page's revision, and 410 Expired with an inconsistent token once
// that revision is compacted (kube-apiserver's etcd3 store behaviour).
import { describe, expect, it } from 'vitest'
import { RegistryStore } from '../../src/registry/store'
import { decodeContinue } from '../../src/registry/continue'
import { builtinResources } from '../../src/registry/builtin'
import { StatusError } from '../../src/server/errors'
import { MemoryStore } from '../helpers/memory-store'

const configmaps = builtinResources.find((t) => t.resource === 'configmaps' && t.group === '')!
const ctx = { dryRun: false, warnings: [] }

async function seeded(n: number) {
  const store = new MemoryStore()
  const rs = new RegistryStore(configmaps, store)
  for (let i = 0; i < n; i++)
    await rs.create(
      'default',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}` } },
      ctx,
    )
  return { store, rs }
}

describe('continue tokens', () => {
  it("pins later pages to the first page's revision and counts what remains", async () => {
    const { rs } = await seeded(5)
    const first = await rs.list('default', { limit: 2 })
    expect(first.items.map((o) => o.metadata?.name)).toEqual(['c0', 'c1'])
    expect(first.remainingItemCount).toBe(3)
    expect(decodeContinue(first.continue!)).toEqual({
      rv: Number(first.resourceVersion),
      start: 'c1',
    })
    const second = await rs.list('default', { limit: 2, continue: first.continue })
    expect(second.items.map((o) => o.metadata?.name)).toEqual(['c2', 'c3'])
    expect(second.resourceVersion).toBe(first.resourceVersion)
  })

  it('answers 410 Expired with an inconsistent continue token once the revision is compacted', async () => {
    const { store, rs } = await seeded(5)
    const first = await rs.list('default', { limit: 2 })
    // A write elsewhere moves the revision on, so compaction can pass the one the token reads at.
    await store.put('/registry/configmaps/elsewhere/x', { metadata: { name: 'x' } })
    await store.compact(Number(first.resourceVersion) + 1)
    const err = await rs.list('default', { limit: 2, continue: first.continue }).catch((e) => e)
    expect(err).toBeInstanceOf(StatusError)
    const status = (err as StatusError).toStatus()
    expect(status).toMatchObject({ code: 410, reason: 'Expired' })
    expect(status.message).toMatch(
      /^The provided continue parameter is too old to display a consistent list result\./,
    )
    const resume = (status.metadata as { continue: string }).continue
    expect(decodeContinue(resume)).toEqual({ rv: -1, start: 'c1' })
    const rest = await rs.list('default', { continue: resume })
    expect(rest.items.map((o) => o.metadata?.name)).toEqual(['c2', 'c3', 'c4'])
  })

  it('rejects a token that is not one of ours with 400', async () => {
    const { rs } = await seeded(1)
    await expect(rs.list('default', { continue: 'garbage!' })).rejects.toMatchObject({ code: 400 })
  })

  it('pages across namespaces, where the start key has a slash', async () => {
    const { rs } = await seeded(3)
    await rs.create('other', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }, ctx)
    const first = await rs.list(undefined, { limit: 2 })
    expect(decodeContinue(first.continue!).start).toBe('default/c1')
    const rest = await rs.list(undefined, { continue: first.continue })
    expect(rest.items.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`)).toEqual([
      'default/c2',
      'other/a',
    ])
  })

  it("reads a negative rv as the latest revision, as kube's storage does", async () => {
    const { rs } = await seeded(3)
    const latest = await rs.list('default', {
      continue: token({ v: 'meta.k8s.io/v1', rv: -7, start: 'c0\u0000' }),
    })
    expect(latest.items.map((o) => o.metadata?.name)).toEqual(['c1', 'c2'])
  })
})

/** A token as kube's EncodeContinue writes one: base64url without padding of the JSON. */
function token(json: unknown): string {
  return raw(typeof json === 'string' ? json : JSON.stringify(json))
}
function raw(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

describe('decodeContinue (storage.DecodeContinue)', () => {
  it('reads what encodeContinue writes, without padding, in the URL alphabet', async () => {
    const { rs } = await seeded(3)
    const first = await rs.list('default', { limit: 1 })
    expect(first.continue).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(
      atob(
        first.continue!.replace(/-/g, '+').replace(/_/g, '/') +
          '='.repeat((4 - (first.continue!.length % 4)) % 4),
      ),
    ).toBe(`{"v":"meta.k8s.io/v1","rv":${first.resourceVersion},"start":"c0\\u0000"}`)
  })

  it('matches field names case-insensitively, as encoding/json does', () => {
    expect(
      decodeContinue(token('{"V":"meta.k8s.io/v1","RV":12,"Start":"a\\u0000","extra":1}')),
    ).toEqual({ rv: 12, start: 'a' })
  })

  const refused: [string, string, string][] = [
    [
      'not base64',
      'garbage!',
      'invalid continue token: continue key is not valid: illegal base64 data at input byte 7',
    ],
    [
      'standard padding',
      'eyJ2IjoxfQ==',
      'invalid continue token: continue key is not valid: illegal base64 data at input byte 10',
    ],
    [
      'a lone trailing character',
      raw('{"v":"x"}') + 'A',
      'invalid continue token: continue key is not valid: illegal base64 data at input byte 12',
    ],
    [
      'not JSON',
      raw('{nope'),
      "invalid continue token: continue key is not valid: invalid character 'n' looking for beginning of object key string",
    ],
    [
      'truncated JSON',
      raw('{"v":'),
      'invalid continue token: continue key is not valid: unexpected end of JSON input',
    ],
    [
      'a string rv',
      token({ v: 'meta.k8s.io/v1', rv: '5', start: 'a' }),
      'invalid continue token: continue key is not valid: json: cannot unmarshal string into Go struct field continueToken.rv of type int64',
    ],
    [
      'a fractional rv',
      token('{"v":"meta.k8s.io/v1","rv":1.5,"start":"a"}'),
      'invalid continue token: continue key is not valid: json: cannot unmarshal number 1.5 into Go struct field continueToken.rv of type int64',
    ],
    [
      'an rv past int64',
      token('{"v":"meta.k8s.io/v1","rv":9223372036854775808,"start":"a"}'),
      'invalid continue token: continue key is not valid: json: cannot unmarshal number 9223372036854775808 into Go struct field continueToken.rv of type int64',
    ],
    [
      'an exponent rv',
      token('{"v":"meta.k8s.io/v1","rv":1e3,"start":"a"}'),
      'invalid continue token: continue key is not valid: json: cannot unmarshal number 1e3 into Go struct field continueToken.rv of type int64',
    ],
    [
      'a numeric start',
      token('{"v":"meta.k8s.io/v1","rv":5,"start":7}'),
      'invalid continue token: continue key is not valid: json: cannot unmarshal number into Go struct field continueToken.start of type string',
    ],
    [
      'an array',
      token('[]'),
      'invalid continue token: continue key is not valid: json: cannot unmarshal array into Go value of type storage.continueToken',
    ],
    [
      'another version',
      token({ v: 'meta.k8s.io/v2', rv: 5, start: 'a' }),
      'invalid continue token: continue key is not valid: server does not recognize this encoded version meta.k8s.io/v2',
    ],
    [
      'rv 0',
      token({ v: 'meta.k8s.io/v1', rv: 0, start: 'a' }),
      'invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    ],
    [
      'no rv',
      token({ v: 'meta.k8s.io/v1', start: 'a' }),
      'invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    ],
    [
      'an empty start',
      token({ v: 'meta.k8s.io/v1', rv: 5, start: '' }),
      'invalid continue token: continue key is not valid: encoded start key empty (version meta.k8s.io/v1)',
    ],
    [
      'a start outside the list',
      token({ v: 'meta.k8s.io/v1', rv: 5, start: '../secrets/x' }),
      'invalid continue token: continue key is not valid: ../secrets/x',
    ],
    [
      'a start with a trailing slash',
      token({ v: 'meta.k8s.io/v1', rv: 5, start: 'a/' }),
      'invalid continue token: continue key is not valid: a/',
    ],
  ]
  it.each(refused)("refuses %s with 400 and kube's message", (_what, t, message) => {
    let err: unknown
    try {
      decodeContinue(t)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(StatusError)
    expect((err as StatusError).toStatus()).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message,
    })
  })
})

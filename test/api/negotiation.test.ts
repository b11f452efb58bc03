// Content negotiation as kube-apiserver's (handlers/negotiation with goautoneg's Accept parsing and
// RequestScope's endpoint restrictions): q-values, wildcards, as=/g=/v=, stream=, sv=, and the 406 wording.
import { describe, expect, it } from 'vitest'
import { negotiate, negotiateWatch, parseAccept, respondError } from '../../src/api/negotiation'
import { StatusError } from '../../src/server/errors'

const PB = 'application/vnd.kubernetes.protobuf'
const builtin = { table: true, metadata: true, protobuf: true }
const custom = { table: true, metadata: true, protobuf: false }

function refused(f: () => unknown): { code: number; message: string } {
  try {
    f()
  } catch (e) {
    if (e instanceof StatusError) return { code: e.code, message: e.message }
    throw e
  }
  throw new Error('negotiation succeeded')
}

describe('Accept parsing (goautoneg.ParseAccept)', () => {
  it('sorts by q, then concrete types before wildcards, keeping the order of ties', () => {
    const order = (h: string) => parseAccept(h).map((c) => `${c.type}/${c.subType};q=${c.q}`)
    expect(order('*/*;q=0.5, application/json;q=0.5, text/*, application/yaml')).toEqual([
      'application/yaml;q=1',
      'text/*;q=1',
      'application/json;q=0.5',
      '*/*;q=0.5',
    ])
    expect(order('application/json;q=abc, application/yaml')).toEqual([
      'application/yaml;q=1',
      'application/json;q=0',
    ])
  })

  it('drops a media range without a subtype, and parameters without a value', () => {
    expect(
      parseAccept('application, */*;pretty').map((c) => [c.type, c.subType, c.params]),
    ).toEqual([['*', '*', {}]])
  })
})

describe('negotiate', () => {
  const media = (accept: string | undefined, endpoint = builtin) =>
    negotiate(accept, endpoint).mediaType

  it('answers JSON without Accept, and the best acceptable type by q otherwise', () => {
    expect(media(undefined)).toBe('application/json')
    expect(media('*/*')).toBe('application/json')
    expect(media('application/*')).toBe('application/json')
    expect(media(`${PB}`)).toBe(PB)
    expect(media(`application/json;q=0.9, ${PB}`)).toBe(PB)
    expect(media(`${PB};q=0.5, application/yaml`)).toBe('application/yaml')
    expect(media(`text/html, ${PB};q=0.1`)).toBe(PB)
  })

  it('compares media types case-sensitively, as kube does', () => {
    expect(refused(() => media('Application/JSON')).code).toBe(406)
  })

  it("answers 406 with kube's wording when nothing is acceptable", () => {
    expect(refused(() => media('text/html'))).toEqual({
      code: 406,
      message: `only the following media types are accepted: application/json, application/yaml, ${PB}`,
    })
  })

  it('gives custom resources JSON and YAML only, and 406 to a protobuf-only client', () => {
    expect(media(`${PB},application/json`, custom)).toBe('application/json')
    expect(refused(() => media(PB, custom)).code).toBe(406)
  })

  it('offers Table in JSON and YAML only, and PartialObjectMetadata in protobuf too (also for custom resources)', () => {
    const table = `${PB};as=Table;g=meta.k8s.io;v=v1,application/json;as=Table;g=meta.k8s.io;v=v1`
    expect(negotiate(table, builtin)).toMatchObject({ as: 'Table', mediaType: 'application/json' })
    const meta = `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json`
    expect(negotiate(meta, custom)).toMatchObject({
      as: 'PartialObjectMetadataList',
      version: 'v1',
      mediaType: PB,
    })
    // meta.k8s.io/v1beta1's too, as older metadata clients ask.
    const beta = `${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1`
    expect(negotiate(beta, builtin)).toMatchObject({ version: 'v1beta1', mediaType: PB })
  })

  it('writes an error no serializer fits as WriteRawJSON does: indented JSON', async () => {
    const err = new StatusError(406, 'NotAcceptable', 'no')
    const r = respondError(err, `${PB};as=Table;g=meta.k8s.io;v=v1`)
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(await r.text()).toBe(JSON.stringify(err.toStatus(), null, 2))
    const pb = respondError(err, `${PB};as=Table;g=meta.k8s.io;v=v1, ${PB}`)
    expect(pb.headers.get('content-type')).toBe(PB)
  })

  it('skips a transform the endpoint does not offer and falls back to the next clause', () => {
    const accept = 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json'
    expect(negotiate(accept, { table: false, metadata: false, protobuf: true })).toMatchObject({
      as: '',
      mediaType: 'application/json',
    })
    expect(refused(() => media('application/json;as=Table;g=example.com;v=v1')).code).toBe(406)
    expect(refused(() => media('application/json;as=Pod')).code).toBe(406)
  })

  it('allows stream=watch where the serializer streams and sv= only for v1', () => {
    expect(media(`${PB};stream=watch`)).toBe(PB)
    expect(media('application/yaml;stream=watch, application/json')).toBe('application/json')
    expect(media('application/json;sv=v1')).toBe('application/json')
    expect(refused(() => media('application/json;sv=v2')).code).toBe(406)
  })
})

describe('negotiateWatch', () => {
  it('streams JSON and protobuf, and refuses YAML naming the stream media types', () => {
    expect(negotiateWatch(`${PB}, application/json`, builtin).mediaType).toBe(PB)
    expect(refused(() => negotiateWatch('application/yaml', builtin))).toEqual({
      code: 406,
      message: `only the following media types are accepted: application/json;stream=watch, ${PB};stream=watch`,
    })
  })
})

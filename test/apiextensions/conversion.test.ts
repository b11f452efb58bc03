// CRD Webhook conversion through the generic store, with a fake webhook behind the WebhookFetch seam: what is
// sent (one ConversionReview per batch, nothing for objects already in the wanted version), what is stored, and
// kube's words when the webhook's answer cannot be used.
import { beforeEach, describe, expect, it } from 'vitest'
import { customResourceTypes } from '../../src/apiextensions/custom-resource'
import type { CRD } from '../../src/apiextensions/types'
import type { WebhookCall, WebhookFetch } from '../../src/admission/webhook/client'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject, RequestContext, ResourceType } from '../../src/registry/types'
import { StatusError } from '../../src/server/errors'
import { MemoryStore } from '../helpers/memory-store'
import { ADMIN, makeApp } from '../helpers/app'
import { convertSizeDimension } from '../helpers/size-conversion'

type Obj = Record<string, any>

const ctx = (): RequestContext => ({ dryRun: false, warnings: [] })
const URL = 'https://127.0.0.1:9443/convert'
const KEY = '/registry/example.com/widgets/default/'

function widgetsCRD(reviewVersions = ['v1']): CRD {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      conversion: {
        strategy: 'Webhook',
        webhook: { clientConfig: { url: URL }, conversionReviewVersions: reviewVersions },
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
            },
          },
        },
        {
          name: 'v2',
          served: true,
          storage: false,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: {
                    dimension: { type: 'integer' },
                    unit: { type: 'string', default: 'cm' },
                  },
                },
              },
            },
          },
        },
      ],
    },
    status: { storedVersions: ['v1'], conditions: [{ type: 'Established', status: 'True' }] },
  }
}

interface Fake {
  fetch: WebhookFetch
  reviews: Obj[]
  calls: WebhookCall[]
  /** Rewrites the ConversionReview answer (to misbehave). */
  answer: (review: Obj, response: Obj) => Obj
}

function fakeWebhook(): Fake {
  const fake: Fake = {
    reviews: [],
    calls: [],
    answer: (_review, response) => response,
    fetch: async (call) => {
      fake.calls.push(call)
      const review = JSON.parse(call.body) as Obj
      fake.reviews.push(review)
      const { uid, desiredAPIVersion, objects } = review.request
      const response = {
        apiVersion: review.apiVersion,
        kind: 'ConversionReview',
        response: {
          uid,
          result: { status: 'Success' },
          convertedObjects: (objects as Obj[]).map((o) =>
            convertSizeDimension(o, desiredAPIVersion),
          ),
        },
      }
      return { status: 200, body: JSON.stringify(fake.answer(review, response)) }
    },
  }
  return fake
}

function stores(
  crd: CRD,
  fake: Fake,
  store: MemoryStore,
): { v1: RegistryStore; v2: RegistryStore } {
  const types = customResourceTypes(crd, { fetch: fake.fetch })
  const of = (v: string) =>
    new RegistryStore(
      types.find((t: ResourceType) => t.version === v)!,
      store,
    )
  return { v1: of('v1'), v2: of('v2') }
}

async function failure(
  p: Promise<unknown>,
): Promise<{ code: number; reason: string; message: string }> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(StatusError)
    const s = (e as StatusError).toStatus()
    return { code: s.code, reason: s.reason ?? '', message: s.message ?? '' }
  }
  throw new Error('expected a StatusError')
}

const widget = (apiVersion: string, name: string, spec: Obj): KubeObject => ({
  apiVersion,
  kind: 'Widget',
  metadata: { name, namespace: 'default' },
  spec,
})

describe('CRD Webhook conversion', () => {
  let store: MemoryStore
  let fake: Fake
  let v1: RegistryStore
  let v2: RegistryStore

  beforeEach(() => {
    store = new MemoryStore()
    fake = fakeWebhook()
    ;({ v1, v2 } = stores(widgetsCRD(), fake, store))
  })

  it('stores an object created as v2 in v1 and answers in v2, defaulted after conversion', async () => {
    const created = await v2.create(
      'default',
      widget('example.com/v2', 'a', { dimension: 3 }),
      ctx(),
    )
    expect(created.apiVersion).toBe('example.com/v2')
    expect(created.spec).toEqual({ dimension: 3, unit: 'cm' })
    const stored = JSON.parse(store.data.get(KEY + 'a')!.value)
    expect(stored.apiVersion).toBe('example.com/v1')
    // The webhook carries v2's defaulted unit over; v1's schema prunes it.
    expect(stored.spec).toEqual({ size: 3 })
    expect(fake.reviews.map((r) => r.request.desiredAPIVersion)).toEqual([
      'example.com/v1',
      'example.com/v2',
    ])
    expect(fake.calls[0].url).toBe(`${URL}?timeout=30s`)
    expect(fake.reviews[0]).toMatchObject({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
    })
    expect((await v1.get('default', 'a')).spec).toEqual({ size: 3 })
  })

  it('never calls the webhook for objects already in the wanted version', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    await v1.get('default', 'a')
    await v1.list('default')
    await v1.update('default', 'a', (cur) => ({ ...cur!, spec: { size: 2 } }), ctx())
    expect(fake.reviews).toEqual([])
  })

  it('converts a list page in one ConversionReview', async () => {
    for (const n of ['a', 'b', 'c'])
      await v1.create('default', widget('example.com/v1', n, { size: n.charCodeAt(0) }), ctx())
    const list = await v2.list('default')
    expect(fake.reviews).toHaveLength(1)
    expect(fake.reviews[0].request.objects.map((o: Obj) => o.metadata.name)).toEqual([
      'a',
      'b',
      'c',
    ])
    expect(list.items.map((o) => [o.apiVersion, o.spec])).toEqual([
      ['example.com/v2', { dimension: 97, unit: 'cm' }],
      ['example.com/v2', { dimension: 98, unit: 'cm' }],
      ['example.com/v2', { dimension: 99, unit: 'cm' }],
    ])
  })

  it('updates through v2: the old object is read in v2 and the new one stored in v1', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    const { object } = await v2.update(
      'default',
      'a',
      (cur) => ({ ...cur!, spec: { ...(cur!.spec as Obj), dimension: 5 } }),
      ctx(),
    )
    expect(object.spec).toEqual({ dimension: 5, unit: 'cm' })
    // v2's defaulted unit, carried over by the webhook, is pruned by v1's schema before it is stored.
    expect(JSON.parse(store.data.get(KEY + 'a')!.value).spec).toEqual({ size: 5 })
  })

  it('keeps labels and annotations the webhook sets and restores the rest of metadata', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    const before = await v1.get('default', 'a')
    fake.answer = (_r, response) => {
      for (const o of response.response.convertedObjects) {
        o.metadata.labels = { converted: 'yes' }
        o.metadata.generation = 42
        o.metadata.resourceVersion = '999'
      }
      return response
    }
    const got = await v2.get('default', 'a')
    expect(got.metadata).toEqual({ ...before.metadata, labels: { converted: 'yes' } })
  })

  it("fails with the webhook's message when result.status is not Success", async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    fake.answer = (_r, response) => ({
      ...response,
      response: {
        uid: response.response.uid,
        result: { status: 'Failure', message: 'cannot convert size' },
      },
    })
    expect(await failure(v2.get('default', 'a'))).toEqual({
      code: 500,
      reason: '',
      message: 'conversion webhook for example.com/v1, Kind=Widget failed: cannot convert size',
    })
    fake.answer = (_r, response) => ({
      ...response,
      response: { uid: response.response.uid, result: { status: 'Failure' } },
    })
    expect((await failure(v2.get('default', 'a'))).message).toBe(
      "conversion webhook for example.com/v1, Kind=Widget failed: response.result.status was 'Failure', not 'Success'",
    )
  })

  it('refuses an answer for another request uid', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    fake.answer = (_r, response) => ({
      ...response,
      response: { ...response.response, uid: 'not-mine' },
    })
    const f = await failure(v2.get('default', 'a'))
    const uid = fake.reviews.at(-1)!.request.uid
    expect(f).toEqual({
      code: 500,
      reason: '',
      message: `conversion webhook for example.com/v1, Kind=Widget failed: expected response.uid="${uid}", got "not-mine"`,
    })
  })

  it('refuses a converted object whose name, uid or count changed', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    fake.answer = (_r, response) => {
      response.response.convertedObjects[0].metadata.name = 'b'
      return response
    }
    expect((await failure(v2.get('default', 'a'))).message).toBe(
      'conversion webhook for example.com/v1, Kind=Widget returned invalid object: must have the same name: a != b',
    )
    fake.answer = (_r, response) => {
      response.response.convertedObjects[0].metadata.uid = 'other'
      return response
    }
    const uid = (await v1.get('default', 'a')).metadata!.uid
    expect((await failure(v2.get('default', 'a'))).message).toBe(
      `conversion webhook for example.com/v1, Kind=Widget returned invalid object: must have the same UID: ${uid} != other`,
    )
    fake.answer = (_r, response) => ({
      ...response,
      response: { ...response.response, convertedObjects: [] },
    })
    expect((await failure(v2.list('default'))).message).toBe(
      'conversion webhook for example.com/v1, Kind=Widget returned 0 objects, expected 1',
    )
  })

  it('refuses a converted object in the wrong version or with an invalid label', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    fake.answer = (_r, response) => {
      response.response.convertedObjects[0].apiVersion = 'example.com/v1'
      return response
    }
    expect((await failure(v2.get('default', 'a'))).message).toBe(
      'conversion webhook for example.com/v1, Kind=Widget returned invalid object at index 0: invalid groupVersion (expected example.com/v2, received example.com/v1)',
    )
    fake.answer = (_r, response) => {
      response.response.convertedObjects[0].metadata.labels = { 'bad key!': 'x' }
      return response
    }
    expect((await failure(v2.get('default', 'a'))).message).toMatch(
      /^conversion webhook for example\.com\/v1, Kind=Widget returned invalid metadata: metadata\.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters/,
    )
  })

  it("names the POST and Go's dial error when the webhook is unreachable", async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    fake.fetch = async () => {
      throw new Error('dial tcp 127.0.0.1:9443: connect: connection refused')
    }
    ;({ v1, v2 } = stores(widgetsCRD(), fake, store))
    expect(await failure(v2.get('default', 'a'))).toEqual({
      code: 500,
      reason: '',
      message: `conversion webhook for example.com/v1, Kind=Widget failed: Post "${URL}?timeout=30s": dial tcp 127.0.0.1:9443: connect: connection refused`,
    })
    // A write through v2 needs the webhook too; the object stays as it was.
    const f = await failure(
      v2.create('default', widget('example.com/v2', 'b', { dimension: 1 }), ctx()),
    )
    expect(f.message).toMatch(/^conversion webhook for example\.com\/v2, Kind=Widget failed: Post /)
    expect(store.data.has(KEY + 'b')).toBe(false)
    // Reading in the storage version needs no webhook.
    expect((await v1.get('default', 'a')).spec).toEqual({ size: 1 })
  })

  it('speaks ConversionReview v1beta1 when that is the first version the CRD lists that kube knows', async () => {
    ;({ v1, v2 } = stores(widgetsCRD(['v9', 'v1beta1', 'v1']), fake, store))
    await v1.create('default', widget('example.com/v1', 'a', { size: 4 }), ctx())
    // v1beta1 answers were never checked for kind or uid.
    fake.answer = (_r, response) => ({ response: { ...response.response, uid: '' } })
    expect((await v2.get('default', 'a')).spec).toEqual({ dimension: 4, unit: 'cm' })
    expect(fake.reviews[0].apiVersion).toBe('apiextensions.k8s.io/v1beta1')
  })

  it('refuses a v1 answer that is not a ConversionReview', async () => {
    await v1.create('default', widget('example.com/v1', 'a', { size: 1 }), ctx())
    fake.answer = (_r, response) => ({ ...response, kind: 'AdmissionReview' })
    expect((await failure(v2.get('default', 'a'))).message).toBe(
      'conversion webhook for example.com/v1, Kind=Widget failed: expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got apiextensions.k8s.io/v1, Kind=AdmissionReview',
    )
  })
})

describe('CRD Webhook conversion through the request path', () => {
  const V1 = '/apis/example.com/v1/namespaces/default/widgets'
  const V2 = '/apis/example.com/v2/namespaces/default/widgets'

  async function setup() {
    const fake = fakeWebhook()
    const t = makeApp({ conversionFetch: fake.fetch })
    const { metadata: _m, status: _s, ...crd } = widgetsCRD()
    const created = await t.call(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      { ...crd, metadata: { name: 'widgets.example.com' } },
    )
    expect(created.status).toBe(201)
    return { t, fake }
  }

  /** Reads watch events until `count` arrived, making the writes once the watch is open. */
  async function watch(
    t: ReturnType<typeof makeApp>,
    path: string,
    count: number,
    during: () => Promise<void>,
  ): Promise<Obj[]> {
    const res = await t.app.request(path, { headers: { authorization: `Bearer ${ADMIN}` } })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    const events: Obj[] = []
    let buf = ''
    const writes = during()
    while (events.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buf += decoder.decode(value, { stream: true })
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, nl)))
        buf = buf.slice(nl + 1)
      }
    }
    await writes
    await reader.cancel()
    return events
  }

  it('converts each watch event with one ConversionReview for its new and previous object', async () => {
    const { t, fake } = await setup()
    const rv = (await t.call('GET', V1)).json.metadata.resourceVersion
    const events = await watch(t, `${V2}?watch=true&resourceVersion=${rv}`, 3, async () => {
      expect((await t.call('POST', V1, widget('example.com/v1', 'w', { size: 1 }))).status).toBe(
        201,
      )
      expect((await t.call('PATCH', `${V1}/w`, { spec: { size: 2 } })).status).toBe(200)
      expect((await t.call('DELETE', `${V1}/w`)).status).toBe(200)
    })
    expect(events.map((e) => [e.type, e.object.apiVersion, e.object.spec])).toEqual([
      ['ADDED', 'example.com/v2', { dimension: 1, unit: 'cm' }],
      ['MODIFIED', 'example.com/v2', { dimension: 2, unit: 'cm' }],
      ['DELETED', 'example.com/v2', { dimension: 2, unit: 'cm' }],
    ])
    // Writes through v1 need no conversion; each event is one review, a MODIFIED one with both states.
    expect(fake.reviews.map((r) => r.request.objects.map((o: Obj) => o.spec.size))).toEqual([
      [1],
      [2, 1],
      [2],
    ])
  })

  it("answers a read in v2 with kube's bare 500 when the webhook fails", async () => {
    const { t, fake } = await setup()
    expect((await t.call('POST', V1, widget('example.com/v1', 'w', { size: 1 }))).status).toBe(201)
    fake.answer = (_r, response) => ({
      ...response,
      response: { uid: response.response.uid, result: { status: 'Failure', message: 'no' } },
    })
    const got = await t.call('GET', `${V2}/w`)
    expect(got.status).toBe(500)
    // ErrorToAPIStatus of an error that is no Status: code 500, no reason (kubectl prints "Error from server: ...").
    expect(got.json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      code: 500,
      message: 'conversion webhook for example.com/v1, Kind=Widget failed: no',
    })
    const list = await t.call('GET', V2)
    expect(list.json.message).toBe('conversion webhook for example.com/v1, Kind=Widget failed: no')
  })
})

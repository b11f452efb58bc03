// CRD Webhook conversion through the real kubectl against `npm start`: a CRD with two versions (v1 stored,
// v2 with spec.size renamed spec.dimension) whose conversion webhook the test serves on loopback HTTPS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { convertSizeDimension } from '../helpers/size-conversion'
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server'
import { backgroundKubectl, LocalServer } from './harness'

type Obj = Record<string, any>
let server: LocalServer
let webhook: WebhookServer
/** Every ConversionReview request the webhook received. */
const reviews: Obj[] = []

beforeAll(async () => {
  webhook = await startWebhookServer('conversion-e2e', (review) => {
    reviews.push(review.request)
    const { uid, desiredAPIVersion, objects } = review.request
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: {
        uid,
        result: { status: 'Success' },
        convertedObjects: (objects as Obj[]).map((o) => convertSizeDimension(o, desiredAPIVersion)),
      },
    }
  })
  server = await LocalServer.start()
})

afterAll(async () => {
  await server?.dispose()
  await webhook?.close()
})

const specSchema = (props: Obj) => ({
  openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: props } } },
})
const gadgetsCRD = () => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.conv.example.com' },
  spec: {
    group: 'conv.example.com',
    scope: 'Namespaced',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
    conversion: {
      strategy: 'Webhook',
      webhook: {
        conversionReviewVersions: ['v1'],
        clientConfig: { url: `${webhook.url}/convert`, caBundle: webhook.caBundle },
      },
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: specSchema({ size: { type: 'integer' } }),
        additionalPrinterColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' }],
      },
      {
        name: 'v2',
        served: true,
        storage: false,
        schema: specSchema({ dimension: { type: 'integer' } }),
        additionalPrinterColumns: [
          { name: 'Dimension', type: 'integer', jsonPath: '.spec.dimension' },
        ],
      },
    ],
  },
})
const gadget = (version: string, name: string, spec: Obj) => ({
  apiVersion: `conv.example.com/${version}`,
  kind: 'Gadget',
  metadata: { name, namespace: 'default' },
  spec,
})

async function create(obj: unknown): Promise<void> {
  const r = await server.kubectl(['create', '-f', '-'], { input: JSON.stringify(obj) })
  if (r.code !== 0) throw new Error(`kubectl create failed: ${r.stderr}`)
}
const json = async (...args: string[]) => JSON.parse(await server.k(...args, '-o', 'json'))

describe('CRD Webhook conversion through kubectl', () => {
  beforeAll(async () => {
    await create(gadgetsCRD())
    await server.k(
      'wait',
      '--for=condition=Established',
      'crd/gadgets.conv.example.com',
      '--timeout=60s',
    )
  })

  it('serves an object created as v1 in v2 with the renamed field, and stores one created as v2 in v1', async () => {
    await create(gadget('v1', 'one', { size: 3 }))
    const asV2 = await json('get', 'gadgets.v2.conv.example.com', 'one')
    expect(asV2.apiVersion).toBe('conv.example.com/v2')
    expect(asV2.spec).toEqual({ dimension: 3 })
    expect(reviews.at(-1)).toMatchObject({
      desiredAPIVersion: 'conv.example.com/v2',
      objects: [{ apiVersion: 'conv.example.com/v1', spec: { size: 3 } }],
    })

    await create(gadget('v2', 'two', { dimension: 7 }))
    const asV1 = await json('get', 'gadgets.v1.conv.example.com', 'two')
    expect(asV1.apiVersion).toBe('conv.example.com/v1')
    expect(asV1.spec).toEqual({ size: 7 })
    expect(
      reviews.some(
        (r) =>
          r.desiredAPIVersion === 'conv.example.com/v1' && r.objects[0]?.metadata?.name === 'two',
      ),
    ).toBe(true)
  })

  it('lists in v2 with one ConversionReview for the page, and never calls the webhook for v1 reads', async () => {
    await create(gadget('v1', 'three', { size: 5 }))
    let before = reviews.length
    const list = await json('get', 'gadgets.v2.conv.example.com')
    expect(list.items.map((o: Obj) => [o.metadata.name, o.apiVersion, o.spec])).toEqual([
      ['one', 'conv.example.com/v2', { dimension: 3 }],
      ['three', 'conv.example.com/v2', { dimension: 5 }],
      ['two', 'conv.example.com/v2', { dimension: 7 }],
    ])
    const listReviews = reviews.slice(before)
    expect(listReviews).toHaveLength(1)
    expect(listReviews[0].objects.map((o: Obj) => o.metadata.name)).toEqual(['one', 'three', 'two'])
    // The table kubectl prints is rendered from the converted objects.
    expect(await server.k('get', 'gadgets.v2.conv.example.com')).toMatch(
      /^NAME\s+DIMENSION\none\s+3\nthree\s+5\ntwo\s+7\n$/,
    )

    before = reviews.length
    expect(await server.k('get', 'gadgets.v1.conv.example.com')).toMatch(
      /^NAME\s+SIZE\none\s+3\nthree\s+5\ntwo\s+7\n$/,
    )
    expect(reviews.length).toBe(before)
  })

  it('kubectl get -w in v2 shows objects written in v1 converted', async () => {
    const w = backgroundKubectl(server.kubeconfig, [
      'get',
      'gadgets.v2.conv.example.com',
      '-w',
      '--output-watch-events',
      '--watch-only',
      '-v=6',
    ])
    await w.waitForLog(/gadgets\?.*watch=true.* 200 OK/)
    await create(gadget('v1', 'watched', { size: 11 }))
    await w.waitFor(/ADDED\s+watched\s+11/)
    await server.k(
      'patch',
      'gadgets.v1.conv.example.com',
      'watched',
      '--type=merge',
      '-p',
      '{"spec":{"size":12}}',
    )
    await w.waitFor(/MODIFIED\s+watched\s+12/)
    await server.k('delete', 'gadgets.v1.conv.example.com', 'watched')
    await w.waitFor(/DELETED\s+watched\s+12\n/) // the whole line: output may arrive mid-line
    w.kill()
    expect(w.output()).toMatch(
      /^EVENT\s+NAME\s+DIMENSION\nADDED\s+watched\s+11\nMODIFIED\s+watched\s+12\nDELETED\s+watched\s+12\n$/,
    )
  })

  it("shows kube's conversion error when the webhook is down, and still serves the storage version", async () => {
    await webhook.close()
    const r = await server.kubectl(['get', 'gadgets.v2.conv.example.com', 'one'])
    expect(r.code).not.toBe(0)
    // After the POST comes the transport's own words: Go's dial error in Node mode; workerd's fetch (the Worker)
    // says only that the connection was lost.
    const port = new URL(webhook.url).port
    expect(r.stderr.trim()).toMatch(
      new RegExp(
        `^Error from server: conversion webhook for conv\\.example\\.com/v1, Kind=Gadget failed: Post "https://127\\.0\\.0\\.1:${port}/convert\\?timeout=30s": (dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused|Network connection lost\\.)$`,
      ),
    )
    const created = await server.kubectl(['create', '-f', '-'], {
      input: JSON.stringify(gadget('v2', 'four', { dimension: 1 })),
    })
    expect(created.stderr).toContain(
      `Error from server: error when creating "STDIN": conversion webhook for conv.example.com/v2, Kind=Gadget failed: Post "${webhook.url}/convert?timeout=30s": `,
    )
    expect((await json('get', 'gadgets.v1.conv.example.com', 'one')).spec).toEqual({ size: 3 })
  })
})

// Watch semantics of kube-apiserver's watch handler and cacher, through the whole request path.
import { describe, expect, it } from 'vitest'
import { makeApp as makeAppWith } from '../helpers/app'
import { WatchCaches } from '../../src/api/watch-cache'

type Event = { type: string; object: Record<string, any> }

/** Opens a watch and reads events until `count` arrived or the stream ended. */
async function watchEvents(
  t: ReturnType<typeof makeAppWith>,
  path: string,
  count: number,
  during?: () => Promise<void>,
): Promise<{ status: number; events: Event[]; ended: boolean }> {
  const res = await t.app.request(path, { headers: { authorization: 'Bearer admin-token' } })
  if (res.status !== 200)
    return { status: res.status, events: [JSON.parse(await res.text())], ended: true }
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  const events: Event[] = []
  let buf = ''
  const pending = during?.()
  let ended = false
  while (events.length < count) {
    const { done, value } = await reader.read()
    if (done) {
      ended = true
      break
    }
    buf += decoder.decode(value, { stream: true })
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)))
      buf = buf.slice(nl + 1)
    }
  }
  await pending
  if (!ended) await reader.cancel()
  return { status: 200, events, ended }
}

const cm = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, labels },
})
const CMS = '/api/v1/namespaces/default/configmaps'

// Every case runs twice: each watch on its own Store watch (the edge), and through the watch cache (Node mode).
describe.each([
  ['its own Store watch', false],
  ['the watch cache', true],
])('watch on %s', (_, cached) => {
  const makeApp = () => makeAppWith(cached ? { watchCache: new WatchCaches() } : {})

  it('starts with the current state as ADDED when resourceVersion is unset, then streams changes', async () => {
    const t = makeApp()
    await t.call('POST', CMS, cm('before'))
    const { events } = await watchEvents(
      t,
      `${CMS}?watch=true&fieldSelector=metadata.name!=kube-root-ca.crt`,
      3,
      async () => {
        await t.call('PATCH', `${CMS}/before`, { data: { a: 'b' } })
        await t.call('DELETE', `${CMS}/before`)
      },
    )
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([
      ['ADDED', 'before'],
      ['MODIFIED', 'before'],
      ['DELETED', 'before'],
    ])
    expect(Number(events[2].object.metadata.resourceVersion)).toBeGreaterThan(
      Number(events[1].object.metadata.resourceVersion),
    )
  })

  it('from a resourceVersion sends only what came after it, on the legacy /watch/ path too', async () => {
    const t = makeApp()
    const first = await t.call('POST', CMS, cm('old'))
    const { events } = await watchEvents(
      t,
      `/api/v1/watch/namespaces/default/configmaps?resourceVersion=${first.json.metadata.resourceVersion}`,
      1,
      async () => {
        await t.call('POST', CMS, cm('new'))
      },
    )
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'new']])
  })

  it('turns an object entering or leaving a label selector into ADDED and DELETED', async () => {
    const t = makeApp()
    const created = await t.call('POST', CMS, cm('moving'))
    const { events } = await watchEvents(
      t,
      `${CMS}?watch=true&labelSelector=team%3Dblue&resourceVersion=${created.json.metadata.resourceVersion}`,
      3,
      async () => {
        await t.call('PATCH', `${CMS}/moving`, { metadata: { labels: { team: 'blue' } } })
        await t.call('PATCH', `${CMS}/moving`, { data: { x: '1' } })
        await t.call('PATCH', `${CMS}/moving`, { metadata: { labels: { team: 'red' } } })
      },
    )
    // Leaving the selection is DELETED with the object the watcher selected (its previous state) at the
    // resourceVersion of the change, as kube's cacheWatcher sends it.
    expect(events.map((e) => [e.type, e.object.metadata.labels?.team])).toEqual([
      ['ADDED', 'blue'],
      ['MODIFIED', 'blue'],
      ['DELETED', 'blue'],
    ])
    const current = await t.call('GET', `${CMS}/moving`)
    expect(events[2].object.metadata.resourceVersion).toBe(current.json.metadata.resourceVersion)
  })

  it('answers a compacted resourceVersion with an ERROR event carrying 410 Expired', async () => {
    const t = makeApp()
    await t.call('POST', CMS, cm('a'))
    const b = await t.call('POST', CMS, cm('b'))
    await t.store.compact(Number(b.json.metadata.resourceVersion))
    const { events, ended } = await watchEvents(t, `${CMS}?watch=true&resourceVersion=2`, 2)
    expect(ended).toBe(true)
    expect(events).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: 2 (${b.json.metadata.resourceVersion})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ])
  })

  it('ends the initial events of sendInitialEvents with an annotated BOOKMARK', async () => {
    const t = makeApp()
    await t.call('POST', CMS, cm('x'))
    const { events } = await watchEvents(
      t,
      `${CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dx`,
      2,
    )
    expect(events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'x' } } })
    expect(events[1]).toMatchObject({
      type: 'BOOKMARK',
      object: {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } },
      },
    })
    expect(Number(events[1].object.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(events[0].object.metadata.resourceVersion),
    )
  })

  it('ends the stream after timeoutSeconds', async () => {
    const t = makeApp()
    const { events, ended } = await watchEvents(
      t,
      `${CMS}?watch=true&resourceVersion=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dnone`,
      1,
    )
    expect(events).toEqual([])
    expect(ended).toBe(true)
  })

  it("rejects watch and list options ValidateListOptions refuses with kube-apiserver's 422 on ListOptions", async () => {
    const t = makeApp()
    const noMatch = await t.call('GET', `${CMS}?watch=true&sendInitialEvents=true`)
    expect(noMatch.status).toBe(422)
    // StatusDetails.name is omitempty: an Invalid with no name has none.
    expect(noMatch.json).toMatchObject({
      reason: 'Invalid',
      details: { group: 'meta.k8s.io', kind: 'ListOptions' },
    })
    expect(noMatch.json.details).not.toHaveProperty('name')
    expect(noMatch.json.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: [' +
        'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, ' +
        'allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true]',
    )
    const rvMatchAlone = await t.call('GET', `${CMS}?resourceVersionMatch=Exact`)
    expect(rvMatchAlone.status).toBe(422)
    expect(rvMatchAlone.json.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
    )
    const unsupported = await t.call('GET', `${CMS}?resourceVersionMatch=Newest&resourceVersion=1`)
    expect(unsupported.json.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""',
    )
    const listInitial = await t.call('GET', `${CMS}?sendInitialEvents=false`)
    expect(listInitial.json.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list',
    )
    const rvWithContinue = await t.call('GET', `${CMS}?resourceVersion=5&continue=x`)
    expect(rvWithContinue.status).toBe(400)
    expect(rvWithContinue.json.message).toBe(
      'specifying resource version is not allowed when using continue',
    )
    const badRv = await t.call('GET', `${CMS}?watch=true&resourceVersion=abc`)
    expect(badRv.status).toBe(400)
    const badSelector = await t.call('GET', `${CMS}?watch=true&labelSelector=a%20in%20(b`)
    expect(badSelector.status).toBe(400)
    expect(badSelector.json.message).toBe(
      "unable to parse requirement: found '', expected: ',' or ')'",
    )
  })
})

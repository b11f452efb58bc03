// Loading CustomResourceDefinitions into a cluster from files, as `kubectl apply -f` and then
// `kubectl wait --for=condition=Established` would, and until discovery lists them (what a client's
// RESTMapper reads before it can use the new kind).
import { readFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'
import { Client, KubeError, type Obj } from './access'

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'

/**
 * The CRDs in YAML (several documents) or JSON (one object, or a List) text. Anything else in it is
 * refused, naming the document: a file of CRDs with other objects among them is most likely a mistake.
 */
export function parseCRDs(text: string, source = 'the text'): Obj[] {
  const trimmed = text.trimStart()
  const docs: unknown[] = trimmed.startsWith('{')
    ? [JSON.parse(text)]
    : parseAllDocuments(text).map((d) => {
        if (d.errors.length) throw new Error(`${source}: ${d.errors[0]!.message}`)
        return d.toJS()
      })
  const out: Obj[] = []
  for (const doc of docs) {
    if (doc == null) continue
    const o = doc as Obj
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
      out.push(...(o.items as Obj[]).map((i) => check(i, source)))
    } else out.push(check(o, source))
  }
  return out
}

function check(o: Obj, source: string): Obj {
  if (o.kind !== 'CustomResourceDefinition' || o.apiVersion !== 'apiextensions.k8s.io/v1')
    throw new Error(
      `${source}: ${o.kind ?? 'a document'} ${o.metadata?.name ?? ''} is not an apiextensions.k8s.io/v1 CustomResourceDefinition`,
    )
  return o
}

/** Files (paths) or texts ({ text }) of CRDs. */
export type CRDSource = string | { text: string; name?: string }

/**
 * Creates (or replaces) each CRD and waits until every one is Established and its served versions list
 * it in discovery. Returns the CRDs as stored.
 */
export async function loadCRDs(
  client: Client,
  sources: CRDSource[],
  timeoutMs = 30_000,
): Promise<Obj[]> {
  const crds = sources.flatMap((s) =>
    typeof s === 'string'
      ? parseCRDs(readFileSync(s, 'utf8'), s)
      : parseCRDs(s.text, s.name ?? 'the text'),
  )
  const stored = await Promise.all(crds.map((crd) => createOrReplace(client, crd)))
  return Promise.all(stored.map((crd) => established(client, crd, timeoutMs)))
}

async function createOrReplace(client: Client, crd: Obj): Promise<Obj> {
  const name = crd.metadata?.name as string
  const created = await client.request('POST', CRDS, crd)
  if (created.status === 201) return JSON.parse(created.body) as Obj
  const failure = new KubeError('POST', CRDS, created)
  if (failure.reason !== 'AlreadyExists') throw failure
  for (;;) {
    const current = await client.json('GET', `${CRDS}/${name}`)
    const next = {
      ...crd,
      metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion },
    }
    const put = await client.request('PUT', `${CRDS}/${name}`, next)
    if (put.status === 200) return JSON.parse(put.body) as Obj
    const e = new KubeError('PUT', `${CRDS}/${name}`, put)
    if (e.reason !== 'Conflict') throw e
  }
}

async function established(client: Client, crd: Obj, timeoutMs: number): Promise<Obj> {
  const name = crd.metadata.name as string
  const condition = (o: Obj, type: string) =>
    (o.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type)
  let current = crd
  if (condition(crd, 'Established')?.status !== 'True') {
    current = await client.watch(
      `${CRDS}?watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}` +
        `&resourceVersion=${crd.metadata.resourceVersion}`,
      (type, o) => {
        if (type === 'DELETED') throw new Error(`CustomResourceDefinition ${name} was deleted`)
        const names = condition(o, 'NamesAccepted')
        if (names?.status === 'False')
          throw new Error(`CustomResourceDefinition ${name}: ${names.reason}: ${names.message}`)
        return condition(o, 'Established')?.status === 'True' ? o : undefined
      },
      timeoutMs,
    )
  }
  // Discovery lists it in each served version (what a RESTMapper, kubectl's or client-node's, reads).
  const { group, names } = current.spec as Obj
  const deadline = Date.now() + timeoutMs
  for (const v of (current.spec.versions as Obj[]).filter((v) => v.served)) {
    for (;;) {
      const a = await client.request('GET', `/apis/${group}/${v.name}`)
      const listed =
        a.status === 200 &&
        (JSON.parse(a.body) as Obj).resources?.some((r: Obj) => r.name === names.plural)
      if (listed) break
      if (Date.now() > deadline)
        throw new Error(`${names.plural}.${group}/${v.name} is not served after ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  return current
}

import { thrown } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import {
  UnknownStatusError,
  applyStrategicMergePatch,
  strategicMergeMapPatch,
} from '../../src/api/patch/strategic-merge-patch'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const pod = (): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'p',
    labels: { app: 'web' },
    finalizers: ['a', 'b'],
    ownerReferences: [{ uid: 'u1', name: 'rs' }],
  },
  spec: {
    containers: [
      {
        name: 'app',
        image: 'app:1',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
        ports: [{ containerPort: 80, protocol: 'TCP' }],
      },
      { name: 'side', image: 'side:1' },
    ],
    volumes: [{ name: 'v1', emptyDir: {} }],
    tolerations: [{ key: 't1' }],
  },
  status: {
    conditions: [
      { type: 'Ready', status: 'False' },
      { type: 'Initialized', status: 'True' },
    ],
  },
})

const smp = (doc: Json, patch: unknown, kind = 'Pod', group = ''): Json =>
  strategicMergeMapPatch(doc, patch as Json, group, kind) as Json
const smpBody = (doc: Json, body: string, kind = 'Pod', group = ''): Json =>
  applyStrategicMergePatch(doc, body, group, kind) as Json

function failure(
  doc: Json,
  body: string,
  kind = 'Pod',
): { code: number; reason?: string; message: string } {
  return thrown(() => applyStrategicMergePatch(doc, body, '', kind))
}

describe('strategic merge patch', () => {
  it('merges containers by name and their env by name, keeping the rest', () => {
    const out = smp(pod(), {
      spec: {
        containers: [
          {
            name: 'app',
            image: 'app:2',
            env: [
              { name: 'B', value: 'x' },
              { name: 'C', value: '3' },
            ],
          },
        ],
      },
    })
    expect(out.spec.containers).toEqual([
      {
        name: 'app',
        image: 'app:2',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: 'x' },
          { name: 'C', value: '3' },
        ],
        ports: [{ containerPort: 80, protocol: 'TCP' }],
      },
      { name: 'side', image: 'side:1' },
    ])
  })

  it('puts elements the live list lacks first when the patch has no $setElementOrder (mergeSortedSlice)', () => {
    const out = smp(pod(), { spec: { containers: [{ name: 'new', image: 'n' }] } })
    expect(out.spec.containers.map((c: Json) => c.name)).toEqual(['new', 'app', 'side'])
    const env = smp(pod(), {
      spec: {
        containers: [
          {
            name: 'app',
            env: [
              { name: 'Z', value: 'z' },
              { name: 'A', value: 'a' },
            ],
          },
        ],
      },
    })
    expect(env.spec.containers[0].env).toEqual([
      { name: 'Z', value: 'z' },
      { name: 'A', value: 'a' },
      { name: 'B', value: '2' },
    ])
  })

  it('merges ports by containerPort and conditions by type', () => {
    const out = smp(pod(), {
      spec: {
        containers: [
          { name: 'app', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }] },
        ],
      },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    })
    expect(out.spec.containers[0].ports).toEqual([
      { containerPort: 80, protocol: 'TCP', name: 'http' },
      { containerPort: 443 },
    ])
    expect(out.status.conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'Initialized', status: 'True' },
    ])
  })

  it('replaces lists without a patch strategy (tolerations)', () => {
    expect(smp(pod(), { spec: { tolerations: [{ key: 't2' }] } }).spec.tolerations).toEqual([
      { key: 't2' },
    ])
  })

  it('merges and dedupes finalizers, and merges ownerReferences by uid', () => {
    const out = smp(pod(), {
      metadata: {
        finalizers: ['c', 'a'],
        ownerReferences: [{ uid: 'u1', controller: true }, { uid: 'u2' }],
      },
    })
    expect(out.metadata.finalizers).toEqual(['c', 'a', 'b'])
    expect(out.metadata.ownerReferences).toEqual([
      { uid: 'u1', name: 'rs', controller: true },
      { uid: 'u2' },
    ])
  })

  it('deletes keys with null and leaves maps like labels merged', () => {
    const out = smp(pod(), {
      metadata: { labels: { app: null, tier: 'f' } },
      spec: { volumes: null },
    })
    expect(out.metadata.labels).toEqual({ tier: 'f' })
    expect(out.spec.volumes).toBeUndefined()
  })

  it('deletes list elements with $patch: delete', () => {
    const out = smp(pod(), { spec: { containers: [{ name: 'side', $patch: 'delete' }] } })
    expect(out.spec.containers.map((c: Json) => c.name)).toEqual(['app'])
  })

  it('replaces a whole list with a $patch: replace element', () => {
    const out = smp(pod(), {
      spec: { containers: [{ name: 'only', image: 'o' }, { $patch: 'replace' }] },
    })
    expect(out.spec.containers).toEqual([{ name: 'only', image: 'o' }])
  })

  it('replaces or deletes a map with $patch', () => {
    expect(
      smp(pod(), { metadata: { labels: { x: 'y', $patch: 'replace' } } }).metadata.labels,
    ).toEqual({ x: 'y' })
    expect(smp(pod(), { metadata: { labels: { $patch: 'delete' } } }).metadata.labels).toEqual({})
    expect(smp(pod(), { $patch: 'replace', kind: 'Pod' })).toEqual({ kind: 'Pod' })
  })

  it('removes primitives with $deleteFromPrimitiveList', () => {
    expect(
      smp(pod(), { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }).metadata
        .finalizers,
    ).toEqual(['b'])
    // Against a list the object does not have, the deletion list becomes the list (apimachinery does the same).
    expect(smp(pod(), { spec: { '$deleteFromPrimitiveList/x': ['a'] } }).spec.x).toEqual(['a'])
  })

  it('clears fields missing from $retainKeys', () => {
    const dep: Json = {
      metadata: { name: 'd' },
      spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } },
    }
    const out = smp(
      dep,
      { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
      'Deployment',
      'apps',
    )
    expect(out.spec.strategy).toEqual({ type: 'Recreate' })
  })

  it('orders lists by $setElementOrder', () => {
    const out = smp(pod(), {
      spec: {
        '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }],
        containers: [{ name: 'app', image: 'app:3' }],
      },
    })
    expect(out.spec.containers.map((c: Json) => [c.name, c.image])).toEqual([
      ['side', 'side:1'],
      ['app', 'app:3'],
    ])
    const fin = smp(pod(), {
      metadata: { '$setElementOrder/finalizers': ['b', 'c', 'a'], finalizers: ['c'] },
    })
    expect(fin.metadata.finalizers).toEqual(['b', 'c', 'a'])
  })

  it('reaches pod templates of workloads (kubectl apply on a Deployment)', () => {
    const dep: Json = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        template: {
          metadata: { labels: { app: 'd' } },
          spec: {
            containers: [
              { name: 'a', image: 'a:1' },
              { name: 'b', image: 'b:1' },
            ],
          },
        },
      },
    }
    const out = smp(
      dep,
      { spec: { template: { spec: { containers: [{ name: 'b', image: 'b:2' }] } } } },
      'Deployment',
      'apps',
    )
    expect(out.spec.template.spec.containers).toEqual([
      { name: 'a', image: 'a:1' },
      { name: 'b', image: 'b:2' },
    ])
    const cj: Json = {
      metadata: { name: 'c' },
      spec: {
        jobTemplate: {
          spec: {
            template: { spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b' }] } },
          },
        },
      },
    }
    const outCj = smp(
      cj,
      {
        spec: {
          jobTemplate: {
            spec: { template: { spec: { containers: [{ name: 'a', image: 'a:2' }] } } },
          },
        },
      },
      'CronJob',
      'batch',
    )
    expect(outCj.spec.jobTemplate.spec.template.spec.containers).toEqual([
      { name: 'a', image: 'a:2' },
      { name: 'b' },
    ])
  })

  it('treats unknown kinds by their metadata only (lists replace)', () => {
    const cm: Json = { metadata: { name: 'c', finalizers: ['x'] }, data: { a: '1' }, list: [1] }
    const out = smp(
      cm,
      { metadata: { finalizers: ['y'] }, data: { b: '2' }, list: [2] },
      'ConfigMap',
    )
    expect(out).toEqual({
      metadata: { name: 'c', finalizers: ['y', 'x'] },
      data: { a: '1', b: '2' },
      list: [2],
    })
  })

  it('kubectl label/annotate style patches change only metadata', () => {
    const out = smpBody(pod(), '{"metadata":{"labels":{"env":"prod"},"annotations":{"note":"x"}}}')
    expect(out.metadata.labels).toEqual({ app: 'web', env: 'prod' })
    expect(out.metadata.annotations).toEqual({ note: 'x' })
    expect(out.spec).toEqual(pod().spec)
  })

  it('does not mutate its inputs and treats a null body as no change', () => {
    const d = pod()
    smpBody(d, '{"spec":{"containers":[{"name":"app","image":"z"}]}}')
    expect(d).toEqual(pod())
    expect(smpBody(pod(), 'null')).toEqual(pod())
  })

  it("answers undecodable bodies with 400 and encoding/json's text", () => {
    expect(failure(pod(), '[]')).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: 'json: cannot unmarshal array into Go value of type map[string]interface {}',
    })
    expect(failure(pod(), '{').message).toBe('unexpected end of JSON input')
  })

  it('answers directive format errors with 400', () => {
    expect(failure(pod(), '{"spec":{"$retainKeys":"x"}}')).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: 'invalid patch format of retainKeys',
    })
    expect(failure(pod(), '{"spec":{"$retainKeys":["a"],"b":1}}').message).toBe(
      'invalid patch format of retainKeys',
    )
    expect(failure(pod(), '{"spec":{"$setElementOrderX":[]}}').message).toBe(
      'invalid patch format of setElementOrder list',
    )
    expect(
      failure(pod(), '{"metadata":{"$deleteFromPrimitiveListfinalizers":["a"]}}').message,
    ).toBe('invalid patch format of primitive list')
  })

  it('answers a list of lists with the generic 422', () => {
    const noFinalizers = { ...pod(), metadata: { name: 'p', finalizers: [] } }
    expect(failure(noFinalizers, '{"metadata":{"finalizers":[["a"]]}}')).toEqual({
      code: 422,
      reason: 'Invalid',
      message: 'the server rejected our request due to an error in our request',
    })
  })

  it("answers other merge errors with 500 and apimachinery's text, without a reason", () => {
    expect(failure(pod(), '{"spec":{"containers":[{"image":"x"}]}}')).toEqual({
      code: 500,
      reason: undefined,
      message: 'map: map[image:x] does not contain declared merge key: name',
    })
    expect(
      failure(pod(), '{"spec":{"containers":[{"name":"app","$patch":"merge"}]}}').message,
    ).toBe('merging lists cannot yet be specified in the patch')
    expect(failure(pod(), '{"spec":{"containers":[{"name":"app","$patch":"frob"}]}}').message).toBe(
      'unknown patch type: frob in map: map[$patch:frob name:app]',
    )
    expect(failure(pod(), '{"metadata":{"labels":{"$patch":"merge"}}}').message).toBe(
      'unknown patch type: merge in map: map[$patch:merge]',
    )
    expect(failure(pod(), '{"metadata":{"finalizers":[1]}}').message).toBe(
      'list element types are not identical: [[a b] [1]]',
    )
    expect(failure(pod(), '{"metadata":{"finalizers":[["a"]]}}').message).toBe(
      'list element types are not identical: [[a b] [[a]]]',
    )
    expect(failure(pod(), '{"spec":{"$setElementOrder/containers":"x"}}').message).toBe(
      'expected a []interface {}, but received a string',
    )
    expect(
      failure(
        pod(),
        '{"spec":{"$setElementOrder/containers":[{"name":"side"}],"containers":[{"name":"app"}]}}',
      ).message,
    ).toBe(
      "The order in patch list:\n[map[name:app]]\n doesn't match $setElementOrder list:\n[map[name:side]]\n",
    )
    const err = (() => {
      try {
        applyStrategicMergePatch(pod(), '{"spec":{"containers":[{"image":"x"}]}}', '', 'Pod')
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(UnknownStatusError)
  })
})

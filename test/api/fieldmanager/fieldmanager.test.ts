import { thrownStatus } from '../../helpers/status'
import { describe, expect, it } from 'vitest'
import {
  applyConfiguration,
  updateManagedFields,
  type FieldManagerScope,
} from '../../../src/api/fieldmanager'
import { FieldSet } from '../../../src/api/fieldmanager/fieldpath'
import { compare, merge, toFieldSet } from '../../../src/api/fieldmanager/typed'
import { publishedSchema } from '../../../src/api/openapi/schema'
import { builtinResources } from '../../../src/registry/builtin'
import { Registry } from '../../../src/registry/registry'
import type { KubeObject } from '../../../src/registry/types'

const registry = new Registry(builtinResources)
const deployments = registry.lookup('apps', 'v1', 'deployments')!
const schema = publishedSchema(deployments)!
const scope: FieldManagerScope = {
  schema,
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  subresource: '',
  statusIsSubresource: true,
}

const deploy = (spec: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', ...meta },
  spec,
})
const podSpec = (containers: unknown[]) => ({
  selector: { matchLabels: { app: 'web' } },
  template: { metadata: { labels: { app: 'web' } }, spec: { containers } },
})
type Entry = {
  manager: string
  operation: string
  fieldsV1: Record<string, any>
  apiVersion: string
}
const entries = (o: KubeObject) => o.metadata!.managedFields as Entry[]
const statusOf = (fn: () => unknown) => {
  return thrownStatus(() => fn())
}

describe('field sets', () => {
  it('writes fieldsV1 the way structured-merge-diff does: keyed items, "." for members with children', () => {
    const set = toFieldSet(
      deploy(podSpec([{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }]), {
        labels: { app: 'web' },
      }),
      schema,
    )
    expect(set.toFieldsV1()).toEqual({
      'f:apiVersion': {},
      'f:kind': {},
      'f:metadata': { 'f:labels': { 'f:app': {} }, 'f:name': {}, 'f:namespace': {} },
      'f:spec': {
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              'k:{"name":"nginx"}': {
                '.': {},
                'f:image': {},
                'f:name': {},
                'f:ports': {
                  'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} },
                },
              },
            },
          },
        },
      },
    })
    expect(FieldSet.fromFieldsV1(set.toFieldsV1()).equals(set)).toBe(true)
  })

  it('compares objects into added, modified and removed paths', () => {
    const a = deploy({ replicas: 1, paused: true })
    const b = deploy({ replicas: 2, minReadySeconds: 5 })
    const c = compare(a, b, schema)
    expect(c.modified.toFieldsV1()).toEqual({ 'f:spec': { 'f:replicas': {} } })
    expect(c.added.toFieldsV1()).toEqual({ 'f:spec': { 'f:minReadySeconds': {} } })
    expect(c.removed.toFieldsV1()).toEqual({ 'f:spec': { 'f:paused': {} } })
  })

  it('merges associative lists by key, keeping live-only items where they were', () => {
    const live = podSpec([
      { name: 'a', image: 'a:1' },
      { name: 'b', image: 'b:1' },
      { name: 'c', image: 'c:1' },
    ])
    const cfg = podSpec([
      { name: 'c', image: 'c:2' },
      { name: 'a', image: 'a:2' },
    ])
    const merged = merge(deploy(live), deploy(cfg), schema) as any
    expect(merged.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual([
      'b=b:1',
      'c=c:2',
      'a=a:2',
    ])
  })
})

describe('managedFields for updates', () => {
  it('records an Update entry for a create, without the fields the server owns', () => {
    const out = updateManagedFields(
      undefined,
      deploy({ replicas: 1 }, { labels: { app: 'web' } }),
      'kubectl-create',
      scope,
    )
    expect(entries(out)).toEqual([
      {
        manager: 'kubectl-create',
        operation: 'Update',
        apiVersion: 'apps/v1',
        time: expect.any(String),
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
          'f:spec': { 'f:replicas': {} },
        },
      },
    ])
  })

  it('moves a changed field from its owner to the updater', () => {
    const created = updateManagedFields(
      undefined,
      deploy({ replicas: 1, paused: false }),
      'a',
      scope,
    )
    const updated = updateManagedFields(
      created,
      { ...deploy({ replicas: 3, paused: false }), metadata: created.metadata },
      'b',
      scope,
    )
    expect(entries(updated).map((e) => [e.manager, e.fieldsV1])).toEqual([
      ['a', { 'f:spec': { 'f:paused': {} } }],
      ['b', { 'f:spec': { 'f:replicas': {} } }],
    ])
  })
})

describe('server-side apply', () => {
  const cfg = (replicas: number, extra: Record<string, unknown> = {}) =>
    deploy({ replicas, ...podSpec([{ name: 'nginx', image: 'nginx:1' }]), ...extra })

  it('creates with an Apply entry owning exactly the configuration', () => {
    const out = applyConfiguration(undefined, cfg(2), 'mgr', false, scope)
    const [e] = entries(out)
    expect(e).toMatchObject({ manager: 'mgr', operation: 'Apply', apiVersion: 'apps/v1' })
    expect(e.fieldsV1['f:spec']['f:replicas']).toEqual({})
    expect((out.spec as any).replicas).toBe(2)
  })

  it('answers 409 naming the other manager and field, and takes the field with force', () => {
    const a = applyConfiguration(undefined, cfg(2), 'alice', false, scope)
    const s = statusOf(() => applyConfiguration(a, cfg(5), 'bob', false, scope))
    expect(s.code).toBe(409)
    expect(s.reason).toBe('Conflict')
    expect(s.message).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.replicas')
    expect(s.details?.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.replicas' },
    ])
    const forced = applyConfiguration(a, cfg(5), 'bob', true, scope)
    expect((forced.spec as any).replicas).toBe(5)
    const alice = entries(forced).find((e) => e.manager === 'alice')!
    expect(alice.fieldsV1['f:spec']['f:replicas']).toBeUndefined()
  })

  it('does not conflict when both managers apply the same value: they share the field', () => {
    const a = applyConfiguration(undefined, cfg(2), 'alice', false, scope)
    const b = applyConfiguration(a, cfg(2), 'bob', false, scope)
    expect(entries(b).every((e) => e.fieldsV1['f:spec']['f:replicas'])).toBe(true)
  })

  it('lists the conflicts of an Update manager with its apiVersion, grouped by manager', () => {
    const created = updateManagedFields(undefined, cfg(1, { paused: true }), 'kubectl-edit', scope)
    const s = statusOf(() =>
      applyConfiguration(created, cfg(3, { paused: false }), 'bob', false, scope),
    )
    expect(s.message).toBe(
      'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using apps/v1:\n- .spec.paused\n- .spec.replicas',
    )
  })

  it('removes a field the applier stops applying when nobody else owns it', () => {
    const a = applyConfiguration(undefined, cfg(2, { paused: true }), 'alice', false, scope)
    const b = applyConfiguration(a, cfg(2), 'alice', false, scope)
    expect((b.spec as any).paused).toBeUndefined()
    const c = applyConfiguration(
      undefined,
      deploy({
        ...podSpec([
          { name: 'a', image: 'a' },
          { name: 'b', image: 'b' },
        ]),
      }),
      'alice',
      false,
      scope,
    )
    const d = applyConfiguration(
      c,
      deploy({ ...podSpec([{ name: 'b', image: 'b' }]) }),
      'alice',
      false,
      scope,
    )
    expect((d.spec as any).template.spec.containers.map((x: any) => x.name)).toEqual(['b'])
  })

  it('keeps a field the applier stops applying when another manager also owns it', () => {
    const a = applyConfiguration(undefined, cfg(2, { paused: true }), 'alice', false, scope)
    const b = applyConfiguration(a, cfg(2, { paused: true }), 'bob', false, scope)
    const c = applyConfiguration(b, cfg(2), 'alice', false, scope)
    expect((c.spec as any).paused).toBe(true)
  })

  it('rejects fields the schema does not declare, managedFields and a wrong apiVersion as kube-apiserver does', () => {
    const s = statusOf(() => applyConfiguration(undefined, cfg(1, { foo: 1 }), 'a', false, scope))
    expect(s.code).toBe(500)
    expect(s.reason).toBeUndefined()
    expect(s.message).toBe(
      'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema',
    )
    expect(
      statusOf(() =>
        applyConfiguration(undefined, { ...cfg(1), apiVersion: 'apps/v2' }, 'a', false, scope),
      ).message,
    ).toBe(
      'Incorrect version specified in apply patch. Specified patch version: apps/v2, expected: apps/v1',
    )
    expect(
      statusOf(() =>
        applyConfiguration(
          undefined,
          { ...cfg(1), metadata: { name: 'web', managedFields: [] } },
          'a',
          false,
          scope,
        ),
      ).message,
    ).toBe('metadata.managedFields must be nil')
  })

  it('lets kubectl take over the fields its client-side last-applied annotation set, and keeps the annotation in step', () => {
    const lastApplied = JSON.stringify(cfg(2))
    const csa = updateManagedFields(
      undefined,
      deploy(
        { replicas: 2, ...podSpec([{ name: 'nginx', image: 'nginx:1' }]) },
        { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied } },
      ),
      'kubectl-client-side-apply',
      scope,
    )
    const out = applyConfiguration(csa, cfg(4), 'kubectl', false, scope)
    expect((out.spec as any).replicas).toBe(4)
    expect(
      JSON.parse(out.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration'])
        .spec.replicas,
    ).toBe(4)
    // Another manager gets the conflict.
    expect(statusOf(() => applyConfiguration(csa, cfg(4), 'someone', false, scope)).code).toBe(409)
  })
})

// FlowSchema and PriorityLevelConfiguration through the registry: kube's v1 defaults, its validation
// messages, and the printer columns kubectl shows.
import { describe, expect, it } from 'vitest'
import { builtinResources } from '../../src/registry/builtin'
import { Registry } from '../../src/registry/registry'
import { RegistryStore } from '../../src/registry/store'
import type { KubeObject, RequestContext } from '../../src/registry/types'
import { StatusError } from '../../src/server/errors'
import { MemoryStore } from '../helpers/memory-store'

const registry = new Registry(builtinResources)
const ctx = (): RequestContext => ({
  dryRun: false,
  warnings: [],
  user: { username: 'a', groups: [] },
})
const store = (resource: string) =>
  new RegistryStore(
    registry.lookup('flowcontrol.apiserver.k8s.io', 'v1', resource)!,
    new MemoryStore(),
  )

async function causes(resource: string, obj: KubeObject): Promise<string[]> {
  try {
    await store(resource).create(undefined, obj, ctx())
  } catch (e) {
    if (!(e instanceof StatusError)) throw e
    return (e.details?.causes ?? []).map((c) => `${c.field}: ${c.message}`)
  }
  throw new Error('created')
}

const pl = (name: string, spec: unknown): KubeObject => ({
  apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
  kind: 'PriorityLevelConfiguration',
  metadata: { name },
  spec,
})
const fs = (name: string, spec: unknown): KubeObject => ({
  apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
  kind: 'FlowSchema',
  metadata: { name },
  spec,
})

describe('PriorityLevelConfiguration', () => {
  it('defaults shares to 30, lendablePercent to 0 and queuing to 64 queues, hands of 8, 50 long', async () => {
    const created = (await store('prioritylevelconfigurations').create(
      undefined,
      pl('p', { type: 'Limited', limited: { limitResponse: { type: 'Queue', queuing: {} } } }),
      ctx(),
    )) as any
    expect(created.spec.limited).toEqual({
      nominalConcurrencyShares: 30,
      lendablePercent: 0,
      limitResponse: { type: 'Queue', queuing: { queues: 64, handSize: 8, queueLengthLimit: 50 } },
    })
    expect(created.status).toEqual({})
    expect(created.metadata.generation).toBe(1)
  })

  it("refuses what kube's validation refuses, in its words", async () => {
    expect(
      await causes(
        'prioritylevelconfigurations',
        pl('p', {
          type: 'Limited',
          limited: {
            nominalConcurrencyShares: -1,
            lendablePercent: 101,
            limitResponse: {
              type: 'Queue',
              queuing: { queues: 4, handSize: 5, queueLengthLimit: -1 },
            },
          },
        }),
      ),
    ).toEqual([
      'spec.limited.nominalConcurrencyShares: Invalid value: -1: must be a non-negative integer',
      'spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: -1: must be positive',
      'spec.limited.limitResponse.queuing.handSize: Invalid value: 5: should not be greater than queues (4)',
      'spec.limited.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive',
    ])
    expect(await causes('prioritylevelconfigurations', pl('p', { type: 'Exempt' }))).toEqual([
      "spec.type: Invalid value: \"Exempt\": type must be 'Exempt' if and only if name is 'exempt'",
    ])
    expect(
      await causes(
        'prioritylevelconfigurations',
        pl('p', { type: 'Limited', limited: { limitResponse: { type: 'Reject', queuing: {} } } }),
      ),
    ).toEqual([
      'spec.limited.limitResponse.queuing: Forbidden: must be nil if limited.limitResponse.type is not Limited',
    ])
  })

  it('prints the columns of kubectl get prioritylevelconfigurations', () => {
    const t = registry.lookup('flowcontrol.apiserver.k8s.io', 'v1', 'prioritylevelconfigurations')!
    const p = t.strategy.printer!
    expect(p.columns.map((c) => c.name)).toEqual([
      'Name',
      'Type',
      'NominalConcurrencyShares',
      'Queues',
      'HandSize',
      'QueueLengthLimit',
      'Age',
    ])
    const row = p.row({
      metadata: { name: 'x' },
      spec: { type: 'Exempt', exempt: { nominalConcurrencyShares: 0 } },
    })
    expect(row.slice(0, 6)).toEqual(['x', 'Exempt', '<none>', '<none>', '<none>', '<none>'])
  })
})

describe('FlowSchema', () => {
  it('defaults matchingPrecedence to 1000', async () => {
    const created = (await store('flowschemas').create(
      undefined,
      fs('f', { priorityLevelConfiguration: { name: 'global-default' } }),
      ctx(),
    )) as any
    expect(created.spec.matchingPrecedence).toBe(1000)
  })

  it("refuses what kube's validation refuses, in its words", async () => {
    expect(
      await causes(
        'flowschemas',
        fs('f', {
          matchingPrecedence: 10001,
          priorityLevelConfiguration: { name: '' },
          distinguisherMethod: { type: 'ByGroup' },
          rules: [
            {
              subjects: [{ kind: 'User' }, { kind: 'Robot' }],
              resourceRules: [{ verbs: ['*', 'get'], apiGroups: [], resources: ['pods'] }],
              nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['healthz'] }],
            },
          ],
        }),
      ),
    ).toEqual([
      'spec.matchingPrecedence: Invalid value: 10001: must not be greater than 10000',
      'spec.distinguisherMethod.type: Unsupported value: "ByGroup": supported values: "ByNamespace", "ByUser"',
      'spec.priorityLevelConfiguration.name: Required value: must reference a priority level',
      "spec.rules[0].subjects[0].user: Required value: user is required when subject kind is 'User'",
      'spec.rules[0].subjects[1].kind: Unsupported value: "Robot": supported values: "Group", "ServiceAccount", "User"',
      'spec.rules[0].resourceRules[0].verbs: Invalid value: []string{"*", "get"}: if \'*\' is present, must not specify other verbs',
      'spec.rules[0].resourceRules[0].apiGroups: Required value: resource rules must supply at least one api group',
      'spec.rules[0].resourceRules[0].namespaces: Required value: resource rules that are not cluster scoped must supply at least one namespace',
      'spec.rules[0].nonResourceRules[0].nonResourceURLs[0]: Invalid value: "healthz": must start with slash',
    ])
  })
})

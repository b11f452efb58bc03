// --service-cluster-ip-range's effect on Services: the allocator's ranges, kube's family defaults on a
// dual-stack cluster (initIPFamilyFields), IPv6 addresses in their canonical spelling.
import { afterAll, describe, expect, it } from 'vitest'
import {
  configureServiceNetwork,
  formatIP,
  ipKey,
  kubernetesServiceIP,
  parseIP,
  SERVICE_CIDR,
} from '../../src/registry/builtin/allocator'
import { StatusError } from '../../src/server/errors'
import { MemoryStore } from '../helpers/memory-store'
import { create, kind } from './helpers'

const services = kind('', 'services')
const svc = (name: string, spec: Record<string, unknown>) =>
  create(services, {
    metadata: { name, namespace: 'default' },
    spec: { ports: [{ port: 80 }], ...spec },
  })

afterAll(() => configureServiceNetwork(SERVICE_CIDR))

describe('IP spelling', () => {
  it("parses and prints IPv4 and IPv6 as Go's net.IP does", () => {
    expect(formatIP('IPv6', parseIP('FD00:0:0:0:0:0:0:1')!.n)).toBe('fd00::1')
    expect(formatIP('IPv6', parseIP('2001:db8:0:0:1:0:0:1')!.n)).toBe('2001:db8::1:0:0:1')
    expect(formatIP('IPv6', parseIP('::')!.n)).toBe('::')
    expect(formatIP('IPv4', parseIP('10.96.0.1')!.n)).toBe('10.96.0.1')
    expect(parseIP('10.96.0.256')).toBeUndefined()
    expect(parseIP('fd00::1::2')).toBeUndefined()
  })
})

describe('a dual-stack service network', () => {
  it('gives the kubernetes Service the first IP of the primary range', () => {
    configureServiceNetwork('fd00:10:96::/112,10.97.0.0/16')
    expect(kubernetesServiceIP()).toBe('fd00:10:96::1')
    configureServiceNetwork(['10.97.0.0/16', 'fd00:10:96::/112'])
    expect(kubernetesServiceIP()).toBe('10.97.0.1')
  })

  it('allocates one IP per family for PreferDualStack and RequireDualStack, the primary only for SingleStack', async () => {
    configureServiceNetwork('10.97.0.0/16,fd00:10:96::/112')
    const store = new MemoryStore()
    const single = svc('single', {})
    expect(single.errors).toEqual([])
    await services.strategy.beforeCreate!(single.obj, store)
    expect(single.obj.spec).toMatchObject({
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
      clusterIPs: [expect.stringMatching(/^10\.97\./)],
    })

    const dual = svc('dual', { ipFamilyPolicy: 'PreferDualStack' })
    expect(dual.errors).toEqual([])
    await services.strategy.beforeCreate!(dual.obj, store)
    const spec = dual.obj.spec as { clusterIPs: string[]; ipFamilies: string[] }
    expect(spec.ipFamilies).toEqual(['IPv4', 'IPv6'])
    expect(spec.clusterIPs[0]).toMatch(/^10\.97\./)
    expect(spec.clusterIPs[1]).toMatch(/^fd00:10:96::[0-9a-f]+$/)
    expect(
      JSON.parse(store.data.get(ipKey(spec.clusterIPs[1]!))!.value).metadata.labels[
        'ipaddress.kubernetes.io/ip-family'
      ],
    ).toBe('IPv6')

    const v6first = svc('v6first', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] })
    expect(v6first.errors).toEqual([])
    expect(v6first.obj.spec).toMatchObject({ ipFamilies: ['IPv6', 'IPv4'] })

    const asked = svc('asked', {
      ipFamilyPolicy: 'PreferDualStack',
      clusterIPs: ['fd00:10:96::0:50', '10.97.1.2'],
    })
    expect(asked.errors).toEqual([])
    await services.strategy.beforeCreate!(asked.obj, store)
    expect(asked.obj.spec).toMatchObject({
      ipFamilies: ['IPv6', 'IPv4'],
      clusterIPs: ['fd00:10:96::0:50', '10.97.1.2'],
    })
    expect(store.data.has(ipKey('fd00:10:96::50'))).toBe(true)
  })

  it("refuses what a single-stack cluster cannot give, in kube's words", async () => {
    configureServiceNetwork('10.97.0.0/16')
    const required = svc('req', { ipFamilyPolicy: 'RequireDualStack' })
    expect(required.errors).toContain(
      'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
    )
    const preferred = svc('pref', { ipFamilyPolicy: 'PreferDualStack' })
    expect(preferred.errors).toEqual([])
    expect(preferred.obj.spec).toMatchObject({ ipFamilies: ['IPv4'] })
    const v6 = svc('v6', { clusterIP: 'fd00::5' })
    expect(v6.errors).toContain(
      'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
    )
    const store = new MemoryStore()
    const outside = await services.strategy.beforeCreate!(
      svc('out', { clusterIP: '10.96.0.9' }).obj,
      store,
    ).catch((e: StatusError) => e)
    expect((outside as StatusError).message).toContain('The range of valid IPs is 10.97.0.0/16')
  })
})

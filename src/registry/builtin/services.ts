// core/v1 Service: defaults (SetDefaults_Service), the REST layer's IP family and allocation work
// (pkg/registry/core/service/storage), validation (ValidateService/ValidateServiceUpdate) and printService.
import {
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  internalError,
  invalid,
  type FieldError,
} from '../../server/errors'
import type { Store } from '../../storage/store'
import type { KubeObject } from '../types'
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isValidIP,
  isValidPortName,
  isValidPortNum,
  nameIsDNS1035Label,
} from '../validation/names'
import { validateLabels } from '../validation/objectmeta'
import { child, index } from '../validation/path'
import { col, formatLabels } from '../printers/format'
import {
  canonicalIP,
  claimIP,
  claimNextIP,
  claimNextNodePort,
  claimNodePort,
  ipFamilyOf,
  ipInRange,
  ipKey,
  nodePortKey,
  nodePortRange,
  release,
  serviceCIDR,
  serviceIPFamilies,
  type IPFamily,
  type Owner,
} from './allocator'
import { defineKind, fieldsAt, printer, type Obj } from './define'

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']
const PROTOCOLS = ['SCTP', 'TCP', 'UDP']
const AFFINITIES = ['ClientIP', 'None']
const FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack']
const FAMILIES = ['IPv4', 'IPv6']
const TRAFFIC_POLICIES = ['Cluster', 'Local']

const ports = (spec: Obj): Obj[] => (Array.isArray(spec.ports) ? spec.ports : [])
const isHeadless = (spec: Obj) => spec.clusterIP === 'None'
const usesNodePorts = (spec: Obj) =>
  spec.type === 'NodePort' ||
  (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false)
const externallyAccessible = (spec: Obj) =>
  spec.type === 'LoadBalancer' ||
  spec.type === 'NodePort' ||
  (spec.type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0)
const needsHealthCheckPort = (spec: Obj) =>
  spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local'

function defaultService(svc: Obj) {
  const spec = (svc.spec ??= {})
  spec.sessionAffinity ||= 'None'
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig
  if (
    spec.sessionAffinity === 'ClientIP' &&
    spec.sessionAffinityConfig?.clientIP?.timeoutSeconds == null
  ) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } }
  }
  spec.type ||= 'ClusterIP'
  for (const p of ports(spec)) {
    p.protocol ||= 'TCP'
    if (
      p.targetPort === undefined ||
      p.targetPort === null ||
      p.targetPort === 0 ||
      p.targetPort === ''
    )
      p.targetPort = p.port
  }
  if (externallyAccessible(spec)) spec.externalTrafficPolicy ||= 'Cluster'
  if (
    spec.internalTrafficPolicy == null &&
    ['NodePort', 'LoadBalancer', 'ClusterIP'].includes(spec.type)
  )
    spec.internalTrafficPolicy = 'Cluster'
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true
}

// clusterIP and clusterIPs say the same thing; whichever was given fills the other.
function normalizeClusterIPs(spec: Obj) {
  if (spec.clusterIP && !(spec.clusterIPs ?? []).length) spec.clusterIPs = [spec.clusterIP]
  else if (!spec.clusterIP && (spec.clusterIPs ?? []).length) spec.clusterIP = spec.clusterIPs[0]
}

// The REST layer's family defaults (initIPFamilyFields) for the configured ranges: families follow the
// cluster IPs given, then the primary range; PreferDualStack and RequireDualStack get the other family
// too on a dual-stack cluster, and PreferDualStack drops a family the cluster does not have.
function defaultIPFamilies(spec: Obj) {
  if (spec.type === 'ExternalName') return
  const cluster = serviceIPFamilies()
  const selectorless = isHeadless(spec) && !Object.keys(spec.selector ?? {}).length
  const families: string[] = [...(spec.ipFamilies ?? [])]
  ;((spec.clusterIPs ?? []) as string[]).forEach((ip, i) => {
    const f = ip === 'None' ? undefined : ipFamilyOf(ip)
    if (f && families[i] === undefined) families[i] = f
  })
  if (!spec.ipFamilyPolicy)
    spec.ipFamilyPolicy = selectorless
      ? 'RequireDualStack'
      : families.length > 1
        ? undefined
        : 'SingleStack'
  if (!families.length) families.push(cluster[0]!)
  const dual =
    spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack'
  if (dual && families.length === 1 && cluster.length === 2)
    families.push(cluster.find((f) => f !== families[0])!)
  if (spec.ipFamilyPolicy === 'PreferDualStack' || (selectorless && cluster.length === 1)) {
    const kept = families.filter((f) => cluster.includes(f as IPFamily))
    if (kept.length) families.splice(0, families.length, ...kept)
  }
  spec.ipFamilies = families
}

function validatePortNumOrName(v: unknown, path: string): FieldError[] {
  if (typeof v === 'number') return isValidPortNum(v).map((m) => fieldInvalid(path, v, m))
  if (typeof v === 'string') return isValidPortName(v).map((m) => fieldInvalid(path, v, m))
  return []
}

function validateService(svc: Obj): FieldError[] {
  const spec = (svc.spec ?? {}) as Obj
  const errs: FieldError[] = []
  const list = ports(spec)
  if (list.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName')
    errs.push(fieldRequired('spec.ports'))
  if (!SERVICE_TYPES.includes(spec.type))
    errs.push(fieldNotSupported('spec.type', spec.type ?? '', SERVICE_TYPES))
  if (spec.type === 'ExternalName') {
    if (spec.clusterIP)
      errs.push(fieldForbidden('spec.clusterIPs', 'may not be set for ExternalName services'))
    if (!spec.externalName) errs.push(fieldRequired('spec.externalName'))
    else
      for (const m of isDNS1123Subdomain(String(spec.externalName).replace(/\.$/, '')))
        errs.push(fieldInvalid('spec.externalName', spec.externalName, m))
  }
  const names = new Set<string>()
  const seen = new Set<string>()
  list.forEach((p, i) => {
    const pp = index('spec.ports', i)
    if (list.length > 1 && !p.name) errs.push(fieldRequired(child(pp, 'name')))
    else if (p.name) {
      for (const m of isDNS1123Label(p.name)) errs.push(fieldInvalid(child(pp, 'name'), p.name, m))
      if (names.has(p.name)) errs.push(fieldDuplicate(child(pp, 'name'), p.name))
      names.add(p.name)
    }
    for (const m of isValidPortNum(p.port ?? 0))
      errs.push(fieldInvalid(child(pp, 'port'), p.port ?? 0, m))
    if (!p.protocol) errs.push(fieldRequired(child(pp, 'protocol')))
    else if (!PROTOCOLS.includes(p.protocol))
      errs.push(fieldNotSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS))
    errs.push(...validatePortNumOrName(p.targetPort, child(pp, 'targetPort')))
    if (p.nodePort && spec.type === 'ClusterIP')
      errs.push(fieldForbidden(child(pp, 'nodePort'), "may not be used when `type` is 'ClusterIP'"))
    if (p.nodePort && spec.type === 'ExternalName')
      errs.push(
        fieldForbidden(child(pp, 'nodePort'), "may not be used when `type` is 'ExternalName'"),
      )
    const k = `${p.protocol}/${p.port}`
    if (seen.has(k)) errs.push(fieldDuplicate(pp, { protocol: p.protocol, port: p.port }))
    seen.add(k)
  })
  if (spec.sessionAffinity && !AFFINITIES.includes(spec.sessionAffinity))
    errs.push(fieldNotSupported('spec.sessionAffinity', spec.sessionAffinity, AFFINITIES))
  errs.push(...validateLabels(spec.selector, 'spec.selector'))
  const ips: string[] = spec.clusterIPs ?? []
  ips.forEach((ip, i) => {
    if (ip !== 'None' && !isValidIP(ip))
      errs.push(
        fieldInvalid(
          index('spec.clusterIPs', i),
          ip,
          'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        ),
      )
  })
  if (spec.clusterIP && ips.length && ips[0] !== spec.clusterIP)
    errs.push(fieldInvalid('spec.clusterIPs', ips, 'first value must match `clusterIP`'))
  if (spec.ipFamilyPolicy && !FAMILY_POLICIES.includes(spec.ipFamilyPolicy))
    errs.push(fieldNotSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, FAMILY_POLICIES))
  const cluster = serviceIPFamilies()
  const families: string[] = spec.ipFamilies ?? []
  if (!spec.ipFamilyPolicy && spec.type !== 'ExternalName' && families.length > 1) {
    errs.push(
      fieldInvalid(
        'spec.ipFamilyPolicy',
        null,
        "must be RequireDualStack or PreferDualStack when multiple 'ipFamilies' are specified",
      ),
    )
  }
  if (spec.ipFamilyPolicy === 'SingleStack' && families.length > 1) {
    errs.push(
      fieldInvalid(
        'spec.ipFamilies',
        families,
        'when multiple IP families are specified, ipFamilyPolicy must be set to PreferDualStack or RequireDualStack',
      ),
    )
  }
  if (spec.ipFamilyPolicy === 'RequireDualStack' && cluster.length < 2 && !isHeadless(spec)) {
    errs.push(
      fieldInvalid(
        'spec.ipFamilyPolicy',
        spec.ipFamilyPolicy,
        'this cluster is not configured for dual-stack services',
      ),
    )
  }
  families.forEach((f, i) => {
    if (!FAMILIES.includes(f))
      errs.push(fieldNotSupported(index('spec.ipFamilies', i), f, FAMILIES))
    else if (i > 0 && families[0] === f) errs.push(fieldDuplicate(index('spec.ipFamilies', i), f))
    else if (!cluster.includes(f as IPFamily) && !isHeadless(spec))
      errs.push(fieldInvalid(index('spec.ipFamilies', i), f, 'not configured on this cluster'))
  })
  ips.forEach((ip, i) => {
    const want = families[i]
    if (ip !== 'None' && isValidIP(ip) && want && ipFamilyOf(ip) !== want && !isHeadless(spec)) {
      errs.push(
        fieldInvalid(
          index('spec.clusterIPs', i),
          ip,
          `expected an ${want} value as indicated by \`ipFamilies[${i}]\``,
        ),
      )
    }
  })
  if (spec.externalTrafficPolicy) {
    if (!TRAFFIC_POLICIES.includes(spec.externalTrafficPolicy))
      errs.push(
        fieldNotSupported(
          'spec.externalTrafficPolicy',
          spec.externalTrafficPolicy,
          TRAFFIC_POLICIES,
        ),
      )
    else if (!externallyAccessible(spec))
      errs.push(
        fieldInvalid(
          'spec.externalTrafficPolicy',
          spec.externalTrafficPolicy,
          'may only be set for externally-accessible services',
        ),
      )
  }
  if (spec.internalTrafficPolicy && !TRAFFIC_POLICIES.includes(spec.internalTrafficPolicy)) {
    errs.push(
      fieldNotSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, TRAFFIC_POLICIES),
    )
  }
  return errs
}

// validateUpgradeDowngradeClusterIPs: an allocated cluster IP never changes.
function validateServiceUpdate(svc: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = []
  const spec = (svc.spec ?? {}) as Obj
  const o = (old.spec ?? {}) as Obj
  if (
    spec.type !== 'ExternalName' &&
    o.type !== 'ExternalName' &&
    !(isHeadless(spec) && isHeadless(o))
  ) {
    const now: string[] = spec.clusterIPs ?? []
    const before: string[] = o.clusterIPs ?? []
    before.forEach((ip, i) => {
      if (i < now.length && now[i] !== ip)
        errs.push(fieldInvalid(index('spec.clusterIPs', i), now, 'may not change once set'))
    })
    if (before.length && !now.length)
      errs.push(fieldInvalid('spec.clusterIPs', now, 'primary clusterIP can not be unset'))
  }
  return [...errs, ...validateService(svc)]
}

// patchAllocatedValues: an update that leaves out what was allocated keeps it.
function keepAllocated(svc: Obj, old: Obj) {
  const spec = (svc.spec ??= {})
  const o = (old.spec ?? {}) as Obj
  if (spec.type !== 'ExternalName' && o.type !== 'ExternalName') {
    if (!spec.clusterIP && !(spec.clusterIPs ?? []).length && o.clusterIP) {
      spec.clusterIP = o.clusterIP
      spec.clusterIPs = o.clusterIPs
    }
    spec.ipFamilies ??= o.ipFamilies
    spec.ipFamilyPolicy ??= o.ipFamilyPolicy
  }
  if (usesNodePorts(spec) && usesNodePorts(o)) {
    for (const p of ports(spec)) {
      if (p.nodePort) continue
      const match = ports(o).find(
        (q) => q.port === p.port && q.protocol === p.protocol && q.nodePort,
      )
      if (match) p.nodePort = match.nodePort
    }
  }
  if (needsHealthCheckPort(spec) && needsHealthCheckPort(o))
    spec.healthCheckNodePort ??= o.healthCheckNodePort
}

const ownerOf = (svc: KubeObject): Owner => ({
  namespace: svc.metadata?.namespace ?? '',
  name: svc.metadata?.name ?? '',
})
const rejected = (svc: KubeObject, errs: FieldError[]) =>
  invalid({ group: '', kind: 'Service' }, svc.metadata?.name ?? '', errs)

/** Allocates cluster IPs and node ports; on any failure releases what it took and throws kube's error. */
async function allocate(svc: KubeObject, store: Store): Promise<void> {
  const spec = (svc.spec ?? {}) as Obj
  const owner = ownerOf(svc)
  const taken: string[] = []
  try {
    if (spec.type !== 'ExternalName' && !isHeadless(spec)) {
      // One IP per family, in ipFamilies' order: the one asked for, or the next free one of that range.
      const asked: string[] = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])
      const families: IPFamily[] = spec.ipFamilies ?? [serviceIPFamilies()[0]!]
      const got: string[] = []
      for (let i = 0; i < families.length; i++) {
        const wanted = asked[i]
        if (wanted) {
          if (!ipInRange(wanted)) {
            throw rejected(svc, [
              fieldInvalid(
                'spec.clusterIPs',
                asked,
                `failed to allocate IP ${wanted}: the provided IP (${wanted}) is not in the valid range. The range of valid IPs is ${serviceCIDR(families[i])}`,
              ),
            ])
          }
          if (!(await claimIP(store, wanted, owner)))
            throw rejected(svc, [
              fieldInvalid(
                'spec.clusterIPs',
                asked,
                `failed to allocate IP ${wanted}: provided IP is already allocated`,
              ),
            ])
          taken.push(ipKey(canonicalIP(wanted)))
          got.push(wanted)
        } else {
          const ip = await claimNextIP(store, owner, families[i])
          if (!ip) throw internalError(new Error('failed to allocate a serviceIP: range is full'))
          taken.push(ipKey(ip))
          got.push(ip)
        }
      }
      spec.clusterIP = got[0]
      spec.clusterIPs = got
    } else if (isHeadless(spec)) {
      spec.clusterIPs = ['None']
    }

    const nodePortErr = (i: number, port: number, why: string) =>
      rejected(svc, [fieldInvalid(child(index('spec.ports', i), 'nodePort'), port, why)])
    const mine = new Set<number>()
    const claimSpecific = async (port: number, onError: (why: string) => Error) => {
      if (mine.has(port)) return
      const range = nodePortRange()
      if (port < range.min || port > range.max) {
        throw onError(
          `provided port is not in the valid range. The range of valid ports is ${range.min}-${range.max}`,
        )
      }
      if (!(await claimNodePort(store, port, owner)))
        throw onError('provided port is already allocated')
      taken.push(nodePortKey(port))
      mine.add(port)
    }
    const claimAny = async () => {
      const port = await claimNextNodePort(store, owner)
      if (port === undefined)
        throw internalError(new Error('failed to allocate a nodePort: range is full'))
      taken.push(nodePortKey(port))
      mine.add(port)
      return port
    }
    if (usesNodePorts(spec)) {
      const list = ports(spec)
      for (let i = 0; i < list.length; i++)
        if (list[i].nodePort)
          await claimSpecific(list[i].nodePort, (why) => nodePortErr(i, list[i].nodePort, why))
      for (const p of list) if (!p.nodePort) p.nodePort = await claimAny()
    }
    if (needsHealthCheckPort(spec)) {
      if (spec.healthCheckNodePort) {
        await claimSpecific(spec.healthCheckNodePort, (why) =>
          rejected(svc, [fieldInvalid('spec.healthCheckNodePort', spec.healthCheckNodePort, why)]),
        )
      } else spec.healthCheckNodePort = await claimAny()
    }
  } catch (e) {
    for (const key of taken) await release(store, key, owner)
    throw e
  }
}

async function releaseAll(svc: KubeObject, store: Store): Promise<void> {
  const spec = (svc.spec ?? {}) as Obj
  const owner = ownerOf(svc)
  for (const ip of (spec.clusterIPs ?? []) as string[])
    if (ip !== 'None') await release(store, ipKey(canonicalIP(ip)), owner)
  const nodePorts = new Set<number>(
    ports(spec)
      .map((p) => p.nodePort)
      .filter(Boolean),
  )
  if (spec.healthCheckNodePort) nodePorts.add(spec.healthCheckNodePort)
  for (const port of nodePorts) await release(store, nodePortKey(port), owner)
}

/** getServiceExternalIP as the server prints it (wide, so never clipped). */
function externalIP(svc: Obj): string {
  const spec = svc.spec ?? {}
  const external: string[] = spec.externalIPs ?? []
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return external.length ? external.join(',') : '<none>'
    case 'LoadBalancer': {
      const lb = [
        ...new Set(
          ((svc.status?.loadBalancer?.ingress ?? []) as Obj[])
            .map((i) => i.ip || i.hostname)
            .filter(Boolean),
        ),
      ].sort()
      if (external.length) return [...lb, ...external].join(',')
      return lb.length ? lb.join(',') : '<pending>'
    }
    case 'ExternalName':
      return spec.externalName ?? ''
  }
  return '<unknown>'
}

const portString = (svc: Obj) =>
  ports(svc.spec ?? {})
    .map((p) =>
      p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`,
    )
    .join(',') || '<none>'

export const services = defineKind({
  group: '',
  version: 'v1',
  resource: 'services',
  kind: 'Service',
  namespaced: true,
  shortNames: ['svc'],
  categories: ['all'],
  returnDeletedObject: true,
  storagePrefix: 'services/specs',
  subresources: { status: true },
  schema: 'CoreV1Service',
  initialStatus: () => ({ loadBalancer: {} }),
  strategy: {
    validateName: nameIsDNS1035Label,
    defaults: defaultService,
    prepareForCreate(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      normalizeClusterIPs(spec)
      defaultIPFamilies(spec)
    },
    prepareForUpdate(obj, old) {
      keepAllocated(obj, old)
      normalizeClusterIPs(obj.spec as Obj)
      defaultIPFamilies(obj.spec as Obj)
    },
    validate: validateService,
    validateUpdate: validateServiceUpdate,
    beforeCreate: allocate,
    afterDelete: releaseAll,
    fieldSelectors: fieldsAt({ 'spec.clusterIP': 'spec.clusterIP', 'spec.type': 'spec.type' }),
    printer: printer(
      [
        col(
          'Type',
          'string',
          'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types',
        ),
        col(
          'Cluster-IP',
          'string',
          'clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are "None", empty string (""), or a valid IP address. Setting this to "None" makes a "headless service" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies',
        ),
        col(
          'External-IP',
          'string',
          'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.',
        ),
        col(
          'Port(s)',
          'string',
          'The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies',
        ),
      ],
      (o) => [
        o.spec?.type ?? '',
        o.spec?.clusterIPs?.[0] ?? '<none>',
        externalIP(o),
        portString(o),
      ],
      {
        wide: [
          col(
            'Selector',
            'string',
            'Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/',
            1,
          ),
        ],
        wideCells: (o) => [formatLabels(o.spec?.selector)],
      },
    ),
  },
})

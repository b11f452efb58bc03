// networking.k8s.io/v1: Ingress (etcd key: ingress), IngressClass, NetworkPolicy.
import {
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import {
  isDNS1123Subdomain,
  isWildcardDNS1123Subdomain,
  nameIsDNS1035Label,
} from '../validation/names'
import { validateImmutableField, validateLabelSelector } from '../validation/objectmeta'
import { child, index } from '../validation/path'
import { col, formatLabelSelector } from '../printers/format'
import type { ResourceType } from '../types'
import { defineKind, printer, type Obj } from './define'

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix']

function validateBackend(b: Obj | undefined, path: string): FieldError[] {
  if (!b) return []
  const errs: FieldError[] = []
  if (b.service && b.resource)
    errs.push(fieldInvalid(path, b, 'cannot set both resource and service backends'))
  else if (b.service) {
    if (!b.service.name) errs.push(fieldRequired(child(path, 'service', 'name')))
    else
      for (const m of nameIsDNS1035Label(b.service.name, false))
        errs.push(fieldInvalid(child(path, 'service', 'name'), b.service.name, m))
    const port = b.service.port ?? {}
    if (port.name && port.number)
      errs.push(
        fieldInvalid(
          child(path, 'service', 'port'),
          port,
          'cannot set both port name & port number',
        ),
      )
    else if (!port.name && !port.number)
      errs.push(fieldRequired(child(path, 'service', 'port'), 'port name or number is required'))
  } else if (!b.resource)
    errs.push(fieldInvalid(path, b, 'resource or service backend is required'))
  return errs
}

function validateIngress(ing: Obj): FieldError[] {
  const spec = ing.spec ?? {}
  const errs: FieldError[] = []
  const rules = (spec.rules ?? []) as Obj[]
  if (!spec.defaultBackend && rules.length === 0)
    errs.push(
      fieldInvalid('spec.rules', rules, 'either `defaultBackend` or `rules` must be specified'),
    )
  errs.push(...validateBackend(spec.defaultBackend, 'spec.defaultBackend'))
  if (spec.ingressClassName)
    for (const m of isDNS1123Subdomain(spec.ingressClassName))
      errs.push(fieldInvalid('spec.ingressClassName', spec.ingressClassName, m))
  rules.forEach((r, i) => {
    const rp = index('spec.rules', i)
    if (r.host) {
      const msgs = r.host.includes('*')
        ? isWildcardDNS1123Subdomain(r.host)
        : isDNS1123Subdomain(r.host)
      for (const m of msgs) errs.push(fieldInvalid(child(rp, 'host'), r.host, m))
    }
    if (!r.http) return
    const paths = (r.http.paths ?? []) as Obj[]
    if (paths.length === 0) errs.push(fieldRequired(child(rp, 'http', 'paths')))
    paths.forEach((p, j) => {
      const pp = index(child(rp, 'http', 'paths'), j)
      if (!p.pathType) errs.push(fieldRequired(child(pp, 'pathType'), 'pathType must be specified'))
      else if (!PATH_TYPES.includes(p.pathType))
        errs.push(fieldNotSupported(child(pp, 'pathType'), p.pathType, PATH_TYPES))
      if (
        (p.pathType === 'Exact' || p.pathType === 'Prefix') &&
        !String(p.path ?? '').startsWith('/')
      )
        errs.push(fieldInvalid(child(pp, 'path'), p.path ?? '', 'must be an absolute path'))
      errs.push(...validateBackend(p.backend, child(pp, 'backend')))
    })
  })
  return errs
}

/** ingressLoadBalancerStatusStringer: distinct IPs or hostnames, sorted. */
const ingressAddress = (o: Obj) =>
  [
    ...new Set(
      ((o.status?.loadBalancer?.ingress ?? []) as Obj[])
        .map((i) => i.ip || i.hostname)
        .filter(Boolean),
    ),
  ]
    .sort()
    .join(',')

function ingressHosts(o: Obj): string {
  const rules = (o.spec?.rules ?? []) as Obj[]
  const hosts = rules
    .map((r) => r.host)
    .filter(Boolean)
    .slice(0, 3)
  if (hosts.length === 0) return '*'
  return rules.length > 3 ? `${hosts.join(',')} + ${rules.length - 3} more...` : hosts.join(',')
}

export const ingresses = defineKind({
  group: 'networking.k8s.io',
  version: 'v1',
  resource: 'ingresses',
  kind: 'Ingress',
  namespaced: true,
  shortNames: ['ing'],
  storagePrefix: 'ingress',
  subresources: { status: true },
  schema: 'NetworkingV1Ingress',
  generation: true,
  initialStatus: () => ({ loadBalancer: {} }),
  strategy: {
    validate: validateIngress,
    printer: printer(
      [
        col(
          'Class',
          'string',
          'The name of the IngressClass resource that should be used for additional configuration',
        ),
        col(
          'Hosts',
          'string',
          'Hosts that incoming requests are matched against before the ingress rule',
        ),
        col(
          'Address',
          'string',
          'Address is a list containing ingress points for the load-balancer',
        ),
        col('Ports', 'string', 'Ports of TLS configurations that open'),
      ],
      (o) => [
        o.spec?.ingressClassName ?? '<none>',
        ingressHosts(o),
        ingressAddress(o),
        (o.spec?.tls ?? []).length ? '80, 443' : '80',
      ],
    ),
  },
})

export const ingressclasses = defineKind({
  group: 'networking.k8s.io',
  version: 'v1',
  resource: 'ingressclasses',
  kind: 'IngressClass',
  namespaced: false,
  schema: 'NetworkingV1IngressClass',
  generation: true,
  strategy: {
    validate: (obj) => ((obj.spec as Obj)?.controller ? [] : [fieldRequired('spec.controller')]),
    validateUpdate: (obj, old) =>
      validateImmutableField(
        (obj.spec as Obj)?.controller,
        (old.spec as Obj)?.controller,
        'spec.controller',
      ),
    printer: printer(
      [
        col('Controller', 'string', 'Controller that is responsible for handling this class'),
        col('Parameters', 'string', 'A reference to a resource with additional parameters'),
      ],
      (o) => {
        const p = o.spec?.parameters
        return [
          o.spec?.controller ?? '',
          p ? `${p.kind}${p.apiGroup ? '.' + p.apiGroup : ''}/${p.name}` : '<none>',
        ]
      },
    ),
  },
})

const POLICY_TYPES = ['Ingress', 'Egress']

export const networkpolicies = defineKind({
  group: 'networking.k8s.io',
  version: 'v1',
  resource: 'networkpolicies',
  kind: 'NetworkPolicy',
  namespaced: true,
  shortNames: ['netpol'],
  schema: 'NetworkingV1NetworkPolicy',
  generation: true,
  strategy: {
    defaults(obj) {
      const spec = ((obj.spec as Obj) ??= {})
      // SetDefaults_NetworkPolicy: Ingress always, Egress when egress rules exist.
      if (!(spec.policyTypes ?? []).length)
        spec.policyTypes = (spec.egress ?? []).length ? ['Ingress', 'Egress'] : ['Ingress']
      for (const rule of [...(spec.ingress ?? []), ...(spec.egress ?? [])] as Obj[])
        for (const p of (rule.ports ?? []) as Obj[]) p.protocol ||= 'TCP'
      spec.podSelector ??= {}
    },
    validate(obj) {
      const spec = (obj.spec ?? {}) as Obj
      const errs = validateLabelSelector(spec.podSelector, 'spec.podSelector')
      ;((spec.policyTypes ?? []) as string[]).forEach((t, i) => {
        if (!POLICY_TYPES.includes(t))
          errs.push(fieldNotSupported(index('spec.policyTypes', i), t, POLICY_TYPES))
      })
      return errs
    },
    printer: printer(
      [
        col(
          'Pod-Selector',
          'string',
          "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is applied to any pods selected by this field. An empty selector matches all pods in the policy's namespace. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is optional. If it is not specified, it defaults to an empty selector.",
        ),
      ],
      (o) => [formatLabelSelector(o.spec?.podSelector)],
    ),
  },
})

export const networkingResources: ResourceType[] = [ingresses, ingressclasses, networkpolicies]

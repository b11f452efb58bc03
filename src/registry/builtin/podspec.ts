// PodSpec and PodTemplateSpec: the defaults (pkg/apis/core/v1/defaults.go) and the validation
// (pkg/apis/core/validation) shared by Pods, PodTemplates and every workload kind.
import {
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import { semanticEqual } from '../validation/equality'
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
} from '../validation/names'
import { validateLabels, validateTemplateMeta } from '../validation/objectmeta'
import { child, index } from '../validation/path'

type Obj = Record<string, any>
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v : [])

/** ParseImageName's tag: "latest" unless a tag is given, "" when pinned by digest. */
export function imageTag(image: string): string {
  if (image.includes('@')) return ''
  const lastSlash = image.lastIndexOf('/')
  const colon = image.lastIndexOf(':')
  return colon > lastSlash ? image.slice(colon + 1) : 'latest'
}

function defaultProbe(p: Obj | undefined) {
  if (!p) return
  p.timeoutSeconds ??= 1
  p.periodSeconds ??= 10
  p.successThreshold ??= 1
  p.failureThreshold ??= 3
  defaultHandler(p)
}

function defaultHandler(h: Obj | undefined) {
  if (!h?.httpGet) return
  h.httpGet.path ||= '/'
  h.httpGet.scheme ||= 'HTTP'
}

function defaultContainer(c: Obj) {
  c.terminationMessagePath ||= '/dev/termination-log'
  c.terminationMessagePolicy ||= 'File'
  if (!c.imagePullPolicy)
    c.imagePullPolicy = imageTag(String(c.image ?? '')) === 'latest' ? 'Always' : 'IfNotPresent'
  // ResourceRequirements is a struct, so kube always prints `resources: {}`.
  c.resources ??= {}
  for (const p of list(c.ports)) p.protocol ||= 'TCP'
  for (const e of list(c.env)) if (e.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion ||= 'v1'
  defaultProbe(c.livenessProbe)
  defaultProbe(c.readinessProbe)
  defaultProbe(c.startupProbe)
  defaultHandler(c.lifecycle?.postStart)
  defaultHandler(c.lifecycle?.preStop)
}

const VOLUME_SOURCES_WITH_MODE = ['configMap', 'secret', 'downwardAPI', 'projected']

function defaultVolume(v: Obj) {
  const sources = Object.keys(v).filter((k) => k !== 'name')
  if (sources.length === 0) v.emptyDir = {}
  for (const s of VOLUME_SOURCES_WITH_MODE) if (v[s]) v[s].defaultMode ??= 420
  if (v.hostPath) v.hostPath.type ??= ''
  for (const src of list(v.projected?.sources))
    if (src.serviceAccountToken) src.serviceAccountToken.expirationSeconds ??= 3600
  for (const item of list(v.downwardAPI?.items))
    if (item.fieldRef) item.fieldRef.apiVersion ||= 'v1'
}

/** SetDefaults_PodSpec and everything nested in it. */
export function defaultPodSpec(spec: Obj) {
  spec.dnsPolicy ||= 'ClusterFirst'
  spec.restartPolicy ||= 'Always'
  spec.terminationGracePeriodSeconds ??= 30
  spec.securityContext ??= {}
  spec.schedulerName ||= 'default-scheduler'
  for (const c of [...list(spec.containers), ...list(spec.initContainers)]) defaultContainer(c)
  for (const c of list(spec.ephemeralContainers)) defaultContainer(c)
  for (const v of list(spec.volumes)) defaultVolume(v)
  if (spec.hostNetwork) {
    // With host networking a container port is a host port.
    for (const c of [...list(spec.containers), ...list(spec.initContainers)])
      for (const p of list(c.ports)) p.hostPort ??= p.containerPort
  }
}

/** Defaults for a PodTemplateSpec embedded in a workload. */
export function defaultPodTemplate(template: Obj | undefined) {
  if (!template) return
  // ObjectMeta.creationTimestamp is a struct without omitempty: a template always carries `creationTimestamp: null`.
  template.metadata ??= {}
  if (!('creationTimestamp' in template.metadata)) template.metadata.creationTimestamp = null
  template.spec ??= {}
  defaultPodSpec(template.spec)
}

/** SetDefaults_Pod: what only a Pod (not a template) gets. */
export function defaultPod(pod: Obj) {
  pod.spec ??= {}
  defaultPodSpec(pod.spec)
  pod.spec.enableServiceLinks ??= true
  for (const c of [...list(pod.spec.containers), ...list(pod.spec.initContainers)]) {
    // Requests default to limits, resource by resource.
    const limits = c.resources?.limits
    if (!limits) continue
    c.resources.requests ??= {}
    for (const [r, q] of Object.entries(limits)) c.resources.requests[r] ??= q
  }
}

/** qos.GetPodQOS. */
export function podQOS(spec: Obj): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...list(spec.containers), ...list(spec.initContainers)]
  let any = false
  let guaranteed = true
  for (const c of containers) {
    const req = c.resources?.requests ?? {}
    const lim = c.resources?.limits ?? {}
    const relevant = (k: string) => k === 'cpu' || k === 'memory'
    if (Object.keys(req).some(relevant) || Object.keys(lim).some(relevant)) any = true
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined) guaranteed = false
      else if (req[r] !== undefined && String(req[r]) !== String(lim[r])) guaranteed = false
    }
  }
  if (!any) return 'BestEffort'
  return guaranteed ? 'Guaranteed' : 'Burstable'
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never']
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never']
const MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError']
const PROTOCOLS = ['SCTP', 'TCP', 'UDP']

function validateVolumes(volumes: Obj[], path: string): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = []
  const names = new Set<string>()
  volumes.forEach((v, i) => {
    const p = index(path, i)
    if (!v.name) errs.push(fieldRequired(child(p, 'name')))
    else {
      for (const msg of isDNS1123Label(v.name))
        errs.push(fieldInvalid(child(p, 'name'), v.name, msg))
      if (names.has(v.name)) errs.push(fieldDuplicate(child(p, 'name'), v.name))
      names.add(v.name)
    }
    const sources = Object.keys(v).filter(
      (k) => k !== 'name' && v[k] !== null && v[k] !== undefined,
    )
    if (sources.length === 0) errs.push(fieldRequired(p, 'must specify a volume type'))
    else if (sources.length > 1)
      errs.push(fieldForbidden(child(p, sources[1]), 'may not specify more than 1 volume type'))
  })
  return { errs, names }
}

/**
 * kube-apiserver's --allow-privileged (capabilities.AllowPrivileged). The Worker has no such flag and
 * allows them; Node mode sets it from the flag, false by default as kube-apiserver.
 */
let allowPrivileged = true
export function setAllowPrivileged(allow: boolean): void {
  allowPrivileged = allow
}

function validateContainer(
  c: Obj,
  p: string,
  names: Set<string>,
  volumes: Set<string>,
): FieldError[] {
  const errs: FieldError[] = []
  if (!c.name) errs.push(fieldRequired(child(p, 'name')))
  else {
    for (const msg of isDNS1123Label(c.name)) errs.push(fieldInvalid(child(p, 'name'), c.name, msg))
    if (names.has(c.name)) errs.push(fieldDuplicate(child(p, 'name'), c.name))
    names.add(c.name)
  }
  if (!c.image) errs.push(fieldRequired(child(p, 'image')))
  const portNames = new Set<string>()
  list(c.ports).forEach((port, i) => {
    const pp = index(child(p, 'ports'), i)
    if (port.name) {
      for (const msg of isValidPortName(port.name))
        errs.push(fieldInvalid(child(pp, 'name'), port.name, msg))
      if (portNames.has(port.name)) errs.push(fieldDuplicate(child(pp, 'name'), port.name))
      portNames.add(port.name)
    }
    if (!port.containerPort) errs.push(fieldRequired(child(pp, 'containerPort')))
    else
      for (const msg of isValidPortNum(port.containerPort))
        errs.push(fieldInvalid(child(pp, 'containerPort'), port.containerPort, msg))
    if (port.hostPort)
      for (const msg of isValidPortNum(port.hostPort))
        errs.push(fieldInvalid(child(pp, 'hostPort'), port.hostPort, msg))
    if (!port.protocol) errs.push(fieldRequired(child(pp, 'protocol')))
    else if (!PROTOCOLS.includes(port.protocol))
      errs.push(fieldNotSupported(child(pp, 'protocol'), port.protocol, PROTOCOLS))
  })
  list(c.env).forEach((e, i) => {
    const ep = index(child(p, 'env'), i)
    if (!e.name) errs.push(fieldRequired(child(ep, 'name')))
    else
      for (const msg of isEnvVarName(e.name))
        errs.push(fieldInvalid(child(ep, 'name'), e.name, msg))
  })
  list(c.volumeMounts).forEach((m, i) => {
    const mp = index(child(p, 'volumeMounts'), i)
    if (!m.name) errs.push(fieldRequired(child(mp, 'name')))
    else if (!volumes.has(m.name))
      errs.push(fieldInvalid(child(mp, 'name'), m.name, 'must match the name of a volume'))
    if (!m.mountPath) errs.push(fieldRequired(child(mp, 'mountPath')))
  })
  if (c.imagePullPolicy && !PULL_POLICIES.includes(c.imagePullPolicy))
    errs.push(fieldNotSupported(child(p, 'imagePullPolicy'), c.imagePullPolicy, PULL_POLICIES))
  if (c.terminationMessagePolicy && !MESSAGE_POLICIES.includes(c.terminationMessagePolicy)) {
    errs.push(
      fieldNotSupported(
        child(p, 'terminationMessagePolicy'),
        c.terminationMessagePolicy,
        MESSAGE_POLICIES,
      ),
    )
  }
  // validateSecurityContext
  if (c.securityContext?.privileged === true && !allowPrivileged) {
    errs.push(
      fieldForbidden(
        child(child(p, 'securityContext'), 'privileged'),
        'disallowed by cluster policy',
      ),
    )
  }
  return errs
}

/** ValidatePodSpec: the parts users hit. */
export function validatePodSpec(spec: Obj | undefined, path: string): FieldError[] {
  const s = spec ?? {}
  const { errs, names: volumes } = validateVolumes(list(s.volumes), child(path, 'volumes'))
  const containerNames = new Set<string>()
  if (list(s.containers).length === 0) errs.push(fieldRequired(child(path, 'containers')))
  list(s.containers).forEach((c, i) =>
    errs.push(
      ...validateContainer(c, index(child(path, 'containers'), i), containerNames, volumes),
    ),
  )
  list(s.initContainers).forEach((c, i) =>
    errs.push(
      ...validateContainer(c, index(child(path, 'initContainers'), i), containerNames, volumes),
    ),
  )
  if (!s.restartPolicy) errs.push(fieldRequired(child(path, 'restartPolicy')))
  else if (!RESTART_POLICIES.includes(s.restartPolicy))
    errs.push(fieldNotSupported(child(path, 'restartPolicy'), s.restartPolicy, RESTART_POLICIES))
  if (s.dnsPolicy && !DNS_POLICIES.includes(s.dnsPolicy))
    errs.push(fieldNotSupported(child(path, 'dnsPolicy'), s.dnsPolicy, DNS_POLICIES))
  errs.push(...validateLabels(s.nodeSelector, child(path, 'nodeSelector')))
  if (s.serviceAccountName)
    for (const msg of nameIsDNSSubdomain(s.serviceAccountName, false))
      errs.push(fieldInvalid(child(path, 'serviceAccountName'), s.serviceAccountName, msg))
  if (s.hostname)
    for (const msg of isDNS1123Label(s.hostname))
      errs.push(fieldInvalid(child(path, 'hostname'), s.hostname, msg))
  if (s.subdomain)
    for (const msg of isDNS1123Label(s.subdomain))
      errs.push(fieldInvalid(child(path, 'subdomain'), s.subdomain, msg))
  if (s.priorityClassName)
    for (const msg of isDNS1123Subdomain(s.priorityClassName))
      errs.push(fieldInvalid(child(path, 'priorityClassName'), s.priorityClassName, msg))
  if (typeof s.terminationGracePeriodSeconds === 'number' && s.terminationGracePeriodSeconds < 0) {
    errs.push(
      fieldInvalid(
        child(path, 'terminationGracePeriodSeconds'),
        s.terminationGracePeriodSeconds,
        'must be greater than or equal to 0',
      ),
    )
  }
  if (typeof s.activeDeadlineSeconds === 'number' && s.activeDeadlineSeconds <= 0) {
    errs.push(
      fieldInvalid(
        child(path, 'activeDeadlineSeconds'),
        s.activeDeadlineSeconds,
        'must be between 1 and 2147483647, inclusive',
      ),
    )
  }
  return errs
}

/** ValidatePodTemplateSpec. */
export function validatePodTemplate(template: Obj | undefined, path: string): FieldError[] {
  if (!template) return [fieldRequired(path)]
  return [
    ...validateTemplateMeta(template.metadata, child(path, 'metadata')),
    ...validatePodSpec(template.spec, child(path, 'spec')),
  ]
}

const POD_UPDATABLE =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)'

// What of a pod spec may change: images, the deadline, new tolerations, and a negative grace period becoming 1.
function maskMutable(spec: Obj, old: Obj): Obj {
  const masked = JSON.parse(JSON.stringify(spec ?? {}))
  const o = old ?? {}
  for (const key of ['containers', 'initContainers']) {
    list(masked[key]).forEach((c, i) => {
      if (o[key]?.[i]) c.image = o[key][i].image
    })
  }
  masked.activeDeadlineSeconds = o.activeDeadlineSeconds
  const oldTolerations = list(o.tolerations)
  if (
    list(masked.tolerations).length >= oldTolerations.length &&
    oldTolerations.every((t, i) => semanticEqual(t, masked.tolerations[i]))
  ) {
    masked.tolerations = o.tolerations
  }
  if (
    typeof o.terminationGracePeriodSeconds === 'number' &&
    o.terminationGracePeriodSeconds < 0 &&
    masked.terminationGracePeriodSeconds === 1
  ) {
    masked.terminationGracePeriodSeconds = o.terminationGracePeriodSeconds
  }
  return masked
}

function diffPaths(a: unknown, b: unknown, path: string, out: string[]) {
  if (semanticEqual(a, b)) return
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      diffPaths(
        (a as Obj)[k],
        (b as Obj)[k],
        Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`,
        out,
      )
    }
    return
  }
  out.push(`${path}: ${JSON.stringify(b ?? null)} -> ${JSON.stringify(a ?? null)}`)
}

/** ValidatePodUpdate's spec rule; the diff after the message lists changed fields (kube prints a cmp.Diff). */
export function validatePodSpecUpdate(spec: Obj | undefined, old: Obj | undefined): FieldError[] {
  const masked = maskMutable(spec ?? {}, old ?? {})
  if (semanticEqual(masked, old ?? {})) return []
  const changes: string[] = []
  diffPaths(masked, old ?? {}, 'spec', changes)
  return [fieldForbidden('spec', `${POD_UPDATABLE}\n${changes.join('\n')}`)]
}

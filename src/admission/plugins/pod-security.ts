// PodSecurity (k8s.io/pod-security-admission): the privileged, baseline and restricted Pod Security Standards,
// chosen per namespace by the pod-security.kubernetes.io/enforce|warn|audit labels (and their -version labels).
// enforce forbids, warn answers with a Warning header, audit adds an audit annotation. Checks run in kube's
// order and speak kube's words: `violates PodSecurity "restricted:latest": privileged (container "c" must not
// set securityContext.privileged=true), ...`.
import { fieldInvalid, forbidden, invalid, type FieldError } from '../../server/errors'
import { isResource, type AdmissionPlugin, type Attributes } from '../types'

type Obj = Record<string, any>
export type Level = 'privileged' | 'baseline' | 'restricted'
const LEVELS: Level[] = ['privileged', 'baseline', 'restricted']
const MODES = ['enforce', 'warn', 'audit'] as const
type Mode = (typeof MODES)[number]
const LABEL = 'pod-security.kubernetes.io/'

export interface LevelVersion {
  level: Level
  version: string
}
export const levelString = (lv: LevelVersion) => `${lv.level}:${lv.version}`

interface CheckResult {
  reason: string
  detail: string
}
type Check = (meta: Obj, spec: Obj) => CheckResult | undefined

// --- helpers (policy/helpers.go) ---

const joinQuote = (items: string[]) => items.map((s) => JSON.stringify(s)).join(', ')
const pluralize = (one: string, many: string, n: number) => (n === 1 ? one : many)
function visitContainers(spec: Obj, fn: (c: Obj) => void): void {
  for (const c of (spec.initContainers ?? []) as Obj[]) fn(c)
  for (const c of (spec.containers ?? []) as Obj[]) fn(c)
  for (const c of (spec.ephemeralContainers ?? []) as Obj[]) fn(c)
}
const uniqSorted = (xs: Iterable<string>) => [...new Set(xs)].sort()
const containersPhrase = (names: string[]) =>
  `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`

// --- baseline checks ---

const hostNamespaces: Check = (_m, spec) => {
  const ns = [
    spec.hostNetwork && 'hostNetwork',
    spec.hostPID && 'hostPID',
    spec.hostIPC && 'hostIPC',
  ].filter(Boolean) as string[]
  return ns.length ? { reason: 'host namespaces', detail: ns.sort().join(', ') } : undefined
}

const hostPorts: Check = (_m, spec) => {
  const bad: string[] = []
  const ports = new Set<string>()
  visitContainers(spec, (c) => {
    let ok = true
    for (const p of (c.ports ?? []) as Obj[])
      if (p.hostPort) {
        ok = false
        ports.add(String(p.hostPort))
      }
    if (!ok) bad.push(c.name)
  })
  if (!bad.length) return undefined
  const list = uniqSorted(ports)
  return {
    reason: 'hostPort',
    detail: `${containersPhrase(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`,
  }
}

const privileged: Check = (_m, spec) => {
  const bad: string[] = []
  visitContainers(spec, (c) => {
    if (c.securityContext?.privileged === true) bad.push(c.name)
  })
  return bad.length
    ? {
        reason: 'privileged',
        detail: `${containersPhrase(bad)} must not set securityContext.privileged=true`,
      }
    : undefined
}

const procMount: Check = (_m, spec) => {
  // With user namespaces (hostUsers: false) an unmasked /proc is allowed.
  if (spec.hostUsers === false) return undefined
  const bad: string[] = []
  const values = new Set<string>()
  visitContainers(spec, (c) => {
    const pm = c.securityContext?.procMount
    if (pm !== undefined && pm !== 'Default') {
      bad.push(c.name)
      values.add(pm)
    }
  })
  return bad.length
    ? {
        reason: 'procMount',
        detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(uniqSorted(values))}`,
      }
    : undefined
}

const ALLOWED_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
])
const sysctls: Check = (_m, spec) => {
  const bad = ((spec.securityContext?.sysctls ?? []) as Obj[])
    .map((s) => String(s.name))
    .filter((n) => !ALLOWED_SYSCTLS.has(n))
  return bad.length ? { reason: 'forbidden sysctls', detail: bad.join(', ') } : undefined
}

const windowsHostProcess: Check = (_m, spec) => {
  const setters: string[] = []
  if (spec.securityContext?.windowsOptions?.hostProcess === true) setters.push('pod')
  const bad: string[] = []
  visitContainers(spec, (c) => {
    if (c.securityContext?.windowsOptions?.hostProcess === true) bad.push(c.name)
  })
  if (bad.length) setters.push(containersPhrase(bad))
  return setters.length
    ? {
        reason: 'hostProcess',
        detail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true`,
      }
    : undefined
}

// Baseline checks that restricted replaces with stricter ones (Overlap in kube's registry).
const CAPABILITIES_BASELINE = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
])
const capabilitiesBaseline: Check = (_m, spec) => {
  const bad: string[] = []
  const caps = new Set<string>()
  visitContainers(spec, (c) => {
    let ok = true
    for (const cap of (c.securityContext?.capabilities?.add ?? []) as string[])
      if (!CAPABILITIES_BASELINE.has(cap)) {
        ok = false
        caps.add(cap)
      }
    if (!ok) bad.push(c.name)
  })
  return bad.length
    ? {
        reason: 'non-default capabilities',
        detail: `${containersPhrase(bad)} must not include ${joinQuote(uniqSorted(caps))} in securityContext.capabilities.add`,
      }
    : undefined
}

const hostPathVolumes: Check = (_m, spec) => {
  const bad = ((spec.volumes ?? []) as Obj[]).filter((v) => v.hostPath).map((v) => v.name)
  return bad.length
    ? {
        reason: 'hostPath volumes',
        detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)}`,
      }
    : undefined
}

const seccompBaseline: Check = (_m, spec) => {
  const setters: string[] = []
  if (spec.securityContext?.seccompProfile?.type === 'Unconfined') setters.push('pod')
  const bad: string[] = []
  visitContainers(spec, (c) => {
    if (c.securityContext?.seccompProfile?.type === 'Unconfined') bad.push(c.name)
  })
  if (bad.length) setters.push(containersPhrase(bad))
  return setters.length
    ? {
        reason: 'seccompProfile',
        detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to "Unconfined"`,
      }
    : undefined
}

// --- restricted checks ---

const allowPrivilegeEscalation: Check = (_m, spec) => {
  const bad: string[] = []
  visitContainers(spec, (c) => {
    if (c.securityContext?.allowPrivilegeEscalation !== false) bad.push(c.name)
  })
  return bad.length
    ? {
        reason: 'allowPrivilegeEscalation != false',
        detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false`,
      }
    : undefined
}

const capabilitiesRestricted: Check = (_m, spec) => {
  const missingDrop: string[] = []
  const adding: string[] = []
  const caps = new Set<string>()
  visitContainers(spec, (c) => {
    const capabilities = c.securityContext?.capabilities
    if (!capabilities) {
      missingDrop.push(c.name)
      return
    }
    if (!((capabilities.drop ?? []) as string[]).includes('ALL')) missingDrop.push(c.name)
    let added = false
    for (const cap of (capabilities.add ?? []) as string[])
      if (cap !== 'NET_BIND_SERVICE') {
        added = true
        caps.add(cap)
      }
    if (added) adding.push(c.name)
  })
  const details: string[] = []
  if (missingDrop.length)
    details.push(
      `${containersPhrase(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`,
    )
  if (adding.length)
    details.push(
      `${containersPhrase(adding)} must not include ${joinQuote(uniqSorted(caps))} in securityContext.capabilities.add`,
    )
  return details.length
    ? { reason: 'unrestricted capabilities', detail: details.join('; ') }
    : undefined
}

const ALLOWED_VOLUME_SOURCES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
  'image',
]
const KNOWN_VOLUME_SOURCES = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
]
const restrictedVolumes: Check = (_m, spec) => {
  const bad: string[] = []
  const types = new Set<string>()
  for (const v of (spec.volumes ?? []) as Obj[]) {
    if (ALLOWED_VOLUME_SOURCES.some((s) => v[s] != null)) continue
    bad.push(v.name)
    types.add(KNOWN_VOLUME_SOURCES.find((s) => v[s] != null) ?? 'unknown')
  }
  if (!bad.length) return undefined
  const t = uniqSorted(types)
  return {
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', t.length)} ${joinQuote(t)}`,
  }
}

const runAsNonRoot: Check = (_m, spec) => {
  if (spec.hostUsers === false) return undefined
  const setters: string[] = []
  let podNonRoot = false
  const podValue = spec.securityContext?.runAsNonRoot
  if (podValue === false) setters.push('pod')
  else if (podValue === true) podNonRoot = true
  const explicit: string[] = []
  const implicit: string[] = []
  visitContainers(spec, (c) => {
    const v = c.securityContext?.runAsNonRoot
    if (typeof v === 'boolean') {
      if (!v) explicit.push(c.name)
    } else if (!podNonRoot) implicit.push(c.name)
  })
  if (explicit.length) setters.push(containersPhrase(explicit))
  if (setters.length)
    return {
      reason: 'runAsNonRoot != true',
      detail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false`,
    }
  if (implicit.length)
    return {
      reason: 'runAsNonRoot != true',
      detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true`,
    }
  return undefined
}

const runAsUser: Check = (_m, spec) => {
  if (spec.hostUsers === false) return undefined
  const setters: string[] = []
  if (spec.securityContext?.runAsUser === 0) setters.push('pod')
  const bad: string[] = []
  visitContainers(spec, (c) => {
    if (c.securityContext?.runAsUser === 0) bad.push(c.name)
  })
  if (bad.length) setters.push(containersPhrase(bad))
  return setters.length
    ? { reason: 'runAsUser=0', detail: `${setters.join(' and ')} must not set runAsUser=0` }
    : undefined
}

const validSeccomp = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost'
const seccompRestricted: Check = (_m, spec) => {
  const setters: string[] = []
  const values = new Set<string>()
  let podSet = false
  const podProfile = spec.securityContext?.seccompProfile
  if (podProfile) {
    if (!validSeccomp(podProfile.type)) {
      setters.push('pod')
      values.add(String(podProfile.type ?? ''))
    } else podSet = true
  }
  const explicit: string[] = []
  const implicit: string[] = []
  visitContainers(spec, (c) => {
    const p = c.securityContext?.seccompProfile
    if (p) {
      if (!validSeccomp(p.type)) {
        explicit.push(c.name)
        values.add(String(p.type ?? ''))
      }
    } else if (!podSet) implicit.push(c.name)
  })
  if (explicit.length) setters.push(containersPhrase(explicit))
  if (setters.length)
    return {
      reason: 'seccompProfile',
      detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(uniqSorted(values))}`,
    }
  if (implicit.length)
    return {
      reason: 'seccompProfile',
      detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
    }
  return undefined
}

// In kube's registration order (check_*.go file order): baseline checks, overlapping baseline checks, restricted checks.
const BASELINE: Check[] = [
  hostNamespaces,
  hostPorts,
  privileged,
  procMount,
  sysctls,
  windowsHostProcess,
]
const BASELINE_ONLY: Check[] = [capabilitiesBaseline, hostPathVolumes, seccompBaseline]
const RESTRICTED: Check[] = [
  allowPrivilegeEscalation,
  capabilitiesRestricted,
  restrictedVolumes,
  runAsNonRoot,
  runAsUser,
  seccompRestricted,
]

/** The failed checks of a pod against a level, in kube's order. */
export function evaluatePod(level: Level, meta: Obj, spec: Obj): CheckResult[] {
  if (level === 'privileged') return []
  const checks =
    level === 'baseline' ? [...BASELINE, ...BASELINE_ONLY] : [...BASELINE, ...RESTRICTED]
  return checks.map((c) => c(meta ?? {}, spec ?? {})).filter((r): r is CheckResult => !!r)
}

/** AggregateCheckResult.ForbiddenDetail: "reason (detail), reason (detail)". */
export function forbiddenDetail(results: CheckResult[]): string {
  return results.map((r) => (r.detail ? `${r.reason} (${r.detail})` : r.reason)).join(', ')
}

// --- namespace policy ---

const VERSION_RE = /^v1\.(0|[1-9]\d*)$/

export interface NamespacePolicy {
  enforce: LevelVersion
  warn: LevelVersion
  audit: LevelVersion
  errors: FieldError[]
}

/**
 * api.PolicyToEvaluate: the levels from a namespace's labels. warn follows an enforce label that is stricter
 * when it has none of its own; an invalid label fails closed, enforcing restricted:latest.
 */
export function policyFor(labels: Record<string, string> | undefined): NamespacePolicy {
  const errors: FieldError[] = []
  const out = {} as Record<Mode, LevelVersion>
  const has = { level: {} as Record<Mode, boolean>, version: {} as Record<Mode, boolean> }
  for (const mode of MODES) {
    const levelKey = `${LABEL}${mode}`
    const versionKey = `${LABEL}${mode}-version`
    let level: Level = 'privileged'
    let version = 'latest'
    const lv = labels?.[levelKey]
    if (lv !== undefined) {
      if ((LEVELS as string[]).includes(lv)) {
        level = lv as Level
        has.level[mode] = true
      } else
        errors.push(
          fieldInvalid(`metadata.labels[${levelKey}]`, lv, `must be one of ${LEVELS.join(', ')}`),
        )
    }
    const vv = labels?.[versionKey]
    if (vv !== undefined) {
      has.version[mode] = true
      if (vv === 'latest' || VERSION_RE.test(vv)) version = vv
      else
        errors.push(
          fieldInvalid(`metadata.labels[${versionKey}]`, vv, 'must be "latest" or "v1.x"'),
        )
    }
    out[mode] = { level, version }
  }
  if (
    !labels?.[`${LABEL}warn`] &&
    has.level.enforce &&
    LEVELS.indexOf(out.enforce.level) > LEVELS.indexOf(out.warn.level)
  ) {
    out.warn = {
      level: out.enforce.level,
      version: has.version.warn ? out.warn.version : out.enforce.version,
    }
  }
  if (errors.length) out.enforce = { level: 'restricted', version: 'latest' }
  return { ...out, errors }
}

const POD_TEMPLATE_RESOURCES: Record<string, (o: Obj) => Obj | undefined> = {
  '/podtemplates': (o) => o.template,
  '/replicationcontrollers': (o) => o.spec?.template,
  'apps/replicasets': (o) => o.spec?.template,
  'apps/deployments': (o) => o.spec?.template,
  'apps/statefulsets': (o) => o.spec?.template,
  'apps/daemonsets': (o) => o.spec?.template,
  'batch/jobs': (o) => o.spec?.template,
  'batch/cronjobs': (o) => o.spec?.jobTemplate?.spec?.template,
}

function specWithoutImages(spec: Obj | undefined): string {
  const copy = structuredClone(spec ?? {})
  visitContainers(copy, (c) => {
    delete c.image
  })
  return JSON.stringify(copy)
}

async function namespacePolicy(a: Attributes): Promise<NamespacePolicy> {
  const ns = await a.reader.get('namespaces', '', a.namespace)
  return policyFor(ns?.metadata?.labels)
}

async function admitPodLike(a: Attributes, meta: Obj, spec: Obj, isPod: boolean): Promise<void> {
  const policy = await namespacePolicy(a)
  const cache = new Map<Level, CheckResult[]>()
  const results = (lv: LevelVersion) =>
    cache.get(lv.level) ??
    (cache.set(lv.level, evaluatePod(lv.level, meta, spec)), cache.get(lv.level)!)
  if (isPod) {
    a.annotations['pod-security.kubernetes.io/enforce-policy'] = levelString(policy.enforce)
    const failed = results(policy.enforce)
    if (failed.length) {
      const why = `violates PodSecurity "${levelString(policy.enforce)}": ${forbiddenDetail(failed)}`
      a.annotations['pod-security.kubernetes.io/audit-violations'] =
        `would violate PodSecurity "${levelString(policy.enforce)}": ${forbiddenDetail(failed)}`
      throw forbidden(
        { group: a.type.group, resource: a.type.resource },
        a.name || (a.object?.metadata?.name ?? ''),
        why,
      )
    }
  }
  const auditFailed = results(policy.audit)
  if (auditFailed.length)
    a.annotations['pod-security.kubernetes.io/audit-violations'] =
      `would violate PodSecurity "${levelString(policy.audit)}": ${forbiddenDetail(auditFailed)}`
  const warnFailed = results(policy.warn)
  if (warnFailed.length)
    a.warnings.push(
      `would violate PodSecurity "${levelString(policy.warn)}": ${forbiddenDetail(warnFailed)}`,
    )
}

async function admitNamespace(a: Attributes): Promise<void> {
  const ns = a.object as Obj
  const policy = policyFor(ns.metadata?.labels)
  if (policy.errors.length)
    throw invalid({ group: '', kind: 'Namespace' }, ns.metadata?.name ?? a.name, policy.errors)
  if (a.operation !== 'UPDATE') return
  const old = policyFor((a.oldObject as Obj | undefined)?.metadata?.labels)
  if (
    levelString(old.enforce) === levelString(policy.enforce) ||
    policy.enforce.level === 'privileged'
  )
    return
  // checkPodsAgainstNewLevel: tell the user which running pods the new enforce level would reject.
  const pods = (await a.reader.list('pods', ns.metadata?.name ?? a.name)) as Obj[]
  const lines: string[] = []
  for (const pod of pods) {
    const failed = evaluatePod(policy.enforce.level, pod.metadata, pod.spec)
    if (failed.length)
      lines.push(`${pod.metadata?.name}: ${failed.map((r) => r.reason).join(', ')}`)
  }
  if (lines.length) {
    a.warnings.push(
      `existing pods in namespace "${ns.metadata?.name}" violate the new PodSecurity enforce level "${levelString(policy.enforce)}"`,
    )
    a.warnings.push(...lines)
  }
}

export function podSecurity(): AdmissionPlugin {
  return {
    name: 'PodSecurity',
    async validate(a) {
      if (a.operation !== 'CREATE' && a.operation !== 'UPDATE') return
      if (!a.object) return
      if (isResource(a, '', 'namespaces')) {
        if (a.subresource === '') await admitNamespace(a)
        return
      }
      if (isResource(a, '', 'pods')) {
        if (a.subresource !== '' && a.subresource !== 'ephemeralcontainers') return
        const pod = a.object as Obj
        if (
          a.operation === 'UPDATE' &&
          a.subresource === '' &&
          specWithoutImages(pod.spec) === specWithoutImages((a.oldObject as Obj | undefined)?.spec)
        )
          return
        return admitPodLike(a, pod.metadata ?? {}, pod.spec ?? {}, true)
      }
      const template = POD_TEMPLATE_RESOURCES[`${a.type.group}/${a.type.resource}`]
      if (template && a.subresource === '') {
        const t = template(a.object as Obj)
        if (t) await admitPodLike(a, t.metadata ?? {}, t.spec ?? {}, false)
      }
    },
  }
}

// The admission chain: kube-apiserver's plugin order, its default-on set, and
// --enable-admission-plugins / --disable-admission-plugins (Worker vars ENABLE_ADMISSION_PLUGINS /
// DISABLE_ADMISSION_PLUGINS).
import type { Registry } from '../registry/registry'
import type { Admission, AdmissionPlugin, Attributes } from './types'
import type { Prefetch } from './reader'
import { namespaceLifecycle } from './plugins/namespace-lifecycle'
import { limitRanger } from './plugins/limit-ranger'
import { serviceAccount } from './plugins/service-account'
import { nodeRestriction } from './plugins/node-restriction'
import { taintNodesByCondition } from './plugins/taint-nodes-by-condition'
import { podSecurity } from './plugins/pod-security'
import { priority } from './plugins/priority'
import { defaultTolerationSeconds } from './plugins/default-toleration-seconds'
import { defaultStorageClass } from './plugins/default-storage-class'
import { resourceQuota } from './plugins/resourcequota/plugin'
import {
  mutatingAdmissionWebhook,
  validatingAdmissionWebhook,
  type WebhookOptions,
} from './webhook/plugin'
import { validatingAdmissionPolicy } from './policy/plugin'

export interface PluginContext {
  registry: Registry
  webhook?: WebhookOptions
}

type Factory = (ctx: PluginContext) => AdmissionPlugin

// pkg/kubeapiserver/options/plugins.go AllOrderedPlugins, restricted to the plugins served here.
const ORDERED: [string, Factory][] = [
  ['NamespaceLifecycle', () => namespaceLifecycle()],
  ['LimitRanger', () => limitRanger()],
  ['ServiceAccount', () => serviceAccount()],
  ['NodeRestriction', () => nodeRestriction()],
  ['TaintNodesByCondition', () => taintNodesByCondition()],
  ['PodSecurity', () => podSecurity()],
  ['Priority', () => priority()],
  ['DefaultTolerationSeconds', () => defaultTolerationSeconds()],
  ['DefaultStorageClass', () => defaultStorageClass()],
  ['MutatingAdmissionWebhook', (ctx) => mutatingAdmissionWebhook(ctx)],
  ['ValidatingAdmissionPolicy', (ctx) => validatingAdmissionPolicy(ctx)],
  ['ValidatingAdmissionWebhook', (ctx) => validatingAdmissionWebhook(ctx)],
  ['ResourceQuota', (ctx) => resourceQuota(ctx.registry)],
]

export const ALL_PLUGINS = ORDERED.map(([n]) => n)

// DefaultOffAdmissionPlugins' complement: on unless disabled. NodeRestriction is off by default in
// kube-apiserver too (kubeadm turns it on).
export const DEFAULT_ON_PLUGINS = [
  'NamespaceLifecycle',
  'LimitRanger',
  'ServiceAccount',
  'TaintNodesByCondition',
  'PodSecurity',
  'Priority',
  'DefaultTolerationSeconds',
  'DefaultStorageClass',
  'MutatingAdmissionWebhook',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionWebhook',
  'ResourceQuota',
]

// Plugins kube-apiserver knows that have nothing to act on here: accepted in the flags so that a kube-apiserver
// command line works, and otherwise ignored.
const KNOWN_ELSEWHERE = new Set([
  'AlwaysAdmit',
  'AlwaysDeny',
  'AlwaysPullImages',
  'CertificateApproval',
  'CertificateSigning',
  'CertificateSubjectRestriction',
  'ClusterTrustBundleAttest',
  'DefaultIngressClass',
  'DenyServiceExternalIPs',
  'EventRateLimit',
  'ExtendedResourceToleration',
  'ImagePolicyWebhook',
  'LimitPodHardAntiAffinityTopology',
  'MutatingAdmissionPolicy',
  'NamespaceAutoProvision',
  'NamespaceExists',
  'OwnerReferencesPermissionEnforcement',
  'PersistentVolumeClaimResize',
  'PodNodeSelector',
  'PodTolerationRestriction',
  'PodTopologyLabels',
  'RuntimeClass',
  'StorageObjectInUseProtection',
  'PodGroupProtection',
  'PodResizeValidator',
])

export class AdmissionConfigError extends Error {}

function splitList(s: string | undefined): string[] {
  return (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
}

/** The enabled plugins in execution order: the default set, plus --enable, minus --disable. */
export function enabledPlugins(
  enable: string | string[] | undefined,
  disable: string | string[] | undefined,
): string[] {
  const en = Array.isArray(enable) ? enable : splitList(enable)
  const dis = Array.isArray(disable) ? disable : splitList(disable)
  const known = (n: string) => ALL_PLUGINS.includes(n) || KNOWN_ELSEWHERE.has(n)
  for (const n of en)
    if (!known(n))
      throw new AdmissionConfigError(`enable-admission-plugins plugin "${n}" is unknown`)
  for (const n of dis)
    if (!known(n))
      throw new AdmissionConfigError(`disable-admission-plugins plugin "${n}" is unknown`)
  const overlap = en.filter((n) => dis.includes(n))
  if (overlap.length)
    throw new AdmissionConfigError(
      `${overlap.join(', ')} in enable-admission-plugins and disable-admission-plugins overlapped`,
    )
  const on = new Set([...DEFAULT_ON_PLUGINS, ...en])
  for (const n of dis) on.delete(n)
  return ALL_PLUGINS.filter((n) => on.has(n))
}

export class AdmissionChain implements Admission {
  constructor(readonly plugins: AdmissionPlugin[]) {}

  async admit(a: Attributes): Promise<void> {
    this.prefetch(a)
    await timedStep('admit', a, async () => {
      for (const p of this.plugins)
        if (p.admit) await timedPlugin(p.name, 'admit', a, () => p.admit!(a))
    })
  }

  /**
   * Reads what the plugins will read, in one round trip to the store: one trip per object, even made at the
   * same time, would cost the Durable Object several RPCs on every write. The reader memoizes them for the
   * plugins to await.
   */
  private prefetch(a: Attributes): void {
    const reads: Prefetch[] = []
    const on = (name: string) => this.plugins.some((p) => p.name === name)
    if (on('MutatingAdmissionWebhook')) reads.push({ list: ['mutatingwebhookconfigurations', ''] })
    if (on('ValidatingAdmissionWebhook'))
      reads.push({ list: ['validatingwebhookconfigurations', ''] })
    if (on('ValidatingAdmissionPolicy'))
      reads.push(
        { list: ['validatingadmissionpolicies', ''] },
        { list: ['validatingadmissionpolicybindings', ''] },
      )
    if (a.namespace) {
      reads.push({ get: ['namespaces', '', a.namespace] })
      if (on('ResourceQuota')) reads.push({ list: ['resourcequotas', a.namespace] })
      if (
        on('LimitRanger') &&
        (a.type.resource === 'pods' || a.type.resource === 'persistentvolumeclaims') &&
        a.type.group === ''
      )
        reads.push({ list: ['limitranges', a.namespace] })
    }
    a.reader.prefetch(reads)
  }

  async validate(a: Attributes): Promise<void> {
    await timedStep('validate', a, async () => {
      for (const p of this.plugins)
        if (p.validate) await timedPlugin(p.name, 'validate', a, () => p.validate!(a))
    })
  }
}

// k8s.io/apiserver/pkg/admission/metrics: the whole step and each plugin, by operation and whether it
// rejected the request.
async function timedStep(
  type: 'admit' | 'validate',
  a: Attributes,
  run: () => Promise<void>,
): Promise<void> {
  const start = performance.now()
  let rejected = true
  try {
    await run()
    rejected = false
  } finally {
    a.metrics?.admissionStep.observe(
      [type, a.operation, String(rejected)],
      (performance.now() - start) / 1000,
    )
  }
}

async function timedPlugin(
  name: string,
  type: 'admit' | 'validate',
  a: Attributes,
  run: () => Promise<void> | void,
): Promise<void> {
  const start = performance.now()
  let rejected = true
  try {
    await run()
    rejected = false
  } finally {
    a.metrics?.admissionController.observe(
      [name, type, a.operation, String(rejected)],
      (performance.now() - start) / 1000,
    )
  }
}

export interface AdmissionOptions {
  registry: Registry
  enable?: string | string[]
  disable?: string | string[]
  webhook?: WebhookOptions
}

export function buildAdmission(opts: AdmissionOptions): AdmissionChain {
  const ctx: PluginContext = { registry: opts.registry, webhook: opts.webhook }
  const names = enabledPlugins(opts.enable, opts.disable)
  return new AdmissionChain(names.map((n) => ORDERED.find(([name]) => name === n)![1](ctx)))
}

// ServiceAccount (plugin/pkg/admission/serviceaccount): a pod runs as the namespace's "default" service account
// unless it names one, the account must exist, and its token reaches every container through the projected
// kube-api-access-<suffix> volume, exactly as kube-apiserver adds it.
import { notFound } from '../../server/errors'
import { admissionForbidden, isResource, type AdmissionPlugin, type Attributes } from '../types'
import { errorText } from '../../util/errors'

type Obj = Record<string, any>

export const DEFAULT_SERVICE_ACCOUNT = 'default'
export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount'
const VOLUME_PREFIX = 'kube-api-access-'
const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror'
const ENFORCE_MOUNTABLE_SECRETS = 'kubernetes.io/enforce-mountable-secrets'
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789'

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5))
  let s = ''
  for (const b of bytes) s += NAME_CHARS[b % NAME_CHARS.length]
  return s
}

/** serviceaccount.TokenVolumeSource: the bound token, the cluster CA and the namespace, projected together. */
export function tokenVolume(name: string): Obj {
  return {
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [
              {
                fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
                path: 'namespace',
              },
            ],
          },
        },
      ],
    },
  }
}

function ignored(a: Attributes): boolean {
  return (
    !isResource(a, '', 'pods') ||
    (a.subresource !== '' && a.subresource !== 'ephemeralcontainers') ||
    !a.object
  )
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The account, with kube's patience for "default", which its controller creates right after the namespace. */
async function getServiceAccount(a: Attributes, name: string): Promise<Obj> {
  const found = await a.reader.get('serviceaccounts', a.namespace, name)
  if (found) return found
  const attempts = name === DEFAULT_SERVICE_ACCOUNT ? 10 : 1
  const interval = 100 + Math.floor(Math.random() * 100)
  for (let i = 0; i < attempts; i++) {
    if (i !== 0) await sleep(interval)
    const { kv } = await a.store.get(`/registry/serviceaccounts/${a.namespace}/${name}`)
    if (kv) return JSON.parse(kv.value) as Obj
  }
  throw notFound({ group: '', resource: 'serviceaccount' }, name)
}

async function lookupOrForbid(a: Attributes, pod: Obj): Promise<Obj> {
  try {
    return await getServiceAccount(a, pod.spec.serviceAccountName)
  } catch (e) {
    throw admissionForbidden(
      a,
      `error looking up service account ${a.namespace}/${pod.spec.serviceAccountName}: ${errorText(e)}`,
    )
  }
}

function shouldAutomount(sa: Obj, pod: Obj): boolean {
  if (typeof pod.spec.automountServiceAccountToken === 'boolean')
    return pod.spec.automountServiceAccountToken
  if (typeof sa.automountServiceAccountToken === 'boolean') return sa.automountServiceAccountToken
  return true
}

export function mountServiceAccountToken(pod: Obj, suffix = randomSuffix()): void {
  const volumes = (pod.spec.volumes ?? []) as Obj[]
  const existing = volumes.find(
    (v) => typeof v.name === 'string' && v.name.startsWith(VOLUME_PREFIX),
  )
  const volumeName = existing?.name ?? VOLUME_PREFIX + suffix
  const mount = { name: volumeName, readOnly: true, mountPath: TOKEN_MOUNT_PATH }
  let needsVolume = false
  for (const c of [
    ...((pod.spec.initContainers ?? []) as Obj[]),
    ...((pod.spec.containers ?? []) as Obj[]),
  ]) {
    if (((c.volumeMounts ?? []) as Obj[]).some((m) => m.mountPath === TOKEN_MOUNT_PATH)) continue
    c.volumeMounts = [...(c.volumeMounts ?? []), { ...mount }]
    needsVolume = true
  }
  if (!existing && needsVolume) pod.spec.volumes = [...volumes, tokenVolume(volumeName)]
}

function secretNames(pod: Obj): string[] {
  const names: string[] = []
  for (const v of (pod.spec.volumes ?? []) as Obj[]) {
    if (v.secret?.secretName) names.push(v.secret.secretName)
    for (const s of (v.projected?.sources ?? []) as Obj[])
      if (s.secret?.name) names.push(s.secret.name)
  }
  for (const c of [
    ...(pod.spec.initContainers ?? []),
    ...(pod.spec.containers ?? []),
    ...(pod.spec.ephemeralContainers ?? []),
  ] as Obj[]) {
    for (const e of (c.env ?? []) as Obj[])
      if (e.valueFrom?.secretKeyRef?.name) names.push(e.valueFrom.secretKeyRef.name)
    for (const e of (c.envFrom ?? []) as Obj[]) if (e.secretRef?.name) names.push(e.secretRef.name)
  }
  for (const s of (pod.spec.imagePullSecrets ?? []) as Obj[]) if (s.name) names.push(s.name)
  return names
}

function limitSecretReferences(sa: Obj, pod: Obj): string | undefined {
  const mountable = new Set(((sa.secrets ?? []) as Obj[]).map((s) => s.name))
  for (const v of (pod.spec.volumes ?? []) as Obj[]) {
    if (v.secret && !mountable.has(v.secret.secretName)) {
      return `volume with secret.secretName="${v.secret.secretName}" is not allowed because service account ${sa.metadata?.name} does not reference that secret`
    }
  }
  const check = (list: Obj[] | undefined, what: string) => {
    for (const c of list ?? []) {
      for (const e of (c.env ?? []) as Obj[]) {
        const ref = e.valueFrom?.secretKeyRef?.name
        if (ref && !mountable.has(ref)) {
          return `${what} ${c.name} with envVar ${e.name} referencing secret.secretName="${ref}" is not allowed because service account ${sa.metadata?.name} does not reference that secret`
        }
      }
    }
    return undefined
  }
  const bad =
    check(pod.spec.initContainers, 'init container') ?? check(pod.spec.containers, 'container')
  if (bad) return bad
  const pullSecrets = new Set(((sa.imagePullSecrets ?? []) as Obj[]).map((s) => s.name))
  const refs = (pod.spec.imagePullSecrets ?? []) as Obj[]
  for (let i = 0; i < refs.length; i++) {
    if (!pullSecrets.has(refs[i].name)) {
      return `imagePullSecrets[${i}].name="${refs[i].name}" is not allowed because service account ${sa.metadata?.name} does not reference that imagePullSecret`
    }
  }
  return undefined
}

async function validatePod(a: Attributes, pod: Obj): Promise<void> {
  if (a.operation !== 'CREATE') return
  if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) {
    if (pod.spec.serviceAccountName)
      throw admissionForbidden(a, 'a mirror pod may not reference service accounts')
    if (secretNames(pod).length)
      throw admissionForbidden(a, 'a mirror pod may not reference secrets')
    for (const v of (pod.spec.volumes ?? []) as Obj[]) {
      if (v.projected?.sources?.some((s: Obj) => s.serviceAccountToken))
        throw admissionForbidden(
          a,
          'a mirror pod may not use ServiceAccountToken volume projections',
        )
    }
    return
  }
  if (!pod.spec.serviceAccountName)
    throw admissionForbidden(
      a,
      `no service account specified for pod ${a.namespace}/${pod.metadata?.name ?? ''}`,
    )
  const sa = await lookupOrForbid(a, pod)
  const enforce = ['true', '1', 't', 'T', 'TRUE', 'True'].includes(
    sa.metadata?.annotations?.[ENFORCE_MOUNTABLE_SECRETS] ?? '',
  )
  if (enforce) {
    const bad = limitSecretReferences(sa, pod)
    if (bad) throw admissionForbidden(a, bad)
  }
}

export function serviceAccount(): AdmissionPlugin {
  return {
    name: 'ServiceAccount',
    async admit(a) {
      if (ignored(a) || a.operation !== 'CREATE') return
      const pod = a.object as Obj
      pod.spec ??= {}
      if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined)
        return validatePod(a, pod)
      // The v1 field serviceAccount is the deprecated alias of serviceAccountName; both are served.
      if (!pod.spec.serviceAccountName && pod.spec.serviceAccount)
        pod.spec.serviceAccountName = pod.spec.serviceAccount
      if (!pod.spec.serviceAccountName) pod.spec.serviceAccountName = DEFAULT_SERVICE_ACCOUNT
      pod.spec.serviceAccount = pod.spec.serviceAccountName
      const sa = await lookupOrForbid(a, pod)
      if (shouldAutomount(sa, pod)) mountServiceAccountToken(pod)
      if (!(pod.spec.imagePullSecrets ?? []).length && (sa.imagePullSecrets ?? []).length) {
        pod.spec.imagePullSecrets = (sa.imagePullSecrets as Obj[]).map((s) => ({ name: s.name }))
      }
    },
    async validate(a) {
      if (ignored(a)) return
      await validatePod(a, a.object as Obj)
    },
  }
}

// kube-controller-manager's two certificate loops over one CertificateSigningRequest:
// csrapproving (pkg/controller/certificates/approver/sarapprove.go) approves a kubelet's client certificate
// request when a SubjectAccessReview says its requester may create certificatesigningrequests/nodeclient (a
// bootstrap token) or /selfnodeclient (the node renewing its own), and csrsigning
// (pkg/controller/certificates/signer) signs approved requests for kube's signers with the cluster CA.
import type { Authorizer } from '../auth/authorizer'
import { signCertificateRequest, subjectAltNameKinds } from '../auth/certificate-authority'
import { storageKey } from '../registry/store'
import { bytesOf } from '../registry/builtin/certificates'
import { parseCSR, type ParsedCSR } from '../registry/validation/csr'
import {
  IgnorableError,
  isGoneOrSkipped,
  nowTimestamp,
  Skip,
  type ControllerContext,
} from './context'
import { errorText } from '../util/errors'

type Obj = Record<string, any>

export const CSR_PREFIX = '/registry/certificatesigningrequests/'

export const KUBE_APISERVER_CLIENT = 'kubernetes.io/kube-apiserver-client'
export const KUBE_APISERVER_CLIENT_KUBELET = 'kubernetes.io/kube-apiserver-client-kubelet'
export const KUBELET_SERVING = 'kubernetes.io/kubelet-serving'
export const LEGACY_UNKNOWN = 'kubernetes.io/legacy-unknown'

/** kube-controller-manager's --cluster-signing-duration default: one year. */
export const DEFAULT_CLUSTER_SIGNING_DURATION_MS = 365 * 24 * 3600 * 1000

const COMMON_NAME = '2.5.4.3'
const ORGANIZATION = '2.5.4.10'

const conditionsOf = (csr: Obj): Obj[] =>
  Array.isArray(csr.status?.conditions) ? csr.status.conditions : []
const hasTrue = (csr: Obj, type: string) =>
  conditionsOf(csr).some((c) => c?.type === type && (c.status ?? 'True') === 'True')

const sameSet = (a: Set<string>, b: string[]) => a.size === b.length && b.every((u) => a.has(u))

/** capihelper's ValidateKubeletClientCSR: kube's error, or undefined for a kubelet client request. */
export function validateKubeletClientCSR(req: ParsedCSR, usages: string[]): string | undefined {
  const orgs = req.subject.filter((a) => a.oid === ORGANIZATION).map((a) => a.value)
  if (orgs.length !== 1 || orgs[0] !== 'system:nodes')
    return 'subject organization is not system:nodes'
  const sans = subjectAltNameKinds(req)
  if (sans.has('DNS')) return 'DNS subjectAltNames are not allowed'
  if (sans.has('Email')) return 'Email subjectAltNames are not allowed'
  if (sans.has('IP')) return 'IP subjectAltNames are not allowed'
  if (sans.has('URI')) return 'URI subjectAltNames are not allowed'
  if (!commonName(req).startsWith('system:node:'))
    return 'subject common name does not begin with system:node:'
  const set = new Set(usages)
  if (
    !sameSet(set, ['digital signature', 'key encipherment', 'client auth']) &&
    !sameSet(set, ['digital signature', 'client auth'])
  )
    return 'usages did not match [client auth digital signature key encipherment]'
  return undefined
}

/** capihelper's ValidateKubeletServingCSR. */
export function validateKubeletServingCSR(req: ParsedCSR, usages: string[]): string | undefined {
  const orgs = req.subject.filter((a) => a.oid === ORGANIZATION).map((a) => a.value)
  if (orgs.length !== 1 || orgs[0] !== 'system:nodes')
    return 'subject organization is not system:nodes'
  const sans = subjectAltNameKinds(req)
  if (!sans.has('DNS') && !sans.has('IP')) return 'DNS or IP subjectAltName is required'
  if (sans.has('Email')) return 'Email subjectAltNames are not allowed'
  if (sans.has('URI')) return 'URI subjectAltNames are not allowed'
  if (!commonName(req).startsWith('system:node:'))
    return 'subject common name does not begin with system:node:'
  const set = new Set(usages)
  if (
    !sameSet(set, ['digital signature', 'key encipherment', 'server auth']) &&
    !sameSet(set, ['digital signature', 'server auth'])
  )
    return 'usages did not match [digital signature key encipherment server auth]'
  return undefined
}

/** The signer's validAPIServerClientUsages. */
function validAPIServerClientUsages(usages: string[]): string | undefined {
  let clientAuth = false
  for (const u of usages) {
    if (u === 'client auth') clientAuth = true
    else if (u !== 'digital signature' && u !== 'key encipherment')
      return `invalid usage for client certificate: ${u}`
  }
  return clientAuth ? undefined : 'missing required usage for client certificate: client auth'
}

/** pkix.Name's CommonName: the last CN attribute of the subject. */
function commonName(req: ParsedCSR): string {
  return req.subject.filter((a) => a.oid === COMMON_NAME).pop()?.value ?? ''
}

/** isNodeClientCert: the kubelet client signer and a kubelet client request. */
export function isNodeClientCert(csr: Obj, req: ParsedCSR): boolean {
  if (csr.spec?.signerName !== KUBE_APISERVER_CLIENT_KUBELET) return false
  return validateKubeletClientCSR(req, usagesOf(csr)) === undefined
}

/** isSelfNodeClientCert: a node client request whose requester is the node it names. */
export function isSelfNodeClientCert(csr: Obj, req: ParsedCSR): boolean {
  if (csr.spec?.username !== commonName(req)) return false
  return isNodeClientCert(csr, req)
}

const usagesOf = (csr: Obj): string[] =>
  Array.isArray(csr.spec?.usages) ? csr.spec.usages.map(String) : []

const RECOGNIZERS = [
  {
    recognize: isSelfNodeClientCert,
    subresource: 'selfnodeclient',
    message: 'Auto approving self kubelet client certificate after SubjectAccessReview.',
  },
  {
    recognize: isNodeClientCert,
    subresource: 'nodeclient',
    message: 'Auto approving kubelet client certificate after SubjectAccessReview.',
  },
]

/**
 * sarApprover.handle: the first recognizer whose SubjectAccessReview for the requester allows it approves.
 * Returns the approval message, or undefined when the request is not one to approve; throws IgnorableError
 * when it is one but the requester may not have it approved.
 */
export async function autoApproval(csr: Obj, authorizer: Authorizer): Promise<string | undefined> {
  if (csr.status?.certificate) return undefined
  if (hasTrue(csr, 'Approved') || hasTrue(csr, 'Denied')) return undefined
  const req = parseCSR(bytesOf(csr.spec?.request))
  const spec = csr.spec ?? {}
  const tried: string[] = []
  for (const r of RECOGNIZERS) {
    if (!r.recognize(csr, req)) continue
    const result = await authorizer.authorize({
      user: {
        username: spec.username ?? '',
        uid: spec.uid,
        groups: spec.groups ?? [],
        extra: spec.extra,
      },
      verb: 'create',
      isResourceRequest: true,
      path: '',
      apiGroup: 'certificates.k8s.io',
      apiVersion: '',
      namespace: '',
      resource: 'certificatesigningrequests',
      subresource: r.subresource,
      name: '',
    })
    if (result.decision === 'Allow') return r.message
    tried.push(r.subresource)
  }
  // Retried with backoff, as kube requeues it: the permission may be granted (or the policy cache catch up).
  if (tried.length)
    throw new IgnorableError(
      `recognized csr ${JSON.stringify(csr.metadata?.name ?? '')} as [${tried.join(' ')}] but subject access review was not approved`,
    )
  return undefined
}

/** The signer's isRequestForSignerFn: kube's validation error for the CSR's signer, if any. */
export function signerValidation(signerName: string, req: ParsedCSR, usages: string[]) {
  switch (signerName) {
    case KUBELET_SERVING:
      return validateKubeletServingCSR(req, usages)
    case KUBE_APISERVER_CLIENT_KUBELET:
      return validateKubeletClientCSR(req, usages)
    case KUBE_APISERVER_CLIENT:
      return validAPIServerClientUsages(usages)
    default:
      return undefined // legacy-unknown: no restrictions
  }
}

const SIGNERS = new Set([
  KUBE_APISERVER_CLIENT,
  KUBE_APISERVER_CLIENT_KUBELET,
  KUBELET_SERVING,
  LEGACY_UNKNOWN,
])

/** signer.duration: spec.expirationSeconds capped by --cluster-signing-duration, at least 10 minutes. */
export function signingDuration(expirationSeconds: unknown, maxMs: number): number {
  if (typeof expirationSeconds !== 'number') return maxMs
  const requested = expirationSeconds * 1000
  if (requested > maxMs) return maxMs
  return Math.max(requested, 10 * 60 * 1000)
}

export async function syncCertificateSigningRequest(
  c: ControllerContext,
  name: string,
): Promise<void> {
  const type = c.resources.byPrefix('certificatesigningrequests')
  if (!type) return
  const { kv } = await c.store.get(storageKey(type, undefined, name))
  if (!kv) return
  const csr = JSON.parse(kv.value) as Obj
  const uid = csr.metadata?.uid
  const rs = c.registryStore(type)
  const sameRequest = (cur: Obj | undefined): Obj => {
    if (!cur || cur.metadata?.uid !== uid) throw new Skip()
    return structuredClone(cur)
  }

  if (c.authorizer && !hasTrue(csr, 'Approved') && !hasTrue(csr, 'Denied')) {
    let message: string | undefined
    try {
      message = await autoApproval(csr, c.authorizer)
    } catch (e) {
      if (e instanceof IgnorableError) throw e
      c.log(`csrapproving: unable to parse csr ${JSON.stringify(name)}: ${errorText(e)}`)
      return
    }
    if (!message) return
    try {
      const { object } = await rs.update(
        undefined,
        name,
        (cur) => {
          const next = sameRequest(cur)
          if (hasTrue(next, 'Approved') || hasTrue(next, 'Denied')) throw new Skip()
          next.status ??= {}
          next.status.conditions = [
            ...conditionsOf(next),
            { type: 'Approved', status: 'True', reason: 'AutoApproved', message },
          ]
          return next
        },
        c.request,
        'approval',
      )
      csr.status = object.status
    } catch (e) {
      if (isGoneOrSkipped(e)) return
      throw e
    }
  }

  await sign(c, name, csr, sameRequest)
}

async function sign(
  c: ControllerContext,
  name: string,
  csr: Obj,
  sameRequest: (cur: Obj | undefined) => Obj,
): Promise<void> {
  if (!c.signer) return
  if (!hasTrue(csr, 'Approved') || hasTrue(csr, 'Failed') || hasTrue(csr, 'Denied')) return
  if (csr.status?.certificate) return
  const signerName = String(csr.spec?.signerName ?? '')
  if (!SIGNERS.has(signerName)) return
  let req: ParsedCSR
  try {
    req = parseCSR(bytesOf(csr.spec?.request))
  } catch (e) {
    c.log(`csrsigning: unable to parse csr ${JSON.stringify(name)}: ${errorText(e)}`)
    return
  }
  const usages = usagesOf(csr)
  const failure = signerValidation(signerName, req, usages)
  let certificate: string | undefined
  if (!failure) {
    const ca = await c.signer.ca()
    certificate = await signCertificateRequest(ca, req, {
      ttlMs: signingDuration(csr.spec?.expirationSeconds, c.signer.durationMs),
      usages,
      now: c.now(),
    })
  }
  const type = c.resources.byPrefix('certificatesigningrequests')!
  try {
    await c.registryStore(type).update(
      undefined,
      name,
      (cur) => {
        const next = sameRequest(cur)
        if (next.status?.certificate || hasTrue(next, 'Failed')) throw new Skip()
        next.status ??= {}
        if (certificate) {
          next.status.certificate = btoa(certificate)
        } else {
          next.status.conditions = [
            ...conditionsOf(next),
            {
              type: 'Failed',
              status: 'True',
              reason: 'SignerValidationFailure',
              message: failure,
              lastUpdateTime: nowTimestamp(c.now()),
            },
          ]
        }
        return next
      },
      c.request,
      'status',
    )
  } catch (e) {
    if (!isGoneOrSkipped(e)) throw e
  }
}

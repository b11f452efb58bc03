// certificates.k8s.io/v1 CertificateSigningRequest: pkg/apis/certificates/validation and
// pkg/registry/certificates/certificates (the main, status and approval strategies), with the CSR printer.
import {
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  fieldTooLong,
  forbidden,
  invalid,
  type FieldError,
} from '../../server/errors'
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  DNS1123_LABEL_MAX,
  DNS1123_SUBDOMAIN_MAX,
} from '../validation/names'
import {
  base64Decode,
  checkSignature,
  parseCSR,
  validateCertificatePEM,
  type ParsedCSR,
} from '../validation/csr'
import { semanticEqual } from '../validation/equality'
import { col } from '../printers/format'
import { humanDuration } from '../printers/duration'
import type { RequestContext, UpdateSubresource } from '../types'
import { defineKind, printer, type Obj } from './define'
import { errorText } from '../../util/errors'

const GK = { group: 'certificates.k8s.io', kind: 'CertificateSigningRequest' }
export const LEGACY_UNKNOWN_SIGNER = 'kubernetes.io/legacy-unknown'
const ORGANIZATION = '2.5.4.10'

const ALL_USAGES = [
  'any',
  'cert sign',
  'client auth',
  'code signing',
  'content commitment',
  'crl sign',
  'data encipherment',
  'decipher only',
  'digital signature',
  'email protection',
  'encipher only',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'key agreement',
  'key encipherment',
  'microsoft sgc',
  'netscape sgc',
  'ocsp signing',
  's/mime',
  'server auth',
  'signing',
  'timestamping',
]
const TRUE_ONLY_CONDITIONS = ['Approved', 'Denied', 'Failed']

/** The certificateValidationOptions of validation.go: what an update may do, and what old data it tolerates. */
interface Options {
  allowSettingApprovalConditions?: boolean
  allowSettingCertificate?: boolean
  allowBothApprovedAndDenied?: boolean
  allowLegacySignerName?: boolean
  allowDuplicateConditionTypes?: boolean
  allowEmptyConditionType?: boolean
  allowArbitraryCertificate?: boolean
  allowUnknownUsages?: boolean
  allowDuplicateUsages?: boolean
}

const conditionsOf = (csr: Obj): Obj[] =>
  Array.isArray(csr.status?.conditions) ? csr.status.conditions : []
const usagesOf = (csr: Obj): string[] => (Array.isArray(csr.spec?.usages) ? csr.spec.usages : [])
const hasDuplicates = (xs: unknown[]) => new Set(xs).size !== xs.length

/** spec.request and status.certificate are []byte: base64 in JSON. */
export function bytesOf(v: unknown): Uint8Array {
  if (typeof v !== 'string' || !v) return new Uint8Array()
  try {
    return base64Decode(v)
  } catch {
    return new Uint8Array()
  }
}

function optionsFor(csr: Obj, old?: Obj): Options {
  if (!old) return {}
  const oldConditions = conditionsOf(old).map((c) => c.type)
  return {
    allowBothApprovedAndDenied:
      oldConditions.includes('Approved') && oldConditions.includes('Denied'),
    allowLegacySignerName: old.spec?.signerName === LEGACY_UNKNOWN_SIGNER,
    allowDuplicateConditionTypes: hasDuplicates(oldConditions),
    allowEmptyConditionType: oldConditions.some((t) => !t),
    allowArbitraryCertificate:
      (csr.status?.certificate ?? '') === (old.status?.certificate ?? '') ||
      validateCertificatePEM(bytesOf(old.status?.certificate)) !== undefined,
    allowUnknownUsages: usagesOf(old).some((u) => !ALL_USAGES.includes(u)),
    allowDuplicateUsages: hasDuplicates(usagesOf(old)),
  }
}

/** apivalidation.ValidateSignerName: <domain>/<path>, both made of DNS labels and subdomains. */
export function validateSignerName(path: string, signerName: unknown): FieldError[] {
  if (typeof signerName !== 'string' || !signerName) return [fieldRequired(path)]
  const segments = signerName.split('/')
  if (segments.length !== 2)
    return [
      fieldInvalid(
        path,
        signerName,
        "must be a fully qualified domain and path of the form 'example.com/signer-name'",
      ),
    ]
  const [domain, rest] = segments
  const errs: FieldError[] = []
  if (domain.length > DNS1123_SUBDOMAIN_MAX)
    errs.push(fieldTooLong(path, '', DNS1123_SUBDOMAIN_MAX))
  const labels = domain.split('.')
  for (const label of labels) {
    const msgs = isDNS1123Label(label)
    if (msgs.length) {
      for (const m of msgs)
        errs.push(fieldInvalid(path, domain, `validating label ${JSON.stringify(label)}: ${m}`))
      break
    }
  }
  if (labels.length < 2)
    errs.push(
      fieldInvalid(path, domain, 'should be a domain with at least two segments separated by dots'),
    )
  for (const label of rest.split('.')) {
    const msgs = isDNS1123Subdomain(label)
    if (msgs.length) {
      for (const m of msgs)
        errs.push(fieldInvalid(path, rest, `validating label ${JSON.stringify(label)}: ${m}`))
      break
    }
  }
  const max = DNS1123_SUBDOMAIN_MAX + (DNS1123_SUBDOMAIN_MAX + DNS1123_LABEL_MAX + 1) + 1
  if (signerName.length > max) errs.push(fieldTooLong(path, '', max))
  return errs
}

function validateConditions(csr: Obj, opts: Options): FieldError[] {
  const errs: FieldError[] = []
  const seen = new Set<string>()
  let approved = false
  let denied = false
  conditionsOf(csr).forEach((c, i) => {
    const path = `status.conditions[${i}]`
    if (!opts.allowEmptyConditionType && !c.type) errs.push(fieldRequired(`${path}.type`))
    const allowed = TRUE_ONLY_CONDITIONS.includes(c.type) ? ['True'] : ['False', 'True', 'Unknown']
    if (!c.status) errs.push(fieldRequired(`${path}.status`))
    else if (!allowed.includes(c.status))
      errs.push(fieldNotSupported(`${path}.status`, c.status, allowed))
    if (!opts.allowBothApprovedAndDenied) {
      if (c.type === 'Approved') {
        approved = true
        if (denied)
          errs.push(
            fieldInvalid(
              `${path}.type`,
              c.type,
              'Approved and Denied conditions are mutually exclusive',
            ),
          )
      } else if (c.type === 'Denied') {
        denied = true
        if (approved)
          errs.push(
            fieldInvalid(
              `${path}.type`,
              c.type,
              'Approved and Denied conditions are mutually exclusive',
            ),
          )
      }
    }
    if (!opts.allowDuplicateConditionTypes) {
      if (seen.has(c.type)) errs.push(fieldDuplicate(`${path}.type`, c.type))
      seen.add(c.type)
    }
  })
  return errs
}

/** validateCertificateSigningRequest, less the signature check, which needs WebCrypto (see beforeWrite). */
export function validateCSR(csr: Obj, opts: Options = {}): FieldError[] {
  const errs: FieldError[] = []
  const spec = csr.spec ?? {}
  const request = bytesOf(spec.request)
  try {
    parseCSR(request)
  } catch (e) {
    errs.push(fieldInvalid('spec.request', request, errorText(e)))
  }
  const usages = usagesOf(csr)
  if (!usages.length) errs.push(fieldRequired('spec.usages'))
  if (!opts.allowUnknownUsages) {
    usages.forEach((u, i) => {
      if (!ALL_USAGES.includes(u)) errs.push(fieldNotSupported(`spec.usages[${i}]`, u, ALL_USAGES))
    })
  }
  if (!opts.allowDuplicateUsages) {
    const seen = new Set<string>()
    usages.forEach((u, i) => {
      if (seen.has(u)) errs.push(fieldDuplicate(`spec.usages[${i}]`, u))
      seen.add(u)
    })
  }
  if (!opts.allowLegacySignerName && spec.signerName === LEGACY_UNKNOWN_SIGNER) {
    errs.push(
      fieldInvalid(
        'spec.signerName',
        spec.signerName,
        'the legacy signerName is not allowed via this API version',
      ),
    )
  } else {
    errs.push(...validateSignerName('spec.signerName', spec.signerName))
  }
  if (typeof spec.expirationSeconds === 'number' && spec.expirationSeconds < 600) {
    errs.push(
      fieldInvalid(
        'spec.expirationSeconds',
        spec.expirationSeconds,
        'may not specify a duration less than 600 seconds (10 minutes)',
      ),
    )
  }
  errs.push(...validateConditions(csr, opts))
  if (!opts.allowArbitraryCertificate) {
    const msg = validateCertificatePEM(bytesOf(csr.status?.certificate))
    if (msg) errs.push(fieldInvalid('status.certificate', '<certificate data>', msg))
  }
  return errs
}

const findConditions = (csr: Obj, type: string) => conditionsOf(csr).filter((c) => c.type === type)

/** validateCertificateSigningRequestUpdate: no removing Approved/Denied/Failed, approval only through approval. */
export function validateCSRUpdate(csr: Obj, old: Obj, extra: Options = {}): FieldError[] {
  const opts = { ...optionsFor(csr, old), ...extra }
  const errs = validateCSR(csr, opts)
  for (const t of ['Approved', 'Denied', 'Failed']) {
    if (findConditions(csr, t).length < findConditions(old, t).length) {
      errs.push(
        fieldForbidden(
          'status.conditions',
          `updates may not remove a condition of type ${JSON.stringify(t)}`,
        ),
      )
    }
  }
  if (!opts.allowSettingApprovalConditions) {
    for (const t of ['Approved', 'Denied']) {
      const was = findConditions(old, t)
      const now = findConditions(csr, t)
      if (now.length > was.length)
        errs.push(
          fieldForbidden(
            'status.conditions',
            `updates may not add a condition of type ${JSON.stringify(t)}`,
          ),
        )
      else if (now.length === was.length && !semanticEqual(was, now)) {
        errs.push(
          fieldForbidden(
            'status.conditions',
            `updates may not modify a condition of type ${JSON.stringify(t)}`,
          ),
        )
      }
    }
  }
  if ((csr.status?.certificate ?? '') !== (old.status?.certificate ?? '')) {
    if (!opts.allowSettingCertificate)
      errs.push(fieldForbidden('status.certificate', 'updates may not set certificate content'))
    else if (bytesOf(old.status?.certificate).length)
      errs.push(
        fieldForbidden('status.certificate', 'updates may not modify existing certificate content'),
      )
  }
  return errs
}

const rfc3339 = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

/** populateConditionTimestamps: lastUpdateTime now when unset; lastTransitionTime kept from a same-status condition. */
function populateConditionTimestamps(csr: Obj, old: Obj): void {
  const now = rfc3339()
  for (const c of conditionsOf(csr)) {
    if (!c.lastUpdateTime) c.lastUpdateTime = now
    if (!c.lastTransitionTime) {
      const same = conditionsOf(old).find(
        (o) => o.type === c.type && o.status === c.status && o.lastTransitionTime,
      )
      c.lastTransitionTime = same?.lastTransitionTime ?? now
    }
  }
}

/** preserveConditionInstances: a subresource that may not change a condition type keeps old's instances of it. */
function preserveConditionInstances(csr: Obj, old: Obj, type: string): void {
  const newIdx = conditionsOf(csr).flatMap((c, i) => (c.type === type ? [i] : []))
  const oldIdx = conditionsOf(old).flatMap((c, i) => (c.type === type ? [i] : []))
  if (newIdx.length !== oldIdx.length) return
  newIdx.forEach(
    (n, i) => (csr.status.conditions[n] = structuredClone(old.status.conditions[oldIdx[i]])),
  )
}

/**
 * The CertificateApproval and CertificateSigning admission plugins: approving or denying needs the `approve`
 * verb, issuing through status the `sign` verb, on the signer (certificates.k8s.io signers, named after the
 * signerName or its "<domain>/*").
 */
async function authorizeForSigner(
  csr: Obj,
  ctx: RequestContext,
  verb: 'approve' | 'sign',
): Promise<void> {
  const authorizer = ctx.auth?.authorizer
  if (!authorizer || !ctx.user) return
  const signerName = String(csr.spec?.signerName ?? '')
  const names = [signerName, `${signerName.split('/')[0]}/*`]
  for (const name of names) {
    const r = await authorizer.authorize({
      user: ctx.user,
      verb,
      apiGroup: 'certificates.k8s.io',
      apiVersion: '*',
      resource: 'signers',
      subresource: '',
      namespace: '',
      name,
      isResourceRequest: true,
      path: '',
    })
    if (r.decision === 'Allow') return
  }
  throw forbidden(
    { group: GK.group, resource: 'certificatesigningrequests' },
    csr.metadata?.name ?? '',
    `user not permitted to ${verb} requests with signerName ${JSON.stringify(signerName)}`,
  )
}

const approval: UpdateSubresource = {
  // csrApprovalStrategy.PrepareForUpdate: only the conditions change, and a Failed condition stays as it was.
  prepareForUpdate(obj, old) {
    const conditions = (obj.status as Obj | undefined)?.conditions
    obj.spec = structuredClone(old.spec)
    const status: Obj = structuredClone((old.status as Obj | undefined) ?? {})
    if (conditions === undefined) delete status.conditions
    else status.conditions = structuredClone(conditions)
    obj.status = status
    preserveConditionInstances(obj, old, 'Failed')
    populateConditionTimestamps(obj, old)
  },
  validateUpdate: (obj, old) =>
    validateCSRUpdate(obj, old, { allowSettingApprovalConditions: true }),
  async beforeWrite(obj, _old, _store, ctx) {
    await authorizeForSigner(obj, ctx, 'approve')
  },
  ownedFields: [['status', 'conditions']],
}

const csrDoc = {
  signerName: 'signerName indicates the requested signer, and is a qualified name.',
  username:
    'username contains the name of the user that created the CertificateSigningRequest. Populated by the API server on creation and immutable.',
  expirationSeconds:
    'expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.',
  conditions:
    'conditions applied to the request. Known conditions are "Approved", "Denied", and "Failed".',
}

/** extractCSRStatus: Denied over Approved over Pending, then Failed and Issued. */
function csrCondition(csr: Obj): string {
  const types = new Set(conditionsOf(csr).map((c) => c.type))
  let s = types.has('Denied') ? 'Denied' : types.has('Approved') ? 'Approved' : 'Pending'
  if (types.has('Failed')) s += ',Failed'
  if (csr.status?.certificate) s += ',Issued'
  return s
}

export const certificatesigningrequests = defineKind({
  group: 'certificates.k8s.io',
  version: 'v1',
  resource: 'certificatesigningrequests',
  kind: 'CertificateSigningRequest',
  namespaced: false,
  shortNames: ['csr'],
  subresources: { status: true, updates: { approval } },
  schema: 'CertificatesV1CertificateSigningRequest',
  // PrepareForCreate: "users cannot create pre-approved certificate requests".
  initialStatus: () => ({}),
  strategy: {
    // We don't care what you call your certificate requests (ValidateCertificateRequestName).
    validateName: () => [],
    defaults(obj) {
      // SetDefaults_CertificateSigningRequestCondition: a condition's status is True unless said.
      for (const c of conditionsOf(obj))
        if (c && typeof c === 'object' && !c.status) c.status = 'True'
    },
    prepareForCreate(obj, ctx) {
      // The requester's identity, never the client's word for it.
      const spec = ((obj.spec as Obj | undefined) ??= {})
      delete spec.username
      delete spec.uid
      delete spec.groups
      delete spec.extra
      const user = ctx.user
      if (user) {
        if (user.username) spec.username = user.username
        if (user.uid) spec.uid = user.uid
        if (user.groups?.length) spec.groups = [...user.groups]
        if (user.extra && Object.keys(user.extra).length) spec.extra = structuredClone(user.extra)
      }
    },
    // Certificate requests are immutable after creation except through subresources.
    prepareForUpdate(obj, old) {
      obj.spec = structuredClone(old.spec)
    },
    prepareForStatusUpdate(obj, old) {
      // Issuance and approval are separate concerns: status keeps Approved/Denied as they were.
      obj.spec = structuredClone(old.spec)
      preserveConditionInstances(obj, old, 'Approved')
      preserveConditionInstances(obj, old, 'Denied')
      populateConditionTimestamps(obj, old)
    },
    validate: (obj) => validateCSR(obj),
    validateUpdate: (obj, old) => validateCSRUpdate(obj, old),
    validateStatusUpdate: (obj, old) =>
      validateCSRUpdate(obj, old, { allowSettingCertificate: true }),
    async beforeWrite(obj, old, _store, ctx, subresource) {
      if (old) {
        // CertificateSigning: a status write that changes the certificate or the conditions signs.
        const was = (old.status ?? {}) as Obj
        const now = (obj.status ?? {}) as Obj
        const changed =
          (was.certificate ?? '') !== (now.certificate ?? '') ||
          !semanticEqual(was.conditions ?? [], now.conditions ?? [])
        if (subresource === 'status' && changed) await authorizeForSigner(old, ctx, 'sign')
        return
      }
      // The signature check of validateCSR, on create (the request is immutable afterwards).
      const spec = obj.spec as Obj
      const request = bytesOf(spec.request)
      let parsed: ParsedCSR
      try {
        parsed = parseCSR(request)
        await checkSignature(parsed)
      } catch (e) {
        throw invalid(GK, obj.metadata?.name ?? '', [
          fieldInvalid('spec.request', request, errorText(e)),
        ])
      }
      // The CertificateSubjectRestriction admission plugin: no system:masters certificates from the client signer.
      if (
        spec.signerName === 'kubernetes.io/kube-apiserver-client' &&
        parsed.subject.some((a) => a.oid === ORGANIZATION && a.value === 'system:masters')
      ) {
        throw forbidden(
          { group: GK.group, resource: 'certificatesigningrequests' },
          obj.metadata?.name ?? '',
          `use of ${spec.signerName} signer with system:masters group is not allowed`,
        )
      }
    },
    fieldSelectors: {
      'spec.signerName': (o) => String((o.spec as Obj | undefined)?.signerName ?? ''),
    },
    printer: printer(
      [
        col('SignerName', 'string', csrDoc.signerName),
        col('Requestor', 'string', csrDoc.username),
        col('RequestedDuration', 'string', csrDoc.expirationSeconds),
        col('Condition', 'string', csrDoc.conditions),
      ],
      (o) => [
        o.spec?.signerName || '<none>',
        o.spec?.username ?? '',
        typeof o.spec?.expirationSeconds === 'number'
          ? humanDuration(o.spec.expirationSeconds * 1000)
          : '<none>',
        csrCondition(o),
      ],
      { age: 0 },
    ),
  },
})

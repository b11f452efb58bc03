// POST serviceaccounts/<name>/token (pkg/registry/core/serviceaccount/storage/token.go): a TokenRequest in,
// a signed bound token out. Audiences default to the API audiences, expirationSeconds to an hour (at least ten
// minutes); a token may be bound to a Pod, Secret or Node that exists, and then dies with it.
import type { CreateSubresource, KubeObject } from '../../registry/types'
import {
  badRequest,
  conflict,
  fieldInvalid,
  internalError,
  invalid,
  notFound,
  type FieldError,
} from '../../server/errors'
import { objectKeys, readObject, type KubernetesClaims } from './tokens'

const AUTHN = 'authentication.k8s.io'
const GK = { group: AUTHN, kind: 'TokenRequest' }
const MIN_EXPIRATION_SECONDS = 600
const MAX_EXPIRATION_SECONDS = 2 ** 32
const DEFAULT_EXPIRATION_SECONDS = 3600

interface BoundObjectRef {
  kind?: string
  apiVersion?: string
  name?: string
  uid?: string
}
interface TokenRequestSpec {
  audiences?: string[]
  expirationSeconds?: number
  boundObjectRef?: BoundObjectRef | null
}

/** schema.GroupVersionKind.String(): "/v1, Kind=ConfigMap". */
function gvkString(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion]
  return `${group}/${version}, Kind=${kind}`
}

function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z')
}

export const tokenRequestSubresource: CreateSubresource = {
  group: AUTHN,
  version: 'v1',
  kind: 'TokenRequest',
  async create(obj, req) {
    const tokens = req.ctx.auth?.serviceAccountTokens
    if (obj.kind !== undefined && obj.kind !== 'TokenRequest')
      throw badRequest(
        `the kind in the data (${obj.kind}) does not match the expected kind (TokenRequest)`,
      )
    if (obj.apiVersion !== undefined && obj.apiVersion !== `${AUTHN}/v1`) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${AUTHN}/v1)`,
      )
    }
    const { namespace, name } = req
    const meta = obj.metadata ?? {}
    if (meta.name && meta.name !== name)
      throw invalid(GK, name, [
        fieldInvalid(
          'metadata.name',
          meta.name,
          'must match the service account name if specified',
        ),
      ])
    if (meta.namespace && meta.namespace !== namespace)
      throw invalid(GK, name, [
        fieldInvalid(
          'metadata.namespace',
          meta.namespace,
          'must match the service account namespace if specified',
        ),
      ])

    const sa = await readObject(req.store, objectKeys.serviceAccount(namespace, name))
    if (!sa) throw notFound({ group: '', resource: 'serviceaccounts' }, name)

    const spec: TokenRequestSpec = { ...(obj.spec as TokenRequestSpec | undefined) }
    if (!spec.audiences?.length)
      spec.audiences = [...(tokens?.apiAudiences ?? req.ctx.auth?.apiAudiences ?? [])]
    spec.expirationSeconds ??= DEFAULT_EXPIRATION_SECONDS
    spec.boundObjectRef ??= null
    const now = new Date()

    const errs: FieldError[] = []
    if (
      typeof spec.expirationSeconds !== 'number' ||
      spec.expirationSeconds < MIN_EXPIRATION_SECONDS
    ) {
      errs.push(
        fieldInvalid(
          'spec.expirationSeconds',
          spec.expirationSeconds,
          'may not specify a duration less than 10 minutes',
        ),
      )
    } else if (spec.expirationSeconds > MAX_EXPIRATION_SECONDS) {
      errs.push(
        fieldInvalid(
          'spec.expirationSeconds',
          spec.expirationSeconds,
          'may not specify a duration larger than 2^32 seconds',
        ),
      )
    }
    if (errs.length) throw invalid(GK, '', errs)

    const claims: KubernetesClaims = {
      namespace,
      serviceaccount: { name, uid: sa.metadata?.uid ?? '' },
    }
    const ref = spec.boundObjectRef
    if (ref) {
      const apiVersion = ref.apiVersion ?? ''
      const kind = ref.kind ?? ''
      const core = apiVersion === 'v1'
      let bound: KubeObject | undefined
      if (core && kind === 'Pod') {
        bound = await readObject(req.store, objectKeys.pod(namespace, ref.name ?? ''))
        if (!bound) throw notFound({ group: '', resource: 'pods' }, ref.name ?? '')
        const podSA =
          (bound.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? ''
        if (podSA !== name)
          throw badRequest(
            `cannot bind token for serviceaccount "${name}" to pod running with serviceaccount "${podSA}"`,
          )
        claims.pod = { name: bound.metadata?.name ?? '', uid: bound.metadata?.uid ?? '' }
        const nodeName = (bound.spec as { nodeName?: string } | undefined)?.nodeName
        if (nodeName) {
          const node = await readObject(req.store, objectKeys.node(nodeName))
          if (node) claims.node = { name: nodeName, uid: node.metadata?.uid ?? '' }
        }
      } else if (core && kind === 'Secret') {
        bound = await readObject(req.store, objectKeys.secret(namespace, ref.name ?? ''))
        if (!bound) throw notFound({ group: '', resource: 'secrets' }, ref.name ?? '')
        claims.secret = { name: bound.metadata?.name ?? '', uid: bound.metadata?.uid ?? '' }
      } else if (core && kind === 'Node') {
        bound = await readObject(req.store, objectKeys.node(ref.name ?? ''))
        if (!bound) throw notFound({ group: '', resource: 'nodes' }, ref.name ?? '')
        claims.node = { name: bound.metadata?.name ?? '', uid: bound.metadata?.uid ?? '' }
      } else {
        throw badRequest(`cannot bind token to object of type ${gvkString(apiVersion, kind)}`)
      }
      if (ref.uid && ref.uid !== bound.metadata?.uid) {
        throw conflict(
          { group: '', resource: kind },
          ref.name ?? '',
          `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        )
      }
    }

    const max = tokens?.config.maxExpirationSeconds
    if (max && spec.expirationSeconds > max) {
      req.ctx.warnings.push(
        `requested expiration of ${spec.expirationSeconds} seconds shortened to ${max} seconds`,
      )
      spec.expirationSeconds = max
    }
    if (!tokens?.canSign)
      throw internalError(
        new Error('failed to generate token: no service account signing key is configured'),
      )
    const { token } = await tokens.issueBound(claims, spec.audiences!, spec.expirationSeconds, now)
    return {
      kind: 'TokenRequest',
      apiVersion: `${AUTHN}/v1`,
      metadata: { ...meta, name, namespace, creationTimestamp: timestamp(now) },
      spec,
      status: {
        token,
        expirationTimestamp: timestamp(new Date(now.getTime() + spec.expirationSeconds * 1000)),
      },
    }
  },
}

// The review kinds: create-only, never stored, answered by the authorizer or the authenticators
// (pkg/registry/authorization/* and pkg/registry/authentication/*). kubectl auth can-i, can-i --list and
// whoami are built on these.
import type {
  KubeObject,
  ObjectMeta,
  ResourceType,
  UserInfo,
  VirtualCreateRequest,
} from '../registry/types'
import { badRequest, fieldInvalid, invalid, internalError, type FieldError } from '../server/errors'
import type { Attributes, AuthorizationResult } from './authorizer'
import type { AuthContext } from './context'

const AUTHZ = 'authorization.k8s.io'
const AUTHN = 'authentication.k8s.io'

interface ResourceAttributesSpec {
  namespace?: string
  verb?: string
  group?: string
  version?: string
  resource?: string
  subresource?: string
  name?: string
}
interface NonResourceAttributesSpec {
  path?: string
  verb?: string
}
interface AccessReviewSpec {
  resourceAttributes?: ResourceAttributesSpec
  nonResourceAttributes?: NonResourceAttributesSpec
  user?: string
  groups?: string[]
  uid?: string
  extra?: Record<string, string[]>
}

function reviewType(
  group: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  create: ResourceType['virtualCreate'],
): ResourceType {
  return {
    group,
    version: 'v1',
    resource,
    kind,
    listKind: `${kind}List`,
    singular: resource.replace(/s$/, ''),
    namespaced,
    verbs: ['create'],
    storagePrefix: resource,
    strategy: {},
    virtualCreate: create,
  }
}

function authContext(req: VirtualCreateRequest): AuthContext {
  if (!req.ctx.auth) throw internalError(new Error('no authorizer is configured for this request'))
  return req.ctx.auth
}

function requestUser(req: VirtualCreateRequest): UserInfo {
  if (!req.ctx.user) throw badRequest('no user present on request')
  return req.ctx.user
}

function specOf<T>(obj: KubeObject): T {
  const spec = obj.spec
  return (spec && typeof spec === 'object' && !Array.isArray(spec) ? spec : {}) as T
}

/** Never-stored objects go out with creationTimestamp: null, as Go's zero metav1.Time marshals. */
function unstoredMeta(
  meta: ObjectMeta | undefined,
  extra: Record<string, unknown> = {},
): ObjectMeta {
  return { ...meta, ...extra, creationTimestamp: null } as unknown as ObjectMeta
}

/** The echoed object: what was sent, typed, with status filled in. */
function answer(
  obj: KubeObject,
  group: string,
  kind: string,
  status: Record<string, unknown>,
  extraMeta: Record<string, unknown> = {},
): KubeObject {
  return {
    kind,
    apiVersion: `${group}/v1`,
    metadata: unstoredMeta(obj.metadata, extraMeta),
    spec: obj.spec ?? {},
    status,
  }
}

function validateAccessSpec(spec: AccessReviewSpec, requireSubject: boolean): FieldError[] {
  const errs: FieldError[] = []
  if (spec.resourceAttributes && spec.nonResourceAttributes) {
    errs.push(
      fieldInvalid(
        'spec.nonResourceAttributes',
        spec.nonResourceAttributes,
        'cannot be specified in combination with resourceAttributes',
      ),
    )
  }
  if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
    // Go's field.Invalid renders the nil pointer kube passes here as "null".
    errs.push(
      fieldInvalid(
        'spec.resourceAttributes',
        'null',
        'exactly one of nonResourceAttributes or resourceAttributes must be specified',
      ),
    )
  }
  if (requireSubject && !spec.user && !(spec.groups ?? []).length) {
    errs.push(
      fieldInvalid('spec.user', spec.user ?? '', 'at least one of user or group must be specified'),
    )
  }
  return errs
}

/** authorizationutil.ResourceAttributesFrom / NonResourceAttributesFrom. */
function attributesFrom(user: UserInfo, spec: AccessReviewSpec): Attributes {
  const r = spec.resourceAttributes
  if (r) {
    return {
      user,
      verb: r.verb ?? '',
      isResourceRequest: true,
      path: '',
      apiGroup: r.group ?? '',
      apiVersion: r.version || '*',
      namespace: r.namespace ?? '',
      resource: r.resource ?? '',
      subresource: r.subresource ?? '',
      name: r.name ?? '',
    }
  }
  const n = spec.nonResourceAttributes ?? {}
  return {
    user,
    verb: n.verb ?? '',
    isResourceRequest: false,
    path: n.path ?? '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  }
}

function accessStatus(r: AuthorizationResult): Record<string, unknown> {
  const status: Record<string, unknown> = { allowed: r.decision === 'Allow' }
  if (r.decision === 'Deny') status.denied = true
  if (r.reason) status.reason = r.reason
  if (r.error) status.evaluationError = r.error
  return status
}

export const selfSubjectAccessReviews = reviewType(
  AUTHZ,
  'selfsubjectaccessreviews',
  'SelfSubjectAccessReview',
  false,
  async (obj, req) => {
    const spec = specOf<AccessReviewSpec>(obj)
    const errs = validateAccessSpec(spec, false)
    if (errs.length) throw invalid({ group: AUTHZ, kind: 'SelfSubjectAccessReview' }, '', errs)
    const result = await authContext(req).authorizer.authorize(
      attributesFrom(requestUser(req), spec),
    )
    return answer(obj, AUTHZ, 'SelfSubjectAccessReview', accessStatus(result))
  },
)

function subjectFrom(spec: AccessReviewSpec): UserInfo {
  const user: UserInfo = { username: spec.user ?? '', groups: spec.groups ?? [] }
  if (spec.uid) user.uid = spec.uid
  if (spec.extra) user.extra = spec.extra
  return user
}

export const subjectAccessReviews = reviewType(
  AUTHZ,
  'subjectaccessreviews',
  'SubjectAccessReview',
  false,
  async (obj, req) => {
    const spec = specOf<AccessReviewSpec>(obj)
    const errs = validateAccessSpec(spec, true)
    if (errs.length) throw invalid({ group: AUTHZ, kind: 'SubjectAccessReview' }, '', errs)
    const result = await authContext(req).authorizer.authorize(
      attributesFrom(subjectFrom(spec), spec),
    )
    return answer(obj, AUTHZ, 'SubjectAccessReview', accessStatus(result))
  },
)

export const localSubjectAccessReviews = reviewType(
  AUTHZ,
  'localsubjectaccessreviews',
  'LocalSubjectAccessReview',
  true,
  async (obj, req) => {
    const spec = specOf<AccessReviewSpec>(obj)
    const namespace = obj.metadata?.namespace || req.namespace
    if (namespace !== req.namespace)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      )
    const errs = validateAccessSpec(spec, true)
    if (spec.resourceAttributes && (spec.resourceAttributes.namespace ?? '') !== namespace) {
      errs.push(
        fieldInvalid(
          'spec.resourceAttributes.namespace',
          spec.resourceAttributes.namespace ?? '',
          'must match metadata.namespace',
        ),
      )
    }
    if (spec.nonResourceAttributes)
      errs.push(
        fieldInvalid(
          'spec.nonResourceAttributes',
          spec.nonResourceAttributes,
          'disallowed on this kind of request',
        ),
      )
    if (errs.length) throw invalid({ group: AUTHZ, kind: 'LocalSubjectAccessReview' }, '', errs)
    const result = await authContext(req).authorizer.authorize(
      attributesFrom(subjectFrom(spec), spec),
    )
    return answer(obj, AUTHZ, 'LocalSubjectAccessReview', accessStatus(result), { namespace })
  },
)

export const selfSubjectRulesReviews = reviewType(
  AUTHZ,
  'selfsubjectrulesreviews',
  'SelfSubjectRulesReview',
  false,
  async (obj, req) => {
    const user = requestUser(req)
    const namespace = specOf<{ namespace?: string }>(obj).namespace ?? ''
    if (!namespace) throw badRequest('no namespace on request')
    const authorizer = authContext(req).authorizer
    const rules = authorizer.rulesFor
      ? await authorizer.rulesFor(user, namespace)
      : { resourceRules: [], nonResourceRules: [], incomplete: true }
    const status: Record<string, unknown> = {
      resourceRules: rules.resourceRules,
      nonResourceRules: rules.nonResourceRules,
      incomplete: rules.incomplete,
    }
    if (rules.evaluationError) status.evaluationError = rules.evaluationError
    return answer(obj, AUTHZ, 'SelfSubjectRulesReview', status)
  },
)

function userInfoJSON(u: UserInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { username: u.username }
  if (u.uid) out.uid = u.uid
  out.groups = u.groups
  if (u.extra && Object.keys(u.extra).length) out.extra = u.extra
  return out
}

export const selfSubjectReviews = reviewType(
  AUTHN,
  'selfsubjectreviews',
  'SelfSubjectReview',
  false,
  async (obj, req) => {
    const user = requestUser(req)
    return {
      kind: 'SelfSubjectReview',
      apiVersion: `${AUTHN}/v1`,
      metadata: unstoredMeta(obj.metadata),
      status: { userInfo: userInfoJSON(user) },
    }
  },
)

export const tokenReviews = reviewType(
  AUTHN,
  'tokenreviews',
  'TokenReview',
  false,
  async (obj, req) => {
    const spec = specOf<{ token?: string; audiences?: string[] }>(obj)
    if (!spec.token) throw badRequest('token is required for TokenReview in authentication')
    const auth = authContext(req)
    const audiences = spec.audiences?.length ? spec.audiences : (auth.apiAudiences ?? [])
    const { result, errors } = auth.authenticateToken
      ? await auth.authenticateToken(spec.token, audiences)
      : { result: undefined, errors: [] }
    const status: Record<string, unknown> = { authenticated: !!result }
    if (result) {
      const groups = result.user.groups.includes('system:authenticated')
        ? result.user.groups
        : [...result.user.groups, 'system:authenticated']
      status.user = userInfoJSON({ ...result.user, groups })
      status.audiences = result.audiences ?? audiences
    } else {
      status.user = {}
      if (errors.length) status.error = errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`
    }
    return answer(obj, AUTHN, 'TokenReview', status)
  },
)

/** The review kinds, to add to the registry next to the built-in kinds. */
export const reviewResourceTypes: ResourceType[] = [
  tokenReviews,
  selfSubjectReviews,
  localSubjectAccessReviews,
  selfSubjectAccessReviews,
  selfSubjectRulesReviews,
  subjectAccessReviews,
]

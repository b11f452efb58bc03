// Everything authentication and authorization need, built once per configuration and shared by the Worker and
// Node mode: the token authenticator chain (token file, service account tokens, bootstrap tokens), the
// authorizer chain in --authorization-mode order behind the system:masters shortcut, and the per-request context
// the review kinds and TokenRequest use.
import type { JWK } from 'jose'
import type { Registry } from '../registry/registry'
import type { UserInfo } from '../registry/types'
import type { Authenticator } from '../server/filters/authentication'
import { parseTokenFile } from '../server/filters/authentication'
import type { Store } from '../storage/store'
import { alwaysAllow, alwaysDeny, privilegedGroups, union, type Authorizer } from './authorizer'
import { bootstrapTokens } from './bootstrap-token'
import {
  CloudflareClientCertAuthenticator,
  RequestHeaderAuthenticator,
  type ClientCertOptions,
  type RequestHeaderOptions,
} from './client-cert'
import type { AuthContext } from './context'
import { RBACAuthorizer, type RBACOptions } from './rbac/authorizer'
import { withEscalationPrevention } from './rbac/escalation'
import { RBAC_GROUP } from './rbac/types'
import { reviewResourceTypes } from './reviews'
import { loadSigningKey } from './serviceaccount/keys'
import { withServiceAccountTokenFill } from './serviceaccount/legacy-tokens'
import { tokenRequestSubresource } from './serviceaccount/token-request'
import { DEFAULT_ISSUER, ServiceAccountTokens } from './serviceaccount/tokens'
import {
  authenticateToken,
  bearerAuthenticator,
  staticTokens,
  type TokenAuthenticator,
} from './token'
import { OIDCAuthenticator, type OIDCOptions } from './oidc'
import { WebhookTokenAuthenticator, type WebhookTokenOptions } from './webhook-token'
import { WebhookAuthorizer, type WebhookAuthorizerOptions } from './webhook-authorizer'
import { NodeAuthorizer } from './node-authorizer'
import { errorText } from '../util/errors'

export type AuthorizationMode = 'Node' | 'RBAC' | 'Webhook' | 'AlwaysAllow' | 'AlwaysDeny'
const MODES: AuthorizationMode[] = ['Node', 'RBAC', 'Webhook', 'AlwaysAllow', 'AlwaysDeny']
const DEFAULT_MODES: AuthorizationMode[] = ['Node', 'RBAC']

export interface AuthOptions {
  /** --token-auth-file contents. */
  tokenAuthFile?: string
  /** --authorization-mode, in order. Default: Node,RBAC. */
  authorizationModes?: AuthorizationMode[]
  /** --service-account-signing-key-file contents: PKCS#8 PEM or a JWK. */
  serviceAccountSigningKey?: string
  /** More public keys to accept service account tokens from, as a JWKS (--service-account-key-file). */
  serviceAccountPublicKeys?: string
  serviceAccountIssuers?: string[]
  apiAudiences?: string[]
  serviceAccountMaxTokenExpirationSeconds?: number
  serviceAccountJwksUri?: string
  /** The CA bundle legacy token Secrets get as ca.crt. */
  rootCA?: string
  /** --enable-bootstrap-token-auth (on unless false). */
  bootstrapTokens?: boolean
  /** --oidc-*: an external OpenID Connect identity provider. */
  oidc?: OIDCOptions
  /** --authentication-token-webhook-*: TokenReview to a URL. */
  webhookToken?: WebhookTokenOptions
  /** --authorization-webhook-*: the Webhook authorization mode's SubjectAccessReview endpoint. */
  webhookAuthorizer?: WebhookAuthorizerOptions
  /** x509 client certificates verified by Cloudflare mTLS (request.cf.tlsClientAuth). */
  clientCertificates?: ClientCertOptions
  /** --requestheader-*: a front proxy with a verified client certificate may name the user in headers. */
  requestHeader?: RequestHeaderOptions
  rbac?: RBACOptions
}

type EnvLike = Record<string, unknown>

function str(env: EnvLike, name: string): string | undefined {
  const v = env[name]
  return typeof v === 'string' && v.trim() !== '' ? v : undefined
}
function seconds(env: EnvLike, name: string): number | undefined {
  const v = str(env, name)
  return v === undefined ? undefined : Number(v) * 1000
}
function list(env: EnvLike, name: string): string[] | undefined {
  const v = str(env, name)
  return v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/**
 * Reads AuthOptions from Worker bindings (or any record of strings), named after kube-apiserver's flags:
 * TOKEN_AUTH_FILE, AUTHORIZATION_MODE, SERVICE_ACCOUNT_SIGNING_KEY, SERVICE_ACCOUNT_PUBLIC_KEYS (JWKS),
 * SERVICE_ACCOUNT_ISSUER, API_AUDIENCES, SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION (s), SERVICE_ACCOUNT_JWKS_URI,
 * SERVICE_ACCOUNT_ROOT_CA (else CLUSTER_CA_CERT), ENABLE_BOOTSTRAP_TOKEN_AUTH, OIDC_ISSUER_URL, OIDC_CLIENT_ID, OIDC_USERNAME_CLAIM,
 * OIDC_USERNAME_PREFIX, OIDC_GROUPS_CLAIM, OIDC_GROUPS_PREFIX, OIDC_REQUIRED_CLAIM (k=v,...), OIDC_SIGNING_ALGS,
 * AUTHENTICATION_TOKEN_WEBHOOK_URL, AUTHENTICATION_TOKEN_WEBHOOK_TOKEN, AUTHENTICATION_TOKEN_WEBHOOK_CACHE_TTL (s),
 * CLIENT_CERT_AUTH=cloudflare, CLIENT_CERT_ISSUER_DNS, REQUESTHEADER_ALLOWED_NAMES, REQUESTHEADER_ISSUER_DNS,
 * REQUESTHEADER_USERNAME_HEADERS, REQUESTHEADER_UID_HEADERS, REQUESTHEADER_GROUP_HEADERS,
 * REQUESTHEADER_EXTRA_HEADERS_PREFIX, AUTHORIZATION_WEBHOOK_URL, AUTHORIZATION_WEBHOOK_TOKEN,
 * AUTHORIZATION_WEBHOOK_CACHE_AUTHORIZED_TTL (s), AUTHORIZATION_WEBHOOK_CACHE_UNAUTHORIZED_TTL (s).
 * Lists are comma-separated; lists of DNs semicolon-separated.
 */
export function authOptionsFromEnv(env: EnvLike): AuthOptions {
  const modes = list(env, 'AUTHORIZATION_MODE') ?? DEFAULT_MODES
  for (const m of modes) {
    if (!MODES.includes(m as AuthorizationMode))
      throw new Error(
        `AUTHORIZATION_MODE: unsupported authorization mode "${m}" (supported: ${MODES.join(', ')})`,
      )
  }
  if (modes.includes('Webhook') && !str(env, 'AUTHORIZATION_WEBHOOK_URL'))
    throw new Error('AUTHORIZATION_MODE: Webhook needs AUTHORIZATION_WEBHOOK_URL')
  const maxExp = str(env, 'SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION')
  const issuerURL = str(env, 'OIDC_ISSUER_URL')
  const clientID = str(env, 'OIDC_CLIENT_ID')
  const oidc: OIDCOptions | undefined =
    issuerURL && clientID
      ? {
          issuerURL,
          clientID,
          usernameClaim: str(env, 'OIDC_USERNAME_CLAIM'),
          usernamePrefix:
            typeof env.OIDC_USERNAME_PREFIX === 'string' ? env.OIDC_USERNAME_PREFIX : undefined,
          groupsClaim: str(env, 'OIDC_GROUPS_CLAIM'),
          groupsPrefix:
            typeof env.OIDC_GROUPS_PREFIX === 'string' ? env.OIDC_GROUPS_PREFIX : undefined,
          requiredClaims: Object.fromEntries(
            (list(env, 'OIDC_REQUIRED_CLAIM') ?? []).map((kv) => [
              kv.slice(0, kv.indexOf('=')),
              kv.slice(kv.indexOf('=') + 1),
            ]),
          ),
          signingAlgs: list(env, 'OIDC_SIGNING_ALGS'),
        }
      : undefined
  const webhookURL = str(env, 'AUTHENTICATION_TOKEN_WEBHOOK_URL')
  const webhookTTL = str(env, 'AUTHENTICATION_TOKEN_WEBHOOK_CACHE_TTL')
  // Distinguished names contain commas: lists of them are separated by semicolons.
  const dns = (name: string) =>
    str(env, name)
      ?.split(';')
      .map((s) => s.trim())
      .filter(Boolean)
  return {
    tokenAuthFile: str(env, 'TOKEN_AUTH_FILE'),
    authorizationModes: modes as AuthorizationMode[],
    serviceAccountSigningKey: str(env, 'SERVICE_ACCOUNT_SIGNING_KEY'),
    serviceAccountPublicKeys: str(env, 'SERVICE_ACCOUNT_PUBLIC_KEYS'),
    serviceAccountIssuers: list(env, 'SERVICE_ACCOUNT_ISSUER'),
    apiAudiences: list(env, 'API_AUDIENCES'),
    serviceAccountMaxTokenExpirationSeconds: maxExp ? Number(maxExp) : undefined,
    serviceAccountJwksUri: str(env, 'SERVICE_ACCOUNT_JWKS_URI'),
    // The ca.crt of legacy token Secrets is the cluster CA, as kube-root-ca.crt publishes it.
    rootCA: str(env, 'SERVICE_ACCOUNT_ROOT_CA') ?? str(env, 'CLUSTER_CA_CERT'),
    bootstrapTokens: str(env, 'ENABLE_BOOTSTRAP_TOKEN_AUTH') !== 'false',
    webhookAuthorizer: str(env, 'AUTHORIZATION_WEBHOOK_URL')
      ? {
          url: str(env, 'AUTHORIZATION_WEBHOOK_URL')!,
          bearerToken: str(env, 'AUTHORIZATION_WEBHOOK_TOKEN'),
          authorizedTTLms: seconds(env, 'AUTHORIZATION_WEBHOOK_CACHE_AUTHORIZED_TTL'),
          unauthorizedTTLms: seconds(env, 'AUTHORIZATION_WEBHOOK_CACHE_UNAUTHORIZED_TTL'),
        }
      : undefined,
    oidc,
    webhookToken: webhookURL
      ? {
          url: webhookURL,
          bearerToken: str(env, 'AUTHENTICATION_TOKEN_WEBHOOK_TOKEN'),
          cacheTTLms: webhookTTL ? Number(webhookTTL) * 1000 : undefined,
        }
      : undefined,
    clientCertificates:
      str(env, 'CLIENT_CERT_AUTH') === 'cloudflare'
        ? { issuerDNs: dns('CLIENT_CERT_ISSUER_DNS') }
        : undefined,
    requestHeader: {
      allowedNames: list(env, 'REQUESTHEADER_ALLOWED_NAMES') ?? [],
      issuerDNs: dns('REQUESTHEADER_ISSUER_DNS'),
      usernameHeaders: list(env, 'REQUESTHEADER_USERNAME_HEADERS'),
      uidHeaders: list(env, 'REQUESTHEADER_UID_HEADERS'),
      groupHeaders: list(env, 'REQUESTHEADER_GROUP_HEADERS'),
      extraHeaderPrefixes: list(env, 'REQUESTHEADER_EXTRA_HEADERS_PREFIX'),
    },
  }
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection'])

export class ServerAuth {
  readonly rbac: RBACAuthorizer
  private readonly staticTokens: Map<string, UserInfo>
  private tokens?: Promise<ServiceAccountTokens>
  private readonly oidc?: OIDCAuthenticator
  private readonly webhook?: WebhookTokenAuthenticator
  private readonly requestHeader: RequestHeaderAuthenticator
  private readonly clientCert?: CloudflareClientCertAuthenticator
  private readonly node = new NodeAuthorizer()
  private readonly webhookAuthz?: WebhookAuthorizer

  constructor(readonly options: AuthOptions = {}) {
    this.rbac = new RBACAuthorizer(options.rbac)
    this.staticTokens = options.tokenAuthFile ? parseTokenFile(options.tokenAuthFile) : new Map()
    if (options.oidc) this.oidc = new OIDCAuthenticator(options.oidc)
    if (options.webhookToken) this.webhook = new WebhookTokenAuthenticator(options.webhookToken)
    // Always in the chain: with no allowed proxy names, X-Remote-User from anyone is refused with 401.
    this.requestHeader = new RequestHeaderAuthenticator(
      options.requestHeader ?? { allowedNames: [] },
    )
    if (options.clientCertificates)
      this.clientCert = new CloudflareClientCertAuthenticator(options.clientCertificates)
    if (options.webhookAuthorizer)
      this.webhookAuthz = new WebhookAuthorizer(options.webhookAuthorizer)
  }

  get authorizationModes(): AuthorizationMode[] {
    return this.options.authorizationModes ?? DEFAULT_MODES
  }

  get issuers(): string[] {
    return this.options.serviceAccountIssuers?.length
      ? this.options.serviceAccountIssuers
      : [DEFAULT_ISSUER]
  }

  get apiAudiences(): string[] {
    return this.options.apiAudiences?.length ? this.options.apiAudiences : this.issuers
  }

  /** The service account token issuer and verifier; the signing key is read once. */
  serviceAccountTokens(): Promise<ServiceAccountTokens> {
    this.tokens ??= (async () => {
      const o = this.options
      let key
      if (o.serviceAccountSigningKey) {
        try {
          key = await loadSigningKey(o.serviceAccountSigningKey)
        } catch (e) {
          console.error(
            `SERVICE_ACCOUNT_SIGNING_KEY: ${errorText(e)}; service account tokens are disabled`,
          )
        }
      }
      let extraPublicKeys: JWK[] | undefined
      if (o.serviceAccountPublicKeys) {
        try {
          const parsed = JSON.parse(o.serviceAccountPublicKeys) as { keys?: JWK[] } | JWK
          extraPublicKeys = 'keys' in parsed && parsed.keys ? parsed.keys : [parsed as JWK]
        } catch (e) {
          console.error(`SERVICE_ACCOUNT_PUBLIC_KEYS: ${errorText(e)}`)
        }
      }
      return new ServiceAccountTokens({
        key,
        extraPublicKeys,
        issuers: this.issuers,
        apiAudiences: this.apiAudiences,
        maxExpirationSeconds: o.serviceAccountMaxTokenExpirationSeconds,
        jwksUri: o.serviceAccountJwksUri,
      })
    })()
    return this.tokens
  }

  /** kube-apiserver's token authenticator order: token file, service account tokens, bootstrap tokens, OIDC, webhook. */
  tokenAuthenticators(store: Store): TokenAuthenticator[] {
    const chain: TokenAuthenticator[] = []
    if (this.staticTokens.size) chain.push(staticTokens(this.staticTokens))
    chain.push({
      authenticateToken: async (token, audiences) =>
        (await this.serviceAccountTokens()).authenticate(token, audiences, store),
    })
    if (this.options.bootstrapTokens !== false) chain.push(bootstrapTokens(() => store))
    if (this.oidc) chain.push(this.oidc)
    if (this.webhook) chain.push(this.webhook)
    return chain
  }

  /** kube-apiserver's order: front proxy headers, client certificates, then bearer tokens. */
  authenticators(store: Store): Authenticator[] {
    const chain: Authenticator[] = [this.requestHeader]
    if (this.clientCert) chain.push(this.clientCert)
    chain.push(bearerAuthenticator(this.tokenAuthenticators(store), () => this.apiAudiences))
    return chain
  }

  /** system:masters first, then each --authorization-mode; RBAC writes make the next requests re-read the policy. */
  authorizer(store: Store): Authorizer {
    const modes = this.authorizationModes.map((m): Authorizer => {
      switch (m) {
        case 'AlwaysAllow':
          return alwaysAllow
        case 'AlwaysDeny':
          return alwaysDeny
        case 'Node':
          return this.node.forStore(store)
        case 'Webhook':
          if (!this.webhookAuthz)
            throw new Error('the Webhook authorization mode needs a webhook URL')
          return this.webhookAuthz
        default:
          return this.rbac.forStore(store)
      }
    })
    const chain = union(privilegedGroups('system:masters'), ...modes)
    return {
      authorize: (a) => {
        if (a.isResourceRequest && a.apiGroup === RBAC_GROUP && WRITE_VERBS.has(a.verb))
          this.rbac.noteWrite()
        return chain.authorize(a)
      },
      rulesFor: chain.rulesFor,
    }
  }

  async context(store: Store): Promise<AuthContext> {
    const tokens = await this.serviceAccountTokens()
    const chain = this.tokenAuthenticators(store)
    const rbacEnabled = this.authorizationModes.includes('RBAC')
    return {
      authorizer: this.authorizer(store),
      rbac: rbacEnabled ? this.rbac.resolverFor(store) : undefined,
      authenticateToken: (token, audiences) => authenticateToken(chain, token, audiences),
      apiAudiences: this.apiAudiences,
      serviceAccountTokens: tokens,
      rootCA: this.options.rootCA,
    }
  }
}

/**
 * Adds what authentication and authorization serve to a registry: the review kinds, serviceaccounts/token,
 * the legacy token filling of kubernetes.io/service-account-token Secrets, and RBAC escalation prevention.
 */
export function installAuthResources(registry: Registry): void {
  for (const t of reviewResourceTypes) registry.add(t)
  const sa = registry.lookup('', 'v1', 'serviceaccounts')
  if (sa)
    registry.add({
      ...sa,
      createSubresources: { ...sa.createSubresources, token: tokenRequestSubresource },
    })
  const secrets = registry.lookup('', 'v1', 'secrets')
  if (secrets) registry.add({ ...secrets, strategy: withServiceAccountTokenFill(secrets.strategy) })
  for (const resource of ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings']) {
    const t = registry.lookup(RBAC_GROUP, 'v1', resource)
    if (t) registry.add({ ...t, strategy: withEscalationPrevention(resource, t.strategy) })
  }
}
